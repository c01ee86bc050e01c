// Client machinery of chirp-bench: see client.hpp.
#include "client.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "scan.hpp"

namespace chirp::bench {

using namespace std::chrono_literals;

target parse_url(const std::string& url) {
    std::string rest = url;
    if (auto p = rest.find("://"); p != std::string::npos) rest = rest.substr(p + 3);
    if (auto p = rest.find('/'); p != std::string::npos) rest = rest.substr(0, p);
    target t;
    if (auto colon = rest.rfind(':'); colon != std::string::npos) {
        t.host = rest.substr(0, colon);
        t.port = static_cast<std::uint16_t>(std::stoi(rest.substr(colon + 1)));
    } else {
        t.host = rest;
        t.port = 80;
    }
    if (t.host == "localhost") t.host = "127.0.0.1";
    t.endpoint = tcp::endpoint(asio::ip::make_address(t.host), t.port);
    return t;
}

// ---------------------------------------------------------------- http_conn

namespace {

// Has the peer closed (or reset) this idle connection? A non-blocking peek: 0 bytes is its FIN.
bool closed_by_peer(tcp::socket& s) {
    char b;
    const auto n = ::recv(s.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

}  // namespace

asio::awaitable<http_result> http_conn::attempt(http::verb verb, const std::string& path,
                                                const std::string& body, const std::string& token) {
    http_result out;
    if (connected_ && closed_by_peer(stream_.socket())) {
        // The server closed the kept-alive connection while it was idle (its FIN, or a reset,
        // is waiting): open a new one instead of writing the request into a dead socket.
        error_code ignored;
        stream_.socket().close(ignored);
        buffer_.clear();
        connected_ = false;
    }
    if (!connected_) {
        stream_.expires_after(10s);
        auto [ec] = co_await stream_.async_connect(target_.endpoint, use_tuple);
        if (ec) {
            out.ec = ec;
            co_return out;
        }
        connected_ = true;
    }
    http::request<http::string_body> req{verb, path, 11};
    req.set(http::field::host, target_.host_header());
    req.set(http::field::user_agent, "chirp-bench");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (!body.empty() || verb == http::verb::post) {
        req.set(http::field::content_type, "application/json");
        req.body() = body;
    }
    req.keep_alive(true);
    req.prepare_payload();
    stream_.expires_after(60s);
    if (auto [ec, n] = co_await http::async_write(stream_, req, use_tuple); ec) {
        out.ec = ec;
        out.write_failed = true;
    } else {
        http::response_parser<http::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);
        auto [rec, rn] = co_await http::async_read(stream_, buffer_, parser, use_tuple);
        if (rec) {
            out.ec = rec;
        } else {
            out.status = parser.get().result_int();
            out.body = std::move(parser.get().body());
            if (!parser.get().keep_alive()) out.ec = http::error::end_of_stream;
        }
    }
    if (out.ec) {
        connected_ = false;
        error_code ignored;
        stream_.socket().close(ignored);
        buffer_.clear();
    }
    stream_.expires_never();
    co_return out;
}

asio::awaitable<http_result> http_conn::request(http::verb verb, std::string path, std::string body,
                                                std::string token) {
    const bool was_connected = connected_;
    auto r = co_await attempt(verb, path, body, token);
    // Once more on a new connection if a reused one failed: always when the request could not
    // be written (the server closed the connection first), otherwise only for methods that
    // may be repeated (RFC 9110 §9.2.2): a POST whose answer was lost may have been applied.
    const bool idempotent = verb == http::verb::get || verb == http::verb::head ||
                            verb == http::verb::put || verb == http::verb::delete_;
    if (r.status == 0 && r.ec && was_connected && (r.write_failed || idempotent))
        r = co_await attempt(verb, path, body, token);
    if (r.status != 0) r.ec = {};  // a close after a complete answer is not a failure
    co_return r;
}

asio::awaitable<void> run_parallel(
    const target& t, std::size_t n, std::size_t concurrency,
    std::function<asio::awaitable<void>(http_conn&, std::size_t)> job) {
    auto ex = co_await asio::this_coro::executor;
    std::size_t next = 0, running = 0;
    std::exception_ptr failure;
    signal done(ex);
    concurrency = std::max<std::size_t>(1, std::min(concurrency, n));
    for (std::size_t w = 0; w < concurrency; ++w) {
        ++running;
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                http_conn conn(co_await asio::this_coro::executor, t);
                while (next < n && !failure) co_await job(conn, next++);
            },
            [&](std::exception_ptr e) {
                if (e && !failure) failure = e;
                if (--running == 0) done.notify();
            });
    }
    while (running > 0) co_await done.wait();
    if (failure) std::rethrow_exception(failure);
}

std::string raw_request(std::string_view method, std::string_view path, const target& t,
                        std::string_view token, std::string_view body) {
    std::string r;
    r.reserve(256 + token.size() + body.size());
    r.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ");
    r.append(t.host_header()).append("\r\n");
    if (!token.empty()) r.append("Authorization: Bearer ").append(token).append("\r\n");
    r.append("Content-Type: application/json\r\nContent-Length: ");
    r.append(std::to_string(body.size())).append("\r\n\r\n").append(body);
    return r;
}

// ---------------------------------------------------------------- ws_fleet

json connect_report::to_json() const {
    return {{"wanted", wanted},
            {"subscribed", subscribed},
            {"failed", failed},
            {"seconds", seconds},
            {"perConnectionMs",
             {{"p50", per_conn_us.percentile(0.5) / 1000.0},
              {"p99", per_conn_us.percentile(0.99) / 1000.0},
              {"max", per_conn_us.max() / 1000.0}}}};
}

ws_fleet::ws_fleet(asio::any_io_executor ex, const target& t, std::vector<std::string> channels,
                   event_fn on_event)
    : ex_(ex),
      target_(t),
      channels_(std::move(channels)),
      on_event_(std::move(on_event)),
      progress_(ex) {}

ws_fleet::~ws_fleet() = default;

ws_conn& ws_fleet::add(std::string token) {
    auto c = std::make_unique<ws_conn>();
    c->index = conns_.size();
    c->token = std::move(token);
    conns_.push_back(std::move(c));
    return *conns_.back();
}

std::string ws_fleet::subscribe_message(const ws_conn& c) const {
    json msg = {{"type", "subscribe"}, {"channels", channels_}};
    if (c.resume) msg["since"] = std::to_string(c.last_seq);
    return msg.dump();
}

asio::awaitable<error_code> ws_fleet::open(ws_conn& c) {
    c.ws = std::make_unique<websocket::stream<beast::tcp_stream>>(ex_);
    c.buffer.clear();
    auto& s = beast::get_lowest_layer(*c.ws);
    if (source_ips_ > 1 && target_.endpoint.address().is_v4()) {
        // Spread the sockets over 127.0.0.1..N as source addresses: with one source address
        // the kernel's search for a free ephemeral port grows with every open connection.
        error_code ec;
        s.socket().open(tcp::v4(), ec);
        if (ec) co_return ec;
        const int one = 1;
        ::setsockopt(s.socket().native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                     sizeof one);
        const auto base = asio::ip::make_address_v4("127.0.0.1").to_uint();
        s.socket().bind(tcp::endpoint(asio::ip::address_v4(base + c.index % source_ips_), 0), ec);
        if (ec) co_return ec;
    }
    s.expires_after(15s);
    if (auto [ec] = co_await s.async_connect(target_.endpoint, use_tuple); ec) co_return ec;
    s.socket().set_option(tcp::no_delay(true));
    s.expires_never();
    c.ws->set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    c.ws->set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(http::field::user_agent, "chirp-bench"); }));
    c.ws->read_message_max(4 * 1024 * 1024);
    c.ws->text(true);
    auto [ec] = co_await c.ws->async_handshake(target_.host_header(), "/ws", use_tuple);
    co_return ec;
}

void ws_fleet::on_control(ws_conn& c, std::string_view frame, time_point now,
                          bool& send_subscribe) {
    json msg = json::parse(frame, nullptr, false);
    if (msg.is_discarded() || !msg.is_object()) {
        ++errors_received;
        return;
    }
    const auto type = msg.value("type", std::string{});
    if (type == "auth_ok") {
        c.ph = ws_conn::phase::subscribing;
        send_subscribe = true;
    } else if (type == "subscribed") {
        if (c.ph != ws_conn::phase::live) {
            c.ph = ws_conn::phase::live;
            c.subscribed_at = now;
            ++live_;
            if (c.connects == 1) ++settled_;
            progress_.notify();
        }
    } else if (type == "replayed") {
        ++c.replayed;
        c.replayed_at = now;
    } else if (type == "resync") {
        ++c.resyncs;
    } else if (type == "error") {
        if (errors_received++ < 5) spdlog::warn("server error message: {}", frame);
    }
}

asio::awaitable<void> ws_fleet::run(ws_conn& c) {
    ++running_;
    for (bool first = true;; first = false) {
        if (!first) {
            co_await sleep_for(c.reconnect_delay);
            if (shutting_down_) break;
        }
        c.reconnect = false;
        c.connect_started = clock_type::now();
        c.ph = ws_conn::phase::connecting;
        ++c.connects;
        if (auto ec = co_await open(c); ec) {
            if (c.reconnect && !shutting_down_) continue;  // cut while connecting: retry
            c.ph = ws_conn::phase::failed;
            ++failed_;
            if (c.connects == 1) ++settled_;
            ++close_reasons["connect: " + ec.message()];
            progress_.notify();
            break;
        }
        c.ph = ws_conn::phase::authenticating;
        const std::string auth = json{{"type", "auth"}, {"token", c.token}}.dump();
        error_code ec;
        std::tie(ec, std::ignore) = co_await c.ws->async_write(asio::buffer(auth), use_tuple);
        while (!ec) {
            std::size_t n = 0;
            std::tie(ec, n) = co_await c.ws->async_read(c.buffer, use_tuple);
            if (ec) break;
            const auto now = clock_type::now();
            const std::string_view frame(static_cast<const char*>(c.buffer.data().data()),
                                         c.buffer.size());
            ++frames;
            bytes += frame.size();
            if (is_event_frame(frame)) {
                ++events;
                c.last_seq = std::max(c.last_seq, max_seq(frame));
                on_event_(c, frame, now);
            } else {
                bool send_subscribe = false;
                on_control(c, frame, now, send_subscribe);
                if (send_subscribe) {
                    const auto sub = subscribe_message(c);
                    std::tie(ec, std::ignore) =
                        co_await c.ws->async_write(asio::buffer(sub), use_tuple);
                }
            }
            c.buffer.consume(c.buffer.size());
        }
        const bool was_live = c.ph == ws_conn::phase::live;
        if (was_live) --live_;
        if (!c.reconnect && !shutting_down_) {
            // Not our doing: the server closed or the connection broke.
            std::string reason = ec.message();
            if (ec == websocket::error::closed)
                reason = std::to_string(static_cast<int>(c.ws->reason().code));
            ++close_reasons[reason];
            ++unexpected_closes;
            if (!was_live) {
                ++failed_;
                if (c.connects == 1) ++settled_;
            }
        }
        c.ph = ws_conn::phase::closed;
        progress_.notify();
        if (!c.reconnect || shutting_down_) break;
    }
    c.ws.reset();
    --running_;
    progress_.notify();
}

asio::awaitable<connect_report> ws_fleet::connect_all(std::size_t concurrency,
                                                      std::chrono::milliseconds timeout) {
    connect_report report;
    const auto start = clock_type::now();
    const auto deadline = start + timeout;
    const std::size_t first = started_;
    report.wanted = conns_.size() - first;
    const std::size_t settled_before = settled_;
    asio::steady_timer watchdog(ex_, deadline);
    bool timed_out = false;
    watchdog.async_wait([&](error_code ec) {
        if (!ec) {
            timed_out = true;
            progress_.notify();
        }
    });
    for (;;) {
        while (started_ < conns_.size() &&
               (started_ - first) - (settled_ - settled_before) < concurrency) {
            auto& c = *conns_[started_++];
            asio::co_spawn(ex_, run(c), asio::detached);
        }
        if (settled_ - settled_before >= report.wanted || timed_out) break;
        co_await progress_.wait();
    }
    watchdog.cancel();
    for (std::size_t i = first; i < conns_.size(); ++i) {
        const auto& c = *conns_[i];
        if (c.subscribed_at != time_point{} && c.connects >= 1) {
            ++report.subscribed;
            report.per_conn_us.record(micros_between(c.connect_started, c.subscribed_at));
        }
    }
    report.failed = report.wanted - report.subscribed;
    report.seconds = seconds_between(start, clock_type::now());
    co_return report;
}

void ws_fleet::cut_and_reconnect(std::chrono::milliseconds jitter, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<long long> delay(0, std::max<long long>(0, jitter.count()));
    for (auto& c : conns_) {
        if (!c->ws || c->ph == ws_conn::phase::closed || c->ph == ws_conn::phase::failed) continue;
        c->reconnect = true;
        c->resume = true;
        c->reconnect_delay = std::chrono::milliseconds(delay(rng));
        auto& sock = beast::get_lowest_layer(*c->ws).socket();
        error_code ignored;
        sock.set_option(asio::socket_base::linger(true, 0), ignored);  // RST, no TIME_WAIT
        sock.close(ignored);
    }
}

asio::awaitable<void> ws_fleet::shutdown() {
    shutting_down_ = true;
    for (auto& c : conns_) {
        if (!c->ws) continue;
        auto& sock = beast::get_lowest_layer(*c->ws).socket();
        error_code ignored;
        sock.set_option(asio::socket_base::linger(true, 0), ignored);
        sock.close(ignored);
    }
    co_await poll_until([this] { return running_ == 0; }, 30s, 10ms);
}

json ws_fleet::stats_json() const {
    json reasons = json::object();
    for (const auto& [k, v] : close_reasons) reasons[k] = v;
    return {{"frames", frames},
            {"bytes", bytes},
            {"events", events},
            {"errorMessages", errors_received},
            {"unexpectedCloses", unexpected_closes},
            {"closeReasons", reasons}};
}

asio::awaitable<bool> poll_until(std::function<bool()> done, std::chrono::milliseconds timeout,
                                 std::chrono::milliseconds every) {
    const auto deadline = clock_type::now() + timeout;
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (!done()) {
        if (clock_type::now() >= deadline) co_return false;
        t.expires_after(every);
        co_await t.async_wait(use_tuple);
    }
    co_return true;
}

}  // namespace chirp::bench
