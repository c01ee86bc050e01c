// DESIGN
// The hub: which local sessions belong to which user, and the Redis side of real time.
//  - Every process subscribes chirp:timeline (all timeline events), chirp:follows and
//    chirp:presence at start.
//  - First session of user U here: SUBSCRIBE notifications:U messages:U, mark U online
//    (sorted set chirp:online with expiry scores, refreshed every 20 s, plus a chirp:presence
//    message so other processes learn it at once), and subscribe author:A for every celebrity
//    A that U follows. Last session gone: the reverse.
//  - Fan-out (on_committed, on the loop, never suspends): a committed tweet is published ONCE
//    to chirp:timeline with its recipient list (the author and every online follower); each
//    process hands it to the sessions of the recipients it has. One Redis message per event
//    and process instead of one per follower: Redis, the subscriber socket and hiredis carry
//    1/F of the traffic, and the frame is copied once per process, not once per follower.
//    Celebrity authors (followers > threshold) publish once to author:A instead, delivered to
//    the local followers each process knows. Notifications go to notifications:U, messages to
//    messages:U. Payload = "<seq> <commit_us>\n[<recipients>\n]<frame>", the frame serialized
//    once by the event writer.
//  - Sessions are created by ws/ and attach here through the `hub` interface.
//  - Redis messages are turned into one shared live_event and enqueued on each local session.
//  - Payload formats: codec.hpp (one encoder and one decoder each).
//  - The timeline cache (timeline/) queues its chirp:tweets broadcast on this hub's command
//    connection (publisher()); the app calls it before on_committed, so the flush below
//    carries both.
//  - A write is answered once its publishes are in Redis: when other chirpd processes share
//    this Redis (they say hello on chirp:nodes), only after Redis executed them (a PING behind
//    them), so that an answered write's event cannot reach Redis after the next one's, written
//    through another process; alone, as soon as they are written to Redis' socket.
//  - Redis lost and back: every session replays from the log (nothing published meanwhile is
//    trusted), follower caches are dropped.
//  - Events this process could not publish (Redis down or too slow: dropped, or unconfirmed
//    when the connection was lost) must still reach followers on other processes, which
//    never lost Redis: once Redis is back (gap_watch, at once after a reconnect) this
//    process publishes on chirp:gaps "<node> <lowest seq lost>", and every process (this one
//    too) replays its sessions from that seq (session_machine: below the last seq sent, kept
//    exactly-once by the duplicate window) and drops its follower caches. The home-timeline
//    caches listen too (their broadcasts on this connection may be lost as well).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "chirp/config/config.hpp"
#include "chirp/fanout/codec.hpp"
#include "chirp/fanout/frame.hpp"
#include "chirp/metrics/metrics.hpp"
#include "chirp/util/strings.hpp"
#include "hub_impl.hpp"

using json = nlohmann::json;

namespace chirp::fanout::detail {

hub_impl::hub_impl(asio::io_context& ioc, const config& cfg, metrics::registry& m,
                   store::event_store& st, stats_renderer stats)
    : ioc_(ioc), cfg_(cfg), metrics_(m), store_(st), stats_(std::move(stats)), timer_(ioc) {
    redis::callbacks cbs;
    cbs.on_message = [this](std::string_view ch, std::string_view payload) {
        on_message(ch, payload);
    };
    cbs.on_reconnected = [this] { on_redis_back(); };
    cbs.on_connected = [this] {
        metrics_.redis_up.store(1);
        say_hello();
    };
    cbs.on_lost = [this] {
        spdlog::warn("live updates paused until Redis is back; sessions will replay");
        metrics_.redis_up.store(0);
        publishes_lost();
    };
    cbs.on_event = [this](redis::event e) {
        auto& counter = e == redis::event::dropped          ? metrics_.redis_dropped
                        : e == redis::event::timeout        ? metrics_.redis_timeouts
                        : e == redis::event::health_failure ? metrics_.redis_health_failures
                                                            : metrics_.redis_connect_failures;
        counter.fetch_add(1, std::memory_order_relaxed);
    };
    redis_ = redis::create_client(ioc, cfg.redis_url, std::move(cbs),
                                  {cfg.redis_timeout, cfg.redis_queue_bytes});
}

void hub_impl::start() {
    redis_->subscribe(std::string(follows_channel));
    redis_->subscribe(std::string(presence_channel));
    redis_->subscribe(std::string(timeline_channel));
    redis_->subscribe(std::string(nodes_channel));
    redis_->subscribe(std::string(redis::gap_channel));
    redis_->start();
    asio::co_spawn(ioc_, housekeeping(), asio::detached);
    asio::co_spawn(ioc_, gap_watch(), asio::detached);
}

void hub_impl::begin_shutdown() {
    stopping_ = true;
    timer_.cancel();
    gap_timer_.cancel();
}

void hub_impl::stop() {
    stopping_ = true;
    timer_.cancel();
    gap_timer_.cancel();
    redis_->stop();
}

redis::client& hub_impl::publisher() {
    return *redis_;
}

bool hub_impl::redis_ready() const {
    return redis_->ready();
}

void hub_impl::stats_fields(std::string& out) const {
    out += ",\"redis\":\"" + std::string(redis_->ready() ? "up" : "down") + "\"";
    out += ",\"localUsers\":" + std::to_string(local_.size());
    out += ",\"redisSubscriptions\":" + std::to_string(redis_->subscription_count());
}

asio::awaitable<void> hub_impl::attach(session_base* s) {
    const long long u = s->user_id();
    auto& list = local_[u];
    list.push_back(s);
    if (list.size() == 1) {
        redis_->subscribe(encode_channel({channel_kind::notifications, u}));
        redis_->subscribe(encode_channel({channel_kind::messages, u}));
        redis_->send(
            util::strings("ZADD", online_key, std::to_string(now_s() + 60), encode_user_id(u)));
        publish(presence_channel, encode_presence_message({true, u}));
        co_await load_celebrities(u);
    }
    co_await redis_->subscriptions_settled();
}

void hub_impl::detach(session_base* s) {
    const long long u = s->user_id();
    auto it = local_.find(u);
    if (it == local_.end()) return;
    std::erase(it->second, s);
    if (!it->second.empty()) return;
    local_.erase(it);
    redis_->unsubscribe(encode_channel({channel_kind::notifications, u}));
    redis_->unsubscribe(encode_channel({channel_kind::messages, u}));
    redis_->send(util::strings("ZREM", online_key, encode_user_id(u)));
    publish(presence_channel, encode_presence_message({false, u}));
    drop_celebrities(u);
}

asio::awaitable<std::string> hub_impl::typing(long long user, const std::string& user_ref,
                                              long long conv) {
    auto members = co_await conversation_members(conv);
    if (std::find(members.begin(), members.end(), user) == members.end())
        co_return std::string("you are not in this conversation");
    const auto key = std::to_string(user) + ":" + std::to_string(conv);
    const auto now = std::chrono::steady_clock::now();
    auto& last = typing_last_[key];
    if (last.time_since_epoch().count() != 0 && now - last < std::chrono::seconds(2)) {
        metrics_.typing_dropped.fetch_add(1, std::memory_order_relaxed);
        co_return std::string();
    }
    last = now;
    const auto frame = typing_frame(conv, user_ref, 5000);
    for (auto m : members)
        if (m != user) publish_ephemeral(m, frame);
    co_return std::string();
}

std::int64_t hub_impl::now_s() {
    return now_us() / 1000000;
}

bool hub_impl::is_online(long long u) const {
    // Until this process has read chirp:online once, it does not know who is online elsewhere:
    // every follower counts (a process started or restarted beside running ones, e.g. a worker
    // of --workers N, would otherwise leave their followers out of its first seconds of tweets).
    return !presence_loaded_ || local_.count(u) != 0 || online_remote_.count(u) != 0;
}

void hub_impl::publish(std::string_view channel, std::string_view payload, long long seq) {
    const auto w = redis_->publish(channel, payload);
    if (seq <= 0) return;
    if (w == 0) {
        note_gap(seq);
        return;
    }
    // Remember it until Redis confirms it (a reply behind it): if the connection is lost
    // before, it may not have reached Redis.
    const auto ok = redis_->confirmed();
    while (!unconfirmed_.empty() && unconfirmed_.front().first <= ok) unconfirmed_.pop_front();
    if (overflow_write_ != 0 && overflow_write_ <= ok) overflow_write_ = overflow_seq_ = 0;
    if (unconfirmed_.size() >= max_unconfirmed) {
        const auto [fw, fs] = unconfirmed_.front();
        overflow_write_ = std::max(overflow_write_, fw);
        overflow_seq_ = overflow_seq_ == 0 ? fs : std::min(overflow_seq_, fs);
        unconfirmed_.pop_front();
    }
    unconfirmed_.emplace_back(w, seq);
}

void hub_impl::note_gap(long long seq) {
    gap_from_ = gap_from_ == 0 ? seq : std::min(gap_from_, seq);
}

// The connection is gone: what Redis had not confirmed may be lost.
void hub_impl::publishes_lost() {
    const auto ok = redis_->confirmed();
    for (const auto& [w, seq] : unconfirmed_)
        if (w > ok) note_gap(seq);
    if (overflow_write_ > ok) note_gap(overflow_seq_);
    unconfirmed_.clear();
    overflow_write_ = overflow_seq_ = 0;
}

// Tells every process (this one too) to replay from the lowest seq this process could not
// publish, once Redis is back: right after a reconnect, and every second (a write dropped
// while connected, when the queue toward Redis was full).
void hub_impl::publish_gap_hint() {
    if (!redis_->ready() || stopping_) return;
    if (redis_->lost_writes() == hinted_lost_ && gap_from_ == 0) return;
    const auto from = gap_from_;
    const auto lost = redis_->lost_writes();
    if (redis_->publish(redis::gap_channel, encode_gap_hint(node_id_, from)) == 0) return;
    gap_from_ = 0;
    metrics_.redis_gap_hints_sent.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn(
        "redis: {} writes may not have reached Redis; told every process to replay from seq {}",
        lost - std::exchange(hinted_lost_, lost), from);
}

asio::awaitable<void> hub_impl::gap_watch() {
    while (!stopping_) {
        gap_timer_.expires_after(std::chrono::seconds(1));
        co_await gap_timer_.async_wait(tuple_awaitable);
        if (stopping_) break;
        publish_gap_hint();
    }
}

void hub_impl::on_gap_hint(long long from) {
    metrics_.redis_gap_hints_received.fetch_add(1, std::memory_order_relaxed);
    followers_.clear();  // chirp:follows messages may be lost too
    celeb_cache_.clear();
    if (from <= 0) return;
    for (auto& [u, list] : local_)
        for (auto* s : list) s->resync_from_log(from);
}

// Typing frames reach the messages:U channel with seq 0 (ephemeral, never replayed).
void hub_impl::publish_ephemeral(long long user, const std::string& frame) {
    if (!redis_->ready()) {
        // Redis down: at least the sessions of this process get it.
        if (auto it = local_.find(user); it != local_.end()) {
            auto f = std::make_shared<const std::string>(frame);
            for (auto* s : it->second) s->deliver_ephemeral(f);
        }
        return;
    }
    publish(encode_channel({channel_kind::messages, user}), encode_live_message({0, 0, frame}));
}

asio::awaitable<std::vector<long long>> hub_impl::conversation_members(long long conv) {
    auto now = std::chrono::steady_clock::now();
    if (auto it = conv_members_.find(conv);
        it != conv_members_.end() && now - it->second.first < std::chrono::seconds(30))
        co_return it->second.second;
    auto r = co_await store_.conversation_members(conv);
    std::vector<long long> ids;
    if (r) {
        ids = std::move(*r);
        conv_members_[conv] = {now, ids};
    }
    if (conv_members_.size() > 10000) conv_members_.clear();
    co_return ids;
}

// A malformed payload (none of ours) is dropped: the sessions' replay covers any gap.
void hub_impl::on_message(std::string_view channel, std::string_view payload) {
    if (channel == timeline_channel) {
        auto m = decode_timeline_message(payload);
        if (!m) return;
        live_event ev{m->seq, m->commit_us, std::make_shared<const std::string>(m->frame)};
        locate_event(ev);  // once per message: sessions never scan frames
        for (auto u : m->recipients) deliver_to(u, stream::timeline, ev);
        return;
    }
    if (auto c = decode_channel(channel)) {
        auto m = decode_live_message(payload);
        if (!m) return;
        live_event ev{m->seq, m->commit_us, std::make_shared<const std::string>(m->frame)};
        locate_event(ev);
        switch (c->kind) {
            case channel_kind::author:
                if (auto it = celeb_local_.find(c->id); it != celeb_local_.end())
                    for (auto u : it->second) deliver_to(u, stream::timeline, ev);
                return;
            case channel_kind::notifications:
                deliver_to(c->id, stream::notifications, ev);
                return;
            case channel_kind::messages:
                deliver_to(c->id, stream::messages, ev);
                return;
        }
        return;
    }
    if (channel == follows_channel) {
        if (auto m = decode_follow_message(payload))
            follow_changed(m->followee, m->follower, false);
        return;
    }
    if (channel == nodes_channel) {
        const auto node = decode_node_hello(payload);
        if (!node || *node == node_id_) return;
        const auto now = std::chrono::steady_clock::now();
        auto [it, fresh] = nodes_.try_emplace(*node, now);
        const bool stale = now - it->second > node_ttl;
        it->second = now;
        // A newcomer (or one back from silence) learns about this process at once.
        if (fresh || stale) say_hello();
        return;
    }
    if (channel == redis::gap_channel) {
        if (auto h = decode_gap_hint(payload)) on_gap_hint(h->second);
        return;
    }
    if (channel == presence_channel) {
        // Who left is learned from chirp:online at the next refresh.
        if (auto m = decode_presence_message(payload); m && m->online)
            online_remote_.insert(m->user);
        return;
    }
}

void hub_impl::deliver_to(long long user, stream s, const live_event& ev) {
    auto it = local_.find(user);
    if (it == local_.end()) return;
    for (auto* sess : it->second) {
        if (ev.seq == 0)
            sess->deliver_ephemeral(ev.frame);
        else
            sess->deliver(s, ev);
    }
}

void hub_impl::on_redis_back() {
    metrics_.redis_reconnects.fetch_add(1, std::memory_order_relaxed);
    followers_.clear();
    celeb_cache_.clear();  // chirp:follows messages of the outage are lost
    for (auto& [u, list] : local_) {
        redis_->send(
            util::strings("ZADD", online_key, std::to_string(now_s() + 60), encode_user_id(u)));
        // Tell the other processes at once: Redis came back empty, and until their next
        // presence refresh they would not publish to this user (a silent gap after the
        // replay below).
        publish(presence_channel, encode_presence_message({true, u}));
        for (auto* s : list) s->resync_from_log();
    }
    metrics_.redis_up.store(1);
    publish_gap_hint();
}

// Other chirpd processes on this Redis: each says hello on chirp:nodes whenever it connects
// to Redis and every 5 s (housekeeping); one that hears a new process answers at once.
bool hub_impl::other_processes() {
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(nodes_, [&](const auto& n) { return now - n.second > node_ttl; });
    return !nodes_.empty();
}

void hub_impl::say_hello() {
    publish(nodes_channel, encode_node_hello(node_id_));
}

// Presence refresh (every 20 s) and the stats channel (every 5 s).
asio::awaitable<void> hub_impl::housekeeping() {
    int tick = 0;
    while (!stopping_) {
        timer_.expires_after(std::chrono::seconds(5));
        auto [ec] = co_await timer_.async_wait(tuple_awaitable);
        if (ec || stopping_) break;
        if (redis_->ready()) {
            say_hello();
            if (tick % 4 == 0 && !local_.empty()) {
                std::vector<std::string> zadd = util::strings("ZADD", online_key);
                const auto score = std::to_string(now_s() + 60);
                for (const auto& [u, list] : local_) {
                    zadd.push_back(score);
                    zadd.push_back(encode_user_id(u));
                }
                redis_->send(std::move(zadd));
            }
            redis_->send(
                util::strings("ZREMRANGEBYSCORE", online_key, "-inf", std::to_string(now_s())));
            auto r = co_await redis_->call(
                util::strings("ZRANGEBYSCORE", online_key, std::to_string(now_s()), "+inf"));
            if (r && r->type == redis::reply::kind::array) {
                std::unordered_set<long long> online;
                for (const auto& e : r->elements)
                    if (auto u = decode_user_id(e.str)) online.insert(*u);
                metrics_.online_users.store(static_cast<std::int64_t>(online.size()));
                online_remote_ = std::move(online);
                presence_loaded_ = true;
            }
        } else {
            metrics_.online_users.store(static_cast<std::int64_t>(local_.size()));
        }
        ++tick;
        co_await push_stats();
    }
}

asio::awaitable<void> hub_impl::push_stats() {
    bool any = false;
    for (const auto& [u, list] : local_)
        for (auto* s : list) any = any || s->wants_stats();
    if (!any) co_return;
    auto r = co_await store_.counts();
    if (!stats_) co_return;
    auto body = stats_(r ? &*r : nullptr);
    auto frame = std::make_shared<const std::string>(R"({"type":"stats","stats":)" + body + "}");
    for (const auto& [u, list] : local_)
        for (auto* s : list)
            if (s->wants_stats()) s->deliver_ephemeral(frame);
}

}  // namespace chirp::fanout::detail

namespace chirp::fanout {

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

std::int64_t now_us() noexcept {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::unique_ptr<service> create_fanout(boost::asio::io_context& ioc, const config& cfg,
                                       metrics::registry& metrics, store::event_store& store,
                                       stats_renderer stats) {
    return std::make_unique<detail::hub_impl>(ioc, cfg, metrics, store, std::move(stats));
}

}  // namespace chirp::fanout
