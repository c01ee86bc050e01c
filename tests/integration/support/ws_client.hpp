// A synchronous WebSocket client for the integration tests (Beast over TCP). A background
// thread reads every frame into a queue; the test thread waits on it with a timeout, so a
// server that stays silent fails the test instead of hanging it. The close frame the server
// sends (code and reason) is remembered. Reading can be paused, which lets the kernel buffers
// fill up (a client that never reads, for the slow-consumer test).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace chirp::test {

using namespace std::chrono_literals;

// The upgrade was refused: the HTTP answer instead of 101.
struct ws_handshake_error : std::runtime_error {
    ws_handshake_error(unsigned s, std::string b)
        : std::runtime_error("WebSocket upgrade refused with HTTP " + std::to_string(s) + ": " + b),
          status(s),
          body(std::move(b)) {}
    unsigned status;
    std::string body;
};

struct ws_options {
    std::string target = "/ws";
    std::string origin;      // sent as Origin when not empty
    std::string bearer;      // sent as Authorization: Bearer when not empty
    int receive_buffer = 0;  // SO_RCVBUF before connecting (0: the system default)
    // TCP_MAXSEG before connecting (0: default): a small MSS keeps the server's send buffer
    // small too (Linux sizes it from the MSS), so a client that stops reading fills it fast.
    int max_segment = 0;
    std::chrono::milliseconds timeout = 10s;  // connect, handshake and each write
};

struct ws_frame {
    bool text = true;
    std::string data;
};

struct ws_close {
    // The close code the server sent; 0 when the connection ended without a close frame
    // (then `error` says why).
    unsigned code = 0;
    std::string reason;
    std::string error;
    std::string describe() const;
};

class ws_client {
public:
    // Connects to 127.0.0.1:port and upgrades; throws ws_handshake_error when the server
    // answers the upgrade with anything but 101, std::runtime_error on other failures.
    explicit ws_client(std::uint16_t port, ws_options opts = {});
    ~ws_client();
    ws_client(const ws_client&) = delete;
    ws_client& operator=(const ws_client&) = delete;

    // Writes one frame and waits until it is written. Returns false when the write failed
    // (e.g. the server already closed); the error is in last_write_error().
    bool send_text(const std::string& text);
    bool send_binary(const std::string& bytes);
    bool send(const nlohmann::json& j) { return send_text(j.dump()); }
    const std::string& last_write_error() const { return write_error_; }

    // The next frame, or nullopt when none arrives in time or the connection ended.
    std::optional<ws_frame> next_frame(std::chrono::milliseconds timeout = 5s);
    // The next text frame as JSON (throws when a binary or non-JSON frame arrives).
    std::optional<nlohmann::json> next(std::chrono::milliseconds timeout = 5s);
    // Frames until one has "type" == type; the skipped ones are kept in skipped().
    // Throws (with what arrived) when none comes in time.
    nlohmann::json expect(const std::string& type, std::chrono::milliseconds timeout = 5s);
    // Throws unless the very next frame has that type.
    nlohmann::json expect_next(const std::string& type, std::chrono::milliseconds timeout = 5s);
    // Collects frames until pred(frame) holds for the last one (included); throws on timeout.
    std::vector<nlohmann::json> collect_until(
        const std::function<bool(const nlohmann::json&)>& pred,
        std::chrono::milliseconds timeout = 10s);
    // Waits for the connection to end (frames that arrived before stay readable with
    // next()); nullopt when it is still open after the timeout. Resumes reading.
    std::optional<ws_close> wait_closed(std::chrono::milliseconds timeout = 5s);
    // Frames until none arrived for `quiet` (or the connection closed). Only for collecting
    // what is there; to show that something does NOT arrive, use before() or before_pong().
    std::vector<nlohmann::json> drain(std::chrono::milliseconds quiet = 300ms);

    // "Nothing else arrives", bounded by an event: the frames that arrived before the first
    // one for which marker(frame) holds (that frame is stored in *marker_frame when given).
    // Throws when no marker arrives in time. The caller causes the marker after the action
    // that must not deliver, on a path that keeps order with it: chirpd publishes every live
    // event through one Redis connection in commit order (a write is answered once its
    // publishes are out), and each process hands them to a connection in that order; so a
    // marker event (a tweet by its author, a notification, a typing frame) published after
    // the answer of the action comes after anything that action delivered here.
    std::vector<nlohmann::json> before(const std::function<bool(const nlohmann::json&)>& marker,
                                       nlohmann::json* marker_frame = nullptr,
                                       std::chrono::milliseconds timeout = 10s);
    // Sends a ping and returns the frames that arrived before its pong. chirpd handles one
    // connection's messages in order and queues the pong behind what is queued for it: the
    // pong marks "nothing more queued for this connection so far". It does not wait for
    // events still on their way through Redis; for those, use before() with a marker event.
    std::vector<nlohmann::json> before_pong(std::chrono::milliseconds timeout = 5s);

    // True while no close frame or error ended the connection (as far as we have read).
    bool open();
    std::optional<ws_close> closed_with();

    // Stops issuing reads (at most one read in progress completes); resume_reading() again.
    void pause_reading();
    void resume_reading();

    // Sends a normal close (1000) and waits briefly for the server's answer.
    void close();

    // The X-Chirp-Worker header of the upgrade answer: which worker of a `chirpd --workers N`
    // serves this connection ("0".."N-1"); empty from a single process.
    const std::string& worker() const { return worker_; }

    // Frames skipped by expect(), for failure messages.
    const std::vector<std::string>& skipped() const { return skipped_; }

    // The convenience sequence: {"type":"auth","token"} and its auth_ok.
    nlohmann::json auth(const std::string& token);
    // {"type":"subscribe","channels",...,"since"?} and its "subscribed" reply.
    nlohmann::json subscribe(const std::vector<std::string>& channels,
                             std::optional<std::string> since = std::nullopt);

private:
    struct impl;
    bool write(const std::string& data, bool text);
    std::shared_ptr<impl> impl_;
    std::thread thread_;
    std::string write_error_;
    std::vector<std::string> skipped_;
    std::chrono::milliseconds write_timeout_;
    std::string worker_;
};

// Events ({"type":"event"}) among frames, in order.
std::vector<nlohmann::json> events_of(const std::vector<nlohmann::json>& frames);
// The seq of an event frame as a number.
long long seq_of(const nlohmann::json& frame);
// Ids of the tweets of TweetCreated events among event frames, in order.
std::vector<std::string> tweet_ids_of(const std::vector<nlohmann::json>& frames);
// Markers for ws_client::before(): the TweetCreated event of that tweet; a typing frame of
// that conversation; a notification of that kind by that actor.
std::function<bool(const nlohmann::json&)> tweet_frame(const std::string& tweet_id);
std::function<bool(const nlohmann::json&)> typing_frame(const std::string& conversation);
std::function<bool(const nlohmann::json&)> notification_frame(const std::string& kind,
                                                              const std::string& actor_id);

// chirpd replays a stream once more 1.5 s after a subscribe's replay (the "settling" replay,
// also 1.5 s after a Redis reconnect's), and nothing on the wire shows when that ran. Sleeps
// until it must have started: 2 s after `replay_done` (a moment after the "replayed" frame,
// or Redis being back, was seen). A live event on the stream after this is queued behind
// whatever the settling replay sends (the stream buffers live events while it replays), so
// before() with such a marker then also covers it.
void wait_past_settling_replay(std::chrono::steady_clock::time_point replay_done);

}  // namespace chirp::test
