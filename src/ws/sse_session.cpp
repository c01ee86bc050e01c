// The Server-Sent Events transport of a real-time session: GET /api/events?channels=...
// (token in the Authorization header or the query; resume with Last-Event-ID or ?since=).
// Event frames go out as "id: <seq>\nevent: <channel>\ndata: <event object>", control frames
// as "event: control"; a comment line every heartbeat keeps proxies from timing out.
//
// Limits: over the per-user session cap the answer is 429; every write has a deadline
// (config::write_timeout), and a slow consumer (the send queue over its bound) has its
// connection reset at once, which ends a write that waits for a client that reads slowly;
// a client whose bytes sit unread in the kernel for over a write_timeout is closed the same
// way (stalled(): a byte a second never blocks our writes, the kernel holds megabytes).
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>

#include "chirp/config/config.hpp"
#include "chirp/domain/errc.hpp"
#include "chirp/domain/text.hpp"
#include "chirp/metrics/metrics.hpp"
#include "session_host.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace chirp::ws {

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

class sse_session final : public session_host {
public:
    sse_session(session_deps& d, beast::tcp_stream& s)
        : session_host(d), stream_(s), wake_(d.ioc) {}

    void close(unsigned code, std::string) override {
        wake_.cancel();
        if (code != 4008) return;
        // A slow consumer: no close frame in SSE, and its writer may wait on a full socket.
        d_.metrics.write_timeouts.fetch_add(1, std::memory_order_relaxed);
        beast::error_code ignored;
        stream_.socket().set_option(asio::socket_base::linger(true, 0), ignored);
        stream_.close();
    }
    void wake_writer() override { wake_.cancel_one(); }
    void ready() override {}

    static asio::awaitable<void> run(std::shared_ptr<sse_session> s,
                                     const http::beast_request& breq, http::request& req) {
        auto& d = s->d_;
        auto& m = s->m_;
        std::string token;
        if (req.authorization.rfind("Bearer ", 0) == 0)
            token = req.authorization.substr(7);
        else if (auto it = req.query.find("token"); it != req.query.end())
            token = it->second;
        std::optional<std::string> err = token.empty()
                                             ? std::optional<std::string>("authentication required")
                                             : m.authenticate(token);
        std::vector<stream> streams;
        std::string chans =
            req.query.count("channels") ? req.query.at("channels") : "timeline,notifications";
        for (std::size_t i = 0; !err && i <= chans.size();) {
            auto j = chans.find(',', i);
            if (j == std::string::npos) j = chans.size();
            bool foreign = false, stats = false;
            auto st = parse_channel(std::string_view(chans).substr(i, j - i), m.user_id(), foreign,
                                    stats);
            if (!st)
                err = foreign ? "you can only subscribe to your own streams" : "unknown channel";
            else if (std::find(streams.begin(), streams.end(), *st) == streams.end())
                streams.push_back(*st);  // a repeated channel counts once
            i = j + 1;
        }
        std::optional<long long> since;
        auto last_id = std::string(breq["Last-Event-ID"]);
        if (last_id.empty() && req.query.count("since")) last_id = req.query.at("since");
        if (!last_id.empty()) {
            since = last_id == "0" ? std::optional<long long>(0) : domain::parse_id(last_id);
            if (!since && !err) err = "Last-Event-ID must be a seq";
        }
        const bool over_cap = !err && !m.admit();
        if (err || over_cap) {
            const bool auth_failed = !m.authenticated();
            const auto code = over_cap      ? errc::rate_limited
                              : auth_failed ? errc::unauthorized
                                            : errc::bad_request;
            beast::http::response<beast::http::string_body> res{
                static_cast<beast::http::status>(http_status(code)), breq.version()};
            res.set(beast::http::field::content_type, "application/json");
            if (over_cap) res.set(beast::http::field::retry_after, "5");
            res.body() = error_body(code, over_cap ? "too many sessions for this user" : *err);
            res.keep_alive(false);
            res.prepare_payload();
            s->stream_.expires_after(d.cfg.write_timeout);
            co_await beast::http::async_write(s->stream_, res, tuple_awaitable);
            s->finish();
            co_return;
        }
        const std::string head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            "Connection: close\r\nX-Accel-Buffering: no\r\n\r\n: connected\n\n";
        s->stream_.expires_after(d.cfg.write_timeout);
        auto [ec, n] = co_await asio::async_write(s->stream_, asio::buffer(head), tuple_awaitable);
        if (ec) {
            s->finish();
            co_return;
        }
        s->written_ = n;
        s->last_write_ = clock::now();
        d.metrics.connection_opened();
        if (d.all) d.all->push_back(s);
        m.subscribe(streams, since, nullptr);
        co_await writer(s);
        d.metrics.connection_closed();
        s->finish();
    }

private:
    static asio::awaitable<void> writer(std::shared_ptr<sse_session> s) {
        auto& m = s->m_;
        std::string out;
        std::vector<queued> sent;
        while (!m.closing()) {
            if (s->stalled()) {
                s->d_.metrics.slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
                m.close(4008, "slow consumer: the stream is not being read");
                break;
            }
            if (!m.has_output()) {
                m.release_queue_if_empty();
                // Woken for the heartbeat, and often enough to watch a stalled reader.
                const auto since_write = clock::now() - s->last_write_;
                const auto hb = s->d_.cfg.heartbeat;
                const auto wait = std::min<clock::duration>(
                    since_write < hb ? hb - since_write : clock::duration::zero(),
                    s->d_.cfg.write_timeout);
                s->wake_.expires_after(wait);
                auto [ec] = co_await s->wake_.async_wait(tuple_awaitable);
                if (!ec && !m.has_output() && clock::now() - s->last_write_ >= hb) {
                    s->stream_.expires_after(s->d_.cfg.write_timeout);
                    auto [wec, wn] = co_await asio::async_write(
                        s->stream_, asio::buffer(std::string_view(": ping\n\n")), tuple_awaitable);
                    if (wec) break;
                    s->written_ += wn;
                    s->last_write_ = clock::now();
                }
                continue;
            }
            out.clear();
            sent.clear();
            while (m.has_output() && out.size() < 64 * 1024) {
                auto q = m.pop();
                if (q.ev.seq > 0) {
                    out += "id: " + std::to_string(q.ev.seq) +
                           "\nevent: " + stream_name(q.channel) + "\ndata: ";
                    out += q.ev.event_text();
                } else {
                    out += "event: control\ndata: ";
                    out += *q.ev.frame;
                }
                out += "\n\n";
                sent.push_back(std::move(q));
            }
            s->stream_.expires_after(s->d_.cfg.write_timeout);
            auto [ec, n] =
                co_await asio::async_write(s->stream_, asio::buffer(out), tuple_awaitable);
            if (ec) {
                if (ec == beast::error::timeout)
                    s->d_.metrics.write_timeouts.fetch_add(1, std::memory_order_relaxed);
                break;
            }
            s->written_ += n;
            s->last_write_ = clock::now();
            for (const auto& q : sent) s->record_sent(q);
        }
        m.set_closing();
    }

    // A client that reads a byte a second never blocks a write while the kernel takes our
    // bytes: it is caught by what the kernel still holds. Every write_timeout, bytes written
    // before the previous check that the client has not yet acknowledged (SIOCOUTQ: unsent
    // or unacknowledged) mean it took over write_timeout to read them: stalled.
    bool stalled() {
        const auto now = clock::now();
        if (now - checked_ < d_.cfg.write_timeout) return false;
        checked_ = now;
        int unacked = 0;
        if (::ioctl(stream_.socket().native_handle(), SIOCOUTQ, &unacked) != 0) return false;
        const auto held = static_cast<std::size_t>(unacked > 0 ? unacked : 0);
        const auto acked = written_ > held ? written_ - held : 0;
        const bool late = acked < mark_;
        mark_ = unacked > 0 ? written_ : 0;
        return late;
    }

    beast::tcp_stream& stream_;
    asio::steady_timer wake_;  // the writer's heartbeat, cancelled when something is queued
    std::size_t written_ = 0;  // bytes handed to the kernel
    std::size_t mark_ = 0;     // written_ at the previous check, when bytes were pending
    clock::time_point checked_ = clock::now();
    clock::time_point last_write_ = clock::now();
};

}  // namespace

asio::awaitable<void> run_sse(session_deps& deps, beast::tcp_stream& stream,
                              const http::beast_request& breq, http::request& req) {
    auto s = std::make_shared<sse_session>(deps, stream);
    co_await sse_session::run(s, breq, req);
}

}  // namespace chirp::ws
