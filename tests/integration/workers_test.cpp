// `chirpd --workers 3` on three Redis servers (issue 12, items 1 and 3): a supervisor and three
// worker processes sharing the port with SO_REUSEPORT behave as one server. WebSocket clients are
// connected until they sit on every worker (the upgrade answer's X-Chirp-Worker header says which);
// followers spread over the workers get every tweet exactly once and in order; a worker killed with
// SIGKILL is restarted by the supervisor and its clients reconnect with `since` and miss nothing;
// SIGTERM to the supervisor drains every worker (1001 to the clients) and exits 0 in bounded time.
// The abuse limits hold for the whole server (util/limit_tables.hpp, shared by the workers):
// failed logins over separate connections (so on different workers) are refused after exactly
// the documented count, the per-user session cap counts the sessions on every worker, and a
// worker killed while holding sessions no longer counts them once it is gone.
// Real processes on loopback, all started by this binary and ended by pid.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/api.hpp"
#include "support/follower_reader.hpp"
#include "support/redis_server.hpp"
#include "support/server.hpp"
#include "support/ws_client.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr int workers = 3;
constexpr int session_cap = 3;  // --max-sessions-per-user of WorkerLimitsTest's server

// The worker index of a supervisor's child, from its command line (--worker-index K).
int worker_index_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::vector<std::string> args;
    for (std::string a; std::getline(in, a, '\0');) args.push_back(a);
    int index = -1;
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
        if (args[i] == "--worker-index") index = std::stoi(args[i + 1]);
    return index;
}

// Worker index -> pid of the supervisor's live workers.
std::map<int, pid_t> worker_pids(pid_t supervisor) {
    std::map<int, pid_t> out;
    for (const pid_t p : child_pids(supervisor))
        if (const int i = worker_index_of(p); i >= 0) out[i] = p;
    return out;
}

// chirpd answers /healthz once one worker listens: waits (bounded) for all of them.
void wait_until_every_worker_listens(test_server& server) {
    const auto until = std::chrono::steady_clock::now() + 30s;
    for (;;) {
        std::size_t listening = 0;
        for (const auto& [index, pid] : worker_pids(server.chirpd().pid()))
            listening += listens_on(pid, server.port()) ? 1 : 0;
        if (listening == static_cast<std::size_t>(workers)) return;
        ASSERT_LT(std::chrono::steady_clock::now(), until)
            << listening << " of " << workers << " workers listen";
        std::this_thread::sleep_for(20ms);
    }
}

// A follower's timeline that survives its connection (reconnecting 50 ms after a close, to
// whichever worker the kernel picks); connection_workers() says where each connection was.
class follower_stream : public follower_reader {
public:
    follower_stream(std::uint16_t port, test_user user)
        : follower_reader(std::move(user), {.ports = {port}, .reconnect_delay = 50ms}) {}
};

// Three Redis servers of this binary's own (the first the home shard), started once and
// stopped at exit: the suite's workers shard their users over them (`--redis-url a,b,c`).
std::string three_redis_shards() {
    static const auto servers = [] {
        std::vector<std::unique_ptr<redis_server>> v;
        for (int k = 0; k < 3; ++k) v.push_back(std::make_unique<redis_server>());
        return v;
    }();
    std::string urls;
    for (const auto& r : servers) urls += (urls.empty() ? "" : ",") + r->url();
    return urls;
}

// Three workers on three Redis servers (issue 12's test shape).
class WorkersTest : public server_test<WorkersTest> {
public:
    static server_options options() {
        return {.args = {"--workers", std::to_string(workers)},
                .redis_url = three_redis_shards(),
                .name = "chirpd-workers"};
    }

protected:
    // chirpd answered /healthz once one worker listened: wait (bounded) for all of them.
    void SetUp() override {
        server_test<WorkersTest>::SetUp();
        wait_until_every_worker_listens(server());
    }

    // Followers of `author`, each with a stream, added until every worker holds at least
    // `per_worker` of them (connections land where the kernel's hash puts them).
    std::vector<std::unique_ptr<follower_stream>> spread_followers(const test_user& author,
                                                                   int per_worker) {
        std::vector<std::unique_ptr<follower_stream>> out;
        std::map<std::string, int> on;
        auto enough = [&] {
            for (int w = 0; w < workers; ++w)
                if (on[std::to_string(w)] < per_worker) return false;
            return true;
        };
        while (!enough() && out.size() < 60) {
            auto f = register_user(api(), "wf");
            follow(api(), f, author);
            out.push_back(std::make_unique<follower_stream>(server().port(), f));
            ++on[out.back()->first_worker()];
        }
        std::string spread;
        for (const auto& [w, n] : on) spread += " worker " + w + ": " + std::to_string(n);
        EXPECT_TRUE(enough()) << out.size() << " connections did not reach every worker:" << spread;
        return out;
    }
};

TEST_F(WorkersTest, ConnectionsSpreadAndEveryWorkerSaysWhoItIs) {
    // HTTP answers name their worker too, and /api/stats and /metrics are the worker's own.
    std::set<std::string> seen;
    for (int i = 0; i < 60 && seen.size() < static_cast<std::size_t>(workers); ++i) {
        http_client fresh(server().port(), false);  // a new connection per request
        const auto r = fresh.get("/api/stats");
        ASSERT_EQ(r.status, 200u) << r.describe();
        const auto w = r.header("X-Chirp-Worker");
        EXPECT_EQ(r.json().at("worker").get<int>(), std::stoi(w)) << r.describe();
        seen.insert(w);
    }
    EXPECT_EQ(seen, (std::set<std::string>{"0", "1", "2"}));
    // Three distinct worker processes under the supervisor, each listening on the port.
    const auto pids = worker_pids(server().chirpd().pid());
    ASSERT_EQ(pids.size(), static_cast<std::size_t>(workers));
    for (const auto& [index, pid] : pids)
        EXPECT_TRUE(listens_on(pid, server().port())) << "worker " << index;
    EXPECT_FALSE(listens_on(server().chirpd().pid(), server().port())) << "the supervisor";
}

TEST_F(WorkersTest, FollowersOnEveryWorkerGetEveryTweetOnceInOrder) {
    const auto author = register_user(api(), "wa");
    auto followers = spread_followers(author, 2);
    // Tweets through every worker (a new connection per request), one after the other.
    std::vector<std::string> ids;
    for (int i = 0; i < 24; ++i)
        ids.push_back(post_tweet(api(), author, "spread " + std::to_string(i)));
    for (auto& f : followers) {
        SCOPED_TRACE(f->user().handle + " on worker " + f->first_worker());
        EXPECT_TRUE(f->wait_for(ids.size(), 20s)) << f->ids().size() << " of " << ids.size();
    }
    // Nothing more: a last tweet is the next thing each follower gets.
    const auto marker = post_tweet(api(), author, "marker");
    ids.push_back(marker);
    for (auto& f : followers) {
        SCOPED_TRACE(f->user().handle + " on worker " + f->first_worker());
        EXPECT_TRUE(f->wait_for(ids.size(), 20s));
        EXPECT_EQ(f->ids(), ids);  // every one, once, in order
        EXPECT_EQ(f->connection_workers().size(), 1u) << "the connection never dropped";
    }
}

TEST_F(WorkersTest, AKilledWorkerIsRestartedAndItsClientsResume) {
    const auto author = register_user(api(), "wk");
    auto followers = spread_followers(author, 2);
    std::vector<std::string> ids;
    for (int i = 0; i < 8; ++i)
        ids.push_back(post_tweet(api(), author, "before " + std::to_string(i)));
    for (auto& f : followers) ASSERT_TRUE(f->wait_for(ids.size(), 20s)) << f->user().handle;

    const auto before = worker_pids(server().chirpd().pid());
    ASSERT_EQ(before.size(), static_cast<std::size_t>(workers));
    const pid_t victim = before.at(1);
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    // Gone (its sockets closed) before we post: no request may land on its dying socket.
    // Its descriptors leave /proc a moment before its sockets close (exit_files runs before the
    // deferred closes), so wait until the supervisor has reaped it too.
    const auto gone_by = std::chrono::steady_clock::now() + 10s;
    while ((listens_on(victim, server().port()) || ::kill(victim, 0) == 0) &&
           std::chrono::steady_clock::now() < gone_by)
        std::this_thread::sleep_for(10ms);
    ASSERT_FALSE(listens_on(victim, server().port()));
    ASSERT_NE(::kill(victim, 0), 0) << "reaped";

    // While worker 1 is away (its clients reconnect to the others) and after it is back.
    for (int i = 0; i < 8; ++i)
        ids.push_back(post_tweet(api(), author, "during " + std::to_string(i)));
    pid_t restarted = -1;
    const auto back_by = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < back_by) {
        const auto now = worker_pids(server().chirpd().pid());
        if (now.count(1) && now.at(1) != victim && listens_on(now.at(1), server().port())) {
            restarted = now.at(1);
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_GT(restarted, 0) << "worker 1 was not restarted; log:\n" << server().chirpd().log();
    EXPECT_EQ(worker_pids(server().chirpd().pid()).at(0), before.at(0)) << "others untouched";
    EXPECT_EQ(worker_pids(server().chirpd().pid()).at(2), before.at(2)) << "others untouched";
    EXPECT_NE(server().chirpd().log().find("restarting it"), std::string::npos)
        << "the supervisor logs the crash";
    for (int i = 0; i < 8; ++i)
        ids.push_back(post_tweet(api(), author, "after " + std::to_string(i)));

    int moved = 0;
    for (auto& f : followers) {
        SCOPED_TRACE(f->user().handle + " first on worker " + f->first_worker());
        EXPECT_TRUE(f->wait_for(ids.size(), 30s)) << f->ids().size() << " of " << ids.size();
        EXPECT_EQ(f->ids(), ids);  // nothing lost, nothing twice, in order
        if (f->first_worker() == "1") {
            EXPECT_GE(f->connection_workers().size(), 2u) << "reconnected";
            ++moved;
        } else {
            EXPECT_EQ(f->connection_workers().size(), 1u) << "its worker stayed up";
        }
    }
    EXPECT_GE(moved, 2);
}

// Last in this suite: it stops the suite's server.
TEST_F(WorkersTest, SigtermDrainsEveryWorkerWith1001) {
    std::vector<std::unique_ptr<ws_client>> clients;
    std::set<std::string> on;
    for (int i = 0; i < 60 && on.size() < static_cast<std::size_t>(workers); ++i) {
        const auto user = register_user(api(), "wt");
        clients.push_back(server().connect_subscribed(user, {"timeline"}));
        on.insert(clients.back()->worker());
    }
    ASSERT_EQ(on.size(), static_cast<std::size_t>(workers));
    const auto pids = worker_pids(server().chirpd().pid());
    ASSERT_EQ(pids.size(), static_cast<std::size_t>(workers));

    const auto t0 = std::chrono::steady_clock::now();
    const int rc = server().chirpd().stop();  // SIGTERM to the supervisor, then waitpid
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(rc, 0) << server().chirpd().log();
    EXPECT_LT(took, 20s) << "bounded drain";
    for (const auto& [index, pid] : pids)
        EXPECT_NE(::kill(pid, 0), 0) << "worker " << index << " still exists";
    for (auto& c : clients) {
        const auto closed = c->wait_closed(5s);
        ASSERT_TRUE(closed) << "worker " << c->worker();
        EXPECT_EQ(closed->code, 1001u) << "worker " << c->worker() << ": " << closed->describe();
    }
}

// The abuse limits of a `--workers 3` server (a suite of its own: a small session cap).
class WorkerLimitsTest : public server_test<WorkerLimitsTest> {
public:
    static server_options options() {
        return {.args = {"--workers", std::to_string(workers), "--max-sessions-per-user",
                         std::to_string(session_cap)},
                .name = "chirpd-worker-limits"};
    }

protected:
    void SetUp() override {
        server_test<WorkerLimitsTest>::SetUp();
        wait_until_every_worker_listens(server());
    }
};

// Five failed logins for one handle from one address (docs/api.md "Limits"), each on a new
// connection, so the kernel spreads them over the workers: the sixth attempt is 429 wherever
// it lands. Rounds (a new handle each) until one round's failures reached two workers or
// more, which a per-worker count would not have refused; at most 15 failures in all from
// this address (its own limit is 20).
TEST_F(WorkerLimitsTest, FailedLoginsAreCountedForTheWholeServer) {
    bool spread = false;
    for (int round = 0; round < 3 && !spread; ++round) {
        const auto u = register_user(api(), "wl");
        std::set<std::string> on;
        for (int i = 0; i < 5; ++i) {
            http_client fresh(server().port(), false);
            const auto r = fresh.post("/api/auth/login",
                                      {{"handle", u.handle}, {"password", "wrong password"}});
            EXPECT_EQ(r.status, 401u) << "attempt " << i + 1 << ": " << r.describe();
            on.insert(r.header("X-Chirp-Worker"));
        }
        for (int i = 0; i < 3; ++i) {  // refused on whichever worker, even the right password
            http_client fresh(server().port(), false);
            const auto r =
                fresh.post("/api/auth/login", {{"handle", u.handle}, {"password", u.password}});
            EXPECT_TRUE(is_error(r, 429, "rate_limited")) << r.describe();
            EXPECT_FALSE(r.header("Retry-After").empty());
        }
        spread = on.size() >= 2;
    }
    EXPECT_TRUE(spread) << "three rounds of five connections each landed on one worker";
}

// The per-user session cap counts the user's sessions on every worker: with `session_cap`
// open (wherever they landed), one more is refused with 4009 on any worker.
TEST_F(WorkerLimitsTest, TheSessionCapCountsSessionsOnEveryWorker) {
    const auto u = register_user(api(), "wc");
    std::vector<std::unique_ptr<ws_client>> open;
    std::set<std::string> on;
    for (int i = 0; i < session_cap; ++i) {
        open.push_back(server().connect(u));
        on.insert(open.back()->worker());
    }
    // More attempts, spread over the workers: each is refused.
    std::set<std::string> refused_on;
    for (int i = 0; i < 6; ++i) {
        ws_client extra(server().port());
        extra.send({{"type", "auth"}, {"token", u.token}});
        const auto closed = extra.wait_closed(5s);
        ASSERT_TRUE(closed) << "session " << session_cap + 1 << " was admitted on worker "
                            << extra.worker();
        EXPECT_EQ(closed->code, 4009u) << closed->describe();
        refused_on.insert(extra.worker());
    }
    std::set<std::string> reached = on;
    reached.insert(refused_on.begin(), refused_on.end());
    EXPECT_GE(reached.size(), 2u) << "nine connections reached one worker only";
    for (auto& c : open) EXPECT_TRUE(c->open()) << "the admitted sessions stay";
}

// A worker killed (SIGKILL) while holding sessions: once it is gone they no longer count, so
// the user can open sessions up to the cap again, and no more.
TEST_F(WorkerLimitsTest, AKilledWorkersSessionsNoLongerCount) {
    const auto u = register_user(api(), "wx");
    std::vector<std::unique_ptr<ws_client>> open;
    for (int i = 0; i < session_cap; ++i) open.push_back(server().connect(u));
    const std::string victim_index = open.front()->worker();
    int on_victim = 0;
    for (auto& c : open) on_victim += c->worker() == victim_index ? 1 : 0;
    const auto before = worker_pids(server().chirpd().pid());
    const pid_t victim = before.at(std::stoi(victim_index));
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    pid_t restarted = -1;
    const auto back_by = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < back_by) {
        const auto now = worker_pids(server().chirpd().pid());
        const auto it = now.find(std::stoi(victim_index));
        if (it != now.end() && it->second != victim && listens_on(it->second, server().port())) {
            restarted = it->second;
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_GT(restarted, 0) << "worker " << victim_index << " was not restarted";
    for (auto& c : open) {
        if (c->worker() == victim_index) {
            EXPECT_TRUE(c->wait_closed(5s)) << "its sessions end";
        }
    }

    // Up to the cap again: the survivors plus `on_victim` new ones; the next is refused.
    for (int i = 0; i < on_victim; ++i) {
        try {
            open.push_back(server().connect(u));
        } catch (const std::exception& e) {
            FAIL() << "new session " << i + 1 << " of " << on_victim << " refused: " << e.what();
        }
    }
    ws_client extra(server().port());
    extra.send({{"type", "auth"}, {"token", u.token}});
    const auto closed = extra.wait_closed(5s);
    ASSERT_TRUE(closed) << "a session over the cap was admitted on worker " << extra.worker();
    EXPECT_EQ(closed->code, 4009u) << closed->describe();
}

}  // namespace
}  // namespace chirp::test
