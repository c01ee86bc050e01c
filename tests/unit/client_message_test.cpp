// Unit tests of the real-time client message parser (src/ws/client_message.hpp) and the
// origin policy (src/ws/origin.hpp): every message kind accepted, and every malformed input
// refused with the error frame or close code the session answers with.
#include "../../src/ws/client_message.hpp"

#include <gtest/gtest.h>

#include "../../src/ws/origin.hpp"
#include "chirp/config/config.hpp"

namespace {

using namespace chirp::ws;

constexpr long long me = 42;

message_error error_of(std::string_view text) {
    auto m = parse_client_message(text, me);
    auto* e = std::get_if<message_error>(&m);
    if (e == nullptr) {
        ADD_FAILURE() << "accepted: " << text;
        return {};
    }
    return *e;
}

void expect_reply(std::string_view text, message_kind kind, const std::string& code,
                  const std::string& message) {
    const auto e = error_of(text);
    EXPECT_EQ(e.kind, kind) << text;
    EXPECT_EQ(e.close_code, 0u) << text;
    EXPECT_EQ(e.code, code) << text;
    EXPECT_EQ(e.message, message) << text;
}

TEST(ClientMessage, AcceptsEachKind) {
    EXPECT_TRUE(
        std::holds_alternative<ping_message>(parse_client_message(R"({"type":"ping"})", me)));
    auto a = parse_client_message(R"({"type":"auth","token":"abc"})", me);
    ASSERT_TRUE(std::holds_alternative<auth_message>(a));
    EXPECT_EQ(std::get<auth_message>(a).token, "abc");
    auto t = parse_client_message(R"({"type":"typing","conversation":"17"})", me);
    ASSERT_TRUE(std::holds_alternative<typing_message>(t));
    EXPECT_EQ(std::get<typing_message>(t).conversation, 17);
    auto u = parse_client_message(R"({"type":"dance"})", me);
    ASSERT_TRUE(std::holds_alternative<unknown_message>(u));
    EXPECT_EQ(std::get<unknown_message>(u).type, "dance");
}

TEST(ClientMessage, Subscribe) {
    auto m = parse_client_message(
        R"({"type":"subscribe","channels":["timeline","notifications:42","timeline","stats"]})",
        me);
    ASSERT_TRUE(std::holds_alternative<subscribe_message>(m));
    const auto& s = std::get<subscribe_message>(m);
    EXPECT_EQ(s.streams, (std::vector<stream>{stream::timeline, stream::notifications}));
    ASSERT_EQ(s.names.size(), 4u);
    EXPECT_STREQ(s.names[1], "notifications");
    EXPECT_STREQ(s.names[3], "stats");
    EXPECT_TRUE(s.stats);
    EXPECT_FALSE(s.since);
    auto since = [](std::string_view v) {
        auto r = parse_client_message(
            R"({"type":"subscribe","channels":["messages"],"since":)" + std::string(v) + "}", me);
        return std::get<subscribe_message>(r).since;
    };
    EXPECT_EQ(since(R"("0")"), 0);
    EXPECT_EQ(since(R"("123")"), 123);
    EXPECT_EQ(since("0"), 0);
    EXPECT_EQ(since("9223372036854775807"), 9223372036854775807LL);
    EXPECT_FALSE(since("null"));
}

TEST(ClientMessage, RefusesMalformedInput) {
    using k = message_kind;
    for (auto bad : {"", "{", "[1]", "42", "\"ping\"", "{\"type\":\"ping\"", "nul"})
        expect_reply(bad, k::none, "bad_json", "messages must be JSON objects");
    expect_reply("{}", k::none, "missing_field", "type is required");
    expect_reply(R"({"type":7})", k::none, "missing_field", "type is required");
    expect_reply(R"({"type":null})", k::none, "missing_field", "type is required");
    for (auto bad : {R"({"type":"auth"})", R"({"type":"auth","token":5})",
                     R"({"type":"auth","token":null})"}) {
        const auto e = error_of(bad);
        EXPECT_EQ(e.kind, k::auth);
        EXPECT_EQ(e.close_code, 4001u);
        EXPECT_EQ(e.message, "token is required");
    }
    for (auto bad :
         {R"({"type":"typing"})", R"({"type":"typing","conversation":5})",
          R"({"type":"typing","conversation":"0"})", R"({"type":"typing","conversation":"-3"})",
          R"({"type":"typing","conversation":"99999999999999999999"})"})
        expect_reply(bad, k::typing, "missing_field", "conversation is required");
}

TEST(ClientMessage, RefusesBadSubscribes) {
    using k = message_kind;
    for (auto bad : {R"({"type":"subscribe"})", R"({"type":"subscribe","channels":[]})",
                     R"({"type":"subscribe","channels":"timeline"})",
                     R"({"type":"subscribe","channels":{"a":1}})"})
        expect_reply(bad, k::subscribe, "missing_field", "channels must be a non-empty array");
    expect_reply(R"({"type":"subscribe","channels":["timeline",3]})", k::subscribe, "bad_channel",
                 "channel names are strings");
    expect_reply(R"({"type":"subscribe","channels":["timelines"]})", k::subscribe, "bad_channel",
                 "unknown channel 'timelines'");
    expect_reply(R"({"type":"subscribe","channels":["stats:42"]})", k::subscribe, "bad_channel",
                 "unknown channel 'stats:42'");
    for (auto foreign : {R"(["timeline:7"])", R"(["messages:abc"])", R"(["timeline:"])"}) {
        const auto e = error_of(std::string(R"({"type":"subscribe","channels":)") + foreign + "}");
        EXPECT_EQ(e.close_code, 1008u) << foreign;
        EXPECT_EQ(e.message, "you can only subscribe to your own streams");
    }
    // The first bad channel decides.
    EXPECT_EQ(error_of(R"({"type":"subscribe","channels":[1,"timeline:7"]})").code, "bad_channel");
    EXPECT_EQ(error_of(R"({"type":"subscribe","channels":["timeline:7",1]})").close_code, 1008u);
    for (auto bad :
         {"-1", "1.5", "true", R"("abc")", R"("-5")", R"("")", R"("007")", "18446744073709551615",
          "9223372036854775808", R"("99999999999999999999")", "[1]"})
        expect_reply(
            std::string(R"({"type":"subscribe","channels":["timeline"],"since":)") + bad + "}",
            k::subscribe, "bad_since", "since must be a seq");
}

TEST(OriginPolicy, OwnOriginLocalhostOrTheConfiguredList) {
    chirp::config cfg;
    EXPECT_TRUE(origin_allowed(cfg, "", "chirp.example"));  // not a browser
    EXPECT_TRUE(origin_allowed(cfg, "https://chirp.example", "chirp.example"));
    EXPECT_TRUE(origin_allowed(cfg, "http://localhost:5173", "chirp.example"));
    EXPECT_TRUE(origin_allowed(cfg, "http://127.0.0.1:8000", "chirp.example"));
    EXPECT_FALSE(origin_allowed(cfg, "https://evil.example", "chirp.example"));
    EXPECT_FALSE(origin_allowed(cfg, "null", "chirp.example"));
    EXPECT_FALSE(origin_allowed(cfg, "ftp://localhost", "chirp.example"));
    cfg.allowed_origins = {"https://app.example"};
    EXPECT_TRUE(origin_allowed(cfg, "https://app.example", "chirp.example"));
    EXPECT_FALSE(origin_allowed(cfg, "http://localhost:5173", "chirp.example"));
}

}  // namespace
