// Redis on the event loop: hiredis' async API driven by an asio::posix::stream_descriptor
// adapter. One pipelined command connection and one subscriber connection per process, a
// reconnect loop with backoff that resubscribes every channel, and a hook that tells the
// real-time module when a reconnect happened (so sessions replay what they may have missed).
// Every connection authenticates and selects the URL's database when it opens, is health
// checked (a PING every timeout/4; silent for `timeout` after one: dropped) and every command
// has a deadline; writes queued toward Redis are bounded (over the bound: dropped, counted).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chirp::redis {

// A reply, simplified: nil, integer, string (also status and error), or array.
struct reply {
    enum class kind { nil, integer, string, array, error } type = kind::nil;
    long long integer = 0;
    std::string str;
    std::vector<reply> elements;
};

// What the client reports for /metrics (on the loop).
enum class event {
    dropped,          // a write not sent: Redis down, or the queue toward it over its bound
    timeout,          // a command's deadline expired before its reply
    health_failure,   // a connection silent past the deadline after a PING: dropped
    connect_failure,  // a connection attempt failed (refused, timed out, AUTH or SELECT)
};

// A process that could not publish some events says so on this channel once Redis is back:
// "<node id> <lowest seq possibly lost>" (0: no event, only caches to drop). Every process
// replays its sessions from that seq and drops the caches that Redis messages keep current.
inline constexpr std::string_view gap_channel = "chirp:gaps";

struct options {
    // Deadline of a command, and how long a connection may stay silent after a PING.
    std::chrono::milliseconds timeout{2000};
    // Bytes queued toward Redis on one connection before further writes are dropped.
    std::size_t queue_bytes = 16 * 1024 * 1024;
};

struct callbacks {
    // A pub/sub message (never suspends; runs on the loop).
    std::function<void(std::string_view channel, std::string_view payload)> on_message;
    // Connected, subscriptions sent again: every time, the first connection included (runs
    // before on_reconnected).
    std::function<void()> on_connected;
    // Redis came back after an outage (not called for the first connection).
    std::function<void()> on_reconnected;
    // Redis went away.
    std::function<void()> on_lost;
    std::function<void(event)> on_event;
};

class client {
public:
    virtual ~client() = default;
    virtual void start() = 0;
    virtual void stop() = 0;
    virtual bool ready() const = 0;

    // Fire-and-forget command on the command connection (pipelined with the others queued in
    // the same loop turn). Dropped when Redis is down or the queue is full: then 0, else the
    // write's number (increasing), which confirmed() passes once Redis executed it.
    virtual std::uint64_t send(std::vector<std::string> argv) = 0;
    // PUBLISH without copying the payload into an argv first (the fan-out hot path).
    virtual std::uint64_t publish(std::string_view channel, std::string_view payload) = 0;
    // Every write numbered up to this one was executed by Redis (a reply came after it).
    virtual std::uint64_t confirmed() const = 0;
    // Writes dropped, plus writes that were not confirmed when their connection was lost
    // (they may or may not have reached Redis). Only grows.
    virtual std::uint64_t lost_writes() const = 0;
    // Writes the queued commands to the socket now instead of at the next loop turn (the
    // fan-out does before a write is answered, so that its publishes leave first).
    virtual void flush() = 0;
    // A command whose reply is awaited; nullopt when Redis is down, the connection drops or
    // the deadline (options::timeout unless given) expires first.
    virtual boost::asio::awaitable<std::optional<reply>> call(std::vector<std::string> argv) = 0;
    virtual boost::asio::awaitable<std::optional<reply>> call(
        std::vector<std::string> argv, std::chrono::milliseconds deadline) = 0;

    // Subscriptions are remembered and restored after every reconnect. Reference-counted.
    virtual void subscribe(const std::string& channel) = 0;
    virtual void unsubscribe(const std::string& channel) = 0;
    // Completes when every subscription sent so far is confirmed by Redis (or Redis is down,
    // or half the timeout passed).
    virtual boost::asio::awaitable<void> subscriptions_settled() = 0;
    virtual std::size_t subscription_count() const = 0;
};

// url: redis://[[user]:password@]host[:port][/db] (url.hpp); throws std::invalid_argument
// when malformed. Given a list (--redis-url a,b,c), the first server: the home shard, where
// cluster-wide channels live (fanout/routing.hpp); the fan-out makes one client per server.
std::unique_ptr<client> create_client(boost::asio::io_context& ioc, const std::string& url,
                                      callbacks cbs, options opts = {});

}  // namespace chirp::redis
