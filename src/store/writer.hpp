// The event writer: one thread that appends every queued command in one group commit, and
// one completer thread that turns a committed batch into answers (exec_result.hpp) and posts
// them, in commit order, to the loop.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/connection>
#include <pqxx/result>
#include <string>
#include <thread>
#include <vector>

#include "completion.hpp"
#include "guard.hpp"

namespace chirp::store {

class db_monitor;

class event_writer {
public:
    // Every batch runs under the limits' deadline (guard.hpp); a failed connection is reported
    // to the monitor (readiness).
    event_writer(const pg_limits& limits, watchdog& wd, db_monitor& monitor, std::size_t max_batch,
                 std::size_t max_queue, metrics::registry& metrics);
    ~event_writer();
    event_writer(const event_writer&) = delete;
    event_writer& operator=(const event_writer&) = delete;

    // A command's Idempotency-Key: its record gets the rendered answer (migration 009).
    struct idem_ref {
        long long user = 0;  // the actor, 0 for none (as chirp_exec_rows keys it)
        std::string key;
    };

    // Queues a command (JSON text); false when the queue is full or the writer stops.
    bool enqueue(std::string command, std::optional<idem_ref> idem, completion<write_result>& done);

    // Answers 503 to the writes that waited longer than the queue timeout (never sent, so
    // certainly not stored): the watchdog's tick.
    void sweep(steady::time_point now);

    // Writes what is queued (until the watchdog's stop deadline), answers it, and joins both
    // threads.
    void stop();

    struct pending {
        std::string command;  // JSON text
        std::optional<idem_ref> idem;
        completion<write_result> done;
        std::chrono::steady_clock::time_point submitted;
    };
    // A committed batch waiting for its answers.
    struct committed_batch {
        std::vector<pending> writes;
        pqxx::result rows;                  // one per write, in order (exec_result.hpp)
        std::vector<write_result> answers;  // already mapped (a batch with Idempotency-Keys)
        std::chrono::steady_clock::time_point committed{};
        std::int64_t committed_us = 0;
    };

private:
    void writer_loop();
    // `sent` turns true once a statement that may commit has been sent: from then on a lost
    // connection leaves the outcome unknown.
    void run_batch(pqxx::connection& conn, std::vector<pending>& batch, bool& sent);
    void run_one_by_one(pqxx::connection& conn, std::vector<pending>& batch);
    // Drops the connection and answers the batch: 503 outcome_unknown or unavailable.
    void fail_batch(std::unique_ptr<pqxx::connection>& conn, std::vector<pending>& batch,
                    bool in_doubt_outcome);
    void completer_loop();
    void complete(committed_batch& b);

    const pg_limits& limits_;
    watchdog& wd_;
    db_monitor& monitor_;
    std::size_t max_batch_;
    std::size_t max_queue_;
    metrics::registry& metrics_;

    std::mutex write_mu_;
    std::condition_variable write_cv_;
    std::deque<pending> write_queue_;
    bool stopping_ = false;
    std::mutex done_mu_;
    std::condition_variable done_cv_;
    std::deque<committed_batch> done_queue_;  // at most max_done_batches
    bool writer_done_ = false;
    std::thread writer_;
    std::thread completer_;
};

}  // namespace chirp::store
