// Unit tests of the sans-io real-time session (src/ws/session_machine.hpp): authentication and
// its deadlines, subscribe -> buffer -> replay -> "replayed" -> seam -> live, the duplicate
// window, the settling replay, resync past the cap, the bounded send queue (4008) and replay
// flow control. A fake transport records what the machine asks for; time is injected.
#include "../../src/ws/session_machine.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "chirp/config/config.hpp"
#include "chirp/fanout/frame.hpp"
#include "chirp/metrics/metrics.hpp"

namespace {

using namespace chirp::ws;
using namespace std::chrono_literals;
using json = nlohmann::json;

struct fake_io final : session_io {
    clock::time_point t = clock::time_point(1000s);
    std::int64_t unix = 1'700'000'000;
    std::map<std::string, chirp::auth::claims, std::less<>> tokens;
    std::optional<std::pair<unsigned, std::string>> closed;
    int attaches = 0, detaches = 0, wakes = 0, readies = 0;
    std::vector<std::tuple<stream, long long, long long>> replays;  // stream, user, since
    std::vector<std::pair<long long, std::string>> typings;
    std::optional<clock::time_point> timer;

    clock::time_point now() const override { return t; }
    std::int64_t unix_now() const override { return unix; }
    std::optional<std::string> verify(std::string_view token, chirp::auth::claims& out) override {
        auto it = tokens.find(token);
        if (it == tokens.end()) return "bad signature";
        out = it->second;
        return std::nullopt;
    }
    // Like the WebSocket writer: started from wake_writer, it takes a frame at once (calling
    // back into the machine) and then waits for its write.
    std::function<void()> writer;
    bool writing = false;
    void wake_writer() override {
        ++wakes;
        if (writer && !writing) {
            writing = true;
            writer();
        }
    }
    void close(unsigned code, std::string reason) override {
        if (!closed) closed.emplace(code, std::move(reason));
    }
    void attach() override { ++attaches; }
    void detach() override { ++detaches; }
    void start_replay(stream s, long long user, long long since) override {
        replays.emplace_back(s, user, since);
    }
    void send_typing(long long conversation, std::string user_ref) override {
        typings.emplace_back(conversation, std::move(user_ref));
    }
    void arm_timer(clock::time_point at) override { timer = at; }
    void ready() override { ++readies; }
    int sessions_left = 100;  // the per-user cap's room
    int releases = 0;
    int replays_left = 100;  // the per-user replay rate's tokens
    bool admit(long long) override { return sessions_left-- > 0; }
    void release(long long) override { ++releases; }
    bool allow_replay(long long) override { return replays_left-- > 0; }
    bool drafts = false;
    std::vector<long long> draft_requests;  // join, push: the draft; presence, leave: -draft
    bool drafts_available() const override { return drafts; }
    void draft_join(chirp::drafts::join_request r) override { draft_requests.push_back(r.draft); }
    void draft_push(chirp::drafts::push_request r) override { draft_requests.push_back(r.draft); }
    void draft_presence(chirp::drafts::presence_request r) override {
        draft_requests.push_back(-r.draft);
    }
    void draft_leave(long long d) override { draft_requests.push_back(-d); }
};

constexpr long long user = 42;

std::shared_ptr<const std::string> frame_text(stream s, long long seq, std::size_t pad = 0) {
    return std::make_shared<const std::string>(
        std::string(R"({"type":"event","channel":")") + stream_name(s) + R"(","seq":")" +
        std::to_string(seq) + R"(","event":{"id":")" + std::to_string(seq) + R"(","p":")" +
        std::string(pad, 'x') + R"("}})");
}

live_event ev(long long seq, stream s = stream::timeline, std::size_t pad = 0) {
    return event_from_frame(frame_text(s, seq, pad));
}

std::vector<live_event> evs(std::initializer_list<long long> seqs, stream s = stream::timeline) {
    std::vector<live_event> v;
    for (auto q : seqs) v.push_back(ev(q, s));
    return v;
}

replay_frames replayed(std::initializer_list<long long> seqs, stream s = stream::timeline) {
    return {chirp::errc::ok, evs(seqs, s)};
}

struct SessionMachine : ::testing::Test {
    chirp::config cfg;
    chirp::metrics::registry metrics;
    fake_io io;
    std::unique_ptr<session_machine> m;
    std::vector<queued> out;  // what the writer took, in order

    void SetUp() override {
        chirp::auth::claims c;
        c.user_id = user;
        c.handle = "alice";
        c.expires_at = io.unix + 3600;
        io.tokens["good"] = c;
        make();
    }
    void make() { m = std::make_unique<session_machine>(io, cfg, metrics); }

    // The writer drains the queue (it may refill as replay goes on).
    void drain() {
        while (m->has_output()) out.push_back(m->pop());
    }
    void login() {
        m->on_text(R"({"type":"auth","token":"good"})");
        drain();
        out.clear();
    }
    // Every frame taken since the last call: event frames as their seq, control frames whole.
    std::vector<std::string> taken() {
        drain();
        std::vector<std::string> v;
        for (auto& q : out) v.push_back(q.ev.seq > 0 ? std::to_string(q.ev.seq) : *q.ev.frame);
        out.clear();
        return v;
    }
    static std::string marker(long long up_to, const char* channel = "timeline") {
        return json{{"type", "replayed"}, {"channel", channel}, {"upTo", std::to_string(up_to)}}
            .dump();
    }
};

using strings = std::vector<std::string>;

// ------------------------------------------------------------------------ authentication

TEST_F(SessionMachine, AuthenticatesAndWelcomes) {
    m->expect_auth(5000ms);
    m->on_text(R"({"type":"auth","token":"good"})");
    EXPECT_TRUE(m->authenticated());
    EXPECT_EQ(m->user_id(), user);
    const auto frames = taken();
    ASSERT_EQ(frames.size(), 1u);
    auto j = json::parse(frames[0]);
    EXPECT_EQ(j["type"], "auth_ok");
    EXPECT_EQ(j["user"]["id"], "42");
    EXPECT_EQ(j["user"]["displayName"], "alice");  // no name claim: the handle
    EXPECT_EQ(j["session"].get<std::string>().size(), 36u);
    EXPECT_EQ(metrics.sessions.load(), 1);
    // The deadline is now the token's expiry.
    EXPECT_EQ(io.timer, io.t + 3600s);
    m->on_text(R"({"type":"auth","token":"good"})");
    EXPECT_EQ(json::parse(taken().at(0))["code"], "already_authenticated");
}

TEST_F(SessionMachine, BadTokenClosesWith4001) {
    m->on_text(R"({"type":"auth","token":"forged"})");
    ASSERT_TRUE(io.closed);
    EXPECT_EQ(io.closed->first, 4001u);
    EXPECT_EQ(io.closed->second, "bad signature");
    EXPECT_TRUE(m->closing());
}

TEST_F(SessionMachine, AuthTimeoutClosesWith4001) {
    const auto start = io.t;
    m->expect_auth(5000ms);
    ASSERT_EQ(io.timer, start + 5000ms);
    io.t += 4999ms;
    m->on_timer();  // early (a stale wake-up): nothing happens, the deadline stands
    EXPECT_FALSE(io.closed);
    EXPECT_EQ(io.timer, start + 5000ms);
    io.t += 1ms;
    m->on_timer();
    ASSERT_TRUE(io.closed);
    EXPECT_EQ(*io.closed, std::make_pair(4001u, std::string("authentication timeout")));
}

TEST_F(SessionMachine, TokenExpiryClosesWith4001) {
    io.tokens["short"] = io.tokens["good"];
    io.tokens["short"].expires_at = io.unix + 60;
    m->expect_auth(5000ms);
    m->on_text(R"({"type":"auth","token":"short"})");
    io.t += 5s;
    m->on_timer();  // the auth deadline is gone
    EXPECT_FALSE(io.closed);
    io.t += 55s;
    m->on_timer();
    ASSERT_TRUE(io.closed);
    EXPECT_EQ(*io.closed, std::make_pair(4001u, std::string("token expired")));
}

TEST_F(SessionMachine, MessagesBeforeAuthAreRefused) {
    m->on_text(R"({"type":"ping"})");
    m->on_text(R"({"type":"subscribe","channels":["timeline"]})");
    m->on_text(R"({"type":"subscribe"})");  // malformed, but the state answers first
    m->on_text(R"({"type":"nonsense"})");
    m->on_text(R"({"type":"auth"})");
    const auto frames = taken();
    ASSERT_EQ(frames.size(), 4u);
    EXPECT_EQ(frames[0], R"({"type":"pong"})");
    for (int i = 1; i < 4; ++i) EXPECT_EQ(json::parse(frames[i])["code"], "not_authenticated");
    ASSERT_TRUE(io.closed);
    EXPECT_EQ(*io.closed, std::make_pair(4001u, std::string("token is required")));
    EXPECT_EQ(io.attaches, 0);
}

TEST_F(SessionMachine, ErrorsAfterAuth) {
    login();
    m->on_text("not json");
    m->on_text(R"({"type":"nonsense"})");
    m->on_text(R"({"type":"subscribe","channels":[]})");
    m->on_text(R"({"type":"subscribe","channels":["timeline"],"since":-1})");
    const auto frames = taken();
    ASSERT_EQ(frames.size(), 4u);
    EXPECT_EQ(frames[0],
              R"({"code":"bad_json","message":"messages must be JSON objects","type":"error"})");
    EXPECT_EQ(
        frames[1],
        R"({"code":"unknown_type","message":"unknown message type 'nonsense'","type":"error"})");
    EXPECT_EQ(json::parse(frames[2])["code"], "missing_field");
    EXPECT_EQ(json::parse(frames[3])["code"], "bad_since");
    EXPECT_FALSE(io.closed);
    m->on_text(R"({"type":"subscribe","channels":["timeline:7"]})");
    ASSERT_TRUE(io.closed);
    EXPECT_EQ(*io.closed,
              std::make_pair(1008u, std::string("you can only subscribe to your own streams")));
}

// ------------------------------------------------------------------------ subscribe

TEST_F(SessionMachine, SubscribeWithoutSinceGoesLiveAfterTheHub) {
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline","stats"]})");
    EXPECT_TRUE(m->busy());
    EXPECT_EQ(io.attaches, 1);
    EXPECT_TRUE(m->wants_stats());
    // Before the hub confirmed: buffered, nothing sent, not even the reply.
    m->deliver(stream::timeline, ev(7));
    m->deliver(stream::timeline, ev(5));
    m->deliver(stream::notifications, ev(6, stream::notifications));  // not subscribed
    EXPECT_TRUE(taken().empty());
    m->on_attached();
    EXPECT_EQ(taken(),
              (strings{R"({"channels":["timeline","stats"],"type":"subscribed"})", "5", "7"}));
    EXPECT_FALSE(m->busy());
    EXPECT_EQ(io.readies, 1);
    EXPECT_TRUE(io.replays.empty());
    m->deliver(stream::timeline, ev(8));
    EXPECT_EQ(taken(), strings{"8"});
    EXPECT_EQ(io.timer, io.t + 3600s);  // the token's expiry: no settling replay without since
    // A second subscribe does not attach again.
    m->on_text(R"({"type":"subscribe","channels":["messages"]})");
    EXPECT_EQ(io.attaches, 1);
    EXPECT_EQ(taken(), strings{R"({"channels":["messages"],"type":"subscribed"})"});
}

TEST_F(SessionMachine, ReplayThenMarkerThenSeamThenLive) {
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline"],"since":"10"})");
    m->deliver(stream::timeline, ev(15));  // before the hub confirmed
    EXPECT_TRUE(io.replays.empty());       // the hub first, then the log
    m->on_attached();
    ASSERT_EQ(io.replays.size(), 1u);
    EXPECT_EQ(io.replays[0], std::make_tuple(stream::timeline, user, 10LL));
    EXPECT_EQ(taken(), strings{R"({"channels":["timeline"],"type":"subscribed"})"});
    // Live events while the query runs: buffered, out of order, one also in the log.
    m->deliver(stream::timeline, ev(16));
    m->deliver(stream::timeline, ev(12));
    EXPECT_TRUE(taken().empty());
    EXPECT_TRUE(m->busy());
    m->on_replay(stream::timeline, replayed({11, 12, 13}));
    // Replayed, the marker, the seam (12 was replayed: dropped), live.
    EXPECT_EQ(taken(), (strings{"11", "12", "13", marker(13), "15", "16"}));
    EXPECT_FALSE(m->busy());
    EXPECT_EQ(metrics.replays.load(), 1u);
    m->deliver(stream::timeline, ev(17));
    m->deliver(stream::timeline, ev(16));  // a duplicate across the seam
    m->deliver(stream::timeline, ev(17));  // and within the window
    EXPECT_EQ(taken(), strings{"17"});
    // A late live event below the last seq, never sent (a cross-process race): it goes out.
    m->deliver(stream::timeline, ev(14));
    EXPECT_EQ(taken(), strings{"14"});
    // The settling replay is due 1.5 s later.
    EXPECT_EQ(io.timer, io.t + session_machine::settle_delay);
}

TEST_F(SessionMachine, SettlingReplayDeliversWhatOthersPublishedBeforeTheyKnewUs) {
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline","notifications"],"since":"0"})");
    m->on_attached();
    m->on_replay(stream::timeline, replayed({1, 2}));
    ASSERT_EQ(io.replays.size(), 2u);  // one stream after the other
    EXPECT_EQ(io.replays[1], std::make_tuple(stream::notifications, user, 0LL));
    m->on_replay(stream::notifications, replayed({3}, stream::notifications));
    EXPECT_EQ(taken(), (strings{R"({"channels":["timeline","notifications"],"type":"subscribed"})",
                                "1", "2", marker(2), "3", marker(3, "notifications")}));
    m->deliver(stream::timeline, ev(4));
    EXPECT_EQ(taken(), strings{"4"});
    // Another process committed 5 and fanned it out before it learned we were online.
    io.t += 1499ms;
    m->on_timer();
    EXPECT_EQ(io.replays.size(), 2u);
    io.t += 1ms;
    m->on_timer();
    ASSERT_EQ(io.replays.size(), 3u);
    EXPECT_EQ(io.replays[2], std::make_tuple(stream::timeline, user, 4LL));
    m->deliver(stream::timeline, ev(6));  // buffered while settling
    m->on_replay(stream::timeline, replayed({4, 5}));
    ASSERT_EQ(io.replays.size(), 4u);
    EXPECT_EQ(io.replays[3], std::make_tuple(stream::notifications, user, 3LL));
    m->on_replay(stream::notifications, replayed({}, stream::notifications));
    EXPECT_EQ(taken(), (strings{"5", "6"}));  // no marker for a settling replay
    EXPECT_EQ(metrics.replays.load(), 2u);
}

TEST_F(SessionMachine, ResyncPastTheReplayCap) {
    cfg.replay_max = 3;
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline"],"since":"10"})");
    m->on_attached();
    m->deliver(stream::timeline, ev(30));
    m->on_replay(stream::timeline, replayed({11, 12, 13, 14}));
    EXPECT_EQ(taken(), (strings{R"({"channels":["timeline"],"type":"subscribed"})",
                                R"({"channel":"timeline","type":"resync"})", "30"}));
    EXPECT_EQ(metrics.resyncs.load(), 1u);
    EXPECT_FALSE(m->busy());
    m->deliver(stream::timeline, ev(31));
    EXPECT_EQ(taken(), strings{"31"});
}

TEST_F(SessionMachine, ResyncWhenTheLogIsUnreachable) {
    login();
    m->on_text(R"({"type":"subscribe","channels":["messages"],"since":"10"})");
    m->on_attached();
    m->on_replay(stream::messages, replay_frames{chirp::errc::unavailable, {}});
    EXPECT_EQ(taken(), (strings{R"({"channels":["messages"],"type":"subscribed"})",
                                R"({"channel":"messages","type":"resync"})"}));
}

TEST_F(SessionMachine, BufferOverflowDuringReplayReadsTheLogAgain) {
    cfg.replay_max = 2;  // the buffer holds 8
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline"],"since":"10"})");
    m->on_attached();
    for (long long s = 20; s < 30; ++s) m->deliver(stream::timeline, ev(s));
    m->on_replay(stream::timeline, replayed({11, 12}));
    ASSERT_EQ(io.replays.size(), 2u);
    EXPECT_EQ(io.replays[1], std::make_tuple(stream::timeline, user, 12LL));
    m->deliver(stream::timeline, ev(31));
    m->on_replay(stream::timeline, replayed({20, 21}));
    EXPECT_EQ(taken(), (strings{R"({"channels":["timeline"],"type":"subscribed"})", "11", "12",
                                "20", "21", marker(21), "31"}));
}

TEST_F(SessionMachine, ResyncFromLogReplaysEveryStreamNowAndLater) {
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline"]})");
    m->on_attached();
    taken();
    m->resync_from_log();
    ASSERT_EQ(io.replays.size(), 1u);  // only the streams that are on
    m->deliver(stream::timeline, ev(3));
    m->on_replay(stream::timeline, replayed({1, 2}));
    EXPECT_EQ(taken(), (strings{"1", "2", "3"}));
    io.t += session_machine::settle_delay;
    m->on_timer();
    ASSERT_EQ(io.replays.size(), 2u);
    EXPECT_EQ(io.replays[1], std::make_tuple(stream::timeline, user, 3LL));
}

TEST_F(SessionMachine, ResyncFromASeqReplaysBelowTheLastSentExactlyOnce) {
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline"]})");
    m->on_attached();
    taken();
    // 6 was committed through a process that could not publish it; 7 came live.
    m->deliver(stream::timeline, ev(5));
    m->deliver(stream::timeline, ev(7));
    EXPECT_EQ(taken(), (strings{"5", "7"}));
    m->resync_from_log(6);
    ASSERT_EQ(io.replays.size(), 1u);
    EXPECT_EQ(io.replays[0], std::make_tuple(stream::timeline, user, 5LL));
    m->deliver(stream::timeline, ev(8));
    m->on_replay(stream::timeline, replayed({6, 7}));
    EXPECT_EQ(taken(), (strings{"6", "8"}));  // 7 was sent already
    // Never below what the duplicate window knows: a seq before everything sent.
    m->resync_from_log(1);
    ASSERT_EQ(io.replays.size(), 2u);
    EXPECT_EQ(io.replays[1], std::make_tuple(stream::timeline, user, 4LL));
}

// ------------------------------------------------------------------------ the send queue

TEST_F(SessionMachine, SlowConsumerClosedWith4008ByMessages) {
    cfg.ws_queue_messages = 4;
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline"]})");
    m->on_attached();
    taken();
    for (long long s = 1; s <= 4; ++s) m->deliver(stream::timeline, ev(s));  // nobody writes
    EXPECT_FALSE(io.closed);
    m->deliver(stream::timeline, ev(5));
    ASSERT_TRUE(io.closed);
    EXPECT_EQ(io.closed->first, 4008u);
    EXPECT_EQ(io.closed->second, "slow consumer: send queue over its bound; reconnect with since");
    EXPECT_EQ(metrics.slow_consumer_closes.load(), 1u);
    m->deliver(stream::timeline, ev(6));  // closing: dropped
    EXPECT_EQ(m->queued_messages(), 0u);  // and the queue's memory given back at once
    EXPECT_EQ(m->queued_bytes(), 0u);
}

TEST_F(SessionMachine, SlowConsumerClosedWith4008ByBytes) {
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline"]})");
    m->on_attached();
    taken();
    const auto big = ev(1, stream::timeline, 1000);
    cfg.ws_queue_bytes = 2 * big.frame->size() + 10;
    m->deliver(stream::timeline, big);
    m->deliver(stream::timeline, ev(2, stream::timeline, 1000));
    EXPECT_FALSE(io.closed);
    EXPECT_EQ(m->queued_bytes(), 2 * big.frame->size());
    m->deliver(stream::timeline, ev(3, stream::timeline, 1000));
    ASSERT_TRUE(io.closed);
    EXPECT_EQ(io.closed->first, 4008u);
}

TEST_F(SessionMachine, ReplayIsFlowControlledInsteadOfClosing) {
    cfg.ws_queue_messages = 8;
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline"],"since":"0"})");
    m->on_attached();
    std::vector<live_event> many;
    for (long long s = 1; s <= 50; ++s) many.push_back(ev(s));
    m->on_replay(stream::timeline, {chirp::errc::ok, many});
    EXPECT_LE(m->queued_messages(), 4u);  // half the bound, then it waits for the writer
    const auto frames = taken();          // the writer drains; the replay goes on
    EXPECT_FALSE(io.closed);
    ASSERT_EQ(frames.size(), 52u);
    EXPECT_EQ(frames[1], "1");
    EXPECT_EQ(frames[50], "50");
    EXPECT_EQ(frames[51], marker(50));
}

TEST_F(SessionMachine, FinishDetachesOnce) {
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline"]})");
    m->finish();  // closed while the hub was still confirming
    m->finish();
    EXPECT_EQ(io.detaches, 1);
    m->on_attached();
    EXPECT_TRUE(taken().empty());
}

TEST_F(SessionMachine, ClosingReleasesAWaitingReader) {
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline"],"since":"5"})");
    m->on_attached();
    EXPECT_TRUE(m->busy());  // the replay query runs
    m->set_closing();        // the socket failed meanwhile
    EXPECT_FALSE(m->busy());
    EXPECT_EQ(io.readies, 1);
    m->on_replay(stream::timeline, replayed({6}));
    m->deliver(stream::timeline, ev(7));
    EXPECT_EQ(taken(), strings{R"({"channels":["timeline"],"type":"subscribed"})"});
}

TEST_F(SessionMachine, SseSubscribeWithRepeatedStreamsReplaysEachOnce) {
    login();
    m->subscribe(
        {stream::timeline, stream::timeline, stream::messages, stream::timeline, stream::messages},
        3, nullptr);
    m->on_attached();
    m->on_replay(stream::timeline, replayed({4}));
    m->on_replay(stream::messages, replayed({5}, stream::messages));
    ASSERT_EQ(io.replays.size(), 2u);
    EXPECT_EQ(taken(), (strings{"4", marker(4), "5", marker(5, "messages")}));
}

struct EagerWriter : SessionMachine, ::testing::WithParamInterface<std::size_t> {};

// The replay ends inside the writer's pop (a large queue) or goes on as it pops (a small one).
INSTANTIATE_TEST_SUITE_P(QueueBound, EagerWriter, ::testing::Values(8u, 4096u));

TEST_P(EagerWriter, AWriterThatPopsAtOnceDoesNotDisturbTheReplay) {
    cfg.ws_queue_messages = GetParam();
    cfg.replay_max = 30;
    io.writer = [&] { out.push_back(m->pop()); };  // re-enters the machine from enqueue
    login();
    io.writing = false;
    m->on_text(R"({"type":"subscribe","channels":["timeline","messages"],"since":"0"})");
    m->on_attached();
    io.writing = false;
    m->deliver(stream::timeline, ev(40));
    std::vector<live_event> many;
    for (long long s = 1; s <= 20; ++s) many.push_back(ev(s));
    m->on_replay(stream::timeline, {chirp::errc::ok, many});
    for (int i = 0; i < 100 && m->has_output(); ++i) {
        io.writing = false;  // the write completed: the writer takes the next frame
        io.wake_writer();
    }
    ASSERT_EQ(io.replays.size(), 2u);
    m->on_replay(stream::messages, replay_frames{chirp::errc::unavailable, {}});
    const auto frames = taken();
    ASSERT_EQ(frames.size(), 24u);
    EXPECT_EQ(frames[0], R"({"channels":["timeline","messages"],"type":"subscribed"})");
    EXPECT_EQ(frames[1], "1");
    EXPECT_EQ(frames[20], "20");
    EXPECT_EQ(frames[21], marker(20));
    EXPECT_EQ(frames[22], "40");
    EXPECT_EQ(frames[23], R"({"channel":"messages","type":"resync"})");
    EXPECT_FALSE(io.closed);
    EXPECT_FALSE(m->busy());
}

TEST_F(SessionMachine, TypingWaitsForTheHub) {
    login();
    m->on_text(R"({"type":"typing","conversation":"9"})");
    ASSERT_EQ(io.typings.size(), 1u);
    EXPECT_EQ(io.typings[0].first, 9);
    EXPECT_EQ(json::parse(io.typings[0].second)["handle"], "alice");
    EXPECT_TRUE(m->busy());
    m->on_typing_done("not a participant");
    EXPECT_FALSE(m->busy());
    EXPECT_EQ(taken(),
              strings{R"({"code":"forbidden","message":"not a participant","type":"error"})"});
}

TEST_F(SessionMachine, DraftJoinsAndPushesWaitForTheRegistry) {
    login();
    m->on_text(R"({"type":"draft_join","draft":"3"})");
    EXPECT_EQ(
        taken(),
        strings{
            R"({"code":"unavailable","message":"collaborative drafts are not available on this connection","type":"error"})"});
    EXPECT_FALSE(m->busy());
    io.drafts = true;
    m->on_text(R"({"type":"draft_join","draft":"3"})");
    EXPECT_TRUE(m->busy());
    m->on_draft_done();
    EXPECT_FALSE(m->busy());
    m->on_text(
        R"({"type":"draft_presence","draft":"3","clientID":"c","version":0,"selection":null})");
    EXPECT_FALSE(m->busy());
    m->on_text(R"({"type":"draft_push","draft":"3","version":0,"updates":[]})");
    EXPECT_TRUE(m->busy());
    m->on_draft_done();
    m->on_text(R"({"type":"draft_leave","draft":"3"})");
    EXPECT_EQ(io.draft_requests, (std::vector<long long>{3, -3, 3, -3}));
    m->on_text(R"({"type":"draft_push","draft":"3","updates":[]})");
    EXPECT_EQ(
        taken(),
        strings{
            R"({"code":"missing_field","draft":"3","message":"version is required","type":"error"})"});
}

// ------------------------------------------------------------------------ limits (issue 10)

TEST_F(SessionMachine, OverThePerUserSessionCapClosesWith4009) {
    io.sessions_left = 0;
    m->on_text(R"({"type":"auth","token":"good"})");
    ASSERT_TRUE(io.closed);
    EXPECT_EQ(io.closed->first, 4009u);
    EXPECT_EQ(io.closed->second, "too many sessions for this user");
    EXPECT_TRUE(taken().empty());  // no auth_ok
    EXPECT_EQ(metrics.sessions.load(), 0);
    EXPECT_EQ(metrics.session_cap_refusals.load(), 1u);
    m->finish();
    EXPECT_EQ(io.releases, 0);  // nothing was counted
}

TEST_F(SessionMachine, AnAdmittedSessionIsReleasedOnce) {
    login();
    EXPECT_TRUE(m->admitted());
    EXPECT_EQ(metrics.sessions.load(), 1);
    m->finish();
    m->finish();
    EXPECT_EQ(io.releases, 1);
    EXPECT_EQ(metrics.sessions.load(), 0);
}

TEST_F(SessionMachine, OverTheCapTheStoreCountsAndTheSettlingReplayStartsAtTheHead) {
    cfg.replay_max = 1000;
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline"],"since":"0"})");
    m->on_attached();
    replay_frames over;
    over.over = true;  // counted, not rendered
    over.head = 5000;
    m->on_replay(stream::timeline, std::move(over));
    EXPECT_EQ(taken(), (strings{R"({"channels":["timeline"],"type":"subscribed"})",
                                R"({"channel":"timeline","type":"resync"})"}));
    io.t += session_machine::settle_delay;
    m->on_timer();
    ASSERT_EQ(io.replays.size(), 2u);
    // The settling replay does not redo the work: it reads above the head only.
    EXPECT_EQ(io.replays[1], std::make_tuple(stream::timeline, user, 5000LL));
    m->on_replay(stream::timeline, replayed({5001}));
    EXPECT_EQ(taken(), strings{"5001"});
}

TEST_F(SessionMachine, ASinceAboveTheHeadGetsResyncNeverReplayed) {
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline"],"since":"9000000000000000000"})");
    m->on_attached();
    ASSERT_EQ(io.replays.size(), 1u);
    replay_frames none;
    none.head = 120;
    m->on_replay(stream::timeline, std::move(none));
    EXPECT_EQ(taken(), (strings{R"({"channels":["timeline"],"type":"subscribed"})",
                                R"({"channel":"timeline","type":"resync"})"}));
    // Live again from the head: a later resync (Redis back) reads above 120, not above 9e18.
    m->deliver(stream::timeline, ev(121));
    EXPECT_EQ(taken(), strings{"121"});
    io.t += session_machine::settle_delay;
    m->on_timer();
    ASSERT_EQ(io.replays.size(), 2u);
    EXPECT_EQ(io.replays[1], std::make_tuple(stream::timeline, user, 121LL));
}

TEST_F(SessionMachine, ReplaysOverTheRateLimitGetResyncWithoutReadingTheLog) {
    io.replays_left = 1;
    login();
    m->on_text(R"({"type":"subscribe","channels":["timeline"],"since":"0"})");
    m->on_attached();
    m->on_replay(stream::timeline, replayed({1}));
    taken();
    ASSERT_EQ(io.replays.size(), 1u);
    m->on_text(R"({"type":"subscribe","channels":["timeline","messages"],"since":"0"})");
    EXPECT_EQ(io.replays.size(), 1u);  // no log read
    EXPECT_EQ(taken(), (strings{R"({"channels":["timeline","messages"],"type":"subscribed"})",
                                R"({"channel":"timeline","type":"resync"})",
                                R"({"channel":"messages","type":"resync"})"}));
    EXPECT_FALSE(m->busy());
    EXPECT_EQ(metrics.replays_rate_limited.load(), 1u);
    m->deliver(stream::messages, ev(7, stream::messages));
    EXPECT_EQ(taken(), strings{"7"});
    // No settling replay was scheduled by the refused one (the first one's ran by now).
    io.t += 2 * session_machine::settle_delay;
    m->on_timer();
    m->on_replay(stream::timeline, replayed({}));
    io.t += 2 * session_machine::settle_delay;
    m->on_timer();
    EXPECT_EQ(io.replays.size(), 2u);
}

TEST_F(SessionMachine, RepeatedSubscribesWithSinceZeroEachCostOneCountedRead) {
    login();
    for (int i = 0; i < 3; ++i) {
        m->on_text(
            R"({"type":"subscribe","channels":["timeline","timeline","timeline"],"since":0})");
        m->on_attached();
        replay_frames over;
        over.over = true;
        over.head = 9000;
        m->on_replay(stream::timeline, std::move(over));
        EXPECT_FALSE(m->busy());
    }
    EXPECT_EQ(io.replays.size(), 3u);  // one per subscribe, not one per repeated channel
}

// ------------------------------------------------------------------------ frames

TEST(FrameEnvelope, FindsSeqAndEventInEitherKeyOrder) {
    const std::string ours =
        R"({"type":"event","channel":"timeline","seq":"12","event":{"a":{"b":"}"}}})";
    auto e = read_envelope(ours);
    EXPECT_EQ(e.seq, 12);
    EXPECT_EQ(ours.substr(e.event_at, e.event_len), R"({"a":{"b":"}"}})");
    const std::string jsonb =
        R"({"seq": "7", "type": "event", "event": {"x": "\"{"}, "channel": "timeline"})";
    e = read_envelope(jsonb);
    EXPECT_EQ(e.seq, 7);
    EXPECT_EQ(jsonb.substr(e.event_at, e.event_len), R"({"x": "\"{"})");
    // An escaped backslash before a closing quote, braces and escaped quotes inside strings.
    const std::string tricky =
        R"({"type":"event","seq":"9","event":{"t":"a\\","u":"}\"}{","v":{}},"channel":"x"})";
    e = read_envelope(tricky);
    EXPECT_EQ(tricky.substr(e.event_at, e.event_len), R"({"t":"a\\","u":"}\"}{","v":{}})");
    auto none = event_from_frame(std::make_shared<const std::string>(R"({"type":"pong"})"));
    EXPECT_EQ(none.seq, 0);
    EXPECT_EQ(none.event_text(), R"({"type":"pong"})");
}

}  // namespace
