// DESIGN
// The hub: which local sessions belong to which user, and the Redis side of real time.
//  - Redis is one server or several (--redis-url a,b,c): shards (routing.hpp). A user's
//    channels (notifications:U, messages:U, author:U), presence entries and the timeline
//    events routed to the user live on shard_of(U); the cluster-wide broadcasts
//    (chirp:follows, the timeline cache's chirp:tweets) on the home shard (the first URL);
//    node hellos and gap hints on every shard (a gap hint on a shard concerns its users).
//  - Every process subscribes, on every shard, its own channel chirp:node:<id>,
//    chirp:presence, chirp:nodes and chirp:gaps at start; chirp:follows on the home shard.
//  - First session of user U here: SUBSCRIBE notifications:U messages:U on U's shard, record
//    "U is on this process" there (sorted set chirp:where, member "U@<node>" with an expiry
//    score refreshed every 20 s, plus a chirp:presence message so other processes learn it
//    at once), and subscribe author:A (on A's shard) for every celebrity A that U follows.
//    Last session gone: the reverse. A dead process's entries expire within 60 s.
//  - Fan-out (on_committed, on the loop, never suspends): a committed tweet's recipients
//    (the author and the followers) are grouped by the processes their sessions are on and
//    the recipients' shards (route_recipients); one PUBLISH per group, to chirp:node:<id> on
//    that shard, with the group's recipients. A process receives only the events of its own
//    users: its work grows with its users, not with the cluster's traffic. Celebrity authors
//    (followers > threshold) publish once to author:A instead (plus the author's own route),
//    delivered to the local followers each process knows. Notifications go to
//    notifications:U, messages to messages:U. Payload = "<seq> <commit_us>\n[<recipients>\n]
//    <frame>", the frame serialized once by the event writer.
//  - Churn: a user who connects to a process while an event is in flight gets it live (the
//    publisher already knew where the user is) or by the session's settling replay (it did
//    not: the event was committed before the replay reads the log); never twice (seq
//    duplicate window). docs/architecture.md, "Routing by process", has the argument.
//  - Sessions are created by ws/ and attach here through the `hub` interface.
//  - Redis messages are turned into one shared live_event and enqueued on each local session.
//  - Payload formats: codec.hpp (one encoder and one decoder each).
//  - The timeline cache (timeline/) queues its chirp:tweets broadcast on the home shard's
//    command connection (publisher()); the app calls it before on_committed, so the flush
//    below carries both.
//  - A write is answered once its publishes are in Redis: when other chirpd processes exist
//    (they say hello on chirp:nodes), only after every shard executed them (a PING behind
//    them on each), so that an answered write's event cannot reach Redis after the next
//    one's, written through another process; alone, as soon as they are written to the
//    sockets.
//  - A shard lost and back: the sessions of its users replay from the log (nothing published
//    to it meanwhile is trusted); the home shard: follower caches are dropped too. Users on
//    the other shards notice nothing.
//  - Events this process could not publish to a shard (down or too slow: dropped, or
//    unconfirmed when the connection was lost) must still reach that shard's users on other
//    processes, which never lost it: once it is back (gap_watch, at once after a reconnect)
//    this process publishes on that shard's chirp:gaps "<node> <lowest seq lost>", and every
//    process (this one too) replays the sessions of that shard's users from that seq
//    (session_machine: below the last seq sent, kept exactly-once by the duplicate window);
//    a hint on the home shard also drops the follower caches, and the home-timeline caches
//    listen to it (their broadcasts on that connection may be lost as well).
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
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "chirp/config/config.hpp"
#include "chirp/fanout/codec.hpp"
#include "chirp/fanout/frame.hpp"
#include "chirp/metrics/metrics.hpp"
#include "chirp/redis/url.hpp"
#include "chirp/util/strings.hpp"
#include "hub_impl.hpp"

using json = nlohmann::json;

namespace chirp::fanout::detail {

hub_impl::hub_impl(asio::io_context& ioc, const config& cfg, metrics::registry& m,
                   store::event_store& st, stats_renderer stats)
    : ioc_(ioc), cfg_(cfg), metrics_(m), store_(st), stats_(std::move(stats)), timer_(ioc) {
    const auto urls = redis::split_url_list(cfg.redis_url);
    if (urls.empty()) throw std::invalid_argument("malformed --redis-url");
    where_ = presence_map(urls.size());
    for (std::size_t k = 0; k < urls.size(); ++k) {
        auto sh = std::make_unique<shard>();
        sh->index = k;
        shard* p = sh.get();
        redis::callbacks cbs;
        cbs.on_message = [this, p](std::string_view ch, std::string_view payload) {
            on_message(*p, ch, payload);
        };
        cbs.on_reconnected = [this, p] { on_redis_back(*p); };
        cbs.on_connected = [this, p] { on_connected(*p); };
        cbs.on_lost = [this, p] { on_lost(*p); };
        cbs.on_event = [this](redis::event e) {
            auto& counter = e == redis::event::dropped          ? metrics_.redis_dropped
                            : e == redis::event::timeout        ? metrics_.redis_timeouts
                            : e == redis::event::health_failure ? metrics_.redis_health_failures
                                                                : metrics_.redis_connect_failures;
            counter.fetch_add(1, std::memory_order_relaxed);
        };
        sh->redis = redis::create_client(ioc, urls[k], std::move(cbs),
                                         {cfg.redis_timeout, cfg.redis_queue_bytes});
        shards_.push_back(std::move(sh));
    }
}

void hub_impl::start() {
    for (auto& sh : shards_) {
        if (sh->index == home_shard) sh->redis->subscribe(std::string(follows_channel));
        sh->redis->subscribe(std::string(presence_channel));
        sh->redis->subscribe(node_channel_);
        sh->redis->subscribe(std::string(nodes_channel));
        sh->redis->subscribe(std::string(redis::gap_channel));
        sh->redis->start();
    }
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
    for (auto& sh : shards_) sh->redis->stop();
}

redis::client& hub_impl::publisher() {
    return home();
}

// Readiness follows the home shard: without it the cluster-wide broadcasts stop; another
// shard's outage touches only its users' live delivery (and every process alike: taking
// them all out of a load balancer would help nobody).
bool hub_impl::redis_ready() const {
    return shards_[home_shard]->redis->ready();
}

void hub_impl::stats_fields(std::string& out) const {
    out += ",\"redis\":\"" + std::string(redis_ready() ? "up" : "down") + "\"";
    std::size_t subs = 0, up = 0;
    for (const auto& sh : shards_) {
        subs += sh->redis->subscription_count();
        up += sh->redis->ready() ? 1 : 0;
    }
    out += ",\"redisShards\":" + std::to_string(shards_.size());
    out += ",\"redisShardsUp\":" + std::to_string(up);
    out += ",\"localUsers\":" + std::to_string(local_.size());
    out += ",\"redisSubscriptions\":" + std::to_string(subs);
}

asio::awaitable<void> hub_impl::attach(session_base* s) {
    const long long u = s->user_id();
    auto& list = local_[u];
    list.push_back(s);
    if (list.size() == 1) {
        auto& r = *shard_for(u).redis;
        r.subscribe(encode_channel({channel_kind::notifications, u}));
        r.subscribe(encode_channel({channel_kind::messages, u}));
        presence_join(u);
        co_await load_celebrities(u);
    }
    // Its own channels, and the author:A of its celebrities (on their shards): only those
    // shards are waited for (another one, paused, must not hold this user).
    std::vector<bool> wait(shards_.size(), false);
    wait[shard_for(u).index] = true;
    if (auto c = user_celebs_.find(u); c != user_celebs_.end())
        for (auto a : c->second) wait[shard_for(a).index] = true;
    for (std::size_t k = 0; k < shards_.size(); ++k)
        if (wait[k]) co_await shards_[k]->redis->subscriptions_settled();
}

void hub_impl::detach(session_base* s) {
    const long long u = s->user_id();
    auto it = local_.find(u);
    if (it == local_.end()) return;
    std::erase(it->second, s);
    if (!it->second.empty()) return;
    local_.erase(it);
    auto& r = *shard_for(u).redis;
    r.unsubscribe(encode_channel({channel_kind::notifications, u}));
    r.unsubscribe(encode_channel({channel_kind::messages, u}));
    presence_leave(u);
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

// Typing frames reach the messages:U channel with seq 0 (ephemeral, never replayed).
void hub_impl::publish_ephemeral(long long user, const std::string& frame) {
    auto& sh = shard_for(user);
    if (!sh.redis->ready()) {
        // Redis down: at least the sessions of this process get it.
        if (auto it = local_.find(user); it != local_.end()) {
            auto f = std::make_shared<const std::string>(frame);
            for (auto* s : it->second) s->deliver_ephemeral(f);
        }
        return;
    }
    publish(sh, encode_channel({channel_kind::messages, user}), encode_live_message({0, 0, frame}));
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
void hub_impl::on_message(shard& sh, std::string_view channel, std::string_view payload) {
    if (channel == node_channel_) {
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
        if (sh.index != home_shard) return;
        if (auto m = decode_follow_message(payload))
            follow_changed(m->followee, m->follower, false);
        return;
    }
    if (channel == nodes_channel) {
        const auto node = decode_node_hello(payload);
        if (!node || *node == node_id_) return;
        // Heard on every shard: answer a newcomer once, on the first.
        const auto now = std::chrono::steady_clock::now();
        auto [it, fresh] = nodes_.try_emplace(*node, now);
        const bool stale = now - it->second > node_ttl;
        it->second = now;
        // A newcomer (or one back from silence) learns about this process at once.
        if (fresh || stale)
            for (auto& other : shards_) say_hello(*other);
        return;
    }
    if (channel == redis::gap_channel) {
        if (auto h = decode_gap_hint(payload)) on_gap_hint(sh, h->second);
        return;
    }
    if (channel == presence_channel) {
        if (auto m = decode_presence_message(payload)) on_presence(sh, *m);
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
