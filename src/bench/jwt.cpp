// HS256 JWT minting with libsodium's HMAC-SHA-256: see jwt.hpp.
#include "jwt.hpp"

#include <sodium.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <vector>

namespace chirp::bench {

namespace {

std::string b64url(const unsigned char* data, std::size_t len) {
    const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    std::vector<char> out(sodium_base64_encoded_len(len, variant));
    sodium_bin2base64(out.data(), out.size(), data, len, variant);
    return std::string(out.data());
}

std::string b64url(const std::string& s) {
    return b64url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

}  // namespace

std::string mint_jwt(const std::string& secret, const std::string& user_id,
                     const std::string& handle, long long ttl_seconds) {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const nlohmann::json header = {{"alg", "HS256"}, {"typ", "JWT"}};
    const nlohmann::json claims = {
        {"sub", user_id}, {"handle", handle}, {"iat", now}, {"exp", now + ttl_seconds}};
    const std::string signing_input = b64url(header.dump()) + "." + b64url(claims.dump());
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                                secret.size());
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(signing_input.data()),
                                  signing_input.size());
    crypto_auth_hmacsha256_final(&st, mac);
    return signing_input + "." + b64url(mac, sizeof mac);
}

}  // namespace chirp::bench
