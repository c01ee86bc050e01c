// The reader pool: a few threads, each with its own connection and the named queries
// (queries.cpp) prepared on it, taking reads from one bounded queue.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
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

    struct pending {
        std::string name;
        std::vector<std::string> params;  // "" is NULL
        completion<read_result> done;
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
