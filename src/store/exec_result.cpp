// DESIGN
// chirp_exec_rows (migration 004) answers the fast paths (plain tweets, likes) with raw columns,
// which this file renders into the answer and the live frames (serialized once), and every
// other command with JSON (o_json: {status, body, seq, deliveries}).
#include "exec_result.hpp"

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace chirp::store {

const std::string_view exec_rows_sql =
    "SELECT o_json::text, o_kind, o_seq, o_tid, o_actor, o_eid, o_ts, o_content, o_handle, "
    "o_name, o_hashtags, o_author, o_likes, o_retweets, o_replies, o_flag, o_base, o_for_author "
    "FROM chirp_exec_rows($1::jsonb)";

namespace {

std::shared_ptr<const std::string> make_frame(std::string_view channel, const std::string& seq,
                                              const nlohmann::json& event) {
    std::string s;
    s.reserve(256);
    s += R"({"type":"event","channel":")";
    s += channel;
    s += R"(","seq":")";
    s += seq;
    s += R"(","event":)";
    s += event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    s += '}';
    return std::make_shared<const std::string>(std::move(s));
}

// Appends `v` as a JSON string (quoted, escaped). The text is UTF-8 from PostgreSQL.
void append_json_string(std::string& out, std::string_view v) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (const char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xf];
                } else {
                    out += ch;
                }
        }
    }
    out += '"';
}

// chirp_ts(): microseconds since 1970 as "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, milliseconds
// truncated like to_char's MS).
std::string format_ts(long long us) {
    long long secs = us / 1000000;
    long long rem = us % 1000000;
    if (rem < 0) {
        rem += 1000000;
        --secs;
    }
    const auto t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(rem / 1000));
    return buf;
}

long long to_ll(const nlohmann::json& j) {
    if (j.is_string()) return std::stoll(j.get<std::string>());
    if (j.is_number_integer()) return j.get<long long>();
    return 0;
}

// Columns of chirp_exec_rows (migration 004) in the order exec_rows_sql selects them.
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
    c_for_author
};

// `obj` (a JSON object's text) with `fields` (",\"k\":v..." ) added before its closing brace.
void append_extended(std::string& out, std::string_view obj, std::string_view fields) {
    const auto close = obj.rfind('}');
    out.append(obj.substr(0, close));
    if (obj.find_first_not_of(" {", 0) != close) {
        out.append(fields);
    } else {
        out.append(fields.substr(1));  // an empty object: no leading comma
    }
    out += '}';
}

// The envelope of a live frame up to the event's payload:
// {"type":"event","channel":C,"seq":"S","event":{"id":E,"type":T,"userId":U,"timestamp":TS,
// "version":1,"payload":  — the caller appends the payload and "}}}". (version: the
// events.version column's default, which the fast paths do not set.)
std::string open_frame(std::string_view channel, std::string_view seq, std::string_view eid,
                       std::string_view type, std::string_view actor, std::string_view ts,
                       std::size_t reserve) {
    std::string f;
    f.reserve(reserve + 256);
    f += R"({"type":"event","channel":")";
    f += channel;
    f += R"(","seq":")";
    f += seq;
    f += R"(","event":{"id":")";
    f += eid;
    f += R"(","type":")";
    f += type;
    f += R"(","userId":")";
    f += actor;
    f += R"(","timestamp":")";
    f += ts;
    f += R"(","version":1,"payload":)";
    return f;
}

// A like from chirp_exec_likes_rows' raw columns: the answer (the tweet as the liker sees it),
// and for a new like the timeline frame (the counts) and the author's notification frame; the
// same JSON as the likes fast path of 002 built in SQL.
write_result render_like(const pqxx::row& row) {
    const std::string tid = row[c_tid].c_str(), actor = row[c_actor].c_str();
    const std::string likes = row[c_likes].c_str();
    write_result wr;
    wr.status = 200;
    std::string fields = R"(,"likes":)";
    fields += likes;
    fields += R"(,"likedByMe":true,"retweetedByMe":)";
    fields += row[c_flag].as<bool>() ? "true" : "false";
    append_extended(wr.body, row[c_base].c_str(), fields);
    if (row[c_seq].is_null()) return wr;  // already liked: nothing appended

    const std::string seq = row[c_seq].c_str(), eid = row[c_eid].c_str();
    const auto ts = format_ts(row[c_ts].as<long long>());
    const auto author = row[c_author].as<long long>();
    wr.seq = row[c_seq].as<long long>();
    std::string frame = open_frame("timeline", seq, eid, "TweetLiked", actor, ts, 128);
    frame += R"({"tweetId":")";
    frame += tid;
    frame += R"(","likes":)";
    frame += likes;
    frame += R"(,"retweets":)";
    frame += row[c_retweets].c_str();
    frame += R"(,"replies":)";
    frame += row[c_replies].c_str();
    frame += "}}}";
    delivery del;
    del.channel = channel_kind::timeline;
    del.seq = wr.seq;
    del.author = author;
    del.actor = row[c_actor].as<long long>();
    del.frame = std::make_shared<const std::string>(std::move(frame));
    wr.deliveries.push_back(std::move(del));
    if (author == wr.deliveries[0].actor) return wr;  // no notification for your own like

    std::string note = open_frame("notifications", seq, eid, "Notification", actor, ts, 768);
    note += R"({"notification":{"id":")";
    note += seq;
    note += R"(","seq":")";
    note += seq;
    note += R"(","type":"like","actor":{"id":")";
    note += actor;
    note += R"(","handle":)";
    append_json_string(note, row[c_handle].c_str());
    note += R"(,"displayName":)";
    append_json_string(note, row[c_name].c_str());
    note += R"(},"tweet":)";
    append_extended(note, row[c_for_author].c_str(), R"(,"likes":)" + likes);
    note += R"(,"conversationId":null,"createdAt":")";
    note += ts;
    note += R"(","read":false}}}})";
    delivery n;
    n.channel = channel_kind::notifications;
    n.seq = wr.seq;
    n.actor = wr.deliveries[0].actor;
    n.users.push_back(author);
    n.frame = std::make_shared<const std::string>(std::move(note));
    wr.deliveries.push_back(std::move(n));
    return wr;
}

// The answer and the timeline frame of a plain tweet from chirp_exec_plain_tweets_rows' raw
// columns: the same JSON as chirp_tweet_json and chirp_wire_timeline give for it, without
// JSON in SQL.
write_result render_plain_tweet(const pqxx::row& row) {
    const std::string seq = row[c_seq].c_str(), tid = row[c_tid].c_str(),
                      actor = row[c_actor].c_str();
    const auto ts = format_ts(row[c_ts].as<long long>());
    std::string tweet;
    tweet.reserve(384);
    tweet += R"({"id":")";
    tweet += tid;
    tweet += R"(","author":{"id":")";
    tweet += actor;
    tweet += R"(","handle":)";
    append_json_string(tweet, row[c_handle].c_str());
    tweet += R"(,"displayName":)";
    append_json_string(tweet, row[c_name].c_str());
    tweet += R"(},"content":)";
    append_json_string(tweet, row[c_content].c_str());
    tweet += R"(,"createdAt":")";
    tweet += ts;
    tweet += R"(","replyTo":null,"retweetOf":null,"mentions":[],"hashtags":)";
    tweet += row[c_hashtags].c_str();  // jsonb text of an array of strings
    tweet += R"(,"likes":0,"retweets":0,"replies":0,"likedByMe":false,"retweetedByMe":false})";

    std::string frame =
        open_frame("timeline", seq, row[c_eid].c_str(), "TweetCreated", actor, ts, tweet.size());
    frame += R"({"tweet":)";
    frame += tweet;
    frame += "}}}";

    write_result wr;
    wr.status = 201;
    wr.seq = row[c_seq].as<long long>();
    wr.body = std::move(tweet);
    delivery del;
    del.channel = channel_kind::timeline;
    del.seq = wr.seq;
    del.author = row[c_actor].as<long long>();
    del.actor = del.author;
    del.tweet_id = row[c_tid].as<long long>();
    del.frame = std::make_shared<const std::string>(std::move(frame));
    wr.deliveries.push_back(std::move(del));
    return wr;
}

}  // namespace

write_result to_write_result(const pqxx::row& row) {
    if (!row[c_json].is_null())
        return parse_write_result(nlohmann::json::parse(row[c_json].c_str()));
    if (std::string_view(row[c_kind].c_str()) == "like") return render_like(row);
    return render_plain_tweet(row);
}

write_result parse_write_result(const nlohmann::json& r) {
    write_result wr;
    wr.status = r.value("status", 500u);
    wr.body = r.at("body").dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    wr.replayed = r.value("replayed", false);
    if (auto s = r.find("seq"); s != r.end() && s->is_string()) wr.seq = to_ll(*s);
    if (auto d = r.find("deliveries"); d != r.end() && d->is_array()) {
        for (const auto& x : *d) {
            delivery del;
            const auto ch = x.at("channel").get<std::string>();
            const auto seq = x.at("seq").get<std::string>();
            del.seq = std::stoll(seq);
            if (auto a = x.find("actor"); a != x.end()) del.actor = to_ll(*a);
            if (auto t = x.find("tweetId"); t != x.end() && x.value("type", "") == "TweetCreated")
                del.tweet_id = to_ll(*t);
            if (auto c = x.find("conversation"); c != x.end()) del.conversation = to_ll(*c);
            if (ch == "follow") {
                del.follow_change = true;
                del.author = to_ll(x.at("author"));
                wr.deliveries.push_back(std::move(del));
                continue;
            }
            if (ch == "timeline") {
                del.channel = channel_kind::timeline;
                del.author = to_ll(x.at("author"));
            } else if (ch == "notifications") {
                del.channel = channel_kind::notifications;
                del.users.push_back(to_ll(x.at("user")));
            } else {
                del.channel = channel_kind::messages;
                for (const auto& u : x.at("users")) del.users.push_back(to_ll(u));
            }
            del.frame = make_frame(ch, seq, x.at("event"));
            wr.deliveries.push_back(std::move(del));
        }
    }
    return wr;
}

}  // namespace chirp::store
