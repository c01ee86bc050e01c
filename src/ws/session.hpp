// WebSocket and SSE sessions: the entry points of the transports (ws_session.cpp,
// sse_session.cpp), which drive session_machine.hpp.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "chirp/http/server.hpp"
#include "chirp/util/rate_limit.hpp"
#include "internal.hpp"

namespace chirp {
struct config;
namespace metrics {
struct registry;
}
namespace store {
class event_store;
}
namespace auth {
class jwt_codec;
}
namespace drafts {
class registry;
}
}  // namespace chirp

namespace chirp::ws {

class replay_batcher;  // replay_batcher.hpp: replays of many sessions in one query

struct session_deps {
    boost::asio::io_context& ioc;
    const config& cfg;
    metrics::registry& metrics;
    store::event_store& store;
    auth::jwt_codec& jwt;
    hub& h;
    std::vector<std::weak_ptr<session_base>>* all = nullptr;  // for shutdown
    bool* stopping = nullptr;
    std::shared_ptr<replay_batcher> batcher = nullptr;  // created by the first replay
    // Session tasks on the loop that wait on the store (replays, typing checks): shutdown
    // waits for them, so that none is still holding its session when the loop stops.
    // Shared with the tasks, which may outlive these deps if shutdown's deadline passed.
    std::shared_ptr<int> tasks_in_flight = std::make_shared<int>(0);
    // The limits' state (util/limit_tables.hpp): the per-user session cap
    // (config::max_sessions_per_user, counted in column `worker`) and the per-user replay rate
    // (config::replays_per_minute: a token bucket per user, made at the first replay). Shared
    // by the workers of one chirpd; a private region when null (made at first use).
    std::shared_ptr<util::limits_region> limits;
    std::uint32_t worker = 0;
    std::optional<util::token_buckets> replay_buckets;
    // The collaborative drafts of this process (nullptr: none).
    drafts::registry* drafts = nullptr;
};

// Counts one session task while it lives (see session_deps::tasks_in_flight).
class task_scope {
public:
    explicit task_scope(std::shared_ptr<int> n) : n_(std::move(n)) { ++*n_; }
    ~task_scope() { --*n_; }
    task_scope(const task_scope&) = delete;
    task_scope& operator=(const task_scope&) = delete;

private:
    std::shared_ptr<int> n_;
};

void run_websocket(session_deps& deps, boost::beast::tcp_stream stream, http::beast_request req,
                   std::string remote_ip);

boost::asio::awaitable<void> run_sse(session_deps& deps, boost::beast::tcp_stream& stream,
                                     const http::beast_request& breq, http::request& req);

}  // namespace chirp::ws
