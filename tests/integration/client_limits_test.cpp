// Hostile and broken clients end bounded (issue 10, items 3, 4, 6), against a real chirpd:
// the per-user session cap (4009 / 429), the global connection cap (accept pauses and
// recovers), slow WebSocket and SSE consumers dropped within 5 s while they read nothing,
// headers sent a byte at a time closed at the read deadline, idle keep-alive closed, a client
// that answers pings kept while the server is stuck on its subscribe (Redis paused), a
// `since` above the log's head answered "resync", and the per-user replay rate limit.
// Small limits are set by options so that every scenario takes seconds.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/server.hpp"
#include "support/sse_client.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

// A raw TCP connection to chirpd (closed with the object).
class raw_socket {
public:
    explicit raw_socket(std::uint16_t port, int rcvbuf = 0, int mss = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (fd_ < 0) throw std::runtime_error("socket failed");
        if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        if (mss > 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error("connect failed");
    }
    ~raw_socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    raw_socket(const raw_socket&) = delete;
    raw_socket& operator=(const raw_socket&) = delete;

    bool send(std::string_view s) {
        while (!s.empty()) {
            const auto n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            s.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    // Reads (and keeps) until the peer closes or resets the connection; false on timeout.
    bool wait_closed(std::chrono::milliseconds timeout) {
        const auto deadline = clock_type::now() + timeout;
        char buf[4096];
        for (;;) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            const auto n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) return true;
            got_.append(buf, static_cast<std::size_t>(n));
        }
    }
    const std::string& received() const { return got_; }

private:
    int fd_ = -1;
    std::string got_;
};

// A value of chirpd's /metrics (Prometheus text), 0 when absent.
double metric(http_client& api, const std::string& name) {
    const auto body = api.get("/metrics").body;
    const auto at = body.find("\n" + name + " ");
    if (at == std::string::npos) return 0;
    return std::stod(body.substr(at + name.size() + 2));
}

long long stat(http_client& api, const std::string& name) {
    return api.get("/api/stats").json().value(name, 0LL);
}

// Polls until pred() holds; false when it still does not after `timeout`.
template <class F>
bool eventually(F pred, std::chrono::milliseconds timeout) {
    const auto deadline = clock_type::now() + timeout;
    while (clock_type::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(50ms);
    }
    return pred();
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// A 280-character tweet of 4-byte characters (1,120 bytes, twice that in a frame's JSON).
std::string big_content(int i) {
    std::string s = std::to_string(i) + " ";
    while (s.size() < 1000) s += "\xF0\x9F\x90\xA6";  // U+1F426 bird
    return s;
}

// ======================================================================== sessions, replays

class ClientLimits : public server_test<ClientLimits> {
public:
    static server_options options() {
        return {.args = {"--max-sessions-per-user", "3", "--request-read-timeout-ms", "1500",
                         "--keep-alive-timeout-ms", "2500", "--ws-queue-messages", "16",
                         "--ws-queue-bytes", "65536", "--replay-max", "10", "--replays-per-minute",
                         "6", "--write-timeout-ms", "3000"}};
    }
};

TEST_F(ClientLimits, SessionsPerUserAreCappedWith4009AndHttp429) {
    const auto u = register_user(api(), "cap");
    const auto other = register_user(api(), "capo");
    std::vector<std::unique_ptr<ws_client>> open;
    for (int i = 0; i < 3; ++i) open.push_back(server().connect(u));
    // The fourth: first-message auth, then a clear close code.
    auto fourth = std::make_unique<ws_client>(server().port());
    fourth->send({{"type", "auth"}, {"token", u.token}});
    const auto closed = fourth->wait_closed(5s);
    ASSERT_TRUE(closed) << "the fourth session was not refused";
    EXPECT_EQ(closed->code, 4009u) << closed->describe();
    EXPECT_EQ(closed->reason, "too many sessions for this user");
    // Bearer on the upgrade: the same.
    ws_options bearer;
    bearer.bearer = u.token;
    ws_client fifth(server().port(), bearer);
    const auto closed5 = fifth.wait_closed(5s);
    ASSERT_TRUE(closed5);
    EXPECT_EQ(closed5->code, 4009u) << closed5->describe();
    // SSE counts too: 429 with Retry-After.
    {
        sse_client s(server().port(), "/api/stream?channels=timeline", u.token);
        EXPECT_EQ(s.status(), 429u);
        EXPECT_FALSE(s.header("Retry-After").empty());
        EXPECT_NE(s.error_body().find("too many sessions"), std::string::npos) << s.error_body();
    }
    // Another user is not affected.
    auto w = server().connect(other);
    EXPECT_TRUE(w->open());
    EXPECT_GE(metric(api(), "chirp_session_cap_refusals_total"), 3);
    // A session that ends gives its place back.
    open.back()->close();
    open.pop_back();
    std::unique_ptr<ws_client> again;
    ASSERT_TRUE(eventually(
        [&] {
            try {
                again = server().connect(u);
                return true;
            } catch (const std::exception&) {
                return false;
            }
        },
        5s));
    sse_client none(server().port(), "/api/stream?channels=timeline", u.token);
    EXPECT_EQ(none.status(), 429u);  // three again
}

TEST_F(ClientLimits, ASlowWebSocketConsumerIsDroppedWithin5sWhileItReadsNothing) {
    const auto alice = register_user(api(), "swa");
    const auto slow = register_user(api(), "sws");
    follow(api(), slow, alice);
    const auto base_connections = stat(api(), "connections");
    const auto base_closes = stat(api(), "slowConsumerCloses");
    ws_options o;
    o.receive_buffer = 4096;
    o.max_segment = 536;
    auto ws = std::make_unique<ws_client>(server().port(), o);
    ws->auth(slow.token);
    ws->subscribe({"timeline"});
    ws->pause_reading();
    bool over = false;
    for (int i = 0; i < 2000 && !over; ++i) {
        post_tweet(api(), alice, big_content(i));
        if (i % 10 == 9) over = stat(api(), "slowConsumerCloses") > base_closes;
    }
    ASSERT_TRUE(over) << "the queue never went over its bound";
    const auto seen = clock_type::now();
    // Closed (4008 if it reads in time, else a reset) and released, while it reads nothing.
    EXPECT_TRUE(eventually([&] { return stat(api(), "connections") <= base_connections; }, 5s))
        << "still open " << std::chrono::duration<double>(clock_type::now() - seen).count()
        << " s after going over its bound";
    EXPECT_GE(metric(api(), "chirp_write_timeouts_total"), 1);
    const auto closed = ws->wait_closed(5s);
    ASSERT_TRUE(closed);
    EXPECT_TRUE(closed->code == 4008u || closed->code == 0u) << closed->describe();
}

TEST_F(ClientLimits, ASlowSseConsumerIsDroppedWithin5sWhileItReadsNothing) {
    const auto alice = register_user(api(), "ssa");
    const auto slow = register_user(api(), "sss");
    follow(api(), slow, alice);
    const auto base_connections = stat(api(), "connections");
    const auto base_closes = stat(api(), "slowConsumerCloses");
    raw_socket s(server().port(), 4096, 536);
    ASSERT_TRUE(
        s.send("GET /api/stream?channels=timeline HTTP/1.1\r\nHost: t\r\n"
               "Authorization: Bearer " +
               slow.token + "\r\n\r\n"));
    ASSERT_TRUE(eventually([&] { return stat(api(), "connections") > base_connections; }, 5s));
    bool over = false;
    for (int i = 0; i < 2000 && !over; ++i) {
        post_tweet(api(), alice, big_content(i));
        if (i % 10 == 9) over = stat(api(), "slowConsumerCloses") > base_closes;
    }
    ASSERT_TRUE(over) << "the queue never went over its bound";
    EXPECT_TRUE(eventually([&] { return stat(api(), "connections") <= base_connections; }, 5s))
        << "the SSE stream was not closed";
    EXPECT_TRUE(s.wait_closed(5s));
}

TEST_F(ClientLimits, AnSseClientThatStopsReadingIsClosedWithLittleTraffic) {
    // A few events fit in the kernel's buffers: no write blocks and the queue never fills,
    // yet they sit unread; closed once they are older than --write-timeout-ms (3 s).
    const auto alice = register_user(api(), "sta");
    const auto slow = register_user(api(), "sts");
    follow(api(), slow, alice);
    const auto base_connections = stat(api(), "connections");
    const auto base_closes = stat(api(), "slowConsumerCloses");
    raw_socket s(server().port(), 4096, 536);
    ASSERT_TRUE(
        s.send("GET /api/stream?channels=timeline HTTP/1.1\r\nHost: t\r\n"
               "Authorization: Bearer " +
               slow.token + "\r\n\r\n"));
    ASSERT_TRUE(eventually([&] { return stat(api(), "connections") > base_connections; }, 5s));
    for (int i = 0; i < 8; ++i) post_tweet(api(), alice, big_content(i));
    EXPECT_TRUE(eventually([&] { return stat(api(), "connections") <= base_connections; }, 12s))
        << "an SSE client that reads nothing is still connected";
    EXPECT_GT(stat(api(), "slowConsumerCloses"), base_closes);
}

TEST_F(ClientLimits, HeadersOneByteASecondAreClosedAtTheReadDeadline) {
    // --request-read-timeout-ms 1500: headers trickling in are cut at the deadline.
    raw_socket s(server().port());
    const std::string req = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    const auto started = clock_type::now();
    bool cut = false;
    for (int i = 0; i < 100 && !cut; ++i) {
        if (!s.send(std::string(1, req[static_cast<std::size_t>(i) % req.size()]))) cut = true;
        if (!cut && s.wait_closed(200ms)) cut = true;
    }
    ASSERT_TRUE(cut) << "a request trickling in for 20 s was never cut";
    EXPECT_LT(clock_type::now() - started, 5s);
    EXPECT_EQ(s.received().find("200"), std::string::npos) << s.received();
    // A connection that says nothing at all is closed at the same deadline.
    raw_socket silent(server().port());
    EXPECT_TRUE(silent.wait_closed(5s));
}

TEST_F(ClientLimits, IdleKeepAliveConnectionsAreClosedAfterTheirOwnTimeout) {
    raw_socket s(server().port());
    ASSERT_TRUE(s.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
    // Answered, then kept open for the next request until --keep-alive-timeout-ms (2.5 s).
    EXPECT_TRUE(s.wait_closed(6s));
    EXPECT_NE(s.received().find("HTTP/1.1 200"), std::string::npos) << s.received();
}

TEST_F(ClientLimits, ASinceAboveTheLogsHeadGetsResyncNeverReplayed) {
    const auto u = register_user(api(), "fut");
    post_tweet(api(), u, "one");
    {
        auto w = server().connect(u);
        w->subscribe({"timeline"}, "9000000000000000000");
        const auto r = w->expect("resync");
        EXPECT_EQ(r.at("channel"), "timeline");
        for (const auto& f : w->before_pong())
            EXPECT_NE(f.value("type", ""), "replayed") << f.dump();
        // Live from the head on.
        const auto live = post_tweet(api(), u, "live");
        json frame;
        w->before(tweet_frame(live), &frame);
        EXPECT_EQ(tweet_ids_of({frame}), std::vector<std::string>{live});
        // 2^64 - 1 as a JSON number: a clear error, not a wrap to a negative since.
        w->send_text(
            R"({"type":"subscribe","channels":["timeline"],"since":18446744073709551615})");
        const auto e = w->expect("error");
        EXPECT_EQ(e.at("code"), "bad_since");
    }
    // SSE: the same resync, as a control event.
    sse_client s(server().port(), "/api/stream?channels=timeline&since=9000000000000000000",
                 u.token);
    ASSERT_EQ(s.status(), 200u);
    const auto ev = s.next(5s);
    ASSERT_TRUE(ev);
    EXPECT_EQ(ev->event, "control");
    EXPECT_EQ(json::parse(ev->data).at("type"), "resync") << ev->data;
}

TEST_F(ClientLimits, RepeatedChannelsAndRepeatedReplaysAreCheap) {
    const auto u = register_user(api(), "rep");
    for (int i = 0; i < 12; ++i) post_tweet(api(), u, "t" + std::to_string(i));  // > replay-max
    // One SSE stream naming its channel 800 times: one replay (here a counted resync).
    std::string chans = "timeline";
    for (int i = 0; i < 799; ++i) chans += ",timeline";
    {
        sse_client s(server().port(), "/api/stream?since=0&channels=" + chans, u.token);
        ASSERT_EQ(s.status(), 200u);
        const auto ev = s.next(5s);
        ASSERT_TRUE(ev);
        EXPECT_EQ(json::parse(ev->data).at("type"), "resync") << ev->data;
        EXPECT_FALSE(s.next(500ms)) << "more than one answer for one repeated channel";
    }
    // The replay rate (6 a minute, 3 at once): the SSE above took one; two more replays run,
    // then subscribes with since are answered resync without reading the log.
    const auto limited = metric(api(), "chirp_replays_rate_limited_total");
    auto w = server().connect(u);
    for (int i = 0; i < 4; ++i) {
        w->subscribe({"timeline"}, "0");
        EXPECT_EQ(w->expect("resync").at("channel"), "timeline");
    }
    EXPECT_GE(metric(api(), "chirp_replays_rate_limited_total"), limited + 2);
    // Live events still flow.
    const auto live = post_tweet(api(), u, "live");
    json frame;
    w->before(tweet_frame(live), &frame);
    EXPECT_EQ(tweet_ids_of({frame}), std::vector<std::string>{live});
}

// ======================================================================== the connection cap

class ConnectionCap : public server_test<ConnectionCap> {
public:
    static server_options options() {
        return {.args = {"--max-connections", "12", "--request-read-timeout-ms", "1500"}};
    }
};

TEST_F(ConnectionCap, AtTheCapAcceptPausesQuietlyAndRecoversByItself) {
    // Twice the cap of connections that say nothing: 12 accepted, the rest wait in the
    // backlog; each is closed at the read deadline, which lets the next ones in.
    std::vector<std::unique_ptr<raw_socket>> idle;
    for (int i = 0; i < 24; ++i) idle.push_back(std::make_unique<raw_socket>(server().port()));
    // A real request behind them is answered once the idle ones are gone.
    const auto started = clock_type::now();
    http_client fresh(server().port(), false, std::chrono::seconds(15));
    const auto r = fresh.get("/healthz");
    EXPECT_EQ(r.status, 200u);
    EXPECT_LT(clock_type::now() - started, 10s);
    for (auto& s : idle) EXPECT_TRUE(s->wait_closed(10s));
    EXPECT_GE(metric(api(), "chirp_accept_paused_total"), 1);
    EXPECT_LE(metric(api(), "chirp_open_sockets"), 12);
    // Logged, but not once per attempt.
    const auto log = server().chirpd().log();
    const auto lines = count_of(log, "connection cap reached");
    EXPECT_GE(lines, 1u);
    EXPECT_LE(lines, 2u) << log;
}

// ======================================================================== busy server, pings

// chirpd on its own Redis, which the test pauses.
redis_server& paused_redis() {
    static redis_server r;
    return r;
}

class BusyHeartbeat : public server_test<BusyHeartbeat> {
public:
    static server_options options() {
        // A Redis deadline longer than the pause: the pause holds the subscribe up (its 1 s
        // confirmation deadline) without also being handled as a Redis outage (reconnect,
        // gap hint, replay), which is redis_faults_test's subject.
        return {.args = {"--heartbeat-ms", "500", "--redis-timeout-ms", "10000"},
                .redis_url = paused_redis().url()};
    }
};

TEST_F(BusyHeartbeat, AClientThatAnswersPingsIsKeptWhileItsSubscribeWaits) {
    const auto u = register_user(api(), "hb");
    auto w = server().connect(u);  // reads all the time: answers every ping
    const pid_t redis = paused_redis().pid();
    ASSERT_GT(redis, 0);
    ASSERT_EQ(::kill(redis, SIGSTOP), 0);
    const auto paused = clock_type::now();
    // The subscribe waits for Redis to confirm the user's channels (the first session of this
    // user) until that wait's deadline (1 s), twice the ping interval: meanwhile chirpd must
    // go on reading (the pongs), or the heartbeat would drop this client.
    w->send({{"type", "subscribe"}, {"channels", {"timeline"}}});
    w->send({{"type", "ping"}});  // held until the subscribe is answered, then answered
    const auto sub = w->expect("subscribed", 10s);
    EXPECT_EQ(sub.at("channels"), json::array({"timeline"}));
    // The precondition of this test, not a speed check: the subscribe really was held up.
    EXPECT_GE(clock_type::now() - paused, 500ms) << "the subscribe did not wait for Redis";
    w->expect("pong", 5s);
    EXPECT_TRUE(w->open());
    // Still connected through the rest of a 2.5 s pause (five ping intervals) and after it.
    std::this_thread::sleep_until(paused + 2500ms);
    EXPECT_TRUE(w->open());
    ::kill(redis, SIGCONT);
    w->send({{"type", "ping"}});
    w->expect("pong", 5s);
    EXPECT_TRUE(w->open());
}

}  // namespace
}  // namespace chirp::test
