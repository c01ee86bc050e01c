// Dependencies going away: PostgreSQL not answering gives 503 (never 500, never a crash) and
// chirpd recovers when it is back; Redis not answering makes /readyz 503 while the REST API
// keeps working from PostgreSQL. Only throw-away resources are touched: our own fresh
// database (connections refused with ALLOW_CONNECTIONS false and pg_terminate_backend), and a
// Redis URL where nothing listens. The shared servers are never stopped.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "support/server.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;

// Polls until pred() or the deadline; a generous deadline, never an assertion on time.
template <class Pred>
bool eventually(Pred pred, std::chrono::seconds deadline = std::chrono::seconds(60)) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return pred();
}

void admin_exec(const std::string& sql) {
    pqxx::connection conn(env().admin_url);
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
}

class PostgresDown : public server_test<PostgresDown> {
public:
    // libpqxx 6.4 leaks the PGresult of a query that runs into a dropped connection
    // (connection_base::make_result asks the dead connection for its encoding, which throws
    // before the result is owned). That third-party leak is what this test provokes on
    // purpose; LeakSanitizer ignores allocations made inside libpqxx for this chirpd only.
    static server_options options() {
        const auto path = env().tmpdir + "/lsan-libpqxx-" + random_token(6) + ".supp";
        std::ofstream(path) << "leak:libpqxx-6.4.so\n";
        return {.env = {"LSAN_OPTIONS=suppressions=" + path + ":print_suppressions=0"}};
    }

protected:
    void cut_off() {
        pqxx::connection conn(env().admin_url);
        const auto db = conn.quote_name(server().db().name());
        admin_exec("ALTER DATABASE " + db + " WITH ALLOW_CONNECTIONS false");
        admin_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = " +
                   conn.quote(server().db().name()) + " AND pid <> pg_backend_pid()");
    }
    void restore() {
        pqxx::connection conn(env().admin_url);
        admin_exec("ALTER DATABASE " + conn.quote_name(server().db().name()) +
                   " WITH ALLOW_CONNECTIONS true");
    }
    void TearDown() override {
        try {
            restore();  // whatever happened, give the database back
        } catch (const std::exception& e) {
            ADD_FAILURE() << e.what();
        }
        server_test<PostgresDown>::TearDown();
    }
};

TEST_F(PostgresDown, Gives503AndRecovers) {
    const auto u = register_user(api(), "pg");
    const auto t = post_tweet(api(), u, "before the outage");
    const header_list key = {{"Idempotency-Key", "outage-" + random_token(8)}};
    ASSERT_EQ(api().get("/readyz").status, 200u);

    cut_off();

    // Reads, writes, logins and registrations: 503 unavailable, every time.
    for (int round = 0; round < 3; ++round) {
        EXPECT_TRUE(is_error(api().get("/api/tweets/" + t), 503, "unavailable")) << round;
        EXPECT_TRUE(is_error(api().get("/api/timeline", u.token), 503, "unavailable")) << round;
        EXPECT_TRUE(is_error(api().get("/api/users/" + u.handle), 503, "unavailable")) << round;
        EXPECT_TRUE(is_error(api().get("/api/me", u.token), 503, "unavailable")) << round;
        EXPECT_TRUE(is_error(
            api().post("/api/auth/login", {{"handle", u.handle}, {"password", u.password}}), 503,
            "unavailable"))
            << round;
    }
    // Writes once each: the event writer backs off after every failed batch (up to 2 s).
    EXPECT_TRUE(
        is_error(api().post("/api/tweets", {{"content", "during the outage"}}, u.token, key), 503,
                 "unavailable"));
    EXPECT_TRUE(
        is_error(api().post_empty("/api/tweets/" + t + "/like", u.token), 503, "unavailable"));
    EXPECT_TRUE(is_error(api().post("/api/auth/register",
                                    {{"handle", random_handle("pg")}, {"password", "12345678"}}),
                         503, "unavailable"));
    // The process is alive and says why it is not ready.
    EXPECT_EQ(api().get("/healthz").status, 200u);
    const auto ready = api().get("/readyz");
    EXPECT_EQ(ready.status, 503u) << ready.describe();
    EXPECT_EQ(ready.json().at("postgres"), "down");
    const auto stats = api().get("/api/stats");
    EXPECT_EQ(stats.status, 200u) << stats.describe();
    EXPECT_EQ(api().get("/metrics").status, 200u);
    // Client errors are still client errors (no database needed to refuse them).
    EXPECT_TRUE(
        is_error(api().post("/api/tweets", {{"content", ""}}, u.token), 422, "validation_failed"));
    EXPECT_TRUE(is_error(api().get("/api/me"), 401, "unauthorized"));

    restore();

    EXPECT_TRUE(eventually([&] { return api().get("/readyz").status == 200; }))
        << api().get("/readyz").describe();
    EXPECT_TRUE(eventually([&] { return api().get("/api/tweets/" + t).status == 200; }));
    // The write that failed with 503 is retried with its key: now it happens, once.
    http_response first;
    EXPECT_TRUE(eventually([&] {
        first = api().post("/api/tweets", {{"content", "during the outage"}}, u.token, key);
        return first.status != 503;
    }));
    ASSERT_EQ(first.status, 201u) << first.describe();
    EXPECT_FALSE(first.has_header("Idempotent-Replayed"));
    const auto again = api().post("/api/tweets", {{"content", "during the outage"}}, u.token, key);
    EXPECT_EQ(again.status, 201u);
    EXPECT_EQ(again.json(), first.json());
    EXPECT_EQ(api().get("/api/users/" + u.handle).json().at("tweets"), 2);
    EXPECT_EQ(
        api().post("/api/auth/login", {{"handle", u.handle}, {"password", u.password}}).status,
        200u);
}

TEST_F(PostgresDown, NoAcknowledgedWriteIsLost) {
    // Writes racing with the outage: each one either failed (503) or is in the log.
    const auto u = register_user(api(), "race");
    std::vector<std::string> acknowledged;
    std::atomic<std::size_t> ack_count{0};
    std::atomic<bool> stop{false};
    std::string error;
    std::thread writer([&] {
        http_client c(server().port(), true);
        for (int i = 0; !stop.load() && i < 2000; ++i) {
            try {
                const auto r =
                    c.post("/api/tweets", {{"content", "racing " + std::to_string(i)}}, u.token);
                if (r.status == 201) {
                    acknowledged.push_back(r.json().at("id").get<std::string>());
                    ++ack_count;
                } else if (r.status != 503) {
                    error = "unexpected " + r.describe();
                }
            } catch (const std::exception& e) {
                error = e.what();
                return;
            }
        }
    });
    // Some writes before, during and after the outage (the sleeps only spread them out).
    EXPECT_TRUE(eventually([&] { return ack_count.load() >= 3; }));
    cut_off();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    restore();
    EXPECT_TRUE(eventually([&] { return api().get("/readyz").status == 200; }));
    const auto after_restore = ack_count.load();
    EXPECT_TRUE(eventually([&] { return ack_count.load() >= after_restore + 3; }));
    stop = true;
    writer.join();
    EXPECT_EQ(error, "");
    pqxx::connection conn(server().db().url());
    const auto rows = query_rows(conn, "SELECT id::text FROM tweets WHERE author_id = " + u.id);
    std::set<std::string> stored;
    for (const auto& r : rows) stored.insert(r[0]);
    for (const auto& id : acknowledged)
        EXPECT_TRUE(stored.count(id)) << "acknowledged tweet " << id << " lost";
}

// chirpd with a Redis URL where nothing listens.
class RedisDown : public server_test<RedisDown> {
public:
    static server_options options() {
        return {.redis_url = "redis://127.0.0.1:" + std::to_string(free_port()),
                .name = "chirpd-noredis"};
    }
};

TEST_F(RedisDown, ReadyzSays503ButTheRestApiWorks) {
    http_client c(server().port());
    EXPECT_EQ(c.get("/healthz").status, 200u);
    const auto ready = c.get("/readyz");
    EXPECT_EQ(ready.status, 503u) << ready.describe();
    EXPECT_EQ(ready.json().at("redis"), "down");
    EXPECT_EQ(ready.json().at("postgres"), "up");

    const auto a = register_user(c, "nr");
    const auto b = register_user(c, "nr");
    ASSERT_EQ(c.post_empty("/api/users/" + b.handle + "/follow", a.token).status, 200u);
    const auto t1 = post_tweet(c, b, "no redis needed");
    const auto t2 = post_tweet(c, a, "still works");
    const auto tl = c.get("/api/timeline", a.token);
    ASSERT_EQ(tl.status, 200u) << tl.describe();
    std::vector<std::string> ids;
    const auto page = tl.json();
    for (const auto& t : page.at("items")) ids.push_back(t.at("id").get<std::string>());
    EXPECT_EQ(ids, (std::vector<std::string>{t2, t1}));
    EXPECT_EQ(c.get("/api/notifications", b.token).json().at("unread"), 1);
    EXPECT_EQ(c.get("/api/stats").status, 200u);
}

}  // namespace
}  // namespace chirp::test
