// DESIGN
// GET /api/timeline without PostgreSQL on the warm path. Per process, bounded (LRU + TTL):
//  - users:  home list = the newest list_max ids of tweets by (followees + self) that were
//            live when fetched, kept current in place as tweets are created, plus the set of
//            authors it covers; and the user's own "liked / retweeted by me" flags per tweet.
//  - tweets: one record per tweet id: the typed tweet (domain::tweet, counts kept current)
//            and `deleted`.
// A page = walk the list, skip deleted tweets (and retweets of deleted ones), render each
// with the viewer's flags and its original through domain::render, the one tweet renderer:
// byte for byte the page the store's home_timeline read renders. Misses of a page go to
// PostgreSQL in ONE read (reader thread), a cold list in one more. Past the end of a full
// list the caller asks PostgreSQL.
//
// Coherence. Every process, after each commit and before the answer leaves (on_committed),
// sends ONE Lua call to Redis: INCR chirp:tweets:ver, PUBLISH chirp:tweets "<ver> <items>"
// (items: tweet created / deleted with its author and parents, like counts and who liked,
// follow changes). Versions are gap-free and arrive in order on our own subscriber
// connection; `applied_` = every change up to it is in the cache.
//  - A read first GETs chirp:tweets:ver (v) and waits (≤ 200 ms, else PostgreSQL) until
//    applied_ ≥ v: it sees every write answered before it started, in any process.
//  - A fill started at version v0 is not cached for keys touched by a change > v0 already
//    received (its snapshot may predate it); changes arriving later are applied to it.
//  - A version gap (lost message), a Redis reconnect or an unknown order: everything is
//    dropped and rebuilt; until a baseline version is known, PostgreSQL answers.
//  - Counts carried by a message are the state at that commit; messages apply in commit
//    order. Replies, retweets and deletions erase the parents they change.
#include "home_timeline.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <deque>
#include <list>
#include <nlohmann/json.hpp>
#include <random>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "chirp/config/config.hpp"
#include "chirp/domain/wire.hpp"
#include "chirp/redis/redis.hpp"
#include "chirp/store/store.hpp"
#include "chirp/util/strings.hpp"

namespace asio = boost::asio;
using json = nlohmann::json;

namespace chirp::rt {
namespace {

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
constexpr const char* ver_key = "chirp:tweets:ver";  // hash {epoch, ver}
constexpr const char* channel = "chirp:tweets";
// Count and PUBLISH in one atomic step: versions are gap-free and in publish order. The
// epoch (set by the first writer after the key is gone: a Redis restart or FLUSHALL) tells a
// counter that started again from one that went on.
constexpr const char* publish_script =
    "local e = redis.call('HGET', KEYS[1], 'epoch') "
    "if not e then e = ARGV[2] redis.call('HSET', KEYS[1], 'epoch', e) end "
    "local v = redis.call('HINCRBY', KEYS[1], 'ver', 1) "
    "redis.call('PUBLISH', KEYS[2], e .. ' ' .. v .. ' ' .. ARGV[1]) return v";

struct tweet_rec {
    long long id = 0, author = 0, reply_to = 0, retweet_of = 0;
    bool deleted = false;
    domain::tweet wire;  // what the page shows (counts kept current; no flags, no original)
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

struct item {
    char kind = 0;  // c: created, d: deleted, l: like state, f: follow change
    long long a = 0, b = 0, c = 0, d = 0, e = 0, f = 0;
};

std::vector<item> parse_items(std::string_view body) {
    std::vector<item> out;
    std::size_t i = 0;
    while (i < body.size()) {
        auto end = body.find(';', i);
        if (end == std::string_view::npos) end = body.size();
        const std::string part(body.substr(i, end - i));
        i = end + 1;
        if (part.empty()) continue;
        item it;
        it.kind = part[0];
        long long* fields[] = {&it.a, &it.b, &it.c, &it.d, &it.e, &it.f};
        const char* p = part.c_str() + 1;
        for (auto* f : fields) {
            char* next = nullptr;
            *f = std::strtoll(p, &next, 10);
            if (next == p) break;
            p = next;
        }
        out.push_back(it);
    }
    return out;
}

class home_timeline_impl final : public home_timeline {
public:
    home_timeline_impl(asio::io_context& ioc, const config& cfg, store::event_store& st,
                       redis::client& publisher)
        : ioc_(ioc), store_(st), publisher_(publisher) {
        redis::callbacks cbs;
        cbs.on_message = [this](std::string_view ch, std::string_view payload) {
            if (ch == channel) on_broadcast(payload);
        };
        cbs.on_reconnected = [this] {
            reset("redis reconnected");
            asio::co_spawn(ioc_, establish_baseline(), asio::detached);
        };
        cbs.on_lost = [this] { reset("redis lost"); };
        redis_ = redis::create_client(ioc, cfg.redis_url, std::move(cbs));
    }

    void start() override {
        redis_->subscribe(channel);
        redis_->start();
        asio::co_spawn(ioc_, establish_baseline(), asio::detached);
    }

    void stop() override {
        stopping_ = true;
        for (auto* t : waiters_) t->cancel();
        redis_->stop();
    }

    std::string stats() const override {
        return ",\"timelineCache\":{\"hits\":" + std::to_string(hits_) +
               ",\"fallbacks\":" + std::to_string(fallbacks_) +
               ",\"tweetFills\":" + std::to_string(tweet_fills_) +
               ",\"listFills\":" + std::to_string(list_fills_) +
               ",\"tweets\":" + std::to_string(tweets_.size()) +
               ",\"users\":" + std::to_string(users_.size()) +
               ",\"version\":" + std::to_string(applied_) + "}";
    }

    // --- the write side: one broadcast per committed write ------------------------------------

    void on_committed(const store::write_result& r) override {
        std::string body;
        for (const auto& d : r.deliveries) {
            if (d.follow_change) {
                body += "f" + std::to_string(d.actor) + " " + std::to_string(d.author) + ";";
                continue;
            }
            if (d.channel != store::channel_kind::timeline || !d.frame) continue;
            describe(d, body);
        }
        if (body.empty()) return;
        // On the fan-out's connection, queued ahead of its publishes: the hub writes them to
        // Redis before the answer is let go (realtime.cpp on_committed), one write for all.
        publisher_.send(util::strings("EVAL", publish_script, "2", ver_key, channel,
                                      std::move(body), std::to_string(epoch_source_())));
    }

    // --- the read side -------------------------------------------------------------------------

    asio::awaitable<std::optional<std::string>> page(long long user, long long before,
                                                     int limit) override {
        auto out = co_await try_page(user, before, limit);
        if (out)
            ++hits_;
        else
            ++fallbacks_;
        co_return out;
    }

private:
    // Appends the change items of one timeline delivery (the frame is the wire event).
    // A number or a quoted id after `key` in a frame (the writer's compact JSON), else -1.
    static long long scan(std::string_view frame, std::string_view key) {
        const auto at = frame.find(key);
        if (at == std::string_view::npos) return -1;
        std::size_t i = at + key.size();
        if (i < frame.size() && frame[i] == '"') ++i;
        long long v = 0;
        bool any = false;
        for (; i < frame.size() && frame[i] >= '0' && frame[i] <= '9'; ++i, any = true)
            v = v * 10 + (frame[i] - '0');
        return any ? v : -1;
    }

    void describe(const store::delivery& d, std::string& body) {
        // Likes, the commonest write: scanned, not parsed. Their payload is
        // {"likes":N,"replies":N,"retweets":N,"tweetId":"N"} (see chirp_wire_timeline).
        const std::string_view fr = *d.frame;
        const bool liked = fr.find(R"("type":"TweetLiked")") != std::string_view::npos;
        if (liked || fr.find(R"("type":"TweetUnliked")") != std::string_view::npos) {
            const long long id = scan(fr, R"("tweetId":)"), likes = scan(fr, R"("likes":)"),
                            retweets = scan(fr, R"("retweets":)"),
                            replies = scan(fr, R"("replies":)");
            if (id > 0 && likes >= 0 && retweets >= 0 && replies >= 0) {
                body += "l" + std::to_string(id) + " " + std::to_string(d.actor) +
                        (liked ? " 1 " : " 0 ") + std::to_string(likes) + " " +
                        std::to_string(retweets) + " " + std::to_string(replies) + ";";
                return;
            }
        }
        auto f = json::parse(*d.frame, nullptr, false);
        if (!f.is_object()) return;
        const auto ev = f.find("event");
        if (ev == f.end() || !ev->is_object()) return;
        const auto type = ev->value("type", std::string());
        const auto p = ev->find("payload");
        if (p == ev->end() || !p->is_object()) return;
        auto id_of = [](const json& j) -> long long {
            if (j.is_string()) return std::atoll(j.get_ref<const std::string&>().c_str());
            return 0;
        };
        if (type == "TweetCreated") {
            const auto t = p->find("tweet");
            if (t == p->end() || !t->is_object()) return;
            const long long id = id_of(t->value("id", json()));
            const long long reply_to = id_of(t->value("replyTo", json()));
            long long retweet_of = 0;
            if (auto o = t->find("retweetOf"); o != t->end() && o->is_object())
                retweet_of = id_of(o->value("id", json()));
            body += "c" + std::to_string(id) + " " + std::to_string(d.actor) + " " +
                    std::to_string(reply_to) + " " + std::to_string(retweet_of) + ";";
        } else if (type == "TweetDeleted") {
            const long long id = id_of(p->value("tweetId", json()));
            // Parents from this process's record when it has one; -1: receivers must assume
            // any tweet with replies or retweets may have changed.
            long long reply_to = -1, retweet_of = -1;
            if (auto it = tweets_.find(id); it != tweets_.end() && !it->second.rec->deleted) {
                reply_to = it->second.rec->reply_to;
                retweet_of = it->second.rec->retweet_of;
            }
            body += "d" + std::to_string(id) + " " + std::to_string(d.actor) + " " +
                    std::to_string(reply_to) + " " + std::to_string(retweet_of) + ";";
        } else if (type == "TweetLiked" || type == "TweetUnliked") {
            body += "l" + std::to_string(id_of(p->value("tweetId", json()))) + " " +
                    std::to_string(d.actor) + " " + (type == "TweetLiked" ? "1" : "0") + " " +
                    std::to_string(p->value("likes", 0LL)) + " " +
                    std::to_string(p->value("retweets", 0LL)) + " " +
                    std::to_string(p->value("replies", 0LL)) + ";";
        }
    }

    // A version we must reach before answering: every write answered before this request.
    // One HMGET answers every read that arrived before it was sent: the requests of one
    // loop turn share it (it is sent from a handler posted behind them).
    struct version_probe {
        bool done = false, ok = false;
        std::string epoch;
        long long ver = 0;
        std::vector<asio::steady_timer*> waiters;
    };

    asio::awaitable<void> run_probe(std::shared_ptr<version_probe> p) {
        co_await asio::post(ioc_, asio::use_awaitable);  // let this turn's reads join
        if (next_probe_ == p) next_probe_.reset();
        auto get = util::strings("HMGET", ver_key, "epoch", "ver");
        auto r = co_await redis_->call(std::move(get));
        p->ok = r && parse_version(*r, p->epoch, p->ver);
        p->done = true;
        for (auto* t : p->waiters) t->cancel();
    }

    asio::awaitable<bool> read_version(std::string& epoch, long long& v) {
        if (!next_probe_) {
            next_probe_ = std::make_shared<version_probe>();
            asio::co_spawn(ioc_, run_probe(next_probe_), asio::detached);
        }
        auto p = next_probe_;
        asio::steady_timer t(ioc_);
        t.expires_at(asio::steady_timer::time_point::max());
        p->waiters.push_back(&t);
        while (!p->done) co_await t.async_wait(tuple_awaitable);
        epoch = p->epoch;
        v = p->ver;
        co_return p->ok;
    }

    asio::awaitable<bool> catch_up() {
        if (applied_ < 0 || !redis_->ready()) co_return false;
        std::string epoch;
        long long v = 0;
        const bool read = co_await read_version(epoch, v);
        if (!read || applied_ < 0) co_return false;
        // Another epoch: the counter started again and its first changes are still on their
        // way to us. A missing one: no write since it started, nothing to catch up with.
        if (!epoch.empty() && epoch != epoch_) co_return false;
        if (epoch.empty()) co_return true;
        if (applied_ >= v) co_return true;
        asio::steady_timer t(ioc_);
        t.expires_after(catch_up_wait);
        waiters_.push_back(&t);
        while (applied_ >= 0 && epoch_ == epoch && applied_ < v && !stopping_) {
            auto [ec] = co_await t.async_wait(tuple_awaitable);
            if (!ec) break;  // timed out
            t.expires_at(t.expiry());
        }
        std::erase(waiters_, &t);
        co_return applied_ >= 0 && epoch_ == epoch&& applied_ >= v;
    }

    asio::awaitable<std::optional<std::string>> try_page(long long user, long long before,
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
        auto to_flags = [](std::uint8_t f) {
            return domain::viewer_flags{(f & liked_bit) != 0, (f & retweeted_bit) != 0};
        };
        std::string out;
        out.reserve(64 + items.size() * 700);
        domain::open_page(out);
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i != 0) out += ',';
            const tweet_rec* o = originals[i];
            domain::render(out, items[i]->wire, to_flags(flags_of(items[i]->id)),
                           o != nullptr ? &o->wire : nullptr,
                           to_flags(o != nullptr ? flags_of(o->id) : 0));
        }
        domain::page_meta meta;
        if (!items.empty() && items.size() == static_cast<std::size_t>(limit))
            meta.next_cursor = std::to_string(items.back()->id);
        domain::close_page(out, meta);
        co_return out;
    }

    const tweet_rec* lookup(long long id, const std::unordered_map<long long, tweet_ptr>& got,
                            clock::time_point now) {
        if (auto it = got.find(id); it != got.end()) return it->second.get();
        auto it = tweets_.find(id);
        if (it == tweets_.end()) return nullptr;
        const auto& rec = *it->second.rec;
        if (!rec.deleted && now - rec.fetched > entry_ttl) return nullptr;
        tweet_lru_.splice(tweet_lru_.begin(), tweet_lru_, it->second.lru);
        return &rec;
    }

    // --- fills (PostgreSQL, off the loop) --------------------------------------------------------

    // The changes received after version v0, or nullopt when they are not all remembered (or
    // the cache was reset since): then nothing fetched may be cached.
    std::optional<std::vector<const change_set*>> changes_since(long long v0,
                                                                std::uint64_t gen0) const {
        if (gen0 != generation_ || applied_ < 0) return std::nullopt;
        std::vector<const change_set*> out;
        if (applied_ == v0) return out;
        if (recent_.empty() || recent_.front().ver > v0 + 1) return std::nullopt;
        for (const auto& c : recent_)
            if (c.ver > v0) out.push_back(&c);
        return out;
    }

    asio::awaitable<bool> fill_list(long long user, long long v0, std::uint64_t gen0) {
        ++list_fills_;
        auto r = co_await store_.home_ids(user, static_cast<int>(list_max));
        if (!r) co_return false;
        std::vector<long long> ids = std::move(r->ids), authors = std::move(r->authors);
        std::sort(authors.begin(), authors.end());
        const bool full = ids.size() >= static_cast<std::size_t>(list_max);
        const auto changes = changes_since(v0, gen0);
        if (!changes) co_return false;
        for (const auto* c : *changes) {
            if (std::find(c->list_users.begin(), c->list_users.end(), user) != c->list_users.end())
                co_return false;  // followed or unfollowed meanwhile
        }
        if (authors.size() > max_author_refs / 16) co_return false;  // too big to cache
        auto& u = touch_user(user);
        if (u.has_list) drop_list(user, u);
        u.ids = std::move(ids);
        u.full = full;
        u.authors = std::move(authors);
        u.has_list = true;
        u.list_fetched = clock::now();
        for (auto a : u.authors) by_author_[a].push_back(user);
        author_refs_ += u.authors.size();
        // Tweets created after the fill's version (maybe not in its snapshot).
        for (const auto* c : *changes)
            for (const auto& [t, a] : c->creates) insert_into_list(u, t, a);
        evict_users();
        co_return true;
    }

    asio::awaitable<bool> fill_tweets(long long user, const std::vector<long long>& missing,
                                      const std::vector<long long>& missing_flags,
                                      std::unordered_map<long long, tweet_ptr>& got,
                                      std::unordered_map<long long, std::uint8_t>& got_flags,
                                      long long v0, std::uint64_t gen0) {
        ++tweet_fills_;
        auto r = co_await store_.home_records(missing, user, missing_flags);
        if (!r) co_return false;
        const auto changes = changes_since(v0, gen0);
        std::unordered_set<long long> untrusted;
        bool all_parents = false, flags_changed = false;
        if (changes) {
            for (const auto* c : *changes) {
                untrusted.insert(c->tweets.begin(), c->tweets.end());
                all_parents = all_parents || c->all_parents;
                if (std::find(c->flag_users.begin(), c->flag_users.end(), user) !=
                    c->flag_users.end())
                    flags_changed = true;
            }
        }
        const auto now = clock::now();
        for (auto& rec : r->tweets) {
            auto t = std::make_shared<tweet_rec>();
            t->id = rec.tweet.id;
            t->author = rec.tweet.author.id;
            t->deleted = rec.deleted;
            t->reply_to = rec.tweet.reply_to.value_or(0);
            t->retweet_of = rec.retweet_of_id;
            t->wire = std::move(rec.tweet);
            t->fetched = now;
            got[t->id] = t;
            // Cache it unless a change it may predate arrived meanwhile (deletions are final).
            const bool trusted =
                t->deleted || (changes && !untrusted.count(t->id) &&
                               !(all_parents && (t->wire.replies > 0 || t->wire.retweets > 0)));
            if (trusted) put_tweet(t);
        }
        // Ids that do not exist (cannot happen for listed ids, but never loop on them).
        for (auto id : missing)
            if (!got.count(id)) {
                auto t = std::make_shared<tweet_rec>();
                t->id = id;
                t->deleted = true;
                t->wire.id = id;
                got[id] = t;
            }
        std::unordered_map<long long, std::uint8_t> flags;
        for (auto x : r->flagged) flags[x] = 0;
        for (auto x : r->liked) flags[x] |= liked_bit;
        for (auto x : r->retweeted) flags[x] |= retweeted_bit;
        for (auto id : missing_flags) flags.emplace(id, 0);
        const bool cache_flags = changes && !flags_changed;
        user_rec* u = cache_flags ? &touch_user(user) : nullptr;
        if (u != nullptr && (u->flags.empty() || now - u->flags_fetched > entry_ttl)) {
            u->flags.clear();
            u->flags_fetched = now;
        }
        for (const auto& [id, f] : flags) {
            got_flags[id] = f;
            if (u != nullptr && u->flags.size() < max_flags_per_user) u->flags[id] = f;
        }
        evict_users();
        co_return true;
    }

    // --- the cache -----------------------------------------------------------------------------

    struct tweet_slot {
        tweet_ptr rec;
        std::list<long long>::iterator lru;
    };

    void put_tweet(const tweet_ptr& t) {
        auto it = tweets_.find(t->id);
        if (it != tweets_.end()) {
            it->second.rec = t;
            tweet_lru_.splice(tweet_lru_.begin(), tweet_lru_, it->second.lru);
            return;
        }
        tweet_lru_.push_front(t->id);
        tweets_.emplace(t->id, tweet_slot{t, tweet_lru_.begin()});
        while (tweets_.size() > max_tweets) {
            tweets_.erase(tweet_lru_.back());
            tweet_lru_.pop_back();
        }
    }

    void erase_tweet(long long id) {
        auto it = tweets_.find(id);
        if (it == tweets_.end()) return;
        tweet_lru_.erase(it->second.lru);
        tweets_.erase(it);
    }

    user_rec* find_user(long long id) {
        auto it = users_.find(id);
        if (it == users_.end()) return nullptr;
        user_lru_.splice(user_lru_.begin(), user_lru_, it->second.lru);
        return &it->second;
    }

    user_rec& touch_user(long long id) {
        if (auto* u = find_user(id)) return *u;
        user_lru_.push_front(id);
        auto& u = users_[id];
        u.lru = user_lru_.begin();
        return u;
    }

    void drop_list(long long user, user_rec& u) {
        for (auto a : u.authors) {
            auto it = by_author_.find(a);
            if (it == by_author_.end()) continue;
            std::erase(it->second, user);
            if (it->second.empty()) by_author_.erase(it);
        }
        author_refs_ -= u.authors.size();
        u.authors.clear();
        u.ids.clear();
        u.has_list = false;
    }

    void evict_users() {
        while (!user_lru_.empty() &&
               (users_.size() > max_users || author_refs_ > max_author_refs)) {
            const long long id = user_lru_.back();
            auto it = users_.find(id);
            if (it->second.has_list) drop_list(id, it->second);
            users_.erase(it);
            user_lru_.pop_back();
        }
    }

    static void insert_into_list(user_rec& u, long long tweet, long long author) {
        if (!std::binary_search(u.authors.begin(), u.authors.end(), author)) return;
        auto pos = std::lower_bound(u.ids.begin(), u.ids.end(), tweet, std::greater<>());
        if (pos != u.ids.end() && *pos == tweet) return;
        u.ids.insert(pos, tweet);
        if (u.ids.size() > static_cast<std::size_t>(list_max)) {
            u.ids.pop_back();
            u.full = true;
        }
    }

    // --- the broadcast ---------------------------------------------------------------------------

    void reset(const char* why) {
        if (applied_ >= 0) spdlog::info("timeline cache reset: {}", why);
        applied_ = -1;
        epoch_.clear();
        baseline_pending_ = false;
        buffered_.clear();
        clear_all();
    }

    void clear_all() {
        ++generation_;
        tweets_.clear();
        tweet_lru_.clear();
        users_.clear();
        user_lru_.clear();
        by_author_.clear();
        author_refs_ = 0;
        recent_.clear();
        wake();
    }

    // The version every later change builds on: HMGET once the subscription is confirmed
    // (changes published meanwhile are buffered). Retried until it works or a reset starts a
    // newer attempt.
    asio::awaitable<void> establish_baseline() {
        const auto gen = generation_;
        asio::steady_timer t(ioc_);
        bool warned = false;
        while (!stopping_ && gen == generation_) {
            if (!redis_->ready()) {
                t.expires_after(std::chrono::milliseconds(50));
                co_await t.async_wait(tuple_awaitable);
                continue;
            }
            co_await redis_->subscriptions_settled();
            if (gen != generation_ || !redis_->ready()) continue;
            baseline_pending_ = true;
            auto get = util::strings("HMGET", ver_key, "epoch", "ver");
            auto r = co_await redis_->call(std::move(get));
            if (gen != generation_) co_return;
            std::string epoch;
            long long v = 0;
            if (!r || !parse_version(*r, epoch, v)) {
                baseline_pending_ = false;
                buffered_.clear();
                if (!warned)
                    spdlog::warn("timeline cache: cannot read {} from Redis; retrying", ver_key);
                warned = true;
                t.expires_after(std::chrono::seconds(1));
                co_await t.async_wait(tuple_awaitable);
                continue;
            }
            baseline_pending_ = false;
            epoch_ = epoch;
            applied_ = v;
            // Changes published after the HMGET but received before its answer.
            auto buffered = std::move(buffered_);
            buffered_.clear();
            for (auto& [e, ver, body] : buffered)
                if (e != epoch_ || ver > applied_) apply(e, ver, body);
            wake();
            co_return;
        }
    }

    static bool parse_version(const redis::reply& r, std::string& epoch, long long& v) {
        if (r.type != redis::reply::kind::array || r.elements.size() != 2) return false;
        epoch = r.elements[0].type == redis::reply::kind::string ? r.elements[0].str : "";
        v = r.elements[1].type == redis::reply::kind::string ? std::atoll(r.elements[1].str.c_str())
                                                             : 0;
        return true;
    }

    // "<epoch> <ver> <items>"
    void on_broadcast(std::string_view payload) {
        const auto sp1 = payload.find(' ');
        if (sp1 == std::string_view::npos) return;
        const auto sp2 = payload.find(' ', sp1 + 1);
        if (sp2 == std::string_view::npos) return;
        const std::string epoch(payload.substr(0, sp1));
        const long long ver = std::atoll(std::string(payload.substr(sp1 + 1, sp2 - sp1)).c_str());
        const auto body = payload.substr(sp2 + 1);
        if (applied_ < 0) {
            if (baseline_pending_ && buffered_.size() < max_recent)
                buffered_.emplace_back(epoch, ver, std::string(body));
            return;
        }
        apply(epoch, ver, body);
    }

    void apply(const std::string& epoch, long long ver, std::string_view body) {
        if (epoch_.empty() && applied_ == 0 && ver == 1) epoch_ = epoch;  // the very first
        if (epoch != epoch_ || ver != applied_ + 1) {
            // A lost message, or a counter that started again: nothing cached can be trusted.
            spdlog::warn("timeline cache: broadcast {}/{} after {}/{}: cache dropped", epoch, ver,
                         epoch_, applied_);
            clear_all();
            epoch_ = epoch;
            applied_ = ver;
            return;
        }
        change_set cs;
        cs.ver = ver;
        for (const auto& it : parse_items(body)) {
            switch (it.kind) {
                case 'c':
                    on_created(cs, it.a, it.b, it.c, it.d);
                    break;
                case 'd':
                    on_deleted(cs, it.a, it.b, it.c, it.d);
                    break;
                case 'l':
                    on_like(cs, it.a, it.b, it.c != 0, it.d, it.e, it.f);
                    break;
                case 'f':
                    on_follow(cs, it.a);
                    break;
                default:
                    break;
            }
        }
        recent_.push_back(std::move(cs));
        while (recent_.size() > max_recent) recent_.pop_front();
        applied_ = ver;
        wake();
    }

    void set_flag(long long user, long long tweet, std::uint8_t bit, bool on) {
        auto it = users_.find(user);
        if (it == users_.end()) return;
        auto f = it->second.flags.find(tweet);
        if (f == it->second.flags.end()) return;  // unknown stays unknown
        f->second = on ? (f->second | bit) : (f->second & ~bit);
    }

    void on_created(change_set& cs, long long id, long long author, long long reply_to,
                    long long retweet_of) {
        if (auto it = by_author_.find(author); it != by_author_.end())
            for (auto u : it->second) insert_into_list(users_.at(u), id, author);
        cs.creates.emplace_back(id, author);
        parents_changed(cs, author, reply_to, retweet_of, true);
        if (retweet_of > 0) cs.flag_users.push_back(author);
    }

    // A reply or retweet came or went: its parents' counts changed (their cached records are
    // dropped), and so did the author's "retweeted by me" flag of the original.
    void parents_changed(change_set& cs, long long author, long long reply_to, long long retweet_of,
                         bool created) {
        for (const long long parent : {reply_to, retweet_of}) {
            if (parent <= 0) continue;
            erase_tweet(parent);
            cs.tweets.push_back(parent);
        }
        if (retweet_of > 0) set_flag(author, retweet_of, retweeted_bit, created);
    }

    void on_deleted(change_set& cs, long long id, long long author, long long reply_to,
                    long long retweet_of) {
        if (auto it = tweets_.find(id); it != tweets_.end() && !it->second.rec->deleted) {
            reply_to = it->second.rec->reply_to;
            retweet_of = it->second.rec->retweet_of;
        }
        cs.tweets.push_back(id);
        cs.flag_users.push_back(author);
        // A tombstone: deletion is final (and hides the tweet's retweets too).
        auto t = std::make_shared<tweet_rec>();
        t->id = id;
        t->author = author;
        t->deleted = true;
        t->wire.id = id;
        put_tweet(t);
        if (reply_to < 0 || retweet_of < 0) {
            // Parents unknown: any tweet with replies or retweets may have lost one.
            cs.all_parents = true;
            for (auto it = tweets_.begin(); it != tweets_.end();) {
                const auto& r = *it->second.rec;
                if (!r.deleted && (r.wire.replies > 0 || r.wire.retweets > 0)) {
                    tweet_lru_.erase(it->second.lru);
                    it = tweets_.erase(it);
                } else {
                    ++it;
                }
            }
            if (auto u = users_.find(author); u != users_.end()) u->second.flags.clear();
            return;
        }
        parents_changed(cs, author, reply_to, retweet_of, false);
    }

    void on_like(change_set& cs, long long id, long long actor, bool liked, long long likes,
                 long long retweets, long long replies) {
        if (auto it = tweets_.find(id); it != tweets_.end() && !it->second.rec->deleted) {
            auto& r = *it->second.rec;
            r.wire.likes = likes;
            r.wire.retweets = retweets;
            r.wire.replies = replies;
        }
        cs.tweets.push_back(id);
        set_flag(actor, id, liked_bit, liked);
        cs.flag_users.push_back(actor);
    }

    void on_follow(change_set& cs, long long follower) {
        if (auto it = users_.find(follower); it != users_.end() && it->second.has_list)
            drop_list(follower, it->second);
        cs.list_users.push_back(follower);
    }

    void wake() {
        for (auto* t : waiters_) t->cancel();
    }

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
    std::vector<std::tuple<std::string, long long, std::string>> buffered_;
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

}  // namespace

std::unique_ptr<home_timeline> create_home_timeline(asio::io_context& ioc, const config& cfg,
                                                    store::event_store& st,
                                                    redis::client& publisher) {
    return std::make_unique<home_timeline_impl>(ioc, cfg, st, publisher);
}

}  // namespace chirp::rt
