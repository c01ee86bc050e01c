// Bounds on every blocking libpq call. PostgreSQL can be down (connections refused: fast), or
// frozen or cut off (the kernel still accepts the connection and the bytes, nothing answers):
// then a blocking libpq call would wait forever, and so would the request, /readyz and SIGTERM.
//  - Every connection gets connect_timeout and TCP keepalives in its connection string, and a
//    server-side statement_timeout (conninfo(), open_connection()).
//  - Every call on a pool connection runs under a client-side deadline: the watchdog thread
//    shuts the socket down when it passes (shutdown(2), never close: the owner still owns the
//    descriptor), so the blocked call fails with a broken connection at once.
//  - Every queued read or write waits at most the queue timeout for a connection (the
//    watchdog runs the pools' sweeps every tick), then is answered 503.
//  - At shutdown every deadline is cut to a short grace period (begin_stop()).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <string>
#include <thread>
#include <vector>

namespace chirp {
struct config;
}

namespace chirp::store {

using steady = std::chrono::steady_clock;

struct pg_limits {
    std::string conninfo;                       // the URL with connect_timeout and keepalives
    std::chrono::milliseconds statement{3000};  // server-side statement_timeout
    std::chrono::milliseconds call{3500};       // client-side deadline of one call
    std::chrono::milliseconds queue{1000};      // longest wait for a pool connection
};

// The limits of the pool connections (readers, writer, monitor) from the configuration.
pg_limits limits_of(const config& cfg);

// `url` (postgresql://...) with connect_timeout=<s>, keepalives=1, keepalives_idle=5,
// keepalives_interval=2 and keepalives_count=3 added, each unless the URL sets it already.
std::string conninfo(const std::string& url, int connect_timeout_s);

class watchdog {
public:
    watchdog();
    ~watchdog();
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;

    // A deadline armed on a connection's socket; disarmed when it goes away.
    class armed {
    public:
        armed(watchdog& w, std::uint64_t id) : w_(&w), id_(id) {}
        armed(armed&& o) noexcept : w_(o.w_), id_(o.id_) { o.w_ = nullptr; }
        armed(const armed&) = delete;
        armed& operator=(const armed&) = delete;
        armed& operator=(armed&&) = delete;
        ~armed() { disarm(); }
        // Disarms; true when the deadline had passed and the socket was shut down.
        bool disarm();

    private:
        watchdog* w_;
        std::uint64_t id_;
        bool fired_ = false;
    };

    // Shuts `fd` down at `deadline` (or at the stop deadline, when that is earlier).
    [[nodiscard]] armed arm(int fd, steady::time_point deadline);

    // Called with the time on every tick (about every 50 ms) from the watchdog thread, without
    // its lock: the pools answer what waited too long. Register before the first tick matters.
    void add_sweep(std::function<void(steady::time_point)> fn);

    // Shutdown: every armed deadline, and every later one, is at most now + grace.
    void begin_stop(std::chrono::milliseconds grace);
    // True once the stop deadline has passed: start nothing new on PostgreSQL.
    bool past_stop() const;

    // Joins the thread (after the pools have stopped).
    void stop();

private:
    struct entry {
        int fd;
        steady::time_point deadline;
        bool fired = false;
    };
    void loop();
    bool fired_and_remove(std::uint64_t id);

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::uint64_t, entry> armed_;
    std::uint64_t next_id_ = 1;
    std::vector<std::function<void(steady::time_point)>> sweeps_;
    steady::time_point stop_at_ = steady::time_point::max();
    bool quit_ = false;
    std::thread thread_;
};

// Opens a connection (bounded by connect_timeout), sets statement_timeout and, when
// `prepare`, prepares the named read statements, all before `deadline`.
std::unique_ptr<pqxx::connection> open_connection(const pg_limits& limits, watchdog& wd,
                                                  steady::time_point deadline, bool prepare);

// True when an idle connection cannot be used: the server closed it (terminated backend,
// restart) or sent something unasked. Checked before each use, so a write is never sent on a
// connection already known dead (its outcome would be unknown for nothing).
bool idle_connection_dead(const pqxx::connection& conn);

}  // namespace chirp::store
