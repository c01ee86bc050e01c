// Real-time integration tests, one chirpd per suite on a fresh database and a private
// redis-server, driven by a real WebSocket client (support/ws_client) and a raw SSE client:
// authentication, Origin, live delivery, every notification kind, replay and resync, typing,
// SSE with Last-Event-ID, bad frames, slow consumers and the home-timeline cache.
// See docs/protocol.md for the contract under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "chirp/auth/jwt.hpp"
#include "support/api.hpp"
#include "support/server.hpp"
#include "support/sse_client.hpp"
#include "support/ws_client.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

bool is_event_of_type(const json& f, const std::string& type) {
    return f.value("type", "") == "event" && f.at("event").value("type", "") == type;
}

// The event frames among frames whose event type is `type`.
std::vector<json> of_type(const std::vector<json>& frames, const std::string& type) {
    std::vector<json> out;
    for (const auto& f : frames)
        if (is_event_of_type(f, type)) out.push_back(f);
    return out;
}

// Collects frames until `n` TweetCreated events arrived.
std::vector<json> collect_tweets(ws_client& c, std::size_t n,
                                 std::chrono::milliseconds timeout = 15s) {
    std::size_t seen = 0;
    if (n == 0) return {};
    return c.collect_until(
        [&](const json& f) { return is_event_of_type(f, "TweetCreated") && ++seen == n; }, timeout);
}

std::vector<std::string> post_tweets(http_client& api, const test_user& u, int n,
                                     const std::string& prefix) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i)
        ids.push_back(post_tweet(api, u, prefix + " #" + std::to_string(i)));
    return ids;
}

void expect_strictly_increasing(const std::vector<json>& events) {
    for (std::size_t i = 1; i < events.size(); ++i)
        EXPECT_LT(seq_of(events[i - 1]), seq_of(events[i])) << "at event " << i;
}

// ================================================================================ main suite

class RealtimeTest : public server_test<RealtimeTest> {
public:
    static server_options options() {
        return {.args = {"--ws-auth-timeout-ms", "500", "--celebrity-threshold", "3",
                         "--replay-max", "100"},
                .keep_alive = true};
    }
};

// ---------------------------------------------------------------------------- auth

TEST_F(RealtimeTest, AuthWithFirstMessage) {
    auto u = register_user(api(), "au", "Auth User");
    ws_client c(server().port());
    const auto ok = c.auth(u.token);
    EXPECT_EQ(ok.at("user").at("id"), u.id);
    EXPECT_EQ(ok.at("user").at("handle"), u.handle);
    EXPECT_GE(ok.at("session").get<std::string>().size(), 32u) << ok.dump();
    EXPECT_TRUE(ok.at("heartbeatMs").is_number()) << ok.dump();
    ASSERT_TRUE(c.send(json{{"type", "ping"}}));
    c.expect_next("pong");
    // A second auth on an authenticated session is a recoverable mistake.
    ASSERT_TRUE(c.send(json{{"type", "auth"}, {"token", u.token}}));
    EXPECT_EQ(c.expect_next("error").value("code", ""), "already_authenticated");
    EXPECT_TRUE(c.open());
}

TEST_F(RealtimeTest, AuthWithAuthorizationHeader) {
    auto u = register_user(api(), "ah");
    ws_options o;
    o.bearer = u.token;
    ws_client c(server().port(), o);
    const auto ok = c.expect_next("auth_ok");  // without sending anything
    EXPECT_EQ(ok.at("user").at("id"), u.id);
    c.subscribe({"timeline"});
    const auto id = post_tweet(api(), u, "header-authenticated hello");
    const auto frames = collect_tweets(c, 1);
    EXPECT_EQ(tweet_ids_of(frames), std::vector<std::string>{id});
}

std::string tamper_subject(const std::string& token, const std::string& new_sub) {
    const auto a = token.find('.'), b = token.rfind('.');
    auto payload = auth::base64url_decode(std::string_view(token).substr(a + 1, b - a - 1));
    if (!payload) throw std::runtime_error("token payload is not base64url");
    auto j = json::parse(*payload);
    j["sub"] = new_sub;
    return token.substr(0, a + 1) + auth::base64url_encode(j.dump()) + token.substr(b);
}

TEST_F(RealtimeTest, BadTokensCloseWith4001AndAReason) {
    auto u = register_user(api(), "bt");
    auto other = register_user(api(), "bo");
    const long long now = auth::unix_now();
    const std::vector<std::pair<std::string, std::string>> tokens = {
        {"garbage", "not-a-jwt"},
        {"expired", sign_token(dev_jwt_secret, std::stoll(u.id), u.handle, now - 7200, 60)},
        {"tampered", tamper_subject(u.token, other.id)},
        {"wrong secret",
         sign_token("some-other-secret-of-32-bytes!!", std::stoll(u.id), u.handle, now)},
        {"empty", ""},
    };
    for (const auto& [what, token] : tokens) {
        SCOPED_TRACE(what);
        ws_client c(server().port());
        ASSERT_TRUE(c.send(json{{"type", "auth"}, {"token", token}}));
        const auto closed = c.wait_closed(5s);
        ASSERT_TRUE(closed) << "still open";
        EXPECT_EQ(closed->code, 4001u) << closed->describe();
        EXPECT_FALSE(closed->reason.empty());
        for (const auto& f : c.skipped()) EXPECT_EQ(f.find("auth_ok"), std::string::npos) << f;
        EXPECT_FALSE(c.next(0ms).has_value() && c.skipped().empty());
    }
    // The same on the upgrade request's Authorization header.
    for (const auto& [what, token] : tokens) {
        if (token.empty()) continue;
        SCOPED_TRACE("header: " + what);
        ws_options o;
        o.bearer = token;
        ws_client c(server().port(), o);
        const auto closed = c.wait_closed(5s);
        ASSERT_TRUE(closed) << "still open";
        EXPECT_EQ(closed->code, 4001u) << closed->describe();
        EXPECT_FALSE(closed->reason.empty());
        while (auto f = c.next(0ms)) EXPECT_NE(f->value("type", ""), "auth_ok") << f->dump();
    }
}

TEST_F(RealtimeTest, NoAuthWithinTheTimeoutClosesWith4001) {
    ws_client c(server().port());
    const auto closed = c.wait_closed(5s);  // --ws-auth-timeout-ms 500
    ASSERT_TRUE(closed) << "still open after 5 s";
    EXPECT_EQ(closed->code, 4001u) << closed->describe();
    EXPECT_FALSE(closed->reason.empty());

    // Messages before auth do not count as auth: still closed at the deadline.
    ws_client d(server().port());
    ASSERT_TRUE(d.send(json{{"type", "subscribe"}, {"channels", {"timeline"}}}));
    EXPECT_EQ(d.expect_next("error").value("code", ""), "not_authenticated");
    const auto closed2 = d.wait_closed(5s);
    ASSERT_TRUE(closed2);
    EXPECT_EQ(closed2->code, 4001u) << closed2->describe();
}

TEST_F(RealtimeTest, TokenExpiringDuringTheSessionClosesIt) {
    auto u = register_user(api(), "te");
    const auto token = sign_token(dev_jwt_secret, std::stoll(u.id), u.handle, auth::unix_now(), 2);
    ws_client c(server().port());
    c.auth(token);
    const auto closed = c.wait_closed(10s);
    ASSERT_TRUE(closed) << "still open 10 s after a 2 s token";
    EXPECT_EQ(closed->code, 4001u) << closed->describe();
}

// ---------------------------------------------------------------------------- Origin

TEST_F(RealtimeTest, ForeignOriginGets403AndNoUpgrade) {
    for (const std::string origin : {"http://evil.example.com", "https://chirp.example.org", "null",
                                     "http://localhost.evil.com"}) {
        SCOPED_TRACE(origin);
        ws_options o;
        o.origin = origin;
        try {
            ws_client c(server().port(), o);
            ADD_FAILURE() << "upgrade accepted for Origin " << origin;
        } catch (const ws_handshake_error& e) {
            EXPECT_EQ(e.status, 403u) << e.what();
        }
    }
    const std::vector<std::string> allowed = {"http://localhost:5173",
                                              "http://127.0.0.1:" + std::to_string(server().port()),
                                              "http://127.0.0.1:3000"};
    for (const auto& origin : allowed) {
        SCOPED_TRACE(origin);
        auto u = register_user(api(), "or");
        ws_options o;
        o.origin = origin;
        ws_client c(server().port(), o);
        EXPECT_EQ(c.auth(u.token).at("user").at("id"), u.id);
    }
}

// ---------------------------------------------------------------------------- live delivery

TEST_F(RealtimeTest, LiveTweetsReachFollowersAndNeverOthers) {
    auto alice = register_user(api(), "la", "Alice Live");
    auto bob = register_user(api(), "lb");
    auto carol = register_user(api(), "lc");
    follow(api(), bob, alice);
    auto wa = server().connect_subscribed(alice, {"timeline"});
    auto wb = server().connect_subscribed(bob, {"timeline", "notifications"});
    auto wc = server().connect_subscribed(carol, {"timeline", "notifications", "messages"});

    const auto ids = post_tweets(api(), alice, 5, "live from alice");
    for (auto* c : {wa.get(), wb.get()}) {
        const auto frames = collect_tweets(*c, 5);
        EXPECT_EQ(tweet_ids_of(frames), ids);
        const auto evs = events_of(frames);
        expect_strictly_increasing(evs);
        // The payload renders without another request.
        const auto& t = evs.front().at("event").at("payload").at("tweet");
        EXPECT_EQ(t.at("author").at("handle"), alice.handle);
        EXPECT_EQ(t.at("author").at("displayName"), "Alice Live");
        EXPECT_EQ(t.at("content"), "live from alice #0");
        EXPECT_EQ(evs.front().at("channel"), "timeline");
        EXPECT_EQ(evs.front().at("event").at("userId"), alice.id);
    }

    // Bob's own tweet reaches bob (author) but not alice, who does not follow him.
    const auto bob_tweet = post_tweet(api(), bob, "bob talks to himself");
    EXPECT_EQ(tweet_ids_of(collect_tweets(*wb, 1)), std::vector<std::string>{bob_tweet});

    // Likes update counts live for followers; deletes reach them too.
    like(api(), carol, ids[1]);
    const auto liked = wb->expect("event");
    EXPECT_EQ(liked.at("event").at("type"), "TweetLiked") << liked.dump();
    EXPECT_EQ(liked.at("event").at("payload").at("tweetId"), ids[1]);
    EXPECT_EQ(liked.at("event").at("payload").at("likes"), 1);
    delete_tweet(api(), alice, ids[0]);
    const auto deleted = wb->expect("event");
    EXPECT_EQ(deleted.at("event").at("type"), "TweetDeleted") << deleted.dump();
    EXPECT_EQ(deleted.at("event").at("payload").at("tweetId"), ids[0]);

    // Carol (not a follower) got nothing of alice's or bob's, and alice nothing of bob's:
    // nothing before each one's own marker tweet, written after all of those.
    const auto carol_marker = post_tweet(api(), carol, "carol's marker");
    const auto carol_frames = wc->before(tweet_frame(carol_marker));
    for (const auto& f : carol_frames) ADD_FAILURE() << "carol received " << f.dump();
    const auto alice_marker = post_tweet(api(), alice, "alice's marker");
    for (const auto& f : wa->before(tweet_frame(alice_marker)))
        EXPECT_EQ(tweet_ids_of({f}).size(), 0u) << "alice received " << f.dump();
    wb->before(tweet_frame(alice_marker));  // bob, a follower, gets it too

    // After unfollowing, bob no longer receives alice's tweets: none before his own marker.
    unfollow(api(), bob, alice);
    post_tweet(api(), alice, "after the unfollow");
    EXPECT_EQ(tweet_ids_of(collect_tweets(*wa, 1)).size(), 1u);
    const auto bob_marker = post_tweet(api(), bob, "bob's marker");
    for (const auto& f : wb->before(tweet_frame(bob_marker)))
        EXPECT_FALSE(is_event_of_type(f, "TweetCreated")) << "bob still receives " << f.dump();
}

// ---------------------------------------------------------------------------- notifications

TEST_F(RealtimeTest, EveryNotificationKindArrivesLive) {
    auto alice = register_user(api(), "na");
    auto bob = register_user(api(), "nb", "Bob Notifier");
    auto wa = server().connect_subscribed(alice, {"notifications", "messages"});
    const auto t = post_tweet(api(), alice, "notify me");

    auto next_notification = [&](const std::string& kind) {
        const auto f = wa->expect("event", 5s);
        EXPECT_EQ(f.at("channel"), "notifications") << f.dump();
        const auto& n = f.at("event").at("payload").at("notification");
        EXPECT_EQ(n.at("type"), kind) << f.dump();
        EXPECT_EQ(n.at("actor").at("id"), bob.id) << f.dump();
        EXPECT_EQ(n.at("actor").at("displayName"), "Bob Notifier") << f.dump();
        return f;
    };

    std::vector<json> got;
    follow(api(), bob, alice);
    got.push_back(next_notification("follow"));
    like(api(), bob, t);
    got.push_back(next_notification("like"));
    EXPECT_EQ(got.back().at("event").at("payload").at("notification").at("tweet").at("id"), t);
    retweet(api(), bob, t);
    got.push_back(next_notification("retweet"));
    const auto reply = post_tweet(api(), bob, "a reply", t);
    got.push_back(next_notification("reply"));
    EXPECT_EQ(got.back().at("event").at("payload").at("notification").at("tweet").at("id"), reply);
    post_tweet(api(), bob, "hello @" + alice.handle);
    got.push_back(next_notification("mention"));

    const auto conv = create_conversation(api(), bob, {alice});
    const auto msg = send_message(api(), bob, conv, "psst");
    // The message arrives on `messages` (with its conversation) and as a notification.
    bool got_message = false, got_message_notification = false;
    for (int i = 0; i < 2; ++i) {
        const auto f = wa->expect("event", 5s);
        if (f.at("channel") == "messages") {
            got_message = true;
            EXPECT_EQ(f.at("event").at("type"), "MessageSent");
            EXPECT_EQ(f.at("event").at("payload").at("message").at("content"), "psst");
            EXPECT_EQ(f.at("event").at("payload").at("message").at("id"), msg.at("id"));
            EXPECT_EQ(f.at("event").at("payload").at("conversation").at("id"), conv);
        } else {
            got_message_notification = true;
            EXPECT_EQ(f.at("event").at("payload").at("notification").at("type"), "message")
                << f.dump();
            EXPECT_EQ(f.at("event").at("payload").at("notification").at("conversationId"), conv);
            got.push_back(f);
        }
    }
    EXPECT_TRUE(got_message);
    EXPECT_TRUE(got_message_notification);
    expect_strictly_increasing(got);
    // Nothing else (in particular no notification for alice's own tweet) before a marker:
    // a new follower's notification.
    const auto marker = register_user(api(), "nm");
    follow(api(), marker, alice);
    for (const auto& f : wa->before(notification_frame("follow", marker.id)))
        ADD_FAILURE() << "unexpected " << f.dump();
}

// ---------------------------------------------------------------------------- replay

TEST_F(RealtimeTest, ReplayAfterDisconnectThenLiveWithoutDuplicates) {
    auto alice = register_user(api(), "ra");
    auto bob = register_user(api(), "rb");
    follow(api(), bob, alice);
    std::string last_seq;
    {
        auto wb = server().connect_subscribed(bob, {"timeline"});
        post_tweet(api(), alice, "before the disconnect");
        const auto frames = collect_tweets(*wb, 1);
        last_seq = events_of(frames).back().at("seq");
        wb->close();
    }
    const auto missed = post_tweets(api(), alice, 50, "missed");

    auto wb = server().connect(bob);
    // Live tweets keep coming while the replay runs: the seam must hold.
    std::vector<std::string> live;
    std::thread poster([&] {
        http_client c(server().port(), true);
        for (int i = 0; i < 10; ++i)
            live.push_back(post_tweet(c, alice, "live " + std::to_string(i)));
    });
    wb->subscribe({"timeline"}, last_seq);
    std::vector<json> frames;
    try {
        frames = wb->collect_until(
            [&, n = std::size_t(0)](const json& f) mutable {
                return is_event_of_type(f, "TweetCreated") && ++n == 60;
            },
            20s);
    } catch (...) {
        poster.join();
        throw;
    }
    poster.join();
    // No duplicate afterwards, including from the settling replay (1.5 s later): everything
    // until a marker tweet posted once that replay must have started.
    wait_past_settling_replay(std::chrono::steady_clock::now());
    const auto marker_tweet = post_tweet(api(), alice, "marker");
    for (const auto& f : wb->before(tweet_frame(marker_tweet))) frames.push_back(f);

    std::vector<std::string> expected = missed;
    expected.insert(expected.end(), live.begin(), live.end());
    EXPECT_EQ(tweet_ids_of(frames), expected);
    const auto evs = events_of(frames);
    expect_strictly_increasing(evs);
    EXPECT_GT(seq_of(evs.front()), std::stoll(last_seq));

    // Exactly one "replayed" marker, after the 50 missed ones, splitting the seqs at upTo.
    std::size_t marker = frames.size(), markers = 0;
    for (std::size_t i = 0; i < frames.size(); ++i)
        if (frames[i].value("type", "") == "replayed") {
            marker = i;
            ++markers;
        }
    ASSERT_EQ(markers, 1u);
    EXPECT_EQ(frames[marker].at("channel"), "timeline");
    const long long up_to = std::stoll(frames[marker].at("upTo").get<std::string>());
    const auto before = tweet_ids_of(std::vector<json>(frames.begin(), frames.begin() + marker));
    ASSERT_GE(before.size(), 50u);
    EXPECT_EQ(std::vector<std::string>(before.begin(), before.begin() + 50), missed);
    for (std::size_t i = 0; i < frames.size(); ++i) {
        if (frames[i].value("type", "") != "event") continue;
        if (i < marker) {
            EXPECT_LE(seq_of(frames[i]), up_to);
        } else {
            EXPECT_GT(seq_of(frames[i]), up_to);
        }
    }
    for (const auto& f : frames)
        EXPECT_NE(f.value("type", ""), "resync") << "unexpected resync below the cap";
}

TEST_F(RealtimeTest, ReplayWithNothingMissedAndOfEachStream) {
    auto alice = register_user(api(), "rn");
    auto bob = register_user(api(), "ro");
    follow(api(), bob, alice);
    const auto t = post_tweet(api(), alice, "seen");
    std::string since;
    {
        auto wb = server().connect_subscribed(bob, {"timeline", "notifications", "messages"});
        like(api(), alice, post_tweet(api(), bob, "bob's"));
        since = wb->expect("event").at("seq");  // bob's own tweet
        const auto n =
            wb->expect("event");  // the like: timeline (bob is the author) or notification
        since = std::max(std::stoll(since), seq_of(n)) == seq_of(n) ? n.at("seq").get<std::string>()
                                                                    : since;
        const auto n2 = wb->expect("event");
        if (seq_of(n2) > std::stoll(since)) since = n2.at("seq").get<std::string>();
        wb->close();
    }
    // Nothing missed: three replayed markers, no events.
    {
        auto wb = server().connect(bob);
        wb->subscribe({"timeline", "notifications", "messages"}, since);
        std::set<std::string> channels;
        for (int i = 0; i < 3; ++i) {
            const auto f = wb->expect_next("replayed");
            channels.insert(f.at("channel").get<std::string>());
        }
        EXPECT_EQ(channels, (std::set<std::string>{"timeline", "notifications", "messages"}));
        // The replays are over (each stream's ends with its marker): nothing was queued after.
        for (const auto& f : wb->before_pong()) ADD_FAILURE() << "unexpected " << f.dump();
        wb->close();
    }
    // Missed: a mention (notification), a message, a tweet: each stream replays its own.
    post_tweet(api(), alice, "hey @" + bob.handle);
    const auto conv = create_conversation(api(), alice, {bob});
    send_message(api(), alice, conv, "are you there?");
    auto wb = server().connect(bob);
    wb->subscribe({"timeline", "notifications", "messages"}, since);
    std::vector<json> frames;
    int markers = 0;
    while (markers < 3) {
        auto f = wb->next(5s);
        ASSERT_TRUE(f) << "replay incomplete";
        if (f->value("type", "") == "replayed") ++markers;
        frames.push_back(*f);
    }
    std::map<std::string, std::vector<std::string>> types;
    for (const auto& f : events_of(frames)) {
        const auto& ev = f.at("event");
        std::string what = ev.at("type").get<std::string>();
        if (what == "Notification")
            what += ":" + ev.at("payload").at("notification").at("type").get<std::string>();
        types[f.at("channel")].push_back(what);
    }
    EXPECT_EQ(types["timeline"], std::vector<std::string>{"TweetCreated"});
    EXPECT_EQ(types["notifications"],
              (std::vector<std::string>{"Notification:mention", "Notification:message"}));
    EXPECT_EQ(types["messages"], std::vector<std::string>{"MessageSent"});
    (void)t;
}

// The set-wise paths' live frames (rendered by the event writer from typed columns,
// store/exec_result.cpp) equal the replayed ones (rendered from typed reads by the same
// domain/wire renderers): a plain tweet, a like's counts on the timeline and its notification.
TEST_F(RealtimeTest, LiveFramesOfTheFastPathsEqualTheReplayedOnes) {
    auto alice = register_user(api(), "fa", "Alice \"Fast\" \\ Path");
    auto bob = register_user(api(), "fb");
    auto carol = register_user(api(), "fc", "Carol \xC3\xA9");
    follow(api(), bob, alice);
    auto wb = server().connect_subscribed(bob, {"timeline"});
    auto wa = server().connect_subscribed(alice, {"notifications"});
    const auto t1 = post_tweet(api(), alice, "plain \"one\" \\ \xE2\x9C\x93 #fast #Path\ttab");
    const auto t2 = post_tweet(api(), alice, "liked later");
    like(api(), carol, t2);
    std::map<std::string, json> live;  // channel/seq -> frame
    for (int i = 0; i < 3; ++i) {
        const auto f = wb->expect("event");
        live[f.at("channel").get<std::string>() + "/" + f.at("seq").get<std::string>()] = f;
    }
    const auto n = wa->expect("event");
    live[n.at("channel").get<std::string>() + "/" + n.at("seq").get<std::string>()] = n;
    wb->close();
    wa->close();

    std::map<std::string, json> replayed;
    for (auto* who : {&bob, &alice}) {
        auto w = server().connect(*who);
        // Everything of these new users' streams, from the start.
        w->subscribe({who == &bob ? "timeline" : "notifications"}, "0");
        const auto frames =
            w->collect_until([](const json& f) { return f.value("type", "") == "replayed"; });
        for (const auto& f : events_of(frames))
            replayed[f.at("channel").get<std::string>() + "/" + f.at("seq").get<std::string>()] = f;
        w->close();
    }
    int compared = 0, plain = 0;
    for (const auto& [key, f] : live) {
        ASSERT_TRUE(replayed.count(key)) << "not replayed: " << f.dump();
        const auto& ev = f.at("event");
        // t2's TweetCreated frame showed 0 likes; its replay shows the tweet as it is now.
        if (ev.at("type") == "TweetCreated" && ev.at("payload").at("tweet").at("id") == t2)
            continue;
        EXPECT_EQ(f, replayed.at(key)) << "live and replayed frames differ";
        ++compared;
        if (ev.at("type") == "TweetCreated" && ev.at("payload").at("tweet").at("id") == t1) ++plain;
    }
    EXPECT_EQ(compared, 3);
    EXPECT_EQ(plain, 1);
}

// Sessions that replay at the same moment are answered by one read per stream (the replay
// batcher, store::replay), the missed events' frames shared between them: each must still get
// exactly its own missed events, from its own since, in order, once.
TEST_F(RealtimeTest, SessionsReplayingAtOnceGetExactlyTheirOwnEvents) {
    auto alice = register_user(api(), "ma");
    auto carol = register_user(api(), "mc");
    std::vector<test_user> readers;
    for (int i = 0; i < 6; ++i) {
        readers.push_back(register_user(api(), "mr" + std::to_string(i)));
        follow(api(), readers.back(), i < 3 ? alice : carol);
    }
    // Two tweets of each author, and their seqs as a follower saw them live.
    std::vector<std::string> alice_ids, carol_ids, alice_seqs, carol_seqs;
    {
        auto wa = server().connect_subscribed(readers[0], {"timeline"});
        auto wc = server().connect_subscribed(readers[3], {"timeline"});
        for (int i = 0; i < 2; ++i) {
            alice_ids.push_back(post_tweet(api(), alice, "seen a" + std::to_string(i)));
            carol_ids.push_back(post_tweet(api(), carol, "seen c" + std::to_string(i)));
        }
        for (const auto& f : events_of(collect_tweets(*wa, 2)))
            alice_seqs.push_back(f.at("seq").get<std::string>());
        for (const auto& f : events_of(collect_tweets(*wc, 2)))
            carol_seqs.push_back(f.at("seq").get<std::string>());
        wa->close();
        wc->close();
    }
    ASSERT_EQ(alice_seqs.size(), 2u);
    ASSERT_EQ(carol_seqs.size(), 2u);
    // Missed by everyone: interleaved tweets of both authors.
    for (int i = 0; i < 3; ++i) {
        alice_ids.push_back(post_tweet(api(), alice, "missed a" + std::to_string(i)));
        carol_ids.push_back(post_tweet(api(), carol, "missed c" + std::to_string(i)));
    }
    // Reader i resumes after its author's first tweet (i % 3 == 0), after the second (1), or
    // from the start (2).
    std::vector<std::unique_ptr<ws_client>> ws;
    std::vector<std::vector<std::string>> expected;
    for (int i = 0; i < 6; ++i) {
        const auto& ids = i < 3 ? alice_ids : carol_ids;
        const std::size_t skip = i % 3 == 0 ? 1 : i % 3 == 1 ? 2 : 0;
        expected.emplace_back(ids.begin() + static_cast<std::ptrdiff_t>(skip), ids.end());
        ws.push_back(server().connect(readers[static_cast<std::size_t>(i)]));
    }
    // All subscriptions leave at once, so that their replays are batched together.
    for (int i = 0; i < 6; ++i) {
        const auto& seqs = i < 3 ? alice_seqs : carol_seqs;
        const std::string since = i % 3 == 0 ? seqs[0] : i % 3 == 1 ? seqs[1] : "0";
        json m = {{"type", "subscribe"}, {"channels", {"timeline"}}, {"since", since}};
        ASSERT_TRUE(ws[static_cast<std::size_t>(i)]->send(m));
    }
    // Each reader's frames: its replay, then (no duplicates, including from the settling
    // replay 1.5 s later) nothing until a marker tweet of its author posted after that.
    std::vector<std::vector<json>> got(6);
    for (std::size_t i = 0; i < 6; ++i)
        got[i] = ws[i]->collect_until(
            [](const json& f) {
                const auto t = f.value("type", "");
                return t == "replayed" || t == "resync";
            },
            20s);
    wait_past_settling_replay(std::chrono::steady_clock::now());
    const auto alice_marker = post_tweet(api(), alice, "marker a");
    const auto carol_marker = post_tweet(api(), carol, "marker c");
    for (std::size_t i = 0; i < 6; ++i)
        for (auto& f : ws[i]->before(tweet_frame(i < 3 ? alice_marker : carol_marker)))
            got[i].push_back(std::move(f));
    for (int i = 0; i < 6; ++i) {
        SCOPED_TRACE("reader " + std::to_string(i));
        const auto& frames = got[static_cast<std::size_t>(i)];
        std::size_t markers = 0, subscribed = 0;
        for (const auto& f : frames) {
            if (f.value("type", "") == "replayed") ++markers;
            if (f.value("type", "") == "subscribed") ++subscribed;
            EXPECT_NE(f.value("type", ""), "resync");
        }
        EXPECT_EQ(subscribed, 1u);
        EXPECT_EQ(markers, 1u);
        EXPECT_EQ(tweet_ids_of(frames), expected[static_cast<std::size_t>(i)]);
        expect_strictly_increasing(events_of(frames));
    }
}

// ---------------------------------------------------------------------------- typing

TEST_F(RealtimeTest, TypingReachesOnlyParticipantsAndIsThrottled) {
    auto alice = register_user(api(), "ta", "Alice Types");
    auto bob = register_user(api(), "tb");
    auto carol = register_user(api(), "tc");
    auto dave = register_user(api(), "td");
    const auto conv = create_conversation(api(), alice, {bob, carol});
    const auto other_conv = create_conversation(api(), dave, {carol});
    // Markers: a fifth user types in a conversation with all four (one conversation per
    // marker, as typing is throttled per user and conversation; each with one more offline
    // user, as a conversation is identified by its participants). Typing frames travel like
    // the ones under test (Redis, in order), and are never stored.
    auto marker_user = register_user(api(), "tm");
    std::vector<test_user> participants = {alice, bob, carol, dave};
    std::vector<std::string> marker_convs;
    for (int i = 0; i < 4; ++i) {
        marker_convs.push_back(create_conversation(api(), marker_user, participants));
        participants.push_back(register_user(api(), "to"));
    }
    auto wa = server().connect_subscribed(alice, {"messages"});
    auto wb = server().connect_subscribed(bob, {"messages"});
    auto wc = server().connect_subscribed(carol, {"messages"});
    auto wd = server().connect_subscribed(dave, {"messages"});
    auto wm = server().connect(marker_user);
    // Sends the next marker; returns what each of wa, wb, wc, wd got before it.
    std::size_t markers = 0;
    auto until_marker = [&] {
        const auto& m = marker_convs.at(markers++);
        if (!wm->send(json{{"type", "typing"}, {"conversation", m}}))
            throw std::runtime_error("marker: " + wm->last_write_error());
        std::map<ws_client*, std::vector<json>> before;
        for (auto* c : {wa.get(), wb.get(), wc.get(), wd.get()})
            before[c] = c->before(typing_frame(m));
        return before;
    };

    ASSERT_TRUE(wa->send(json{{"type", "typing"}, {"conversation", conv}}));
    ASSERT_TRUE(wa->send(json{{"type", "typing"}, {"conversation", conv}}));  // throttled
    for (auto* c : {wb.get(), wc.get()}) {
        const auto t = c->expect_next("typing");
        EXPECT_EQ(t.at("conversation"), conv);
        EXPECT_EQ(t.at("user").at("id"), alice.id);
        EXPECT_EQ(t.at("user").at("handle"), alice.handle);
        EXPECT_EQ(t.at("user").value("displayName", ""), "Alice Types") << t.dump();
        EXPECT_EQ(t.at("expiresInMs"), 5000);
    }
    // Exactly one forwarded; the typist and the outsider get nothing. (Alice's pong: her
    // session has handled both typing messages, in order, before the marker is sent.)
    for (const auto& f : wa->before_pong()) ADD_FAILURE() << "unexpected " << f.dump();
    for (const auto& [c, frames] : until_marker())
        for (const auto& f : frames) ADD_FAILURE() << "unexpected " << f.dump();

    // A non-participant gets an error and nothing is forwarded.
    ASSERT_TRUE(wd->send(json{{"type", "typing"}, {"conversation", conv}}));
    EXPECT_EQ(wd->expect_next("error").value("code", ""), "forbidden");
    ASSERT_TRUE(wd->send(json{{"type", "typing"}}));
    EXPECT_EQ(wd->expect_next("error").value("code", ""), "missing_field");
    for (const auto& [c, frames] : until_marker())
        if (c != wd.get())
            for (const auto& f : frames)
                ADD_FAILURE() << "forwarded from an outsider: " << f.dump();
    // Typing in another conversation reaches only its participants.
    ASSERT_TRUE(wd->send(json{{"type", "typing"}, {"conversation", other_conv}}));
    EXPECT_EQ(wc->expect_next("typing").at("conversation"), other_conv);
    for (const auto& [c, frames] : until_marker())
        if (c != wc.get())
            for (const auto& f : frames) ADD_FAILURE() << "unexpected " << f.dump();

    // Alice's message: the others get expiresInMs 0 (and the message itself).
    send_message(api(), alice, conv, "done typing");
    for (auto* c : {wb.get(), wc.get()}) {
        const auto frames = c->collect_until([n = 0](const json&) mutable { return ++n == 2; }, 5s);
        bool stop = false, message = false;
        for (const auto& f : frames) {
            if (f.value("type", "") == "typing") {
                stop = true;
                EXPECT_EQ(f.at("conversation"), conv);
                EXPECT_EQ(f.at("user").at("id"), alice.id);
                EXPECT_EQ(f.at("expiresInMs"), 0) << f.dump();
            } else {
                message = is_event_of_type(f, "MessageSent");
            }
        }
        EXPECT_TRUE(stop);
        EXPECT_TRUE(message);
    }
    const auto own = wa->expect("event");  // her own message, but no typing frame
    EXPECT_EQ(own.at("event").at("type"), "MessageSent");
    auto last = until_marker();
    for (const auto& f : last[wa.get()]) EXPECT_NE(f.value("type", ""), "typing") << f.dump();
    for (const auto& f : last[wd.get()]) ADD_FAILURE() << "outsider got " << f.dump();

    // Typing is never stored: a replay from before carries none.
    auto wb2 = server().connect(bob);
    wb2->subscribe({"messages"}, "0");
    const auto frames =
        wb2->collect_until([](const json& f) { return f.value("type", "") == "replayed"; });
    for (const auto& f : frames) EXPECT_NE(f.value("type", ""), "typing") << f.dump();
    EXPECT_EQ(of_type(frames, "MessageSent").size(), 1u);
}

// ---------------------------------------------------------------------------- SSE

TEST_F(RealtimeTest, ServerSentEventsResumeWithLastEventId) {
    auto alice = register_user(api(), "sa");
    auto bob = register_user(api(), "sb");
    follow(api(), bob, alice);

    {
        sse_client anon(server().port(), "/api/stream?channels=timeline", "");
        EXPECT_EQ(anon.status(), 401u) << anon.error_body();
        sse_client foreign(server().port(), "/api/stream?channels=timeline:" + alice.id, bob.token);
        EXPECT_NE(foreign.status(), 200u);
    }

    std::vector<sse_event> first;
    {
        sse_client s(server().port(), "/api/stream?channels=timeline", bob.token);
        ASSERT_EQ(s.status(), 200u) << s.error_body();
        EXPECT_NE(s.header("Content-Type").find("text/event-stream"), std::string::npos);
        // The subscription is live once the stream is open; give it a moment to attach. (A
        // bounded wait: an SSE stream without Last-Event-ID confirms nothing after its
        // ": connected" comment, which is written before the hub attaches it.)
        std::this_thread::sleep_for(300ms);
        const auto ids = post_tweets(api(), alice, 3, "sse");
        for (int i = 0; i < 3; ++i) {
            auto ev = s.next(5s);
            ASSERT_TRUE(ev) << "SSE event " << i << " missing";
            first.push_back(*ev);
        }
        for (int i = 0; i < 3; ++i) {
            EXPECT_EQ(first[i].event, "timeline");
            const auto data = json::parse(first[i].data);
            EXPECT_EQ(data.at("type"), "TweetCreated");
            EXPECT_EQ(data.at("payload").at("tweet").at("id"), ids[i]);
            EXPECT_FALSE(first[i].id.empty());
            if (i > 0) {
                EXPECT_LT(std::stoll(first[i - 1].id), std::stoll(first[i].id));
            }
        }
    }
    const auto more = post_tweets(api(), alice, 4, "sse missed");
    // Resume after the second event: the third, then the four missed, exactly once.
    sse_client s(server().port(), "/api/stream?channels=timeline", bob.token,
                 {{"Last-Event-ID", first[1].id}});
    ASSERT_EQ(s.status(), 200u) << s.error_body();
    std::vector<std::string> got;
    std::vector<std::string> seqs;
    while (got.size() < 5) {
        auto ev = s.next(5s);
        ASSERT_TRUE(ev) << "after " << got.size() << " events";
        if (ev->event != "timeline") continue;  // control frames (replayed)
        got.push_back(json::parse(ev->data).at("payload").at("tweet").at("id").get<std::string>());
        seqs.push_back(ev->id);
    }
    const auto replayed_at = std::chrono::steady_clock::now();
    const auto live = post_tweet(api(), alice, "sse live after resume");
    for (;;) {
        auto ev = s.next(5s);
        ASSERT_TRUE(ev) << "live event after resume missing";
        if (ev->event != "timeline") continue;
        got.push_back(json::parse(ev->data).at("payload").at("tweet").at("id").get<std::string>());
        seqs.push_back(ev->id);
        break;
    }
    // No duplicate or extra event, including from the settling replay: none before a marker
    // tweet posted once that replay must have started.
    wait_past_settling_replay(replayed_at);
    const auto marker = post_tweet(api(), alice, "sse marker");
    for (;;) {
        auto ev = s.next(5s);
        ASSERT_TRUE(ev) << "the marker event did not arrive";
        if (ev->event != "timeline") continue;
        const auto data = json::parse(ev->data);
        if (data.value("type", "") == "TweetCreated" &&
            data.at("payload").at("tweet").value("id", "") == marker)
            break;
        ADD_FAILURE() << "duplicate or extra SSE event " << ev->id << " " << ev->data;
    }
    std::vector<std::string> expected = {
        json::parse(first[2].data).at("payload").at("tweet").at("id")};
    expected.insert(expected.end(), more.begin(), more.end());
    expected.push_back(live);
    EXPECT_EQ(got, expected);
    EXPECT_EQ(seqs.front(), first[2].id);
    for (std::size_t i = 1; i < seqs.size(); ++i)
        EXPECT_LT(std::stoll(seqs[i - 1]), std::stoll(seqs[i]));
}

// ---------------------------------------------------------------------------- bad frames

TEST_F(RealtimeTest, RecoverableMistakesGetAnErrorAndTheSessionLives) {
    auto u = register_user(api(), "bf");
    auto c = server().connect(u);
    ASSERT_TRUE(c->send_text("{not json"));
    EXPECT_EQ(c->expect_next("error").value("code", ""), "bad_json");
    ASSERT_TRUE(c->send_text("[1,2,3]"));
    EXPECT_EQ(c->expect_next("error").value("code", ""), "bad_json");
    ASSERT_TRUE(c->send(json{{"type", "dance"}}));
    const auto unknown = c->expect_next("error");
    EXPECT_EQ(unknown.value("code", ""), "unknown_type");
    EXPECT_FALSE(unknown.value("message", "").empty());
    ASSERT_TRUE(c->send(json{{"kind", "ping"}}));
    EXPECT_EQ(c->expect_next("error").value("code", ""), "missing_field");
    ASSERT_TRUE(c->send(json{{"type", "subscribe"}}));
    EXPECT_EQ(c->expect_next("error").value("code", ""), "missing_field");
    // Exactly 64 KiB is still accepted.
    json big = {{"type", "ping"}, {"pad", ""}};
    big["pad"] = std::string(64 * 1024 - big.dump().size(), 'x');
    ASSERT_EQ(big.dump().size(), 64u * 1024u);
    ASSERT_TRUE(c->send(big));
    c->expect_next("pong");
    // Own stream by explicit id is fine.
    c->subscribe({"timeline:" + u.id});
    ASSERT_TRUE(c->send(json{{"type", "ping"}}));
    c->expect_next("pong");
    EXPECT_TRUE(c->open());
}

TEST_F(RealtimeTest, FatalFramesCloseWithTheirCodes) {
    auto u = register_user(api(), "ff");
    auto other = register_user(api(), "fo");
    struct fatal {
        std::string what;
        std::function<void(ws_client&)> send;
        unsigned code;
    };
    const std::vector<fatal> cases = {
        {"invalid UTF-8",
         [](ws_client& c) { c.send_text("{\"type\":\"ping\",\"x\":\"\xff\xfe\xc3\x28\"}"); }, 1007},
        {"64 KiB + 1", [](ws_client& c) { c.send_text(std::string(64 * 1024 + 1, 'a')); }, 1009},
        {"binary", [](ws_client& c) { c.send_binary(std::string("\x01\x02\x03", 3)); }, 1003},
        {"another user's stream",
         [&](ws_client& c) {
             c.send(json{{"type", "subscribe"}, {"channels", {"timeline:" + other.id}}});
         },
         1008},
        {"another user's notifications",
         [&](ws_client& c) {
             c.send(json{{"type", "subscribe"},
                         {"channels", {"timeline", "notifications:" + other.id}}});
         },
         1008},
    };
    for (const auto& fc : cases) {
        SCOPED_TRACE(fc.what);
        auto c = server().connect(u);
        fc.send(*c);
        const auto closed = c->wait_closed(5s);
        ASSERT_TRUE(closed) << "still open";
        EXPECT_EQ(closed->code, fc.code) << closed->describe();
    }
}

TEST_F(RealtimeTest, AThousandMessagesPerSecondCloseWith4029) {
    auto u = register_user(api(), "rl");
    auto c = server().connect(u);
    const auto start = std::chrono::steady_clock::now();
    int sent = 0;
    for (int i = 0; i < 1000 && c->open(); ++i) {
        if (!c->send(json{{"type", "ping"}})) break;
        ++sent;
        std::this_thread::sleep_until(start + std::chrono::microseconds(1000 * (i + 1)));
    }
    const auto closed = c->wait_closed(5s);
    ASSERT_TRUE(closed) << "still open after " << sent << " pings";
    EXPECT_EQ(closed->code, 4029u) << closed->describe();
    // Other clients of the same user are unaffected.
    auto d = server().connect(u);
    ASSERT_TRUE(d->send(json{{"type", "ping"}}));
    d->expect_next("pong");
}

// ---------------------------------------------------------------------------- home timeline cache

TEST_F(RealtimeTest, HomeTimelineCacheEqualsPostgres) {
    // The celebrity (threshold 3) has four followers: fan-out on read.
    auto celeb = register_user(api(), "hc", "Celebrity");
    auto a = register_user(api(), "ha");
    auto b = register_user(api(), "hb");
    auto viewer = register_user(api(), "hv");
    auto second = register_user(api(), "hw");
    auto offline = register_user(api(), "hx");
    std::vector<test_user> fans;
    for (int i = 0; i < 2; ++i) fans.push_back(register_user(api(), "hf"));
    for (const auto& f : {viewer, second, fans[0], fans[1]}) follow(api(), f, celeb);
    follow(api(), viewer, a);
    follow(api(), viewer, b);
    follow(api(), second, a);
    follow(api(), offline, a);
    follow(api(), offline, celeb);
    auto wv = server().connect_subscribed(viewer, {"timeline"});
    auto ws = server().connect_subscribed(second, {"timeline"});

    std::vector<std::string> mine, celeb_tweets;
    auto round = [&](int r) {
        const auto tc = post_tweet(api(), celeb, "celebrity " + std::to_string(r));
        celeb_tweets.push_back(tc);
        const auto ta = post_tweet(api(), a, "a " + std::to_string(r));
        const auto tb = post_tweet(api(), b, "b " + std::to_string(r));
        mine.push_back(post_tweet(api(), viewer, "viewer " + std::to_string(r)));
        post_tweet(api(), a, "a reply " + std::to_string(r), tc);
        if (r % 3 == 0) retweet(api(), b, tc);
        if (r % 4 == 1) retweet(api(), second, ta);
        if (r % 5 == 2) delete_tweet(api(), a, ta);
        if (r % 5 == 3) delete_tweet(api(), celeb, tc);
        if (r % 6 == 4) delete_tweet(api(), b, tb);
    };
    for (int r = 0; r < 12; ++r) round(r);
    // Warm the caches (a cold cache is filled from PostgreSQL), then keep writing: from now
    // on the commits keep them current.
    timeline_ids(api(), viewer);
    timeline_ids(api(), second);
    for (int r = 12; r < 30; ++r) round(r);
    delete_tweet(api(), viewer, mine[3]);
    unfollow(api(), second, a);  // drops that cache; rebuilt on the next read
    for (int r = 30; r < 34; ++r) round(r);

    // The celebrity's tweets reached the online followers live (one publish per tweet to the
    // author's channel) in seq order with the others: all they got before a marker, their
    // own tweet written after everything else.
    for (auto [c, u] : {std::pair{wv.get(), &viewer}, std::pair{ws.get(), &second}}) {
        const auto marker = post_tweet(api(), *u, "marker");
        const auto frames = c->before(tweet_frame(marker), nullptr, 30s);
        std::vector<std::string> got;
        for (const auto& f : of_type(frames, "TweetCreated"))
            if (f.at("event").at("payload").at("tweet").at("author").at("id") == celeb.id)
                got.push_back(f.at("event").at("payload").at("tweet").at("id"));
        EXPECT_EQ(got, celeb_tweets);
        expect_strictly_increasing(events_of(frames));
    }
    // No per-user home list in Redis: timelines are cached in each process's memory.
    EXPECT_EQ(binary_redis().command({"EXISTS", "home:" + viewer.id}), "0");

    // PostgreSQL's answer: a chirpd on the same database without Redis.
    auto pg_only =
        start_chirpd(server().db(), {.redis_url = "redis://127.0.0.1:1", .name = "chirpd-noredis"});
    http_client pg_api(pg_only->port(), true);
    ASSERT_EQ(pg_api.get("/readyz").status, 503u) << "the comparison server must not have Redis";

    for (const auto* u : {&viewer, &second, &offline}) {
        SCOPED_TRACE(u->handle);
        const auto want = timeline_ids(pg_api, *u);
        ASSERT_GT(want.size(), 20u);
        // Fan-out is asynchronous: allow it a moment to land.
        std::vector<std::string> got;
        for (int attempt = 0; attempt < 25; ++attempt) {
            got = timeline_ids(api(), *u);
            if (got == want) break;
            std::this_thread::sleep_for(200ms);
        }
        EXPECT_EQ(got, want);
        // Small pages walk the same list.
        EXPECT_EQ(timeline_ids(api(), *u, 7), want);
        // And the first page is the same object for object (counts, flags).
        const auto p1 = api().get("/api/timeline?limit=20", u->token).json();
        const auto p2 = pg_api.get("/api/timeline?limit=20", u->token).json();
        EXPECT_EQ(p1.at("items"), p2.at("items"));
    }
    EXPECT_EQ(pg_only->stop(), 0) << pg_only->log();
}

// ================================================================ small limits: resync, 4008

class RealtimeLimitsTest : public server_test<RealtimeLimitsTest> {
public:
    static server_options options() {
        return {.args = {"--replay-max", "10", "--allowed-origins", "https://chirp.example",
                         "--heartbeat-ms", "400"},
                .keep_alive = true};
    }
};

class RealtimeSlowTest : public server_test<RealtimeSlowTest> {
public:
    static server_options options() {
        return {.args = {"--ws-queue-messages", "16", "--ws-queue-bytes", "65536", "--replay-max",
                         "5000"},
                .keep_alive = true};
    }
};

TEST_F(RealtimeLimitsTest, ReplayPastTheCapSendsResync) {
    auto alice = register_user(api(), "ca");
    auto bob = register_user(api(), "cb");
    follow(api(), bob, alice);
    std::string since;
    {
        auto wb = server().connect_subscribed(bob, {"timeline"});
        post_tweet(api(), alice, "seen");
        since = events_of(collect_tweets(*wb, 1)).back().at("seq");
        wb->close();
    }
    // At the cap: replayed.
    const auto five = post_tweets(api(), alice, 5, "five");
    std::string after_five;
    {
        auto wb = server().connect(bob);
        wb->subscribe({"timeline"}, since);
        const auto frames =
            wb->collect_until([](const json& f) { return f.value("type", "") == "replayed"; });
        EXPECT_EQ(tweet_ids_of(frames), five);
        after_five = frames.back().at("upTo");
        wb->close();
    }
    // Past the cap (10): resync, and the missed events are not sent.
    post_tweets(api(), alice, 20, "twenty");
    auto wb = server().connect(bob);
    wb->subscribe({"timeline"}, after_five);
    const auto r = wb->expect_next("resync");
    EXPECT_EQ(r.at("channel"), "timeline");
    // Live events still flow afterwards; the first one is also the marker: nothing before it.
    const auto live = post_tweet(api(), alice, "live after resync");
    json live_frame;
    for (const auto& f : wb->before(tweet_frame(live), &live_frame))
        ADD_FAILURE() << "after resync: " << f.dump();
    EXPECT_EQ(tweet_ids_of({live_frame}), std::vector<std::string>{live});
    // Subscribing again without since (after a reload over REST) works.
    wb->subscribe({"timeline"});
    const auto live2 = post_tweet(api(), alice, "live after resubscribe");
    EXPECT_EQ(tweet_ids_of(collect_tweets(*wb, 1)), std::vector<std::string>{live2});
}

std::vector<std::string> message_ids_of(const std::vector<json>& frames) {
    std::vector<std::string> out;
    for (const auto& f : frames)
        if (is_event_of_type(f, "MessageSent"))
            out.push_back(f.at("event").at("payload").at("message").at("id").get<std::string>());
    return out;
}

TEST_F(RealtimeSlowTest, SlowConsumerIsClosedWith4008AndOthersKeepReceiving) {
    auto alice = register_user(api(), "sl");
    auto fast = register_user(api(), "sf");
    auto slow = register_user(api(), "ss");
    const auto conv = create_conversation(api(), alice, {fast, slow});
    auto wf = server().connect_subscribed(fast, {"messages"});
    ws_options o;
    o.receive_buffer = 4096;
    o.max_segment = 536;
    auto wslow = std::make_unique<ws_client>(server().port(), o);
    wslow->auth(slow.token);
    wslow->subscribe({"messages"});
    send_message(api(), alice, conv, "warm-up");
    const auto since = wslow->expect("event").at("seq").get<std::string>();
    wf->expect("event");
    wslow->pause_reading();  // and never read again (until the end)

    // Big messages (1,000 four-byte characters, twice in each frame: the message and the
    // conversation's lastMessage) fill the kernel's socket buffers, whatever their size here,
    // then the slow client's queue (16 messages / 64 KiB): 4008. Meanwhile the fast client
    // gets every message promptly.
    std::string emoji;
    for (int i = 0; i < 990; ++i) emoji += "\xF0\x9F\x90\xA6";  // U+1F426 bird
    const auto base = api().get("/api/stats").json().value("slowConsumerCloses", 0);
    std::vector<std::string> ids;
    bool closed_seen = false;
    for (int i = 0; i < 3000 && !closed_seen; ++i) {
        ids.push_back(send_message(api(), alice, conv, std::to_string(i) + " " + emoji)
                          .at("id")
                          .get<std::string>());
        const auto f = wf->expect("event", 5s);
        ASSERT_EQ(message_ids_of({f}), std::vector<std::string>{ids.back()})
            << "the fast client fell behind at message " << i;
        if (i % 10 == 9)
            closed_seen = api().get("/api/stats").json().value("slowConsumerCloses", 0) > base;
    }
    ASSERT_TRUE(closed_seen) << "no slow-consumer close after " << ids.size() << " messages";
    // A few more after the close: the fast client still receives them.
    for (int i = 0; i < 5; ++i) {
        ids.push_back(send_message(api(), alice, conv, "after " + std::to_string(i)).at("id"));
        EXPECT_EQ(message_ids_of({wf->expect("event", 5s)}), std::vector<std::string>{ids.back()});
    }
    EXPECT_TRUE(wf->open());

    // The slow one, reading again, finds what fit before the bound, then 4008.
    std::vector<json> slow_frames;
    wslow->resume_reading();
    while (auto f = wslow->next(5s)) slow_frames.push_back(*f);
    const auto closed = wslow->closed_with();
    ASSERT_TRUE(closed) << "the slow consumer was not closed";
    EXPECT_EQ(closed->code, 4008u) << closed->describe();
    const auto got = message_ids_of(slow_frames);
    ASSERT_LT(got.size(), ids.size());
    EXPECT_EQ(got, std::vector<std::string>(ids.begin(), ids.begin() + got.size()));

    // Reconnecting with since loses nothing: exactly the remaining ones (a replay far larger
    // than the queue bound), then live.
    const std::string last =
        got.empty() ? since : events_of(slow_frames).back().at("seq").get<std::string>();
    auto again = server().connect(slow);
    again->subscribe({"messages"}, last);
    const auto frames = again->collect_until(
        [](const json& f) {
            const auto t = f.value("type", "");
            return t == "replayed" || t == "resync";
        },
        30s);
    EXPECT_EQ(message_ids_of(frames),
              std::vector<std::string>(ids.begin() + got.size(), ids.end()));
    EXPECT_EQ(frames.back().value("type", ""), "replayed");
    const auto live = send_message(api(), alice, conv, "live after recovery").at("id");
    EXPECT_EQ(message_ids_of({again->expect("event")}), std::vector<std::string>{live});
    EXPECT_TRUE(again->open());
}

TEST_F(RealtimeSlowTest, ReplayLargerThanTheQueueBoundIsNotASlowConsumer) {
    // A client that missed more events than its send queue holds (16 here, 1,024 by default
    // while one subscribe may replay 3 x 1,000) must still get them: the replay may not
    // close it with 4008, or it would reconnect with the same since forever.
    auto alice = register_user(api(), "qa");
    auto bob = register_user(api(), "qb");
    follow(api(), bob, alice);
    std::string since;
    {
        auto wb = server().connect_subscribed(bob, {"timeline"});
        post_tweet(api(), alice, "seen");
        since = events_of(collect_tweets(*wb, 1)).back().at("seq");
        wb->close();
    }
    const auto missed = post_tweets(api(), alice, 60, "missed");
    auto wb = server().connect(bob);
    wb->subscribe({"timeline"}, since);
    const auto frames =
        wb->collect_until([](const json& f) { return f.value("type", "") == "replayed"; }, 20s);
    EXPECT_EQ(tweet_ids_of(frames), missed);
    EXPECT_TRUE(wb->open());
}

TEST_F(RealtimeLimitsTest, HeartbeatsKeepLiveClientsAndDropSilentOnes) {
    auto u = register_user(api(), "hb");
    // A client that reads (its WebSocket layer answers the server's pings) stays.
    auto live = std::make_unique<ws_client>(server().port());
    EXPECT_EQ(live->auth(u.token).at("heartbeatMs"), 400);
    // A raw client that upgrades (authenticated by header) and then answers nothing.
    sse_client silent(server().port(), "/ws", u.token,
                      {{"Upgrade", "websocket"},
                       {"Connection", "Upgrade"},
                       {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                       {"Sec-WebSocket-Version", "13"}});
    ASSERT_EQ(silent.status(), 101u);
    // The silent one is dropped after some heartbeats of 400 ms; the live one, which went
    // through the same heartbeats, is still there.
    EXPECT_TRUE(silent.wait_eof(5s)) << "a client that answers no ping is still connected";
    ASSERT_TRUE(live->send(json{{"type", "ping"}}));
    live->expect_next("pong");
    EXPECT_TRUE(live->open());
}

TEST_F(RealtimeLimitsTest, ConfiguredAllowedOriginsReplaceTheDefault) {
    auto u = register_user(api(), "oa");
    {
        ws_options o;
        o.origin = "https://chirp.example";
        ws_client c(server().port(), o);
        EXPECT_EQ(c.auth(u.token).at("user").at("id"), u.id);
    }
    for (const std::string origin : {"http://localhost:5173", "https://evil.example"}) {
        ws_options o;
        o.origin = origin;
        try {
            ws_client c(server().port(), o);
            ADD_FAILURE() << "upgrade accepted for Origin " << origin;
        } catch (const ws_handshake_error& e) {
            EXPECT_EQ(e.status, 403u);
        }
    }
}

}  // namespace
}  // namespace chirp::test
