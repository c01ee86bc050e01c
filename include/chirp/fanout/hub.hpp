// The seam between the fan-out hub (channels, Redis, fan-out) and the sessions that carry its
// events to clients (WebSocket, SSE in ws/). The hub knows sessions only through
// session_base; sessions know the hub only through `hub`. Neither creates the other.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace chirp::fanout {

enum class stream { timeline = 0, notifications = 1, messages = 2 };
inline constexpr std::size_t stream_count = 3;
const char* stream_name(stream s) noexcept;

// The header of a server's WebSocket text frame (RFC 6455 5.2: FIN, opcode 1, unmasked, the
// payload length in 1, 3 or 9 bytes): fanout/frame.hpp, ws_text_header.
struct ws_header {
    std::array<std::uint8_t, 10> bytes{};
    std::uint8_t size = 0;  // 0: not built
};

// An event on its way to sockets: the frame is serialized once and shared by all recipients,
// and so is its WebSocket framing (ws_head, built with it: each socket gets the same bytes).
struct live_event {
    long long seq = 0;           // 0: ephemeral (typing, stats): no ordering, no replay
    std::int64_t commit_us = 0;  // system clock at commit, for delivery latency
    std::shared_ptr<const std::string> frame;
    // Where the "event" object sits in the frame (SSE data lines), set where the event is
    // built (fanout/frame.hpp: locate_event); event_len 0: the whole frame.
    std::uint32_t event_at = 0;
    std::uint32_t event_len = 0;
    // The frame's WebSocket header, set where the event is built (locate_event,
    // event_from_frame); size 0 (a session's own control frames): the transport builds it.
    ws_header ws_head;

    std::string_view event_text() const noexcept {
        const std::string_view f(*frame);
        return event_len == 0 ? f : f.substr(event_at, event_len);
    }
};

// System clock in microseconds (the clock of live_event::commit_us).
std::int64_t now_us() noexcept;

class session_base {
public:
    virtual ~session_base() = default;
    virtual long long user_id() const = 0;
    // Enqueue (never suspends, never writes the socket itself).
    virtual void deliver(stream s, const live_event& ev) = 0;
    virtual void deliver_ephemeral(const std::shared_ptr<const std::string>& frame) = 0;
    virtual bool wants_stats() const = 0;
    // Redis came back: whatever was published meanwhile may be lost; replay from the log
    // (from > 0: also below the last seq sent, from that seq on; see session_machine).
    virtual void resync_from_log(long long from = 0) = 0;
    // Server shutdown: close with 1001.
    virtual void go_away() = 0;
};

class hub {
public:
    virtual ~hub() = default;
    // Registers a session of its user; the first one subscribes the user's channels. Completes
    // once Redis confirmed the subscriptions (or right away when Redis is down).
    virtual boost::asio::awaitable<void> attach(session_base* s) = 0;
    virtual void detach(session_base* s) = 0;
    // Typing indicator from a session: forwards to the other participants (throttled).
    virtual boost::asio::awaitable<std::string> typing(long long user, const std::string& user_ref,
                                                       long long conversation) = 0;
};

}  // namespace chirp::fanout
