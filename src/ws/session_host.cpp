// The event-loop side of session_machine's io, shared by the WebSocket and SSE transports.
#include "session_host.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "chirp/auth/jwt.hpp"
#include "chirp/config/config.hpp"
#include "chirp/drafts/registry.hpp"
#include "chirp/fanout/frame.hpp"
#include "chirp/metrics/metrics.hpp"

namespace asio = boost::asio;

namespace chirp::ws {

session_host::session_host(session_deps& d) : d_(d), m_(*this, d.cfg, d.metrics), timer_(d.ioc) {}

std::int64_t session_host::unix_now() const {
    return auth::unix_now();
}

std::optional<std::string> session_host::verify(std::string_view token, auth::claims& out) {
    if (auto e = d_.jwt.verify(token, out)) return std::string(auth::to_string(*e));
    return std::nullopt;
}

void session_host::attach() {
    asio::co_spawn(
        d_.ioc,
        [](std::shared_ptr<session_host> s) -> asio::awaitable<void> {
            try {
                co_await s->d_.h.attach(s.get());
            } catch (const std::exception& e) {
                s->failed(e);
            }
            s->m_.on_attached();
        }(shared_from_this()),
        asio::detached);
}

void session_host::detach() {
    d_.h.detach(this);
}

void session_host::start_replay(stream st, long long user, long long since) {
    if (!d_.batcher) d_.batcher = create_replay_batcher(d_.ioc, d_.store, d_.cfg.replay_max + 1);
    asio::co_spawn(
        d_.ioc,
        [](std::shared_ptr<session_host> s, std::shared_ptr<replay_batcher> b, stream st,
           long long user, long long since) -> asio::awaitable<void> {
            const task_scope counted(s->d_.tasks_in_flight);
            replay_frames r;
            try {
                r = co_await b->replay(st, user, since);
            } catch (const std::exception& e) {
                s->failed(e);
            }
            s->m_.on_replay(st, std::move(r));
        }(shared_from_this(), d_.batcher, st, user, since),
        asio::detached);
}

void session_host::send_typing(long long conversation, std::string user_ref) {
    asio::co_spawn(
        d_.ioc,
        [](std::shared_ptr<session_host> s, long long conv,
           std::string ref) -> asio::awaitable<void> {
            const task_scope counted(s->d_.tasks_in_flight);
            std::string err;
            try {
                err = co_await s->d_.h.typing(s->m_.user_id(), ref, conv);
            } catch (const std::exception& e) {
                s->failed(e);
            }
            s->m_.on_typing_done(err);
        }(shared_from_this(), conversation, std::move(user_ref)),
        asio::detached);
}

// One timer for every deadline of the machine. Re-arming cancels the pending wait (its
// handler sees the abort).
void session_host::arm_timer(clock::time_point at) {
    timer_.expires_at(at);
    timer_.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
        if (ec) return;
        auto s = w.lock();
        if (!s) return;
        // Re-armed after this wait had completed but before it ran: not due yet.
        if (s->timer_.expiry() > clock::now()) return;
        s->m_.on_timer();
    });
}

util::limits_region& session_host::limits() {
    if (!d_.limits) d_.limits = util::limits_region::create_private({100000, 131072, 1});
    return *d_.limits;
}

bool session_host::admit(long long user) {
    return limits().admit_session(user, d_.worker, d_.cfg.max_sessions_per_user);
}

void session_host::release(long long user) {
    limits().release_session(user, d_.worker);
}

// A token bucket per user: replays_per_minute / 60 tokens a second, at most half a minute's
// worth (at least 1) saved up.
bool session_host::allow_replay(long long user) {
    if (!d_.replay_buckets) {
        limits();
        d_.replay_buckets.emplace(d_.cfg.replays_per_minute / 60.0,
                                  std::max(1.0, d_.cfg.replays_per_minute / 2.0), d_.limits,
                                  util::limit_table::replays);
    }
    const double now = std::chrono::duration<double>(clock::now().time_since_epoch()).count();
    return d_.replay_buckets->take(std::to_string(user), now) == 0;
}

void session_host::failed(const std::exception& e) {
    spdlog::error("real-time session {}: {}", m_.session_id(), e.what());
    m_.close(1011, "internal error");
}

long long draft_editor::user_id() const {
    return s_.m_.user_id();
}

void draft_editor::send(const std::shared_ptr<const std::string>& frame) {
    s_.m_.deliver_ephemeral(frame);
}

void draft_editor::done() {
    s_.m_.on_draft_done();
}

std::uint64_t session_host::draft_session() {
    if (!draft_) {
        draft_ = std::make_unique<draft_editor>(*this, m_.user_ref_json());
        draft_->id = d_.drafts->connect(*draft_);
    }
    return draft_->id;
}

void session_host::draft_join(drafts::join_request r) {
    d_.drafts->join(draft_session(), std::move(r));
}

void session_host::draft_push(drafts::push_request r) {
    d_.drafts->push(draft_session(), std::move(r));
}

void session_host::draft_presence(drafts::presence_request r) {
    d_.drafts->presence(draft_session(), std::move(r));
}

void session_host::draft_leave(long long draft) {
    d_.drafts->leave(draft_session(), draft);
}

void session_host::finish() {
    if (draft_ && draft_->id != 0) {
        d_.drafts->disconnect(draft_->id);
        draft_->id = 0;
    }
    m_.finish();
    timer_.cancel();
}

void session_host::record_sent(const queued& q) {
    d_.metrics.delivered.fetch_add(1, std::memory_order_relaxed);
    d_.metrics.delivered_rate.add();
    if (q.ev.commit_us > 0) {
        const auto lat = now_us() - q.ev.commit_us;
        d_.metrics.delivery_latency.record(static_cast<std::uint64_t>(lat > 0 ? lat : 0));
    }
}

}  // namespace chirp::ws
