// Issue 9, item 1: each wire shape has one renderer, so the JSON bytes of one object are the
// same wherever it appears: a write's answer, a REST read, a live WebSocket frame, a replayed
// frame and an SSE event. Every comparison is made at a moment where nothing changed in
// between, on the raw bytes (never on parsed JSON), for User, UserRef, Tweet (plain, reply,
// retweet), Notification, Conversation, Message, the live Event and the audit Event.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "support/rt_support.hpp"

using namespace chirp::test;
using json = nlohmann::json;

namespace {

// --- raw JSON navigation: the exact bytes of a member's value ---------------------------------

std::size_t skip_ws(std::string_view s, std::size_t i) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) ++i;
    return i;
}

// The end (one past) of the JSON value starting at i.
std::size_t value_end(std::string_view s, std::size_t i) {
    if (i >= s.size()) throw std::runtime_error("truncated JSON");
    if (s[i] == '"') {
        for (++i; i < s.size(); ++i) {
            if (s[i] == '\\')
                ++i;
            else if (s[i] == '"')
                return i + 1;
        }
        throw std::runtime_error("unterminated string");
    }
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        for (; i < s.size(); ++i) {
            if (s[i] == '"') {
                i = value_end(s, i) - 1;
            } else if (s[i] == '{' || s[i] == '[') {
                ++depth;
            } else if (s[i] == '}' || s[i] == ']') {
                if (--depth == 0) return i + 1;
            }
        }
        throw std::runtime_error("unbalanced JSON");
    }
    while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ') ++i;
    return i;
}

// The raw text of obj[key] (obj: the raw text of a JSON object).
std::string_view member(std::string_view obj, std::string_view key) {
    std::size_t i = skip_ws(obj, 0);
    if (i >= obj.size() || obj[i] != '{')
        throw std::runtime_error("not an object: " + std::string(obj));
    i = skip_ws(obj, i + 1);
    while (i < obj.size() && obj[i] != '}') {
        const auto kend = value_end(obj, i);
        const auto k = obj.substr(i + 1, kend - i - 2);
        i = skip_ws(obj, kend);
        i = skip_ws(obj, i + 1);  // ':'
        const auto vend = value_end(obj, i);
        if (k == key) return obj.substr(i, vend - i);
        i = skip_ws(obj, vend);
        if (i < obj.size() && obj[i] == ',') i = skip_ws(obj, i + 1);
    }
    throw std::runtime_error("no member " + std::string(key) + " in " + std::string(obj));
}

std::string_view path(std::string_view v, std::initializer_list<std::string_view> keys) {
    for (auto k : keys) v = member(v, k);
    return v;
}

// The raw items of an array.
std::vector<std::string_view> elements(std::string_view arr) {
    std::vector<std::string_view> out;
    std::size_t i = skip_ws(arr, 0);
    if (arr[i] != '[') throw std::runtime_error("not an array");
    i = skip_ws(arr, i + 1);
    while (i < arr.size() && arr[i] != ']') {
        const auto e = value_end(arr, i);
        out.push_back(arr.substr(i, e - i));
        i = skip_ws(arr, e);
        if (i < arr.size() && arr[i] == ',') i = skip_ws(arr, i + 1);
    }
    return out;
}

// The raw item of a page whose "id" is `id`.
std::string item_with_id(std::string_view page, const std::string& id) {
    for (auto e : elements(member(page, "items")))
        if (json::parse(e).value("id", "") == id) return std::string(e);
    throw std::runtime_error("no item " + id + " in " + std::string(page));
}

// --- live, replayed and SSE frames ------------------------------------------------------------

// The next event frame (raw) of a channel on a WebSocket.
std::string next_event(ws_client& ws, const std::string& channel) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto f = ws.next_frame(1s);
        if (!f) continue;
        auto j = json::parse(f->data);
        if (j.value("type", "") == "event" && j.value("channel", "") == channel) return f->data;
    }
    throw std::runtime_error("no " + channel + " event arrived");
}

// The raw frames a fresh session replays for a channel after `since`.
std::vector<std::string> replayed(rt_server& srv, const test_user& u, const std::string& channel,
                                  const std::string& since) {
    auto ws = srv.connect(u);
    ws->send(json{{"type", "subscribe"}, {"channels", {channel}}, {"since", since}});
    std::vector<std::string> out;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto f = ws->next_frame(1s);
        if (!f) continue;
        auto j = json::parse(f->data);
        const auto type = j.value("type", "");
        if (type == "event" && j.value("channel", "") == channel) out.push_back(f->data);
        if (type == "replayed" && j.value("channel", "") == channel) return out;
    }
    throw std::runtime_error("replay did not end");
}

// The replayed frame of that seq: byte for byte the live one.
void expect_replayed_equal(rt_server& srv, const test_user& u, const std::string& live) {
    const auto j = json::parse(live);
    const auto channel = j.at("channel").get<std::string>();
    const auto seq = std::stoll(j.at("seq").get<std::string>());
    const auto frames = replayed(srv, u, channel, std::to_string(seq - 1));
    ASSERT_FALSE(frames.empty()) << "nothing replayed on " << channel;
    EXPECT_EQ(frames.front(), live) << "replayed frame differs from the live frame";
}

// The SSE event of that seq: its data is the live frame's event, byte for byte.
void expect_sse_equal(sse_client& sse, const std::string& live) {
    const auto j = json::parse(live);
    const auto seq = j.at("seq").get<std::string>();
    const auto channel = j.at("channel").get<std::string>();
    for (const auto& e : sse.until_id(seq)) {
        if (e.id != seq || e.event != channel) continue;
        EXPECT_EQ(e.data, std::string(member(live, "event")))
            << "SSE data differs from the live frame's event";
        return;
    }
    ADD_FAILURE() << "no SSE event " << seq << " on " << channel;
}

class WireIdentityTest : public rt_suite<WireIdentityTest> {};

}  // namespace

TEST_F(WireIdentityTest, EveryShapeHasTheSameBytesEverywhere) {
    auto& srv = server();
    auto& c = api();

    // --- User: register's answer, login's answer, GET /api/me, GET /api/users/{handle}.
    const auto alice = register_user(c, "wa", "Alice \"A\" ✓");
    const auto bob = register_user(c, "wb", "Bob\tB");
    {
        const auto carol_handle = random_handle("wc");
        auto reg = c.post("/api/auth/register",
                          json{{"handle", carol_handle}, {"password", "correct horse battery"}});
        ASSERT_EQ(reg.status, 201u) << reg.describe();
        const std::string user(member(reg.body, "user"));
        const auto token = json::parse(reg.body).at("token").get<std::string>();
        auto me = c.get("/api/me", token);
        ASSERT_EQ(me.status, 200u) << me.describe();
        EXPECT_EQ(me.body, user) << "GET /api/me vs the register answer";
        auto anon = c.get("/api/users/" + carol_handle);
        EXPECT_EQ(anon.body, user) << "GET /api/users (anonymous) vs the register answer";
        auto login = c.post("/api/auth/login",
                            json{{"handle", carol_handle}, {"password", "correct horse battery"}});
        ASSERT_EQ(login.status, 200u) << login.describe();
        EXPECT_EQ(std::string(member(login.body, "user")), user) << "login vs register";
    }

    follow(c, bob, alice);
    auto bob_ws = srv.connect_subscribed(bob, {"timeline", "notifications", "messages"});
    auto alice_ws = srv.connect_subscribed(alice, {"timeline", "notifications", "messages"});
    sse_client bob_sse(srv.port(), "/api/stream?channels=timeline,notifications,messages",
                       bob.token);
    ASSERT_EQ(bob_sse.status(), 200u);
    sse_client alice_sse(srv.port(), "/api/stream?channels=timeline,notifications,messages",
                         alice.token);
    ASSERT_EQ(alice_sse.status(), 200u);

    // --- Tweet (plain): the answer, GET /api/tweets/{id}, a timeline page, the live frame,
    // the replayed frame and the SSE event (flags are false for the author's own new tweet).
    auto posted = c.post("/api/tweets", json{{"content", "hi @" + bob.handle + " #Wire \"q\" é"}},
                         alice.token);
    ASSERT_EQ(posted.status, 201u) << posted.describe();
    const auto tid = json::parse(posted.body).at("id").get<std::string>();
    {
        const auto live = next_event(*bob_ws, "timeline");
        EXPECT_EQ(std::string(path(live, {"event", "payload", "tweet"})), posted.body)
            << "live TweetCreated vs the POST answer";
        EXPECT_EQ(c.get("/api/tweets/" + tid, alice.token).body, posted.body)
            << "GET /api/tweets vs the POST answer";
        EXPECT_EQ(c.get("/api/tweets/" + tid).body, posted.body) << "anonymous GET";
        EXPECT_EQ(item_with_id(c.get("/api/timeline", alice.token).body, tid), posted.body)
            << "GET /api/timeline (author) vs the POST answer";
        EXPECT_EQ(item_with_id(c.get("/api/users/" + alice.handle + "/tweets").body, tid),
                  posted.body);
        expect_replayed_equal(srv, bob, live);
        expect_sse_equal(bob_sse, live);
        // UserRef: the author inside the tweet.
        EXPECT_EQ(
            std::string(member(posted.body, "author")),
            json{{"id", alice.id}, {"handle", alice.handle}, {"displayName", "Alice \"A\" ✓"}}.dump(
                -1, ' ', false));
    }
    // Alice's mention notification for bob.
    std::string mention_note;
    {
        const auto live = next_event(*bob_ws, "notifications");
        const std::string note(path(live, {"event", "payload", "notification"}));
        EXPECT_EQ(item_with_id(c.get("/api/notifications", bob.token).body,
                               json::parse(note).at("id").get<std::string>()),
                  note)
            << "REST notification vs the live one";
        expect_replayed_equal(srv, bob, live);
        expect_sse_equal(bob_sse, live);
        mention_note = note;
        EXPECT_EQ(std::string(member(note, "actor")), std::string(member(posted.body, "author")))
            << "UserRef in a notification vs in a tweet";
    }

    // --- Reply: answer vs REST reads (as the replier), live frame vs anonymous REST read.
    auto reply = c.post("/api/tweets", json{{"content", "re"}, {"replyTo", tid}}, bob.token);
    ASSERT_EQ(reply.status, 201u) << reply.describe();
    const auto rid = json::parse(reply.body).at("id").get<std::string>();
    {
        const auto live = next_event(*bob_ws, "timeline");
        EXPECT_EQ(std::string(path(live, {"event", "payload", "tweet"})), reply.body)
            << "live reply vs the POST answer";
        EXPECT_EQ(c.get("/api/tweets/" + rid, bob.token).body, reply.body);
        EXPECT_EQ(item_with_id(c.get("/api/tweets/" + tid + "/replies").body, rid), reply.body);
        expect_replayed_equal(srv, bob, live);
        expect_sse_equal(bob_sse, live);
        const auto note = next_event(*alice_ws, "notifications");
        const std::string n(path(note, {"event", "payload", "notification"}));
        EXPECT_EQ(item_with_id(c.get("/api/notifications", alice.token).body,
                               json::parse(n).at("id").get<std::string>()),
                  n);
        expect_replayed_equal(srv, alice, note);
        expect_sse_equal(alice_sse, note);
    }

    // --- Like: the answer is the tweet as the liker sees it; the author's notification.
    auto liked = c.post_empty("/api/tweets/" + tid + "/like", bob.token);
    ASSERT_EQ(liked.status, 200u) << liked.describe();
    {
        EXPECT_EQ(c.get("/api/tweets/" + tid, bob.token).body, liked.body)
            << "GET as the liker vs the like answer";
        const auto live = next_event(*bob_ws, "timeline");
        expect_replayed_equal(srv, bob, live);
        expect_sse_equal(bob_sse, live);
        const auto note = next_event(*alice_ws, "notifications");
        const std::string n(path(note, {"event", "payload", "notification"}));
        EXPECT_EQ(item_with_id(c.get("/api/notifications", alice.token).body,
                               json::parse(n).at("id").get<std::string>()),
                  n);
        EXPECT_EQ(std::string(member(n, "tweet")), c.get("/api/tweets/" + tid, alice.token).body)
            << "the notification's tweet vs GET as the recipient";
        expect_replayed_equal(srv, alice, note);
        expect_sse_equal(alice_sse, note);
    }

    // --- Retweet: answer vs GET as the retweeter; the live frame vs an anonymous GET.
    auto rt = c.post_empty("/api/tweets/" + tid + "/retweet", bob.token);
    ASSERT_EQ(rt.status, 201u) << rt.describe();
    const auto rtid = json::parse(rt.body).at("id").get<std::string>();
    {
        EXPECT_EQ(c.get("/api/tweets/" + rtid, bob.token).body, rt.body);
        EXPECT_EQ(item_with_id(c.get("/api/timeline", bob.token).body, rtid), rt.body)
            << "timeline page vs the retweet answer";
        const auto live = next_event(*bob_ws, "timeline");
        EXPECT_EQ(std::string(path(live, {"event", "payload", "tweet"})),
                  c.get("/api/tweets/" + rtid).body)
            << "live retweet vs an anonymous GET";
        expect_replayed_equal(srv, bob, live);
        expect_sse_equal(bob_sse, live);
        const auto note = next_event(*alice_ws, "notifications");
        expect_replayed_equal(srv, alice, note);
        expect_sse_equal(alice_sse, note);
    }

    // --- Conversation and Message.
    auto conv = c.post("/api/conversations", json{{"participants", {bob.handle}}}, alice.token);
    ASSERT_TRUE(conv.status == 201u || conv.status == 200u) << conv.describe();
    const auto cid = json::parse(conv.body).at("id").get<std::string>();
    EXPECT_EQ(item_with_id(c.get("/api/conversations", alice.token).body, cid), conv.body)
        << "GET /api/conversations vs the create answer";
    auto msg = c.post("/api/conversations/" + cid + "/messages",
                      json{{"content", "hello\nthere \\o/"}}, alice.token);
    ASSERT_EQ(msg.status, 201u) << msg.describe();
    const auto mid = json::parse(msg.body).at("id").get<std::string>();
    {
        EXPECT_EQ(
            item_with_id(c.get("/api/conversations/" + cid + "/messages", bob.token).body, mid),
            msg.body)
            << "GET messages vs the send answer";
        const auto live = next_event(*bob_ws, "messages");
        EXPECT_EQ(std::string(path(live, {"event", "payload", "message"})), msg.body)
            << "live MessageSent vs the send answer";
        EXPECT_EQ(std::string(path(live, {"event", "payload", "conversation"})),
                  item_with_id(c.get("/api/conversations", bob.token).body, cid))
            << "live conversation vs GET /api/conversations";
        EXPECT_EQ(std::string(member(msg.body, "sender")),
                  std::string(member(posted.body, "author")))
            << "UserRef as a sender vs as an author";
        expect_replayed_equal(srv, bob, live);
        expect_sse_equal(bob_sse, live);
        const auto note = next_event(*bob_ws, "notifications");
        const std::string n(path(note, {"event", "payload", "notification"}));
        EXPECT_EQ(item_with_id(c.get("/api/notifications", bob.token).body,
                               json::parse(n).at("id").get<std::string>()),
                  n);
        expect_replayed_equal(srv, bob, note);
        expect_sse_equal(bob_sse, note);
    }

    // --- Audit Event: the same item on pages of different sizes and cursors.
    {
        const auto all = c.get("/api/events?limit=100", alice.token);
        ASSERT_EQ(all.status, 200u) << all.describe();
        const auto items = elements(member(all.body, "items"));
        ASSERT_GE(items.size(), 3u);
        const auto second = json::parse(items[1]).at("seq").get<std::string>();
        const auto one =
            c.get("/api/events?limit=1&after=" + json::parse(items[0]).at("seq").get<std::string>(),
                  alice.token);
        const auto got = elements(member(one.body, "items"));
        ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got[0], items[1]) << "event " << second;
    }
}
