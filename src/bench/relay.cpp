// The minimal fan-out relay: see relay.hpp.
#include "relay.hpp"

#include <csignal>
#include <deque>
#include <memory>

#include "net.hpp"
#include "proc_stats.hpp"

namespace chirp::bench {

namespace {

using namespace std::chrono_literals;

class relay_session;

struct relay_state {
    std::vector<relay_session*> live;  // subscribed sessions, fan-out targets in this order
    std::size_t frame_bytes = 1400;
    std::size_t queue_max = 8192;
    std::uint64_t seq = 0, triggers = 0, frames_queued = 0, overflow_closes = 0;
};

class relay_session : public std::enable_shared_from_this<relay_session> {
public:
    relay_session(beast::tcp_stream&& stream, relay_state& state)
        : ws_(std::move(stream)), wake_(ws_.get_executor()), state_(state) {}

    asio::awaitable<void> run(http::request<http::string_body> req) {
        auto self = shared_from_this();
        ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        ws_.read_message_max(64 * 1024);
        ws_.text(true);
        if (auto [ec] = co_await ws_.async_accept(req, use_tuple); ec) co_return;
        asio::co_spawn(ws_.get_executor(), writer(self), asio::detached);
        beast::flat_buffer buffer;
        for (;;) {
            auto [ec, n] = co_await ws_.async_read(buffer, use_tuple);
            if (ec) break;
            const std::string_view msg(static_cast<const char*>(buffer.data().data()),
                                       buffer.size());
            if (!authenticated_) {
                authenticated_ = true;
                push(canned(R"({"type":"auth_ok","user":{"id":"0","handle":"relay"},)"
                            R"("session":"relay","heartbeatMs":20000})"));
            } else if (msg.find("subscribe") != std::string_view::npos) {
                push(canned(R"({"type":"subscribed","channels":["timeline"]})"));
                if (!listed_) {
                    listed_ = true;
                    slot_ = state_.live.size();
                    state_.live.push_back(this);
                }
            } else if (msg.find("ping") != std::string_view::npos) {
                push(canned(R"({"type":"pong"})"));
            }
            buffer.consume(buffer.size());
        }
        unlist();
        closed_ = true;
        wake_.notify();
    }

    // Queues a frame; a session whose queue is full is closed (slow consumer), like chirpd's 4008.
    void push(std::shared_ptr<const std::string> frame) {
        if (closed_) return;
        if (queue_.size() >= state_.queue_max) {
            ++state_.overflow_closes;
            unlist();
            closed_ = true;
            error_code ignored;
            beast::get_lowest_layer(ws_).socket().close(ignored);
            wake_.notify();
            return;
        }
        queue_.push_back(std::move(frame));
        if (queue_.size() == 1) wake_.notify();
    }

private:
    static std::shared_ptr<const std::string> canned(const char* s) {
        return std::make_shared<const std::string>(s);
    }

    void unlist() {
        if (!listed_) return;
        listed_ = false;
        auto& live = state_.live;
        live[slot_] = live.back();
        live[slot_]->slot_ = slot_;
        live.pop_back();
    }

    asio::awaitable<void> writer([[maybe_unused]] std::shared_ptr<relay_session> self) {
        while (!closed_) {
            if (queue_.empty()) {
                co_await wake_.wait();
                continue;
            }
            auto frame = queue_.front();
            auto [ec, n] = co_await ws_.async_write(asio::buffer(*frame), use_tuple);
            if (ec) break;
            queue_.pop_front();
        }
        queue_.clear();
    }

    websocket::stream<beast::tcp_stream> ws_;
    signal wake_;
    relay_state& state_;
    std::deque<std::shared_ptr<const std::string>> queue_;
    std::size_t slot_ = 0;
    bool authenticated_ = false, listed_ = false, closed_ = false;
};

std::size_t query_number(std::string_view target, std::string_view key, std::size_t def) {
    const auto q = target.find('?');
    if (q == std::string_view::npos) return def;
    auto pos = target.find(std::string(key) + "=", q);
    if (pos == std::string_view::npos) return def;
    pos += key.size() + 1;
    std::size_t n = 0;
    bool any = false;
    while (pos < target.size() && target[pos] >= '0' && target[pos] <= '9') {
        n = n * 10 + static_cast<std::size_t>(target[pos++] - '0');
        any = true;
    }
    return any ? n : def;
}

// One frame shaped like a chirpd timeline event, padded to frame_bytes; the POST body is
// embedded verbatim (it carries chirp-bench's marker).
std::shared_ptr<const std::string> make_frame(relay_state& st, std::string_view body) {
    auto f = std::make_shared<std::string>();
    f->reserve(st.frame_bytes + body.size() + 64);
    f->append(R"({"type":"event","channel":"timeline","seq":")");
    f->append(std::to_string(++st.seq));
    f->append(R"(","event":{"type":"TweetCreated","payload":{"tweet":)");
    f->append(body.empty() ? std::string_view("{}") : body);
    f->append(R"(},"pad":")");
    const std::size_t tail = 3;  // closes the pad string, the event and the frame
    if (f->size() + tail < st.frame_bytes) f->append(st.frame_bytes - f->size() - tail, 'x');
    f->append("\"}}");
    return f;
}

asio::awaitable<void> http_session(tcp::socket socket, relay_state& st) {
    beast::tcp_stream stream(std::move(socket));
    stream.socket().set_option(tcp::no_delay(true));
    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(64 * 1024);
        auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
        if (ec) co_return;
        auto req = parser.release();
        if (websocket::is_upgrade(req)) {
            auto s = std::make_shared<relay_session>(std::move(stream), st);
            co_await s->run(std::move(req));
            co_return;
        }
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.set(http::field::content_type, "application/json");
        res.keep_alive(req.keep_alive());
        if (req.method() == http::verb::post) {
            const auto fanout = query_number(req.target(), "fanout", st.live.size());
            auto frame = make_frame(st, req.body());
            ++st.triggers;
            // Iterate over a copy of the prefix: a push may close (unlist) a slow session.
            const std::vector<relay_session*> targets(
                st.live.begin(),
                st.live.begin() + static_cast<std::ptrdiff_t>(std::min(fanout, st.live.size())));
            for (auto* s : targets) s->push(frame);
            st.frames_queued += targets.size();
            res.result(http::status::created);
            res.body() = "{\"delivered\":" + std::to_string(targets.size()) + "}";
        } else {
            res.body() = "{\"status\":\"ok\",\"sessions\":" + std::to_string(st.live.size()) + "}";
        }
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
        if (wec || !res.keep_alive()) co_return;
    }
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, relay_state& st) {
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec == asio::error::operation_aborted) co_return;
        if (ec) {
            // EMFILE and friends: back off instead of spinning.
            co_await sleep_for(10ms);
            continue;
        }
        asio::co_spawn(acceptor.get_executor(), http_session(std::move(socket), st),
                       asio::detached);
    }
}

}  // namespace

int run_relay(const options& opts) {
    const auto port = static_cast<std::uint16_t>(opts.integer("port", 8090));
    relay_state st;
    st.frame_bytes = static_cast<std::size_t>(opts.integer("frame-bytes", 1400));
    st.queue_max = static_cast<std::size_t>(opts.integer("queue-max", 8192));
    const auto duration = opts.number("duration", 0);  // seconds; 0 = until SIGINT/SIGTERM
    const auto limit = raise_fd_limit(65536);
    asio::io_context ioc(1);
    tcp::acceptor acceptor(ioc);
    const tcp::endpoint ep(asio::ip::make_address(opts.str("bind", "127.0.0.1")), port);
    acceptor.open(ep.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(ep);
    acceptor.listen(4096);
    spdlog::info("relay listening on {} (frames of {} bytes, fd limit {})", port, st.frame_bytes,
                 limit);
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](error_code, int) { ioc.stop(); });
    asio::steady_timer stop_timer(ioc);
    if (duration > 0) {
        stop_timer.expires_after(
            std::chrono::milliseconds(static_cast<long long>(duration * 1000)));
        stop_timer.async_wait([&](error_code ec) {
            if (!ec) ioc.stop();
        });
    }
    asio::co_spawn(ioc, listen(acceptor, st), asio::detached);
    ioc.run();
    spdlog::info("relay stopped: {} triggers, {} frames queued, {} slow-consumer closes",
                 st.triggers, st.frames_queued, st.overflow_closes);
    return 0;
}

}  // namespace chirp::bench
