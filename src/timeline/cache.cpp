// The home-timeline cache's data structure: tweet records and users (home list, authors,
// flags) under LRU and size bounds, and the in-place effect of each broadcast change on them.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "chirp/config/config.hpp"
#include "chirp/util/strings.hpp"
#include "home_timeline_impl.hpp"

using json = nlohmann::json;

namespace chirp::timeline::detail {

const tweet_rec* home_timeline_impl::lookup(long long id,
                                            const std::unordered_map<long long, tweet_ptr>& got,
                                            clock::time_point now) {
    if (auto it = got.find(id); it != got.end()) return it->second.get();
    auto it = tweets_.find(id);
    if (it == tweets_.end()) return nullptr;
    const auto& rec = *it->second.rec;
    if (!rec.deleted && now - rec.fetched > entry_ttl) return nullptr;
    tweet_lru_.splice(tweet_lru_.begin(), tweet_lru_, it->second.lru);
    return &rec;
}

void home_timeline_impl::put_tweet(const tweet_ptr& t) {
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

void home_timeline_impl::erase_tweet(long long id) {
    auto it = tweets_.find(id);
    if (it == tweets_.end()) return;
    tweet_lru_.erase(it->second.lru);
    tweets_.erase(it);
}

user_rec* home_timeline_impl::find_user(long long id) {
    auto it = users_.find(id);
    if (it == users_.end()) return nullptr;
    user_lru_.splice(user_lru_.begin(), user_lru_, it->second.lru);
    return &it->second;
}

user_rec& home_timeline_impl::touch_user(long long id) {
    if (auto* u = find_user(id)) return *u;
    user_lru_.push_front(id);
    auto& u = users_[id];
    u.lru = user_lru_.begin();
    return u;
}

void home_timeline_impl::drop_list(long long user, user_rec& u) {
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

void home_timeline_impl::evict_users() {
    while (!user_lru_.empty() && (users_.size() > max_users || author_refs_ > max_author_refs)) {
        const long long id = user_lru_.back();
        auto it = users_.find(id);
        if (it->second.has_list) drop_list(id, it->second);
        users_.erase(it);
        user_lru_.pop_back();
    }
}

void home_timeline_impl::insert_into_list(user_rec& u, long long tweet, long long author) {
    if (!std::binary_search(u.authors.begin(), u.authors.end(), author)) return;
    auto pos = std::lower_bound(u.ids.begin(), u.ids.end(), tweet, std::greater<>());
    if (pos != u.ids.end() && *pos == tweet) return;
    u.ids.insert(pos, tweet);
    if (u.ids.size() > static_cast<std::size_t>(list_max)) {
        u.ids.pop_back();
        u.full = true;
    }
}

void home_timeline_impl::set_flag(long long user, long long tweet, std::uint8_t bit, bool on) {
    auto it = users_.find(user);
    if (it == users_.end()) return;
    auto f = it->second.flags.find(tweet);
    if (f == it->second.flags.end()) return;  // unknown stays unknown
    f->second = on ? (f->second | bit) : (f->second & ~bit);
}

void home_timeline_impl::on_created(change_set& cs, long long id, long long author,
                                    long long reply_to, long long retweet_of) {
    if (auto it = by_author_.find(author); it != by_author_.end())
        for (auto u : it->second) insert_into_list(users_.at(u), id, author);
    cs.creates.emplace_back(id, author);
    parents_changed(cs, author, reply_to, retweet_of, true);
    if (retweet_of > 0) cs.flag_users.push_back(author);
}

// A reply or retweet came or went: its parents' counts changed (their cached records are
// dropped), and so did the author's "retweeted by me" flag of the original.
void home_timeline_impl::parents_changed(change_set& cs, long long author, long long reply_to,
                                         long long retweet_of, bool created) {
    for (const long long parent : {reply_to, retweet_of}) {
        if (parent <= 0) continue;
        erase_tweet(parent);
        cs.tweets.push_back(parent);
    }
    if (retweet_of > 0) set_flag(author, retweet_of, retweeted_bit, created);
}

void home_timeline_impl::on_deleted(change_set& cs, long long id, long long author,
                                    long long reply_to, long long retweet_of) {
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

void home_timeline_impl::on_like(change_set& cs, long long id, long long actor, bool liked,
                                 long long likes, long long retweets, long long replies) {
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

void home_timeline_impl::on_follow(change_set& cs, long long follower) {
    if (auto it = users_.find(follower); it != users_.end() && it->second.has_list)
        drop_list(follower, it->second);
    cs.list_users.push_back(follower);
}

}  // namespace chirp::timeline::detail
