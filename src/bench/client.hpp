// Client machinery of chirp-bench, all on one io_context thread:
//  - http_conn: one keep-alive HTTP/1.1 connection for setup calls (register, login, follow);
//  - open_loop_poster: a pool of keep-alive connections that sends requests on a schedule and
//    never waits for a reply before the next send (requests pipeline onto the least busy
//    connection), so a slow server shows up as latency instead of a slower offered load; it
//    notices a connection the server closed while idle and sends on a new one (poster.cpp);
//  - ws_fleet: N WebSocket followers that connect, authenticate, subscribe, read every frame,
//    and on request are cut at once and reconnect with `since` after a random delay.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "histogram.hpp"
#include "net.hpp"

namespace chirp::bench {

struct target {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8000;
    tcp::endpoint endpoint;
    std::string host_header() const { return host + ":" + std::to_string(port); }
};

// "http://127.0.0.1:8000" (or "127.0.0.1:8000"); the host must be a literal IP address.
target parse_url(const std::string& url);

struct http_result {
    unsigned status = 0;  // 0: transport error (see ec)
    std::string body;
    error_code ec;
    bool write_failed = false;  // the request was not (completely) written
    bool ok() const { return status >= 200 && status < 300; }
};

class http_conn {
public:
    http_conn(asio::any_io_executor ex, const target& t) : stream_(ex), target_(t) {}
    // One request. A kept-alive connection the server has closed is opened anew before the
    // request; one that fails under the request is retried once if that is safe (see .cpp).
    asio::awaitable<http_result> request(http::verb verb, std::string path, std::string body = {},
                                         std::string token = {});

private:
    asio::awaitable<http_result> attempt(http::verb verb, const std::string& path,
                                         const std::string& body, const std::string& token);
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    const target& target_;
    bool connected_ = false;
};

// Runs job(conn, i) for i in [0, n) on `concurrency` workers, each with its own connection.
asio::awaitable<void> run_parallel(
    const target& t, std::size_t n, std::size_t concurrency,
    std::function<asio::awaitable<void>(http_conn&, std::size_t)> job);

// Raw HTTP/1.1 request text for the open-loop poster.
std::string raw_request(std::string_view method, std::string_view path, const target& t,
                        std::string_view token, std::string_view body);

class open_loop_poster {
public:
    // Called once per sent request: status 0 means a transport error or no answer in time.
    using response_fn = std::function<void(std::uint64_t id, unsigned status, time_point now)>;

    open_loop_poster(asio::any_io_executor ex, const target& t, std::size_t connections,
                     response_fn on_response);
    ~open_loop_poster();
    asio::awaitable<error_code> connect();
    // Queues `raw` for sending now on the connection with the fewest outstanding requests.
    void send(std::uint64_t id, std::string raw);
    std::size_t in_flight() const { return in_flight_; }
    // Connections open now (a connection the server closed counts once the poster saw it).
    std::size_t connections_up() const;
    // Waits for every outstanding reply (or the timeout: the rest count as failed), then closes.
    asio::awaitable<void> finish(std::chrono::milliseconds timeout);

    std::uint64_t sent = 0, pipelined = 0, transport_errors = 0, reconnects = 0;
    // Sent again on a new connection: never written before its socket dropped / idempotent.
    std::uint64_t requeued = 0, retried = 0;

private:
    struct conn;
    asio::awaitable<void> writer(conn& c);
    asio::awaitable<void> reader(conn& c);
    // Closes c's socket: its requests never written, and the idempotent ones written whose answer
    // had not begun (`answer_started` is about the first), are kept for the next connection,
    // the others fail (the first failures are logged: where, why, the connection's history).
    void drop(conn& c, time_point now, std::string_view phase, error_code ec, bool answer_started);

    asio::any_io_executor ex_;
    const target& target_;
    response_fn on_response_;
    std::vector<std::unique_ptr<conn>> conns_;
    std::size_t in_flight_ = 0;
    std::size_t alive_coroutines_ = 0;
    std::size_t failure_logs_ = 0;
    bool closing_ = false;
};

struct ws_conn {
    enum class phase { idle, connecting, authenticating, subscribing, live, closed, failed };

    std::size_t index = 0;  // position in the fleet
    std::string token;
    std::unique_ptr<websocket::stream<beast::tcp_stream>> ws;
    beast::flat_buffer buffer;
    phase ph = phase::idle;
    std::uint64_t last_seq = 0;  // largest seq seen; sent as `since` when resuming
    bool resume = false;         // next subscribe carries since = last_seq
    bool reconnect = false;      // reconnect after the current socket drops
    std::chrono::milliseconds reconnect_delay{0};
    time_point connect_started{}, subscribed_at{}, replayed_at{};
    std::uint32_t replayed = 0, resyncs = 0, connects = 0;
    std::vector<std::uint64_t> seen;  // bitset of markers delivered (duplicate detection)
};

struct connect_report {
    std::size_t wanted = 0, subscribed = 0, failed = 0;
    double seconds = 0;             // start to the last subscription (or the timeout)
    latency_histogram per_conn_us;  // connect start to `subscribed`, per connection
    json to_json() const;
};

class ws_fleet {
public:
    using event_fn = std::function<void(ws_conn&, std::string_view frame, time_point now)>;

    ws_fleet(asio::any_io_executor ex, const target& t, std::vector<std::string> channels,
             event_fn on_event);
    ~ws_fleet();
    ws_conn& add(std::string token);
    std::size_t size() const { return conns_.size(); }
    ws_conn& operator[](std::size_t i) { return *conns_[i]; }

    // Connects every connection not yet started, at most `concurrency` handshakes at once.
    asio::awaitable<connect_report> connect_all(std::size_t concurrency,
                                                std::chrono::milliseconds timeout);
    // Cuts every live socket at once (RST, like a network failure); each reconnects after a
    // uniformly random delay in [0, jitter] and resubscribes with since = its last seq.
    void cut_and_reconnect(std::chrono::milliseconds jitter, std::uint64_t seed);
    // Closes all sockets and waits until every connection coroutine has finished.
    asio::awaitable<void> shutdown();

    // Source addresses 127.0.0.1..127.0.0.n for the sockets (1: let the kernel choose).
    void set_source_ips(std::size_t n) { source_ips_ = std::max<std::size_t>(1, n); }
    std::size_t live() const { return live_; }
    std::size_t failed() const { return failed_; }
    std::uint64_t frames = 0, bytes = 0, events = 0, errors_received = 0, unexpected_closes = 0;
    std::map<std::string, std::uint64_t> close_reasons;  // "4008", "eof", ...
    json stats_json() const;

private:
    asio::awaitable<void> run(ws_conn& c);
    asio::awaitable<error_code> open(ws_conn& c);
    void on_control(ws_conn& c, std::string_view frame, time_point now, bool& send_subscribe);
    std::string subscribe_message(const ws_conn& c) const;

    asio::any_io_executor ex_;
    const target& target_;
    std::vector<std::string> channels_;
    event_fn on_event_;
    std::vector<std::unique_ptr<ws_conn>> conns_;
    std::size_t started_ = 0, live_ = 0, failed_ = 0, settled_ = 0, running_ = 0;
    std::size_t source_ips_ = 1;
    bool shutting_down_ = false;
    signal progress_;
};

// A loopback server that closes idle connections, and the poster sending through it: "" when
// no request failed (chirp-bench selftest).
std::string poster_selftest();

// Polls `done` every `every` until it holds or `timeout` passes; returns whether it held.
asio::awaitable<bool> poll_until(std::function<bool()> done, std::chrono::milliseconds timeout,
                                 std::chrono::milliseconds every = std::chrono::milliseconds(5));

}  // namespace chirp::bench
