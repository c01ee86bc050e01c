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

bool presence_map::add(shard_users& m, long long user, std::uint64_t node) {
    if (auto it = m.more.find(user); it != m.more.end()) {
        if (std::find(it->second.begin(), it->second.end(), node) != it->second.end()) return false;
        it->second.push_back(node);
        return true;
    }
    auto [it, added] = m.one.try_emplace(user, node);
    if (added) return true;
    if (it->second == node) return false;
    m.more.emplace(user, std::vector<std::uint64_t>{it->second, node});
    m.one.erase(it);
    return true;
}

bool presence_map::add(long long user, std::uint64_t node) {
    return add(by_shard_[shard_of(user, by_shard_.size())], user, node);
}

bool presence_map::remove(long long user, std::uint64_t node) {
    auto& m = by_shard_[shard_of(user, by_shard_.size())];
    if (auto it = m.one.find(user); it != m.one.end()) {
        if (it->second != node) return false;
        m.one.erase(it);
        return true;
    }
    auto it = m.more.find(user);
    if (it == m.more.end() || std::erase(it->second, node) == 0) return false;
    if (it->second.size() == 1) {
        m.one.emplace(user, it->second.front());
        m.more.erase(it);
    }
    return true;
}

void presence_map::replace_shard(std::size_t k,
                                 std::vector<std::pair<long long, std::uint64_t>> entries,
                                 std::uint64_t keep) {
    if (k >= by_shard_.size()) return;
    auto& m = by_shard_[k];
    std::erase_if(entries, [&](const auto& e) {
        return e.second == keep || shard_of(e.first, by_shard_.size()) != k;
    });
    std::sort(entries.begin(), entries.end());
    const auto stays = [&](long long user, std::uint64_t node) {
        return node == keep || std::binary_search(entries.begin(), entries.end(),
                                                  std::pair<long long, std::uint64_t>{user, node});
    };
    std::erase_if(m.one, [&](const auto& e) { return !stays(e.first, e.second); });
    for (auto it = m.more.begin(); it != m.more.end();) {
        const auto user = it->first;
        std::erase_if(it->second, [&](std::uint64_t node) { return !stays(user, node); });
        if (it->second.size() >= 2) {
            ++it;
            continue;
        }
        if (it->second.size() == 1) m.one.emplace(user, it->second.front());
        it = m.more.erase(it);
    }
    for (const auto& [user, node] : entries) add(m, user, node);
}

std::span<const std::uint64_t> presence_map::nodes(long long user) const {
    const auto& m = by_shard_[shard_of(user, by_shard_.size())];
    if (auto it = m.one.find(user); it != m.one.end()) return {&it->second, 1};
    if (auto it = m.more.find(user); it != m.more.end()) return it->second;
    return {};
}

std::size_t presence_map::users() const noexcept {
    std::size_t n = 0;
    for (const auto& m : by_shard_) n += m.one.size() + m.more.size();
    return n;
}

void route_recipients(std::span<const long long> users, const presence_map& where,
                      std::vector<route>& out) {
    for (const auto u : users) {
        const auto nodes = where.nodes(u);
        if (nodes.empty()) continue;
        const auto shard = shard_of(u, where.shards());
        for (const auto node : nodes) {
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
