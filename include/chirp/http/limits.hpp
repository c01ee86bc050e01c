// Abuse limits of the REST API, pure and clock-injected (unit-tested without sockets): the
// failed-login throttle, per-key token buckets (registrations per address, writes per user),
// and a bounded map that evicts its least recently used key, so that no client can grow them.
//
// Failed-login policy (docs/api.md "Limits"), each a window of 60 s from the first failure:
//   per (handle, address)  5 failures  - one guesser against one account;
//   per address           20 failures  - one guesser against many accounts;
//   per handle            50 failures  - many addresses against one account.
// One address alone can therefore never lock the owner (logging in from elsewhere) out: it
// reaches its own limits (5 for the pair, 20 in all) long before the handle's 50. The handle
// is the normalized one (ASCII lower case, as registration compares handles), so case variants
// count together. A success clears the pair's and the handle's counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace chirp::http {

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

// ASCII lower case: the form in which handles are unique (users are looked up by lower(handle)).
std::string normalize_handle(std::string_view handle);

// Failed-login throttle. Handles are normalized by the caller's contract (normalize_handle is
// applied here too) and must already be valid (at most 15 bytes): invalid ones never reach it.
class login_limiter {
public:
    static constexpr int per_pair = 5;
    static constexpr int per_address = 20;
    static constexpr int per_handle = 50;
    static constexpr std::int64_t window_seconds = 60;

    login_limiter() : login_limiter(100000) {}
    explicit login_limiter(std::size_t max_entries)
        : pairs_(max_entries), addresses_(max_entries), handles_(max_entries) {}

    // Seconds to wait when over a limit, else 0.
    int retry_after(std::string_view handle, const std::string& address, std::int64_t now);
    void failed(std::string_view handle, const std::string& address, std::int64_t now);
    void succeeded(std::string_view handle, const std::string& address);

    std::size_t entries() const noexcept {
        return pairs_.size() + addresses_.size() + handles_.size();
    }

private:
    struct window {
        std::int64_t start = 0;
        int failures = 0;
    };
    lru_map<window> pairs_, addresses_, handles_;
};

// Token buckets per key: `rate` tokens a second, at most `burst`; a request takes one.
// rate 0 switches the limit off.
class token_buckets {
public:
    token_buckets(double rate, double burst, std::size_t max_entries = 100000)
        : rate_(rate), burst_(burst < 1 ? 1 : burst), buckets_(max_entries) {}

    // Takes a token: 0 when granted, else the whole seconds (>= 1) until one is there.
    int take(const std::string& key, double now_seconds);
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

}  // namespace chirp::http
