// Counters and latency histograms behind /api/stats and /metrics. Updated on the event loop
// only (no locks), except `append_latency`, which the writer thread records through atomics.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chirp::metrics {

// Log-linear histogram of microseconds: exact below 64 us, then 32 sub-buckets per power of
// two (relative error < 3.2 %), up to ~1.2 hours. Atomic buckets so any thread may record.
class histogram {
public:
    static constexpr int sub_bits = 5;
    static constexpr int buckets = 64 + 32 * 27;

    void record(std::uint64_t micros) noexcept;
    // q in [0, 1]; the upper bound of the bucket holding the q-quantile, in microseconds.
    std::uint64_t quantile(double q) const noexcept;
    std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
    std::uint64_t max() const noexcept { return max_.load(std::memory_order_relaxed); }
    void reset() noexcept;

    static int bucket_of(std::uint64_t micros) noexcept;
    static std::uint64_t upper_bound_of(int bucket) noexcept;

private:
    std::array<std::atomic<std::uint64_t>, buckets> counts_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> max_{0};
};

// Events per second over the last few seconds (a ring of one-second slots).
class rate_meter {
public:
    void add(std::uint64_t n = 1) noexcept;
    double per_second() const noexcept;

private:
    static constexpr int slots = 6;
    std::array<std::atomic<std::uint64_t>, slots> counts_{};
    std::array<std::atomic<std::int64_t>, slots> stamps_{};
};

struct registry {
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    std::atomic<std::uint64_t> requests{0};
    rate_meter request_rate;
    histogram request_latency;  // HTTP request handling
    histogram append_latency;   // submit -> commit in the event writer
    std::atomic<std::uint64_t> events_appended{0};
    std::atomic<std::uint64_t> append_batches{0};

    // real-time (event loop)
    std::atomic<std::int64_t> connections{0};
    std::atomic<std::int64_t> peak_connections{0};
    std::atomic<std::int64_t> sessions{0};
    rate_meter delivered_rate;
    std::atomic<std::uint64_t> delivered{0};
    histogram delivery_latency;  // commit -> socket write
    std::atomic<std::uint64_t> slow_consumer_closes{0};
    std::atomic<std::uint64_t> replays{0};
    std::atomic<std::uint64_t> resyncs{0};
    std::atomic<std::uint64_t> redis_reconnects{0};
    // Redis faults (the fan-out's connections): see redis::event.
    std::atomic<std::int64_t> redis_up{0};
    std::atomic<std::uint64_t> redis_dropped{0};
    std::atomic<std::uint64_t> redis_timeouts{0};
    std::atomic<std::uint64_t> redis_health_failures{0};
    std::atomic<std::uint64_t> redis_connect_failures{0};
    std::atomic<std::uint64_t> redis_gap_hints_sent{0};
    std::atomic<std::uint64_t> redis_gap_hints_received{0};
    std::atomic<std::uint64_t> typing_dropped{0};
    std::atomic<std::int64_t> online_users{0};  // across all processes, refreshed from Redis
    // connection limits and deadlines (issue 10)
    std::atomic<std::int64_t> open_sockets{0};           // accepted client sockets still open
    std::atomic<std::uint64_t> accept_paused{0};         // times accept waited at the cap
    std::atomic<std::uint64_t> accept_errors{0};         // accept failures (EMFILE, ...)
    std::atomic<std::uint64_t> session_cap_refusals{0};  // sessions refused (per-user cap)
    std::atomic<std::uint64_t> replays_rate_limited{0};  // replays answered resync by the limit
    std::atomic<std::uint64_t> write_timeouts{0};        // connections dropped at a deadline

    void connection_opened() noexcept;
    void connection_closed() noexcept;
};

// What the database holds, for /api/stats (the store reads it: store::stats_counts).
struct db_counts {
    long long events = 0, users = 0, tweets = 0;
};

// The body of /api/stats (also pushed on the WebSocket `stats` channel). counts: nullptr when
// PostgreSQL is down; module_fields: the `,"key":value` fields of the modules the app wired
// (fan-out, timeline cache), appended last.
std::string stats_json(const registry& m, const db_counts* counts, std::string_view module_fields);

}  // namespace chirp::metrics
