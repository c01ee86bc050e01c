// DESIGN
// A real-time session is a small state machine on the loop:
//   connected -> (auth) -> authenticated -> (subscribe [since]) -> subscribed
// Each stream (timeline, notifications, messages) tracks the last seq sent. Subscribing with
// `since` replays from PostgreSQL while live events are buffered: the session is attached to
// the hub (and Redis confirmed the subscription) before the replay query runs, so nothing
// committed meanwhile can fall between the replay and the live stream; buffered events above
// the replayed seq are flushed after it, duplicates dropped (ARCHITECTURE guarantee 4, 5).
// A second, "settling" replay a moment later catches events that other processes fanned out
// before they learned this user was online.
// Sending: one bounded queue per socket (messages and bytes) and one writer coroutine; the
// hub only enqueues. Over the bound the socket is closed with 4008: the client reconnects
// with `since` and loses nothing.
#include "session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_map>

#include "chirp/auth/jwt.hpp"
#include "chirp/config/config.hpp"
#include "chirp/domain/text.hpp"
#include "chirp/metrics/metrics.hpp"
#include "chirp/store/store.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using json = nlohmann::json;

namespace chirp::rt {

// What one replay request gets: the frames above its `since`, in seq order (at most the limit
// given to the batcher), shared between the sessions that replay the same event.
struct replay_frames {
    errc code = errc::ok;
    std::vector<std::shared_ptr<const std::string>> frames;
};

// Replays of many sessions in one read per stream (event_store::replay, store/typed_reads.cpp):
// after a reconnect storm thousands of sessions replay within a second, and one query each
// queued them behind each other on the reader threads (and built every missed event's JSON
// once per follower). Requests wait up to 2 ms for company, or until one of the (at most
// two) batches of their stream in flight is back; a batch takes up to 2,000 requests.
class replay_batcher : public std::enable_shared_from_this<replay_batcher> {
public:
    replay_batcher(asio::io_context& ioc, store::event_store& st, std::size_t limit)
        : ioc_(ioc), store_(st), limit_(limit), lanes_{lane(ioc), lane(ioc), lane(ioc)} {}

    asio::awaitable<replay_frames> replay(stream st, long long user, long long since) {
        return asio::async_initiate<const asio::use_awaitable_t<>, void(replay_frames)>(
            [this, st, user, since](auto handler) {
                // Held by pointer: Boost 1.81's any_completion_handler wraps itself again on
                // every move (its converting constructor takes itself), so it is moved never.
                add(st, user, since, std::make_unique<handler_type>(std::move(handler)));
            },
            asio::use_awaitable);
    }

private:
    using handler_type = asio::any_completion_handler<void(replay_frames)>;
    static constexpr std::size_t batch_max = 2000;
    static constexpr int in_flight_max = 2;

    struct request {
        long long user = 0;
        long long since = 0;
        std::unique_ptr<handler_type> done;
    };
    struct lane {
        explicit lane(asio::io_context& ioc) : timer(ioc) {}
        std::vector<request> pending;
        int in_flight = 0;
        bool armed = false;
        asio::steady_timer timer;
    };

    void add(stream st, long long user, long long since, std::unique_ptr<handler_type> done) {
        auto& l = lanes_[static_cast<std::size_t>(st)];
        l.pending.push_back({user, since, std::move(done)});
        if (l.armed || l.in_flight >= in_flight_max) return;  // flushed by the timer or a batch
        l.armed = true;
        l.timer.expires_after(std::chrono::milliseconds(2));
        l.timer.async_wait([self = shared_from_this(), st](const boost::system::error_code&) {
            self->lanes_[static_cast<std::size_t>(st)].armed = false;
            self->flush(st);
        });
    }

    void flush(stream st) {
        auto& l = lanes_[static_cast<std::size_t>(st)];
        while (!l.pending.empty() && l.in_flight < in_flight_max) {
            std::vector<request> batch;
            if (l.pending.size() <= batch_max) {
                batch.swap(l.pending);
            } else {
                auto first = l.pending.begin();
                auto last = first + static_cast<std::ptrdiff_t>(batch_max);
                batch.assign(std::make_move_iterator(first), std::make_move_iterator(last));
                l.pending.erase(first, last);
            }
            ++l.in_flight;
            asio::co_spawn(ioc_, run(shared_from_this(), st, std::move(batch)), asio::detached);
        }
    }

    static asio::awaitable<void> run(std::shared_ptr<replay_batcher> self, stream st,
                                     std::vector<request> batch) {
        const auto ch = st == stream::timeline        ? domain::channel::timeline
                        : st == stream::notifications ? domain::channel::notifications
                                                      : domain::channel::messages;
        std::vector<store::replay_request> requests;
        requests.reserve(batch.size());
        for (const auto& b : batch) requests.push_back({b.user, b.since});
        auto r =
            co_await self->store_.replay(ch, std::move(requests), static_cast<int>(self->limit_));
        std::vector<replay_frames> results(batch.size());
        if (!r) {
            for (auto& x : results) x.code = r.error();
        } else {
            for (std::size_t i = 0; i < results.size() && i < r->size(); ++i)
                results[i].frames = std::move((*r)[i]);
        }
        auto& l = self->lanes_[static_cast<std::size_t>(st)];
        --l.in_flight;
        for (std::size_t i = 0; i < batch.size(); ++i)
            asio::post(self->ioc_,
                       [h = std::move(batch[i].done), res = std::move(results[i])]() mutable {
                           std::move (*h)(std::move(res));
                       });
        // Whatever queued meanwhile has waited long enough: next batch now.
        if (!l.armed) self->flush(st);
    }

    asio::io_context& ioc_;
    store::event_store& store_;
    std::size_t limit_;
    std::array<lane, stream_count> lanes_;
};

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// A random (version 4) UUID, 36 characters, into `out` (no allocation: one per session).
void make_uuid(std::array<char, 37>& out) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    const auto a = rng(), b = rng();
    char* buf = out.data();
    std::snprintf(buf, out.size(), "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                  static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
}

std::shared_ptr<const std::string> text(std::string s) {
    return std::make_shared<const std::string>(std::move(s));
}

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

struct queued {
    std::shared_ptr<const std::string> frame;
    stream channel = stream::timeline;
    long long seq = 0;
    std::int64_t commit_us = 0;
};

// Shared by WebSocket and SSE: authentication result, per-stream state, replay, the bounded
// queue and its wake-up. Subclasses write the queue to their socket in their own format.
class session_core : public session_base, public std::enable_shared_from_this<session_core> {
public:
    explicit session_core(session_deps& d) : d_(d), room_(d.ioc), expiry_(d.ioc) {}

    long long user_id() const override { return claims_.user_id; }
    bool wants_stats() const override { return stats_; }

    void deliver(stream s, const live_event& ev) override {
        auto& c = ch_[static_cast<std::size_t>(s)];
        if (!c.on || closing_) return;
        if (c.replaying) {
            if (c.buffer.size() < d_.cfg.replay_max * 4)
                c.buffer.push_back(ev);
            else
                c.overflow = true;
            return;
        }
        send_if_new(s, ev);
    }

    void deliver_ephemeral(const std::shared_ptr<const std::string>& frame) override {
        enqueue({frame, stream::timeline, 0, 0});
    }

    void resync_from_log() override {
        if (closing_ || !authenticated_) return;
        asio::co_spawn(d_.ioc, replay_all(self(), std::chrono::milliseconds(0)), asio::detached);
        // Once more a moment later, like the settling replay after a subscribe: other
        // processes publish to this user again only once they learned it is online again.
        asio::co_spawn(d_.ioc, replay_all(self(), std::chrono::milliseconds(1500)), asio::detached);
    }

protected:
    // Seqs sent recently: exact duplicate suppression across replay, buffered and live events,
    // including late live events below `last`. The 4,096 largest seqs sent, ascending, in one
    // vector (8 bytes a seq; nothing allocated until the first event): events arrive almost
    // always in ascending order, so an insert is an append and the smallest leaves first.
    class sent_window {
    public:
        static constexpr std::size_t size_max = 4096;
        bool contains(long long seq) const {
            // A live event above the newest seq sent (the common case) needs no search of a
            // window that, across 1,000 followers, is megabytes of cache misses.
            if (empty() || seq > v_.back()) return false;
            return std::binary_search(v_.begin() + static_cast<std::ptrdiff_t>(head_), v_.end(),
                                      seq);
        }
        bool empty() const { return head_ == v_.size(); }
        long long front() const { return v_[head_]; }
        void insert(long long seq) {
            if (empty() || seq > v_.back())
                v_.push_back(seq);
            else
                v_.insert(std::upper_bound(v_.begin() + static_cast<std::ptrdiff_t>(head_),
                                           v_.end(), seq),
                          seq);
            if (v_.size() - head_ > size_max) ++head_;
            if (head_ >= size_max / 4) {
                v_.erase(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(head_));
                head_ = 0;
            }
        }

    private:
        std::vector<long long> v_;
        std::size_t head_ = 0;
    };

    struct channel_state {
        bool on = false;
        bool replaying = false;
        bool overflow = false;
        long long last = 0;
        std::vector<live_event> buffer;
        sent_window sent;
    };

    // The send queue: a deque allocated while something is queued only (an idle session
    // holds no queue memory).
    class send_queue {
    public:
        bool empty() const { return !q_ || q_->empty(); }
        std::size_t size() const { return q_ ? q_->size() : 0; }
        void push(queued q) {
            if (!q_) q_ = std::make_unique<std::deque<queued>>();
            q_->push_back(std::move(q));
        }
        queued pop() {
            queued q = std::move(q_->front());
            q_->pop_front();
            return q;
        }
        void release_if_empty() {
            if (q_ && q_->empty()) q_.reset();
        }

    private:
        std::unique_ptr<std::deque<queued>> q_;
    };

    std::shared_ptr<session_core> self() { return shared_from_this(); }

    replay_batcher& batcher() {
        if (!d_.batcher)
            d_.batcher = std::make_shared<replay_batcher>(d_.ioc, d_.store, d_.cfg.replay_max + 1);
        return *d_.batcher;
    }

    // {"id", "handle", "displayName"} from the token (older tokens lack the name: the handle).
    json user_ref() const {
        return {
            {"id", std::to_string(claims_.user_id)},
            {"handle", claims_.handle},
            {"displayName", claims_.display_name.empty() ? claims_.handle : claims_.display_name}};
    }

    // Overridden by the transports.
    virtual void close_with(unsigned code, std::string reason) = 0;

    bool seen(const channel_state& c, long long seq) const { return c.sent.contains(seq); }

    // strict: only above the last seq sent (replay and buffer flush). Live events below it
    // that were never sent (a cross-process race) still go out rather than vanish.
    void send_if_new(stream s, const live_event& ev, bool strict = false) {
        auto& c = ch_[static_cast<std::size_t>(s)];
        if (ev.seq == 0) {
            enqueue({ev.frame, s, 0, ev.commit_us});
            return;
        }
        if (seen(c, ev.seq) || (strict && ev.seq <= c.last)) return;
        // A late live event below `last` goes out only when it is newer than everything that
        // left the duplicate window (older ones were sent, or replay covered them).
        if (ev.seq <= c.last && !c.sent.empty() && ev.seq < c.sent.front()) return;
        c.sent.insert(ev.seq);
        if (ev.seq > c.last) c.last = ev.seq;
        enqueue({ev.frame, s, ev.seq, ev.commit_us});
    }

    void enqueue(queued q) {
        if (closing_) return;
        if (queue_.size() >= d_.cfg.ws_queue_messages ||
            queued_bytes_ + q.frame->size() > d_.cfg.ws_queue_bytes) {
            d_.metrics.slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
            close_with(4008, "slow consumer: send queue over its bound; reconnect with since");
            return;
        }
        queued_bytes_ += q.frame->size();
        queue_.push(std::move(q));
        wake_writer();
    }

    // Overridden by the transports: something was queued, or the session is closing.
    virtual void wake_writer() = 0;

    queued pop() {
        queued q = queue_.pop();
        queued_bytes_ -= q.frame->size();
        room_.cancel();
        return q;
    }

    // Replay is flow-controlled: it waits while the queue is half full, so that a client that
    // missed more events than the queue holds gets them all instead of a 4008 (after which it
    // would reconnect with the same `since` and be closed again, forever).
    asio::awaitable<void> wait_for_room() {
        while (!closing_ && (queue_.size() * 2 >= d_.cfg.ws_queue_messages ||
                             queued_bytes_ * 2 >= d_.cfg.ws_queue_bytes)) {
            room_.expires_at(asio::steady_timer::time_point::max());
            co_await room_.async_wait(tuple_awaitable);
        }
    }

    void record_sent(const queued& q) {
        d_.metrics.delivered.fetch_add(1, std::memory_order_relaxed);
        d_.metrics.delivered_rate.add();
        if (q.commit_us > 0) {
            const auto lat = now_us() - q.commit_us;
            d_.metrics.delivery_latency.record(static_cast<std::uint64_t>(lat > 0 ? lat : 0));
        }
    }

    // Validates a token; on success remembers the claims and arms the expiry timer.
    std::optional<std::string> authenticate(std::string_view token) {
        auth::claims c;
        if (auto e = d_.jwt.verify(token, c)) return std::string(auth::to_string(*e));
        claims_ = std::move(c);
        authenticated_ = true;
        make_uuid(session_id_);
        const auto left = claims_.expires_at - auth::unix_now();
        arm_expiry(std::chrono::seconds(left > 0 ? left : 0));
        return std::nullopt;
    }

    // One timer per session for both deadlines: authentication (before `auth`), then the
    // token's expiry. Re-arming cancels the pending wait (its handler sees the abort).
    void arm_expiry(std::chrono::steady_clock::duration after) {
        expiry_.expires_after(after);
        expiry_.async_wait(
            [w = std::weak_ptr<session_core>(self())](const boost::system::error_code& ec) {
                if (ec) return;
                auto s = w.lock();
                if (!s || s->closing_) return;
                // Re-armed after this wait had completed but before it ran (authenticated
                // meanwhile): the new deadline is not due yet.
                if (s->expiry_.expiry() > asio::steady_timer::clock_type::now()) return;
                if (s->authenticated_)
                    s->close_with(4001, "token expired");
                else
                    s->close_with(4001, "authentication timeout");
            });
    }

    // Turns streams on; with `since`, replays each from the log before going live.
    // `reply` ("subscribed") goes out once the hub attached the session (Redis confirmed its
    // channels, celebrity authors included): an event committed after the client saw it is
    // delivered. Live events meanwhile are buffered and follow the reply (and the replay).
    static asio::awaitable<void> subscribe(std::shared_ptr<session_core> s,
                                           std::vector<stream> streams,
                                           std::optional<long long> since,
                                           std::shared_ptr<const std::string> reply) {
        for (auto st : streams) {
            auto& c = s->ch_[static_cast<std::size_t>(st)];
            c.on = true;
            c.replaying = true;
            if (since) c.last = *since;
        }
        if (!s->attached_) {
            s->attached_ = true;
            co_await s->d_.h.attach(s.get());
        }
        if (s->closing_) co_return;
        if (reply) s->enqueue({reply, stream::timeline, 0, 0});
        if (!since) {
            for (auto st : streams) co_await flush_buffer(s, st);
            co_return;
        }
        for (auto st : streams) co_await replay(s, st, true);
        asio::co_spawn(s->d_.ioc, settle(s, std::move(streams)), asio::detached);
    }

    // Sends the live events buffered while replaying (in seq order, above the last sent) and
    // goes live. Events arriving while this waits for room are appended (still "replaying").
    static asio::awaitable<void> flush_buffer(std::shared_ptr<session_core> s, stream st) {
        auto& c = s->ch_[static_cast<std::size_t>(st)];
        std::sort(c.buffer.begin(), c.buffer.end(),
                  [](const live_event& a, const live_event& b) { return a.seq < b.seq; });
        for (std::size_t i = 0; i < c.buffer.size(); ++i) {
            co_await s->wait_for_room();
            if (s->closing_) co_return;
            auto ev = c.buffer[i];
            s->send_if_new(st, ev, true);
        }
        std::vector<live_event>().swap(c.buffer);
        c.overflow = false;
        c.replaying = false;
    }

    // Settling replay: fan-out in other processes may not have known yet that we are online.
    static asio::awaitable<void> settle(std::shared_ptr<session_core> s,
                                        std::vector<stream> streams) {
        asio::steady_timer t(s->d_.ioc);
        t.expires_after(std::chrono::milliseconds(1500));
        co_await t.async_wait(tuple_awaitable);
        if (s->closing_) co_return;
        for (auto st : streams) {
            auto& c = s->ch_[static_cast<std::size_t>(st)];
            if (c.on && !c.replaying) {
                c.replaying = true;
                co_await replay(s, st, false);
            }
        }
    }

    static asio::awaitable<void> replay_all(std::shared_ptr<session_core> s,
                                            std::chrono::milliseconds delay) {
        if (delay.count() > 0) {
            asio::steady_timer t(s->d_.ioc);
            t.expires_after(delay);
            co_await t.async_wait(tuple_awaitable);
            if (s->closing_) co_return;
        }
        for (std::size_t i = 0; i < stream_count; ++i) {
            auto& c = s->ch_[i];
            if (!c.on || c.replaying) continue;
            c.replaying = true;
            co_await replay(s, static_cast<stream>(i), false);
        }
    }

    // Replays one stream above c.last; `announce` sends the "replayed" marker. Live events of
    // the stream are buffered meanwhile; if that buffer overflowed, the log is read again.
    static asio::awaitable<void> replay(std::shared_ptr<session_core> s, stream st, bool announce) {
        auto& c = s->ch_[static_cast<std::size_t>(st)];
        for (;;) {
            auto& batcher = s->batcher();
            const long long user = s->claims_.user_id;
            const long long since = c.last;
            auto r = co_await batcher.replay(st, user, since);
            if (s->closing_) co_return;
            auto& frames = r.frames;
            if (r.code != errc::ok || frames.size() > s->d_.cfg.replay_max) {
                // Too much missed (or the log is unreachable): the client reloads over REST.
                s->d_.metrics.resyncs.fetch_add(1, std::memory_order_relaxed);
                json m = {{"type", "resync"}, {"channel", stream_name(st)}};
                s->enqueue({text(dump(m)), st, 0, 0});
                c.overflow = false;
                c.replaying = false;
                for (auto& ev : c.buffer) s->send_if_new(st, ev, true);
                std::vector<live_event>().swap(c.buffer);
                co_return;
            }
            for (auto& f : frames) {
                co_await s->wait_for_room();
                if (s->closing_) co_return;
                live_event ev;
                ev.seq = frame_seq(*f);
                ev.frame = std::move(f);
                s->send_if_new(st, ev, true);
            }
            if (!c.overflow) break;
            // Live events were dropped while we replayed: they are in the log, read on.
            c.overflow = false;
            std::vector<live_event>().swap(c.buffer);
        }
        if (announce) {
            s->d_.metrics.replays.fetch_add(1, std::memory_order_relaxed);
            co_await s->wait_for_room();
            if (s->closing_) co_return;
            json m = {{"type", "replayed"},
                      {"channel", stream_name(st)},
                      {"upTo", std::to_string(c.last)}};
            s->enqueue({text(dump(m)), st, 0, 0});
        }
        co_await flush_buffer(s, st);
    }

    void finish() {
        closing_ = true;
        expiry_.cancel();
        wake_writer();
        room_.cancel();
        if (attached_) {
            attached_ = false;
            d_.h.detach(this);
        }
    }

    session_deps& d_;
    auth::claims claims_;
    bool authenticated_ = false;
    bool attached_ = false;
    bool closing_ = false;
    bool stats_ = false;
    std::array<char, 37> session_id_{};  // NUL-terminated
    std::array<channel_state, stream_count> ch_;
    send_queue queue_;
    std::size_t queued_bytes_ = 0;
    asio::steady_timer room_;  // woken when the writer takes from the queue
    asio::steady_timer expiry_;
};

bool origin_allowed(const config& cfg, std::string_view origin, std::string_view host) {
    if (origin.empty()) return true;  // not a browser
    if (!cfg.allowed_origins.empty())
        return std::find(cfg.allowed_origins.begin(), cfg.allowed_origins.end(), origin) !=
               cfg.allowed_origins.end();
    auto strip = [](std::string_view o) {
        for (std::string_view p : {"http://", "https://"})
            if (o.substr(0, p.size()) == p) return o.substr(p.size());
        return std::string_view{};
    };
    const auto o = strip(origin);
    if (o.empty()) return false;
    if (o == host) return true;  // the server's own origin
    const auto hostname = o.substr(0, o.find(':'));
    return hostname == "localhost" || hostname == "127.0.0.1" || hostname == "[::1]";
}

// Maps "timeline" or "timeline:<own id>" to a stream; sets `foreign` for another user's id.
std::optional<stream> parse_channel(const std::string& name, long long user, bool& foreign,
                                    bool& stats) {
    auto colon = name.find(':');
    const std::string base = name.substr(0, colon);
    if (colon != std::string::npos) {
        auto id = domain::parse_id(std::string_view(name).substr(colon + 1));
        if (!id || *id != user) {
            foreign = true;
            return std::nullopt;
        }
    }
    if (base == "timeline") return stream::timeline;
    if (base == "notifications") return stream::notifications;
    if (base == "messages") return stream::messages;
    if (base == "stats" && colon == std::string::npos) stats = true;
    return std::nullopt;
}

class ws_session final : public session_core {
public:
    ws_session(session_deps& d, asio::ip::tcp::socket s, http::beast_request r)
        : session_core(d),
          ws_(std::move(s)),
          req_(std::make_unique<http::beast_request>(std::move(r))),
          refill_(std::chrono::steady_clock::now()) {
        tokens_ = 2.0 * d.cfg.ws_rate_limit;
    }

    void go_away() override { close_with(1001, "server going away"); }

    void close_with(unsigned code, std::string reason) override {
        if (close_code_ != 0) return;
        close_code_ = code;
        close_reason_ = std::move(reason);
        closing_ = true;
        wake_writer();
        room_.cancel();
    }

    // The session's coroutine is the reader; the handshake runs in its own coroutine so that
    // its locals (the upgrade request, the response) are gone once the socket is open.
    static asio::awaitable<void> run(std::shared_ptr<ws_session> s, std::string ip) {
        const bool open = co_await handshake(s, std::move(ip));
        if (!open) co_return;
        co_await reader(s);
        if (s->authenticated_) s->d_.metrics.sessions.fetch_sub(1);
        s->d_.metrics.connection_closed();
        s->finish();
    }

private:
    static asio::awaitable<bool> handshake(std::shared_ptr<ws_session> s, std::string ip) {
        auto& d = s->d_;
        auto& req = *s->req_;
        const auto origin = std::string(req[beast::http::field::origin]);
        if (!origin_allowed(d.cfg, origin, req[beast::http::field::host])) {
            spdlog::info("websocket from {} refused: origin {}", ip, origin);
            beast::http::response<beast::http::string_body> res{beast::http::status::forbidden,
                                                                req.version()};
            res.set(beast::http::field::content_type, "application/json");
            res.body() = error_body(errc::forbidden, "origin not allowed");
            res.keep_alive(false);
            res.prepare_payload();
            co_await beast::http::async_write(s->ws_.next_layer(), res, tuple_awaitable);
            beast::error_code ignored;
            s->ws_.next_layer().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
            co_return false;
        }
        // Non-browser clients may authenticate on the upgrade request.
        std::optional<std::string> header_error;
        const auto authz = std::string(req[beast::http::field::authorization]);
        if (authz.rfind("Bearer ", 0) == 0)
            header_error = s->authenticate(std::string_view(authz).substr(7));

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

        if (header_error) {
            s->close_with(4001, *header_error);
        } else if (s->authenticated_) {
            d.metrics.sessions.fetch_add(1);
            s->send_auth_ok();
        } else {
            s->arm_expiry(d.cfg.ws_auth_timeout);
        }
        if (d.stopping && *d.stopping) s->go_away();
        co_return true;
    }

    void send_auth_ok() {
        json m = {{"type", "auth_ok"},
                  {"user", user_ref()},
                  {"session", session_id_.data()},
                  {"heartbeatMs", d_.cfg.heartbeat.count()}};
        deliver_ephemeral(text(dump(m)));
    }

    void send_error(std::string_view code, std::string_view message) {
        json m = {{"type", "error"}, {"code", code}, {"message", message}};
        deliver_ephemeral(text(dump(m)));
    }

    // The writer runs only while there is something to send (or a close to send): an idle
    // session has no writer coroutine and no queue.
    void wake_writer() override {
        if (writing_ || !open_ || close_sent_) return;
        if (queue_.empty() && !(closing_ && close_code_ != 0)) return;
        writing_ = true;
        auto self = std::static_pointer_cast<ws_session>(shared_from_this());
        asio::co_spawn(d_.ioc, writer(std::move(self)), asio::detached);
    }

    // A burst (a replay, or frames that queued up behind a slow write) is corked: the frames
    // leave in full TCP segments when the queue is drained, instead of one segment (and one
    // wake-up of the receiver) each.
    void cork(bool on) {
        const int v = on ? 1 : 0;
        ::setsockopt(ws_.next_layer().native_handle(), IPPROTO_TCP, TCP_CORK, &v, sizeof v);
    }

    static asio::awaitable<void> writer(std::shared_ptr<ws_session> s) {
        const bool corked = s->queue_.size() > 1;
        if (corked) s->cork(true);
        while (!s->closing_ && !s->queue_.empty()) {
            auto q = s->pop();
            auto [ec, n] = co_await s->ws_.async_write(asio::buffer(*q.frame), tuple_awaitable);
            (void)n;
            if (ec) {
                s->closing_ = true;
                break;
            }
            s->record_sent(q);
        }
        if (corked && s->ws_.next_layer().is_open()) s->cork(false);
        if (s->closing_ && s->close_code_ != 0 && !s->close_sent_ && s->ws_.is_open()) {
            s->close_sent_ = true;
            websocket::close_reason cr(static_cast<std::uint16_t>(s->close_code_));
            cr.reason = s->close_reason_.substr(0, 120);
            co_await s->ws_.async_close(cr, tuple_awaitable);
        }
        s->queue_.release_if_empty();
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
            if (s->closing_) continue;  // drain until the peer answers our close
            if (!s->ws_.got_text()) {
                s->close_with(1003, "binary frames are not accepted");
                continue;
            }
            if (!s->take_token()) {
                s->close_with(4029, "rate limited");
                continue;
            }
            bool failed = false;
            try {
                co_await s->handle(s, msg);
            } catch (const std::exception& e) {
                spdlog::error("websocket session {}: {}", s->session_id_.data(), e.what());
                failed = true;
            }
            if (failed) s->close_with(1011, "internal error");
        }
        s->closing_ = true;
        s->wake_writer();
    }

    static asio::awaitable<void> handle(std::shared_ptr<ws_session> s, const std::string& msg) {
        auto j = json::parse(msg, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
            s->send_error("bad_json", "messages must be JSON objects");
            co_return;
        }
        auto t = j.find("type");
        if (t == j.end() || !t->is_string()) {
            s->send_error("missing_field", "type is required");
            co_return;
        }
        const auto type = t->get<std::string>();
        if (type == "ping") {
            s->deliver_ephemeral(text(R"({"type":"pong"})"));
        } else if (type == "auth") {
            if (s->authenticated_) {
                s->send_error("already_authenticated", "this session is authenticated");
                co_return;
            }
            auto tok = j.find("token");
            if (tok == j.end() || !tok->is_string()) {
                s->close_with(4001, "token is required");
                co_return;
            }
            if (auto e = s->authenticate(tok->get<std::string>())) {
                s->close_with(4001, *e);
                co_return;
            }
            s->d_.metrics.sessions.fetch_add(1);
            s->send_auth_ok();
        } else if (!s->authenticated_) {
            s->send_error("not_authenticated", "send {\"type\":\"auth\",\"token\":...} first");
        } else if (type == "subscribe") {
            co_await s->handle_subscribe(s, j);
        } else if (type == "typing") {
            auto c = j.find("conversation");
            std::optional<long long> conv;
            if (c != j.end() && c->is_string()) conv = domain::parse_id(c->get<std::string>());
            if (!conv) {
                s->send_error("missing_field", "conversation is required");
                co_return;
            }
            json ref = s->user_ref();
            const auto ref_text = dump(ref);
            auto err = co_await s->d_.h.typing(s->claims_.user_id, ref_text, *conv);
            if (!err.empty()) s->send_error("forbidden", err);
        } else {
            s->send_error("unknown_type", "unknown message type '" + type.substr(0, 40) + "'");
        }
    }

    static asio::awaitable<void> handle_subscribe(std::shared_ptr<ws_session> s, const json& j) {
        auto chans = j.find("channels");
        if (chans == j.end() || !chans->is_array() || chans->empty()) {
            s->send_error("missing_field", "channels must be a non-empty array");
            co_return;
        }
        std::vector<stream> streams;
        json names = json::array();
        bool stats = false;
        for (const auto& c : *chans) {
            if (!c.is_string()) {
                s->send_error("bad_channel", "channel names are strings");
                co_return;
            }
            bool foreign = false, is_stats = false;
            auto st = parse_channel(c.get<std::string>(), s->claims_.user_id, foreign, is_stats);
            if (foreign) {
                s->close_with(1008, "you can only subscribe to your own streams");
                co_return;
            }
            if (!st && !is_stats) {
                s->send_error("bad_channel",
                              "unknown channel '" + c.get<std::string>().substr(0, 40) + "'");
                co_return;
            }
            stats = stats || is_stats;
            if (st && std::find(streams.begin(), streams.end(), *st) == streams.end())
                streams.push_back(*st);
            names.push_back(st ? stream_name(*st) : "stats");
        }
        std::optional<long long> since;
        if (auto sn = j.find("since"); sn != j.end() && !sn->is_null()) {
            if (sn->is_string() && sn->get<std::string>() == "0")
                since = 0;
            else if (sn->is_string())
                since = domain::parse_id(sn->get<std::string>());
            else if (sn->is_number_unsigned())
                since = sn->get<long long>();
            if (!since) {
                s->send_error("bad_since", "since must be a seq");
                co_return;
            }
        }
        s->stats_ = s->stats_ || stats;
        json reply = {{"type", "subscribed"}, {"channels", names}};
        auto reply_frame = text(dump(reply));
        co_await subscribe(s, std::move(streams), since, std::move(reply_frame));
    }

    websocket::stream<asio::ip::tcp::socket> ws_;
    std::unique_ptr<http::beast_request> req_;  // until the handshake is done
    bool open_ = false;                         // handshake done: the writer may run
    bool writing_ = false;
    bool close_sent_ = false;
    unsigned close_code_ = 0;
    std::string close_reason_;
    double tokens_;
    std::chrono::steady_clock::time_point refill_;
};

class sse_session final : public session_core {
public:
    sse_session(session_deps& d, beast::tcp_stream& s)
        : session_core(d), stream_(s), wake_(d.ioc) {}

    void go_away() override { close_with(1001, "server going away"); }
    void close_with(unsigned, std::string) override {
        closing_ = true;
        wake_.cancel();
        room_.cancel();
    }
    void wake_writer() override { wake_.cancel_one(); }

    static asio::awaitable<void> run(std::shared_ptr<sse_session> s,
                                     const http::beast_request& breq, http::request& req) {
        auto& d = s->d_;
        std::string token;
        if (req.authorization.rfind("Bearer ", 0) == 0)
            token = req.authorization.substr(7);
        else if (auto it = req.query.find("token"); it != req.query.end())
            token = it->second;
        std::optional<std::string> err = token.empty()
                                             ? std::optional<std::string>("authentication required")
                                             : s->authenticate(token);
        std::vector<stream> streams;
        std::string chans =
            req.query.count("channels") ? req.query.at("channels") : "timeline,notifications";
        for (std::size_t i = 0; !err && i <= chans.size();) {
            auto j = chans.find(',', i);
            if (j == std::string::npos) j = chans.size();
            bool foreign = false, stats = false;
            auto st = parse_channel(chans.substr(i, j - i), s->claims_.user_id, foreign, stats);
            if (!st)
                err = foreign ? "you can only subscribe to your own streams" : "unknown channel";
            else
                streams.push_back(*st);
            i = j + 1;
        }
        std::optional<long long> since;
        auto last_id = std::string(breq["Last-Event-ID"]);
        if (last_id.empty() && req.query.count("since")) last_id = req.query.at("since");
        if (!last_id.empty()) {
            since = last_id == "0" ? std::optional<long long>(0) : domain::parse_id(last_id);
            if (!since && !err) err = "Last-Event-ID must be a seq";
        }
        if (err) {
            const bool auth_failed = !s->authenticated_;
            beast::http::response<beast::http::string_body> res{
                auth_failed ? beast::http::status::unauthorized : beast::http::status::bad_request,
                breq.version()};
            res.set(beast::http::field::content_type, "application/json");
            res.body() = error_body(auth_failed ? errc::unauthorized : errc::bad_request, *err);
            res.keep_alive(false);
            res.prepare_payload();
            co_await beast::http::async_write(s->stream_, res, tuple_awaitable);
            co_return;
        }
        const std::string head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            "Connection: close\r\nX-Accel-Buffering: no\r\n\r\n: connected\n\n";
        s->stream_.expires_never();
        auto [ec, n] = co_await asio::async_write(s->stream_, asio::buffer(head), tuple_awaitable);
        (void)n;
        if (ec) co_return;
        d.metrics.connection_opened();
        d.metrics.sessions.fetch_add(1);
        if (d.all) d.all->push_back(s);
        asio::co_spawn(d.ioc, subscribe(s, streams, since, nullptr), asio::detached);
        co_await writer(s);
        d.metrics.sessions.fetch_sub(1);
        d.metrics.connection_closed();
        s->finish();
    }

private:
    static asio::awaitable<void> writer(std::shared_ptr<sse_session> s) {
        std::string out;
        while (!s->closing_) {
            if (s->queue_.empty()) {
                s->wake_.expires_after(s->d_.cfg.heartbeat);
                auto [ec] = co_await s->wake_.async_wait(tuple_awaitable);
                if (!ec && s->queue_.empty()) {
                    auto [wec, wn] = co_await asio::async_write(
                        s->stream_, asio::buffer(std::string_view(": ping\n\n")), tuple_awaitable);
                    (void)wn;
                    if (wec) break;
                }
                continue;
            }
            out.clear();
            std::vector<queued> sent;
            while (!s->queue_.empty() && out.size() < 64 * 1024) {
                auto q = s->pop();
                if (q.seq > 0) {
                    out += "id: " + std::to_string(q.seq) + "\nevent: " + stream_name(q.channel) +
                           "\ndata: ";
                    out += frame_event(*q.frame);
                } else {
                    out += "event: control\ndata: ";
                    out += *q.frame;
                }
                out += "\n\n";
                sent.push_back(std::move(q));
            }
            auto [ec, n] =
                co_await asio::async_write(s->stream_, asio::buffer(out), tuple_awaitable);
            (void)n;
            if (ec) break;
            for (const auto& q : sent) s->record_sent(q);
        }
        s->closing_ = true;
    }

    beast::tcp_stream& stream_;
    asio::steady_timer wake_;  // the writer's heartbeat, cancelled when something is queued
};

}  // namespace

const char* stream_name(stream s) noexcept {
    switch (s) {
        case stream::timeline:
            return "timeline";
        case stream::notifications:
            return "notifications";
        case stream::messages:
            return "messages";
    }
    return "timeline";
}

long long frame_seq(std::string_view f) noexcept {
    auto p = f.find("\"seq\"");
    if (p == std::string_view::npos) return 0;
    p += 5;
    while (p < f.size() && (f[p] == ':' || f[p] == ' ' || f[p] == '"')) ++p;
    long long v = 0;
    while (p < f.size() && f[p] >= '0' && f[p] <= '9') v = v * 10 + (f[p++] - '0');
    return v;
}

std::string_view frame_event(std::string_view f) noexcept {
    auto p = f.find("\"event\"");
    if (p == std::string_view::npos) return f;
    p = f.find('{', p);
    if (p == std::string_view::npos || f.empty()) return f;
    // The event object runs to the end of the frame when "event" is the last key (ours and
    // jsonb's order); otherwise find its closing brace by counting.
    int depth = 0;
    bool in_str = false;
    for (std::size_t i = p; i < f.size(); ++i) {
        const char c = f[i];
        if (in_str) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{') {
            ++depth;
        } else if (c == '}' && --depth == 0) {
            return f.substr(p, i - p + 1);
        }
    }
    return f.substr(p);
}

std::int64_t now_us() noexcept {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void run_websocket(session_deps& deps, beast::tcp_stream stream, http::beast_request req,
                   std::string ip) {
    // The WebSocket stream has its own timeouts: the plain socket is enough beneath it (a
    // beast::tcp_stream would keep its timers and their state for the life of the session).
    auto s = std::make_shared<ws_session>(deps, stream.release_socket(), std::move(req));
    asio::co_spawn(deps.ioc, ws_session::run(s, std::move(ip)), asio::detached);
}

asio::awaitable<void> run_sse(session_deps& deps, beast::tcp_stream& stream,
                              const http::beast_request& breq, http::request& req) {
    auto s = std::make_shared<sse_session>(deps, stream);
    co_await sse_session::run(s, breq, req);
}

}  // namespace chirp::rt
