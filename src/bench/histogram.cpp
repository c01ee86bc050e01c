// Log-linear latency histogram: see histogram.hpp for the bucket layout.
#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <vector>

namespace chirp::bench {

std::size_t latency_histogram::index_of(std::uint64_t value) {
    if (value < kExact) return static_cast<std::size_t>(value);
    // value has msb at position m >= kSubBucketBits + 1; keep the top kSubBucketBits + 1 bits.
    const int msb = 63 - std::countl_zero(value);
    const int shift = msb - kSubBucketBits;         // >= 1
    const std::uint64_t mantissa = value >> shift;  // in [kSubBuckets, 2 * kSubBuckets)
    return static_cast<std::size_t>(kExact + (shift - 1) * kSubBuckets + (mantissa - kSubBuckets));
}

std::uint64_t latency_histogram::lowest_in(std::size_t index) {
    if (index < kExact) return index;
    const std::uint64_t rel = index - kExact;
    const int shift = static_cast<int>(rel / kSubBuckets) + 1;
    const std::uint64_t mantissa = kSubBuckets + rel % kSubBuckets;
    return mantissa << shift;
}

std::uint64_t latency_histogram::highest_in(std::size_t index) {
    if (index < kExact) return index;
    const std::uint64_t rel = index - kExact;
    const int shift = static_cast<int>(rel / kSubBuckets) + 1;
    return lowest_in(index) + ((std::uint64_t{1} << shift) - 1);
}

void latency_histogram::record(std::uint64_t value, std::uint64_t count) {
    counts_[index_of(value)] += count;
    total_ += count;
    sum_ += value * count;
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
}

void latency_histogram::merge(const latency_histogram& other) {
    for (std::size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

void latency_histogram::reset() {
    *this = latency_histogram{};
}

std::uint64_t latency_histogram::percentile(double q) const {
    if (total_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    // Rank of the wanted value, 1-based: at least ceil(q * total) values must be <= it.
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBucketCount; ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::min(highest_in(i), max_);
    }
    return max_;
}

namespace {

std::string check(bool ok, const std::string& what) {
    return ok ? std::string{} : what + "; ";
}

}  // namespace

std::string histogram_selftest() {
    std::string failures;
    // Index math: every bucket's edges map back to it, and buckets tile the value range.
    for (std::size_t i = 0; i + 1 < latency_histogram::kBucketCount; ++i) {
        const auto lo = latency_histogram::lowest_in(i);
        const auto hi = latency_histogram::highest_in(i);
        if (latency_histogram::index_of(lo) != i || latency_histogram::index_of(hi) != i ||
            latency_histogram::lowest_in(i + 1) != hi + 1) {
            failures += "bucket tiling broken at index " + std::to_string(i) + "; ";
            break;
        }
    }
    failures +=
        check(latency_histogram::index_of(UINT64_MAX) == latency_histogram::kBucketCount - 1,
              "UINT64_MAX is not in the last bucket");

    // Exact small values.
    latency_histogram small;
    for (std::uint64_t v = 1; v <= 100; ++v) small.record(v);
    failures += check(small.count() == 100, "count");
    failures += check(small.percentile(0.5) == 50, "p50 of 1..100 != 50");
    failures += check(small.percentile(0.99) == 99, "p99 of 1..100 != 99");
    failures += check(small.percentile(1.0) == 100 && small.max() == 100, "max of 1..100");
    failures += check(small.min() == 1 && std::abs(small.mean() - 50.5) < 1e-9, "min/mean");

    // Random values over six decades: percentiles within the bucket's relative error.
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(8.0, 2.0);
    std::vector<std::uint64_t> values;
    latency_histogram big;
    for (int i = 0; i < 200000; ++i) {
        const auto v = static_cast<std::uint64_t>(dist(rng)) + 1;
        values.push_back(v);
        big.record(v);
    }
    std::sort(values.begin(), values.end());
    for (double q : {0.5, 0.9, 0.99, 0.999, 1.0}) {
        const auto rank = static_cast<std::size_t>(std::ceil(q * values.size()));
        const double exact = static_cast<double>(values[rank - 1]);
        const double got = static_cast<double>(big.percentile(q));
        const double err = std::abs(got - exact) / exact;
        failures += check(got >= exact && err <= 1.0 / latency_histogram::kSubBuckets,
                          "percentile " + std::to_string(q) + " off by " + std::to_string(err));
    }

    // Merge equals recording everything into one.
    latency_histogram a, b, both;
    for (std::uint64_t v = 0; v < 5000; v += 3) (v % 2 ? a : b).record(v * 17), both.record(v * 17);
    a.merge(b);
    failures += check(a.count() == both.count() && a.max() == both.max() &&
                          a.percentile(0.9) == both.percentile(0.9) && a.min() == both.min(),
                      "merge differs");

    latency_histogram empty;
    failures += check(empty.percentile(0.99) == 0 && empty.max() == 0 && empty.min() == 0,
                      "empty histogram");
    return failures;
}

}  // namespace chirp::bench
