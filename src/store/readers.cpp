// Reader threads: blocking libpqxx reads off the loop (see readers.hpp).
#include "readers.hpp"

#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

#include "queries.hpp"

namespace chirp::store {

reader_pool::reader_pool(std::string database_url, int threads, std::size_t max_queue)
    : url_(std::move(database_url)), max_queue_(max_queue) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { reader_loop(); });
}

reader_pool::~reader_pool() {
    stop();
}

bool reader_pool::enqueue(pending& job) {
    std::lock_guard lk(mu_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back(std::move(job));
    cv_.notify_one();
    return true;
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
        try {
            if (!conn || !conn->is_open()) {
                conn.reset();
                conn = std::make_unique<pqxx::connection>(url_);
                for (const auto& q : named_queries())
                    conn->prepare(std::string(q.name), std::string(q.sql));
            }
            job.run(conn.get(), errc::ok);
        } catch (const pqxx::broken_connection& e) {
            spdlog::warn("database reader: {}", e.what());
            conn.reset();
            failed = errc::unavailable;
        } catch (const pqxx::data_exception& e) {
            // Parameters the handler validated should never get here; treat as bad input.
            spdlog::warn("read {}: {}", job.name, e.what());
            failed = errc::bad_request;
        } catch (const std::exception& e) {
            spdlog::error("read {}: {}", job.name, e.what());
            if (conn && !conn->is_open()) conn.reset();
            failed = errc::unavailable;
        }
        if (failed != errc::ok) job.run(nullptr, failed);
    }
}

}  // namespace chirp::store
