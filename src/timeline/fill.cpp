// The home-timeline cache's PostgreSQL fills (tl_home, tl_fill, on a reader thread) and the
// text of a tweet in a page (render_flat): every place this cache knows the tweet's JSON.
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

void home_timeline_impl::render_flat(std::string& out, const tweet_rec& t, std::uint8_t flags,
                                     const tweet_rec* original, std::uint8_t original_flags) {
    out += "{\"id\": \"";
    out += t.id_text;
    out += "\", \"likes\": ";
    out += std::to_string(t.likes);
    out += t.frag1;
    out += std::to_string(t.replies);
    out += t.frag2;
    out += std::to_string(t.retweets);
    out += t.frag3;
    out += (flags & liked_bit) ? "true" : "false";
    out += ", \"retweetOf\": ";
    if (original != nullptr)
        render_flat(out, *original, original_flags, nullptr, 0);
    else
        out += "null";
    out += ", \"retweetedByMe\": ";
    out += (flags & retweeted_bit) ? "true" : "false";
    out += '}';
}

void home_timeline_impl::render(std::string& out, const tweet_rec& t, std::uint8_t flags,
                                const tweet_rec* original, std::uint8_t original_flags) {
    render_flat(out, t, flags, original, original_flags);
}

asio::awaitable<bool> home_timeline_impl::fill_list(long long user, long long v0,
                                                    std::uint64_t gen0) {
    ++list_fills_;
    auto params = util::strings(std::to_string(user), std::to_string(list_max));
    auto r = co_await store_.query("tl_home", std::move(params));
    if (r.code != errc::ok || !r.json) co_return false;
    auto j = json::parse(*r.json, nullptr, false);
    if (!j.is_object()) co_return false;
    std::vector<long long> ids, authors;
    for (const auto& x : j["ids"]) ids.push_back(x.get<long long>());
    for (const auto& x : j["authors"]) authors.push_back(x.get<long long>());
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
    json ids = json::array(), fids = json::array();
    for (auto id : missing) ids.push_back(id);
    for (auto id : missing_flags) fids.push_back(id);
    auto params = util::strings(ids.dump(), std::to_string(user), fids.dump());
    auto r = co_await store_.query("tl_fill", std::move(params));
    if (r.code != errc::ok || !r.json) co_return false;
    auto j = json::parse(*r.json, nullptr, false);
    if (!j.is_object()) co_return false;
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
    for (const auto& row : j["tweets"]) {
        if (!row.is_array() || row.size() != 14) co_return false;
        auto t = std::make_shared<tweet_rec>();
        t->id = row[0].get<long long>();
        t->author = row[1].get<long long>();
        t->deleted = row[2].get<bool>();
        t->reply_to = row[3].get<long long>();
        t->retweet_of = row[4].get<long long>();
        t->likes = row[5].get<long long>();
        t->retweets = row[6].get<long long>();
        t->replies = row[7].get<long long>();
        t->id_text = std::to_string(t->id);
        t->frag1 = ", \"author\": " + row[8].get<std::string>() +
                   ", \"content\": " + row[9].get<std::string>() + ", \"replies\": ";
        t->frag2 = ", \"replyTo\": " + row[11].get<std::string>() +
                   ", \"hashtags\": " + row[12].get<std::string>() +
                   ", \"mentions\": " + row[13].get<std::string>() + ", \"retweets\": ";
        t->frag3 = ", \"createdAt\": " + row[10].get<std::string>() + ", \"likedByMe\": ";
        t->fetched = now;
        got[t->id] = t;
        // Cache it unless a change it may predate arrived meanwhile (deletions are final).
        const bool trusted = t->deleted || (changes && !untrusted.count(t->id) &&
                                            !(all_parents && (t->replies > 0 || t->retweets > 0)));
        if (trusted) put_tweet(t);
    }
    // Ids that do not exist (cannot happen for listed ids, but never loop on them).
    for (auto id : missing)
        if (!got.count(id)) {
            auto t = std::make_shared<tweet_rec>();
            t->id = id;
            t->deleted = true;
            t->id_text = std::to_string(id);
            got[id] = t;
        }
    std::unordered_map<long long, std::uint8_t> flags;
    for (const auto& x : j["flagged"]) flags[x.get<long long>()] = 0;
    for (const auto& x : j["liked"]) flags[x.get<long long>()] |= liked_bit;
    for (const auto& x : j["retweeted"]) flags[x.get<long long>()] |= retweeted_bit;
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
