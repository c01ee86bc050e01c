// Unit tests of the error vocabulary: errc -> HTTP status and code string, the error body
// shape, and the std::error_code integration.
#include "chirp/domain/errc.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "chirp/http/api.hpp"

namespace {

using chirp::errc;
using json = nlohmann::json;

struct mapping {
    errc code;
    unsigned status;
    const char* name;
};

const mapping table[] = {
    {errc::ok, 200, "ok"},
    {errc::bad_request, 400, "bad_request"},
    {errc::malformed_json, 400, "malformed_json"},
    {errc::unauthorized, 401, "unauthorized"},
    {errc::forbidden, 403, "forbidden"},
    {errc::not_found, 404, "not_found"},
    {errc::method_not_allowed, 405, "method_not_allowed"},
    {errc::conflict, 409, "conflict"},
    {errc::payload_too_large, 413, "payload_too_large"},
    {errc::unsupported_media_type, 415, "unsupported_media_type"},
    {errc::validation_failed, 422, "validation_failed"},
    {errc::rate_limited, 429, "rate_limited"},
    {errc::unavailable, 503, "unavailable"},
    {errc::outcome_unknown, 503, "outcome_unknown"},
    {errc::internal, 500, "internal"},
};

TEST(Errc, MapsToTheDocumentedStatusAndCode) {
    for (const auto& m : table) {
        EXPECT_EQ(chirp::http_status(m.code), m.status) << m.name;
        EXPECT_EQ(chirp::code_string(m.code), m.name);
    }
}

TEST(Errc, CodeStringsAreDistinct) {
    std::set<std::string> seen;
    for (const auto& m : table) EXPECT_TRUE(seen.insert(std::string(m.name)).second) << m.name;
}

TEST(Errc, UnknownValuesMapToInternal) {
    const auto bogus = static_cast<errc>(999);
    EXPECT_EQ(chirp::http_status(bogus), 500u);
    EXPECT_EQ(chirp::code_string(bogus), "internal");
}

TEST(Errc, ErrorBodyHasTheDocumentedShape) {
    for (const auto& m : table) {
        if (m.code == errc::ok) continue;
        const auto body = json::parse(chirp::error_body(m.code, "something went wrong"));
        ASSERT_TRUE(body.is_object());
        EXPECT_EQ(body.size(), 1u) << body.dump();
        const auto& err = body.at("error");
        EXPECT_EQ(err.size(), 2u) << body.dump();
        EXPECT_EQ(err.at("code"), m.name);
        EXPECT_EQ(err.at("message"), "something went wrong");
    }
}

TEST(Errc, ErrorBodyEscapesAndSurvivesBadUtf8) {
    const auto quoted =
        json::parse(chirp::error_body(errc::bad_request, "a \"quote\" \\ and\nline"));
    EXPECT_EQ(quoted["error"]["message"], "a \"quote\" \\ and\nline");
    // Invalid UTF-8 in a message (e.g. echoing client input) must still give valid JSON.
    const auto text = chirp::error_body(errc::bad_request, "bad \xFF\xED\xA0\x80 bytes");
    json parsed;
    ASSERT_NO_THROW(parsed = json::parse(text)) << text;
    EXPECT_EQ(parsed["error"]["code"], "bad_request");
}

TEST(Errc, IsAnErrorCodeEnum) {
    std::error_code ec = errc::not_found;
    EXPECT_EQ(ec.category().name(), std::string("chirp"));
    EXPECT_EQ(ec.message(), "not_found");
    EXPECT_EQ(ec, errc::not_found);
    EXPECT_NE(ec, errc::forbidden);
    EXPECT_TRUE(static_cast<bool>(ec));
    EXPECT_FALSE(static_cast<bool>(std::error_code(errc::ok)));
}

TEST(Errc, ErrorResponseCarriesStatusAndBody) {
    const auto r = chirp::http::error_response(errc::rate_limited, "slow down");
    EXPECT_EQ(r.status, 429u);
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(json::parse(r.body), json::parse(chirp::error_body(errc::rate_limited, "slow down")));
    const auto ok = chirp::http::json_response(201, R"({"a":1})");
    EXPECT_EQ(ok.status, 201u);
    EXPECT_EQ(ok.body, R"({"a":1})");
}

}  // namespace
