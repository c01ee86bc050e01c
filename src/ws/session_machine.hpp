// The real-time session as a sans-io state machine, shared by the WebSocket and SSE
// transports and unit-tested without sockets (tests/unit/session_machine_test.cpp).
//
//   connected -> (auth) -> authenticated -> (subscribe [since]) -> subscribed
//
// Each stream (timeline, notifications, messages) tracks the last seq sent. Subscribing with
// `since` replays from PostgreSQL while live events are buffered: the session is attached to
// the hub (and Redis confirmed the subscription) before the replay query runs, so nothing
// committed meanwhile can fall between the replay and the live stream; the replayed frames go
// out, then the "replayed" marker, then the seam: the buffered events above the replayed seq,
// duplicates dropped (ARCHITECTURE guarantees 4, 5). A "settling" replay 1.5 s later catches
// events that other processes fanned out before they learned this user was online. More
// missed than replay_max: "resync" (the client reloads over REST). Whether it is more is
// decided by the store counting the events above `since` (with a limit), not by rendering
// them; a `since` above the log's head (a future or made-up seq) is answered "resync" too,
// never "replayed". A resync moves the stream to the log's head, so the settling replay after
// it reads only what is newer. Subscribes with `since` are rate-limited per user
// (session_io::allow_replay): over the limit the streams get "resync" without a log read.
//
// Sessions are counted per user (session_io::admit): over the cap, 4009.
//
// Sending: one bounded queue (messages and bytes) that the transport's writer drains; the hub
// only enqueues. Over the bound the session closes with 4008: the client reconnects with
// `since` and loses nothing. Replay is flow-controlled: it sends while the queue is less than
// half full and goes on as the writer takes frames.
//
// Replays run one stream at a time, in the order asked (a subscribe's streams, then a
// settling or a resync replay); a stream already replaying is not replayed twice at once.
//
// The machine does no I/O: everything it needs done goes through session_io, and what
// happened comes back through its on_* inputs (on the same thread, never from inside an io
// call).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chirp/auth/jwt.hpp"
#include "client_message.hpp"
#include "internal.hpp"
#include "replay_batcher.hpp"

namespace chirp {
struct config;
namespace metrics {
struct registry;
}
}  // namespace chirp

namespace chirp::ws {

// What the machine asks of its transport.
class session_io {
public:
    using clock = std::chrono::steady_clock;

    virtual clock::time_point now() const = 0;
    virtual std::int64_t unix_now() const = 0;  // seconds, for token expiry
    // Verifies a token; an error text on failure.
    virtual std::optional<std::string> verify(std::string_view token, auth::claims& out) = 0;
    // Something was queued (or a close is due): drain with pop().
    virtual void wake_writer() = 0;
    // Close with code and reason (the machine is closing already).
    virtual void close(unsigned code, std::string reason) = 0;
    // Register with the hub; answer with on_attached().
    virtual void attach() = 0;
    virtual void detach() = 0;
    // Read the log of stream `s` above `since`; answer with on_replay(s, ...).
    virtual void start_replay(stream s, long long user, long long since) = 0;
    // Forward a typing indicator; answer with on_typing_done(error text or "").
    virtual void send_typing(long long conversation, std::string user_ref) = 0;
    // Call on_timer() at `at` (replaces the previous request).
    virtual void arm_timer(clock::time_point at) = 0;
    // busy() became false: the transport may read the next client message.
    virtual void ready() = 0;
    // The per-user session cap: count one more session of `user` (false: over the cap), and
    // give it back. Defaults: no cap.
    virtual bool admit(long long /*user*/) { return true; }
    virtual void release(long long /*user*/) {}
    // The per-user replay rate limit: take one replay (a subscribe with `since`); false: over
    // the limit (the streams get "resync" without reading the log). Default: no limit.
    virtual bool allow_replay(long long /*user*/) { return true; }
    // Collaborative drafts: the registry answers through the session (deliver_ephemeral);
    // a join or a push ends with on_draft_done(). Default: no drafts here (SSE, tests).
    virtual bool drafts_available() const { return false; }
    virtual void draft_join(drafts::join_request) {}
    virtual void draft_push(drafts::push_request) {}
    virtual void draft_presence(drafts::presence_request) {}
    virtual void draft_leave(long long /*draft*/) {}

protected:
    ~session_io() = default;
};

// One frame on its way to the socket.
struct queued {
    live_event ev;  // ev.seq 0: a control frame (no SSE id)
    stream channel = stream::timeline;
};

class session_machine {
public:
    using clock = session_io::clock;
    static constexpr auto settle_delay = std::chrono::milliseconds(1500);

    session_machine(session_io& io, const config& cfg, metrics::registry& m);
    ~session_machine();
    session_machine(const session_machine&) = delete;
    session_machine& operator=(const session_machine&) = delete;

    // --- authentication ---
    // Validates a token; on success remembers the claims and sets the expiry deadline.
    std::optional<std::string> authenticate(std::string_view token);
    // Before authentication: close with 4001 unless authenticated within `timeout`.
    void expect_auth(std::chrono::milliseconds timeout);
    // Counts the session against the per-user cap (false: over it, nothing counted). Called
    // by welcome(); SSE calls it itself (it answers 429 rather than closing).
    bool admit();
    // Counts the session and sends auth_ok; over the per-user cap closes with 4009 instead.
    void welcome();

    // --- inputs ---
    void on_message(const client_message& m);
    void on_text(std::string_view text) { on_message(parse_client_message(text, user_id())); }
    // Turns streams on; with `since`, replays each from the log before going live. `reply`
    // goes out once the hub attached the session, before any replayed frame.
    void subscribe(const std::vector<stream>& streams, std::optional<long long> since,
                   std::shared_ptr<const std::string> reply);
    // From the hub: cheap, never suspends.
    void deliver(stream s, const live_event& ev);
    void deliver_ephemeral(const std::shared_ptr<const std::string>& frame);
    // Redis came back: replay every stream now and once more after settle_delay. With `from`
    // (a process says it could not publish events from that seq on), the replay reads from
    // there even below the last seq sent; the duplicate window keeps it exactly-once.
    void resync_from_log(long long from = 0);
    void on_attached();
    void on_replay(stream s, replay_frames r);
    void on_typing_done(const std::string& error);
    void on_draft_done() { set_ready(); }
    void on_timer();

    // --- output ---
    bool has_output() const { return queue_ && !queue_->empty(); }
    std::size_t queued_messages() const { return queue_ ? queue_->size() : 0; }
    std::size_t queued_bytes() const { return queued_bytes_; }
    // The writer takes the next frame (has_output() must be true); may queue more replay.
    queued pop();
    // The writer is idle: give the queue's memory back.
    void release_queue_if_empty();

    // --- closing ---
    void close(unsigned code, std::string reason);
    // The transport is done (closed, or the socket failed): stop, detach from the hub.
    void finish();
    // The transport saw the socket fail or end.
    void set_closing();

    // A subscribe or typing is being handled: the transport reads no further message.
    bool busy() const { return busy_; }
    bool closing() const { return closing_; }
    bool authenticated() const { return authenticated_; }
    bool admitted() const { return admitted_; }
    long long user_id() const { return claims_.user_id; }
    bool wants_stats() const { return stats_; }
    const char* session_id() const { return session_id_.data(); }
    // {"id","handle","displayName"} of the session's user.
    std::string user_ref_json() const;

private:
    struct replay_run;
    struct job;
    class sent_window {
    public:
        static constexpr std::size_t size_max = 4096;
        bool contains(long long seq) const;
        bool empty() const { return head_ == v_.size(); }
        long long front() const { return v_[head_]; }
        void insert(long long seq);

    private:
        std::vector<long long> v_;
        std::size_t head_ = 0;
    };
    // 56 bytes per stream (whether it is on is a bit of on_: the struct stays a multiple of 8
    // bytes without it).
    struct channel_state {
        long long last = 0;
        // The first seq the pending settling replay reads (just above the replay it
        // settles; 0: from `last`); below `last`, the duplicate window keeps it exactly-once.
        long long settle_from = 0;
        sent_window sent;
        std::unique_ptr<replay_run> run;  // while replaying: live events are buffered
    };
    struct settle_slot {
        clock::time_point at = clock::time_point::max();
        std::uint8_t mask = 0;
    };

    channel_state& ch(stream s) { return ch_[static_cast<std::size_t>(s)]; }
    bool on(stream s) const { return (on_ >> static_cast<unsigned>(s) & 1U) != 0; }
    void send_error(std::string_view code, std::string_view message, long long draft = 0);
    bool on_draft_message(const client_message& m);
    void apply(const message_error& e);
    void send_if_new(stream s, const live_event& ev, bool strict);
    void enqueue(queued q);
    bool room() const;
    void push_job(job j);
    void start_job();
    void next_stream();
    void pump();
    void pump_jobs();
    void end_run(stream s);
    void add_settle(std::uint8_t mask);
    void rearm();
    void set_ready();

    session_io& io_;
    const config& cfg_;
    metrics::registry& metrics_;
    auth::claims claims_;
    bool authenticated_ = false;
    bool admitted_ = false;  // counted against the per-user cap (and in metrics.sessions)
    bool attached_ = false;
    bool attaching_ = false;
    bool closing_ = false;
    bool stats_ = false;
    bool busy_ = false;
    bool pumping_ = false;
    bool repump_ = false;
    std::uint8_t on_ = 0;                // the streams turned on (bit 1 << stream)
    std::array<char, 37> session_id_{};  // NUL-terminated
    std::array<channel_state, stream_count> ch_;
    // Allocated while something is queued only (an idle session holds no queue memory).
    std::unique_ptr<std::deque<queued>> queue_;
    std::size_t queued_bytes_ = 0;
    std::unique_ptr<std::deque<job>> jobs_;  // replays to run, the first one running
    // Timers: the auth or token-expiry deadline, and up to two settling replays.
    clock::time_point deadline_ = clock::time_point::max();
    std::array<settle_slot, 2> settles_;
    clock::time_point armed_ = clock::time_point::max();
};

}  // namespace chirp::ws
