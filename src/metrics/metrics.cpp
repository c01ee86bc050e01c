// Log-linear histogram and rate meter; see metrics.hpp.
#include "chirp/metrics/metrics.hpp"

#include <bit>

namespace chirp::metrics {

int histogram::bucket_of(std::uint64_t v) noexcept {
    if (v < 64) return static_cast<int>(v);
    const int msb = 63 - std::countl_zero(v);  // >= 6
    const int shift = msb - sub_bits;          // >= 1
    const int sub = static_cast<int>((v >> shift) & 31);
    const int idx = 64 + (msb - 6) * 32 + sub;
    return idx < buckets ? idx : buckets - 1;
}

std::uint64_t histogram::upper_bound_of(int b) noexcept {
    if (b < 64) return static_cast<std::uint64_t>(b);
    const int msb = (b - 64) / 32 + 6;
    const int sub = (b - 64) % 32;
    const int shift = msb - sub_bits;
    return ((std::uint64_t{32} + static_cast<std::uint64_t>(sub) + 1) << shift) - 1;
}

void histogram::record(std::uint64_t micros) noexcept {
    counts_[static_cast<std::size_t>(bucket_of(micros))].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    auto prev = max_.load(std::memory_order_relaxed);
    while (micros > prev && !max_.compare_exchange_weak(prev, micros, std::memory_order_relaxed)) {
    }
}

std::uint64_t histogram::quantile(double q) const noexcept {
    const auto total = count();
    if (total == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total));
    if (rank >= total) rank = total - 1;
    std::uint64_t seen = 0;
    for (int b = 0; b < buckets; ++b) {
        seen += counts_[static_cast<std::size_t>(b)].load(std::memory_order_relaxed);
        if (seen > rank) {
            const auto ub = upper_bound_of(b);
            return ub < max() ? ub : max();
        }
    }
    return max();
}

void histogram::reset() noexcept {
    for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
    count_.store(0);
    max_.store(0);
}

namespace {
std::int64_t now_second() noexcept {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

void rate_meter::add(std::uint64_t n) noexcept {
    const auto s = now_second();
    auto& stamp = stamps_[static_cast<std::size_t>(s % slots)];
    auto& count = counts_[static_cast<std::size_t>(s % slots)];
    if (stamp.load(std::memory_order_relaxed) != s) {
        stamp.store(s, std::memory_order_relaxed);
        count.store(0, std::memory_order_relaxed);
    }
    count.fetch_add(n, std::memory_order_relaxed);
}

double rate_meter::per_second() const noexcept {
    // Average over the last complete seconds (excluding the current, partial one).
    const auto s = now_second();
    std::uint64_t total = 0;
    constexpr int window = slots - 2;
    for (int k = 1; k <= window; ++k) {
        const auto i = static_cast<std::size_t>((s - k) % slots);
        if (stamps_[i].load(std::memory_order_relaxed) == s - k)
            total += counts_[i].load(std::memory_order_relaxed);
    }
    return static_cast<double>(total) / window;
}

void registry::connection_opened() noexcept {
    const auto now = connections.fetch_add(1) + 1;
    auto peak = peak_connections.load();
    while (now > peak && !peak_connections.compare_exchange_weak(peak, now)) {
    }
}

void registry::connection_closed() noexcept {
    connections.fetch_sub(1);
}

}  // namespace chirp::metrics
