// The database monitor: one thread with its own connection, never behind the reader queue.
// It pings PostgreSQL every 500 ms with a 1 s deadline (readiness: /readyz reads a flag) and
// keeps the /api/stats counts: recounted at most once a second (less often when a recount is
// slow), only when the log has grown (the event sequence is read with every ping).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "chirp/store/reads.hpp"
#include "guard.hpp"

namespace chirp::store {

class db_monitor {
public:
    db_monitor(pg_limits limits, watchdog& wd);
    ~db_monitor();
    db_monitor(const db_monitor&) = delete;
    db_monitor& operator=(const db_monitor&) = delete;

    // PostgreSQL answered the last ping and no pool connection failed since.
    bool up() const { return up_.load(std::memory_order_acquire); }
    // A pool connection failed (any thread): not ready until a ping succeeds again.
    void report_failure();
    // The last counts (nullopt while PostgreSQL is down).
    std::optional<stats_counts> counts();

    void stop();

private:
    void loop();
    bool ping(pqxx::connection& conn, long long& seq);
    void set_up(bool up, const char* why);

    pg_limits limits_;
    watchdog& wd_;
    std::atomic<bool> up_{true};  // migrations have just run against it
    std::atomic<std::uint64_t> failures_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::optional<stats_counts> counts_;
    std::thread thread_;
};

}  // namespace chirp::store
