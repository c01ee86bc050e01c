// Benchmark setup: a population of users `<prefix><i>` (i = 0..count-1) sharing one password,
// a follow graph given as ranges, and one token per user. Setup only, never on a measured path.
//
// Users and follows come from one of:
//  - `--seed-cmd CMD`: runs `CMD --seed users=N,prefix=P,password=PW[,follow=A:F]`, i.e.
//    `chirpd seed --database-url URL` (each of the first A users is followed by F of the
//    others; users that exist are kept), so the command must be idempotent;
//  - otherwise the REST API: POST /api/auth/register (409 -> login) and
//    POST /api/users/{handle}/follow, with `--setup-concurrency` requests in flight.
// Tokens come from the register answer, a token cache file (`--token-cache`), HS256 minting with
// `--jwt-secret` or $CHIRP_JWT_SECRET (ids from GET /api/users/{handle}), or POST /api/auth/login.
#pragma once

#include <optional>

#include "client.hpp"
#include "options.hpp"

namespace chirp::bench {

struct follow_range {
    std::size_t authors_begin, authors_end;      // [begin, end)
    std::size_t followers_begin, followers_end;  // [begin, end)
};

struct population {
    std::string prefix, password;
    std::vector<std::string> ids, tokens;
    std::string handle(std::size_t i) const { return prefix + std::to_string(i); }
    std::size_t size() const { return tokens.size(); }
    // User index of a handle of this population, if it is one.
    std::optional<std::size_t> index_of(std::string_view handle) const;
};

struct setup_options {
    std::string prefix = "bu";
    std::string password = "bench-password-1";
    std::string seed_cmd, jwt_secret, token_cache;
    std::size_t concurrency = 32;
    bool dry = false;     // relay mode: no server API, tokens are placeholders
    bool seeded = false;  // --assume-seeded: users and follows exist already, only get tokens

    static setup_options from(const options& opts);
};

// Makes sure users [0, count) and the follow ranges exist; returns their tokens. Throws
// std::runtime_error when the server refuses.
asio::awaitable<population> setup_population(const target& t, const setup_options& so,
                                             std::size_t count,
                                             const std::vector<follow_range>& follows,
                                             json& report);

}  // namespace chirp::bench
