// The in-process home-timeline cache (src/timeline/) against PostgreSQL: two
// chirpd sharing Redis and PostgreSQL answer GET /api/timeline from memory, a third chirpd
// without Redis answers from PostgreSQL alone. After every kind of write (likes, unlikes,
// retweets, replies, deletions, follows, unfollows, new tweets), made through either process,
// the very next read on either process must be byte for byte PostgreSQL's answer: counts,
// "by me" flags, cursors, hidden deletions. No retries: a write answered before a read is
// visible to it, whichever process served each.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/api.hpp"
#include "support/server.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;

json cache_stats(http_client& c) {
    return c.get("/api/stats").json().at("timelineCache");
}

class TimelineCacheTest : public ::testing::Test {
protected:
    void SetUp() override { binary_redis().flushall(); }
};

TEST_F(TimelineCacheTest, AnswersEqualPostgreSQLAfterEveryKindOfWrite) {
    fresh_database db;
    auto a = start_chirpd(db, {.name = "chirpd-tl-A"});
    auto b = start_chirpd(db, {.name = "chirpd-tl-B"});
    auto pg = start_chirpd(db, {.redis_url = "redis://127.0.0.1:1", .name = "chirpd-tl-pg"});
    http_client api_a(a->port(), true), api_b(b->port(), true), api_pg(pg->port(), true);
    ASSERT_EQ(api_pg.get("/readyz").status, 503u) << "the reference must not have Redis";

    auto viewer = register_user(api_a, "tv", "Viewer \"quoted\" \u00e9");
    auto f1 = register_user(api_b, "tf");
    auto f2 = register_user(api_a, "tg");
    auto f3 = register_user(api_b, "th");
    auto other = register_user(api_a, "to");
    follow(api_a, viewer, f1);
    follow(api_b, viewer, f2);
    follow(api_a, other, f1);

    std::vector<std::string> t1, t2, t3, tother;
    for (int i = 0; i < 8; ++i) {
        http_client& via = i % 2 == 0 ? api_a : api_b;
        t1.push_back(post_tweet(
            via, f1,
            "f1 #tag" + std::to_string(i) + " @" + other.handle + " \"quotes\" \\ and\nnewline"));
        t2.push_back(post_tweet(via, f2, "f2 " + std::to_string(i)));
        t3.push_back(post_tweet(via, f3, "f3 " + std::to_string(i)));
        tother.push_back(post_tweet(via, other, "other " + std::to_string(i)));
    }
    post_tweet(api_b, viewer, "my own");

    // Every page shape, as three users, on both caching processes.
    auto same = [&](const std::string& label) {
        SCOPED_TRACE(label);
        const std::string mid = t1[4];
        for (const auto* u : {&viewer, &other, &f1}) {
            const std::vector<std::string> targets = {"/api/timeline", "/api/timeline?limit=7",
                                                      "/api/timeline?limit=3&before=" + mid,
                                                      "/api/timeline?limit=100"};
            for (const auto& target : targets) {
                SCOPED_TRACE(u->handle + " " + target);
                const auto want = api_pg.get(target, u->token);
                ASSERT_EQ(want.status, 200u) << want.describe();
                EXPECT_EQ(api_a.get(target, u->token).body, want.body);
                EXPECT_EQ(api_b.get(target, u->token).body, want.body);
            }
        }
    };
    same("cold");
    same("warm");

    like(api_b, viewer, t1[7]);
    same("viewer liked on B");
    like(api_a, other, t1[7]);
    same("other liked on A");
    ASSERT_EQ(api_a.del("/api/tweets/" + t1[7] + "/like", viewer.token).status, 200u);
    same("viewer unliked on A");

    const auto my_retweet = retweet(api_b, viewer, t2[6]);
    same("viewer retweeted on B");
    const auto f1_retweet = retweet(api_a, f1, tother[5]);  // an original from outside
    same("followee retweeted a stranger on A");
    like(api_b, viewer, tother[5]);  // the embedded original's count and flag
    same("viewer liked the embedded original on B");

    post_tweet(api_b, f2, "a reply", t1[6]);
    same("reply on B");

    delete_tweet(api_b, other, tother[5]);  // the original of f1's retweet: both disappear
    same("original of a retweet deleted on B");
    delete_tweet(api_a, f2, t2[5]);
    same("plain tweet deleted on A");
    delete_tweet(api_a, viewer, my_retweet);
    same("viewer's retweet deleted on A");
    (void)f1_retweet;

    follow(api_b, viewer, f3);
    same("followed on B");
    unfollow(api_a, viewer, f2);
    same("unfollowed on A");
    post_tweet(api_a, f3, "f3 after the follow");
    post_tweet(api_b, f1, "f1 later");
    same("new tweets");

    // Past the end of the cached list (200 ids) the pages still walk the whole timeline.
    for (int i = 0; i < 210; ++i)
        post_tweet(i % 2 == 0 ? api_a : api_b, f1, "bulk " + std::to_string(i));
    same("after 210 more tweets");
    const auto want = timeline_ids(api_pg, viewer, 100);
    ASSERT_GT(want.size(), 220u);
    EXPECT_EQ(timeline_ids(api_a, viewer, 100), want);
    EXPECT_EQ(timeline_ids(api_b, viewer, 37), want);

    // The caching processes answered from memory (not one PostgreSQL fallback each time).
    for (auto* c : {&api_a, &api_b}) {
        const auto s = cache_stats(*c);
        EXPECT_GT(s.at("hits").get<long long>(), 50) << s.dump();
    }
    EXPECT_EQ(a->stop(), 0) << a->log();
    EXPECT_EQ(b->stop(), 0) << b->log();
    EXPECT_EQ(pg->stop(), 0) << pg->log();
}

// A chirpd that starts after writes were made elsewhere, and a Redis that forgets everything
// (FLUSHALL: the broadcast's version counter starts again): answers stay PostgreSQL's.
TEST_F(TimelineCacheTest, SurvivesARedisThatForgetsItsVersion) {
    fresh_database db;
    auto a = start_chirpd(db, {.name = "chirpd-tl-A"});
    auto pg = start_chirpd(db, {.redis_url = "redis://127.0.0.1:1", .name = "chirpd-tl-pg"});
    http_client api_a(a->port(), true), api_pg(pg->port(), true);
    auto viewer = register_user(api_a, "tv");
    auto f = register_user(api_a, "tf");
    follow(api_a, viewer, f);
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(post_tweet(api_a, f, "t" + std::to_string(i)));
    EXPECT_EQ(api_a.get("/api/timeline", viewer.token).body,
              api_pg.get("/api/timeline", viewer.token).body);

    auto b = start_chirpd(db, {.name = "chirpd-tl-B"});
    http_client api_b(b->port(), true);
    like(api_b, viewer, ids[1]);
    EXPECT_EQ(api_a.get("/api/timeline", viewer.token).body,
              api_pg.get("/api/timeline", viewer.token).body);

    binary_redis().flushall();
    like(api_a, f, ids[1]);
    post_tweet(api_b, f, "after the flush");
    // The first broadcast after the flush carries version 1: both processes drop their
    // caches (or wait, or ask PostgreSQL) — never an old answer.
    for (auto* c : {&api_a, &api_b}) {
        EXPECT_EQ(c->get("/api/timeline", viewer.token).body,
                  api_pg.get("/api/timeline", viewer.token).body);
    }
    EXPECT_EQ(a->stop(), 0) << a->log();
    EXPECT_EQ(b->stop(), 0) << b->log();
    EXPECT_EQ(pg->stop(), 0) << pg->log();
}

}  // namespace
}  // namespace chirp::test
