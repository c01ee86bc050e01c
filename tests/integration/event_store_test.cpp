// The event store's guarantees at the database level: the log is append-only for the role
// chirpd uses (UPDATE, DELETE and TRUNCATE fail), events have the documented columns, appends
// and projections commit together, and migrations are tracked and safe to re-run (also
// concurrently). Seq order across processes is ordering_test's subject.
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/server.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;

class EventStore : public server_test<EventStore> {
protected:
    void SetUp() override {
        server_test<EventStore>::SetUp();
        if (HasFatalFailure()) return;
        // Some history to protect.
        const auto a = register_user(api(), "es");
        const auto b = register_user(api(), "es");
        const auto t = post_tweet(api(), a, "an event to protect");
        ASSERT_EQ(api().post_empty("/api/tweets/" + t + "/like", b.token).status, 200u);
    }

    static std::vector<std::vector<std::string>> all_events_rows(const std::string& url) {
        pqxx::connection conn(url);
        return query_rows(
            conn,
            "SELECT seq, id, type, user_id, payload, created_at, version FROM events ORDER BY seq");
    }
};

// Runs one statement in its own transaction; the error text, or "" when it succeeded.
std::string try_exec(const std::string& url, const std::string& sql) {
    try {
        pqxx::connection conn(url);
        pqxx::work tx(conn);
        tx.exec(sql);
        tx.commit();
        return "";
    } catch (const std::exception& e) {
        return e.what();
    }
}

TEST_F(EventStore, TheApplicationRoleCannotRewriteTheLog) {
    const auto& url = server().db().url();  // as role chirp, the way chirpd connects
    {
        pqxx::connection conn(url);
        ASSERT_EQ(query_rows(conn, "SELECT current_user")[0][0], server().db().owner());
    }
    const auto before = all_events_rows(url);
    ASSERT_GE(before.size(), 4u);

    const std::vector<std::string> attacks = {
        "UPDATE events SET type = 'Forged'",
        "UPDATE events SET payload = '{}' WHERE seq = (SELECT min(seq) FROM events)",
        "UPDATE events SET seq = seq + 1000000 WHERE seq = (SELECT max(seq) FROM events)",
        "DELETE FROM events",
        "DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)",
        "TRUNCATE events",
        "TRUNCATE events CASCADE",
        "INSERT INTO events (seq, type, user_id, payload) SELECT seq, 'Dup', user_id, payload FROM "
        "events "
        "LIMIT 1 ON CONFLICT (seq) DO UPDATE SET type = 'Forged'",
    };
    for (const auto& sql : attacks) {
        const auto err = try_exec(url, sql);
        EXPECT_FALSE(err.empty()) << "succeeded as the application role: " << sql;
    }
    EXPECT_EQ(all_events_rows(url), before) << "the log is unchanged";
}

TEST_F(EventStore, EvenTheSuperuserCannotRewriteTheLogByAccident) {
    // The triggers hold for every role; only deliberately dropping them would allow it.
    const auto& admin = server().db().admin_url();
    const auto before = all_events_rows(admin);
    for (const char* sql :
         {"UPDATE events SET type = 'Forged'", "DELETE FROM events", "TRUNCATE events"})
        EXPECT_FALSE(try_exec(admin, sql).empty()) << sql;
    EXPECT_EQ(all_events_rows(admin), before);
}

TEST_F(EventStore, EventsHaveTheDocumentedColumns) {
    pqxx::connection conn(server().db().url());
    const auto cols = query_rows(
        conn,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = 'events' ORDER BY ordinal_position");
    std::map<std::string, std::string> types;
    for (const auto& c : cols) types[c[0]] = c[1];
    EXPECT_EQ(types["seq"], "bigint");
    EXPECT_EQ(types["id"], "uuid");
    EXPECT_EQ(types["type"], "text");
    EXPECT_EQ(types["user_id"], "bigint");
    EXPECT_EQ(types["payload"], "jsonb");
    EXPECT_EQ(types["created_at"], "timestamp with time zone");
    EXPECT_EQ(types["version"], "integer");
    // seq is the key, id is unique.
    const auto keys =
        query_rows(conn,
                   "SELECT a.attname, i.indisprimary, i.indisunique FROM pg_index i "
                   "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                   "WHERE i.indrelid = 'events'::regclass AND i.indnatts = 1 ORDER BY 1");
    bool seq_pk = false, id_unique = false;
    for (const auto& k : keys) {
        if (k[0] == "seq" && k[1] == "t") seq_pk = true;
        if (k[0] == "id" && k[2] == "t") id_unique = true;
    }
    EXPECT_TRUE(seq_pk);
    EXPECT_TRUE(id_unique);
    // Every event so far is one of the documented types, and ids are distinct.
    const auto rows = query_rows(conn, "SELECT DISTINCT type FROM events ORDER BY 1");
    const std::set<std::string> known = {
        "UserRegistered",      "UserFollowed", "UserUnfollowed", "TweetCreated",
        "TweetDeleted",        "TweetLiked",   "TweetUnliked",   "NotificationsRead",
        "ConversationCreated", "MessageSent"};
    for (const auto& r : rows) EXPECT_TRUE(known.count(r[0])) << r[0];
    EXPECT_EQ(query_rows(conn, "SELECT count(*) = count(DISTINCT id) FROM events")[0][0], "t");
}

TEST_F(EventStore, EveryAcknowledgedWriteIsInTheLogWithItsProjection) {
    const auto u = register_user(api(), "ack");
    const auto t = post_tweet(api(), u, "acknowledged");
    pqxx::connection conn(server().db().url());
    pqxx::work tx(conn);
    const auto ev = tx.exec_params(
        "SELECT type, user_id::text, payload->>'content' FROM events WHERE payload->>'tweetId' = "
        "$1",
        t);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0][0].as<std::string>(), "TweetCreated");
    EXPECT_EQ(ev[0][1].as<std::string>(), u.id);
    EXPECT_EQ(ev[0][2].as<std::string>(), "acknowledged");
    const auto proj =
        tx.exec_params("SELECT author_id::text, seq FROM tweets WHERE id = $1::bigint", t);
    ASSERT_EQ(proj.size(), 1u);
    EXPECT_EQ(proj[0][0].as<std::string>(), u.id);
    // The registration stored a hash, never the password.
    const auto reg = tx.exec_params(
        "SELECT payload::text FROM events WHERE type = 'UserRegistered' AND user_id = $1",
        std::stoll(u.id));
    ASSERT_EQ(reg.size(), 1u);
    const auto payload = reg[0][0].as<std::string>();
    EXPECT_EQ(payload.find(u.password), std::string::npos);
    EXPECT_NE(payload.find("$argon2id$"), std::string::npos);
    const auto pw =
        tx.exec_params("SELECT password_hash FROM users WHERE id = $1", std::stoll(u.id));
    EXPECT_EQ(pw[0][0].as<std::string>().rfind("$argon2id$", 0), 0u);
}

TEST_F(EventStore, MigrationsAreTrackedAndSafeToReRun) {
    const auto& url = server().db().url();
    std::vector<std::vector<std::string>> applied;
    {
        pqxx::connection conn(url);
        applied = query_rows(conn, "SELECT version, name FROM schema_migrations ORDER BY version");
    }
    ASSERT_GE(applied.size(), 2u);
    EXPECT_EQ(applied[0][0], "1");
    EXPECT_EQ(applied[1][0], "2");
    const auto before = all_events_rows(url);
    for (int i = 0; i < 2; ++i) {
        const auto r =
            run_command({env().chirpd, "migrate", "--database-url", url, "--log-level", "warn"});
        EXPECT_EQ(r.exit_code, 0) << r.output;
    }
    pqxx::connection conn(url);
    EXPECT_EQ(query_rows(conn, "SELECT version, name FROM schema_migrations ORDER BY version"),
              applied);
    EXPECT_EQ(all_events_rows(url), before);
    // The server still works after the re-run (functions replaced in place).
    EXPECT_EQ(register_user(api(), "mig").handle.size(), 15u);
}

TEST(EventStoreMigrations, ConcurrentFirstMigrationsOfAFreshDatabaseBothSucceed) {
    fresh_database db;
    auto migrate = [&] {
        return run_command(
            {env().chirpd, "migrate", "--database-url", db.url(), "--log-level", "warn"});
    };
    auto a = std::async(std::launch::async, migrate);
    auto b = std::async(std::launch::async, migrate);
    const auto ra = a.get();
    const auto rb = b.get();
    EXPECT_EQ(ra.exit_code, 0) << ra.output;
    EXPECT_EQ(rb.exit_code, 0) << rb.output;
    pqxx::connection conn(db.url());
    const auto rows =
        query_rows(conn, "SELECT count(*), count(DISTINCT version) FROM schema_migrations");
    EXPECT_EQ(rows[0][0], rows[0][1]) << "each migration recorded once";
    EXPECT_GE(std::stoi(rows[0][0]), 2);
    // An empty log rebuilds to empty projections.
    const auto r = run_command({env().chirpd, "rebuild-projections", "--database-url", db.url()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(query_rows(conn, "SELECT count(*) FROM users")[0][0], "0");
}

}  // namespace
}  // namespace chirp::test
