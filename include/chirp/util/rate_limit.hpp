// Bounded rate-limit state, pure and clock-injected: a map that evicts its least recently
// touched key (so no client can grow it) and token buckets per key. Used by the REST limits
// (http/limits.hpp) and the WebSocket/SSE replay limit (ws/session_host.cpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

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
// rate 0 switches the limit off.
class token_buckets {
public:
    token_buckets(double rate, double burst, std::size_t max_entries = 100000)
        : rate_(rate), burst_(burst < 1 ? 1 : burst), buckets_(max_entries) {}

    // Takes a token: 0 when granted, else the whole seconds (>= 1) until one is there.
    int take(const std::string& key, double now_seconds) {
        if (rate_ <= 0) return 0;
        bucket& b = buckets_.get(key);
        b.tokens = b.tokens < 0
                       ? burst_
                       : std::min(burst_, b.tokens + std::max(0.0, now_seconds - b.at) * rate_);
        b.at = now_seconds;
        if (b.tokens >= 1) {
            b.tokens -= 1;
            return 0;
        }
        return std::max(1, static_cast<int>(std::ceil((1 - b.tokens) / rate_ - 1e-9)));
    }
    bool enabled() const noexcept { return rate_ > 0; }
    std::size_t entries() const noexcept { return buckets_.size(); }

private:
    struct bucket {
        double tokens = -1;  // -1: new, full
        double at = 0;
    };
    double rate_, burst_;
    lru_map<bucket> buckets_;
};

}  // namespace chirp::util
