// The home-timeline cache's implementation class, shared by its files (private to timeline/):
//   home_timeline.cpp  the write side (one broadcast per commit) and the read side (pages)
//   fill.cpp           PostgreSQL fills and the tweet text (render)
//   cache.cpp          the bounded data structure (LRU records, lists, flags)
//   coherence.cpp      the versioned broadcast: baseline, apply, catch-up before a read
// See home_timeline.cpp for the design and the coherence argument.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "chirp/domain/wire.hpp"
#include "chirp/redis/redis.hpp"
#include "chirp/store/store.hpp"
#include "chirp/timeline/broadcast.hpp"
#include "chirp/timeline/home_timeline.hpp"

namespace chirp::timeline::detail {

namespace asio = boost::asio;

using clock = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

constexpr int list_max = 200;                         // ids per home list
constexpr std::size_t max_users = 10000;              // cached users (lists + flags)
constexpr std::size_t max_author_refs = 2000000;      // sum of authors over cached lists
constexpr std::size_t max_tweets = 50000;             // tweet records
constexpr std::size_t max_flags_per_user = 4096;      // flags kept per user
constexpr std::size_t max_recent = 4096;              // remembered changes (for fills)
constexpr auto entry_ttl = std::chrono::seconds(60);  // bounds staleness if a broadcast is lost
constexpr auto catch_up_wait = std::chrono::milliseconds(200);
constexpr auto probe_deadline = std::chrono::milliseconds(500);  // the version read's deadline
inline const std::string ver_key(version_key);
inline const std::string channel(broadcast_channel);

struct tweet_rec {
    long long id = 0, author = 0, reply_to = 0, retweet_of = 0;
    bool deleted = false;
    domain::tweet wire;       // what the page shows (counts kept current; no flags, no original)
    domain::tweet_text text;  // domain::render_text(wire), rendered once when filled
    clock::time_point fetched{};
};
using tweet_ptr = std::shared_ptr<tweet_rec>;

constexpr std::uint8_t liked_bit = 1, retweeted_bit = 2;

struct user_rec {
    bool has_list = false;
    bool full = false;               // the list was cut at list_max: older tweets exist
    std::vector<long long> ids;      // newest first
    std::vector<long long> authors;  // sorted: followees + self
    clock::time_point list_fetched{};
    std::unordered_map<long long, std::uint8_t> flags;
    clock::time_point flags_fetched{};
    std::list<long long>::iterator lru;
};

// One broadcast change set, remembered for fills that started before it.
struct change_set {
    long long ver = 0;
    std::vector<long long> tweets;                         // records not to trust
    bool all_parents = false;                              // a deletion with unknown parents
    std::vector<long long> flag_users;                     // users whose flags changed
    std::vector<long long> list_users;                     // users whose followees changed
    std::vector<std::pair<long long, long long>> creates;  // (tweet, author)
};

class home_timeline_impl final : public home_timeline {
public:
    home_timeline_impl(asio::io_context& ioc, const config& cfg, store::event_store& st,
                       redis::client& publisher);

    void start() override;

    void stop() override;

    void stats_fields(std::string& out) const override;

    // --- the write side: one broadcast per committed write ------------------------------------

    void on_committed(const store::write_result& r) override;

    // --- the read side -------------------------------------------------------------------------

    asio::awaitable<std::optional<std::string>> page(long long user, long long before,
                                                     int limit) override;

private:
    // Appends the change items of one timeline delivery, from its typed event.
    void describe(const store::delivery& d, std::vector<change>& out);

    // A version we must reach before answering: every write answered before this request.
    // One HMGET answers every read that arrived before it was sent: the requests of one
    // loop turn share it (it is sent from a handler posted behind them).
    struct version_probe {
        bool done = false, ok = false;
        std::string epoch;
        long long ver = 0;
        std::vector<asio::steady_timer*> waiters;
    };

    asio::awaitable<void> run_probe(std::shared_ptr<version_probe> p);

    asio::awaitable<bool> read_version(std::string& epoch, long long& v);

    asio::awaitable<bool> catch_up();

    asio::awaitable<std::optional<std::string>> try_page(long long user, long long before,
                                                         int limit);

    // The text of a tweet in a page: domain::render, the one tweet renderer, with the viewer's
    // flags and the original of a retweet.
    static void render(std::string& out, const tweet_rec& t, std::uint8_t flags,
                       const tweet_rec* original, std::uint8_t original_flags);

    const tweet_rec* lookup(long long id, const std::unordered_map<long long, tweet_ptr>& got,
                            clock::time_point now);

    // --- fills (PostgreSQL, off the loop) --------------------------------------------------------

    // The changes received after version v0, or nullopt when they are not all remembered (or
    // the cache was reset since): then nothing fetched may be cached.
    std::optional<std::vector<const change_set*>> changes_since(long long v0,
                                                                std::uint64_t gen0) const;

    asio::awaitable<bool> fill_list(long long user, long long v0, std::uint64_t gen0);

    asio::awaitable<bool> fill_tweets(long long user, const std::vector<long long>& missing,
                                      const std::vector<long long>& missing_flags,
                                      std::unordered_map<long long, tweet_ptr>& got,
                                      std::unordered_map<long long, std::uint8_t>& got_flags,
                                      long long v0, std::uint64_t gen0);

    // --- the cache -----------------------------------------------------------------------------

    struct tweet_slot {
        tweet_ptr rec;
        std::list<long long>::iterator lru;
    };

    void put_tweet(const tweet_ptr& t);

    void erase_tweet(long long id);

    user_rec* find_user(long long id);

    user_rec& touch_user(long long id);

    void drop_list(long long user, user_rec& u);

    void evict_users();

    static void insert_into_list(user_rec& u, long long tweet, long long author);

    // --- the broadcast ---------------------------------------------------------------------------

    void reset(const char* why);

    void clear_all();

    // The version every later change builds on: HMGET once the subscription is confirmed
    // (changes published meanwhile are buffered). Retried until it works or a reset starts a
    // newer attempt.
    asio::awaitable<void> establish_baseline();

    static bool parse_version(const redis::reply& r, std::string& epoch, long long& v);

    void on_broadcast(std::string_view payload);

    void apply(const broadcast& b);

    void set_flag(long long user, long long tweet, std::uint8_t bit, bool on);

    void on_created(change_set& cs, long long id, long long author, long long reply_to,
                    long long retweet_of);

    // A reply or retweet came or went: its parents' counts changed (their cached records are
    // dropped), and so did the author's "retweeted by me" flag of the original.
    void parents_changed(change_set& cs, long long author, long long reply_to, long long retweet_of,
                         bool created);

    void on_deleted(change_set& cs, long long id, long long author, long long reply_to,
                    long long retweet_of);

    void on_like(change_set& cs, long long id, long long actor, bool liked, long long likes,
                 long long retweets, long long replies);

    void on_follow(change_set& cs, long long follower);

    void wake();

    asio::io_context& ioc_;
    store::event_store& store_;
    redis::client& publisher_;  // the hub's command connection
    std::unique_ptr<redis::client> redis_;
    bool stopping_ = false;

    long long applied_ = -1;  // -1: no baseline yet (PostgreSQL answers)
    std::string epoch_;       // of applied_ ("" before the first write)
    std::mt19937_64 epoch_source_{std::random_device{}()};  // a fresh epoch per counter start
    std::uint64_t generation_ = 0;
    bool baseline_pending_ = false;
    std::vector<broadcast> buffered_;
    std::deque<change_set> recent_;
    std::vector<asio::steady_timer*> waiters_;
    std::shared_ptr<version_probe> next_probe_;

    std::unordered_map<long long, tweet_slot> tweets_;
    std::list<long long> tweet_lru_;
    std::unordered_map<long long, user_rec> users_;
    std::list<long long> user_lru_;
    std::unordered_map<long long, std::vector<long long>> by_author_;
    std::size_t author_refs_ = 0;

    std::uint64_t hits_ = 0, fallbacks_ = 0, tweet_fills_ = 0, list_fills_ = 0;
};

}  // namespace chirp::timeline::detail
