// The hub's Redis servers (shards, routing.hpp): publishing with the bookkeeping of what a
// shard has not confirmed (and the gap hint when it is lost), presence (where each user has
// sessions: chirp:where on the user's shard, chirp:presence messages, a snapshot every 5 s),
// a shard's connection events, node hellos and housekeeping. See hub.cpp for the design.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "chirp/config/config.hpp"
#include "chirp/metrics/metrics.hpp"
#include "chirp/util/strings.hpp"
#include "hub_impl.hpp"

namespace chirp::fanout::detail {

namespace {
// A presence entry lives this long in chirp:where unless refreshed (every 20 s).
constexpr std::int64_t presence_ttl_s = 60;
// Users per ZADD of the presence renewal (one command for every user would be a transient
// buffer of ~400 bytes per connected user: the arguments, the command, its copy to send).
constexpr std::size_t presence_batch = 256;
}  // namespace

std::int64_t hub_impl::now_s() {
    return now_us() / 1000000;
}

void hub_impl::publish(shard& sh, std::string_view channel, std::string_view payload,
                       long long seq) {
    auto& r = *sh.redis;
    const auto w = r.publish(channel, payload);
    if (seq <= 0) return;
    if (w == 0) {
        note_gap(sh, seq);
        return;
    }
    // Remember it until Redis confirms it (a reply behind it): if the connection is lost
    // before, it may not have reached Redis.
    const auto ok = r.confirmed();
    auto& q = sh.unconfirmed;
    while (!q.empty() && q.front().first <= ok) q.pop_front();
    if (sh.overflow_write != 0 && sh.overflow_write <= ok) sh.overflow_write = sh.overflow_seq = 0;
    if (q.size() >= max_unconfirmed) {
        const auto [fw, fs] = q.front();
        sh.overflow_write = std::max(sh.overflow_write, fw);
        sh.overflow_seq = sh.overflow_seq == 0 ? fs : std::min(sh.overflow_seq, fs);
        q.pop_front();
    }
    q.emplace_back(w, seq);
}

void hub_impl::note_gap(shard& sh, long long seq) {
    sh.gap_from = sh.gap_from == 0 ? seq : std::min(sh.gap_from, seq);
}

// The connection is gone: what Redis had not confirmed may be lost.
void hub_impl::publishes_lost(shard& sh) {
    const auto ok = sh.redis->confirmed();
    for (const auto& [w, seq] : sh.unconfirmed)
        if (w > ok) note_gap(sh, seq);
    if (sh.overflow_write > ok) note_gap(sh, sh.overflow_seq);
    sh.unconfirmed.clear();
    sh.overflow_write = sh.overflow_seq = 0;
}

// Tells every process (this one too) to replay the sessions of this shard's users from the
// lowest seq this process could not publish to it, on the shard itself once it is back: right
// after a reconnect, and every second (a write dropped while connected, when the queue
// toward Redis was full).
void hub_impl::publish_gap_hint(shard& sh) {
    auto& r = *sh.redis;
    if (!r.ready() || stopping_) return;
    if (r.lost_writes() == sh.hinted_lost && sh.gap_from == 0) return;
    const auto from = sh.gap_from;
    const auto lost = r.lost_writes();
    if (r.publish(redis::gap_channel, encode_gap_hint(node_id_, from)) == 0) return;
    sh.gap_from = 0;
    metrics_.redis_gap_hints_sent.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn(
        "redis shard {}: {} writes may not have reached it; told every process to replay its "
        "users from seq {}",
        sh.index, lost - std::exchange(sh.hinted_lost, lost), from);
}

asio::awaitable<void> hub_impl::gap_watch() {
    while (!stopping_) {
        gap_timer_.expires_after(std::chrono::seconds(1));
        co_await gap_timer_.async_wait(tuple_awaitable);
        if (stopping_) break;
        for (auto& sh : shards_) publish_gap_hint(*sh);
    }
}

void hub_impl::on_gap_hint(shard& sh, long long from) {
    metrics_.redis_gap_hints_received.fetch_add(1, std::memory_order_relaxed);
    if (sh.index == home_shard) {
        followers_.clear();  // chirp:follows messages may be lost too
        celeb_cache_.clear();
    }
    if (from <= 0) return;
    for (auto& [u, list] : local_)
        if (shard_of(u, shards_.size()) == sh.index)
            for (auto* s : list) s->resync_from_log(from);
}

// --- presence --------------------------------------------------------------------------------

void hub_impl::presence_join(long long user) {
    where_.add(user, node_id_);
    auto& sh = shard_for(user);
    // The entry first, then the message: a process that hears the message and then reads a
    // snapshot finds the entry in it.
    sh.redis->send(util::strings("ZADD", where_key, std::to_string(now_s() + presence_ttl_s),
                                 encode_presence_entry(user, node_id_)));
    publish(sh, presence_channel, encode_presence_message({true, user, node_id_}));
}

void hub_impl::presence_leave(long long user) {
    where_.remove(user, node_id_);
    auto& sh = shard_for(user);
    sh.redis->send(util::strings("ZREM", where_key, encode_presence_entry(user, node_id_)));
    publish(sh, presence_channel, encode_presence_message({false, user, node_id_}));
}

void hub_impl::on_presence(shard& sh, const presence_message& m) {
    if (m.node == 0 || m.node == node_id_) return;  // our own sessions are in local_
    if (shard_of(m.user, shards_.size()) != sh.index) return;
    if (sh.snapshotting) sh.presence_log.push_back(m);
    if (m.online)
        where_.add(m.user, m.node);
    else
        where_.remove(m.user, m.node);
}

// Re-reads the shard's chirp:where (entries of dead processes have expired), then applies the
// messages heard while the read was under way (the snapshot may predate them).
asio::awaitable<void> hub_impl::refresh_presence(shard& sh) {
    auto& r = *sh.redis;
    r.send(util::strings("ZREMRANGEBYSCORE", where_key, "-inf", std::to_string(now_s())));
    sh.snapshotting = true;
    sh.presence_log.clear();
    auto res =
        co_await r.call(util::strings("ZRANGEBYSCORE", where_key, std::to_string(now_s()), "+inf"));
    sh.snapshotting = false;
    if (!res || res->type != redis::reply::kind::array) co_return;
    std::vector<std::pair<long long, std::uint64_t>> entries;
    entries.reserve(res->elements.size());
    for (const auto& e : res->elements)
        if (auto p = decode_presence_entry(e.str)) entries.push_back(*p);
    where_.replace_shard(sh.index, std::move(entries), node_id_);
    sh.presence_read = true;
    for (const auto& m : std::exchange(sh.presence_log, {})) {
        if (m.online)
            where_.add(m.user, m.node);
        else
            where_.remove(m.user, m.node);
    }
}

void hub_impl::renew_presence(shard& sh, const std::string& score) {
    std::vector<std::string> cmd;
    const auto send = [&] {
        sh.redis->send(std::move(cmd));
        sh.redis->flush();  // to the socket now: the next batch does not pile up behind it
        cmd.clear();
    };
    for (const auto& [u, list] : local_) {
        if (shard_of(u, shards_.size()) != sh.index) continue;
        if (cmd.empty()) cmd = util::strings("ZADD", where_key);
        cmd.push_back(score);
        cmd.push_back(encode_presence_entry(u, node_id_));
        if (cmd.size() >= 2 + 2 * presence_batch) send();
    }
    if (!cmd.empty()) send();
}

// --- connections -----------------------------------------------------------------------------

void hub_impl::update_redis_up() {
    bool all = true;
    for (const auto& sh : shards_) all = all && sh->redis->ready();
    metrics_.redis_up.store(all ? 1 : 0);
}

void hub_impl::on_connected(shard& sh) {
    update_redis_up();
    say_hello(sh);
}

void hub_impl::on_lost(shard& sh) {
    spdlog::warn(
        "redis shard {}: live updates of its users paused until it is back; they will "
        "replay",
        sh.index);
    metrics_.redis_up.store(0);
    publishes_lost(sh);
}

void hub_impl::on_redis_back(shard& sh) {
    metrics_.redis_reconnects.fetch_add(1, std::memory_order_relaxed);
    if (sh.index == home_shard) {
        followers_.clear();
        celeb_cache_.clear();  // chirp:follows messages of the outage are lost
    }
    for (auto& [u, list] : local_) {
        if (shard_of(u, shards_.size()) != sh.index) continue;
        // Tell the other processes at once: Redis may have come back empty, and until their
        // next presence refresh they would not route to this user here (a silent gap after
        // the replay below).
        presence_join(u);
        for (auto* s : list) s->resync_from_log();
    }
    update_redis_up();
    publish_gap_hint(sh);
}

bool hub_impl::other_processes() {
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(nodes_, [&](const auto& n) { return now - n.second > node_ttl; });
    return !nodes_.empty();
}

void hub_impl::say_hello(shard& sh) {
    publish(sh, nodes_channel, encode_node_hello(node_id_));
}

// Presence refresh (every 20 s), snapshots (every 5 s) and the stats channel (every 5 s).
asio::awaitable<void> hub_impl::housekeeping() {
    int tick = 0;
    while (!stopping_) {
        // A process just started (a restarted worker) reads every shard's presence at once,
        // and again every 200 ms until each was read (Redis may not be connected yet).
        const bool all_read = std::all_of(shards_.begin(), shards_.end(),
                                          [](const auto& sh) { return sh->presence_read; });
        timer_.expires_after(all_read ? std::chrono::milliseconds(5000)
                                      : std::chrono::milliseconds(tick == 0 ? 0 : 200));
        auto [ec] = co_await timer_.async_wait(tuple_awaitable);
        if (ec || stopping_) break;
        const bool renew = tick % 4 == 0;
        const auto score = std::to_string(now_s() + presence_ttl_s);
        for (auto& sh : shards_) {
            if (stopping_) break;
            if (!sh->redis->ready()) continue;
            say_hello(*sh);
            if (renew) renew_presence(*sh, score);
            co_await refresh_presence(*sh);
        }
        if (!all_read) {
            if (std::chrono::steady_clock::now() >= presence_wait_until_)
                presence_wait_over_ = true;
            drain_timeline(0);  // what waited for the first presence reads
        }
        metrics_.online_users.store(static_cast<std::int64_t>(where_.users()));
        ++tick;
        co_await push_stats();
    }
}

}  // namespace chirp::fanout::detail
