// DESIGN
// chirp_exec_rows (sql/functions/exec.sql) answers each command with one row. Rows of
// plain tweets and likes without Idempotency-Key (chirp_decide_tweets, chirp_decide_likes;
// the row type chirp_exec_row, migration 008) carry typed columns, mapped here into the
// domain structs; every other row carries o_json, a DATA record decoded by records.cpp. The
// domain renderers (domain/wire.hpp) write every answer body and every live frame, each
// frame once.
#include "exec_result.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <unordered_map>

#include "chirp/domain/wire.hpp"
#include "chirp/store/records.hpp"

namespace chirp::store {

const std::string_view exec_rows_sql =
    "SELECT o_json::text, o_kind, o_seq, o_tid, o_actor, o_eid, o_ts, o_content, o_handle, "
    "o_name, o_hashtags, o_author, o_likes, o_retweets, o_replies, o_flag, o_base, o_for_author, "
    "o_t_handle, o_t_name, o_t_ts, o_t_reply_to, o_t_mentions, o_t_liked, o_t_retweeted "
    "FROM chirp_exec_rows($1::jsonb)";

namespace {

using json = nlohmann::json;

// Columns of chirp_exec_rows in the order exec_rows_sql selects them.
enum col : int {
    c_json,
    c_kind,
    c_seq,
    c_tid,
    c_actor,
    c_eid,
    c_ts,
    c_content,
    c_handle,
    c_name,
    c_hashtags,
    c_author,
    c_likes,
    c_retweets,
    c_replies,
    c_flag,
    c_base,
    c_for_author,
    c_t_handle,
    c_t_name,
    c_t_ts,
    c_t_reply_to,
    c_t_mentions,
    c_t_liked,
    c_t_retweeted
};

// A JSON array of strings (jsonb text: `[]`, `["a", "b"]`). Hashtags have no escapes: those
// are split without a parser (a per-tweet cost); anything else is parsed.
std::vector<std::string> json_strings(std::string_view text) {
    std::vector<std::string> out;
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']' &&
        text.find('\\') == std::string_view::npos) {
        std::size_t i = 1;
        for (;;) {
            const auto open = text.find('"', i);
            if (open == std::string_view::npos) return out;
            const auto close = text.find('"', open + 1);
            if (close == std::string_view::npos) break;
            out.emplace_back(text.substr(open + 1, close - open - 1));
            i = close + 1;
        }
        out.clear();
    }
    for (auto& x : json::parse(text))
        if (x.is_string()) out.push_back(std::move(x.get_ref<std::string&>()));
    return out;
}

// A plain tweet from chirp_decide_tweets' columns: the answer and the timeline frame.
write_result from_plain_tweet(const pqxx::row& row) {
    auto t = std::make_shared<domain::tweet>();
    t->id = row[c_tid].as<long long>();
    t->author = {row[c_actor].as<long long>(), row[c_handle].c_str(), row[c_name].c_str()};
    t->content = row[c_content].c_str();
    t->created_at = row[c_ts].as<long long>();
    const auto tags = row[c_hashtags];
    t->hashtags = json_strings(std::string_view(tags.c_str(), tags.size()));
    write_result wr;
    wr.status = 201;
    wr.seq = row[c_seq].as<long long>();
    wr.body.reserve(384);
    domain::render(wr.body, *t);
    domain::event ev{row[c_eid].c_str(),      "TweetCreated", t->author.id, t->created_at, 1,
                     domain::tweet_created{t}};
    // The answer is the frame's tweet: its bytes pasted, not rendered again.
    auto del = make_delivery(channel_kind::timeline, wr.seq, std::move(ev), wr.body);
    del.author = t->author.id;
    del.actor = t->author.id;
    del.tweet_id = t->id;
    wr.deliveries.push_back(std::move(del));
    return wr;
}

// Heterogeneous lookup: a record's text is looked up without copying it.
struct text_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

// The tweet of a liked tweet's record (jsonb text) with `likes` (the count after the run): a
// run holds one record per tweet, repeated for each of its likes, so each distinct record is
// parsed once and copied once per count (per thread, bounded). Shared and never changed.
std::shared_ptr<const domain::tweet> tweet_of_record(const pqxx::field& f, long long likes) {
    thread_local std::unordered_map<std::string, std::shared_ptr<const domain::tweet>, text_hash,
                                    std::equal_to<>>
        memo;
    const std::string_view text(f.c_str(), f.size());
    auto it = memo.find(text);
    if (it == memo.end()) {
        if (memo.size() >= 1024) memo.clear();
        auto t = decode_tweet(json::parse(text));
        if (!t) throw std::runtime_error("a like without its tweet's record");
        it = memo.emplace(std::string(text), std::move(t)).first;
    }
    if (it->second->likes != likes) {
        auto t = std::make_shared<domain::tweet>(*it->second);
        t->likes = likes;
        it->second = std::move(t);
    }
    return it->second;
}

// A liked tweet from its typed columns (migration 011) with the counts after the run, as its
// author sees it, and its viewer-independent text (domain::render_text). A run repeats each
// liked tweet for each of its likes: the last one built per tweet is kept (per thread,
// bounded) and shared while its columns are the same, so its text is rendered once.
struct liked {
    std::shared_ptr<const domain::tweet> tweet;
    domain::tweet_text text;
};

const liked& liked_tweet(const pqxx::row& row) {
    thread_local std::unordered_map<long long, liked> memo;
    const long long id = row[c_tid].as<long long>();
    const long long likes = row[c_likes].as<long long>();
    const long long retweets = row[c_retweets].as<long long>();
    const long long replies = row[c_replies].as<long long>();
    const long long created_at = row[c_t_ts].as<long long>();
    const domain::viewer_flags me{row[c_t_liked].as<bool>(), row[c_t_retweeted].as<bool>()};
    const auto content = row[c_content];
    if (memo.size() >= 1024 && !memo.contains(id)) memo.clear();
    auto& kept = memo[id];
    if (const auto& k = kept.tweet;
        k && k->likes == likes && k->retweets == retweets && k->replies == replies &&
        k->me.liked == me.liked && k->me.retweeted == me.retweeted && k->created_at == created_at &&
        k->content == std::string_view(content.c_str(), content.size()))
        return kept;
    auto t = std::make_shared<domain::tweet>();
    t->id = id;
    t->author = {row[c_author].as<long long>(), row[c_t_handle].c_str(), row[c_t_name].c_str()};
    t->content.assign(content.c_str(), content.size());
    t->created_at = created_at;
    if (!row[c_t_reply_to].is_null()) t->reply_to = row[c_t_reply_to].as<long long>();
    const auto mentions = row[c_t_mentions];
    t->mentions = json_strings(std::string_view(mentions.c_str(), mentions.size()));
    const auto tags = row[c_hashtags];
    t->hashtags = json_strings(std::string_view(tags.c_str(), tags.size()));
    t->likes = likes;
    t->retweets = retweets;
    t->replies = replies;
    t->me = me;
    kept.text = domain::render_text(*t);
    kept.tweet = std::move(t);
    return kept;
}

// A like from chirp_decide_likes' columns: the answer (the tweet as the liker sees it), and
// for a new like the timeline frame (the counts) and the author's notification frame.
// The liked tweet comes as typed columns (liked_tweet), a liked retweet as records: o_base
// and o_for_author, chirp_rec_tweet as nobody and as the author. o_likes etc. are the counts
// after the run; o_flag: retweetedByMe. o_seq is NULL when nothing was appended.
write_result from_like(const pqxx::row& row) {
    const long long likes = row[c_likes].as<long long>();
    const bool typed = row[c_base].is_null();
    write_result wr;
    wr.status = 200;
    // The tweet as the liker sees it: likedByMe, retweetedByMe from o_flag.
    const domain::viewer_flags me{true, row[c_flag].as<bool>()};
    std::shared_ptr<const domain::tweet> liked;
    if (typed) {
        const auto& l = liked_tweet(row);
        liked = l.tweet;
        domain::render(wr.body, *liked, l.text, me, nullptr, nullptr, {});
    } else {
        liked = tweet_of_record(row[c_base], likes);
        const domain::tweet* original = liked->retweet_of.get();
        domain::render(wr.body, *liked, me, original,
                       original != nullptr ? original->me : domain::viewer_flags{});
    }
    if (row[c_seq].is_null()) return wr;  // already liked: nothing appended

    wr.seq = row[c_seq].as<long long>();
    const long long actor = row[c_actor].as<long long>(), author = row[c_author].as<long long>();
    const domain::timestamp_us ts = row[c_ts].as<long long>();
    const std::string eid = row[c_eid].c_str();
    auto counts =
        make_delivery(channel_kind::timeline, wr.seq,
                      {eid, "TweetLiked", actor, ts, 1,
                       domain::tweet_counts{liked->id, likes, row[c_retweets].as<long long>(),
                                            row[c_replies].as<long long>()}});
    counts.author = author;
    counts.actor = actor;
    wr.deliveries.push_back(std::move(counts));
    if (author == actor) return wr;  // no notification for your own like

    auto n = std::make_shared<domain::notification>();
    n->seq = wr.seq;
    n->type = "like";
    n->actor = {actor, row[c_handle].c_str(), row[c_name].c_str()};
    n->tweet = typed ? liked : tweet_of_record(row[c_for_author], likes);
    n->created_at = ts;
    auto note = make_delivery(channel_kind::notifications, wr.seq,
                              {eid, "Notification", actor, ts, 1, domain::notification_added{n}});
    note.actor = actor;
    note.users.push_back(author);
    wr.deliveries.push_back(std::move(note));
    return wr;
}

}  // namespace

write_result to_write_result(const pqxx::row& row) {
    if (!row[c_json].is_null()) return write_result_from_record(json::parse(row[c_json].c_str()));
    if (std::string_view(row[c_kind].c_str()) == "like") return from_like(row);
    return from_plain_tweet(row);
}

}  // namespace chirp::store
