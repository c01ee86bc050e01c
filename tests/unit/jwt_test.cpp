// Unit tests of auth/jwt: HS256 round trip, expiry, tampering, wrong secrets, algorithm
// pinning (none, HS512), malformed tokens, and base64url.
#include "chirp/auth/jwt.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <nlohmann/json.hpp>
#include <string>

namespace {

using chirp::auth::base64url_decode;
using chirp::auth::base64url_encode;
using chirp::auth::claims;
using chirp::auth::jwt_codec;
using chirp::auth::jwt_error;
using json = nlohmann::json;

constexpr std::int64_t now = 1'900'000'000;  // a fixed clock
const std::string secret = "unit-test-secret-0123456789abcdef";

struct parts {
    std::string header, payload, signature;
};

parts split(const std::string& token) {
    const auto a = token.find('.');
    const auto b = token.find('.', a + 1);
    return {token.substr(0, a), token.substr(a + 1, b - a - 1), token.substr(b + 1)};
}

std::string join(const parts& p) {
    return p.header + "." + p.payload + "." + p.signature;
}

std::string b64(const json& j) {
    return base64url_encode(j.dump());
}

// Signs header.payload with HMAC-SHA256 by hand, to build tokens sign() never issues.
std::string forge(const std::string& header, const std::string& payload,
                  const std::string& key = secret) {
    const std::string input = header + "." + payload;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()),
                                key.size());
    crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(input.data()),
                                  input.size());
    crypto_auth_hmacsha256_final(&st, mac);
    return input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), sizeof mac));
}

std::optional<jwt_error> verify(const jwt_codec& codec, const std::string& token,
                                std::int64_t at = now) {
    claims c;
    return codec.verify(token, at, c);
}

TEST(Jwt, RoundTripKeepsTheClaims) {
    jwt_codec codec(secret, std::chrono::seconds(3600));
    const auto token = codec.sign(42, "alice", now);
    claims c;
    ASSERT_EQ(codec.verify(token, now, c), std::nullopt);
    EXPECT_EQ(c.user_id, 42);
    EXPECT_EQ(c.handle, "alice");
    EXPECT_EQ(c.issued_at, now);
    EXPECT_EQ(c.expires_at, now + 3600);
    EXPECT_EQ(codec.ttl(), std::chrono::seconds(3600));
}

TEST(Jwt, HasThreeBase64UrlPartsAndAnHs256Header) {
    jwt_codec codec(secret);
    const auto token = codec.sign(7, "bob", now);
    EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2);
    EXPECT_EQ(token.find_first_of("+/= "), std::string::npos) << token;
    const auto p = split(token);
    const auto header = json::parse(*base64url_decode(p.header));
    EXPECT_EQ(header.at("alg"), "HS256");
    EXPECT_EQ(header.at("typ"), "JWT");
    const auto payload = json::parse(*base64url_decode(p.payload));
    EXPECT_EQ(payload.at("sub"), "7");  // a string: 64-bit ids are strings
    EXPECT_EQ(payload.at("handle"), "bob");
    EXPECT_EQ(payload.at("iat"), now);
    EXPECT_EQ(payload.at("exp"), now + 24 * 3600);
    EXPECT_EQ(base64url_decode(p.signature)->size(), 32u);
}

TEST(Jwt, ExpiresAtTheExpiryTime) {
    jwt_codec codec(secret, std::chrono::seconds(60));
    const auto token = codec.sign(1, "alice", now);
    EXPECT_EQ(verify(codec, token, now + 59), std::nullopt);
    EXPECT_EQ(verify(codec, token, now + 60), jwt_error::expired);
    EXPECT_EQ(verify(codec, token, now + 1'000'000), jwt_error::expired);
}

TEST(Jwt, TamperedPayloadIsRejected) {
    jwt_codec codec(secret);
    auto p = split(codec.sign(1, "alice", now));
    auto payload = json::parse(*base64url_decode(p.payload));
    payload["sub"] = "2";  // become somebody else
    p.payload = b64(payload);
    EXPECT_EQ(verify(codec, join(p)), jwt_error::bad_signature);

    auto q = split(codec.sign(1, "alice", now));
    auto longer = json::parse(*base64url_decode(q.payload));
    longer["exp"] = now + 10 * 365 * 86400;  // extend the lifetime
    q.payload = b64(longer);
    EXPECT_EQ(verify(codec, join(q)), jwt_error::bad_signature);
}

TEST(Jwt, TamperedSignatureIsRejected) {
    jwt_codec codec(secret);
    auto p = split(codec.sign(1, "alice", now));
    p.signature[3] = p.signature[3] == 'A' ? 'B' : 'A';
    EXPECT_EQ(verify(codec, join(p)), jwt_error::bad_signature);
    p.signature = "";
    EXPECT_EQ(verify(codec, join(p)), jwt_error::bad_signature);
    p.signature = base64url_encode(std::string(31, 'x'));  // wrong length
    EXPECT_EQ(verify(codec, join(p)), jwt_error::bad_signature);
}

TEST(Jwt, WrongSecretIsRejected) {
    jwt_codec mine(secret);
    jwt_codec theirs("another-secret-0123456789abcdef");
    EXPECT_EQ(verify(mine, theirs.sign(1, "alice", now)), jwt_error::bad_signature);
    EXPECT_EQ(verify(theirs, mine.sign(1, "alice", now)), jwt_error::bad_signature);
}

TEST(Jwt, AlgNoneIsRejected) {
    jwt_codec codec(secret);
    const auto p = split(codec.sign(1, "alice", now));
    for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
        const auto header = b64(json{{"alg", alg}, {"typ", "JWT"}});
        EXPECT_EQ(verify(codec, header + "." + p.payload + "."), jwt_error::bad_algorithm) << alg;
        // Even with the original (valid) signature attached.
        EXPECT_EQ(verify(codec, header + "." + p.payload + "." + p.signature),
                  jwt_error::bad_algorithm)
            << alg;
    }
}

TEST(Jwt, OtherAlgorithmsAreRejected) {
    jwt_codec codec(secret);
    const auto p = split(codec.sign(1, "alice", now));
    for (const json& alg : {json("HS512"), json("HS384"), json("RS256"), json("hs256"), json(""),
                            json(256), json(nullptr), json::array({"HS256"})}) {
        const auto header = b64(json{{"alg", alg}, {"typ", "JWT"}});
        EXPECT_EQ(verify(codec, header + "." + p.payload + "." + p.signature),
                  jwt_error::bad_algorithm)
            << alg.dump();
    }
    // No alg at all.
    EXPECT_EQ(verify(codec, b64(json{{"typ", "JWT"}}) + "." + p.payload + "." + p.signature),
              jwt_error::bad_algorithm);
}

TEST(Jwt, Hs512SignedWithTheSameSecretIsStillRejected) {
    // An attacker cannot pick the algorithm: a header saying HS512 fails before the MAC check.
    jwt_codec codec(secret);
    const auto header = b64(json{{"alg", "HS512"}, {"typ", "JWT"}});
    const auto payload = b64(json{{"sub", "1"}, {"handle", "alice"}, {"exp", now + 60}});
    EXPECT_EQ(verify(codec, header + "." + payload + "." + base64url_encode(std::string(64, 'x'))),
              jwt_error::bad_algorithm);
}

TEST(Jwt, MalformedTokensAreRejected) {
    jwt_codec codec(secret);
    const auto good = codec.sign(1, "alice", now);
    const auto p = split(good);
    EXPECT_EQ(verify(codec, ""), jwt_error::malformed);
    EXPECT_EQ(verify(codec, "abc"), jwt_error::malformed);
    EXPECT_EQ(verify(codec, "a.b"), jwt_error::malformed);                       // 1 dot
    EXPECT_EQ(verify(codec, p.header + "." + p.payload), jwt_error::malformed);  // 1 dot
    EXPECT_EQ(verify(codec, good + ".x"), jwt_error::malformed);                 // 3 dots
    EXPECT_EQ(verify(codec, good + "."), jwt_error::malformed);                  // 3 dots
    EXPECT_EQ(verify(codec, "..."), jwt_error::malformed);
    EXPECT_EQ(verify(codec, ".."), jwt_error::malformed);
    EXPECT_EQ(verify(codec, "!!!." + p.payload + "." + p.signature), jwt_error::malformed);
    EXPECT_EQ(verify(codec, base64url_encode("not json") + "." + p.payload + "." + p.signature),
              jwt_error::malformed);
    EXPECT_EQ(verify(codec, base64url_encode("[1,2]") + "." + p.payload + "." + p.signature),
              jwt_error::malformed);
    EXPECT_EQ(verify(codec, std::string(5000, 'a')), jwt_error::malformed);
    // Padding and the standard alphabet are not base64url.
    EXPECT_EQ(verify(codec, p.header + "=." + p.payload + "." + p.signature), jwt_error::malformed);
}

TEST(Jwt, CorrectlySignedButBadClaimsAreRejected) {
    jwt_codec codec(secret);
    const auto header = b64(json{{"alg", "HS256"}, {"typ", "JWT"}});
    // The forging helper is right: a well-formed payload signed by hand verifies.
    const json good = {{"sub", "5"}, {"handle", "eve"}, {"iat", now}, {"exp", now + 60}};
    claims c;
    ASSERT_EQ(codec.verify(forge(header, b64(good)), now, c), std::nullopt);
    EXPECT_EQ(c.user_id, 5);

    const json bad[] = {
        {{"handle", "eve"}, {"exp", now + 60}},                  // no sub
        {{"sub", 5}, {"handle", "eve"}, {"exp", now + 60}},      // sub not a string
        {{"sub", "abc"}, {"handle", "eve"}, {"exp", now + 60}},  // sub not a number
        {{"sub", "0"}, {"handle", "eve"}, {"exp", now + 60}},    // not a user id
        {{"sub", "-3"}, {"handle", "eve"}, {"exp", now + 60}},   // not a user id
        {{"sub", "99999999999999999999"}, {"handle", "eve"}, {"exp", now + 60}},  // overflow
        {{"sub", "5"}, {"exp", now + 60}},                                        // no handle
        {{"sub", "5"}, {"handle", 5}, {"exp", now + 60}},          // handle not a string
        {{"sub", "5"}, {"handle", "eve"}},                         // no exp
        {{"sub", "5"}, {"handle", "eve"}, {"exp", "2100-01-01"}},  // exp not a number
        {{"sub", "5"}, {"handle", "eve"}, {"exp", 1.5e9}},         // exp not an integer
    };
    for (const auto& payload : bad)
        EXPECT_EQ(codec.verify(forge(header, b64(payload)), now, c), jwt_error::bad_claims)
            << payload.dump();
    EXPECT_EQ(codec.verify(forge(header, b64(json::array())), now, c), jwt_error::malformed);
    EXPECT_EQ(codec.verify(forge(header, base64url_encode("{")), now, c), jwt_error::malformed);
    // Signed by the codec with ids it must never accept.
    EXPECT_EQ(codec.verify(codec.sign(0, "zero", now), now, c), jwt_error::bad_claims);
    EXPECT_EQ(codec.verify(codec.sign(-5, "neg", now), now, c), jwt_error::bad_claims);
}

TEST(Jwt, VerifyWithoutAClockUsesTheRealClock) {
    jwt_codec codec(secret, std::chrono::seconds(300));
    claims c;
    EXPECT_EQ(codec.verify(codec.sign(9, "nine"), c), std::nullopt);
    EXPECT_EQ(c.user_id, 9);
    // Signed an hour ago with a five-minute lifetime: expired now.
    EXPECT_EQ(codec.verify(codec.sign(9, "nine", chirp::auth::unix_now() - 3600), c),
              jwt_error::expired);
}

TEST(Jwt, ErrorsHaveMessages) {
    for (auto e : {jwt_error::malformed, jwt_error::bad_algorithm, jwt_error::bad_signature,
                   jwt_error::expired, jwt_error::bad_claims}) {
        EXPECT_GT(std::string(chirp::auth::to_string(e)).size(), 3u);
    }
}

TEST(Base64Url, RoundTripsEveryByte) {
    std::string all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
    for (std::size_t n = 0; n <= all.size(); n += 37) {
        const auto text = base64url_encode(all.substr(0, n));
        EXPECT_EQ(text.find_first_of("+/="), std::string::npos);
        EXPECT_EQ(base64url_decode(text), all.substr(0, n));
    }
    EXPECT_EQ(base64url_encode("\xFB\xFF"), "-_8");
    EXPECT_EQ(base64url_decode("-_8"), "\xFB\xFF");
}

TEST(Base64Url, RejectsOtherAlphabetsAndGarbage) {
    EXPECT_EQ(base64url_decode("+/8"), std::nullopt);
    EXPECT_EQ(base64url_decode("YQ=="), std::nullopt);  // padded
    EXPECT_EQ(base64url_decode("Y"), std::nullopt);     // impossible length
    EXPECT_EQ(base64url_decode("a b"), std::nullopt);
    EXPECT_EQ(base64url_decode(""), std::string());
}

// Issue 10: sub is a canonical decimal id; iat and nbf are integers not in the future beyond
// the leeway (forged tokens signed with the right secret).
TEST(Jwt, SubMustBeACanonicalDecimalId) {
    jwt_codec codec(secret);
    const auto header = b64(json{{"alg", "HS256"}, {"typ", "JWT"}});
    auto with_sub = [&](const std::string& sub) {
        claims c;
        return codec.verify(
            forge(header,
                  b64(json{{"sub", sub}, {"handle", "eve"}, {"iat", now}, {"exp", now + 60}})),
            now, c);
    };
    EXPECT_EQ(with_sub("5"), std::nullopt);
    EXPECT_EQ(with_sub("9223372036854775807"), std::nullopt);
    for (const char* bad : {"1abc", " 1", "1 ", "+1", "-1", "01", "0", "", "1.0", "1e3", "0x10",
                            "9223372036854775808", "１"})
        EXPECT_EQ(with_sub(bad), jwt_error::bad_claims) << bad;
    EXPECT_EQ(chirp::auth::canonical_id("42"), 42);
    EXPECT_EQ(chirp::auth::canonical_id("042"), std::nullopt);
}

TEST(Jwt, IatAndNbfInTheFutureAreRejected) {
    jwt_codec codec(secret);
    const auto header = b64(json{{"alg", "HS256"}, {"typ", "JWT"}});
    auto check = [&](json payload) {
        payload["sub"] = "5";
        payload["handle"] = "eve";
        payload["exp"] = now + 7200;
        claims c;
        return codec.verify(forge(header, b64(payload)), now, c);
    };
    EXPECT_EQ(check({{"iat", now}}), std::nullopt);
    EXPECT_EQ(check({{"iat", now + 30}}), std::nullopt);  // within the leeway
    EXPECT_EQ(check({{"iat", now + 3600}}), jwt_error::not_yet_valid);
    EXPECT_EQ(check({{"iat", now}, {"nbf", now - 10}}), std::nullopt);
    EXPECT_EQ(check({{"iat", now}, {"nbf", now + 30}}), std::nullopt);
    EXPECT_EQ(check({{"iat", now}, {"nbf", now + 3600}}), jwt_error::not_yet_valid);
    EXPECT_EQ(check({{"iat", now}, {"nbf", "soon"}}), jwt_error::bad_claims);
    EXPECT_EQ(check({{"iat", 1.5}}), jwt_error::bad_claims);
    EXPECT_EQ(check(json::object()), jwt_error::bad_claims);  // no iat
    EXPECT_STREQ(chirp::auth::to_string(jwt_error::not_yet_valid), "token not yet valid");
}

TEST(Jwt, KeyedDigestDependsOnSecretAndPurpose) {
    jwt_codec a(secret), b("another-secret-0123456789abcdef");
    const auto d = a.keyed_digest("idempotency", "body");
    EXPECT_EQ(d.size(), 64u);
    EXPECT_EQ(d, a.keyed_digest("idempotency", "body"));
    EXPECT_NE(d, b.keyed_digest("idempotency", "body"));
    EXPECT_NE(d, a.keyed_digest("other", "body"));
    EXPECT_NE(d, a.keyed_digest("idempotency", "body2"));
}

}  // namespace
