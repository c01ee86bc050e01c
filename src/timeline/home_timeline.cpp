// DESIGN
// GET /api/timeline without PostgreSQL on the warm path. Per process, bounded (LRU + TTL):
//  - users:  home list = the newest list_max ids of tweets by (followees + self) that were
//            live when fetched, kept current in place as tweets are created, plus the set of
//            authors it covers; and the user's own "liked / retweeted by me" flags per tweet.
//  - tweets: one record per tweet id: the typed tweet (domain::tweet, counts kept current),
//            its viewer-independent text (domain::render_text, rendered once at fill: all but
//            counts and flags) and `deleted`.
// A page = walk the list, skip deleted tweets (and retweets of deleted ones), render each
// with the viewer's flags and its original through domain::render from the cached texts (the
// one tweet renderer's pieces; counts and flags appended per request): byte for byte the page
// the store's home_timeline read renders. Misses of a page go to
// PostgreSQL in ONE read (reader thread), a cold list in one more. Past the end of a full
// list the caller asks PostgreSQL.
//
// Coherence. Every process, after each commit and before the answer leaves (on_committed),
// sends ONE Lua call to Redis: INCR chirp:tweets:ver, PUBLISH chirp:tweets "<epoch> <ver>
// <changes>" (broadcast.hpp: tweet created / deleted with its author and parents, like counts
// and who liked, follow changes). Versions are gap-free and arrive in order on our own subscriber
// connection; `applied_` = every change up to it is in the cache.
//  - A read first GETs chirp:tweets:ver (v) and waits (≤ 200 ms, else PostgreSQL) until
//    applied_ ≥ v: it sees every write answered before it started, in any process.
//  - A fill started at version v0 is not cached for keys touched by a change > v0 already
//    received (its snapshot may predate it); changes arriving later are applied to it.
//  - A version gap (lost message), a Redis reconnect or an unknown order: everything is
//    dropped and rebuilt; until a baseline version is known, PostgreSQL answers.
//  - With several Redis servers (--redis-url a,b,c) all of this lives on the home shard (the
//    first); losing it resets every process's cache until it is back (PostgreSQL answers).
//  - Counts carried by a message are the state at that commit; messages apply in commit
//    order. Replies, retweets and deletions erase the parents they change.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <unordered_set>

#include "chirp/config/config.hpp"
#include "chirp/util/strings.hpp"
#include "home_timeline_impl.hpp"

namespace chirp::timeline::detail {

home_timeline_impl::home_timeline_impl(asio::io_context& ioc, const config& cfg,
                                       store::event_store& st, redis::client& publisher)
    : ioc_(ioc), store_(st), publisher_(publisher) {
    redis::callbacks cbs;
    cbs.on_message = [this](std::string_view ch, std::string_view payload) {
        if (ch == channel) {
            on_broadcast(payload);
        } else if (ch == redis::gap_channel && applied_ >= 0) {
            // A process could not publish some writes (their broadcasts may be lost too).
            spdlog::info("timeline cache cleared: a process could not publish to Redis");
            clear_all();
        }
    };
    cbs.on_reconnected = [this] {
        reset("redis reconnected");
        asio::co_spawn(ioc_, establish_baseline(), asio::detached);
    };
    cbs.on_lost = [this] { reset("redis lost"); };
    // The broadcast and its version key live on the home shard: the first URL of the list.
    redis_ = redis::create_client(ioc, cfg.redis_url, std::move(cbs),
                                  {cfg.redis_timeout, cfg.redis_queue_bytes});
}

void home_timeline_impl::start() {
    redis_->subscribe(channel);
    redis_->subscribe(std::string(redis::gap_channel));
    redis_->start();
    asio::co_spawn(ioc_, establish_baseline(), asio::detached);
}

void home_timeline_impl::stop() {
    stopping_ = true;
    for (auto* t : waiters_) t->cancel();
    redis_->stop();
}

void home_timeline_impl::stats_fields(std::string& out) const {
    out += ",\"timelineCache\":{\"hits\":" + std::to_string(hits_) +
           ",\"fallbacks\":" + std::to_string(fallbacks_) +
           ",\"tweetFills\":" + std::to_string(tweet_fills_) +
           ",\"listFills\":" + std::to_string(list_fills_) +
           ",\"tweets\":" + std::to_string(tweets_.size()) +
           ",\"users\":" + std::to_string(users_.size()) +
           ",\"version\":" + std::to_string(applied_) + "}";
}

void home_timeline_impl::on_committed(const store::write_result& r) {
    std::vector<change> changes;
    for (const auto& d : r.deliveries) {
        if (d.follow_change) {
            changes.emplace_back(follow_changed{d.actor, d.author});
            continue;
        }
        if (d.channel != store::channel_kind::timeline || !d.frame) continue;
        describe(d, changes);
    }
    if (changes.empty()) return;
    // On the fan-out's connection, queued ahead of its publishes: the hub writes them to
    // Redis before the answer is let go (fanout::service::on_committed), one write for all.
    const auto sent =
        publisher_.send(util::strings("EVAL", broadcast_script, "2", ver_key, channel,
                                      encode_changes(changes), std::to_string(epoch_source_())));
    if (sent == 0 && applied_ >= 0) {
        // Not even this process's cache hears of this write: nothing cached can be trusted
        // until a new baseline (the other processes hear of it through chirp:gaps).
        reset("a broadcast could not be sent to Redis");
        asio::co_spawn(ioc_, establish_baseline(), asio::detached);
    }
}

asio::awaitable<std::optional<std::string>> home_timeline_impl::page(long long user,
                                                                     long long before, int limit) {
    auto out = co_await try_page(user, before, limit);
    if (out)
        ++hits_;
    else
        ++fallbacks_;
    co_return out;
}

// Appends the change items of one timeline delivery, read from its typed event (the writer's
// domain::event, the value its frame renders): nothing is scanned or parsed back.
void home_timeline_impl::describe(const store::delivery& d, std::vector<change>& out) {
    if (!d.event) return;
    const auto& type = d.event->type;
    const auto& payload = d.event->payload;
    if (const auto* c = std::get_if<domain::tweet_counts>(&payload)) {
        out.emplace_back(like_changed{c->tweet_id, d.actor, type == "TweetLiked", c->likes,
                                      c->retweets, c->replies});
    } else if (const auto* t = std::get_if<domain::tweet_created>(&payload)) {
        if (!t->tweet) return;
        const long long retweet_of = t->tweet->retweet_of ? t->tweet->retweet_of->id : 0;
        out.emplace_back(
            tweet_created{t->tweet->id, d.actor, t->tweet->reply_to.value_or(0), retweet_of});
    } else if (const auto* x = std::get_if<domain::tweet_deleted>(&payload)) {
        // Parents from this process's record when it has one; -1: receivers must assume
        // any tweet with replies or retweets may have changed.
        long long reply_to = -1, retweet_of = -1;
        if (auto it = tweets_.find(x->tweet_id); it != tweets_.end() && !it->second.rec->deleted) {
            reply_to = it->second.rec->reply_to;
            retweet_of = it->second.rec->retweet_of;
        }
        out.emplace_back(tweet_deleted{x->tweet_id, d.actor, reply_to, retweet_of});
    }
}

asio::awaitable<std::optional<std::string>> home_timeline_impl::try_page(long long user,
                                                                         long long before,
                                                                         int limit) {
    const bool current = co_await catch_up();
    if (!current) co_return std::nullopt;
    const long long v0 = applied_;
    const auto gen0 = generation_;

    // The home list.
    auto* u = find_user(user);
    if (u == nullptr || !u->has_list || clock::now() - u->list_fetched > entry_ttl) {
        const bool filled = co_await fill_list(user, v0, gen0);
        if (!filled) co_return std::nullopt;
        u = find_user(user);
        if (u == nullptr || !u->has_list) co_return std::nullopt;
    }
    const std::vector<long long> ids = u->ids;
    const bool full = u->full;
    if (clock::now() - u->flags_fetched > entry_ttl) u->flags.clear();

    // Walk the list; fetch what is missing in one query, at most a few rounds (a fetched
    // retweet may need its original).
    std::unordered_map<long long, tweet_ptr> got;
    std::unordered_map<long long, std::uint8_t> got_flags;
    std::vector<const tweet_rec*> items;
    std::vector<const tweet_rec*> originals;
    bool exhausted = false;
    for (int round = 0;; ++round) {
        items.clear();
        originals.clear();
        std::vector<long long> missing, missing_flags;
        auto* me = find_user(user);
        auto flag_known = [&](long long id) {
            if (got_flags.count(id)) return true;
            return me != nullptr && me->flags.count(id) != 0;
        };
        std::size_t pending = 0;
        exhausted = true;
        const auto now = clock::now();
        for (auto id : ids) {
            if (before != 0 && id >= before) continue;
            if (items.size() + pending >= static_cast<std::size_t>(limit)) {
                exhausted = false;
                break;
            }
            const tweet_rec* t = lookup(id, got, now);
            if (t == nullptr) {
                missing.push_back(id);
                ++pending;
                continue;
            }
            if (t->deleted) continue;
            const tweet_rec* o = nullptr;
            if (t->retweet_of != 0) {
                o = lookup(t->retweet_of, got, now);
                if (o == nullptr) {
                    missing.push_back(t->retweet_of);
                    ++pending;
                    continue;
                }
                if (o->deleted) continue;  // deleting a tweet deletes its retweets
            }
            if (!flag_known(id)) missing_flags.push_back(id);
            if (o != nullptr && !flag_known(o->id)) missing_flags.push_back(o->id);
            items.push_back(t);
            originals.push_back(o);
        }
        if (missing.empty() && missing_flags.empty()) break;
        if (round == 3) co_return std::nullopt;
        const bool filled =
            co_await fill_tweets(user, missing, missing_flags, got, got_flags, v0, gen0);
        if (!filled) co_return std::nullopt;
    }
    if (items.size() < static_cast<std::size_t>(limit) && exhausted && full)
        co_return std::nullopt;  // older tweets exist beyond the list: PostgreSQL

    // Render (no suspension from here on: the records stay valid).
    auto* me = find_user(user);
    auto flags_of = [&](long long id) -> std::uint8_t {
        if (auto it = got_flags.find(id); it != got_flags.end()) return it->second;
        if (me != nullptr)
            if (auto it = me->flags.find(id); it != me->flags.end()) return it->second;
        return 0;
    };
    std::string out;
    out.reserve(64 + items.size() * 700);
    domain::open_page(out);
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i != 0) out += ',';
        render(out, *items[i], flags_of(items[i]->id), originals[i],
               originals[i] ? flags_of(originals[i]->id) : 0);
    }
    domain::page_meta meta;
    if (!items.empty() && items.size() == static_cast<std::size_t>(limit))
        meta.next_cursor = std::to_string(items.back()->id);
    domain::close_page(out, meta);
    co_return out;
}

}  // namespace chirp::timeline::detail

namespace chirp::timeline {

std::unique_ptr<home_timeline> create_home_timeline(boost::asio::io_context& ioc, const config& cfg,
                                                    store::event_store& st,
                                                    redis::client& publisher) {
    return std::make_unique<detail::home_timeline_impl>(ioc, cfg, st, publisher);
}

}  // namespace chirp::timeline
