// Shards and routes (see routing.hpp).
#include "chirp/fanout/routing.hpp"

#include <algorithm>

namespace chirp::fanout {

std::size_t shard_of(long long user, std::size_t shards) noexcept {
    if (shards <= 1) return 0;
    // splitmix64's finalizer first: consecutive ids spread like random keys.
    auto key = static_cast<std::uint64_t>(user) + 0x9e3779b97f4a7c15ULL;
    key = (key ^ (key >> 30)) * 0xbf58476d1ce4e5b9ULL;
    key = (key ^ (key >> 27)) * 0x94d049bb133111ebULL;
    key ^= key >> 31;
    // Jump consistent hash.
    std::int64_t b = -1;
    std::int64_t j = 0;
    const auto n = static_cast<std::int64_t>(shards);
    while (j < n) {
        b = j;
        key = key * 2862933555777941757ULL + 1;
        j = static_cast<std::int64_t>(
            static_cast<double>(b + 1) *
            (static_cast<double>(std::int64_t{1} << 31) / static_cast<double>((key >> 33) + 1)));
    }
    return static_cast<std::size_t>(b);
}

presence_map::presence_map(std::size_t shards) : by_shard_(std::max<std::size_t>(shards, 1)) {}

bool presence_map::add(long long user, std::uint64_t node) {
    auto& nodes = by_shard_[shard_of(user, by_shard_.size())][user];
    if (std::find(nodes.begin(), nodes.end(), node) != nodes.end()) return false;
    nodes.push_back(node);
    return true;
}

bool presence_map::remove(long long user, std::uint64_t node) {
    auto& m = by_shard_[shard_of(user, by_shard_.size())];
    auto it = m.find(user);
    if (it == m.end()) return false;
    const auto n = std::erase(it->second, node);
    if (it->second.empty()) m.erase(it);
    return n != 0;
}

void presence_map::replace_shard(std::size_t k,
                                 const std::vector<std::pair<long long, std::uint64_t>>& entries,
                                 std::uint64_t keep) {
    if (k >= by_shard_.size()) return;
    auto& m = by_shard_[k];
    std::unordered_map<long long, std::vector<std::uint64_t>> next;
    next.reserve(entries.size());
    for (const auto& [user, nodes] : m)
        if (std::find(nodes.begin(), nodes.end(), keep) != nodes.end()) next[user].push_back(keep);
    for (const auto& [user, node] : entries) {
        if (node == keep || shard_of(user, by_shard_.size()) != k) continue;
        auto& nodes = next[user];
        if (std::find(nodes.begin(), nodes.end(), node) == nodes.end()) nodes.push_back(node);
    }
    m = std::move(next);
}

const std::vector<std::uint64_t>* presence_map::nodes(long long user) const {
    const auto& m = by_shard_[shard_of(user, by_shard_.size())];
    auto it = m.find(user);
    return it == m.end() ? nullptr : &it->second;
}

std::size_t presence_map::users() const noexcept {
    std::size_t n = 0;
    for (const auto& m : by_shard_) n += m.size();
    return n;
}

void route_recipients(std::span<const long long> users, const presence_map& where,
                      std::vector<route>& out) {
    for (const auto u : users) {
        const auto* nodes = where.nodes(u);
        if (nodes == nullptr) continue;
        const auto shard = shard_of(u, where.shards());
        for (const auto node : *nodes) {
            auto it = std::find_if(out.begin(), out.end(), [&](const route& r) {
                return r.node == node && r.shard == shard;
            });
            if (it == out.end()) {
                out.push_back(route{node, shard, {}});
                it = std::prev(out.end());
            }
            it->recipients.push_back(u);
        }
    }
}

}  // namespace chirp::fanout
