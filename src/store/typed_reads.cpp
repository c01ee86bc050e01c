// The readers: statements of queries.cpp → domain rows. A list is read as ids first (the page
// statement decides order and cursor), then the records of those ids with the shared loaders
// below, so each shape is assembled in one place (tweets with their originals and the
// viewer's flags, notifications, conversations with participants and last message).
// The loaders shared with replay_reads.cpp are declared in loaders.hpp.
#include "typed_reads.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <unordered_map>
#include <unordered_set>

#include "loaders.hpp"

namespace chirp::store::reads {

std::string id_array(const std::vector<long long>& v) {
    std::string s = "{";
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i != 0) s += ',';
        s += std::to_string(v[i]);
    }
    s += '}';
    return s;
}

std::vector<std::string> split_words(std::string_view s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
        auto j = s.find(' ', i);
        if (j == std::string_view::npos) j = s.size();
        if (j > i) out.emplace_back(s.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

std::vector<long long> split_ids(std::string_view s) {
    std::vector<long long> out;
    for (const auto& w : split_words(s)) out.push_back(std::stoll(w));
    return out;
}

std::vector<long long> first_column_ids(const pqxx::result& r) {
    std::vector<long long> out;
    out.reserve(r.size());
    for (const auto& row : r) out.push_back(row[0].as<long long>());
    return out;
}

std::optional<long long> user_id(tx_t& tx, const std::string& handle) {
    auto r = tx.exec_prepared("user_by_handle", handle);
    if (r.empty()) return std::nullopt;
    return r[0][0].as<long long>();
}

// --- users ----------------------------------------------------------------------------------

std::vector<domain::user> load_users(tx_t& tx, const std::vector<long long>& ids,
                                     long long viewer) {
    std::vector<domain::user> out;
    if (ids.empty()) return out;
    auto r = tx.exec_prepared("user_rows", id_array(ids), viewer);
    out.reserve(r.size());
    for (const auto& row : r) {
        domain::user u;
        u.ref.id = row[0].as<long long>();
        u.ref.handle = row[1].c_str();
        u.ref.display_name = row[2].c_str();
        u.created_at = row[3].as<long long>();
        u.followers = row[4].as<long long>();
        u.following = row[5].as<long long>();
        u.tweets = row[6].as<long long>();
        if (!row[7].is_null()) u.followed_by_me = row[7].as<bool>();
        out.push_back(std::move(u));
    }
    return out;
}

std::unordered_map<long long, domain::user_ref> load_refs(tx_t& tx,
                                                          const std::vector<long long>& ids) {
    std::unordered_map<long long, domain::user_ref> out;
    if (ids.empty()) return out;
    for (const auto& row : tx.exec_prepared("user_refs", id_array(ids))) {
        domain::user_ref u{row[0].as<long long>(), row[1].c_str(), row[2].c_str()};
        out.emplace(u.id, std::move(u));
    }
    return out;
}

// --- tweets ---------------------------------------------------------------------------------

std::unordered_map<long long, tweet_record> load_records(tx_t& tx,
                                                         const std::vector<long long>& ids) {
    std::unordered_map<long long, tweet_record> out;
    if (ids.empty()) return out;
    for (const auto& row : tx.exec_prepared("tweet_rows", id_array(ids))) {
        tweet_record rec;
        auto& t = rec.tweet;
        t.id = row[0].as<long long>();
        t.author.id = row[1].as<long long>();
        t.author.handle = row[2].c_str();
        t.author.display_name = row[3].c_str();
        t.content = row[4].c_str();
        t.created_at = row[5].as<long long>();
        if (const auto p = row[6].as<long long>(); p != 0) t.reply_to = p;
        rec.retweet_of_id = row[7].as<long long>();
        rec.deleted = row[8].as<bool>();
        t.mentions = split_words(row[9].c_str());
        t.hashtags = split_words(row[10].c_str());
        t.likes = row[11].as<long long>();
        t.retweets = row[12].as<long long>();
        t.replies = row[13].as<long long>();
        if (const auto co = row[14]; co.size() != 0)  // [[id, handle, name], ...]
            for (const auto& x : nlohmann::json::parse(co.c_str()))
                t.coauthors.push_back({x.at(0).get<long long>(), x.at(1).get<std::string>(),
                                       x.at(2).get<std::string>()});
        out.emplace(t.id, std::move(rec));
    }
    return out;
}

// The flags of (tweet, viewer) pairs and of each pair's original for the same viewer.
std::map<flag_key, domain::viewer_flags> load_flags(tx_t& tx, const std::vector<flag_key>& pairs) {
    std::map<flag_key, domain::viewer_flags> out;
    std::vector<long long> ids, viewers;
    for (const auto& [id, v] : pairs)
        if (v != 0) {
            ids.push_back(id);
            viewers.push_back(v);
        }
    if (ids.empty()) return out;
    for (const auto& row : tx.exec_prepared("tweet_flags", id_array(ids), id_array(viewers)))
        out[{row[0].as<long long>(), row[1].as<long long>()}] = {row[2].as<bool>(),
                                                                 row[3].as<bool>()};
    return out;
}

tweet_set load_tweets(tx_t& tx, const std::vector<flag_key>& pairs) {
    tweet_set s;
    std::vector<long long> ids;
    ids.reserve(pairs.size());
    for (const auto& p : pairs) ids.push_back(p.first);
    s.records = load_records(tx, ids);
    s.flags = load_flags(tx, pairs);
    return s;
}

tweet_set load_tweets(tx_t& tx, const std::vector<long long>& ids, long long viewer) {
    std::vector<flag_key> pairs;
    pairs.reserve(ids.size());
    for (auto id : ids) pairs.emplace_back(id, viewer);
    return load_tweets(tx, pairs);
}

page<domain::tweet> tweet_page(tx_t& tx, const std::vector<long long>& ids, int limit,
                               long long viewer) {
    page<domain::tweet> p;
    const auto set = load_tweets(tx, ids, viewer);
    p.items.reserve(ids.size());
    for (auto id : ids)
        if (auto t = set.get(id, viewer)) p.items.push_back(*t);
    if (!ids.empty() && ids.size() == static_cast<std::size_t>(limit)) p.next_cursor = ids.back();
    return p;
}

// --- notifications, messages, conversations ---------------------------------------------------

// Columns from `first`: seq, type, actor, tweet, conversation, created_at, read, recipient,
// draft.
notification_row notification_columns(const pqxx::row& row, int first) {
    notification_row n;
    n.seq = row[first].as<long long>();
    n.type = row[first + 1].c_str();
    n.actor = row[first + 2].as<long long>();
    n.tweet = row[first + 3].as<long long>();
    n.conversation = row[first + 4].as<long long>();
    n.created_at = row[first + 5].as<long long>();
    n.read = row[first + 6].as<bool>();
    n.recipient = row[first + 7].as<long long>();
    n.draft = row[first + 8].as<long long>();
    return n;
}

// Notifications with their actors and tweets (as each recipient sees them).
std::vector<domain::notification> assemble_notifications(
    tx_t& tx, const std::vector<notification_row>& rows) {
    std::vector<long long> actors;
    std::vector<flag_key> tweets;
    for (const auto& n : rows) {
        actors.push_back(n.actor);
        if (n.tweet != 0) tweets.emplace_back(n.tweet, n.recipient);
    }
    const auto refs = load_refs(tx, actors);
    const auto set = load_tweets(tx, tweets);
    std::vector<domain::notification> out;
    out.reserve(rows.size());
    for (const auto& r : rows) {
        domain::notification n;
        n.seq = r.seq;
        n.type = r.type;
        if (auto a = refs.find(r.actor); a != refs.end()) n.actor = a->second;
        if (r.tweet != 0) n.tweet = set.get(r.tweet, r.recipient);
        if (r.conversation != 0) n.conversation_id = r.conversation;
        if (r.draft != 0) n.draft_id = r.draft;
        n.created_at = r.created_at;
        n.read = r.read;
        out.push_back(std::move(n));
    }
    return out;
}

std::unordered_map<long long, std::shared_ptr<const domain::message>> load_messages(
    tx_t& tx, const std::vector<long long>& ids) {
    std::unordered_map<long long, std::shared_ptr<const domain::message>> out;
    if (ids.empty()) return out;
    auto r = tx.exec_prepared("message_rows", id_array(ids));
    std::vector<long long> senders;
    for (const auto& row : r) senders.push_back(row[2].as<long long>());
    const auto refs = load_refs(tx, senders);
    for (const auto& row : r) {
        auto m = std::make_shared<domain::message>();
        m->id = row[0].as<long long>();
        m->conversation_id = row[1].as<long long>();
        if (auto s = refs.find(row[2].as<long long>()); s != refs.end()) m->sender = s->second;
        m->content = row[3].c_str();
        m->created_at = row[4].as<long long>();
        m->seq = row[5].as<long long>();
        out.emplace(m->id, std::move(m));
    }
    return out;
}

std::unordered_map<long long, std::shared_ptr<const domain::conversation>> load_conversations(
    tx_t& tx, const std::vector<long long>& ids) {
    std::unordered_map<long long, std::shared_ptr<const domain::conversation>> out;
    if (ids.empty()) return out;
    auto r = tx.exec_prepared("conversation_rows", id_array(ids));
    std::vector<long long> people, last;
    for (const auto& row : r) {
        for (auto p : split_ids(row[2].c_str())) people.push_back(p);
        if (const auto m = row[3].as<long long>(); m != 0) last.push_back(m);
    }
    const auto refs = load_refs(tx, people);
    const auto messages = load_messages(tx, last);
    for (const auto& row : r) {
        auto c = std::make_shared<domain::conversation>();
        c->id = row[0].as<long long>();
        c->created_at = row[1].as<long long>();
        for (auto p : split_ids(row[2].c_str()))
            if (auto u = refs.find(p); u != refs.end()) c->participants.push_back(u->second);
        if (auto m = messages.find(row[3].as<long long>()); m != messages.end())
            c->last_message = *m->second;
        out.emplace(c->id, std::move(c));
    }
    return out;
}

// --- the readers ------------------------------------------------------------------------------

result<user_credentials> credentials(conn& c, const std::string& handle) {
    tx_t tx(c);
    auto r = tx.exec_prepared("user_by_handle", handle);
    if (r.empty()) return errc::not_found;
    const auto id = r[0][0].as<long long>();
    auto users = load_users(tx, {id}, 0);
    if (users.empty()) return errc::not_found;
    return user_credentials{std::move(users[0]), r[0][1].c_str()};
}

result<domain::user> user_by_id(conn& c, long long id) {
    tx_t tx(c);
    auto users = load_users(tx, {id}, 0);
    if (users.empty()) return errc::not_found;
    return std::move(users[0]);
}

result<domain::user> user_by_handle(conn& c, const std::string& handle, long long viewer) {
    tx_t tx(c);
    const auto id = user_id(tx, handle);
    if (!id) return errc::not_found;
    auto users = load_users(tx, {*id}, viewer);
    if (users.empty()) return errc::not_found;
    return std::move(users[0]);
}

result<std::vector<domain::user>> search_users(conn& c, const std::string& prefix, int limit,
                                               long long viewer) {
    tx_t tx(c);
    return load_users(tx, first_column_ids(tx.exec_prepared("users_search", prefix, limit)),
                      viewer);
}

result<page<domain::user>> follow_page(conn& c, bool followers, const std::string& handle,
                                       long long before, int limit, long long viewer) {
    tx_t tx(c);
    const auto id = user_id(tx, handle);
    if (!id) return errc::not_found;
    auto r = tx.exec_prepared(followers ? "followers_page" : "following_page", *id, before, limit);
    page<domain::user> p;
    p.items = load_users(tx, first_column_ids(r), viewer);
    if (!r.empty() && r.size() == static_cast<std::size_t>(limit))
        p.next_cursor = r[r.size() - 1][1].as<long long>();
    return p;
}

result<page<domain::tweet>> user_tweets(conn& c, const std::string& handle, long long before,
                                        int limit, long long viewer) {
    tx_t tx(c);
    const auto id = user_id(tx, handle);
    if (!id) return errc::not_found;
    auto ids = first_column_ids(tx.exec_prepared("user_tweets_page", *id, before, limit));
    return tweet_page(tx, ids, limit, viewer);
}

result<domain::tweet> tweet(conn& c, long long id, long long viewer) {
    tx_t tx(c);
    auto t = load_tweets(tx, {id}, viewer).get(id, viewer);
    if (!t) return errc::not_found;
    return *t;
}

result<page<domain::tweet>> replies(conn& c, long long id, long long before, int limit,
                                    long long viewer) {
    tx_t tx(c);
    if (tx.exec_prepared("tweet_live", id).empty()) return errc::not_found;
    auto ids = first_column_ids(tx.exec_prepared("replies_page", id, before, limit));
    return tweet_page(tx, ids, limit, viewer);
}

result<page<domain::tweet>> home_timeline(conn& c, long long user, long long before, int limit) {
    tx_t tx(c);
    auto ids = first_column_ids(tx.exec_prepared("timeline_page", user, before, limit));
    return tweet_page(tx, ids, limit, user);
}

result<notifications_page> notifications(conn& c, long long user, long long before, int limit) {
    tx_t tx(c);
    auto r = tx.exec_prepared("notifications_page", user, before, limit);
    std::vector<notification_row> rows;
    for (const auto& row : r) rows.push_back(notification_columns(row, 0));
    notifications_page out;
    out.page.items = assemble_notifications(tx, rows);
    if (!rows.empty() && rows.size() == static_cast<std::size_t>(limit))
        out.page.next_cursor = rows.back().seq;
    out.unread = tx.exec_prepared("notifications_unread", user)[0][0].as<long long>();
    return out;
}

result<page<domain::audit_event>> events(conn& c, long long user, long long after, int limit) {
    tx_t tx(c);
    page<domain::audit_event> p;
    for (const auto& row : tx.exec_prepared("events_page", user, after, limit)) {
        domain::audit_event e;
        e.seq = row[0].as<long long>();
        e.id = row[1].c_str();
        e.type = row[2].c_str();
        e.user_id = row[3].as<long long>();
        e.timestamp = row[4].as<long long>();
        e.version = row[5].as<int>();
        // Compact, in jsonb's key order (the audit payload is free-form JSON).
        e.payload_json = nlohmann::ordered_json::parse(row[6].c_str())
                             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        p.items.push_back(std::move(e));
    }
    if (!p.items.empty() && p.items.size() == static_cast<std::size_t>(limit))
        p.next_cursor = p.items.back().seq;
    return p;
}

result<page<domain::conversation>> conversations(conn& c, long long user, long long before,
                                                 int limit) {
    tx_t tx(c);
    const auto r = tx.exec_prepared("conversation_ids", user, before, limit);
    const auto ids = first_column_ids(r);
    const auto convs = load_conversations(tx, ids);
    page<domain::conversation> p;
    for (auto id : ids)
        if (auto it = convs.find(id); it != convs.end()) p.items.push_back(*it->second);
    // The cursor is the last row's last-activity seq (unique: one conversation per event).
    if (!r.empty() && r.size() == static_cast<std::size_t>(limit))
        p.next_cursor = r[r.size() - 1][1].as<long long>();
    return p;
}

result<page<domain::message>> messages(conn& c, long long conversation, long long user,
                                       long long before, int limit) {
    tx_t tx(c);
    auto access = tx.exec_prepared("conversation_access", conversation, user);
    if (access.empty()) return errc::not_found;
    if (!access[0][0].as<bool>()) return errc::forbidden;
    const auto ids =
        first_column_ids(tx.exec_prepared("messages_page", conversation, before, limit));
    const auto msgs = load_messages(tx, ids);
    page<domain::message> p;
    for (auto id : ids)
        if (auto it = msgs.find(id); it != msgs.end()) p.items.push_back(*it->second);
    if (!ids.empty() && ids.size() == static_cast<std::size_t>(limit)) p.next_cursor = ids.back();
    return p;
}

result<std::vector<long long>> conversation_members(conn& c, long long conversation) {
    tx_t tx(c);
    return first_column_ids(tx.exec_prepared("conversation_members", conversation));
}

result<std::vector<long long>> celebrity_followees(conn& c, long long user, long long threshold) {
    tx_t tx(c);
    return first_column_ids(tx.exec_prepared("celebrity_followees", user, threshold));
}

result<follower_ids> followers_of(conn& c, long long author, long long max_ids) {
    tx_t tx(c);
    follower_ids out;
    out.count = tx.exec_prepared("follower_count", author)[0][0].as<long long>();
    if (out.count <= max_ids) out.ids = first_column_ids(tx.exec_prepared("follower_ids", author));
    return out;
}

result<long long> purge_idempotency(conn& c, long long max_age_seconds, int limit) {
    tx_t tx(c);
    return static_cast<long long>(
        tx.exec_prepared("purge_idempotency", max_age_seconds, limit).affected_rows());
}

result<stats_counts> counts(conn& c) {
    tx_t tx(c);
    auto r = tx.exec_prepared("stats_counts");
    return stats_counts{r[0][0].as<long long>(), r[0][1].as<long long>(), r[0][2].as<long long>()};
}

result<home_list> home_ids(conn& c, long long user, int max) {
    tx_t tx(c);
    home_list out;
    out.authors = first_column_ids(tx.exec_prepared("home_authors", user));
    out.ids = first_column_ids(tx.exec_prepared("home_ids", user, max));
    return out;
}

result<home_fill> home_records(conn& c, const std::vector<long long>& ids, long long viewer,
                               const std::vector<long long>& flag_ids) {
    tx_t tx(c);
    home_fill out;
    auto recs = load_records(tx, ids);
    out.tweets.reserve(recs.size());
    for (auto& [id, rec] : recs) out.tweets.push_back(std::move(rec));
    std::vector<flag_key> pairs;
    for (auto id : flag_ids) pairs.emplace_back(id, viewer);
    for (const auto& [key, f] : load_flags(tx, pairs)) {
        out.flagged.push_back(key.first);
        if (f.liked) out.liked.push_back(key.first);
        if (f.retweeted) out.retweeted.push_back(key.first);
    }
    return out;
}

}  // namespace chirp::store::reads
