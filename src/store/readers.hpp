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

namespace chirp::store {

class reader_pool {
public:
    reader_pool(std::string database_url, int threads, std::size_t max_queue);
    ~reader_pool();
    reader_pool(const reader_pool&) = delete;
    reader_pool& operator=(const reader_pool&) = delete;

    // A read: runs once with the thread's connection, or (when connecting or a statement
    // threw before it answered) with nullptr and the error.
    struct pending {
        const char* name = "";
        std::function<void(pqxx::connection*, errc)> run;
    };

    // False when the queue is full or the pool stops.
    bool enqueue(pending& job);

    // Runs what is queued and joins the threads.
    void stop();

private:
    void reader_loop();

    std::string url_;
    std::size_t max_queue_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<pending> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace chirp::store
