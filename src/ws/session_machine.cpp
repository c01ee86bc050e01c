// The sans-io real-time session (see session_machine.hpp for the protocol and its guarantees).
#include "session_machine.hpp"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <utility>

#include "chirp/config/config.hpp"
#include "chirp/metrics/metrics.hpp"

using json = nlohmann::json;

namespace chirp::ws {

// A stream being replayed: the live events buffered meanwhile, and how far the replay got.
struct session_machine::replay_run {
    enum class phase : std::uint8_t { waiting, querying, resync, sending, marker, flushing };
    phase ph = phase::waiting;
    bool announce = false;  // send the "replayed" marker (a subscribe with since)
    bool overflow = false;  // live events were dropped from a full buffer: read the log again
    std::vector<live_event> buffer;
    std::vector<live_event> frames;  // the replayed events
    std::size_t next = 0;            // in frames (sending), then in buffer (flushing)
};

// Streams to replay (or, for a subscribe without since, to take live) one after the other.
struct session_machine::job {
    std::array<stream, stream_count> streams{};
    std::uint8_t count = 0;
    std::uint8_t at = 0;     // the stream being worked on
    bool subscribe = false;  // waits for the hub, sends `reply`; the reader waits for it
    bool replay = false;     // read the log (a subscribe with since, a settle, a resync)
    bool resync = false;     // answer "resync" without reading the log (replay rate limit)
    bool settle = false;     // a settling replay: reads from the stream's settle_from
    bool started = false;
    bool begun = false;  // streams[at] has its run
    std::optional<long long> since;
    long long from = 0;  // a resync told to go back to this seq (another process's gap)
    std::shared_ptr<const std::string> reply;
};

namespace {

constexpr std::uint8_t all_streams = (1u << stream_count) - 1;

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

queued control(std::shared_ptr<const std::string> frame, stream s = stream::timeline) {
    queued q;
    q.ev.frame = std::move(frame);
    q.channel = s;
    return q;
}

}  // namespace

// --- the duplicate window -------------------------------------------------------------------
// Seqs sent recently: exact duplicate suppression across replay, buffered and live events,
// including late live events below `last`. The 4,096 largest seqs sent, ascending, in one
// vector (8 bytes a seq; nothing allocated until the first event): events arrive almost
// always in ascending order, so an insert is an append and the smallest leaves first.

bool session_machine::sent_window::contains(long long seq) const {
    // A live event above the newest seq sent (the common case) needs no search of a window
    // that, across 1,000 followers, is megabytes of cache misses.
    if (empty() || seq > v_.back()) return false;
    return std::binary_search(v_.begin() + static_cast<std::ptrdiff_t>(head_), v_.end(), seq);
}

void session_machine::sent_window::insert(long long seq) {
    if (empty() || seq > v_.back())
        v_.push_back(seq);
    else
        v_.insert(std::upper_bound(v_.begin() + static_cast<std::ptrdiff_t>(head_), v_.end(), seq),
                  seq);
    if (v_.size() - head_ > size_max) ++head_;
    if (head_ >= size_max / 4) {
        v_.erase(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
    }
}

// --- the session ----------------------------------------------------------------------------

session_machine::session_machine(session_io& io, const config& cfg, metrics::registry& m)
    : io_(io), cfg_(cfg), metrics_(m) {}

session_machine::~session_machine() = default;

std::optional<std::string> session_machine::authenticate(std::string_view token) {
    auth::claims c;
    if (auto e = io_.verify(token, c)) return e;
    claims_ = std::move(c);
    authenticated_ = true;
    make_uuid(session_id_);
    const auto left = claims_.expires_at - io_.unix_now();
    deadline_ = io_.now() + std::chrono::seconds(left > 0 ? left : 0);
    rearm();
    return std::nullopt;
}

void session_machine::expect_auth(std::chrono::milliseconds timeout) {
    deadline_ = io_.now() + timeout;
    rearm();
}

bool session_machine::admit() {
    if (admitted_) return true;
    if (!io_.admit(claims_.user_id)) {
        metrics_.session_cap_refusals.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    admitted_ = true;
    metrics_.sessions.fetch_add(1);
    return true;
}

void session_machine::welcome() {
    if (!admit()) return close(4009, "too many sessions for this user");
    json ref = {
        {"id", std::to_string(claims_.user_id)},
        {"handle", claims_.handle},
        {"displayName", claims_.display_name.empty() ? claims_.handle : claims_.display_name}};
    json m = {{"type", "auth_ok"},
              {"user", std::move(ref)},
              {"session", session_id_.data()},
              {"heartbeatMs", cfg_.heartbeat.count()}};
    deliver_ephemeral(text(dump(m)));
}

void session_machine::send_error(std::string_view code, std::string_view message, long long draft) {
    json m = {{"type", "error"}, {"code", code}};
    if (draft > 0) m["draft"] = std::to_string(draft);
    m["message"] = message;
    deliver_ephemeral(text(dump(m)));
}

void session_machine::apply(const message_error& e) {
    if (e.close_code != 0)
        close(e.close_code, e.message);
    else
        send_error(e.code, e.message, e.draft);
}

std::string session_machine::user_ref_json() const {
    json ref = {
        {"id", std::to_string(claims_.user_id)},
        {"handle", claims_.handle},
        {"displayName", claims_.display_name.empty() ? claims_.handle : claims_.display_name}};
    return dump(ref);
}

void session_machine::on_message(const client_message& m) {
    const auto* err = std::get_if<message_error>(&m);
    if (err != nullptr && err->kind == message_kind::none) return apply(*err);
    if (std::holds_alternative<ping_message>(m)) {
        static const auto pong = text(R"({"type":"pong"})");
        return deliver_ephemeral(pong);
    }
    if (std::holds_alternative<auth_message>(m) || (err && err->kind == message_kind::auth)) {
        if (authenticated_)
            return send_error("already_authenticated", "this session is authenticated");
        if (err) return apply(*err);
        if (auto e = authenticate(std::get<auth_message>(m).token)) return close(4001, *e);
        return welcome();
    }
    if (!authenticated_)
        return send_error("not_authenticated", "send {\"type\":\"auth\",\"token\":...} first");
    if (err) return apply(*err);
    if (const auto* s = std::get_if<subscribe_message>(&m)) {
        stats_ = stats_ || s->stats;
        json names = json::array();
        for (const char* n : s->names) names.push_back(n);
        json reply = {{"type", "subscribed"}, {"channels", std::move(names)}};
        busy_ = true;
        return subscribe(s->streams, s->since, text(dump(reply)));
    }
    if (const auto* t = std::get_if<typing_message>(&m)) {
        json ref = {
            {"id", std::to_string(claims_.user_id)},
            {"handle", claims_.handle},
            {"displayName", claims_.display_name.empty() ? claims_.handle : claims_.display_name}};
        busy_ = true;
        return io_.send_typing(t->conversation, dump(ref));
    }
    if (on_draft_message(m)) return;
    const auto& type = std::get<unknown_message>(m).type;
    send_error("unknown_type", "unknown message type '" + type.substr(0, 40) + "'");
}

void session_machine::on_typing_done(const std::string& error) {
    if (!error.empty()) send_error("forbidden", error);
    set_ready();
}

void session_machine::set_ready() {
    if (!busy_) return;
    busy_ = false;
    io_.ready();
}

void session_machine::subscribe(const std::vector<stream>& streams, std::optional<long long> since,
                                std::shared_ptr<const std::string> reply) {
    job j;
    j.subscribe = true;
    if (since && !io_.allow_replay(claims_.user_id)) {
        // Over the per-user replay rate: no log read; each stream gets "resync".
        metrics_.replays_rate_limited.fetch_add(1, std::memory_order_relaxed);
        since.reset();
        j.resync = true;
    }
    j.replay = since.has_value();
    j.since = since;
    j.reply = std::move(reply);
    for (auto st : streams) {
        auto& c = ch(st);
        on_ |= static_cast<std::uint8_t>(1U << static_cast<unsigned>(st));
        if (since) c.last = *since;
        if (!c.run) c.run = std::make_unique<replay_run>();  // buffer from now on
        if (std::find(j.streams.begin(), j.streams.begin() + j.count, st) ==
            j.streams.begin() + j.count)
            j.streams[j.count++] = st;  // "timeline,timeline" over SSE: once
    }
    push_job(std::move(j));
}

void session_machine::resync_from_log(long long from) {
    if (closing_ || !authenticated_) return;
    job j;
    j.replay = true;
    j.from = from;
    for (std::size_t i = 0; i < stream_count; ++i) j.streams[j.count++] = static_cast<stream>(i);
    push_job(std::move(j));
    // Once more a moment later, like the settling replay after a subscribe: other processes
    // publish to this user again only once they learned it is online again.
    add_settle(all_streams);
}

void session_machine::deliver(stream s, const live_event& ev) {
    auto& c = ch(s);
    if (!on(s) || closing_) return;
    if (c.run) {
        if (c.run->buffer.size() < cfg_.replay_max * 4)
            c.run->buffer.push_back(ev);
        else
            c.run->overflow = true;
        return;
    }
    send_if_new(s, ev, false);
}

void session_machine::deliver_ephemeral(const std::shared_ptr<const std::string>& frame) {
    enqueue(control(frame));
}

// strict: only above the last seq sent (replay and buffer flush). Live events below it that
// were never sent (a cross-process race) still go out rather than vanish.
void session_machine::send_if_new(stream s, const live_event& ev, bool strict) {
    auto& c = ch(s);
    if (ev.seq == 0) {
        enqueue({ev, s});
        return;
    }
    if (c.sent.contains(ev.seq) || (strict && ev.seq <= c.last)) return;
    // A late live event below `last` goes out only when it is newer than everything that left
    // the duplicate window (older ones were sent, or replay covered them).
    if (ev.seq <= c.last && !c.sent.empty() && ev.seq < c.sent.front()) return;
    c.sent.insert(ev.seq);
    if (ev.seq > c.last) c.last = ev.seq;
    enqueue({ev, s});
}

void session_machine::enqueue(queued q) {
    if (closing_) return;
    const auto size = q.ev.frame->size();
    if (queued_messages() >= cfg_.ws_queue_messages || queued_bytes_ + size > cfg_.ws_queue_bytes) {
        metrics_.slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
        close(4008, "slow consumer: send queue over its bound; reconnect with since");
        return;
    }
    if (!queue_) queue_ = std::make_unique<std::deque<queued>>();
    queued_bytes_ += size;
    queue_->push_back(std::move(q));
    io_.wake_writer();
}

// Replay waits while the queue is half full, so that a client that missed more events than the
// queue holds gets them all instead of a 4008 (after which it would reconnect with the same
// `since` and be closed again, forever).
bool session_machine::room() const {
    return queued_messages() * 2 < cfg_.ws_queue_messages &&
           queued_bytes_ * 2 < cfg_.ws_queue_bytes;
}

queued session_machine::pop() {
    queued q = std::move(queue_->front());
    queue_->pop_front();
    queued_bytes_ -= q.ev.frame->size();
    pump();
    return q;
}

void session_machine::release_queue_if_empty() {
    if (queue_ && queue_->empty()) queue_.reset();
}

void session_machine::close(unsigned code, std::string reason) {
    closing_ = true;
    if (code == 4008) {
        // Nothing more goes out but the close: the queue's memory is given back now (a slow
        // consumer's megabytes do not wait for its socket).
        queue_.reset();
        queued_bytes_ = 0;
    }
    io_.close(code, std::move(reason));
    set_ready();  // whatever the reader waited for will not happen
}

void session_machine::set_closing() {
    closing_ = true;
    set_ready();
}

void session_machine::finish() {
    set_closing();
    if (admitted_) {
        admitted_ = false;
        metrics_.sessions.fetch_sub(1);
        io_.release(claims_.user_id);
    }
    if (attached_) {
        attached_ = false;
        io_.detach();
    }
}

void session_machine::on_attached() {
    attaching_ = false;
    pump();
}

void session_machine::push_job(job j) {
    if (!jobs_) jobs_ = std::make_unique<std::deque<job>>();
    jobs_->push_back(std::move(j));
    if (jobs_->size() == 1) pump();
}

void session_machine::on_replay(stream s, replay_frames r) {
    if (closing_ || !jobs_ || jobs_->empty()) return;
    auto& j = jobs_->front();
    auto& c = ch(s);
    if (!j.begun || j.streams[j.at] != s || !c.run || c.run->ph != replay_run::phase::querying)
        return;  // not asked for (cannot happen): ignore
    // A `since` above the log's head names events that do not exist (yet): never "replayed".
    const bool future = r.head && c.last > *r.head;
    if (r.code != errc::ok || r.over || r.events.size() > cfg_.replay_max || future) {
        // From the head on, the stream is live (what is below it, the client reloads): the
        // settling replay reads only what is newer.
        if (r.head) c.last = *r.head;
        c.run->ph = replay_run::phase::resync;
    } else {
        c.run->frames = std::move(r.events);
        c.run->next = 0;
        c.run->ph = replay_run::phase::sending;
    }
    pump();
}

// The stream being worked on is done: it is live, the job goes on with its next stream.
void session_machine::end_run(stream s) {
    ch(s).run.reset();
    auto& j = jobs_->front();
    j.begun = false;
    ++j.at;
}

// Moves the first job on as far as it can go now: it stops to wait for the hub, a replay
// query, or room in the send queue (pop() calls it again).
void session_machine::pump() {
    // Not reentrant: enqueue wakes the writer, which may pop (and so call pump) at once.
    if (pumping_) {
        repump_ = true;
        return;
    }
    pumping_ = true;
    do {
        repump_ = false;
        pump_jobs();
    } while (repump_ && !closing_);
    pumping_ = false;
}

void session_machine::pump_jobs() {
    using phase = replay_run::phase;
    while (jobs_ && !jobs_->empty() && !closing_) {
        auto& j = jobs_->front();
        if (!j.started) {
            if (j.subscribe && !attached_) {
                // Registered from now on: finish() detaches even if this never completes.
                attached_ = attaching_ = true;
                io_.attach();
                return;
            }
            if (attaching_) return;
            j.started = true;
            if (j.reply) enqueue(control(std::move(j.reply)));
            continue;
        }
        if (j.at == j.count) {
            const bool subscribe = j.subscribe;
            std::uint8_t mask = 0;
            for (std::uint8_t i = 0; i < j.count; ++i)
                mask |= static_cast<std::uint8_t>(1u << static_cast<unsigned>(j.streams[i]));
            if (subscribe && j.replay) add_settle(mask);
            jobs_->pop_front();
            if (jobs_->empty()) jobs_.reset();  // an idle session holds no job memory
            if (subscribe) set_ready();
            continue;
        }
        const stream s = j.streams[j.at];
        auto& c = ch(s);
        if (!j.begun) {
            // A settle or resync skips a stream that is off, or that a subscribe waiting behind
            // it will replay (it has its run already).
            if (!j.subscribe && (!on(s) || c.run)) {
                ++j.at;
                continue;
            }
            if (!c.run) c.run = std::make_unique<replay_run>();
            if (j.since) c.last = *j.since;
            // A settling replay reads from just above what the replay it settles read: a
            // process that did not know yet where this user is may have published an event
            // nowhere while a later one (from a process that knew) went out live, above it.
            const long long from = j.settle ? std::exchange(c.settle_from, 0) : j.from;
            if (from > 0 && from <= c.last && !c.sent.empty()) {
                // Events from `from` on may have been missed below `last` (a process could not
                // publish them): read from there, but no lower than the duplicate window
                // reaches, which tells exactly what was sent above its front.
                c.last = std::min(c.last, std::max(from, c.sent.front()) - 1);
            }
            c.run->announce = j.subscribe && j.replay;
            j.begun = true;
            if (j.resync) {
                c.run->ph = phase::resync;
                continue;
            }
            if (j.replay) {
                c.run->ph = phase::querying;
                io_.start_replay(s, claims_.user_id, c.last);
                return;
            }
            c.run->ph = phase::marker;  // skipped: no announce
        }
        auto& r = *c.run;
        switch (r.ph) {
            case phase::waiting:
            case phase::querying:
                return;
            case phase::resync: {
                // Too much missed (or the log is unreachable): the client reloads over REST.
                metrics_.resyncs.fetch_add(1, std::memory_order_relaxed);
                json m = {{"type", "resync"}, {"channel", stream_name(s)}};
                enqueue(control(text(dump(m)), s));
                auto buffered = std::move(r.buffer);
                end_run(s);  // r is gone
                for (auto& e : buffered) send_if_new(s, e, true);
                continue;
            }
            case phase::sending:
                while (r.next < r.frames.size()) {
                    if (!room()) return;
                    const auto ev = std::move(r.frames[r.next++]);
                    send_if_new(s, ev, true);
                    if (closing_) return;
                }
                std::vector<live_event>().swap(r.frames);
                if (r.overflow) {
                    // Live events were dropped while we replayed: they are in the log, read on.
                    r.overflow = false;
                    std::vector<live_event>().swap(r.buffer);
                    r.ph = phase::querying;
                    io_.start_replay(s, claims_.user_id, c.last);
                    return;
                }
                r.ph = phase::marker;
                if (r.announce) metrics_.replays.fetch_add(1, std::memory_order_relaxed);
                continue;
            case phase::marker:
                // A settling replay follows every other replay (a subscribe's, a resync's): it
                // will read from here.
                if (j.replay && !j.settle)
                    c.settle_from =
                        c.settle_from == 0 ? c.last + 1 : std::min(c.settle_from, c.last + 1);
                if (r.announce) {
                    if (!room()) return;
                    json m = {{"type", "replayed"},
                              {"channel", stream_name(s)},
                              {"upTo", std::to_string(c.last)}};
                    enqueue(control(text(dump(m)), s));
                    if (closing_) return;
                }
                // The seam: what arrived live meanwhile, in seq order, above the last seq sent.
                std::sort(r.buffer.begin(), r.buffer.end(),
                          [](const live_event& a, const live_event& b) { return a.seq < b.seq; });
                r.next = 0;
                r.ph = phase::flushing;
                continue;
            case phase::flushing:
                // Events arriving meanwhile are appended (the stream is still replaying).
                while (r.next < r.buffer.size()) {
                    if (!room()) return;
                    const auto ev = r.buffer[r.next++];
                    send_if_new(s, ev, true);
                    if (closing_) return;
                }
                end_run(s);
                continue;
        }
    }
}

void session_machine::add_settle(std::uint8_t mask) {
    const auto at = io_.now() + settle_delay;
    auto& slot = settles_[0].mask == 0 ? settles_[0] : settles_[1];
    slot.mask |= mask;
    slot.at = at;  // a third request merges into the second (later) one
    rearm();
}

void session_machine::on_timer() {
    armed_ = clock::time_point::max();
    if (closing_) return;
    const auto now = io_.now();
    if (deadline_ <= now) {
        deadline_ = clock::time_point::max();
        close(4001, authenticated_ ? "token expired" : "authentication timeout");
        return;
    }
    for (auto& slot : settles_) {
        if (slot.mask == 0 || slot.at > now) continue;
        // Settling replay: fan-out in other processes may not have known yet that we are
        // online. Streams that are replaying already are skipped when the job reaches them.
        job j;
        j.replay = true;
        j.settle = true;
        for (std::size_t i = 0; i < stream_count; ++i)
            if (slot.mask & (1u << i)) j.streams[j.count++] = static_cast<stream>(i);
        slot = settle_slot{};
        push_job(std::move(j));
    }
    if (settles_[0].mask == 0 && settles_[1].mask != 0) std::swap(settles_[0], settles_[1]);
    rearm();
}

void session_machine::rearm() {
    auto next = deadline_;
    for (const auto& slot : settles_)
        if (slot.mask != 0) next = std::min(next, slot.at);
    if (next == armed_) return;
    armed_ = next;
    if (next != clock::time_point::max()) io_.arm_timer(next);
}

}  // namespace chirp::ws
