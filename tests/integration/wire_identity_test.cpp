// Issue 9, item 1: each wire shape has one renderer, so the JSON bytes of one object are the
// same wherever it appears: a write's answer, a REST read, a live WebSocket frame, a replayed
// frame and an SSE event. Every comparison is made at a moment where nothing changed in
// between, on the raw bytes (never on parsed JSON), for User, UserRef, Tweet (plain, reply,
// retweet), Notification, Conversation, Message, the live Event and the audit Event.
//
// Reads (REST, replay) and, since the `store` branch, the writer's answers and live frames
// render with domain/wire. The comparisons that involve a write's answer or a live frame
// (same_write) are enforced while write_side_converted is true (set it to false, or unset it
// with CHIRP_TEST_WIRE_WRITES, to only print them); reads against reads, replay against REST,
// and SSE against the live frame (same) are always enforced.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "support/api.hpp"
#include "support/server.hpp"
#include "support/sse_client.hpp"
#include "support/ws_client.hpp"

using namespace chirp::test;
using json = nlohmann::json;

namespace {

// The writer's answers and live frames go through domain/wire (the `store` branch).
constexpr bool write_side_converted = true;

bool enforce_writes() {
    return write_side_converted || std::getenv("CHIRP_TEST_WIRE_WRITES") != nullptr;
}

// Always enforced.
void same(std::string_view a, std::string_view b, const std::string& what) {
    EXPECT_EQ(std::string(a), std::string(b)) << what;
}

// Enforced once the writer renders with domain/wire; until then the difference is printed.
void same_write(std::string_view a, std::string_view b, const std::string& what) {
    if (enforce_writes())
        EXPECT_EQ(std::string(a), std::string(b)) << what;
    else if (a != b)
        std::cout << "[waits for store] " << what << ":\n  " << a << "\n  " << b << "\n";
}

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

// The next event frame (raw) of a channel on a WebSocket; frames of other channels are kept
// for later calls (a tweet's TweetCreated and a mention's Notification may come in any order).
std::map<const ws_client*, std::vector<std::string>> ws_kept;

std::string next_event(ws_client& ws, const std::string& channel) {
    auto& kept = ws_kept[&ws];
    for (auto it = kept.begin(); it != kept.end(); ++it)
        if (json::parse(*it).value("channel", "") == channel) {
            auto f = *it;
            kept.erase(it);
            return f;
        }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto f = ws.next_frame(1s);
        if (!f) continue;
        auto j = json::parse(f->data);
        if (j.value("type", "") != "event") continue;
        if (j.value("channel", "") == channel) return f->data;
        kept.push_back(f->data);
    }
    throw std::runtime_error("no " + channel + " event arrived");
}

// The raw frames a fresh session replays for a channel after `since`.
std::vector<std::string> replayed(test_server& srv, const test_user& u, const std::string& channel,
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

// The replayed frame of the live frame's seq (byte for byte the live one, once the writer
// renders with domain/wire).
std::string replayed_of(test_server& srv, const test_user& u, const std::string& live) {
    const auto j = json::parse(live);
    const auto channel = j.at("channel").get<std::string>();
    const auto seq = std::stoll(j.at("seq").get<std::string>());
    const auto frames = replayed(srv, u, channel, std::to_string(seq - 1));
    if (frames.empty()) throw std::runtime_error("nothing replayed on " + channel);
    same_write(frames.front(), live, "replayed frame vs the live frame");
    return frames.front();
}

// The SSE event of that seq and channel (one seq can be on two channels: a message is a
// MessageSent and a Notification): its data is the live frame's event, byte for byte.
std::map<const sse_client*, std::vector<sse_event>> sse_seen;

void expect_sse_equal(sse_client& sse, const std::string& live) {
    const auto j = json::parse(live);
    const auto seq = j.at("seq").get<std::string>();
    const auto channel = j.at("channel").get<std::string>();
    auto& seen = sse_seen[&sse];
    auto find = [&]() -> const sse_event* {
        for (const auto& e : seen)
            if (e.id == seq && e.event == channel) return &e;
        return nullptr;
    };
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (find() == nullptr && std::chrono::steady_clock::now() < deadline)
        if (auto e = sse.next(1s)) seen.push_back(std::move(*e));
    const auto* e = find();
    if (e == nullptr) {
        ADD_FAILURE() << "no SSE event " << seq << " on " << channel;
        return;
    }
    same(e->data, member(live, "event"), "SSE data vs the live frame's event");
}

class WireIdentityTest : public server_test<WireIdentityTest> {};

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
        const auto token = json::parse(reg.body).at("token").get<std::string>();
        auto me = c.get("/api/me", token);
        ASSERT_EQ(me.status, 200u) << me.describe();
        auto login = c.post("/api/auth/login",
                            json{{"handle", carol_handle}, {"password", "correct horse battery"}});
        ASSERT_EQ(login.status, 200u) << login.describe();
        same(c.get("/api/users/" + carol_handle).body, me.body,
             "GET /api/users (anonymous) vs GET /api/me");
        same(member(login.body, "user"), me.body, "login's user vs GET /api/me");
        same_write(member(reg.body, "user"), me.body, "register's user vs GET /api/me");
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

    // A notification: the live one, the replayed one and the REST one are the same object.
    auto check_notification = [&](ws_client& ws, sse_client& sse, const test_user& u) {
        const auto live = next_event(ws, "notifications");
        expect_sse_equal(sse, live);
        const std::string n(path(live, {"event", "payload", "notification"}));
        const auto rest = item_with_id(c.get("/api/notifications", u.token).body,
                                       json::parse(n).at("id").get<std::string>());
        const auto again = replayed_of(srv, u, live);
        same(path(again, {"event", "payload", "notification"}), rest,
             "replayed notification vs GET /api/notifications");
        same_write(n, rest, "live notification vs GET /api/notifications");
        return rest;
    };

    // --- Tweet (plain, with a mention): the answer, GET /api/tweets/{id}, pages, the live
    // frame, the replayed frame and the SSE event (flags are false for the author's new tweet).
    auto posted = c.post("/api/tweets", json{{"content", "hi @" + bob.handle + " #Wire \"q\" é"}},
                         alice.token);
    ASSERT_EQ(posted.status, 201u) << posted.describe();
    const auto tid = json::parse(posted.body).at("id").get<std::string>();
    std::string tweet_read;
    {
        const auto live = next_event(*bob_ws, "timeline");
        expect_sse_equal(bob_sse, live);
        tweet_read = c.get("/api/tweets/" + tid, alice.token).body;
        same(c.get("/api/tweets/" + tid).body, tweet_read, "anonymous GET vs the author's GET");
        same(item_with_id(c.get("/api/timeline", alice.token).body, tid), tweet_read,
             "GET /api/timeline item vs GET /api/tweets");
        same(item_with_id(c.get("/api/users/" + alice.handle + "/tweets").body, tid), tweet_read,
             "GET /api/users/{h}/tweets item vs GET /api/tweets");
        const auto again = replayed_of(srv, bob, live);
        same(path(again, {"event", "payload", "tweet"}), tweet_read,
             "replayed TweetCreated vs GET /api/tweets");
        same_write(posted.body, tweet_read, "POST /api/tweets answer vs GET /api/tweets");
        same_write(path(live, {"event", "payload", "tweet"}), tweet_read,
                   "live TweetCreated vs GET /api/tweets");
        // UserRef: the author inside the tweet.
        const std::string ref = R"({"id":")" + alice.id + R"(","handle":")" + alice.handle +
                                R"(","displayName":"Alice \"A\" ✓"})";
        same(member(tweet_read, "author"), ref, "UserRef: compact, in the documented order");
    }
    // The mention: bob's notification; its actor is the tweet's author (UserRef).
    {
        const auto n = check_notification(*bob_ws, bob_sse, bob);
        same(member(n, "actor"), member(tweet_read, "author"),
             "UserRef in a notification vs in a tweet");
    }

    // --- Reply: answer vs REST reads (as the replier); alice's reply notification.
    auto reply = c.post("/api/tweets", json{{"content", "re"}, {"replyTo", tid}}, bob.token);
    ASSERT_EQ(reply.status, 201u) << reply.describe();
    const auto rid = json::parse(reply.body).at("id").get<std::string>();
    {
        const auto live = next_event(*bob_ws, "timeline");
        expect_sse_equal(bob_sse, live);
        const auto read = c.get("/api/tweets/" + rid, bob.token).body;
        same(item_with_id(c.get("/api/tweets/" + tid + "/replies", bob.token).body, rid), read,
             "GET replies item vs GET /api/tweets (reply)");
        same(path(replayed_of(srv, bob, live), {"event", "payload", "tweet"}),
             c.get("/api/tweets/" + rid).body, "replayed reply vs anonymous GET");
        same_write(reply.body, read, "reply answer vs GET");
        same_write(path(live, {"event", "payload", "tweet"}), c.get("/api/tweets/" + rid).body,
                   "live reply vs anonymous GET");
        check_notification(*alice_ws, alice_sse, alice);
    }

    // --- Like: the answer is the tweet as the liker sees it; the author's notification.
    auto liked = c.post_empty("/api/tweets/" + tid + "/like", bob.token);
    ASSERT_EQ(liked.status, 200u) << liked.describe();
    {
        const auto read = c.get("/api/tweets/" + tid, bob.token).body;
        same(json::parse(read).at("likedByMe").dump(), "true", "likedByMe");
        same_write(liked.body, read, "like answer vs GET as the liker");
        const auto live = next_event(*bob_ws, "timeline");
        expect_sse_equal(bob_sse, live);
        same(replayed_of(srv, bob, live), live, "replayed TweetLiked vs live (counts)");
        const auto n = check_notification(*alice_ws, alice_sse, alice);
        same(member(n, "tweet"), c.get("/api/tweets/" + tid, alice.token).body,
             "the notification's tweet vs GET as the recipient");
    }

    // --- Retweet: answer vs GET as the retweeter; the live frame vs an anonymous GET.
    auto rt = c.post_empty("/api/tweets/" + tid + "/retweet", bob.token);
    ASSERT_EQ(rt.status, 201u) << rt.describe();
    const auto rtid = json::parse(rt.body).at("id").get<std::string>();
    {
        const auto read = c.get("/api/tweets/" + rtid, bob.token).body;
        same(item_with_id(c.get("/api/timeline", bob.token).body, rtid), read,
             "timeline item vs GET (retweet)");
        same_write(rt.body, read, "retweet answer vs GET as the retweeter");
        const auto live = next_event(*bob_ws, "timeline");
        expect_sse_equal(bob_sse, live);
        const auto anon = c.get("/api/tweets/" + rtid).body;
        same(path(replayed_of(srv, bob, live), {"event", "payload", "tweet"}), anon,
             "replayed retweet vs anonymous GET");
        same_write(path(live, {"event", "payload", "tweet"}), anon,
                   "live retweet vs anonymous GET");
        check_notification(*alice_ws, alice_sse, alice);
    }

    // --- Conversation and Message.
    auto conv = c.post("/api/conversations", json{{"participants", {bob.handle}}}, alice.token);
    ASSERT_TRUE(conv.status == 201u || conv.status == 200u) << conv.describe();
    const auto cid = json::parse(conv.body).at("id").get<std::string>();
    same_write(conv.body, item_with_id(c.get("/api/conversations", alice.token).body, cid),
               "create answer vs GET /api/conversations");
    auto msg = c.post("/api/conversations/" + cid + "/messages",
                      json{{"content", "hello\nthere \\o/"}}, alice.token);
    ASSERT_EQ(msg.status, 201u) << msg.describe();
    const auto mid = json::parse(msg.body).at("id").get<std::string>();
    {
        const auto read =
            item_with_id(c.get("/api/conversations/" + cid + "/messages", bob.token).body, mid);
        const auto conv_read = item_with_id(c.get("/api/conversations", bob.token).body, cid);
        same(item_with_id(c.get("/api/conversations", alice.token).body, cid), conv_read,
             "the conversation as either participant");
        same(member(conv_read, "lastMessage"), read, "lastMessage vs GET messages");
        same(member(read, "sender"), member(tweet_read, "author"),
             "UserRef as a sender vs as an author");
        const auto live = next_event(*bob_ws, "messages");
        expect_sse_equal(bob_sse, live);
        const auto again = replayed_of(srv, bob, live);
        same(path(again, {"event", "payload", "message"}), read, "replayed message vs GET");
        same(path(again, {"event", "payload", "conversation"}), conv_read,
             "replayed conversation vs GET /api/conversations");
        same_write(msg.body, read, "send answer vs GET messages");
        same_write(path(live, {"event", "payload", "message"}), read, "live message vs GET");
        same_write(path(live, {"event", "payload", "conversation"}), conv_read,
                   "live conversation vs GET /api/conversations");
        check_notification(*bob_ws, bob_sse, bob);
    }

    // --- Audit Event: the same item on pages of different sizes and cursors.
    {
        const auto all = c.get("/api/events?limit=100", alice.token);
        ASSERT_EQ(all.status, 200u) << all.describe();
        const auto items = elements(member(all.body, "items"));
        ASSERT_GE(items.size(), 3u);
        const auto one =
            c.get("/api/events?limit=1&after=" + json::parse(items[0]).at("seq").get<std::string>(),
                  alice.token);
        const auto got = elements(member(one.body, "items"));
        ASSERT_EQ(got.size(), 1u);
        same(got[0], items[1], "an audit event on two pages");
    }
}
