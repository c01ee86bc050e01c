// Unit tests of metrics: the log-linear histogram's buckets (monotonic, contiguous, exact
// below 64 us) and its quantiles (never below the truth, at most 3.2 % above), and the peak
// connection gauge.
#include "chirp/metrics/metrics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

namespace {

using chirp::metrics::histogram;

TEST(Histogram, ExactBelow64Micros) {
    for (std::uint64_t v = 0; v < 64; ++v) {
        EXPECT_EQ(histogram::bucket_of(v), static_cast<int>(v));
        EXPECT_EQ(histogram::upper_bound_of(static_cast<int>(v)), v);
    }
}

TEST(Histogram, BucketBoundsAreStrictlyMonotonicAndContiguous) {
    for (int b = 1; b < histogram::buckets; ++b) {
        const auto lo = histogram::upper_bound_of(b - 1);
        const auto hi = histogram::upper_bound_of(b);
        ASSERT_LT(lo, hi) << "bucket " << b;
        // Every value of (lo, hi] falls in bucket b: check both ends.
        EXPECT_EQ(histogram::bucket_of(lo + 1), b) << "bucket " << b;
        EXPECT_EQ(histogram::bucket_of(hi), b) << "bucket " << b;
        EXPECT_EQ(histogram::bucket_of(lo), b - 1) << "bucket " << b;
    }
}

TEST(Histogram, BucketWidthIsWithinThePromisedRelativeError) {
    for (int b = 64; b < histogram::buckets; ++b) {
        const double lo = static_cast<double>(histogram::upper_bound_of(b - 1) + 1);
        const double hi = static_cast<double>(histogram::upper_bound_of(b));
        EXPECT_LT((hi - lo) / lo, 0.032) << "bucket " << b;
    }
}

TEST(Histogram, CoversMoreThanAnHourAndClampsBeyond) {
    const auto top = histogram::upper_bound_of(histogram::buckets - 1);
    EXPECT_GE(top, std::uint64_t{3600} * 1'000'000);
    EXPECT_EQ(histogram::bucket_of(top), histogram::buckets - 1);
    EXPECT_EQ(histogram::bucket_of(top + 1), histogram::buckets - 1);
    EXPECT_EQ(histogram::bucket_of(UINT64_MAX), histogram::buckets - 1);
}

TEST(Histogram, EmptyHistogramAnswersZero) {
    auto h = std::make_unique<histogram>();
    EXPECT_EQ(h->count(), 0u);
    EXPECT_EQ(h->max(), 0u);
    EXPECT_EQ(h->quantile(0.5), 0u);
    EXPECT_EQ(h->quantile(0.99), 0u);
}

TEST(Histogram, CountsMaxAndReset) {
    auto h = std::make_unique<histogram>();
    h->record(5);
    h->record(500);
    h->record(50);
    EXPECT_EQ(h->count(), 3u);
    EXPECT_EQ(h->max(), 500u);
    EXPECT_EQ(h->quantile(0.0), 5u);
    EXPECT_EQ(h->quantile(1.0), 500u) << "capped at the real maximum";
    h->reset();
    EXPECT_EQ(h->count(), 0u);
    EXPECT_EQ(h->max(), 0u);
    EXPECT_EQ(h->quantile(0.5), 0u);
}

// The q-quantile as the histogram defines it: the value of rank floor(q * n) (0-based).
std::uint64_t exact_quantile(std::vector<std::uint64_t> v, double q) {
    std::sort(v.begin(), v.end());
    auto rank = static_cast<std::size_t>(q * static_cast<double>(v.size()));
    rank = std::min(rank, v.size() - 1);
    return v[rank];
}

void expect_close(const std::vector<std::uint64_t>& values) {
    auto h = std::make_unique<histogram>();
    for (auto v : values) h->record(v);
    ASSERT_EQ(h->count(), values.size());
    EXPECT_EQ(h->max(), *std::max_element(values.begin(), values.end()));
    for (double q : {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0}) {
        const auto truth = exact_quantile(values, q);
        const auto est = h->quantile(q);
        EXPECT_GE(est, truth) << "q=" << q;
        EXPECT_LE(static_cast<double>(est), static_cast<double>(truth) * 1.032) << "q=" << q;
    }
}

TEST(Histogram, QuantilesOfAUniformRange) {
    std::vector<std::uint64_t> v;
    for (std::uint64_t i = 1; i <= 100'000; ++i) v.push_back(i);
    expect_close(v);
}

TEST(Histogram, QuantilesOfALogNormalSample) {
    std::mt19937_64 rng(12345);
    std::lognormal_distribution<double> dist(7.0, 2.0);  // median ~1.1 ms, long tail
    std::vector<std::uint64_t> v;
    for (int i = 0; i < 50'000; ++i)
        v.push_back(static_cast<std::uint64_t>(std::min(dist(rng), 1e12)));
    expect_close(v);
}

TEST(Histogram, QuantilesOfABimodalSample) {
    std::vector<std::uint64_t> v;
    for (int i = 0; i < 9'000; ++i) v.push_back(200 + static_cast<std::uint64_t>(i % 17));
    for (int i = 0; i < 1'000; ++i) v.push_back(2'000'000 + static_cast<std::uint64_t>(i * 31));
    expect_close(v);
}

TEST(Registry, TracksPeakConnections) {
    auto r = std::make_unique<chirp::metrics::registry>();
    r->connection_opened();
    r->connection_opened();
    r->connection_opened();
    r->connection_closed();
    r->connection_closed();
    r->connection_opened();
    EXPECT_EQ(r->connections.load(), 2);
    EXPECT_EQ(r->peak_connections.load(), 3);
}

}  // namespace
