// The home-timeline cache: GET /api/timeline served from this process's memory, kept
// coherent by a versioned Redis broadcast (see src/timeline/home_timeline.cpp for the design
// and the coherence argument). The app wires it into the HTTP handlers and the event store.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>

namespace chirp {
struct config;
namespace redis {
class client;
}
namespace store {
class event_store;
struct write_result;
}  // namespace store
}  // namespace chirp

namespace chirp::timeline {

class home_timeline {
public:
    virtual ~home_timeline() = default;
    // Connects its own Redis connections and subscribes the chirp:tweets broadcast.
    virtual void start() = 0;
    virtual void stop() = 0;
    // A page of the home timeline, the same JSON text as the PostgreSQL `timeline` query;
    // nullopt when it cannot be sure (Redis down, a deep page, a lagging broadcast): ask
    // PostgreSQL.
    virtual boost::asio::awaitable<std::optional<std::string>> page(long long user,
                                                                    long long before,
                                                                    int limit) = 0;
    // A committed write (on the loop, never suspends): queues on `publisher` the broadcast of
    // what it changed in tweets, likes and follows, for every process (this one included).
    // The caller must flush `publisher` before the write is answered (the fan-out does).
    virtual void on_committed(const store::write_result& r) = 0;
    // Its part of /api/stats: `,"timelineCache":{...}` appended to `out`.
    virtual void stats_fields(std::string& out) const = 0;
};

// `publisher`: the fan-out's command connection, flushed before a write is answered.
std::unique_ptr<home_timeline> create_home_timeline(boost::asio::io_context& ioc, const config& cfg,
                                                    store::event_store& st,
                                                    redis::client& publisher);

}  // namespace chirp::timeline
