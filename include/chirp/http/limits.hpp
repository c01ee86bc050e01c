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
//
// The windows live in a limits_region (util/limit_tables.hpp): a private one of max_entries
// keys per table (made at first use), or the region the workers of one chirpd share, so that
// "5 failures" means 5 for the server, whichever worker each attempt reached.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "chirp/util/rate_limit.hpp"

namespace chirp::http {

using util::lru_map;

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
    explicit login_limiter(std::size_t max_entries) : max_entries_(max_entries) {}
    explicit login_limiter(std::shared_ptr<util::limits_region> shared)
        : region_(std::move(shared)) {}

    // Seconds to wait when over a limit, else 0.
    int retry_after(std::string_view handle, const std::string& address, std::int64_t now);
    void failed(std::string_view handle, const std::string& address, std::int64_t now);
    void succeeded(std::string_view handle, const std::string& address);

    std::size_t entries() const;

private:
    util::limits_region& region();

    std::size_t max_entries_ = 100000;
    std::shared_ptr<util::limits_region> region_;
};

using util::token_buckets;

}  // namespace chirp::http
