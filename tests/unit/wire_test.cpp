// The one renderer of each wire shape (src/domain/wire.cpp): exact bytes, escaping,
// timestamps, null and absent fields.
#include "chirp/domain/wire.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace d = chirp::domain;

namespace {

std::string esc(std::string_view s) {
    std::string out;
    d::append_json_string(out, s);
    return out;
}

d::user_ref alice() {
    return {7, "alice", "Alice \"A\""};
}

// 2026-11-27T22:01:02.123456Z
constexpr d::timestamp_us ts = 1795816862123456LL;

std::shared_ptr<d::tweet> plain_tweet() {
    auto t = std::make_shared<d::tweet>();
    t->id = 42;
    t->author = alice();
    t->content = "hello @bob #cpp";
    t->created_at = ts;
    t->mentions = {"bob"};
    t->hashtags = {"cpp"};
    t->likes = 3;
    t->retweets = 1;
    t->replies = 2;
    return t;
}

}  // namespace

TEST(Wire, EscapesQuotesBackslashesAndControlCharacters) {
    EXPECT_EQ(esc(""), R"("")");
    EXPECT_EQ(esc("plain"), R"("plain")");
    EXPECT_EQ(esc(R"(a"b\c)"), R"("a\"b\\c")");
    EXPECT_EQ(esc("\n\r\t\b\f"), R"("\n\r\t\b\f")");
    EXPECT_EQ(esc(std::string("\x01\x1f\0x", 4)), R"("\u0001\u001f\u0000x")");
    EXPECT_EQ(esc("\x7f"), "\"\x7f\"");
}

TEST(Wire, PassesUnicodeThrough) {
    EXPECT_EQ(esc("héllo 🐦 日本"), "\"héllo 🐦 日本\"");
    EXPECT_EQ(esc("\xe2\x80\xa8"), "\"\xe2\x80\xa8\"");  // U+2028 stays raw (valid JSON)
}

TEST(Wire, EscapedStringsParseBack) {
    std::string all;
    for (int c = 1; c < 128; ++c) all += static_cast<char>(c);
    all += "é🐦";
    EXPECT_EQ(nlohmann::json::parse(esc(all)).get<std::string>(), all);
}

TEST(Wire, FormatsTimestampsLikeChirpTs) {
    EXPECT_EQ(d::format_timestamp(0), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(d::format_timestamp(ts), "2026-11-27T22:01:02.123Z");
    EXPECT_EQ(d::format_timestamp(999), "1970-01-01T00:00:00.000Z");  // truncated, not rounded
    EXPECT_EQ(d::format_timestamp(1999999), "1970-01-01T00:00:01.999Z");
    EXPECT_EQ(d::format_timestamp(951782400000000LL), "2000-02-29T00:00:00.000Z");  // leap day
    EXPECT_EQ(d::format_timestamp(4102444799999000LL), "2099-12-31T23:59:59.999Z");
    EXPECT_EQ(d::format_timestamp(-1), "1969-12-31T23:59:59.999Z");
}

TEST(Wire, UserRef) {
    EXPECT_EQ(d::to_json(alice()), R"({"id":"7","handle":"alice","displayName":"Alice \"A\""})");
}

TEST(Wire, UserWithAndWithoutFollowedByMe) {
    d::user u{alice(), ts, 3, 5, 12, std::nullopt};
    const std::string base =
        R"({"id":"7","handle":"alice","displayName":"Alice \"A\"","createdAt":"2026-11-27T22:01:02.123Z","followers":3,"following":5,"tweets":12)";
    EXPECT_EQ(d::to_json(u), base + "}");
    u.followed_by_me = false;
    EXPECT_EQ(d::to_json(u), base + R"(,"followedByMe":false})");
    u.followed_by_me = true;
    EXPECT_EQ(d::to_json(u), base + R"(,"followedByMe":true})");
}

TEST(Wire, Tweet) {
    auto t = plain_tweet();
    t->me.liked = true;
    EXPECT_EQ(
        d::to_json(*t),
        R"({"id":"42","author":{"id":"7","handle":"alice","displayName":"Alice \"A\""},"content":"hello @bob #cpp","createdAt":"2026-11-27T22:01:02.123Z","replyTo":null,"retweetOf":null,"mentions":["bob"],"hashtags":["cpp"],"coauthors":[],"likes":3,"retweets":1,"replies":2,"likedByMe":true,"retweetedByMe":false})");
}

// A published draft's tweet credits its collaborators; a draft_invite names its draft.
TEST(Wire, CoauthorsDraftsAndDraftInvites) {
    auto t = plain_tweet();
    t->coauthors = {{8, "bob", "Bob"}, {9, "carol", "Carol"}};
    const auto j = nlohmann::json::parse(d::to_json(*t));
    EXPECT_EQ(j["coauthors"].size(), 2u);
    EXPECT_EQ(j["coauthors"][1]["handle"], "carol");
    EXPECT_NE(d::to_json(*t).find(R"("hashtags":["cpp"],"coauthors":[{"id":"8","handle":"bob")"),
              std::string::npos);
    const auto text = d::render_text(*t);
    std::string a, b;
    d::render(a, *t, t->me, nullptr, {});
    d::render(b, *t, text, t->me, nullptr, nullptr, {});
    EXPECT_EQ(a, b);

    d::draft dr{12, alice(), {{8, "bob", "Bob"}}, "tw\"o\n", 17, 5, ts, ts + 1000000};
    EXPECT_EQ(
        d::to_json(dr),
        R"({"id":"12","owner":{"id":"7","handle":"alice","displayName":"Alice \"A\""},"collaborators":[{"id":"8","handle":"bob","displayName":"Bob"}],"text":"tw\"o\n","version":17,"codePoints":5,"createdAt":"2026-11-27T22:01:02.123Z","updatedAt":"2026-11-27T22:01:03.123Z"})");

    d::notification n;
    n.seq = 5;
    n.type = "draft_invite";
    n.actor = alice();
    n.created_at = ts;
    n.draft_id = 12;
    EXPECT_NE(d::to_json(n).find(R"("conversationId":null,"draftId":"12","createdAt")"),
              std::string::npos);
    n.draft_id.reset();
    EXPECT_EQ(d::to_json(n).find("draftId"), std::string::npos);
}

TEST(Wire, ReplyAndRetweetEmbedTheOriginal) {
    auto original = plain_tweet();
    original->me.retweeted = true;
    d::tweet rt;
    rt.id = 43;
    rt.author = {8, "bob", "Bob"};
    rt.created_at = 0;
    rt.reply_to = 41;
    rt.retweet_of = original;
    const auto j = nlohmann::json::parse(d::to_json(rt));
    EXPECT_EQ(j["replyTo"], "41");
    EXPECT_EQ(j["content"], "");
    EXPECT_EQ(j["mentions"], nlohmann::json::array());
    EXPECT_EQ(j["hashtags"], nlohmann::json::array());
    EXPECT_EQ(j["retweetOf"]["id"], "42");
    EXPECT_EQ(j["retweetOf"]["retweetedByMe"], true);
    EXPECT_TRUE(j["retweetOf"]["retweetOf"].is_null());
    EXPECT_NE(d::to_json(rt).find(R"("retweetOf":{"id":"42","author":)"), std::string::npos);

    // The shared-record form: flags given by the caller, the records' own flags ignored.
    std::string out;
    d::render(out, rt, {true, false}, original.get(), {false, false});
    const auto k = nlohmann::json::parse(out);
    EXPECT_EQ(k["likedByMe"], true);
    EXPECT_EQ(k["retweetOf"]["retweetedByMe"], false);
}

TEST(Wire, PreRenderedTextGivesTheSameBytes) {
    auto original = plain_tweet();
    original->content = "quote \"me\"\n\x01 caf\xc3\xa9";
    original->mentions = {"bob", "Carol"};
    original->hashtags = {};
    d::tweet rt;
    rt.id = 43;
    rt.author = {8, "bob", "Bob\\"};
    rt.created_at = ts + 1000;
    rt.reply_to = 41;
    rt.likes = 12345;
    const auto text = d::render_text(rt), original_text = d::render_text(*original);
    for (const bool liked : {false, true}) {
        for (const bool retweeted : {false, true}) {
            const d::viewer_flags me{liked, retweeted}, om{retweeted, liked};
            std::string a, b;
            d::render(a, rt, me, original.get(), om);
            d::render(b, rt, text, me, original.get(), &original_text, om);
            EXPECT_EQ(a, b);
            a.clear();
            b.clear();
            d::render(a, *original, me, nullptr, om);
            d::render(b, *original, original_text, me, nullptr, nullptr, om);
            EXPECT_EQ(a, b);
        }
    }
    // Counts are not in the text: changed counts render without a new text.
    original->likes = 99;
    original->replies = 0;
    std::string a, b;
    d::render(a, *original, {}, nullptr, {});
    d::render(b, *original, original_text, {}, nullptr, nullptr, {});
    EXPECT_EQ(a, b);
    EXPECT_NE(b.find(R"("likes":99,"retweets":1,"replies":0,)"), std::string::npos);
}

TEST(Wire, Notification) {
    auto n = std::make_shared<d::notification>();
    n->seq = 1001;
    n->type = "follow";
    n->actor = alice();
    n->created_at = ts;
    EXPECT_EQ(
        d::to_json(*n),
        R"({"id":"1001","seq":"1001","type":"follow","actor":{"id":"7","handle":"alice","displayName":"Alice \"A\""},"tweet":null,"conversationId":null,"createdAt":"2026-11-27T22:01:02.123Z","read":false})");
    n->tweet = plain_tweet();
    n->conversation_id = 5;
    n->read = true;
    const auto j = nlohmann::json::parse(d::to_json(*n));
    EXPECT_EQ(j["tweet"]["id"], "42");
    EXPECT_EQ(j["conversationId"], "5");
    EXPECT_EQ(j["read"], true);
}

TEST(Wire, MessageAndConversation) {
    d::message m{77, 5, alice(), "hi\n", ts, 1200};
    EXPECT_EQ(
        d::to_json(m),
        R"({"id":"77","conversationId":"5","sender":{"id":"7","handle":"alice","displayName":"Alice \"A\""},"content":"hi\n","createdAt":"2026-11-27T22:01:02.123Z","seq":"1200"})");
    d::conversation c{5, {alice(), {8, "bob", "Bob"}}, 0, std::nullopt};
    EXPECT_EQ(
        d::to_json(c),
        R"({"id":"5","participants":[{"id":"7","handle":"alice","displayName":"Alice \"A\""},{"id":"8","handle":"bob","displayName":"Bob"}],"createdAt":"1970-01-01T00:00:00.000Z","lastMessage":null})");
    c.last_message = m;
    EXPECT_EQ(nlohmann::json::parse(d::to_json(c))["lastMessage"]["id"], "77");
}

TEST(Wire, AuditEvent) {
    d::audit_event e{1001, "3f2a", "UserFollowed", 7, ts, 1, R"({"followeeId":"8"})"};
    EXPECT_EQ(
        d::to_json(e),
        R"({"seq":"1001","id":"3f2a","type":"UserFollowed","userId":"7","timestamp":"2026-11-27T22:01:02.123Z","version":1,"payload":{"followeeId":"8"}})");
    e.payload_json.clear();
    EXPECT_NE(d::to_json(e).find(R"("payload":{}})"), std::string::npos);
}

TEST(Wire, LiveEventsAndTheirFrame) {
    d::event e{"u1", "TweetDeleted", 7, ts, 1, d::tweet_deleted{42}};
    const std::string ev =
        R"({"id":"u1","type":"TweetDeleted","userId":"7","timestamp":"2026-11-27T22:01:02.123Z","version":1,"payload":{"tweetId":"42"}})";
    EXPECT_EQ(d::to_json(e), ev);

    std::string frame;
    d::render_frame(frame, d::channel::timeline, 1201, e);
    EXPECT_EQ(frame, R"({"type":"event","channel":"timeline","seq":"1201","event":)" + ev + "}");
    std::string again;
    d::render_frame(again, d::channel::timeline, 1201, ev);
    EXPECT_EQ(again, frame);

    e.type = "TweetLiked";
    e.payload = d::tweet_counts{42, 5, 1, 0};
    EXPECT_NE(
        d::to_json(e).find(R"("payload":{"tweetId":"42","likes":5,"retweets":1,"replies":0}})"),
        std::string::npos);

    const auto t = plain_tweet();
    e.type = "TweetCreated";
    e.payload = d::tweet_created{t};
    EXPECT_NE(d::to_json(e).find(R"("payload":{"tweet":)" + d::to_json(*t) + "}}"),
              std::string::npos);
    // A write pastes its answer (the tweet's bytes) into the frame: the same bytes.
    std::string rendered, pasted;
    d::render_frame(rendered, d::channel::timeline, 1202, e);
    d::render_frame(pasted, d::channel::timeline, 1202, e, d::to_json(*t));
    EXPECT_EQ(pasted, rendered);

    auto n = std::make_shared<d::notification>();
    n->seq = 9;
    n->type = "like";
    n->actor = alice();
    e.type = "Notification";
    e.payload = d::notification_added{n};
    EXPECT_NE(d::to_json(e).find(R"("payload":{"notification":)" + d::to_json(*n) + "}}"),
              std::string::npos);
    rendered.clear();
    pasted.clear();
    d::render_frame(rendered, d::channel::notifications, 9, e);
    d::render_frame(pasted, d::channel::notifications, 9, e, d::to_json(*n));
    EXPECT_EQ(pasted, rendered);

    auto m = std::make_shared<d::message>(d::message{77, 5, alice(), "hi", ts, 9});
    auto c = std::make_shared<d::conversation>(d::conversation{5, {alice()}, ts, *m});
    e.type = "MessageSent";
    e.payload = d::message_sent{m, c};
    EXPECT_NE(d::to_json(e).find(R"("payload":{"message":)" + d::to_json(*m) +
                                 R"(,"conversation":)" + d::to_json(*c) + "}}"),
              std::string::npos);

    std::string nf;
    d::render_frame(nf, d::channel::notifications, 9, e);
    EXPECT_EQ(nlohmann::json::parse(nf)["channel"], "notifications");
    std::string mf;
    d::render_frame(mf, d::channel::messages, 9, e);
    EXPECT_EQ(nlohmann::json::parse(mf)["event"]["payload"]["message"]["seq"], "9");
}

TEST(Wire, Pages) {
    std::vector<d::user_ref> users{alice(), {8, "bob", "Bob"}};
    std::string out;
    d::render_page<d::user_ref>(out, users, {true, std::string("17"), std::nullopt});
    EXPECT_EQ(
        out,
        R"({"items":[{"id":"7","handle":"alice","displayName":"Alice \"A\""},{"id":"8","handle":"bob","displayName":"Bob"}],"nextCursor":"17"})");
    out.clear();
    d::render_page<d::user_ref>(out, {}, {});
    EXPECT_EQ(out, R"({"items":[],"nextCursor":null})");
    out.clear();
    d::render_page<d::user_ref>(out, {}, {false, std::nullopt, std::nullopt});
    EXPECT_EQ(out, R"({"items":[]})");
    out.clear();
    d::render_page<d::user_ref>(out, {}, {true, std::nullopt, 3});
    EXPECT_EQ(out, R"({"items":[],"nextCursor":null,"unread":3})");
}
