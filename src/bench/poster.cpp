// chirp-bench's open-loop poster (client.hpp): a pool of keep-alive connections.
#include <algorithm>
#include <cctype>

#include "client.hpp"

namespace chirp::bench {

using namespace std::chrono_literals;

// ---------------------------------------------------------------- open_loop_poster
//
// Each connection has a reader that always has a read outstanding, also while the connection
// carries no request: a server that closes a connection it holds idle (chirpd closes one that
// sends no request within --request-read-timeout-ms, 10 s, and an idle keep-alive one after
// --keep-alive-timeout-ms, 30 s) is noticed when its FIN arrives, not when the next request
// is written into the dead socket and read back as "end of stream". Requests queued but not
// yet written when a socket drops were never seen by the server: they go out on a new
// connection. A request written but not answered has an unknown outcome (RFC 9112 §9.3.1):
// it is sent again only if it is idempotent (GET, HEAD, or carrying an Idempotency-Key) and
// no byte of its answer had arrived, at most once; otherwise it fails (status 0), logged.

struct open_loop_poster::conn {
    explicit conn(asio::any_io_executor ex) : stream(ex), write_wake(ex), read_wake(ex) {}
    struct request {
        std::uint64_t id;
        std::string raw;
        bool replayable;
        bool retried = false;
    };
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    std::deque<request> waiting;  // in order; the first `written` were written on this socket
    std::size_t written = 0;
    signal write_wake, read_wake;
    bool up = false;
    std::uint64_t generation = 0;  // bumped whenever the socket is dropped
    time_point last_used{};        // connected or last given a request
    // For the failure log: when this socket was connected, answers it carried, the last one.
    std::size_t index = 0;
    time_point connected_at{}, last_answer{};
    std::uint64_t answered = 0;
};

// A connection unused this long is opened anew before it carries a request, so that a request
// is not written just as the server closes the connection (the reader notices a close only
// when the FIN arrives): below chirpd's 10 s wait for a new connection's first request and
// its 30 s keep-alive (nginx: 60 s and 75 s).
constexpr auto idle_reconnect = std::chrono::seconds(8);

namespace {

// GET and HEAD, and any request with an Idempotency-Key header (docs/api.md), may be sent again
// after a connection failure that leaves their outcome unknown.
bool replayable(std::string_view raw) {
    if (raw.starts_with("GET ") || raw.starts_with("HEAD ")) return true;
    const auto head = raw.substr(0, raw.find("\r\n\r\n"));
    for (std::size_t at = head.find("\r\n"); at != std::string_view::npos;
         at = head.find("\r\n", at + 2)) {
        const auto line = head.substr(at + 2, 16);
        if (line.size() == 16 &&
            std::equal(line.begin(), line.end(), "idempotency-key:", [](char a, char b) {
                return std::tolower(static_cast<unsigned char>(a)) == b;
            }))
            return true;
    }
    return false;
}

}  // namespace

open_loop_poster::open_loop_poster(asio::any_io_executor ex, const target& t,
                                   std::size_t connections, response_fn on_response)
    : ex_(ex), target_(t), on_response_(std::move(on_response)) {
    for (std::size_t i = 0; i < std::max<std::size_t>(1, connections); ++i) {
        conns_.push_back(std::make_unique<conn>(ex));
        conns_.back()->index = i;
    }
}

open_loop_poster::~open_loop_poster() = default;

asio::awaitable<error_code> open_loop_poster::connect() {
    error_code first;
    for (auto& c : conns_) {
        auto [ec] = co_await c->stream.async_connect(target_.endpoint, use_tuple);
        if (ec) {
            first = ec;
            continue;
        }
        c->stream.socket().set_option(tcp::no_delay(true));
        c->up = true;
        c->last_used = c->connected_at = clock_type::now();
        c->answered = 0;
    }
    for (auto& c : conns_) {
        alive_coroutines_ += 2;
        asio::co_spawn(ex_, writer(*c), [this](std::exception_ptr) { --alive_coroutines_; });
        asio::co_spawn(ex_, reader(*c), [this](std::exception_ptr) { --alive_coroutines_; });
    }
    co_return first;
}

void open_loop_poster::drop(conn& c, time_point now, std::string_view phase, error_code ec,
                            bool answer_started) {
    c.up = false;
    ++c.generation;
    error_code ignored;
    c.stream.socket().close(ignored);
    c.buffer.clear();
    std::deque<conn::request> keep;
    std::vector<std::uint64_t> failed;
    for (std::size_t i = 0; i < c.waiting.size(); ++i) {
        auto& r = c.waiting[i];
        if (i >= c.written) {
            ++requeued;  // never written: the server cannot have seen it
        } else if (r.replayable && !r.retried && !(i == 0 && answer_started)) {
            r.retried = true;
            ++retried;
        } else {
            failed.push_back(r.id);
            continue;
        }
        keep.push_back(std::move(r));
    }
    if (closing_) {  // finish(): everything still outstanding fails
        for (const auto& r : keep) failed.push_back(r.id);
        keep.clear();
    }
    if (!failed.empty() && failure_logs_ < 20) {
        ++failure_logs_;
        const auto ms = [&](time_point t) {
            return t == time_point{} ? -1.0
                                     : std::chrono::duration<double, std::milli>(now - t).count();
        };
        spdlog::warn(
            "poster: connection {} failed {} request(s) at {}: {} ({}); connection age {:.0f} ms, "
            "{} answered on it, last answer {:.0f} ms ago, last send {:.0f} ms ago",
            c.index, failed.size(), phase, ec.message(), ec.category().name(), ms(c.connected_at),
            c.answered, ms(c.last_answer), ms(c.last_used));
    }
    c.waiting = std::move(keep);
    c.written = 0;
    for (auto id : failed) {
        --in_flight_;
        ++transport_errors;
        on_response_(id, 0, now);
    }
    if (!c.waiting.empty()) c.write_wake.notify();
}

std::size_t open_loop_poster::connections_up() const {
    return static_cast<std::size_t>(
        std::count_if(conns_.begin(), conns_.end(), [](const auto& c) { return c->up; }));
}

void open_loop_poster::send(std::uint64_t id, std::string raw) {
    conn* best = nullptr;
    for (auto& c : conns_) {
        if (!best || c->waiting.size() < best->waiting.size()) best = c.get();
        if (best->waiting.empty()) break;
    }
    const auto now = clock_type::now();
    if (best->waiting.empty() && best->up && now - best->last_used > idle_reconnect)
        drop(*best, now, "idle", {}, false);  // the writer connects again before writing
    best->last_used = now;
    if (!best->waiting.empty()) ++pipelined;
    ++sent;
    ++in_flight_;
    const bool again = replayable(raw);
    best->waiting.push_back({id, std::move(raw), again});
    best->write_wake.notify();
}

asio::awaitable<void> open_loop_poster::writer(conn& c) {
    for (;;) {
        if (c.written == c.waiting.size()) {
            if (closing_) co_return;
            co_await c.write_wake.wait();
            continue;
        }
        if (!c.up) {
            error_code ignored;
            c.stream.socket().close(ignored);
            c.stream.expires_after(5s);
            auto [ec] = co_await c.stream.async_connect(target_.endpoint, use_tuple);
            c.stream.expires_never();
            ++reconnects;
            if (ec) {
                c.written = c.waiting.size();  // fail them all, even those never written
                drop(c, clock_type::now(), "connect", ec, false);
                co_await sleep_for(100ms);
                continue;
            }
            c.stream.socket().set_option(tcp::no_delay(true), ignored);
            c.buffer.clear();
            c.up = true;
            c.connected_at = clock_type::now();
            c.answered = 0;
            c.last_answer = {};
            c.read_wake.notify();
        }
        std::string out;
        for (std::size_t i = c.written; i < c.waiting.size(); ++i) out += c.waiting[i].raw;
        c.written = c.waiting.size();
        const auto gen = c.generation;
        auto [ec, n] = co_await asio::async_write(c.stream.socket(), asio::buffer(out), use_tuple);
        if (ec && gen == c.generation) drop(c, clock_type::now(), "write", ec, false);
    }
}

asio::awaitable<void> open_loop_poster::reader(conn& c) {
    for (;;) {
        while (!c.up) {
            if (closing_) co_return;
            co_await c.read_wake.wait();
        }
        // Reads also while nothing is outstanding: that is how a close by the server is seen.
        const auto gen = c.generation;
        http::response_parser<http::string_body> parser;
        parser.body_limit(8 * 1024 * 1024);
        auto [ec, n] = co_await http::async_read(c.stream, c.buffer, parser, use_tuple);
        const auto now = clock_type::now();
        if (gen != c.generation) continue;  // the socket was dropped meanwhile
        if (ec) {
            drop(c, now, "read", ec, parser.got_some());
            continue;
        }
        if (c.written == 0) {  // an answer to nothing written (should not happen)
            drop(c, now, "read (unsolicited answer)", {}, true);
            continue;
        }
        const auto id = c.waiting.front().id;
        c.waiting.pop_front();
        --c.written;
        --in_flight_;
        ++c.answered;
        c.last_answer = now;
        const auto status = parser.get().result_int();
        if ((status < 200 || status >= 300) && failure_logs_ < 20) {
            ++failure_logs_;
            spdlog::warn("poster: request {} answered {}: {}", id, status,
                         parser.get().body().substr(0, 300));
        }
        on_response_(id, status, now);
        if (!parser.get().keep_alive()) drop(c, now, "read (Connection: close)", {}, false);
    }
}

asio::awaitable<void> open_loop_poster::finish(std::chrono::milliseconds timeout) {
    co_await poll_until([this] { return in_flight_ == 0; }, timeout);
    closing_ = true;
    const auto now = clock_type::now();
    for (auto& c : conns_) {
        drop(*c, now, "finish (no answer in time)", asio::error::timed_out, false);
        c->write_wake.notify();
        c->read_wake.notify();
    }
    co_await poll_until([this] { return alive_coroutines_ == 0; }, 10s);
}

}  // namespace chirp::bench
