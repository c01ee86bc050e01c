// Reader threads: blocking libpqxx reads off the loop (see readers.hpp).
#include "readers.hpp"

#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

#include "monitor.hpp"

namespace chirp::store {

reader_pool::reader_pool(const pg_limits& limits, watchdog& wd, db_monitor& monitor, int threads,
                         std::size_t max_queue)
    : limits_(limits), wd_(wd), monitor_(monitor), max_queue_(max_queue) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { reader_loop(); });
}

reader_pool::~reader_pool() {
    stop();
}

bool reader_pool::enqueue(pending& job) {
    std::lock_guard lk(mu_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    job.queued = steady::now();
    queue_.push_back(std::move(job));
    cv_.notify_one();
    return true;
}

void reader_pool::sweep(steady::time_point now) {
    std::vector<pending> late;
    {
        std::lock_guard lk(mu_);
        // FIFO: the oldest are at the front.
        while (!queue_.empty() && now - queue_.front().queued >= limits_.queue) {
            late.push_back(std::move(queue_.front()));
            queue_.pop_front();
        }
    }
    if (!late.empty()) spdlog::warn("{} reads waited too long for a connection: 503", late.size());
    for (auto& job : late) job.run(nullptr, errc::unavailable);
}

void reader_pool::stop() {
    {
        std::lock_guard lk(mu_);
        if (stopping_) return;
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
}

void reader_pool::reader_loop() {
    std::unique_ptr<pqxx::connection> conn;
    for (;;) {
        pending job;
        {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;
            job = std::move(queue_.front());
            queue_.pop_front();
        }
        errc failed = errc::ok;
        if (wd_.past_stop()) {
            job.run(nullptr, errc::unavailable);
            continue;
        }
        const auto deadline = steady::now() + limits_.call;
        try {
            if (conn && idle_connection_dead(*conn)) conn.reset();
            if (!conn) {
                // Down (the monitor reconnects every 500 ms): answer at once rather than
                // have every read try a connection of its own.
                if (!monitor_.up()) {
                    job.run(nullptr, errc::unavailable);
                    continue;
                }
                conn = open_connection(limits_, wd_, deadline, true);
            }
            auto guard = wd_.arm(conn->sock(), deadline);
            job.run(conn.get(), errc::ok);
            if (guard.disarm()) conn.reset();  // answered, but the socket is shut down now
        } catch (const pqxx::broken_connection& e) {
            spdlog::warn("database reader: {}", e.what());
            conn.reset();
            monitor_.report_failure();
            failed = errc::unavailable;
        } catch (const pqxx::data_exception& e) {
            // Parameters the handler validated should never get here; treat as bad input.
            spdlog::warn("read {}: {}", job.name, e.what());
            failed = errc::bad_request;
        } catch (const std::exception& e) {
            // Also a statement_timeout (57014) or a call the watchdog cut off.
            spdlog::error("read {}: {}", job.name, e.what());
            if (conn && (!conn->is_open() || idle_connection_dead(*conn))) {
                conn.reset();
                monitor_.report_failure();
            }
            failed = errc::unavailable;
        }
        if (failed != errc::ok) job.run(nullptr, failed);
    }
}

}  // namespace chirp::store
