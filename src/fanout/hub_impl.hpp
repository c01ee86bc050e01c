// The fan-out hub's implementation class, shared by its files (private to fanout/):
//   hub.cpp      sessions and presence, typing, the subscriber side (Redis -> sessions),
//                housekeeping and the stats push
//   publish.cpp  the write side: on_committed, the ordered timeline queue, follower and
//                celebrity caches, the answer after Redis
//   shards.cpp   the Redis servers (shards): presence (where each user is connected),
//                connection events, gap hints, node hellos, housekeeping
// See hub.cpp for the design.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chirp/fanout/codec.hpp"
#include "chirp/fanout/fanout.hpp"
#include "chirp/fanout/routing.hpp"
#include "chirp/redis/redis.hpp"
#include "chirp/store/store.hpp"

namespace chirp::fanout::detail {

namespace asio = boost::asio;

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
// Hellos of the chirpd processes on nodes_channel expire after (see answer_when_in_redis()).
constexpr auto node_ttl = std::chrono::seconds(15);
// How long a write's answer waits for Redis to confirm its publishes (answer_when_in_redis()).
constexpr auto ack_deadline = std::chrono::milliseconds(500);
// Publishes remembered until Redis confirms them (beyond: folded into one oldest entry).
constexpr std::size_t max_unconfirmed = 65536;

class hub_impl final : public service {
public:
    hub_impl(asio::io_context& ioc, const config& cfg, metrics::registry& m, store::event_store& st,
             stats_renderer stats);

    // --- service -----------------------------------------------------------------------------

    void start() override;

    void begin_shutdown() override;

    void stop() override;

    redis::client& publisher() override;

    bool redis_ready() const override;

    void stats_fields(std::string& out) const override;

    void on_committed(const store::write_result& r, std::function<void()> resume) override;

    // Runs `resume` once Redis has executed every command queued so far: a PING queued behind
    // them on the same connection is answered after them. The answers of one loop turn (a
    // group commit) share one PING. With Redis down, at once: the write stands, and sessions
    // replay from the log when Redis is back.
    void answer_when_in_redis(std::function<void()> resume);

    // One PING per connected shard; the answers run when every one came back (or failed).
    struct ack_state {
        std::size_t left = 0;
        std::vector<std::function<void()>> waiting;
    };
    void ack_ping(std::vector<std::function<void()>> waiting);
    asio::awaitable<void> ack_ping_one(std::size_t shard, std::shared_ptr<ack_state> st);

    // The follower list of an author about to tweet is loaded while the tweet commits (a cold
    // list would otherwise hold the fan-out queue, and every answer behind it, for a query).
    void prepare_fanout(long long author) override;

    // --- hub ---------------------------------------------------------------------------------

    asio::awaitable<void> attach(session_base* s) override;

    void detach(session_base* s) override;

    asio::awaitable<std::string> typing(long long user, const std::string& user_ref,
                                        long long conv) override;

private:
    // One Redis server: its connection (commands and subscriber), the publishes it has not
    // confirmed yet and the lowest seq not published to it (its gap hint, on its own
    // chirp:gaps once it is back), and the presence messages heard while its chirp:where
    // snapshot was read.
    struct shard {
        std::size_t index = 0;
        std::unique_ptr<redis::client> redis;
        std::deque<std::pair<std::uint64_t, long long>> unconfirmed;  // (write, seq)
        std::uint64_t overflow_write = 0;
        long long overflow_seq = 0;
        long long gap_from = 0;  // the lowest seq not published (0: none)
        std::uint64_t hinted_lost = 0;
        bool snapshotting = false;
        // Its chirp:where was read once: until then this process does not know where that
        // shard's users are connected (see publish_timeline).
        bool presence_read = false;
        std::vector<presence_message> presence_log;
    };

    static std::int64_t now_s();

    shard& shard_for(long long user) { return *shards_[shard_of(user, shards_.size())]; }
    redis::client& home() { return *shards_[home_shard]->redis; }

    // seq > 0: an event; remembered until Redis confirms it, else the gap to announce.
    void publish(shard& sh, std::string_view channel, std::string_view payload, long long seq = 0);

    void note_gap(shard& sh, long long seq);

    void publishes_lost(shard& sh);

    void publish_gap_hint(shard& sh);

    asio::awaitable<void> gap_watch();

    void on_gap_hint(shard& sh, long long from);

    // Typing frames reach the messages:U channel with seq 0 (ephemeral, never replayed).
    void publish_ephemeral(long long user, const std::string& frame);

    void typing_stopped(const store::delivery& d);

    // Presence (shards.cpp): this process's sessions of a user begin / end; a presence
    // message or snapshot from a shard.
    void presence_join(long long user);
    void presence_leave(long long user);
    void on_presence(shard& sh, const presence_message& m);
    asio::awaitable<void> refresh_presence(shard& sh);
    // This process's entries in a shard's chirp:where again (their expiry moves on).
    void renew_presence(shard& sh, const std::string& score);

    void on_connected(shard& sh);
    void on_lost(shard& sh);
    void update_redis_up();

    struct follower_entry {
        bool loaded = false;
        bool loading = false;
        bool invalidated = false;  // a follow changed while loading: load again
        long long count = 0;
        std::vector<long long> ids;
        std::chrono::steady_clock::time_point fetched{};
    };

    // Timeline fan-out keeps commit order across authors: one queue for the process. Only
    // when the author at its head needs its follower list loaded does it wait (and everything
    // behind it, and the answers to those writes). Publishing one author's event ahead of an
    // earlier one of another author reached followers out of seq order.
    struct pending_timeline {
        store::delivery d;
        std::int64_t commit_us = 0;
    };

    bool followers_fresh(long long author) const;

    void fanout_timeline(const store::delivery& d, std::int64_t commit_us);

    // Publishes from the head of the queue while follower lists are at hand; `loaded` is an
    // author whose load just ended (published even if it failed: its own stream gets it, the
    // followers catch up by replay).
    void drain_timeline(long long loaded);
    // Every shard that is up has had its presence read once (or that wait is over): until
    // then timeline events wait in their queue (a process just started: routed now, they
    // would reach nobody on the other processes).
    bool presence_known() const;

    asio::awaitable<void> load_followers(long long author);

    // Routing by process: one PUBLISH per (process, shard) holding recipients, to
    // chirp:node:<id> with those recipients; a celebrity's tweet once to author:A.
    void publish_timeline(const store::delivery& d, std::int64_t commit_us,
                          const follower_entry& e);

    void follow_changed(long long followee, long long follower, bool local_commit);

    // The celebrities a user follows, remembered for a minute after the user left, so that a
    // reconnect (10,000 at once after a network cut) costs no query: follow changes drop the
    // entry (here and, through chirp:follows, in every process).
    struct celeb_entry {
        std::chrono::steady_clock::time_point fetched;
        std::vector<long long> ids;
    };

    asio::awaitable<void> load_celebrities(long long user);

    void drop_celebrities(long long user);
    void release_celebrity(long long author, long long user);

    asio::awaitable<std::vector<long long>> conversation_members(long long conv);

    // A malformed payload (none of ours) is dropped: the sessions' replay covers any gap.
    void on_message(shard& sh, std::string_view channel, std::string_view payload);

    void deliver_to(long long user, stream s, const live_event& ev);

    void on_redis_back(shard& sh);

    // Other chirpd processes: each says hello on chirp:nodes of every shard whenever it
    // connects to it and every 5 s (housekeeping); one that hears a new process answers at
    // once. On every shard, so that losing any one of them does not hide the others.
    bool other_processes();

    void say_hello(shard& sh);

    // Presence refresh (every 20 s) and the stats channel (every 5 s).
    asio::awaitable<void> housekeeping();

    asio::awaitable<void> push_stats();

    asio::io_context& ioc_;
    const config& cfg_;
    metrics::registry& metrics_;
    store::event_store& store_;
    stats_renderer stats_;
    bool stopping_ = false;
    asio::steady_timer timer_;
    asio::steady_timer gap_timer_{ioc_};
    std::vector<std::unique_ptr<shard>> shards_;
    std::unordered_map<long long, std::vector<session_base*>> local_;
    // Where every online user has sessions (this process's own entries included).
    presence_map where_;
    std::vector<route> routes_;  // scratch of publish_timeline
    std::unordered_map<long long, follower_entry> followers_;
    std::deque<pending_timeline> timeline_queue_;
    std::uint64_t timeline_enqueued_ = 0, timeline_published_ = 0;
    // How long a starting process holds timeline events for its first presence reads.
    std::chrono::steady_clock::time_point presence_wait_until_ =
        std::chrono::steady_clock::now() + std::chrono::seconds(2);
    bool presence_wait_over_ = false;
    std::deque<std::pair<std::uint64_t, std::function<void()>>> timeline_waiters_;
    std::vector<std::function<void()>> ack_waiting_;
    const std::uint64_t node_id_ =
        std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32) | 1;
    const std::string node_channel_ = encode_node_channel(node_id_);
    std::unordered_map<std::uint64_t, std::chrono::steady_clock::time_point> nodes_;
    bool ack_scheduled_ = false;
    std::unordered_map<long long, std::vector<long long>> user_celebs_;
    std::unordered_map<long long, celeb_entry> celeb_cache_;
    std::uint64_t follow_gen_ = 0;
    std::unordered_map<long long, std::uint64_t> celeb_loads_;  // the latest load, by user
    std::uint64_t celeb_load_seq_ = 0;
    std::unordered_map<long long, std::unordered_set<long long>> celeb_local_;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> typing_last_;
    std::unordered_map<long long,
                       std::pair<std::chrono::steady_clock::time_point, std::vector<long long>>>
        conv_members_;
};

}  // namespace chirp::fanout::detail
