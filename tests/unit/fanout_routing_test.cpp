// Unit tests of the shard and routing functions (fanout/routing.hpp) and of the Redis URL
// list (redis/url.hpp): stable shards, the remapping when a server is added, presence
// bookkeeping, and the grouping of an event's recipients by (process, shard).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "chirp/fanout/codec.hpp"
#include "chirp/fanout/routing.hpp"
#include "chirp/redis/url.hpp"

namespace {

namespace fo = chirp::fanout;

std::vector<std::uint64_t> nodes_of(const fo::presence_map& w, long long user) {
    const auto n = w.nodes(user);
    return {n.begin(), n.end()};
}

TEST(FanoutShards, OneServerIsShardZero) {
    for (long long u : {0LL, 1LL, 42LL, 9'000'000'000LL, -5LL}) {
        EXPECT_EQ(fo::shard_of(u, 0), 0u);
        EXPECT_EQ(fo::shard_of(u, 1), 0u);
    }
}

TEST(FanoutShards, StableAcrossCallsAndBuilds) {
    // Golden values: every process (any build, any machine) must agree on them, or events
    // would be routed to channels nobody listens to. Changing the function remaps users.
    std::string got;
    for (long long u = 1; u <= 16; ++u) got += std::to_string(fo::shard_of(u, 3));
    EXPECT_EQ(got, "0012201022012112");
    got.clear();
    for (long long u = 1; u <= 16; ++u) got += std::to_string(fo::shard_of(u, 2));
    EXPECT_EQ(got, "0010001010011111");
}

TEST(FanoutShards, SpreadsUsersEvenly) {
    for (std::size_t n : {2u, 3u, 5u, 8u}) {
        std::vector<int> count(n);
        const int users = 30000;
        for (long long u = 1; u <= users; ++u) {
            const auto k = fo::shard_of(u, n);
            ASSERT_LT(k, n);
            ++count[k];
        }
        for (std::size_t k = 0; k < n; ++k) {
            EXPECT_GT(count[k], users / static_cast<int>(n) * 9 / 10) << n << " shards, " << k;
            EXPECT_LT(count[k], users / static_cast<int>(n) * 11 / 10) << n << " shards, " << k;
        }
    }
}

TEST(FanoutShards, AddingAServerMovesUsersOnlyToIt) {
    // Jump consistent hash: from n to n+1 servers about 1/(n+1) of the users move, all of
    // them to the new server (docs/architecture.md, "Several Redis servers").
    for (std::size_t n : {1u, 2u, 3u, 4u}) {
        int moved = 0;
        const int users = 20000;
        for (long long u = 1; u <= users; ++u) {
            const auto before = fo::shard_of(u, n);
            const auto after = fo::shard_of(u, n + 1);
            if (before == after) continue;
            ++moved;
            EXPECT_EQ(after, n) << "user " << u << " moved between two old servers";
        }
        const double share = static_cast<double>(moved) / users;
        EXPECT_NEAR(share, 1.0 / static_cast<double>(n + 1), 0.03) << n;
    }
}

TEST(FanoutPresence, AddRemoveAndNodes) {
    fo::presence_map w(3);
    EXPECT_TRUE(w.nodes(7).empty());
    EXPECT_TRUE(w.add(7, 100));
    EXPECT_FALSE(w.add(7, 100));
    EXPECT_TRUE(w.add(7, 200));
    ASSERT_FALSE(w.nodes(7).empty());
    EXPECT_EQ(nodes_of(w, 7), (std::vector<std::uint64_t>{100, 200}));
    EXPECT_EQ(w.users(), 1u);
    EXPECT_TRUE(w.remove(7, 100));
    EXPECT_FALSE(w.remove(7, 100));
    EXPECT_EQ(nodes_of(w, 7), (std::vector<std::uint64_t>{200}));
    EXPECT_TRUE(w.remove(7, 200));
    EXPECT_TRUE(w.nodes(7).empty());
    EXPECT_EQ(w.users(), 0u);
    // From several processes back to one and to none, in any order.
    EXPECT_TRUE(w.add(7, 300));
    EXPECT_TRUE(w.add(7, 100));
    EXPECT_TRUE(w.add(7, 200));
    EXPECT_TRUE(w.remove(7, 100));
    EXPECT_EQ(nodes_of(w, 7), (std::vector<std::uint64_t>{300, 200}));
    EXPECT_TRUE(w.remove(7, 300));
    EXPECT_FALSE(w.add(7, 200));
    EXPECT_EQ(nodes_of(w, 7), (std::vector<std::uint64_t>{200}));
    EXPECT_FALSE(w.remove(7, 300));
    EXPECT_EQ(w.users(), 1u);
}

TEST(FanoutPresence, SnapshotReplacesOneShardAndKeepsOwnEntries) {
    const std::size_t shards = 3;
    fo::presence_map w(shards);
    const std::uint64_t self = 1, other = 2, dead = 3;
    // Users on every shard: some here, some on a process that died.
    std::map<std::size_t, std::vector<long long>> by_shard;
    for (long long u = 1; u <= 60; ++u) by_shard[fo::shard_of(u, shards)].push_back(u);
    for (const auto& [k, users] : by_shard)
        for (auto u : users) {
            w.add(u, self);
            w.add(u, dead);
        }
    // A snapshot of shard 1: the dead process's entries expired, another process joined.
    std::vector<std::pair<long long, std::uint64_t>> snap;
    for (auto u : by_shard[1]) snap.emplace_back(u, other);
    snap.emplace_back(by_shard[2].front(), other);  // not shard 1's: ignored
    w.replace_shard(1, snap, self);
    for (auto u : by_shard[1]) EXPECT_EQ(nodes_of(w, u), (std::vector<std::uint64_t>{self, other}));
    for (auto k : {0u, 2u})
        for (auto u : by_shard[k])
            EXPECT_EQ(nodes_of(w, u), (std::vector<std::uint64_t>{self, dead}));
}

TEST(FanoutPresence, SnapshotDropsWhatItLacksAndIgnoresOwnEntries) {
    fo::presence_map w(1);
    const std::uint64_t self = 1, other = 2, dead = 3;
    w.add(1, dead);
    w.add(2, other);
    w.add(3, self);
    w.add(4, other);
    w.add(4, dead);
    const std::vector<std::pair<long long, std::uint64_t>> snap = {
        {5, other}, {4, other}, {2, other}, {3, self}, {6, self}, {5, other}};
    w.replace_shard(0, snap, self);
    EXPECT_TRUE(w.nodes(1).empty());
    EXPECT_EQ(nodes_of(w, 2), (std::vector<std::uint64_t>{other}));
    EXPECT_EQ(nodes_of(w, 3), (std::vector<std::uint64_t>{self}));
    EXPECT_EQ(nodes_of(w, 4), (std::vector<std::uint64_t>{other}));
    EXPECT_EQ(nodes_of(w, 5), (std::vector<std::uint64_t>{other}));
    EXPECT_TRUE(w.nodes(6).empty());  // this process's own entries come from its sessions
    EXPECT_EQ(w.users(), 4u);
}

TEST(FanoutRouting, GroupsRecipientsByProcessAndShard) {
    const std::size_t shards = 2;
    fo::presence_map w(shards);
    // 1..20: users 1-9 on node A, 10-19 on node B, 20 on both, 21.. offline.
    for (long long u = 1; u <= 9; ++u) w.add(u, 0xA);
    for (long long u = 10; u <= 19; ++u) w.add(u, 0xB);
    w.add(20, 0xA);
    w.add(20, 0xB);
    std::vector<long long> users;
    for (long long u = 1; u <= 30; ++u) users.push_back(u);
    std::vector<fo::route> routes;
    fo::route_recipients(users, w, routes);

    std::map<std::pair<std::uint64_t, std::size_t>, std::vector<long long>> expected;
    for (long long u = 1; u <= 20; ++u) {
        const auto k = fo::shard_of(u, shards);
        if (u <= 9 || u == 20) expected[{0xA, k}].push_back(u);
        if (u >= 10) expected[{0xB, k}].push_back(u);
    }
    ASSERT_EQ(routes.size(), expected.size());
    std::set<std::pair<std::uint64_t, std::size_t>> seen;
    for (const auto& r : routes) {
        EXPECT_TRUE(seen.insert({r.node, r.shard}).second) << "one publish per group";
        EXPECT_EQ(r.recipients, (expected[{r.node, r.shard}])) << r.node << "/" << r.shard;
    }
    // Every online recipient is in exactly one group per process it is on; offline ones in none.
    std::map<long long, int> times;
    for (const auto& r : routes)
        for (auto u : r.recipients) ++times[u];
    for (long long u = 1; u <= 30; ++u) EXPECT_EQ(times[u], u <= 19 ? 1 : u == 20 ? 2 : 0) << u;
}

TEST(FanoutRouting, NobodyOnlineNoRoute) {
    fo::presence_map w(3);
    std::vector<fo::route> routes;
    const std::vector<long long> users = {1, 2, 3};
    fo::route_recipients(users, w, routes);
    EXPECT_TRUE(routes.empty());
}

TEST(FanoutCodec, PresenceWithNodeAndEntries) {
    EXPECT_EQ(fo::encode_presence_message({true, 12, 77}), "+12 77");
    EXPECT_EQ(fo::encode_presence_message({false, 12, 77}), "-12 77");
    auto d = fo::decode_presence_message("+12 77");
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, (fo::presence_message{true, 12, 77}));
    for (std::string_view bad : {"+12 0", "+12 x", "+12  7", "+ 7", "+12 7 "})
        EXPECT_FALSE(fo::decode_presence_message(bad)) << bad;
    EXPECT_EQ(fo::encode_presence_entry(12, 77), "12@77");
    EXPECT_EQ(fo::decode_presence_entry("12@77"), (std::pair<long long, std::uint64_t>{12, 77}));
    for (std::string_view bad : {"", "12", "12@", "@77", "12@0", "x@7", "12@7@7", "-1@7"})
        EXPECT_FALSE(fo::decode_presence_entry(bad)) << bad;
    EXPECT_EQ(fo::encode_node_channel(77), "chirp:node:77");
}

TEST(RedisUrlList, SplitsAndValidates) {
    using chirp::redis::split_url_list;
    EXPECT_EQ(split_url_list("redis://a:1"), (std::vector<std::string>{"redis://a:1"}));
    EXPECT_EQ(split_url_list("redis://a:1,redis://:pw@b:2/3,redis://a:3"),
              (std::vector<std::string>{"redis://a:1", "redis://:pw@b:2/3", "redis://a:3"}));
    std::string err;
    EXPECT_TRUE(split_url_list("redis://a:1,", &err).empty());
    EXPECT_NE(err.find("empty"), std::string::npos) << err;
    EXPECT_TRUE(split_url_list("redis://a:1,http://b", &err).empty());
    EXPECT_NE(err.find("http://b"), std::string::npos) << err;
    // The same server twice (another database does not make it another server for pub/sub).
    EXPECT_TRUE(split_url_list("redis://a:1/0,redis://a:1/2", &err).empty());
    EXPECT_NE(err.find("twice"), std::string::npos) << err;
    EXPECT_TRUE(split_url_list("", &err).empty());
}

}  // namespace
