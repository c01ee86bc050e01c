// Log-linear latency histogram (HdrHistogram-style) for chirp-bench.
//
// HdrHistogram is not packaged on Debian 12, so this is a small self-contained version:
// values (microseconds) below 2 * kSubBuckets are counted exactly; above, every power of two
// is split into kSubBuckets linear buckets, so any recorded value is reported with a relative
// error below 1 / kSubBuckets (< 0.8 %). Recording is O(1) and allocation-free; histograms
// of the same shape merge by adding counts. Tested by `chirp-bench selftest`.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace chirp::bench {

class latency_histogram {
public:
    static constexpr int kSubBucketBits = 7;  // 128 linear buckets per power of two
    static constexpr std::uint64_t kSubBuckets = 1ull << kSubBucketBits;
    static constexpr std::uint64_t kExact = 2 * kSubBuckets;  // values below are exact
    static constexpr std::size_t kBucketCount = kExact + (64 - kSubBucketBits - 1) * kSubBuckets;

    void record(std::uint64_t value, std::uint64_t count = 1);
    void merge(const latency_histogram& other);
    void reset();

    std::uint64_t count() const { return total_; }
    std::uint64_t min() const { return total_ ? min_ : 0; }
    std::uint64_t max() const { return max_; }
    double mean() const { return total_ ? static_cast<double>(sum_) / total_ : 0.0; }
    // The smallest value v such that at least q (0..1) of the recorded values are <= v, reported
    // as the upper edge of v's bucket (never above max()). 0 when empty.
    std::uint64_t percentile(double q) const;

    // Bucket index math, public for the self-test.
    static std::size_t index_of(std::uint64_t value);
    static std::uint64_t lowest_in(std::size_t index);
    static std::uint64_t highest_in(std::size_t index);

private:
    std::array<std::uint64_t, kBucketCount> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
    std::uint64_t sum_ = 0;
};

// Runs the histogram's self-checks; returns an empty string on success, else what failed.
std::string histogram_selftest();

}  // namespace chirp::bench
