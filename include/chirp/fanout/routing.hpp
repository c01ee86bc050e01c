// Routing by process and sharding over several Redis servers, as pure functions (no I/O), so
// that they are unit-tested (tests/unit/fanout_routing_test.cpp) and every process computes
// the same answers.
//
//  - shard_of(user, n): the Redis server (0..n-1) that carries a user's channels
//    (notifications:U, messages:U, author:U), the user's presence entries and the part of every
//    timeline event routed to the user. Jump consistent hash (Lamping & Veach, 2014) of a
//    mixed user id: stable across processes, builds and restarts; going from n to n+1 servers
//    moves about 1/(n+1) of the users, all of them to the new server, and no user between
//    two old ones (docs/architecture.md, "Several Redis servers").
//  - presence_map: where each online user has sessions (the node ids of the processes), kept
//    per shard so that one shard's snapshot replaces only that shard's users. A user on one
//    process (nearly every user) is one 24-byte map node, no vector: the map holds every
//    online user of the cluster, this process's own included.
//  - route_recipients: groups an event's recipients by (process, shard): one publish per
//    group, on that shard, to that process's channel chirp:node:<id>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace chirp::fanout {

// Cluster-wide broadcasts (chirp:follows, the timeline cache's chirp:tweets and its version
// key) live on this shard: the first URL of --redis-url.
inline constexpr std::size_t home_shard = 0;

std::size_t shard_of(long long user, std::size_t shards) noexcept;

class presence_map {
public:
    explicit presence_map(std::size_t shards = 1);
    std::size_t shards() const noexcept { return by_shard_.size(); }

    // false when it was already there (add) or was not (remove).
    bool add(long long user, std::uint64_t node);
    bool remove(long long user, std::uint64_t node);
    // Shard k's users become exactly `entries` (user, node), except that the entries of node
    // `keep` (this process: it knows its own sessions better than a snapshot) stay as they are.
    // In place: no second map of the shard's users while the snapshot is applied.
    void replace_shard(std::size_t k, std::vector<std::pair<long long, std::uint64_t>> entries,
                       std::uint64_t keep);
    // The processes the user has sessions on (empty: none known), valid until the next change.
    std::span<const std::uint64_t> nodes(long long user) const;
    std::size_t users() const noexcept;

private:
    struct shard_users {
        std::unordered_map<long long, std::uint64_t> one;                // on one process
        std::unordered_map<long long, std::vector<std::uint64_t>> more;  // on several
    };
    static bool add(shard_users& m, long long user, std::uint64_t node);

    std::vector<shard_users> by_shard_;
};

struct route {
    std::uint64_t node = 0;
    std::size_t shard = 0;
    std::vector<long long> recipients;
    bool operator==(const route&) const = default;
};

// Appends each user to the group (node, shard_of(user)) of every node the user is on (users
// nowhere are skipped; groups are created in order of first use and keep the users' order).
void route_recipients(std::span<const long long> users, const presence_map& where,
                      std::vector<route>& out);

}  // namespace chirp::fanout
