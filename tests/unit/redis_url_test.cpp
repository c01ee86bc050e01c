// The Redis URL (chirp/redis/url.hpp): password, ACL user, database, percent-escapes, and
// the malformed URLs the config check refuses. Also the chirp:gaps payload codec.
#include <gtest/gtest.h>

#include "chirp/fanout/codec.hpp"
#include "chirp/redis/url.hpp"

namespace rd = chirp::redis;

TEST(RedisUrl, HostPortDefaults) {
    auto e = rd::parse_url("redis://127.0.0.1:6380");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->host, "127.0.0.1");
    EXPECT_EQ(e->port, 6380);
    EXPECT_EQ(e->db, 0);
    EXPECT_TRUE(e->password.empty());
    e = rd::parse_url("redis://localhost");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->host, "127.0.0.1");
    EXPECT_EQ(e->port, 6379);
    e = rd::parse_url("redis://[::1]:7000/2");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->host, "::1");
    EXPECT_EQ(e->port, 7000);
    EXPECT_EQ(e->db, 2);
}

TEST(RedisUrl, PasswordUserAndDatabase) {
    auto e = rd::parse_url("redis://:s3cret@127.0.0.1:6379/3");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->user, "");
    EXPECT_EQ(e->password, "s3cret");
    EXPECT_EQ(e->db, 3);
    e = rd::parse_url("redis://chirp:p%40ss%3Aw@redis:6379/0");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->host, "redis");
    EXPECT_EQ(e->user, "chirp");
    EXPECT_EQ(e->password, "p@ss:w");
    e = rd::parse_url("redis://onlypassword@h");  // as redis-cli reads it
    ASSERT_TRUE(e);
    EXPECT_EQ(e->user, "");
    EXPECT_EQ(e->password, "onlypassword");
    e = rd::parse_url("redis://:a@b@h:1");  // the last @ ends the userinfo
    ASSERT_TRUE(e);
    EXPECT_EQ(e->password, "a@b");
    EXPECT_EQ(e->host, "h");
}

TEST(RedisUrl, Malformed) {
    std::string err;
    for (const char* bad :
         {"http://h", "redis://h:0", "redis://h:70000", "redis://h:x", "redis://h/x",
          "redis://h/-1", "redis://:%4@h", "redis://:%zz@h", "redis://[::1", "redis://h?db=1"}) {
        err.clear();
        EXPECT_FALSE(rd::parse_url(bad, &err)) << bad;
        EXPECT_FALSE(err.empty()) << bad;
    }
}

TEST(RedisUrl, GapHintCodec) {
    namespace fo = chirp::fanout;
    const auto p = fo::encode_gap_hint(42, 1234);
    EXPECT_EQ(p, "42 1234");
    auto h = fo::decode_gap_hint(p);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->first, 42u);
    EXPECT_EQ(h->second, 1234);
    EXPECT_TRUE(fo::decode_gap_hint("42 0"));
    for (const char* bad : {"", "42", "0 5", "42 -1", "42 x", "x 1", "42 1 2"})
        EXPECT_FALSE(fo::decode_gap_hint(bad)) << bad;
}
