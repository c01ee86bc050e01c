// ws_client: the handshake runs on the caller's thread (a private io_context, deadline on the
// tcp_stream); afterwards one background thread runs that io_context, keeps one async_read
// in flight (unless paused) and hands frames to the caller through a mutex and a condition
// variable. Writes are posted to that thread and awaited with a timeout.
#include "support/ws_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <future>
#include <sstream>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

namespace chirp::test {

std::string ws_close::describe() const {
    if (code == 0) return "connection ended without a close frame (" + error + ")";
    return "close " + std::to_string(code) + " '" + reason + "'";
}

struct ws_client::impl : std::enable_shared_from_this<ws_client::impl> {
    asio::io_context ioc;
    asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
    websocket::stream<beast::tcp_stream> ws{ioc};
    beast::flat_buffer buffer;

    // Owned by the io thread.
    bool reading = false;
    bool paused = false;

    // Shared with the caller.
    std::mutex mu;
    std::condition_variable cv;
    std::deque<ws_frame> frames;
    std::optional<ws_close> closed;

    void start_read() {
        if (paused || reading) return;
        {
            std::lock_guard lk(mu);
            if (closed) return;
        }
        reading = true;
        ws.async_read(buffer, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            self->on_read(ec);
        });
    }

    void on_read(beast::error_code ec) {
        reading = false;
        if (ec) {
            ws_close c;
            if (ec == websocket::error::closed) {
                c.code = ws.reason().code;
                c.reason = std::string(ws.reason().reason.c_str());
            } else {
                c.error = ec.message();
            }
            {
                std::lock_guard lk(mu);
                if (!closed) closed = std::move(c);
            }
            cv.notify_all();
            return;
        }
        ws_frame f{ws.got_text(), beast::buffers_to_string(buffer.data())};
        buffer.consume(buffer.size());
        {
            std::lock_guard lk(mu);
            frames.push_back(std::move(f));
        }
        cv.notify_all();
        start_read();
    }
};

ws_client::ws_client(std::uint16_t port, ws_options opts)
    : impl_(std::make_shared<impl>()), write_timeout_(opts.timeout) {
    auto& im = *impl_;
    auto& sock = beast::get_lowest_layer(im.ws);
    beast::error_code ec;
    sock.socket().open(tcp::v4(), ec);
    if (ec) throw std::runtime_error("socket: " + ec.message());
    if (opts.receive_buffer > 0)
        sock.socket().set_option(asio::socket_base::receive_buffer_size(opts.receive_buffer));
    if (opts.max_segment > 0) {
        const int mss = opts.max_segment;
        ::setsockopt(sock.socket().native_handle(), IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
    }
    sock.expires_after(opts.timeout);
    sock.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port),
                       [&](beast::error_code e) { ec = e; });
    im.ioc.run_one();
    if (ec)
        throw std::runtime_error("connect to port " + std::to_string(port) + ": " + ec.message());
    sock.socket().set_option(tcp::no_delay(true));

    websocket::stream_base::timeout t{};
    t.handshake_timeout = opts.timeout;
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    im.ws.set_option(t);
    const std::string origin = opts.origin, bearer = opts.bearer;
    im.ws.set_option(
        websocket::stream_base::decorator([origin, bearer](websocket::request_type& req) {
            req.set(beast::http::field::user_agent, "chirp-tests");
            if (!origin.empty()) req.set(beast::http::field::origin, origin);
            if (!bearer.empty()) req.set(beast::http::field::authorization, "Bearer " + bearer);
        }));
    websocket::response_type res;
    bool done = false;
    im.ws.async_handshake(res, "127.0.0.1:" + std::to_string(port), opts.target,
                          [&](beast::error_code e) {
                              ec = e;
                              done = true;
                          });
    while (!done && im.ioc.run_one() > 0) {
    }
    if (ec) {
        if (res.result_int() != 0 && res.result_int() != 101)
            throw ws_handshake_error(res.result_int(), res.body());
        throw std::runtime_error("WebSocket handshake: " + ec.message());
    }
    worker_ = std::string(res["X-Chirp-Worker"]);
    sock.expires_never();
    im.ioc.restart();
    asio::post(im.ioc, [self = impl_] { self->start_read(); });
    thread_ = std::thread([self = impl_] { self->ioc.run(); });
}

ws_client::~ws_client() {
    if (!impl_) return;
    asio::post(impl_->ioc, [self = impl_] {
        beast::error_code ec;
        beast::get_lowest_layer(self->ws).socket().shutdown(tcp::socket::shutdown_both, ec);
        beast::get_lowest_layer(self->ws).socket().close(ec);
        self->work.reset();
    });
    if (thread_.joinable()) thread_.join();
}

bool ws_client::write(const std::string& data, bool text) {
    if (!write_error_.empty() && write_error_ == "timeout") return false;
    auto payload = std::make_shared<std::string>(data);
    auto done = std::make_shared<std::promise<beast::error_code>>();
    auto fut = done->get_future();
    asio::post(impl_->ioc, [self = impl_, payload, done, text] {
        self->ws.text(text);
        self->ws.async_write(
            asio::buffer(*payload),
            [payload, done](beast::error_code ec, std::size_t) { done->set_value(ec); });
    });
    if (fut.wait_for(write_timeout_) != std::future_status::ready) {
        write_error_ = "timeout";
        return false;
    }
    const auto ec = fut.get();
    if (ec) {
        write_error_ = ec.message();
        return false;
    }
    write_error_.clear();
    return true;
}

bool ws_client::send_text(const std::string& text) {
    return write(text, true);
}
bool ws_client::send_binary(const std::string& bytes) {
    return write(bytes, false);
}

std::optional<ws_frame> ws_client::next_frame(std::chrono::milliseconds timeout) {
    std::unique_lock lk(impl_->mu);
    impl_->cv.wait_for(lk, timeout, [&] { return !impl_->frames.empty() || impl_->closed; });
    if (impl_->frames.empty()) return std::nullopt;
    auto f = std::move(impl_->frames.front());
    impl_->frames.pop_front();
    return f;
}

std::optional<json> ws_client::next(std::chrono::milliseconds timeout) {
    auto f = next_frame(timeout);
    if (!f) return std::nullopt;
    if (!f->text)
        throw std::runtime_error("unexpected binary frame of " + std::to_string(f->data.size()) +
                                 " bytes");
    auto j = json::parse(f->data, nullptr, false);
    if (j.is_discarded()) throw std::runtime_error("frame is not JSON: " + f->data);
    return j;
}

namespace {

std::string tail_of(const std::vector<std::string>& v) {
    std::string out;
    const std::size_t from = v.size() > 10 ? v.size() - 10 : 0;
    for (std::size_t i = from; i < v.size(); ++i) out += "\n  " + v[i].substr(0, 300);
    return out;
}

}  // namespace

json ws_client::expect(const std::string& type, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        auto j = next(left.count() > 0 ? left : 0ms);
        if (!j) {
            const auto c = closed_with();
            throw std::runtime_error("no '" + type + "' frame within " +
                                     std::to_string(timeout.count()) + " ms" +
                                     (c ? " (" + c->describe() + ")" : std::string()) +
                                     "; skipped:" + tail_of(skipped_));
        }
        if (j->value("type", "") == type) return *j;
        skipped_.push_back(j->dump());
    }
}

json ws_client::expect_next(const std::string& type, std::chrono::milliseconds timeout) {
    auto j = next(timeout);
    if (!j) {
        const auto c = closed_with();
        throw std::runtime_error("no frame (expected '" + type + "') within " +
                                 std::to_string(timeout.count()) + " ms" +
                                 (c ? " (" + c->describe() + ")" : std::string()));
    }
    if (j->value("type", "") != type)
        throw std::runtime_error("expected a '" + type + "' frame, got " + j->dump());
    return *j;
}

std::vector<json> ws_client::collect_until(const std::function<bool(const json&)>& pred,
                                           std::chrono::milliseconds timeout) {
    std::vector<json> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        auto j = next(left.count() > 0 ? left : 0ms);
        if (!j) {
            std::vector<std::string> got;
            for (const auto& f : out) got.push_back(f.dump());
            const auto c = closed_with();
            throw std::runtime_error(
                "collect_until: condition not met within " + std::to_string(timeout.count()) +
                " ms after " + std::to_string(out.size()) + " frames" +
                (c ? " (" + c->describe() + ")" : std::string()) + "; last frames:" + tail_of(got));
        }
        out.push_back(std::move(*j));
        if (pred(out.back())) return out;
    }
}

std::optional<ws_close> ws_client::wait_closed(std::chrono::milliseconds timeout) {
    resume_reading();  // the close frame may be behind frames not read yet
    std::unique_lock lk(impl_->mu);
    impl_->cv.wait_for(lk, timeout, [&] { return impl_->closed.has_value(); });
    return impl_->closed;
}

std::vector<json> ws_client::drain(std::chrono::milliseconds quiet) {
    std::vector<json> out;
    while (auto j = next(quiet)) out.push_back(std::move(*j));
    return out;
}

std::vector<json> ws_client::before(const std::function<bool(const json&)>& marker,
                                    json* marker_frame, std::chrono::milliseconds timeout) {
    auto frames = collect_until(marker, timeout);
    if (marker_frame != nullptr) *marker_frame = frames.back();
    frames.pop_back();
    return frames;
}

std::vector<json> ws_client::before_pong(std::chrono::milliseconds timeout) {
    if (!send(json{{"type", "ping"}}))
        throw std::runtime_error("ping: write failed: " + write_error_);
    return before([](const json& f) { return f.value("type", "") == "pong"; }, nullptr, timeout);
}

bool ws_client::open() {
    std::lock_guard lk(impl_->mu);
    return !impl_->closed;
}

std::optional<ws_close> ws_client::closed_with() {
    std::lock_guard lk(impl_->mu);
    return impl_->closed;
}

void ws_client::pause_reading() {
    std::promise<void> done;
    auto fut = done.get_future();
    asio::post(impl_->ioc, [self = impl_, &done] {
        self->paused = true;
        done.set_value();
    });
    fut.wait();
}

void ws_client::resume_reading() {
    asio::post(impl_->ioc, [self = impl_] {
        self->paused = false;
        self->start_read();
    });
}

void ws_client::close() {
    if (!open()) return;
    auto done = std::make_shared<std::promise<void>>();
    auto fut = done->get_future();
    asio::post(impl_->ioc, [self = impl_, done] {
        self->ws.async_close(websocket::close_code::normal,
                             [done](beast::error_code) { done->set_value(); });
    });
    fut.wait_for(write_timeout_);
    wait_closed(2s);
}

json ws_client::auth(const std::string& token) {
    if (!send(json{{"type", "auth"}, {"token", token}}))
        throw std::runtime_error("auth: write failed: " + write_error_);
    return expect_next("auth_ok");
}

json ws_client::subscribe(const std::vector<std::string>& channels,
                          std::optional<std::string> since) {
    json m = {{"type", "subscribe"}, {"channels", channels}};
    if (since) m["since"] = *since;
    if (!send(m)) throw std::runtime_error("subscribe: write failed: " + write_error_);
    return expect_next("subscribed");
}

std::vector<json> events_of(const std::vector<json>& frames) {
    std::vector<json> out;
    for (const auto& f : frames)
        if (f.value("type", "") == "event") out.push_back(f);
    return out;
}

long long seq_of(const json& frame) {
    return std::stoll(frame.at("seq").get<std::string>());
}

std::vector<std::string> tweet_ids_of(const std::vector<json>& frames) {
    std::vector<std::string> out;
    for (const auto& f : frames) {
        if (f.value("type", "") != "event") continue;
        const auto& ev = f.at("event");
        if (ev.value("type", "") != "TweetCreated") continue;
        out.push_back(ev.at("payload").at("tweet").at("id").get<std::string>());
    }
    return out;
}

std::function<bool(const json&)> tweet_frame(const std::string& tweet_id) {
    return [tweet_id](const json& f) {
        return f.value("type", "") == "event" &&
               f.at("event").value("type", "") == "TweetCreated" &&
               f.at("event").at("payload").at("tweet").value("id", "") == tweet_id;
    };
}

std::function<bool(const json&)> typing_frame(const std::string& conversation) {
    return [conversation](const json& f) {
        return f.value("type", "") == "typing" && f.value("conversation", "") == conversation;
    };
}

std::function<bool(const json&)> notification_frame(const std::string& kind,
                                                    const std::string& actor_id) {
    return [kind, actor_id](const json& f) {
        if (f.value("type", "") != "event" || f.value("channel", "") != "notifications")
            return false;
        const auto& n = f.at("event").at("payload").at("notification");
        return n.value("type", "") == kind && n.at("actor").value("id", "") == actor_id;
    };
}

void wait_past_settling_replay(std::chrono::steady_clock::time_point replay_done) {
    std::this_thread::sleep_until(replay_done + 2s);
}

}  // namespace chirp::test
