// Bounded rate-limit state, pure and clock-injected: a map that evicts its least recently
// touched key (so no client can grow it) and token buckets per key (stored in a limits_region,
// limit_tables.hpp). Used by the REST limits (http/limits.hpp) and the WebSocket/SSE replay
// limit (ws/session_host.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "chirp/util/limit_tables.hpp"

namespace chirp::util {

// A map of at most `cap` keys; inserting beyond evicts the least recently touched key.
template <class V>
class lru_map {
public:
    explicit lru_map(std::size_t cap) : cap_(cap == 0 ? 1 : cap) {}

    // The value of key (touched), or nullptr.
    V* find(const std::string& key) {
        auto it = map_.find(key);
        if (it == map_.end()) return nullptr;
        order_.splice(order_.begin(), order_, it->second.second);
        return &it->second.first;
    }
    // The value of key, inserted (value-initialized) when absent; touched.
    V& get(const std::string& key) {
        if (V* v = find(key)) return *v;
        if (map_.size() >= cap_) {
            map_.erase(order_.back());
            order_.pop_back();
        }
        order_.push_front(key);
        return map_.emplace(key, std::make_pair(V{}, order_.begin())).first->second.first;
    }
    void erase(const std::string& key) {
        auto it = map_.find(key);
        if (it == map_.end()) return;
        order_.erase(it->second.second);
        map_.erase(it);
    }
    std::size_t size() const noexcept { return map_.size(); }
    std::size_t capacity() const noexcept { return cap_; }

private:
    std::size_t cap_;
    std::list<std::string> order_;  // most recent first
    std::unordered_map<std::string, std::pair<V, std::list<std::string>::iterator>> map_;
};

// Token buckets per key: `rate` tokens a second, at most `burst`; a request takes one.
// rate 0 switches the limit off. The buckets live in a limits_region table (limit_tables.hpp):
// their own private one (max_entries keys, made at the first take), or a table of a region
// shared by the workers of one chirpd, so that the limit holds for the whole server. The
// clock is the caller's (a steady clock is the same in every process of a machine).
class token_buckets {
public:
    token_buckets(double rate, double burst, std::size_t max_entries = 100000)
        : rate_(rate), burst_(burst < 1 ? 1 : burst), max_entries_(max_entries) {}
    token_buckets(double rate, double burst, std::shared_ptr<limits_region> region,
                  limit_table table)
        : rate_(rate), burst_(burst < 1 ? 1 : burst), region_(std::move(region)), table_(table) {}

    // Takes a token: 0 when granted, else the whole seconds (>= 1) until one is there.
    int take(std::string_view key, double now_seconds) {
        if (rate_ <= 0) return 0;
        if (!region_)
            region_ =
                limits_region::create_private({static_cast<std::uint32_t>(max_entries_), 1, 1});
        int wait = 0;
        region_->update<bucket>(table_, key, true, [&](bucket& b, bool fresh) {
            wait = take_from(b, fresh, now_seconds);
            return true;
        });
        return wait;
    }
    bool enabled() const noexcept { return rate_ > 0; }
    std::size_t entries() const { return region_ ? region_->entries(table_) : 0; }

private:
    struct bucket {
        double tokens;
        double at;
    };
    // The pure rule: refill since b.at (a fresh bucket is full), then take one if there is one.
    int take_from(bucket& b, bool fresh, double now) const {
        b.tokens = fresh ? burst_ : std::min(burst_, b.tokens + std::max(0.0, now - b.at) * rate_);
        b.at = now;
        if (b.tokens >= 1) {
            b.tokens -= 1;
            return 0;
        }
        return std::max(1, static_cast<int>(std::ceil((1 - b.tokens) / rate_ - 1e-9)));
    }

    double rate_, burst_;
    std::size_t max_entries_ = 100000;
    std::shared_ptr<limits_region> region_;
    limit_table table_ = limit_table::registrations;
};

}  // namespace chirp::util
