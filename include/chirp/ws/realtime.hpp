// The real-time module's seam: WebSocket and SSE sessions, the hub of channels, Redis
// pub/sub fan-out and replay. The app creates it, hands its hooks to the HTTP server and its
// on_committed to the event store.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>

#include "chirp/http/server.hpp"

namespace chirp {
struct config;
namespace metrics {
struct registry;
}
namespace store {
class event_store;
struct write_result;
}  // namespace store
namespace auth {
class jwt_codec;
}
}  // namespace chirp

namespace chirp::rt {

class service : public http::realtime_info {
public:
    // Connects to Redis (and keeps reconnecting in the background).
    virtual void start() = 0;
    virtual http::server_hooks hooks() = 0;
    // Fan-out of a committed write (runs on the loop, never suspends). Calls resume once the
    // write's events are published (at once, unless a follower list must be loaded first).
    virtual void on_committed(const store::write_result& r, std::function<void()> resume) = 0;
    // Closes every session with 1001 and stops Redis.
    virtual boost::asio::awaitable<void> shutdown() = 0;
};

std::unique_ptr<service> create_realtime(boost::asio::io_context& ioc, const config& cfg,
                                         metrics::registry& metrics, store::event_store& store,
                                         auth::jwt_codec& jwt);

}  // namespace chirp::rt
