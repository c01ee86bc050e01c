// DESIGN
// The event writer's records (sql/functions/records.sql: table rows as jsonb, ids as numbers,
// times in microseconds) decoded into the domain structs: one decoder per record, and the
// answer of a general-path command ({status, body: {<shape>: record}, seq, replayed?,
// deliveries}) with its body and frames rendered by domain/wire.
#include "chirp/store/records.hpp"

#include <nlohmann/json.hpp>

namespace chirp::store {

using json = nlohmann::json;

namespace {

// A number, or an id as a string (how chirp_ok writes seq; older records wrote ids so).
long long as_ll(const json& j) {
    if (j.is_string()) return std::stoll(j.get_ref<const std::string&>());
    if (j.is_number()) return j.get<long long>();
    return 0;
}

long long num(const json& j, const char* key) {
    const auto it = j.find(key);
    return it == j.end() ? 0 : as_ll(*it);
}

std::optional<long long> opt_num(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    return num(j, key);
}

std::string str(const json& j, const char* key) {
    const auto it = j.find(key);
    return it == j.end() || !it->is_string() ? std::string() : it->get<std::string>();
}

bool flag(const json& j, const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::vector<std::string> strings(const json& j) {
    std::vector<std::string> out;
    if (!j.is_array()) return out;
    out.reserve(j.size());
    for (const auto& x : j)
        if (x.is_string()) out.push_back(x.get<std::string>());
    return out;
}

}  // namespace

domain::user_ref decode_ref(const json& j) {
    if (!j.is_object()) return {};
    return {num(j, "id"), str(j, "handle"), str(j, "display_name")};
}

domain::user decode_user(const json& j) {
    domain::user u;
    u.ref = decode_ref(j);
    u.created_at = num(j, "created_at");
    u.followers = num(j, "followers");
    u.following = num(j, "following");
    u.tweets = num(j, "tweets");
    if (auto f = j.find("followed_by_me"); f != j.end() && f->is_boolean())
        u.followed_by_me = f->get<bool>();
    return u;
}

std::shared_ptr<const domain::tweet> decode_tweet(const json& j) {
    if (!j.is_object()) return nullptr;
    auto t = std::make_shared<domain::tweet>();
    t->id = num(j, "id");
    t->author = decode_ref(j.value("author", json()));
    t->content = str(j, "content");
    t->created_at = num(j, "created_at");
    t->reply_to = opt_num(j, "reply_to");
    if (auto o = j.find("retweet_of"); o != j.end()) t->retweet_of = decode_tweet(*o);
    t->mentions = strings(j.value("mentions", json()));
    t->hashtags = strings(j.value("hashtags", json()));
    if (auto c = j.find("coauthors"); c != j.end() && c->is_array())
        for (const auto& x : *c) t->coauthors.push_back(decode_ref(x));
    t->likes = num(j, "likes");
    t->retweets = num(j, "retweets");
    t->replies = num(j, "replies");
    t->me = {flag(j, "liked"), flag(j, "retweeted")};
    return t;
}

domain::message decode_message(const json& j) {
    return {num(j, "id"),      num(j, "conversation_id"), decode_ref(j.value("sender", json())),
            str(j, "content"), num(j, "created_at"),      num(j, "seq")};
}

domain::conversation decode_conversation(const json& j) {
    domain::conversation c;
    c.id = num(j, "id");
    if (auto p = j.find("participants"); p != j.end() && p->is_array())
        for (const auto& x : *p) c.participants.push_back(decode_ref(x));
    c.created_at = num(j, "created_at");
    if (auto m = j.find("last_message"); m != j.end() && m->is_object())
        c.last_message = decode_message(*m);
    return c;
}

domain::notification decode_notification(const json& j) {
    domain::notification n;
    n.seq = num(j, "seq");
    n.type = str(j, "type");
    n.actor = decode_ref(j.value("actor", json()));
    n.tweet = decode_tweet(j.value("tweet", json()));
    n.conversation_id = opt_num(j, "conversation_id");
    n.draft_id = opt_num(j, "draft_id");
    n.created_at = num(j, "created_at");
    n.read = flag(j, "read");
    return n;
}

domain::draft decode_draft(const json& j) {
    domain::draft d;
    d.id = num(j, "id");
    d.owner = decode_ref(j.value("owner", json()));
    if (auto c = j.find("collaborators"); c != j.end() && c->is_array())
        for (const auto& x : *c) d.collaborators.push_back(decode_ref(x));
    d.text = str(j, "text");
    d.version = num(j, "version");
    d.code_points = num(j, "code_points");
    d.created_at = num(j, "created_at");
    d.updated_at = num(j, "updated_at");
    return d;
}

// chirp_rec_event: the event a live stream shows, its payload decoded by type.
domain::event decode_event(const json& j) {
    domain::event e;
    e.id = str(j, "id");
    e.type = str(j, "type");
    e.user_id = num(j, "user_id");
    e.timestamp = num(j, "created_at");
    e.version = static_cast<int>(num(j, "version"));
    const json p = j.value("payload", json::object());
    if (e.type == "TweetCreated") {
        e.payload = domain::tweet_created{decode_tweet(p.value("tweet", json()))};
    } else if (e.type == "TweetDeleted") {
        e.payload = domain::tweet_deleted{num(p, "tweet_id")};
    } else if (e.type == "TweetLiked" || e.type == "TweetUnliked") {
        e.payload = domain::tweet_counts{num(p, "tweet_id"), num(p, "likes"), num(p, "retweets"),
                                         num(p, "replies")};
    } else if (e.type == "Notification") {
        e.payload = domain::notification_added{std::make_shared<const domain::notification>(
            decode_notification(p.value("notification", json())))};
    } else if (e.type == "MessageSent") {
        e.payload = domain::message_sent{
            std::make_shared<const domain::message>(decode_message(p.value("message", json()))),
            std::make_shared<const domain::conversation>(
                decode_conversation(p.value("conversation", json())))};
    } else {
        throw std::runtime_error("unknown live event type " + e.type);
    }
    return e;
}

namespace {

// {"error":{"code","message"}} through the one error renderer.
std::string render_error(const json& e) {
    const auto code = str(e, "code");
    for (int i = static_cast<int>(errc::bad_request); i <= static_cast<int>(errc::internal); ++i)
        if (code_string(static_cast<errc>(i)) == code)
            return error_body(static_cast<errc>(i), str(e, "message"));
    return error_body(errc::internal, str(e, "message"));
}

// The answer body of a general-path row: {<shape>: record}.
std::string render_body(const json& body) {
    std::string out;
    if (!body.is_object() || body.size() != 1) {
        // An Idempotency-Key record stored before answers were records: its body as stored.
        return body.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    const auto only = body.begin();
    const std::string& shape = only.key();
    const json& rec = only.value();
    if (shape == "error") return render_error(rec);
    if (shape == "user") {
        domain::render(out, decode_user(rec));
    } else if (shape == "tweet") {
        domain::render(out, *decode_tweet(rec));
    } else if (shape == "conversation") {
        domain::render(out, decode_conversation(rec));
    } else if (shape == "message") {
        domain::render(out, decode_message(rec));
    } else if (shape == "draft") {
        domain::render(out, decode_draft(rec));
    } else if (shape == "published") {  // {"published":{"tweet","draft"}}: a draft's tweet
        out += R"({"tweet":)";
        domain::render(out, *decode_tweet(rec.at("tweet")));
        out += R"(,"draft":)";
        domain::render(out, decode_draft(rec.at("draft")));
        out += '}';
    } else if (shape == "deleted") {  // {"deleted":"<tweet id>"}
        out += R"({"deleted":")";
        out += std::to_string(as_ll(rec));
        out += "\"}";
    } else if (shape == "unread") {  // {"unread":N}
        out += R"({"unread":)";
        out += std::to_string(as_ll(rec));
        out += '}';
    } else {
        return body.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    return out;
}

}  // namespace

// A delivery with its typed event and its frame, rendered once.
delivery make_delivery(channel_kind ch, long long seq, domain::event ev,
                       std::string_view payload_object) {
    delivery d;
    d.channel = ch;
    d.seq = seq;
    auto e = std::make_shared<const domain::event>(std::move(ev));
    std::string frame;
    frame.reserve(256 + payload_object.size());
    domain::render_frame(frame, ch, seq, *e, payload_object);
    d.frame = std::make_shared<const std::string>(std::move(frame));
    d.event = std::move(e);
    return d;
}

delivery make_delivery(channel_kind ch, long long seq, domain::event ev) {
    return make_delivery(ch, seq, std::move(ev), {});
}

write_result write_result_from_record(const json& r) {
    write_result wr;
    wr.status = r.value("status", 500u);
    // A replayed Idempotency-Key answer: the bytes first sent, when the record has them.
    if (auto a = r.find("answer"); a != r.end() && a->is_string())
        wr.body = a->get<std::string>();
    else
        wr.body = render_body(r.at("body"));
    wr.replayed = r.value("replayed", false);
    wr.seq = num(r, "seq");
    const auto d = r.find("deliveries");
    if (d == r.end() || !d->is_array()) return wr;
    for (const auto& x : *d) {
        const auto ch = str(x, "channel");
        const long long seq = num(x, "seq");
        if (ch == "follow") {
            delivery del;
            del.seq = seq;
            del.follow_change = true;
            del.author = num(x, "author");
            del.actor = num(x, "actor");
            wr.deliveries.push_back(std::move(del));
            continue;
        }
        const auto kind = ch == "timeline"        ? channel_kind::timeline
                          : ch == "notifications" ? channel_kind::notifications
                                                  : channel_kind::messages;
        auto del = make_delivery(kind, seq, decode_event(x.at("event")));
        del.actor = num(x, "actor");
        del.author = num(x, "author");
        del.tweet_id = num(x, "tweet_id");
        del.conversation = num(x, "conversation");
        if (auto u = x.find("users"); u != x.end() && u->is_array())
            for (const auto& id : *u) del.users.push_back(as_ll(id));
        wr.deliveries.push_back(std::move(del));
    }
    return wr;
}

}  // namespace chirp::store
