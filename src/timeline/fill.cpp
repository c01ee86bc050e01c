// The home-timeline cache's PostgreSQL fills (typed reads home_ids / home_records, on a reader
// thread) and the text of a tweet in a page (render, through domain::render).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <unordered_set>

#include "chirp/config/config.hpp"
#include "chirp/util/strings.hpp"
#include "home_timeline_impl.hpp"

namespace chirp::timeline::detail {

void home_timeline_impl::render(std::string& out, const tweet_rec& t, std::uint8_t flags,
                                const tweet_rec* original, std::uint8_t original_flags) {
    auto to_flags = [](std::uint8_t f) {
        return domain::viewer_flags{(f & liked_bit) != 0, (f & retweeted_bit) != 0};
    };
    domain::render(out, t.wire, t.text, to_flags(flags),
                   original != nullptr ? &original->wire : nullptr,
                   original != nullptr ? &original->text : nullptr, to_flags(original_flags));
}

asio::awaitable<bool> home_timeline_impl::fill_list(long long user, long long v0,
                                                    std::uint64_t gen0) {
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

asio::awaitable<bool> home_timeline_impl::fill_tweets(
    long long user, const std::vector<long long>& missing,
    const std::vector<long long>& missing_flags, std::unordered_map<long long, tweet_ptr>& got,
    std::unordered_map<long long, std::uint8_t>& got_flags, long long v0, std::uint64_t gen0) {
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
            if (std::find(c->flag_users.begin(), c->flag_users.end(), user) != c->flag_users.end())
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
        if (!t->deleted) t->text = domain::render_text(t->wire);
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

}  // namespace chirp::timeline::detail
