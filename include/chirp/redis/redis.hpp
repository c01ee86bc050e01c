// Redis on the event loop: hiredis' async API driven by an asio::posix::stream_descriptor
// adapter. One pipelined command connection and one subscriber connection per process, a
// reconnect loop with backoff that resubscribes every channel, and a hook that tells the
// real-time module when a reconnect happened (so sessions replay what they may have missed).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
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
};

class client {
public:
    virtual ~client() = default;
    virtual void start() = 0;
    virtual void stop() = 0;
    virtual bool ready() const = 0;

    // Fire-and-forget command on the command connection (pipelined with the others queued in
    // the same loop turn). Dropped when Redis is down.
    virtual void send(std::vector<std::string> argv) = 0;
    // PUBLISH without copying the payload into an argv first (the fan-out hot path).
    virtual void publish(std::string_view channel, std::string_view payload) = 0;
    // Writes the queued commands to the socket now instead of at the next loop turn (the
    // fan-out does before a write is answered, so that its publishes leave first).
    virtual void flush() = 0;
    // A command whose reply is awaited; nullopt when Redis is down or the connection drops.
    virtual boost::asio::awaitable<std::optional<reply>> call(std::vector<std::string> argv) = 0;

    // Subscriptions are remembered and restored after every reconnect. Reference-counted.
    virtual void subscribe(const std::string& channel) = 0;
    virtual void unsubscribe(const std::string& channel) = 0;
    // Completes when every subscription sent so far is confirmed by Redis (or Redis is down).
    virtual boost::asio::awaitable<void> subscriptions_settled() = 0;
    virtual std::size_t subscription_count() const = 0;
};

// url: redis://host:port
std::unique_ptr<client> create_client(boost::asio::io_context& ioc, const std::string& url,
                                      callbacks cbs);

}  // namespace chirp::redis
