// DESIGN
// The loop never touches PostgreSQL. Two kinds of threads own connections:
//  - one event writer (writer.cpp) appends every queued command in one group commit, and its
//    completer maps the committed rows to answers and live frames (exec_result.cpp);
//  - reader threads (readers.cpp, cfg.db_threads) take named queries from a bounded queue.
// Both post their results to the loop. This file is the seam the rest of chirpd sees.
#include "chirp/store/store.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "chirp/config/config.hpp"
#include "readers.hpp"
#include "writer.hpp"

namespace asio = boost::asio;

namespace chirp::store {
namespace {

class pg_event_store final : public event_store {
public:
    pg_event_store(const config& cfg, metrics::registry& m)
        : writer_(cfg.database_url, cfg.writer_max_batch, cfg.writer_max_queue, m),
          readers_(cfg.database_url, cfg.db_threads, cfg.writer_max_queue) {}

    ~pg_event_store() override { stop(); }

    // Not coroutines: GCC 12 mishandles lambdas with captures inside co_await expressions, so
    // these return the awaitable of async_initiate directly.
    asio::awaitable<write_result> submit(nlohmann::json command) override {
        std::optional<event_writer::idem_ref> idem;
        if (auto i = command.find("idem"); i != command.end() && i->is_object()) {
            idem.emplace();
            idem->key = i->value("key", std::string());
            if (auto a = command.find("actor"); a != command.end() && a->is_string())
                idem->user = std::stoll(a->get<std::string>());
        }
        auto text = command.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return asio::async_initiate<const asio::use_awaitable_t<>, void(write_result)>(
            [this, text = std::move(text), idem = std::move(idem)](auto handler) mutable {
                auto done = make_completion<write_result>(std::move(handler), &committed_hook_);
                if (writer_.enqueue(std::move(text), std::move(idem), done)) return;
                done(failed_write(errc::unavailable, "the event writer is overloaded"));
            },
            asio::use_awaitable);
    }

    asio::awaitable<read_result> query(std::string_view name,
                                       std::vector<std::string> params) override {
        return asio::async_initiate<const asio::use_awaitable_t<>, void(read_result)>(
            [this, n = std::string(name), params = std::move(params)](auto handler) mutable {
                reader_pool::pending job{std::move(n), std::move(params),
                                         make_completion<read_result>(std::move(handler))};
                if (readers_.enqueue(job)) return;
                job.done(read_result{errc::unavailable, std::nullopt});
            },
            asio::use_awaitable);
    }

    void on_committed(commit_hook fn) override { committed_hook_ = std::move(fn); }

    asio::awaitable<bool> ping() override {
        auto r = co_await query("ping", {});
        co_return r.code == errc::ok;
    }

    void stop() override {
        writer_.stop();
        readers_.stop();
    }

private:
    commit_hook committed_hook_;
    event_writer writer_;
    reader_pool readers_;
};

}  // namespace

std::unique_ptr<event_store> create_event_store(asio::io_context&, const config& cfg,
                                                metrics::registry& metrics) {
    return std::make_unique<pg_event_store>(cfg, metrics);
}

long long rebuild_projections(const std::string& database_url) {
    pqxx::connection conn(database_url);
    pqxx::work tx(conn);
    auto r = tx.exec("SELECT chirp_rebuild()");
    tx.commit();
    return r[0][0].as<long long>();
}

}  // namespace chirp::store
