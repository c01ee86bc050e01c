// The fan-out module's seam for the app: the hub of channels (presence, typing, follower and
// celebrity caches) and Redis pub/sub fan-out of committed writes. The app creates it, hands
// its `hub` side to the WebSocket/SSE sessions (ws/), its on_committed to the event store, and
// prepare_fanout / redis_ready to the HTTP handlers. It creates no sessions and knows nothing
// of HTTP.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "chirp/fanout/hub.hpp"

namespace chirp {
struct config;
namespace metrics {
struct registry;
struct db_counts;
}  // namespace metrics
namespace redis {
class client;
}
namespace store {
class event_store;
struct write_result;
}  // namespace store
}  // namespace chirp

namespace chirp::fanout {

class service : public hub {
public:
    // Connects to Redis (and keeps reconnecting in the background).
    virtual void start() = 0;
    // Fan-out of a committed write (runs on the loop, never suspends). Calls resume once the
    // write's events are published (at once, unless a follower list must be loaded first), and
    // with them whatever else was queued on publisher() before (the timeline broadcast).
    virtual void on_committed(const store::write_result& r, std::function<void()> resume) = 0;
    // A tweet by `author` is about to be written: the follower list it will need is loaded
    // while the write commits, instead of after it.
    virtual void prepare_fanout(long long author) = 0;
    virtual bool redis_ready() const = 0;
    // Its part of /api/stats: `,"key":value` fields appended to `out`.
    virtual void stats_fields(std::string& out) const = 0;
    // The command connection whose queue on_committed flushes before a write is answered.
    virtual redis::client& publisher() = 0;
    // Shutdown begins: writes are answered without waiting for Redis, housekeeping ends.
    virtual void begin_shutdown() = 0;
    // Closes Redis (after the sessions are gone).
    virtual void stop() = 0;
};

// The body of the `stats` push: counts is what the store counted (nullptr when PostgreSQL is
// down).
using stats_renderer = std::function<std::string(const metrics::db_counts* counts)>;

std::unique_ptr<service> create_fanout(boost::asio::io_context& ioc, const config& cfg,
                                       metrics::registry& metrics, store::event_store& store,
                                       stats_renderer stats);

}  // namespace chirp::fanout
