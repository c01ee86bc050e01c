// Redis faults against real processes (issue 10, item 1): a password-protected Redis and a
// database number in the URL; a wrong password (readiness 503, backoff, no spin); one chirpd
// cut off from Redis by a proxy while another keeps it (the follower on the other process gets
// what the cut one could not publish, exactly once, once it is back); a silent (half-open)
// connection behind a frozen proxy; Redis frozen with SIGSTOP mid-stream (detected, writes
// answered, everything delivered exactly once after SIGCONT). Every Redis here is one this binary
// started; every process is ended by its PID.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/api.hpp"
#include "support/redis_server.hpp"
#include "support/server.hpp"
#include "support/tcp_proxy.hpp"
#include "support/ws_client.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

std::string logs_of(std::initializer_list<chirpd_process*> ps) {
    std::string out;
    for (auto* p : ps) out += "---- " + p->log_path() + " ----\n" + p->log() + "---- end ----\n";
    return out;
}

bool is_tweet(const json& f) {
    return f.value("type", "") == "event" && f.at("event").value("type", "") == "TweetCreated";
}

// Polls pred every 25 ms until it holds or the deadline passes; the time it took, or nullopt.
template <class Pred>
std::optional<std::chrono::milliseconds> within(std::chrono::milliseconds deadline, Pred pred) {
    const auto start = clock::now();
    while (clock::now() - start < deadline) {
        if (pred())
            return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
        std::this_thread::sleep_for(25ms);
    }
    return std::nullopt;
}

long rss_kb(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

unsigned readyz(std::uint16_t port) {
    http_client c(port, false, std::chrono::seconds(10));
    return c.get("/readyz").status;
}

// A counter of /metrics (0 when absent).
double metric(std::uint16_t port, const std::string& name) {
    http_client c(port);
    const auto body = c.get("/metrics").body;
    const auto at = body.find("\n" + name + " ");
    if (at == std::string::npos) return 0;
    return std::stod(body.substr(at + name.size() + 2));
}

// Tweets received until n arrived (or the deadline): their ids, in arrival order.
std::vector<std::string> tweets(ws_client& c, std::size_t n, std::chrono::milliseconds deadline) {
    std::vector<std::string> ids;
    const auto end = clock::now() + deadline;
    while (ids.size() < n && clock::now() < end) {
        auto f = c.next(std::chrono::duration_cast<std::chrono::milliseconds>(end - clock::now()));
        if (!f) break;
        if (is_tweet(*f)) ids.push_back(f->at("event").at("payload").at("tweet").at("id"));
    }
    return ids;
}

// Nothing more (no duplicate) arrives on any of the clients before a marker tweet posted now
// through `api`.
void expect_no_more_tweets(std::initializer_list<ws_client*> clients, http_client& api,
                           const test_user& author) {
    const auto marker = post_tweet(api, author, "marker");
    for (auto* c : clients)
        for (const auto& f : c->before(tweet_frame(marker)))
            EXPECT_FALSE(is_tweet(f)) << "duplicate or extra: " << f.dump();
}

// ------------------------------------------------------------------------ password, database

TEST(RedisFaults, PasswordAndDatabaseFromTheUrlAreUsed) {
    redis_server redis({"--requirepass", "s3cret"});
    redis.command({"ACL", "SETUSER", "chirp", "on", ">pw2", "~*", "&*", "+@all"});
    fresh_database db;
    // The password form and the ACL user form, both with database 3: processes that share a
    // Redis server must share its database too, since where each user is connected (routing
    // by process) is a key that every process reads.
    auto a = start_chirpd(
        db, {.redis_url = "redis://:s3cret@127.0.0.1:" + std::to_string(redis.port()) + "/3",
             .name = "chirpd-auth"});
    auto b = start_chirpd(
        db, {.redis_url = "redis://chirp:pw2@127.0.0.1:" + std::to_string(redis.port()) + "/3",
             .name = "chirpd-acl"});
    EXPECT_TRUE(within(5s, [&] { return readyz(a->port()) == 200; }).has_value())
        << logs_of({a.get()});
    EXPECT_TRUE(within(5s, [&] { return readyz(b->port()) == 200; }).has_value())
        << logs_of({b.get()});

    // Live updates work through the authenticated connections.
    http_client api_a(a->port(), true), api_b(b->port(), true);
    const auto alice = register_user(api_a, "ra");
    const auto bob = register_user(api_b, "rb");
    follow(api_b, bob, alice);
    ws_client wb(b->port());
    wb.auth(bob.token);
    wb.subscribe({"timeline"});
    const auto t = post_tweet(api_a, alice, "through an authenticated Redis");
    EXPECT_EQ(tweets(wb, 1, 10s), std::vector<std::string>{t});

    // The keys went to the database of the URLs (the timeline cache's version hash, the
    // presence set), not to database 0: both connections selected it.
    const auto keyspace = redis.command({"INFO", "keyspace"});
    EXPECT_NE(keyspace.find("db3:keys="), std::string::npos) << keyspace;
    EXPECT_EQ(keyspace.find("db0:keys="), std::string::npos) << keyspace;

    EXPECT_EQ(a->stop(), 0) << logs_of({a.get()});
    EXPECT_EQ(b->stop(), 0) << logs_of({b.get()});
}

TEST(RedisFaults, WrongPasswordIsReportedAndRetriedWithBackoff) {
    redis_server redis({"--requirepass", "s3cret"});
    fresh_database db;
    const auto before = redis.command({"INFO", "stats"});
    auto p =
        start_chirpd(db, {.redis_url = "redis://:wrong@127.0.0.1:" + std::to_string(redis.port()),
                          .name = "chirpd-wrongpw"});
    http_client api(p->port(), true);
    // REST works from PostgreSQL; readiness says Redis is down.
    const auto u = register_user(api, "wp");
    post_tweet(api, u, "Redis refuses us, PostgreSQL does not");
    const auto r = api.get("/readyz");
    EXPECT_EQ(r.status, 503u);
    EXPECT_EQ(r.json().value("redis", ""), "down") << r.body;
    std::this_thread::sleep_for(3s);  // the observation window (backoff, not an event)

    // A clear log line, not one per attempt; a handful of attempts, not thousands.
    const auto log = p->log();
    std::size_t lines = 0;
    for (std::size_t at = 0; (at = log.find("AUTH refused", at)) != std::string::npos; ++at)
        ++lines;
    EXPECT_GE(lines, 1u) << log;
    EXPECT_LE(lines, 3u) << log;
    EXPECT_EQ(log.find("wrong"), std::string::npos) << "the password was logged:\n" << log;
    const auto stats = redis.command({"INFO", "stats"});
    auto connections = [](const std::string& info) {
        const auto at = info.find("total_connections_received:");
        return std::stol(info.substr(at + 27));
    };
    const auto attempts = connections(stats) - connections(before);
    EXPECT_LE(attempts, 60) << "reconnects without backoff";
    EXPECT_GE(metric(p->port(), "chirp_redis_connect_failures_total"), 2);
    std::cerr << "wrong password: " << attempts << " connections in ~4 s, " << lines
              << " log lines\n";
    EXPECT_EQ(p->stop(), 0) << logs_of({p.get()});
}

// ------------------------------------------------------------------------ one process cut off

TEST(RedisFaults, ProcessCutOffFromRedisRepublishesToOtherProcesses) {
    binary_redis().flushall();
    tcp_proxy proxy(binary_redis().port());
    fresh_database db;
    auto a = start_chirpd(db, {.redis_url = "redis://127.0.0.1:" + std::to_string(proxy.port()),
                               .name = "chirpd-cut"});
    auto b = start_chirpd(db, {.name = "chirpd-kept"});
    http_client api_a(a->port(), true), api_b(b->port(), true);
    const auto author = register_user(api_a, "ca");
    const auto follower = register_user(api_b, "cf");
    follow(api_b, follower, author);
    ws_client w(b->port());  // the follower, on the process that keeps Redis
    w.auth(follower.token);
    w.subscribe({"timeline"});
    const auto first = post_tweet(api_a, author, "before the cut");
    ASSERT_EQ(tweets(w, 1, 10s), std::vector<std::string>{first});

    proxy.cut();
    const auto cut_at = clock::now();
    const auto detected = within(3s, [&] { return readyz(a->port()) == 503; });
    EXPECT_TRUE(detected.has_value()) << "/readyz of the cut process stayed 200";
    EXPECT_EQ(readyz(b->port()), 200u);
    std::vector<std::string> ids;
    std::chrono::milliseconds slowest{0};
    for (int i = 0; i < 5; ++i) {
        const auto t0 = clock::now();
        ids.push_back(post_tweet(api_a, author, "during the cut " + std::to_string(i)));
        slowest = std::max(
            slowest, std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0));
    }
    EXPECT_LT(slowest, 3s) << "a write waited for the missing Redis";
    std::this_thread::sleep_until(cut_at + 3s);
    proxy.restore();
    const auto back_at = clock::now();

    // The follower on B gets all 5 without reconnecting, exactly once.
    const auto got = tweets(w, ids.size(), 10s);
    const auto recovered =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - back_at);
    EXPECT_EQ(got, ids);
    EXPECT_LE(recovered, 3s) << "delivered only " << recovered.count() << " ms after Redis";
    // Its timeline on B (a cached one) shows them too.
    EXPECT_TRUE(within(3s,
                       [&] {
                           const auto tl = timeline_ids(api_b, follower, 10);
                           return !tl.empty() && tl.front() == ids.back();
                       })
                    .has_value())
        << "GET /api/timeline on the other process is stale";
    wait_past_settling_replay(clock::now());
    expect_no_more_tweets({&w}, api_b, author);
    EXPECT_GE(metric(a->port(), "chirp_redis_gap_hints_sent_total"), 1);
    EXPECT_GE(metric(b->port(), "chirp_redis_gap_hints_received_total"), 1);
    std::cerr << "cut: detected in " << (detected ? detected->count() : -1) << " ms, slowest write "
              << slowest.count() << " ms, follower current " << recovered.count()
              << " ms after the proxy came back\n";

    EXPECT_EQ(a->stop(), 0) << logs_of({a.get()});
    EXPECT_EQ(b->stop(), 0) << logs_of({b.get()});
    if (HasFailure()) std::cerr << logs_of({a.get(), b.get()});
}

// ------------------------------------------------------------------------ silent peer

TEST(RedisFaults, SilentConnectionIsDetectedAndRecovered) {
    binary_redis().flushall();
    tcp_proxy proxy(binary_redis().port());
    fresh_database db;
    auto a = start_chirpd(db, {.redis_url = "redis://127.0.0.1:" + std::to_string(proxy.port()),
                               .name = "chirpd-silent"});
    http_client api(a->port(), true);
    const auto author = register_user(api, "ha");
    const auto follower = register_user(api, "hf");
    follow(api, follower, author);
    ws_client w(a->port());
    w.auth(follower.token);
    w.subscribe({"timeline"});
    ASSERT_TRUE(within(5s, [&] { return readyz(a->port()) == 200; }).has_value());

    // Half-open: the connections stay established, nothing comes back (no RST, no FIN).
    proxy.pause();
    const auto detected = within(5s, [&] { return readyz(a->port()) == 503; });
    ASSERT_TRUE(detected.has_value()) << "/readyz stayed 200 with a silent Redis";
    EXPECT_LE(*detected, 3s);
    const auto t0 = clock::now();
    const auto id = post_tweet(api, author, "while Redis is silent");
    const auto write_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0);
    EXPECT_LT(write_ms, 3s);
    proxy.restore();
    const auto back_at = clock::now();
    EXPECT_EQ(tweets(w, 1, 10s), std::vector<std::string>{id});
    const auto recovered =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - back_at);
    wait_past_settling_replay(clock::now());
    expect_no_more_tweets({&w}, api, author);
    EXPECT_GE(metric(a->port(), "chirp_redis_health_failures_total"), 1);
    std::cerr << "silent peer: detected in " << detected->count() << " ms, write "
              << write_ms.count() << " ms, delivered " << recovered.count()
              << " ms after the proxy forwarded again\n";
    EXPECT_EQ(a->stop(), 0) << logs_of({a.get()});
    if (HasFailure()) std::cerr << logs_of({a.get()});
}

// ------------------------------------------------------------------------ Redis frozen

TEST(RedisFaults, RedisStoppedMidStreamIsDetectedAndNothingIsLost) {
    redis_server redis;
    fresh_database db;
    const auto url = redis.url();
    auto a = start_chirpd(db, {.redis_url = url, .name = "chirpd-A"});
    auto b = start_chirpd(db, {.redis_url = url, .name = "chirpd-B"});
    http_client api_a(a->port(), true), api_b(b->port(), true);
    const auto author = register_user(api_a, "sa");
    const auto fa = register_user(api_a, "sf");
    const auto fb = register_user(api_b, "sf");
    follow(api_a, fa, author);
    follow(api_b, fb, author);
    ws_client wa(a->port()), wb(b->port());
    wa.auth(fa.token);
    wa.subscribe({"timeline"});
    wb.auth(fb.token);
    wb.subscribe({"timeline"});

    std::vector<std::string> ids;
    std::chrono::milliseconds slowest{0};
    auto post = [&](int i) {
        const auto t0 = clock::now();
        ids.push_back(post_tweet(i % 2 == 0 ? api_a : api_b, author, "s" + std::to_string(i)));
        return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0);
    };
    for (int i = 0; i < 10; ++i) post(i);

    const auto rss_before = rss_kb(a->pid());
    redis.pause();
    const auto stopped_at = clock::now();
    std::optional<std::chrono::milliseconds> detected;
    int i = 10;
    while (clock::now() - stopped_at < 5s) {
        slowest = std::max(slowest, post(i++));
        if (!detected && readyz(a->port()) == 503 && readyz(b->port()) == 503)
            detected =
                std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - stopped_at);
        std::this_thread::sleep_for(50ms);
    }
    // Reads and subscribes are served meanwhile (from PostgreSQL).
    const auto t0 = clock::now();
    const auto tl = timeline_ids(api_b, fb, 5);
    const auto read_ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0);
    EXPECT_FALSE(tl.empty());
    ws_client late(a->port());
    late.auth(fa.token);
    const auto t1 = clock::now();
    late.subscribe({"timeline"}, std::to_string(0));
    const auto subscribe_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t1);
    late.close();
    EXPECT_GE(metric(a->port(), "chirp_redis_health_failures_total"), 1);
    EXPECT_EQ(metric(a->port(), "chirp_redis_up"), 0);
    const auto rss_paused = rss_kb(a->pid());
    redis.resume();
    const auto back_at = clock::now();

    EXPECT_TRUE(detected.has_value()) << "/readyz did not report the frozen Redis";
    if (detected) {
        EXPECT_LE(*detected, 3s);
    }
    EXPECT_LT(slowest, 3s) << "a write waited for the frozen Redis";
    const auto got_a = tweets(wa, ids.size(), 15s);
    const auto got_b = tweets(wb, ids.size(), 15s);
    const auto recovered =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - back_at);
    EXPECT_EQ(std::set<std::string>(got_a.begin(), got_a.end()),
              std::set<std::string>(ids.begin(), ids.end()));
    EXPECT_EQ(got_a.size(), ids.size());
    EXPECT_EQ(std::set<std::string>(got_b.begin(), got_b.end()),
              std::set<std::string>(ids.begin(), ids.end()));
    EXPECT_EQ(got_b.size(), ids.size());
    wait_past_settling_replay(clock::now());
    expect_no_more_tweets({&wa, &wb}, api_a, author);
    EXPECT_TRUE(within(5s, [&] {
                    return readyz(a->port()) == 200 && readyz(b->port()) == 200;
                }).has_value());
    std::cerr << "SIGSTOP 5 s: " << ids.size() << " tweets, detected in "
              << (detected ? detected->count() : -1) << " ms, slowest write " << slowest.count()
              << " ms, timeline read " << read_ms.count() << " ms, subscribe "
              << subscribe_ms.count() << " ms, all delivered " << recovered.count()
              << " ms after SIGCONT; RSS of A " << rss_before << " kB before, " << rss_paused
              << " kB at the end of the pause\n";

    EXPECT_EQ(a->stop(), 0) << logs_of({a.get()});
    EXPECT_EQ(b->stop(), 0) << logs_of({b.get()});
    if (HasFailure()) std::cerr << logs_of({a.get(), b.get()});
}

}  // namespace
}  // namespace chirp::test
