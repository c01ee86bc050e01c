// The one renderer of each wire shape (see wire.hpp). Hot: the REST timeline renders every
// tweet of a page with these functions, so they append into the caller's buffer, escape in
// runs and format timestamps without the C library's time functions.
#include "chirp/domain/wire.hpp"

#include <array>
#include <charconv>

namespace chirp::domain {
namespace {

// 0: passes through; otherwise the character after '\\' ('u': \u00XX).
constexpr std::array<char, 256> escape_table = [] {
    std::array<char, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[c] = 'u';
    t['"'] = '"';
    t['\\'] = '\\';
    t['\n'] = 'n';
    t['\r'] = 'r';
    t['\t'] = 't';
    t['\b'] = 'b';
    t['\f'] = 'f';
    return t;
}();

void append_int(std::string& out, long long v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// "123" (ids and seqs are strings on the wire).
void append_id(std::string& out, long long v) {
    out += '"';
    append_int(out, v);
    out += '"';
}

void append_bool(std::string& out, bool b) {
    out += b ? "true" : "false";
}

void append_quoted_timestamp(std::string& out, timestamp_us t) {
    out += '"';
    append_timestamp(out, t);
    out += '"';
}

void append_strings(std::string& out, const std::vector<std::string>& v) {
    out += '[';
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i != 0) out += ',';
        append_json_string(out, v[i]);
    }
    out += ']';
}

void put2(char* p, unsigned v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    std::size_t run = 0;  // start of the bytes not yet copied
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        const char e = escape_table[c];
        if (e == 0) continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        out += '\\';
        out += e;
        if (e == 'u') {
            out += "00";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
    out.append(s.data() + run, s.size() - run);
    out += '"';
}

void append_timestamp(std::string& out, timestamp_us t) {
    long long secs = t / 1000000;
    long long rem = t % 1000000;
    if (rem < 0) {
        rem += 1000000;
        --secs;
    }
    long long days = secs / 86400;
    long long sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        --days;
    }
    // Civil date from days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
    const long long z = days + 719468;
    const long long era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    const long long y = static_cast<long long>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
    if (y < 0 || y > 9999) {  // outside what PostgreSQL's to_char writes as 4 digits
        append_int(out, y);
    } else {
        char yb[4];
        put2(yb, static_cast<unsigned>(y / 100));
        put2(yb + 2, static_cast<unsigned>(y % 100));
        out.append(yb, 4);
    }
    char b[20];  // -MM-DDTHH:MM:SS.mmmZ
    b[0] = '-';
    put2(b + 1, m);
    b[3] = '-';
    put2(b + 4, d);
    b[6] = 'T';
    put2(b + 7, static_cast<unsigned>(sod / 3600));
    b[9] = ':';
    put2(b + 10, static_cast<unsigned>(sod / 60 % 60));
    b[12] = ':';
    put2(b + 13, static_cast<unsigned>(sod % 60));
    b[15] = '.';
    const auto ms = static_cast<unsigned>(rem / 1000);
    b[16] = static_cast<char>('0' + ms / 100);
    put2(b + 17, ms % 100);
    b[19] = 'Z';
    out.append(b, 20);
}

std::string format_timestamp(timestamp_us t) {
    std::string s;
    append_timestamp(s, t);
    return s;
}

std::string_view channel_name(channel c) noexcept {
    switch (c) {
        case channel::timeline:
            return "timeline";
        case channel::notifications:
            return "notifications";
        case channel::messages:
            return "messages";
    }
    return "timeline";
}

void render(std::string& out, const user_ref& u) {
    out += R"({"id":)";
    append_id(out, u.id);
    out += R"(,"handle":)";
    append_json_string(out, u.handle);
    out += R"(,"displayName":)";
    append_json_string(out, u.display_name);
    out += '}';
}

void render(std::string& out, const user& u) {
    out += R"({"id":)";
    append_id(out, u.ref.id);
    out += R"(,"handle":)";
    append_json_string(out, u.ref.handle);
    out += R"(,"displayName":)";
    append_json_string(out, u.ref.display_name);
    out += R"(,"createdAt":)";
    append_quoted_timestamp(out, u.created_at);
    out += R"(,"followers":)";
    append_int(out, u.followers);
    out += R"(,"following":)";
    append_int(out, u.following);
    out += R"(,"tweets":)";
    append_int(out, u.tweets);
    if (u.followed_by_me) {
        out += R"(,"followedByMe":)";
        append_bool(out, *u.followed_by_me);
    }
    out += '}';
}

// The pieces of the one tweet renderer, in key order: head, then the original (or null),
// then lists, then counts and flags (tail).
namespace {

void append_tweet_head(std::string& out, const tweet& t) {
    out += R"({"id":)";
    append_id(out, t.id);
    out += R"(,"author":)";
    render(out, t.author);
    out += R"(,"content":)";
    append_json_string(out, t.content);
    out += R"(,"createdAt":)";
    append_quoted_timestamp(out, t.created_at);
    out += R"(,"replyTo":)";
    if (t.reply_to)
        append_id(out, *t.reply_to);
    else
        out += "null";
    out += R"(,"retweetOf":)";
}

void append_tweet_lists(std::string& out, const tweet& t) {
    out += R"(,"mentions":)";
    append_strings(out, t.mentions);
    out += R"(,"hashtags":)";
    append_strings(out, t.hashtags);
    out += R"(,"coauthors":[)";
    for (std::size_t i = 0; i < t.coauthors.size(); ++i) {
        if (i != 0) out += ',';
        render(out, t.coauthors[i]);
    }
    out += ']';
}

void append_tweet_tail(std::string& out, const tweet& t, viewer_flags me) {
    out += R"(,"likes":)";
    append_int(out, t.likes);
    out += R"(,"retweets":)";
    append_int(out, t.retweets);
    out += R"(,"replies":)";
    append_int(out, t.replies);
    out += R"(,"likedByMe":)";
    append_bool(out, me.liked);
    out += R"(,"retweetedByMe":)";
    append_bool(out, me.retweeted);
    out += '}';
}

}  // namespace

void render(std::string& out, const tweet& t, viewer_flags me, const tweet* original,
            viewer_flags original_me) {
    append_tweet_head(out, t);
    if (original != nullptr)
        render(out, *original, original_me, nullptr, {});
    else
        out += "null";
    append_tweet_lists(out, t);
    append_tweet_tail(out, t, me);
}

tweet_text render_text(const tweet& t) {
    tweet_text x;
    append_tweet_head(x.head, t);
    append_tweet_lists(x.lists, t);
    return x;
}

void render(std::string& out, const tweet& t, const tweet_text& text, viewer_flags me,
            const tweet* original, const tweet_text* original_text, viewer_flags original_me) {
    out += text.head;
    if (original != nullptr && original_text != nullptr)
        render(out, *original, *original_text, original_me, nullptr, nullptr, {});
    else if (original != nullptr)
        render(out, *original, original_me, nullptr, {});
    else
        out += "null";
    out += text.lists;
    append_tweet_tail(out, t, me);
}

void render(std::string& out, const tweet& t) {
    const tweet* o = t.retweet_of.get();
    render(out, t, t.me, o, o != nullptr ? o->me : viewer_flags{});
}

void render(std::string& out, const notification& n) {
    out += R"({"id":)";
    append_id(out, n.seq);
    out += R"(,"seq":)";
    append_id(out, n.seq);
    out += R"(,"type":)";
    append_json_string(out, n.type);
    out += R"(,"actor":)";
    render(out, n.actor);
    out += R"(,"tweet":)";
    if (n.tweet)
        render(out, *n.tweet);
    else
        out += "null";
    out += R"(,"conversationId":)";
    if (n.conversation_id)
        append_id(out, *n.conversation_id);
    else
        out += "null";
    if (n.draft_id) {
        out += R"(,"draftId":)";
        append_id(out, *n.draft_id);
    }
    out += R"(,"createdAt":)";
    append_quoted_timestamp(out, n.created_at);
    out += R"(,"read":)";
    append_bool(out, n.read);
    out += '}';
}

void render(std::string& out, const message& m) {
    out += R"({"id":)";
    append_id(out, m.id);
    out += R"(,"conversationId":)";
    append_id(out, m.conversation_id);
    out += R"(,"sender":)";
    render(out, m.sender);
    out += R"(,"content":)";
    append_json_string(out, m.content);
    out += R"(,"createdAt":)";
    append_quoted_timestamp(out, m.created_at);
    out += R"(,"seq":)";
    append_id(out, m.seq);
    out += '}';
}

void render(std::string& out, const conversation& c) {
    out += R"({"id":)";
    append_id(out, c.id);
    out += R"(,"participants":[)";
    for (std::size_t i = 0; i < c.participants.size(); ++i) {
        if (i != 0) out += ',';
        render(out, c.participants[i]);
    }
    out += R"(],"createdAt":)";
    append_quoted_timestamp(out, c.created_at);
    out += R"(,"lastMessage":)";
    if (c.last_message)
        render(out, *c.last_message);
    else
        out += "null";
    out += '}';
}

void render(std::string& out, const audit_event& e) {
    out += R"({"seq":)";
    append_id(out, e.seq);
    out += R"(,"id":)";
    append_json_string(out, e.id);
    out += R"(,"type":)";
    append_json_string(out, e.type);
    out += R"(,"userId":)";
    append_id(out, e.user_id);
    out += R"(,"timestamp":)";
    append_quoted_timestamp(out, e.timestamp);
    out += R"(,"version":)";
    append_int(out, e.version);
    out += R"(,"payload":)";
    out += e.payload_json.empty() ? std::string_view("{}") : std::string_view(e.payload_json);
    out += '}';
}

void render(std::string& out, const draft& d) {
    out += R"({"id":)";
    append_id(out, d.id);
    out += R"(,"owner":)";
    render(out, d.owner);
    out += R"(,"collaborators":[)";
    for (std::size_t i = 0; i < d.collaborators.size(); ++i) {
        if (i != 0) out += ',';
        render(out, d.collaborators[i]);
    }
    out += R"(],"text":)";
    append_json_string(out, d.text);
    out += R"(,"version":)";
    append_int(out, d.version);
    out += R"(,"codePoints":)";
    append_int(out, d.code_points);
    out += R"(,"createdAt":)";
    append_quoted_timestamp(out, d.created_at);
    out += R"(,"updatedAt":)";
    append_quoted_timestamp(out, d.updated_at);
    out += '}';
}

namespace {

// `object`, when not empty, is the payload's object already rendered (tweet, notification).
struct payload_renderer {
    std::string& out;
    std::string_view object;
    void operator()(const tweet_created& p) const {
        out += R"({"tweet":)";
        if (!object.empty())
            out += object;
        else if (p.tweet)
            render(out, *p.tweet);
        else
            out += "null";
        out += '}';
    }
    void operator()(const tweet_deleted& p) const {
        out += R"({"tweetId":)";
        append_id(out, p.tweet_id);
        out += '}';
    }
    void operator()(const tweet_counts& p) const {
        out += R"({"tweetId":)";
        append_id(out, p.tweet_id);
        out += R"(,"likes":)";
        append_int(out, p.likes);
        out += R"(,"retweets":)";
        append_int(out, p.retweets);
        out += R"(,"replies":)";
        append_int(out, p.replies);
        out += '}';
    }
    void operator()(const notification_added& p) const {
        out += R"({"notification":)";
        if (!object.empty())
            out += object;
        else if (p.notification)
            render(out, *p.notification);
        else
            out += "null";
        out += '}';
    }
    void operator()(const message_sent& p) const {
        out += R"({"message":)";
        if (p.message)
            render(out, *p.message);
        else
            out += "null";
        out += R"(,"conversation":)";
        if (p.conversation)
            render(out, *p.conversation);
        else
            out += "null";
        out += '}';
    }
};

// An event; `object` as in payload_renderer.
void render_event(std::string& out, const event& e, std::string_view object) {
    out += R"({"id":)";
    append_json_string(out, e.id);
    out += R"(,"type":)";
    append_json_string(out, e.type);
    out += R"(,"userId":)";
    append_id(out, e.user_id);
    out += R"(,"timestamp":)";
    append_quoted_timestamp(out, e.timestamp);
    out += R"(,"version":)";
    append_int(out, e.version);
    out += R"(,"payload":)";
    std::visit(payload_renderer{out, object}, e.payload);
    out += '}';
}

}  // namespace

void render(std::string& out, const event& e) {
    render_event(out, e, {});
}

namespace {

// The envelope up to its event.
void open_frame(std::string& out, channel c, long long seq) {
    out += R"({"type":"event","channel":")";
    out += channel_name(c);
    out += R"(","seq":)";
    append_id(out, seq);
    out += R"(,"event":)";
}

}  // namespace

void render_frame(std::string& out, channel c, long long seq, std::string_view event_json) {
    open_frame(out, c, seq);
    out += event_json;
    out += '}';
}

void render_frame(std::string& out, channel c, long long seq, const event& e) {
    open_frame(out, c, seq);
    render_event(out, e, {});
    out += '}';
}

void render_frame(std::string& out, channel c, long long seq, const event& e,
                  std::string_view payload_object) {
    open_frame(out, c, seq);
    render_event(out, e, payload_object);
    out += '}';
}

void open_page(std::string& out) {
    out += R"({"items":[)";
}

void close_page(std::string& out, const page_meta& meta) {
    out += ']';
    if (meta.has_cursor) {
        out += R"(,"nextCursor":)";
        if (meta.next_cursor)
            append_json_string(out, *meta.next_cursor);
        else
            out += "null";
    }
    if (meta.unread) {
        out += R"(,"unread":)";
        append_int(out, *meta.unread);
    }
    out += '}';
}

}  // namespace chirp::domain
