// The WebSocket transport of a real-time session: the upgrade (origin policy, optional bearer
// token), a reader coroutine (binary frames refused, a token-bucket rate limit, each message
// handed to the session_machine, the next one read when the machine is no longer busy) and a
// writer coroutine that runs only while something is queued, corking bursts.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "chirp/config/config.hpp"
#include "chirp/domain/errc.hpp"
#include "chirp/metrics/metrics.hpp"
#include "frame_guard.hpp"
#include "origin.hpp"
#include "session_host.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

namespace chirp::ws {

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

class ws_session final : public session_host {
public:
    ws_session(session_deps& d, asio::ip::tcp::socket s, http::beast_request r)
        : session_host(d),
          ws_(std::move(s)),
          req_(std::make_unique<http::beast_request>(std::move(r))),
          refill_(std::chrono::steady_clock::now()) {
        tokens_ = 2.0 * d.cfg.ws_rate_limit;
    }

    void close(unsigned code, std::string reason) override {
        if (close_code_ != 0) return;
        close_code_ = code;
        close_reason_ = std::move(reason);
        wake_writer();
        ready();
    }

    // The writer runs only while there is something to send (or a close to send): an idle
    // session has no writer coroutine and no queue.
    void wake_writer() override {
        if (writing_ || !open_ || close_sent_) return;
        if (!m_.has_output() && !(m_.closing() && close_code_ != 0)) return;
        writing_ = true;
        auto self = std::static_pointer_cast<ws_session>(shared_from_this());
        asio::co_spawn(d_.ioc, writer(std::move(self)), asio::detached);
    }

    void ready() override {
        if (reader_wait_ != nullptr) reader_wait_->cancel();
    }

    // The session's coroutine is the reader; the handshake runs in its own coroutine so that
    // its locals (the upgrade request, the response) are gone once the socket is open.
    static asio::awaitable<void> run(std::shared_ptr<ws_session> s, std::string ip) {
        const bool open = co_await handshake(s, std::move(ip));
        if (!open) co_return;
        co_await reader(s);
        if (s->m_.authenticated()) s->d_.metrics.sessions.fetch_sub(1);
        s->d_.metrics.connection_closed();
        s->finish();
        s->wake_writer();
    }

private:
    static asio::awaitable<bool> handshake(std::shared_ptr<ws_session> s, std::string ip) {
        auto& d = s->d_;
        auto& req = *s->req_;
        const auto origin = std::string(req[beast::http::field::origin]);
        if (!origin_allowed(d.cfg, origin, req[beast::http::field::host])) {
            spdlog::info("websocket from {} refused: origin {}", ip, origin);
            co_await refuse(s, beast::http::status::forbidden, errc::forbidden,
                            "origin not allowed");
            co_return false;
        }
        // Beast refuses a missing key but not a malformed one (RFC 6455 4.2.1: 16 bytes).
        const auto key = req.find(beast::http::field::sec_websocket_key);
        if (key != req.end() && !valid_websocket_key(key->value())) {
            co_await refuse(s, beast::http::status::bad_request, errc::bad_request,
                            "Sec-WebSocket-Key is not the base64 of 16 bytes");
            co_return false;
        }
        // Non-browser clients may authenticate on the upgrade request.
        std::optional<std::string> header_error;
        const auto authz = std::string(req[beast::http::field::authorization]);
        if (authz.rfind("Bearer ", 0) == 0)
            header_error = s->m_.authenticate(std::string_view(authz).substr(7));

        websocket::stream_base::timeout opt{};
        opt.handshake_timeout = std::chrono::seconds(10);
        opt.idle_timeout = 2 * d.cfg.heartbeat;  // a ping after one heartbeat of silence
        opt.keep_alive_pings = true;
        s->ws_.set_option(opt);
        s->ws_.read_message_max(64 * 1024);
        s->ws_.set_option(websocket::stream_base::decorator(
            [](websocket::response_type& res) { res.set(beast::http::field::server, "chirpd"); }));
        auto [ec] = co_await s->ws_.async_accept(req, tuple_awaitable);
        s->req_.reset();  // the upgrade request is not needed any more
        if (ec) co_return false;
        d.metrics.connection_opened();
        if (d.all) d.all->push_back(s);
        s->open_ = true;

        if (header_error)
            s->m_.close(4001, *header_error);
        else if (s->m_.authenticated())
            s->m_.welcome();
        else
            s->m_.expect_auth(d.cfg.ws_auth_timeout);
        if (d.stopping && *d.stopping) s->go_away();
        co_return true;
    }

    // An answer instead of the upgrade; the connection ends after it.
    static asio::awaitable<void> refuse(const std::shared_ptr<ws_session>& s,
                                        beast::http::status status, errc code, const char* why) {
        beast::http::response<beast::http::string_body> res{status, s->req_->version()};
        res.set(beast::http::field::content_type, "application/json");
        res.body() = error_body(code, why);
        res.keep_alive(false);
        res.prepare_payload();
        co_await beast::http::async_write(s->ws_.next_layer(), res, tuple_awaitable);
        beast::error_code ignored;
        s->ws_.next_layer().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    }

    // A burst (a replay, or frames that queued up behind a slow write) is corked: the frames
    // leave in full TCP segments when the queue is drained, instead of one segment (and one
    // wake-up of the receiver) each.
    void cork(bool on) {
        const int v = on ? 1 : 0;
        ::setsockopt(ws_.next_layer().native_handle(), IPPROTO_TCP, TCP_CORK, &v, sizeof v);
    }

    static asio::awaitable<void> writer(std::shared_ptr<ws_session> s) {
        auto& m = s->m_;
        const bool corked = m.queued_messages() > 1;
        if (corked) s->cork(true);
        while (!m.closing() && m.has_output()) {
            auto q = m.pop();
            auto [ec, n] = co_await s->ws_.async_write(asio::buffer(*q.ev.frame), tuple_awaitable);
            (void)n;
            if (ec) {
                m.set_closing();
                break;
            }
            s->record_sent(q);
        }
        if (corked && s->ws_.next_layer().is_open()) s->cork(false);
        if (m.closing() && s->close_code_ != 0 && !s->close_sent_ && s->ws_.is_open()) {
            s->close_sent_ = true;
            s->ws_.next_layer().server_closing();
            websocket::close_reason cr(static_cast<std::uint16_t>(s->close_code_));
            cr.reason = s->close_reason_.substr(0, 120);
            co_await s->ws_.async_close(cr, tuple_awaitable);
        }
        m.release_queue_if_empty();
        s->writing_ = false;
    }

    bool take_token() {
        const auto now = std::chrono::steady_clock::now();
        const double rate = d_.cfg.ws_rate_limit;
        tokens_ = std::min(2.0 * rate,
                           tokens_ + rate * std::chrono::duration<double>(now - refill_).count());
        refill_ = now;
        if (tokens_ < 1.0) return false;
        tokens_ -= 1.0;
        return true;
    }

    static asio::awaitable<void> reader(std::shared_ptr<ws_session> s) {
        auto& m = s->m_;
        // Messages are read in small pieces into a buffer of this frame: async_read with a
        // dynamic buffer would allocate 1.5 KiB before the first byte arrives and keep it for
        // as long as the session waits (every idle session). Beast still enforces
        // read_message_max.
        std::array<char, 256> chunk;
        const auto into = asio::buffer(chunk);
        for (;;) {
            std::string msg;
            beast::error_code ec;
            do {
                auto [rec, n] = co_await s->ws_.async_read_some(into, tuple_awaitable);
                ec = rec;
                if (ec) break;
                msg.append(chunk.data(), n);
            } while (!s->ws_.is_message_done());
            if (ec) {
                if (ec != websocket::error::closed && ec != asio::error::operation_aborted &&
                    ec != asio::error::eof && ec != beast::error::timeout)
                    spdlog::debug("websocket read: {}", ec.message());
                break;
            }
            if (m.closing()) continue;  // drain until the peer answers our close
            if (!s->ws_.got_text()) {
                m.close(1003, "binary frames are not accepted");
                continue;
            }
            if (!s->take_token()) {
                m.close(4029, "rate limited");
                continue;
            }
            bool failed = false;
            try {
                m.on_text(msg);
            } catch (const std::exception& e) {
                spdlog::error("websocket session {}: {}", m.session_id(), e.what());
                failed = true;
            }
            if (failed) m.close(1011, "internal error");
            // A subscribe (its replay) or a typing indicator is answered before the next
            // message is read.
            while (m.busy() && !m.closing()) {
                asio::steady_timer wait(s->d_.ioc, asio::steady_timer::time_point::max());
                s->reader_wait_ = &wait;
                co_await wait.async_wait(tuple_awaitable);
                s->reader_wait_ = nullptr;
            }
        }
        m.set_closing();
        s->wake_writer();
    }

    websocket::stream<guarded_socket> ws_;      // frame_guard.hpp: close-frame checks
    std::unique_ptr<http::beast_request> req_;  // until the handshake is done
    bool open_ = false;                         // handshake done: the writer may run
    bool writing_ = false;
    bool close_sent_ = false;
    unsigned close_code_ = 0;
    std::string close_reason_;
    double tokens_;
    std::chrono::steady_clock::time_point refill_;
    asio::steady_timer* reader_wait_ = nullptr;  // while the reader waits for the machine
};

}  // namespace

void run_websocket(session_deps& deps, beast::tcp_stream stream, http::beast_request req,
                   std::string ip) {
    // The WebSocket stream has its own timeouts: the plain socket is enough beneath it (a
    // beast::tcp_stream would keep its timers and their state for the life of the session).
    auto s = std::make_shared<ws_session>(deps, stream.release_socket(), std::move(req));
    asio::co_spawn(deps.ioc, ws_session::run(s, std::move(ip)), asio::detached);
}

}  // namespace chirp::ws
