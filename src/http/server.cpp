// DESIGN
// One coroutine per connection, all on the event loop. Each request is read with strict
// limits (8 KiB of headers, 64 KiB of body, all of it within config::request_read_timeout;
// between keep-alive requests the connection may idle config::keep_alive_timeout), turned
// into a plain http::request, dispatched
// through the route table, answered, and logged once. /ws upgrades and /api/stream are handed
// to the real-time module. Graceful stop: the acceptor closes and every connection's read
// side is shut down, so idle keep-alive connections end now and busy ones after their answer.
//
// Connection cap: client sockets are counted (metrics::open_sockets; a WebSocket's socket
// until its session ends); at effective_max_connections() the accept loop waits (20 ms steps)
// until one closed, leaving the rest in the kernel's backlog, so chirpd never runs out of the
// descriptors its PostgreSQL and Redis connections need. Waits and accept failures are
// counted in /metrics and logged at most once every 10 s.
#include "chirp/http/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/url/parse.hpp>
#include <unordered_set>

#include "chirp/config/config.hpp"
#include "chirp/metrics/metrics.hpp"
#include "chirp/store/store.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace chirp::http {
namespace {

constexpr auto as_tuple = asio::as_tuple(asio::use_awaitable);

method to_method(bhttp::verb v) {
    switch (v) {
        case bhttp::verb::get:
            return method::get;
        case bhttp::verb::post:
            return method::post;
        case bhttp::verb::put:
            return method::put;
        case bhttp::verb::delete_:
            return method::del;
        case bhttp::verb::patch:
            return method::patch;
        case bhttp::verb::head:
            return method::head;
        case bhttp::verb::options:
            return method::options;
        default:
            return method::other;
    }
}

std::string json_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

class server_impl final : public http_server {
public:
    server_impl(services& svc, server_hooks hooks)
        : svc_(svc),
          hooks_(std::move(hooks)),
          acceptor_(svc.ioc),
          purge_timer_(svc.ioc),
          files_(svc.cfg.web_root),
          worker_header_(svc.cfg.worker_index >= 0 ? std::to_string(svc.cfg.worker_index) : ""),
          json_logs_(svc.cfg.log_format == "json") {}

    void start() override {
        // Errors become std::system_error (as server.hpp promises; Boost's system_error is not
        // one), so that chirpd reports "cannot listen on <address>:<port>: <reason>".
        beast::error_code ec;
        const auto addr = asio::ip::make_address(svc_.cfg.bind, ec);
        const auto fail = [&](const char* what) {
            throw std::system_error(std::error_code(ec), what);
        };
        if (ec) fail("bad bind address");
        tcp::endpoint ep(addr, svc_.cfg.port);
        if (acceptor_.open(ep.protocol(), ec); ec) fail("socket");
        if (acceptor_.set_option(asio::socket_base::reuse_address(true), ec); ec)
            fail("setsockopt");
        // A supervisor's worker shares the port with its siblings: the kernel spreads new
        // connections over their sockets (app/supervisor.cpp).
        if (svc_.cfg.worker_index >= 0) {
            using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
            if (acceptor_.set_option(reuse_port(true), ec); ec) fail("setsockopt SO_REUSEPORT");
        }
        if (acceptor_.bind(ep, ec); ec) fail("bind");
        if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) fail("listen");
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(svc_.ioc, accept_loop(), asio::detached);
        // One purge per server, not per worker: worker 0 (restarted with the same index).
        if (svc_.cfg.worker_index <= 0) asio::co_spawn(svc_.ioc, purge_loop(), asio::detached);
    }

    void stop() override {
        stopping_ = true;
        purge_timer_.cancel();
        beast::error_code ec;
        acceptor_.close(ec);
        for (auto* s : open_) s->socket().shutdown(tcp::socket::shutdown_receive, ec);
    }

    std::uint16_t port() const override { return port_; }
    std::size_t open_connections() const override { return open_.size(); }

private:
    // A warning at most every 10 s, saying how many were held back.
    struct quiet_log {
        std::chrono::steady_clock::time_point last{};
        std::uint64_t held = 0;
        template <class... A>
        void warn(fmt::format_string<A...> f, A&&... a) {
            const auto now = std::chrono::steady_clock::now();
            if (last != std::chrono::steady_clock::time_point{} &&
                now - last < std::chrono::seconds(10)) {
                ++held;
                return;
            }
            spdlog::warn("{} ({} similar held back)", fmt::format(f, std::forward<A>(a)...), held);
            last = now;
            held = 0;
        }
    };

    asio::awaitable<void> accept_loop() {
        asio::steady_timer backoff(svc_.ioc);
        const auto cap = static_cast<std::int64_t>(effective_max_connections(svc_.cfg));
        spdlog::info("connection cap {} client sockets", cap);
        quiet_log at_cap, failures;
        auto delay = std::chrono::milliseconds(10);
        bool paused = false;
        while (!stopping_) {
            if (svc_.metrics.open_sockets.load() >= cap) {
                // Full: leave the next ones in the backlog until a socket closes.
                if (!paused) {
                    paused = true;
                    svc_.metrics.accept_paused.fetch_add(1, std::memory_order_relaxed);
                    at_cap.warn("connection cap reached: {} client sockets; accepting paused", cap);
                }
                backoff.expires_after(std::chrono::milliseconds(20));
                co_await backoff.async_wait(as_tuple);
                continue;
            }
            paused = false;
            auto [ec, sock] = co_await acceptor_.async_accept(as_tuple);
            if (ec == asio::error::operation_aborted || stopping_) break;
            if (ec) {
                // Out of descriptors or similar: back off (up to 1 s) instead of spinning.
                svc_.metrics.accept_errors.fetch_add(1, std::memory_order_relaxed);
                failures.warn("accept: {}", ec.message());
                backoff.expires_after(delay);
                co_await backoff.async_wait(as_tuple);
                delay = std::min(delay * 2, std::chrono::milliseconds(1000));
                continue;
            }
            delay = std::chrono::milliseconds(10);
            sock.set_option(tcp::no_delay(true), ec);
            svc_.metrics.open_sockets.fetch_add(1);
            asio::co_spawn(svc_.ioc, session(std::move(sock)), asio::detached);
        }
    }

    // Idempotency records are kept 24 h (docs/api.md): every --idempotency-purge-seconds (and
    // soon after the start) the expired ones are deleted, 1,000 a statement and at most 20,000
    // a round, so a backlog never holds a reader for long.
    asio::awaitable<void> purge_loop() {
        const auto every = std::chrono::seconds(svc_.cfg.idempotency_purge_seconds);
        auto wait = std::min<std::chrono::seconds>(every, std::chrono::seconds(30));
        while (!stopping_) {
            purge_timer_.expires_after(wait);
            co_await purge_timer_.async_wait(as_tuple);
            wait = every;
            for (int round = 0; round < 20 && !stopping_; ++round) {
                auto r = co_await svc_.store.purge_idempotency(24 * 3600, 1000);
                if (!r || *r < 1000) break;
            }
        }
    }
    // Gives the socket's count back when the connection ends, unless a WebSocket session took
    // the socket (it gives the count back itself).
    struct socket_count {
        metrics::registry& m;
        bool owned = true;
        ~socket_count() {
            if (owned) m.open_sockets.fetch_sub(1);
        }
    };

    struct registration {
        server_impl& s;
        beast::tcp_stream* stream;
        registration(server_impl& srv, beast::tcp_stream* st) : s(srv), stream(st) {
            s.open_.insert(st);
        }
        ~registration() {
            if (stream) s.open_.erase(stream);
        }
        void release() {
            s.open_.erase(stream);
            stream = nullptr;
        }
    };

    // Takes the response by value: its body moves into Beast's message (no copy).
    asio::awaitable<void> write_plain(beast::tcp_stream& stream, unsigned version, response r,
                                      bool keep_alive, bool head = false) {
        bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
        res.set(bhttp::field::server, "chirpd");
        if (!worker_header_.empty()) res.set("X-Chirp-Worker", worker_header_);
        res.set(bhttp::field::content_type, r.content_type);
        for (const auto& [k, v] : r.headers) res.set(k, v);
        res.body() = std::move(r.body);
        res.keep_alive(keep_alive);
        res.prepare_payload();
        if (head) res.body().clear();
        stream.expires_after(svc_.cfg.write_timeout);
        if (head) {
            bhttp::response_serializer<bhttp::string_body> sr(res);
            co_await bhttp::async_write_header(stream, sr, as_tuple);
        } else {
            co_await bhttp::async_write(stream, res, as_tuple);
        }
    }

    asio::awaitable<void> session(tcp::socket sock) {
        beast::error_code ec;
        const auto remote = sock.remote_endpoint(ec);
        const std::string ip = ec ? std::string("?") : remote.address().to_string();
        socket_count counted{svc_.metrics};
        beast::tcp_stream stream(std::move(sock));
        registration reg(*this, &stream);
        beast::flat_buffer buffer;
        bool first = true;
        while (!stopping_) {
            bhttp::request_parser<bhttp::string_body> parser;
            parser.header_limit(8 * 1024);
            parser.body_limit(64 * 1024);
            if (buffer.size() == 0 && !first) {
                // Idle between keep-alive requests: the next request's first bytes.
                stream.expires_after(svc_.cfg.keep_alive_timeout);
                auto [iec, in] = co_await stream.async_read_some(buffer.prepare(1024), as_tuple);
                if (iec) break;
                buffer.commit(in);
            }
            first = false;
            // The whole request (headers and body) within the read deadline: a client that
            // sends a byte a second is closed at it.
            stream.expires_after(svc_.cfg.request_read_timeout);
            auto [rec, n] = co_await bhttp::async_read(stream, buffer, parser, as_tuple);
            (void)n;
            if (rec) {
                if (rec == bhttp::error::body_limit) {
                    co_await write_plain(
                        stream, 11, error_response(errc::payload_too_large, "body over 64 KiB"),
                        false);
                } else if (rec == bhttp::error::header_limit) {
                    auto r = error_response(errc::bad_request, "headers over 8 KiB");
                    r.status = 431;
                    co_await write_plain(stream, 11, r, false);
                } else if (rec.category() ==
                               bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
                           rec != bhttp::error::end_of_stream &&
                           rec != bhttp::error::partial_message) {
                    co_await write_plain(
                        stream, 11, error_response(errc::bad_request, "malformed HTTP request"),
                        false);
                }
                break;
            }
            const auto started = std::chrono::steady_clock::now();
            auto& breq = parser.get();
            const bool keep_alive = breq.keep_alive();
            const unsigned version = breq.version();

            request req;
            req.verb = to_method(breq.method());
            req.remote_ip = ip;
            auto target = boost::urls::parse_origin_form(breq.target());
            if (!target) {
                co_await write_plain(stream, version,
                                     error_response(errc::bad_request, "bad request target"),
                                     false);
                break;
            }
            req.path = target->path();
            for (auto p : target->params()) req.query[std::string(p.key)] = std::string(p.value);
            // An encoded slash (%2F) inside a segment must not split it: /api/tweets/%2F is
            // no tweet, not /api/tweets.
            bool encoded_slash = false;
            for (auto seg : target->segments())
                if (seg.find('/') != std::string::npos) encoded_slash = true;

            if (req.path == "/ws") {
                if (beast::websocket::is_upgrade(breq) && hooks_.websocket) {
                    reg.release();
                    counted.owned = false;
                    hooks_.websocket(std::move(stream), parser.release(), ip);
                    co_return;
                }
                co_await write_plain(
                    stream, version,
                    error_response(errc::bad_request, "WebSocket upgrade required"), keep_alive);
                if (!keep_alive) break;
                continue;
            }

            req.content_type = std::string(breq[bhttp::field::content_type]);
            req.authorization = std::string(breq[bhttp::field::authorization]);
            req.idempotency_key = std::string(breq["Idempotency-Key"]);
            req.body = std::move(breq.body());

            if (req.path == "/api/stream" && req.verb == method::get && hooks_.sse) {
                co_await hooks_.sse(stream, breq, req);
                log_request("GET", req.path, 200, started);
                break;
            }

            response res;
            const bool is_api = req.path.rfind("/api/", 0) == 0 || req.path == "/api" ||
                                req.path == "/healthz" || req.path == "/readyz" ||
                                req.path == "/metrics";
            const response* file = nullptr;
            if (!is_api && (req.verb == method::get || req.verb == method::head))
                file = files_.find(req.path);
            if (file != nullptr) {
                res = *file;
            } else if (encoded_slash) {
                res = error_response(errc::not_found, "no such endpoint");
            } else {
                res = co_await dispatch(svc_, req);
            }
            svc_.metrics.requests.fetch_add(1, std::memory_order_relaxed);
            svc_.metrics.request_rate.add();
            const unsigned status = res.status;
            co_await write_plain(stream, version, std::move(res), keep_alive && !stopping_,
                                 req.verb == method::head);
            const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::steady_clock::now() - started)
                                    .count();
            svc_.metrics.request_latency.record(static_cast<std::uint64_t>(micros));
            log_request(breq.method_string(), req.path, status, started);
            if (!keep_alive) break;
        }
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    void log_request(std::string_view verb, std::string_view path, unsigned status,
                     std::chrono::steady_clock::time_point started) {
        if (!spdlog::should_log(spdlog::level::info)) return;
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                .count();
        if (json_logs_)
            spdlog::info(
                R"({{"event":"request","method":"{}","path":"{}","status":{},"latencyMs":{:.3f}}})",
                json_escape(verb), json_escape(path), status, ms);
        else
            spdlog::info("{} {} {} {:.3f}ms", verb, path, status, ms);
    }

    services& svc_;
    server_hooks hooks_;
    tcp::acceptor acceptor_;
    asio::steady_timer purge_timer_;
    static_files files_;
    std::string worker_header_;  // X-Chirp-Worker: this worker's index; empty when single
    bool json_logs_;
    bool stopping_ = false;
    std::uint16_t port_ = 0;
    std::unordered_set<beast::tcp_stream*> open_;
};

}  // namespace

std::unique_ptr<http_server> create_http_server(services& svc, server_hooks hooks) {
    return std::make_unique<server_impl>(svc, std::move(hooks));
}

}  // namespace chirp::http
