// Projection rebuild equality: after a varied workload through the REST API, every projection
// table is snapshotted, `chirpd rebuild-projections` replays the log, and the snapshot taken
// afterwards must be identical, row for row and column for column. The log is the truth.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/server.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;
using table = std::vector<std::vector<std::string>>;
using snapshot = std::map<std::string, table>;

class Rebuild : public server_test<Rebuild> {};

// Every table of the schema but the log itself and the bookkeeping tables.
std::vector<std::string> projection_tables(pqxx::connection& conn) {
    std::vector<std::string> out;
    for (const auto& row : query_rows(conn,
                                      "SELECT table_name FROM information_schema.tables "
                                      "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
                                      "AND table_name NOT IN ('events', 'schema_migrations', "
                                      "'idempotency_keys') ORDER BY 1"))
        out.push_back(row[0]);
    return out;
}

snapshot take_snapshot(const std::string& url) {
    pqxx::connection conn(url);
    snapshot s;
    for (const auto& t : projection_tables(conn)) {
        const auto ncols = std::stoi(query_rows(
            conn,
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = " +
                conn.quote(t))[0][0]);
        std::string order;
        for (int i = 1; i <= ncols; ++i) order += (i > 1 ? ", " : "") + std::to_string(i);
        s[t] = query_rows(conn, "SELECT * FROM " + conn.quote_name(t) + " ORDER BY " + order);
    }
    return s;
}

std::string show_row(const std::vector<std::string>& row) {
    std::string out = "(";
    for (std::size_t i = 0; i < row.size(); ++i) out += (i ? ", " : "") + row[i];
    return out + ")";
}

// Table by table, with the first differing row in the message.
void expect_same(const snapshot& live, const snapshot& rebuilt) {
    ASSERT_EQ(live.size(), rebuilt.size());
    for (const auto& [name, rows] : live) {
        const auto it = rebuilt.find(name);
        ASSERT_NE(it, rebuilt.end()) << name;
        const auto& other = it->second;
        EXPECT_EQ(rows.size(), other.size()) << "rows in " << name;
        for (std::size_t i = 0; i < std::min(rows.size(), other.size()); ++i) {
            if (rows[i] != other[i]) {
                ADD_FAILURE() << name << " row " << i
                              << " differs:\n  live:    " << show_row(rows[i])
                              << "\n  rebuilt: " << show_row(other[i]);
                break;
            }
        }
    }
}

json ok(const http_response& r, unsigned status = 200) {
    if (r.status != status) throw std::runtime_error("unexpected answer: " + r.describe());
    return r.body.empty() ? json() : r.json();
}

class workload {
public:
    explicit workload(http_client& c) : c_(c) {}

    void run() {
        for (int i = 0; i < 8; ++i) u_.push_back(register_user(c_, "rb"));
        auto& u = u_;
        // Follows, unfollows, re-follows.
        follow(u[1], u[0]);
        follow(u[2], u[0]);
        follow(u[3], u[0]);
        follow(u[0], u[1]);
        follow(u[4], u[1]);
        follow(u[5], u[2]);
        follow(u[6], u[0]);
        unfollow(u[3], u[0]);
        follow(u[3], u[0]);
        unfollow(u[6], u[0]);
        unfollow(u[6], u[0]);  // no-op
        follow(u[7], u[0]);

        // Tweets with mentions and hashtags, replies, a reply that mentions its parent's author.
        const auto t0 =
            tweet(u[0], "hello @" + u[1].handle + " @" + upper(u[2].handle) + " #Intro #intro");
        const auto t1 = tweet(u[1], "welcome @" + u[0].handle, t0);
        const auto t2 = tweet(u[2], "thread @" + u[0].handle + " #Thread", t1);
        const auto t3 = tweet(u[0], "to be deleted #gone");
        like(u[1], t3);
        const auto rt3 = retweet(u[2], t3);
        const auto r3 = tweet(u[3], "reply to a doomed tweet", t3);
        like(u[4], r3);
        const auto t4 = tweet(u[4], "liked and unliked");
        like(u[0], t4);
        like(u[1], t4);
        like(u[1], t4);  // no-op
        unlike(u[0], t4);
        unlike(u[0], t4);  // no-op
        like(u[2], t0);
        like(u[3], t0);
        // A retweet deleted by its author, then retweeted again.
        const auto rt0 = retweet(u[5], t0);
        del(u[5], rt0);
        retweet(u[5], t0);
        retweet(u[6], rt3);  // a retweet of a retweet retweets the original
        // Deletes: a tweet with likes, a retweet and a reply; then a reply.
        del(u[0], t3);
        del(u[2], t2);
        (void)rt3;
        // A like on a tweet that is deleted afterwards.
        const auto t5 = tweet(u[7], "short-lived, liked #x");
        like(u[0], t5);
        del(u[7], t5);
        // More tweets, some through idempotency keys (replayed, so appended once).
        for (int i = 0; i < 5; ++i) tweet(u[i % 8], "filler " + std::to_string(i) + " #fill");
        const header_list key = {{"Idempotency-Key", "rebuild-" + random_token(8)}};
        ok(c_.post("/api/tweets", {{"content", "idempotent"}}, u[5].token, key), 201);
        ok(c_.post("/api/tweets", {{"content", "idempotent"}}, u[5].token, key), 201);

        // Conversations and messages.
        const auto c1 =
            ok(c_.post("/api/conversations", {{"participants", {u[1].handle}}}, u[0].token), 201)
                .at("id")
                .get<std::string>();
        const auto c2 = ok(c_.post("/api/conversations",
                                   {{"participants", {u[2].handle, u[3].handle}}}, u[0].token),
                           201)
                            .at("id")
                            .get<std::string>();
        message(u[0], c1, "hi");
        message(u[1], c1, "hello back");
        message(u[2], c2, "group hello");
        message(u[3], c2, "\xF0\x9F\x91\x8B");
        message(u[0], c1, "again");

        // Notifications read: partly and wholly.
        const auto n1 = ok(c_.get("/api/notifications?limit=100", u[1].token));
        ASSERT_GE(n1.at("items").size(), 2u);
        ok(c_.post("/api/notifications/read", {{"upTo", n1.at("items")[1].at("seq")}}, u[1].token));
        ok(c_.post("/api/notifications/read", json::object(), u[0].token));
    }

    const std::vector<test_user>& users() const { return u_; }

private:
    static std::string upper(std::string s) {
        for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        return s;
    }
    void follow(const test_user& a, const test_user& b) {
        ok(c_.post_empty("/api/users/" + b.handle + "/follow", a.token));
    }
    void unfollow(const test_user& a, const test_user& b) {
        ok(c_.del("/api/users/" + b.handle + "/follow", a.token));
    }
    std::string tweet(const test_user& a, const std::string& content,
                      const std::string& reply_to = "") {
        return post_tweet(c_, a, content, reply_to);
    }
    void like(const test_user& a, const std::string& t) {
        ok(c_.post_empty("/api/tweets/" + t + "/like", a.token));
    }
    void unlike(const test_user& a, const std::string& t) {
        ok(c_.del("/api/tweets/" + t + "/like", a.token));
    }
    std::string retweet(const test_user& a, const std::string& t) {
        return ok(c_.post_empty("/api/tweets/" + t + "/retweet", a.token), 201)
            .at("id")
            .get<std::string>();
    }
    void del(const test_user& a, const std::string& t) { ok(c_.del("/api/tweets/" + t, a.token)); }
    void message(const test_user& a, const std::string& conv, const std::string& text) {
        ok(c_.post("/api/conversations/" + conv + "/messages", {{"content", text}}, a.token), 201);
    }

    http_client& c_;
    std::vector<test_user> u_;
};

// What the API shows, for comparing reads before and after.
json api_view(http_client& c, const std::vector<test_user>& users) {
    json view = json::object();
    for (const auto& u : users) {
        json v;
        v["user"] = ok(c.get("/api/users/" + u.handle, users[0].token));
        v["tweets"] = ok(c.get("/api/users/" + u.handle + "/tweets?limit=100", u.token));
        v["timeline"] = ok(c.get("/api/timeline?limit=100", u.token));
        v["notifications"] = ok(c.get("/api/notifications?limit=100", u.token));
        v["conversations"] = ok(c.get("/api/conversations", u.token));
        v["followers"] = ok(c.get("/api/users/" + u.handle + "/followers?limit=100"));
        view[u.handle] = v;
    }
    return view;
}

command_result rebuild(const std::string& url) {
    return run_command(
        {env().chirpd, "rebuild-projections", "--database-url", url, "--log-level", "info"});
}

TEST_F(Rebuild, RebuiltProjectionsEqualTheLiveOnes) {
    workload w(api());
    ASSERT_NO_FATAL_FAILURE(w.run());
    const auto live = take_snapshot(server().db().url());
    const auto view = api_view(api(), w.users());

    // The snapshot covers the projections the issue names, and the workload filled them all.
    for (const char* t : {"users", "user_stats", "follows", "tweet_stats", "tweets", "likes",
                          "notifications", "conversations", "conversation_members", "messages"}) {
        ASSERT_TRUE(live.count(t)) << "projection table " << t << " not found";
        EXPECT_FALSE(live.at(t).empty()) << t << " is empty: the workload does not exercise it";
    }

    const auto r = rebuild(server().db().url());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto rebuilt = take_snapshot(server().db().url());
    expect_same(live, rebuilt);
    EXPECT_EQ(api_view(api(), w.users()), view) << "the API shows the same after the rebuild";

    // Rebuilding again changes nothing.
    ASSERT_EQ(rebuild(server().db().url()).exit_code, 0);
    expect_same(live, take_snapshot(server().db().url()));
}

TEST_F(Rebuild, RebuildRepairsDamagedProjections) {
    workload w(api());
    ASSERT_NO_FATAL_FAILURE(w.run());
    const auto live = take_snapshot(server().db().url());
    {
        // Vandalize the projections (they are derived state; the log is untouched).
        pqxx::connection conn(server().db().url());
        pqxx::work tx(conn);
        tx.exec("UPDATE user_stats SET followers = followers + 7, notif_read_upto = 0");
        tx.exec("UPDATE tweets SET content = 'vandalized'");
        tx.exec("UPDATE tweet_stats SET likes = likes + 99");
        tx.exec("DELETE FROM likes");
        tx.exec("DELETE FROM follows WHERE follower_id IN (SELECT min(follower_id) FROM follows)");
        tx.exec("DELETE FROM notifications WHERE seq % 2 = 0");
        tx.exec("INSERT INTO follows VALUES (424242, 434343, 1, now())");
        tx.commit();
    }
    ASSERT_NE(take_snapshot(server().db().url()), live);
    const auto r = rebuild(server().db().url());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    expect_same(live, take_snapshot(server().db().url()));
}

TEST_F(Rebuild, WritesAfterARebuildContinueTheSameState) {
    workload w(api());
    ASSERT_NO_FATAL_FAILURE(w.run());
    ASSERT_EQ(rebuild(server().db().url()).exit_code, 0);
    // The live server keeps working on the rebuilt projections: new ids do not collide.
    const auto& u = w.users();
    const auto t = post_tweet(api(), u[0], "after the rebuild @" + u[1].handle);
    ASSERT_EQ(api().post_empty("/api/tweets/" + t + "/like", u[2].token).status, 200u);
    ASSERT_EQ(api().post_empty("/api/users/" + u[7].handle + "/follow", u[6].token).status, 200u);
    ASSERT_EQ(register_user(api(), "rb").id.empty(), false);
    const auto live = take_snapshot(server().db().url());
    ASSERT_EQ(rebuild(server().db().url()).exit_code, 0);
    expect_same(live, take_snapshot(server().db().url()));
}

// Many writers at once: the event writer batches their commands, so runs of plain tweets and
// of likes take the set-wise decides (sql/functions/decide.sql), whose answers the writer
// renders from typed columns. The answers equal the read views, the counts and notifications add
// up, and the rebuild equals the live state.
TEST_F(Rebuild, ConcurrentTweetsAndLikesAnswerLikeTheViewsAndRebuildEqual) {
    constexpr int writers = 8;
    std::vector<test_user> users;
    std::vector<std::string> targets;
    for (int i = 0; i < writers; ++i) users.push_back(register_user(api(), "cb"));
    for (int i = 0; i < writers; ++i)
        targets.push_back(post_tweet(api(), users[i], "target \"" + std::to_string(i) + "\" #cb"));

    // Writer w posts `writers` tweets and likes every target once (its own included).
    std::vector<std::vector<json>> tweet_answers(writers), like_answers(writers);
    std::vector<std::string> errors(writers);
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            try {
                http_client c(server().port(), true);
                for (int k = 0; k < writers; ++k) {
                    const json body = {{"content", "burst " + std::to_string(w) + "/" +
                                                       std::to_string(k) + " \\ \"q\" \xC3\xA9 #b" +
                                                       std::to_string(k)}};
                    const auto t = c.post("/api/tweets", body, users[w].token);
                    if (t.status != 201) {
                        errors[w] = t.describe();
                        return;
                    }
                    tweet_answers[w].push_back(t.json());
                    const auto l = c.post_empty(
                        "/api/tweets/" + targets[static_cast<std::size_t>((w + k) % writers)] +
                            "/like",
                        users[w].token);
                    if (l.status != 200) {
                        errors[w] = l.describe();
                        return;
                    }
                    like_answers[w].push_back(l.json());
                }
            } catch (const std::exception& e) {
                errors[w] = e.what();
            }
        });
    }
    for (auto& t : threads) t.join();
    for (const auto& e : errors) ASSERT_TRUE(e.empty()) << e;

    for (int w = 0; w < writers; ++w) {
        for (const auto& a : tweet_answers[w]) {
            // Nobody liked these: the answer is what a read shows.
            EXPECT_EQ(
                a, ok(api().get("/api/tweets/" + a.at("id").get<std::string>(), users[w].token)));
            ASSERT_TRUE(is_timestamp(a.at("createdAt"))) << a.dump();
        }
        for (int k = 0; k < writers; ++k) {
            const auto& a = like_answers[w][static_cast<std::size_t>(k)];
            EXPECT_EQ(a.at("id"), targets[static_cast<std::size_t>((w + k) % writers)]);
            EXPECT_EQ(a.at("likedByMe"), true);
            EXPECT_GE(a.at("likes").get<int>(), 1);
            EXPECT_LE(a.at("likes").get<int>(), writers);
        }
    }
    for (int i = 0; i < writers; ++i) {
        auto view = ok(api().get("/api/tweets/" + targets[static_cast<std::size_t>(i)],
                                 users[static_cast<std::size_t>(i)].token));
        EXPECT_EQ(view.at("likes"), writers);
        EXPECT_EQ(view.at("likedByMe"), true);
        // The last like's answer shows every like (the writer of k = writers - 1 - ... varies):
        // at least one answer for this target saw all of them.
        int most = 0;
        for (int w = 0; w < writers; ++w)
            most = std::max(most,
                            like_answers[w][static_cast<std::size_t>((i - w + writers) % writers)]
                                .at("likes")
                                .get<int>());
        EXPECT_EQ(most, writers);
        // One like notification from each other writer (none for the author's own like).
        const auto notes =
            ok(api().get("/api/notifications?limit=100", users[static_cast<std::size_t>(i)].token));
        int likes = 0;
        for (const auto& n : notes.at("items"))
            if (n.at("type") == "like") {
                ++likes;
                EXPECT_EQ(n.at("tweet").at("id"), targets[static_cast<std::size_t>(i)]);
                EXPECT_NE(n.at("actor").at("id"), users[static_cast<std::size_t>(i)].id);
            }
        EXPECT_EQ(likes, writers - 1);
    }

    const auto live = take_snapshot(server().db().url());
    const auto r = rebuild(server().db().url());
    ASSERT_EQ(r.exit_code, 0) << r.output;
    expect_same(live, take_snapshot(server().db().url()));
}

}  // namespace
}  // namespace chirp::test
