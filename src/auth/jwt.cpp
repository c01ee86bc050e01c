// HS256 JWTs on libsodium's HMAC-SHA256 (constant-time verification included).
#include "chirp/auth/jwt.hpp"

#include <sodium.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace chirp::auth {
namespace {

constexpr std::string_view header_json = R"({"alg":"HS256","typ":"JWT"})";

void ensure_sodium() {
    static const bool ok = sodium_init() >= 0;
    if (!ok) throw std::runtime_error("libsodium failed to initialise");
}

std::string mac(std::string_view secret, std::string_view data) {
    unsigned char out[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(secret.data()),
                                secret.size());
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(data.data()),
                                  data.size());
    crypto_auth_hmacsha256_final(&st, out);
    return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

}  // namespace

std::optional<std::int64_t> canonical_id(std::string_view s) noexcept {
    // 1 to 19 digits, no leading zero, no sign, no spaces, within int64.
    if (s.empty() || s.size() > 19 || s[0] == '0') return std::nullopt;
    std::int64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        const int d = c - '0';
        if (v > (INT64_MAX - d) / 10) return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}

const char* to_string(jwt_error e) noexcept {
    switch (e) {
        case jwt_error::malformed:
            return "malformed token";
        case jwt_error::bad_algorithm:
            return "token algorithm not accepted";
        case jwt_error::bad_signature:
            return "bad token signature";
        case jwt_error::expired:
            return "token expired";
        case jwt_error::bad_claims:
            return "bad token claims";
        case jwt_error::not_yet_valid:
            return "token not yet valid";
    }
    return "bad token";
}

std::int64_t unix_now() noexcept {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string base64url_encode(std::string_view bytes) {
    ensure_sodium();
    const auto variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    std::string out(sodium_base64_ENCODED_LEN(bytes.size(), variant), '\0');
    sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                      bytes.size(), variant);
    out.resize(out.size() - 1);  // drop the terminating NUL
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    ensure_sodium();
    std::string out(text.size(), '\0');
    std::size_t len = 0;
    const char* end = nullptr;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                          text.size(), nullptr, &len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != text.data() + text.size())
        return std::nullopt;
    out.resize(len);
    return out;
}

jwt_codec::jwt_codec(std::string secret, std::chrono::seconds ttl)
    : secret_(std::move(secret)), ttl_(ttl) {
    ensure_sodium();
}

std::string jwt_codec::sign(std::int64_t user_id, std::string_view handle,
                            std::int64_t now_seconds) const {
    return sign(user_id, handle, {}, now_seconds);
}

std::string jwt_codec::sign(std::int64_t user_id, std::string_view handle,
                            std::string_view display_name, std::int64_t now_seconds) const {
    nlohmann::json payload = {{"sub", std::to_string(user_id)},
                              {"handle", handle},
                              {"iat", now_seconds},
                              {"exp", now_seconds + ttl_.count()}};
    if (!display_name.empty()) payload["name"] = display_name;
    std::string signing_input =
        base64url_encode(header_json) + "." +
        base64url_encode(payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    const auto sig = base64url_encode(mac(secret_, signing_input));
    return signing_input + "." + sig;
}

std::string jwt_codec::sign(std::int64_t user_id, std::string_view handle) const {
    return sign(user_id, handle, unix_now());
}

std::optional<jwt_error> jwt_codec::verify(std::string_view token, std::int64_t now_seconds,
                                           claims& out) const {
    if (token.size() > 4096) return jwt_error::malformed;
    const auto d1 = token.find('.');
    if (d1 == std::string_view::npos) return jwt_error::malformed;
    const auto d2 = token.find('.', d1 + 1);
    if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
        return jwt_error::malformed;

    const auto header = base64url_decode(token.substr(0, d1));
    if (!header) return jwt_error::malformed;
    const auto h = nlohmann::json::parse(*header, nullptr, false);
    if (!h.is_object()) return jwt_error::malformed;
    const auto alg = h.find("alg");
    if (alg == h.end() || !alg->is_string() || alg->get<std::string>() != "HS256")
        return jwt_error::bad_algorithm;

    const auto sig = base64url_decode(token.substr(d2 + 1));
    if (!sig || sig->size() != crypto_auth_hmacsha256_BYTES) return jwt_error::bad_signature;
    const auto signing_input = token.substr(0, d2);
    const auto expected = mac(secret_, signing_input);
    if (sodium_memcmp(expected.data(), sig->data(), expected.size()) != 0)
        return jwt_error::bad_signature;

    const auto body = base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
    if (!body) return jwt_error::malformed;
    const auto p = nlohmann::json::parse(*body, nullptr, false);
    if (!p.is_object()) return jwt_error::malformed;
    const auto sub = p.find("sub");
    const auto exp = p.find("exp");
    const auto handle = p.find("handle");
    if (sub == p.end() || !sub->is_string() || exp == p.end() || !exp->is_number_integer() ||
        handle == p.end() || !handle->is_string())
        return jwt_error::bad_claims;
    const auto id = canonical_id(sub->get_ref<const std::string&>());
    if (!id) return jwt_error::bad_claims;
    out.user_id = *id;
    out.handle = handle->get<std::string>();
    if (auto name = p.find("name"); name != p.end() && name->is_string())
        out.display_name = name->get<std::string>();
    out.expires_at = exp->get<std::int64_t>();
    // iat (always issued) and nbf (optional) must be integers and not in the future.
    const auto iat = p.find("iat");
    if (iat == p.end() || !iat->is_number_integer()) return jwt_error::bad_claims;
    out.issued_at = iat->get<std::int64_t>();
    if (out.issued_at > now_seconds + clock_leeway_seconds) return jwt_error::not_yet_valid;
    if (auto nbf = p.find("nbf"); nbf != p.end()) {
        if (!nbf->is_number_integer()) return jwt_error::bad_claims;
        if (nbf->get<std::int64_t>() > now_seconds + clock_leeway_seconds)
            return jwt_error::not_yet_valid;
    }
    if (out.expires_at <= now_seconds) return jwt_error::expired;
    return std::nullopt;
}

std::string jwt_codec::keyed_digest(std::string_view purpose, std::string_view data) const {
    const auto key = mac(secret_, std::string("chirp key: ") + std::string(purpose));
    const auto d = mac(key, data);
    char hex[crypto_auth_hmacsha256_BYTES * 2 + 1];
    sodium_bin2hex(hex, sizeof hex, reinterpret_cast<const unsigned char*>(d.data()), d.size());
    return hex;
}

std::optional<jwt_error> jwt_codec::verify(std::string_view token, claims& out) const {
    return verify(token, unix_now(), out);
}

}  // namespace chirp::auth
