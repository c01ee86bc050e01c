// The reader pool: a few threads, each with its own connection and the named statements
// (queries.cpp) prepared on it, taking typed reads (typed_reads.cpp) from one bounded queue.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <pqxx/connection>
#include <string>
#include <thread>
#include <vector>

#include "completion.hpp"
#include "guard.hpp"

namespace chirp::store {

class db_monitor;

class reader_pool {
public:
    // Every call runs under the limits' deadline (guard.hpp); a failed connection is reported
    // to the monitor (readiness).
    reader_pool(const pg_limits& limits, watchdog& wd, db_monitor& monitor, int threads,
                std::size_t max_queue);
    ~reader_pool();
    reader_pool(const reader_pool&) = delete;
    reader_pool& operator=(const reader_pool&) = delete;

    // A read: runs once with the thread's connection, or (when connecting or a statement
    // threw before it answered) with nullptr and the error.
    struct pending {
        const char* name = "";
        std::function<void(pqxx::connection*, errc)> run;
        steady::time_point queued{};
    };

    // False when the queue is full or the pool stops.
    bool enqueue(pending& job);

    // Answers 503 to the reads that waited longer than the queue timeout (the watchdog's tick).
    void sweep(steady::time_point now);

    // Runs what is queued (until the watchdog's stop deadline) and joins the threads.
    void stop();

private:
    void reader_loop();

    const pg_limits& limits_;
    watchdog& wd_;
    db_monitor& monitor_;
    std::size_t max_queue_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<pending> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace chirp::store
