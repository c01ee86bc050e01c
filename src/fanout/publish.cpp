// The hub's write side: the fan-out of a committed write (on the loop, never suspends), the
// one ordered queue of timeline events, the follower and celebrity caches it reads, and the
// answer that waits until Redis has the publishes (see hub.cpp for the design).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <nlohmann/json.hpp>

#include "chirp/config/config.hpp"
#include "chirp/fanout/codec.hpp"
#include "chirp/metrics/metrics.hpp"
#include "chirp/util/strings.hpp"
#include "hub_impl.hpp"

using json = nlohmann::json;

namespace chirp::fanout::detail {

void hub_impl::on_committed(const store::write_result& r, std::function<void()> resume) {
    for (const auto& d : r.deliveries) {
        if (d.follow_change) {
            follow_changed(d.author, d.actor, true);
            continue;
        }
        if (d.channel == store::channel_kind::timeline) {
            fanout_timeline(d, r.committed_unix_us);
            continue;
        }
        const auto payload = encode_live_message({d.seq, r.committed_unix_us, *d.frame});
        const auto kind = d.channel == store::channel_kind::notifications
                              ? channel_kind::notifications
                              : channel_kind::messages;
        for (auto u : d.users) publish(shard_for(u), encode_channel({kind, u}), payload, d.seq);
        if (d.channel == store::channel_kind::messages) typing_stopped(d);
    }
    // The writer's answer waits until Redis has executed this write's publishes (and the
    // timeline cache's broadcast, queued before them on the same connection): else a client
    // could get the answer, write through another process, and have that process's event reach
    // Redis first (and a read on another process could miss the write).
    if (timeline_published_ == timeline_enqueued_) {
        answer_when_in_redis(std::move(resume));
    } else {
        timeline_waiters_.emplace_back(timeline_enqueued_, std::move(resume));
    }
}

// Runs `resume` once Redis has executed every command queued so far: a PING queued behind
// them on each shard's connection is answered after them. The answers of one loop turn (a
// group commit) share the PINGs. A shard that is down is not waited for: the write stands,
// and the sessions of its users replay from the log when it is back.
void hub_impl::answer_when_in_redis(std::function<void()> resume) {
    if (stopping_ || !other_processes()) {
        // Alone: nobody else can publish in between; the answer leaves with the publishes
        // written to Redis' sockets (a PING would wait behind the fan-out's socket writes).
        for (auto& sh : shards_) sh->redis->flush();
        resume();
        return;
    }
    ack_waiting_.push_back(std::move(resume));
    if (ack_scheduled_) return;
    ack_scheduled_ = true;
    asio::post(ioc_, [this] {
        ack_scheduled_ = false;
        ack_ping(std::exchange(ack_waiting_, {}));
    });
}

void hub_impl::ack_ping(std::vector<std::function<void()>> waiting) {
    auto st = std::make_shared<ack_state>();
    st->waiting = std::move(waiting);
    for (const auto& sh : shards_) st->left += sh->redis->ready() ? 1 : 0;
    if (st->left == 0) {
        for (auto& f : st->waiting) f();
        return;
    }
    for (const auto& sh : shards_)
        if (sh->redis->ready()) asio::co_spawn(ioc_, ack_ping_one(sh->index, st), asio::detached);
}

asio::awaitable<void> hub_impl::ack_ping_one(std::size_t shard, std::shared_ptr<ack_state> st) {
    auto ping = util::strings("PING");
    // nullopt (connection lost, or Redis too slow) resumes all the same: the write stands, and
    // if its publishes are lost, the gap hint makes every process replay them.
    co_await shards_[shard]->redis->call(std::move(ping), ack_deadline);
    if (--st->left == 0)
        for (auto& f : st->waiting) f();
}

// The follower list of an author about to tweet is loaded while the tweet commits (a cold
// list would otherwise hold the fan-out queue, and every answer behind it, for a query).
void hub_impl::prepare_fanout(long long author) {
    if (followers_fresh(author)) return;
    auto& e = followers_[author];
    if (e.loading) return;
    e.loading = true;
    asio::co_spawn(ioc_, load_followers(author), asio::detached);
}

void hub_impl::typing_stopped(const store::delivery& d) {
    typing_last_.erase(std::to_string(d.actor) + ":" + std::to_string(d.conversation));
    // The sender's reference is inside the message frame; keep it simple: id only.
    const auto ref = R"({"id":")" + std::to_string(d.actor) + R"("})";
    const auto frame = typing_frame(d.conversation, ref, 0);
    for (auto u : d.users)
        if (u != d.actor) publish_ephemeral(u, frame);
}

bool hub_impl::followers_fresh(long long author) const {
    auto it = followers_.find(author);
    return it != followers_.end() && it->second.loaded &&
           std::chrono::steady_clock::now() - it->second.fetched < std::chrono::seconds(60);
}

void hub_impl::fanout_timeline(const store::delivery& d, std::int64_t commit_us) {
    ++timeline_enqueued_;
    timeline_queue_.push_back({d, commit_us});
    drain_timeline(0);
}

// Publishes from the head of the queue while follower lists are at hand; `loaded` is an
// author whose load just ended (published even if it failed: its own stream gets it, the
// followers catch up by replay).
bool hub_impl::presence_known() const {
    if (presence_wait_over_) return true;
    return std::all_of(shards_.begin(), shards_.end(),
                       [](const auto& sh) { return sh->presence_read || !sh->redis->ready(); });
}

void hub_impl::drain_timeline(long long loaded) {
    if (!presence_known()) return;  // housekeeping drains once presence is read
    while (!timeline_queue_.empty()) {
        auto& head = timeline_queue_.front();
        const long long author = head.d.author;
        if (!followers_fresh(author) && author != loaded) {
            auto& e = followers_[author];
            if (!e.loading) {
                e.loading = true;
                asio::co_spawn(ioc_, load_followers(author), asio::detached);
            }
            return;
        }
        publish_timeline(head.d, head.commit_us, followers_[author]);
        timeline_queue_.pop_front();
        ++timeline_published_;
        while (!timeline_waiters_.empty() &&
               timeline_waiters_.front().first <= timeline_published_) {
            answer_when_in_redis(std::move(timeline_waiters_.front().second));
            timeline_waiters_.pop_front();
        }
    }
}

asio::awaitable<void> hub_impl::load_followers(long long author) {
    // A celebrity's list is never loaded: its tweets fan out on read.
    auto r = co_await store_.followers_of(author, static_cast<long long>(cfg_.celebrity_threshold));
    auto& e = followers_[author];
    e.loading = false;
    if (e.invalidated) {
        e.invalidated = false;
        drain_timeline(0);  // loads again
        co_return;
    }
    if (r) {
        e.count = r->count;
        e.ids = std::move(r->ids);
        e.loaded = true;
        e.fetched = std::chrono::steady_clock::now();
    }
    drain_timeline(author);
}

// Routing by process: the recipients (the author and the followers) grouped by the
// processes their sessions are on and by their shards, one PUBLISH per group to
// chirp:node:<id> on that shard with the group's recipients (routing.hpp). A process receives
// only events for its own users, and a shard carries only its users' part. A celebrity's
// followers are not routed: one publish to author:A (on A's shard) reaches every process
// subscribed to it.
void hub_impl::publish_timeline(const store::delivery& d, std::int64_t commit_us,
                                const follower_entry& e) {
    const bool celebrity = e.loaded && static_cast<std::size_t>(e.count) > cfg_.celebrity_threshold;
    routes_.clear();
    route_recipients(std::span<const long long>(&d.author, 1), where_, routes_);
    if (e.loaded && !celebrity) route_recipients(e.ids, where_, routes_);
    for (auto& r : routes_) {
        timeline_message m{d.seq, commit_us, std::move(r.recipients), *d.frame};
        publish(*shards_[r.shard], encode_node_channel(r.node), encode_timeline_message(m), d.seq);
    }
    // A shard whose presence this process has not read yet (it was down, or did not answer
    // within presence_wait_until_): its users connected to other processes were routed
    // nowhere. The shard's gap hint makes every process replay them from this seq once it
    // can be sent (duplicates dropped by seq).
    for (auto& sh : shards_)
        if (!sh->presence_read) note_gap(*sh, d.seq);
    if (celebrity)  // fan-out on read
        publish(shard_for(d.author), encode_channel({channel_kind::author, d.author}),
                encode_live_message({d.seq, commit_us, *d.frame}), d.seq);
}

void hub_impl::follow_changed(long long followee, long long follower, bool local_commit) {
    ++follow_gen_;
    celeb_cache_.erase(follower);
    if (auto it = followers_.find(followee); it != followers_.end()) {
        if (it->second.loading)
            it->second.invalidated = true;
        else
            followers_.erase(it);
    }
    if (local_commit) {
        publish(*shards_[home_shard], follows_channel, encode_follow_message({followee, follower}));
    }
    // Reloaded in place: the user's author:A subscriptions stay while the list is fetched, so
    // a celebrity's tweet committed meanwhile is still delivered (dropping them first lost it).
    if (local_.count(follower) != 0)
        asio::co_spawn(ioc_, load_celebrities(follower), asio::detached);
}

asio::awaitable<void> hub_impl::load_celebrities(long long user) {
    const auto load = ++celeb_load_seq_;
    celeb_loads_[user] = load;
    std::vector<long long> ids;
    const auto now = std::chrono::steady_clock::now();
    if (auto c = celeb_cache_.find(user);
        c != celeb_cache_.end() && now - c->second.fetched < std::chrono::seconds(60)) {
        ids = c->second.ids;
    } else {
        const auto gen = follow_gen_;
        auto r = co_await store_.celebrity_followees(user, cfg_.celebrity_threshold);
        if (r) ids = std::move(*r);
        if (r && gen == follow_gen_) {
            if (celeb_cache_.size() >= 100000) celeb_cache_.clear();
            celeb_cache_[user] = celeb_entry{now, ids};
        }
        if (!r && user_celebs_.count(user) != 0) ids = user_celebs_[user];  // keep what we have
    }
    // Each load registers itself: a load that finds another's id (or none: a later load began
    // and finished) is stale, the later one applies the newer list.
    if (auto latest = celeb_loads_.find(user);
        latest == celeb_loads_.end() || latest->second != load)
        co_return;
    else
        celeb_loads_.erase(latest);
    if (local_.count(user) == 0) co_return;  // left meanwhile
    auto& mine = user_celebs_[user];
    // Subscribe to the added authors before dropping the removed ones.
    for (auto a : ids) {
        if (std::find(mine.begin(), mine.end(), a) != mine.end()) continue;
        mine.push_back(a);
        if (celeb_local_[a].insert(user).second && celeb_local_[a].size() == 1)
            shard_for(a).redis->subscribe(encode_channel({channel_kind::author, a}));
    }
    for (auto it = mine.begin(); it != mine.end();) {
        if (std::find(ids.begin(), ids.end(), *it) != ids.end()) {
            ++it;
            continue;
        }
        release_celebrity(*it, user);
        it = mine.erase(it);
    }
}

void hub_impl::release_celebrity(long long author, long long user) {
    auto set = celeb_local_.find(author);
    if (set == celeb_local_.end()) return;
    set->second.erase(user);
    if (set->second.empty()) {
        celeb_local_.erase(set);
        shard_for(author).redis->unsubscribe(encode_channel({channel_kind::author, author}));
    }
}

void hub_impl::drop_celebrities(long long user) {
    auto it = user_celebs_.find(user);
    if (it == user_celebs_.end()) return;
    for (auto a : it->second) release_celebrity(a, user);
    user_celebs_.erase(it);
}

}  // namespace chirp::fanout::detail
