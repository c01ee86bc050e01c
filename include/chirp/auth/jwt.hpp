// JSON Web Tokens, HS256 only (the algorithm is pinned: "none" and every other alg are
// rejected). HMAC-SHA256 and base64url come from libsodium; nothing here is hand-rolled crypto.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace chirp::auth {

struct claims {
    std::int64_t user_id = 0;
    std::string handle;
    std::string display_name;     // "name" claim; empty in tokens that carry none
    std::int64_t issued_at = 0;   // seconds since the epoch
    std::int64_t expires_at = 0;  // seconds since the epoch
};

enum class jwt_error {
    malformed,
    bad_algorithm,
    bad_signature,
    expired,
    bad_claims,
    not_yet_valid
};
const char* to_string(jwt_error e) noexcept;

// Clock skew tolerated for iat and nbf in the future (seconds).
inline constexpr std::int64_t clock_leeway_seconds = 60;

// A user id as the "sub" claim carries it: canonical decimal (1 to 19 digits, no leading zero,
// sign, space or trailing character), within int64; else nullopt.
std::optional<std::int64_t> canonical_id(std::string_view s) noexcept;

class jwt_codec {
public:
    // secret: any bytes; at least 16 recommended (config enforces outside dev mode).
    explicit jwt_codec(std::string secret, std::chrono::seconds ttl = std::chrono::hours(24));

    std::string sign(std::int64_t user_id, std::string_view handle, std::int64_t now_seconds) const;
    std::string sign(std::int64_t user_id, std::string_view handle) const;
    // With the display name as the "name" claim (real-time frames show it without a query).
    std::string sign(std::int64_t user_id, std::string_view handle, std::string_view display_name,
                     std::int64_t now_seconds) const;

    // Verifies signature, algorithm, claims (sub canonical, iat and nbf not in the future
    // beyond the leeway) and expiry; fills out on success.
    std::optional<jwt_error> verify(std::string_view token, std::int64_t now_seconds,
                                    claims& out) const;
    std::optional<jwt_error> verify(std::string_view token, claims& out) const;

    std::chrono::seconds ttl() const noexcept { return ttl_; }

    // HMAC-SHA256 (hex) of data under a key derived from the secret and a purpose label, so
    // that a digest stored elsewhere (idempotency records) reveals nothing without the secret
    // and can never be mistaken for a token signature.
    std::string keyed_digest(std::string_view purpose, std::string_view data) const;

private:
    std::string secret_;
    std::chrono::seconds ttl_;
};

std::int64_t unix_now() noexcept;

// base64url without padding (RFC 7515), via libsodium.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace chirp::auth
