// HS256 JWT minting for benchmark setup only: with `--jwt-secret` (the secret bench.sh gave its
// own chirpd) chirp-bench signs tokens itself instead of logging 20,000 users in, which would
// cost 20,000 argon2id verifications. Claims follow docs/api.md: sub (user id), handle, iat, exp.
#pragma once

#include <string>

namespace chirp::bench {

std::string mint_jwt(const std::string& secret, const std::string& user_id,
                     const std::string& handle, long long ttl_seconds = 6 * 3600);

}  // namespace chirp::bench
