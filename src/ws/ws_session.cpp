// The WebSocket transport of a real-time session: the upgrade (origin policy, optional bearer
// token), a reader coroutine (binary frames refused, a token-bucket rate limit, each message
// handed to the session_machine) and a writer that runs only while something is queued,
// corking bursts.
//
// The writer does not go through Beast's: each data frame's header is built once with its
// event (fanout::live_event::ws_head) and the same header and payload are written to every
// socket, most often at once (a plain non-blocking write: guarded_socket::write_now), else
// asynchronously. Beast's own frames (pongs, keep-alive pings, the close) go between data
// frames, never inside one (frame_guard.hpp). No extension is negotiated (the stream is built
// without permessage-deflate: a compressed frame would differ per connection).
//
// The reader never stops reading while the machine is busy (a subscribe's replay, a typing
// indicator): it holds what arrives meanwhile (a few messages) and hands it over, in order,
// once the machine is ready; so pongs are always seen and a client that answers pings is not
// dropped because the server was slow. Only past that small bound does it wait.
//
// Deadlines (a guard timer): a write that makes no progress for config::write_timeout, or a
// close the server started that is not done within close_grace, 4 s (a slow consumer's 4008 to a
// client that stopped reading), drops the connection with a TCP reset: its descriptor, its
// queue and the kernel's buffers are released at once.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <vector>

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
constexpr auto close_grace = std::chrono::seconds(4);
// Messages read while the machine is busy, held at most (the reader waits beyond).
constexpr std::size_t held_max = 8;
// Frames written in one turn of the event loop at most (then the writer lets others run).
constexpr int frames_per_turn = 32;

// A frame's header (built with the event, or here for the session's own messages) and payload.
guarded_socket::frame_buffers buffers_of(queued& q) {
    if (q.ev.ws_head.size == 0) q.ev.ws_head = fanout::ws_text_header(q.ev.frame->size());
    return {asio::const_buffer(q.ev.ws_head.bytes.data(), q.ev.ws_head.size),
            asio::buffer(*q.ev.frame)};
}

class ws_session final : public session_host {
public:
    ws_session(session_deps& d, asio::ip::tcp::socket s, http::beast_request r)
        : session_host(d),
          ws_(std::move(s)),
          req_(std::make_unique<http::beast_request>(std::move(r))),
          refill_(std::chrono::steady_clock::now()),
          guard_(d.ioc) {
        tokens_ = 2.0 * d.cfg.ws_rate_limit;
    }

    // The socket came from the HTTP server, which counted it.
    ~ws_session() override { d_.metrics.open_sockets.fetch_sub(1); }

    void close(unsigned code, std::string reason) override {
        if (close_code_ != 0) return;
        close_code_ = static_cast<std::uint16_t>(code);
        close_reason_ = std::make_unique<std::string>(std::move(reason));
        close_by_ = clock::now() + std::min<clock::duration>(close_grace, d_.cfg.write_timeout);
        arm_guard();
        wake_writer();
        ready();
    }

    // The writer runs only while there is something to send (or a close to send): an idle
    // session has no writer coroutine and no queue.
    void wake_writer() override {
        if (writing_ || !open_ || close_sent_) return;
        if (!m_.has_output() && !(m_.closing() && close_code_ != 0)) return;
        writing_ = true;
        // Later, not from inside the machine's call (the hub is delivering to many sessions).
        asio::post(d_.ioc, [self = std::static_pointer_cast<ws_session>(shared_from_this())] {
            self->start_writing();
        });
    }

    // The machine may take the next message: what the reader held goes in (later, not from
    // inside the machine's call), then the reader goes on if it waited.
    void ready() override {
        if (!held_.empty() && !draining_) {
            draining_ = true;
            asio::post(d_.ioc, [self = std::static_pointer_cast<ws_session>(shared_from_this())] {
                self->draining_ = false;
                self->take_held();
            });
            return;
        }
        if (reader_wait_ != nullptr) reader_wait_->cancel();
    }

    // The session's coroutine is the reader; the handshake runs in its own coroutine so that
    // its locals (the upgrade request, the response) are gone once the socket is open.
    static asio::awaitable<void> run(std::shared_ptr<ws_session> s, std::string ip) {
        const bool open = co_await handshake(s, std::move(ip));
        if (!open) co_return;
        co_await reader(s);
        s->d_.metrics.connection_closed();
        s->finish();
        s->wake_writer();
        if (!s->writing_) s->guard_.cancel();
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
            [w = d.cfg.worker_index](websocket::response_type& res) {
                res.set(beast::http::field::server, "chirpd");
                if (w >= 0) res.set("X-Chirp-Worker", std::to_string(w));  // app/supervisor.hpp
            }));
        auto [ec] = co_await s->ws_.async_accept(req, tuple_awaitable);
        s->req_.reset();  // the upgrade request is not needed any more
        if (ec) co_return false;
        d.metrics.connection_opened();
        if (d.all) d.all->push_back(s);
        s->ws_.next_layer().frames_begin();
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

    void start_writing() {
        progress_ = clock::now();
        arm_guard();
        corked_ = m_.queued_messages() > 1;
        if (corked_) cork(true);
        write_frames();
    }

    // Frames go out one at a time (the queue's accounting is per frame), each written at once
    // when the socket takes it; one the socket does not take whole goes on asynchronously.
    void write_frames() {
        auto& sock = ws_.next_layer();
        for (int i = 0; i < frames_per_turn; ++i) {
            if (m_.closing() || !m_.has_output()) return done_writing();
            auto q = m_.pop();
            const auto b = buffers_of(q);
            beast::error_code ec;
            const auto n = sock.write_now(b, ec);
            if (ec) {
                m_.set_closing();
                return done_writing();
            }
            if (n < asio::buffer_size(b)) {
                // The frame's buffers stay where they are (the header is in the queued entry)
                // until it is written.
                auto held = std::make_unique<queued>(std::move(q));
                const auto hb = buffers_of(*held);
                sock.async_write_frame(
                    hb, n,
                    [self = std::static_pointer_cast<ws_session>(shared_from_this()),
                     held = std::move(held)](beast::error_code ec) {
                        if (ec) {
                            self->m_.set_closing();
                        } else {
                            self->progress_ = clock::now();
                            self->record_sent(*held);
                        }
                        self->write_frames();
                    });
                return;
            }
            progress_ = clock::now();
            record_sent(q);
        }
        asio::post(d_.ioc, [self = std::static_pointer_cast<ws_session>(shared_from_this())] {
            self->write_frames();
        });
    }

    void done_writing() {
        if (corked_ && ws_.next_layer().is_open()) cork(false);
        corked_ = false;
        if (m_.closing() && close_code_ != 0 && !close_sent_ && ws_.is_open() &&
            !ws_.next_layer().failed()) {
            close_sent_ = true;
            ws_.next_layer().server_closing();
            websocket::close_reason cr(static_cast<std::uint16_t>(close_code_));
            cr.reason = close_reason_->substr(0, 120);
            ws_.async_close(cr, [self = std::static_pointer_cast<ws_session>(shared_from_this())](
                                    beast::error_code) { self->writer_idle(); });
            return;
        }
        writer_idle();
    }

    void writer_idle() {
        m_.release_queue_if_empty();
        writing_ = false;
        // No write in progress and no close started: nothing to watch, and an idle session
        // keeps no pending wait (the next write arms the guard again).
        if (close_by_ == clock::time_point::max() && guard_at_ != clock::time_point::max()) {
            guard_at_ = clock::time_point::max();
            guard_.cancel();
        }
    }

    // The guard's next deadline: the write in progress, and the close the server started.
    clock::time_point guard_due() const {
        auto due = close_by_;
        if (writing_) due = std::min(due, progress_ + d_.cfg.write_timeout);
        return due;
    }

    void arm_guard() {
        const auto due = guard_due();
        if (due == clock::time_point::max() || due >= guard_at_) return;
        guard_at_ = due;
        guard_.expires_at(due);
        guard_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
            if (ec) return;
            auto p = w.lock();
            if (!p) return;
            auto* s = static_cast<ws_session*>(p.get());
            s->guard_at_ = clock::time_point::max();
            if (!s->ws_.next_layer().is_open()) return;
            if (s->guard_due() <= clock::now()) return s->drop();
            s->arm_guard();  // the write moved on: watch the next one
        });
    }

    // Past a deadline: a TCP reset (no lingering in the kernel) ends every pending operation.
    void drop() {
        d_.metrics.write_timeouts.fetch_add(1, std::memory_order_relaxed);
        auto& sock = ws_.next_layer().next_layer();  // the TCP socket under the frame guard
        beast::error_code ignored;
        sock.set_option(asio::socket_base::linger(true, 0), ignored);
        sock.close(ignored);
        m_.set_closing();
    }

    void handle(const std::string& msg) {
        bool failed = false;
        try {
            m_.on_text(msg);
        } catch (const std::exception& e) {
            spdlog::error("websocket session {}: {}", m_.session_id(), e.what());
            failed = true;
        }
        if (failed) m_.close(1011, "internal error");
    }

    // Hands the held messages to the machine, in order, while it is not busy.
    void take_held() {
        while (!held_.empty() && !m_.busy() && !m_.closing()) {
            auto msg = std::move(held_.front());
            held_.erase(held_.begin());  // at most held_max: cheaper than a deque's 512-byte block
            handle(msg);
        }
        if (m_.closing()) held_.clear();
        if (reader_wait_ != nullptr && held_.size() < held_max) reader_wait_->cancel();
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
            if (m.busy() || !s->held_.empty()) {
                // A subscribe (its replay) or a typing indicator is answered before the next
                // message is handled; reading goes on (pongs), up to held_max messages.
                s->held_.push_back(std::move(msg));
                while (s->held_.size() >= held_max && !m.closing()) {
                    asio::steady_timer wait(s->d_.ioc, asio::steady_timer::time_point::max());
                    s->reader_wait_ = &wait;
                    co_await wait.async_wait(tuple_awaitable);
                    s->reader_wait_ = nullptr;
                }
                continue;
            }
            s->handle(msg);
        }
        m.set_closing();
        s->wake_writer();
    }

    // frame_guard.hpp: close-frame checks, data frames written beside Beast's. Without
    // permessage-deflate (the second argument): frames are the same bytes for every socket.
    websocket::stream<guarded_socket, false> ws_;
    std::unique_ptr<http::beast_request> req_;  // until the handshake is done
    bool open_ = false;                         // handshake done: the writer may run
    bool writing_ = false;
    bool corked_ = false;
    bool close_sent_ = false;
    bool draining_ = false;                      // take_held() is posted
    std::uint16_t close_code_ = 0;               // 1000..4999
    std::unique_ptr<std::string> close_reason_;  // once the session closes
    double tokens_;
    std::chrono::steady_clock::time_point refill_;
    asio::steady_timer* reader_wait_ = nullptr;  // while the reader waits for the machine
    std::vector<std::string> held_;              // read while the machine was busy (FIFO)
    loop_timer guard_;                           // write and close deadlines
    clock::time_point guard_at_ = clock::time_point::max();
    clock::time_point progress_{};                           // the last write done
    clock::time_point close_by_ = clock::time_point::max();  // the close the server started
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
