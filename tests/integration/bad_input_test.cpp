// Bad input never causes a 500 or a crash: a table of hostile requests (truncated JSON,
// invalid UTF-8, lone surrogates, oversized bodies, wrong content types, injection strings,
// nonsense ids in paths and queries, malformed HTTP) with the documented answers, and proof
// that none of them appended an event.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/server.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;

class BadInput : public server_test<BadInput> {
protected:
    static long long count_events() {
        pqxx::connection conn(server().db().url());
        return std::stoll(query_rows(conn, "SELECT count(*) FROM events")[0][0]);
    }

    // POST with a raw body and content type.
    static http_response post_raw(const std::string& path, const std::string& body,
                                  const std::string& token,
                                  std::optional<std::string> content_type = "application/json") {
        return api().request("POST", path, body, token, {}, std::move(content_type));
    }
};

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += s;
    return out;
}

TEST_F(BadInput, MalformedJsonIs400) {
    const auto u = register_user(api(), "mj");
    const auto before = count_events();
    const std::vector<std::string> bodies = {
        "",
        "{",
        R"({"content": "abc)",
        R"({"content": "abc")",
        R"({"content" "abc"})",
        R"({"content": abc})",
        R"({'content': 'abc'})",
        R"({"content": "abc",})",
        "nul",
        "{}}",
        std::string("{\"content\": \"a\x01"
                    "b\"}"),  // raw control character in a string
        R"({"content": "bad escape \q"})",
        R"({"content": "\u12"})",
    };
    for (const auto& b : bodies)
        EXPECT_TRUE(is_error(post_raw("/api/tweets", b, u.token), 400, "malformed_json")) << b;
    // JSON, but not an object.
    for (const auto& b : {"[]", "\"content\"", "42", "null", "true", "[{\"content\": \"x\"}]"})
        EXPECT_TRUE(is_error(post_raw("/api/tweets", b, u.token), 400, "malformed_json")) << b;
    // The same on the other JSON endpoints.
    EXPECT_TRUE(
        is_error(post_raw("/api/auth/register", "{\"handle\":", ""), 400, "malformed_json"));
    EXPECT_TRUE(is_error(post_raw("/api/auth/login", "[", ""), 400, "malformed_json"));
    EXPECT_TRUE(is_error(post_raw("/api/conversations", "{\"participants\":[", u.token), 400,
                         "malformed_json"));
    EXPECT_TRUE(
        is_error(post_raw("/api/notifications/read", "{\"upTo\"", u.token), 400, "malformed_json"));
    EXPECT_EQ(count_events(), before);
}

TEST_F(BadInput, InvalidUtf8BodiesAre400) {
    const auto u = register_user(api(), "iu");
    const auto before = count_events();
    for (const std::string bad : {"\xFF\xFE", "\xC0\xAF", "\xED\xA0\x80", "\xE6\x97", "\x80",
                                  "\xF4\x90\x80\x80", "ok \xF0\x9F\x98"}) {
        const auto body = "{\"content\": \"" + bad + "\"}";
        EXPECT_TRUE(is_error(post_raw("/api/tweets", body, u.token), 400, "malformed_json"));
        // In a key, too.
        EXPECT_TRUE(
            is_error(post_raw("/api/tweets", "{\"content\": \"x\", \"" + bad + "\": 1}", u.token),
                     400, "malformed_json"));
    }
    EXPECT_TRUE(is_error(post_raw("/api/auth/register",
                                  "{\"handle\": \"" + random_handle("iu") +
                                      "\", \"password\": \"12345678\", \"displayName\": \"\xC3\"}",
                                  ""),
                         400, "malformed_json"));
    EXPECT_EQ(count_events(), before);
}

TEST_F(BadInput, LoneSurrogateEscapesAre400) {
    const auto u = register_user(api(), "ls");
    const auto before = count_events();
    for (const char* s : {R"(\ud800)", R"(\udbff)", R"(\udc00)", R"(\udfff)", R"(x\ud800y)",
                          R"(\ud800\ud800)", R"(\udc00\ud800)", R"(\ud83d)", R"(\ud83d\u0041)"}) {
        const auto body = std::string(R"({"content": ")") + s + R"("})";
        EXPECT_TRUE(is_error(post_raw("/api/tweets", body, u.token), 400, "malformed_json"))
            << body;
    }
    EXPECT_EQ(count_events(), before);
    // A proper pair is fine and stored as the one code point it encodes.
    const auto r = post_raw("/api/tweets", R"({"content": "smile \ud83d\ude00"})", u.token);
    ASSERT_EQ(r.status, 201u) << r.describe();
    EXPECT_EQ(r.json().at("content"), "smile \xF0\x9F\x98\x80");
}

TEST_F(BadInput, NulCharactersAreRefusedWithoutHurtingOthers) {
    // PostgreSQL cannot store U+0000; it must be refused up front (422), never reach the
    // writer, where it would fail the whole group-commit batch.
    const auto u = register_user(api(), "nul");
    const auto before = count_events();
    for (const char* body : {R"({"content": "a\u0000b"})", R"({"content": "\u0000"})",
                             R"({"content": "x", "extra": ["\u0000"]})"}) {
        EXPECT_TRUE(is_error(post_raw("/api/tweets", body, u.token), 422, "validation_failed"))
            << body;
    }
    EXPECT_TRUE(is_error(post_raw("/api/auth/register",
                                  R"({"handle": ")" + random_handle("nul") +
                                      R"(", "password": "12345678", "displayName": "a\u0000"})",
                                  ""),
                         422, "validation_failed"));
    const auto conv = api().post(
        "/api/conversations", {{"participants", {register_user(api(), "nul2").handle}}}, u.token);
    ASSERT_EQ(conv.status, 201u) << conv.describe();
    const auto before_msg = count_events();
    EXPECT_TRUE(is_error(
        post_raw("/api/conversations/" + conv.json().at("id").get<std::string>() + "/messages",
                 R"({"content": "hi\u0000"})", u.token),
        422, "validation_failed"));
    EXPECT_EQ(count_events(), before_msg);
    EXPECT_EQ(count_events(), before + 2) << "only the registration and the conversation";
    // The writer is healthy afterwards.
    EXPECT_EQ(api().post("/api/tweets", {{"content", "still fine"}}, u.token).status, 201u);
}

TEST_F(BadInput, ContentLengthRulesAre422) {
    const auto u = register_user(api(), "cl");
    const auto before = count_events();
    for (const auto& content :
         {repeat("a", 281), repeat("\xF0\x9F\x98\x80", 281), std::string(""), std::string(" "),
          std::string("\t\r\n"), std::string("\xE3\x80\x80\xE2\x80\x83\xC2\xA0")}) {
        EXPECT_TRUE(is_error(api().post("/api/tweets", {{"content", content}}, u.token), 422,
                             "validation_failed"));
    }
    EXPECT_EQ(count_events(), before);
}

TEST_F(BadInput, BodiesOver64KiBAre413) {
    const auto u = register_user(api(), "big");
    const auto before = count_events();
    // Exactly 64 KiB is accepted: a small tweet padded with white space.
    std::string body = R"({"content": "padded"})";
    const std::string exact = body + std::string(64 * 1024 - body.size(), ' ');
    ASSERT_EQ(exact.size(), 65536u);
    const auto ok = post_raw("/api/tweets", exact, u.token);
    EXPECT_EQ(ok.status, 201u) << ok.describe();

    const auto over = exact + " ";
    EXPECT_TRUE(is_error(post_raw("/api/tweets", over, u.token), 413, "payload_too_large"));
    EXPECT_TRUE(is_error(post_raw("/api/auth/register", over, ""), 413, "payload_too_large"));
    EXPECT_TRUE(is_error(post_raw("/api/tweets", std::string(1 << 20, 'x'), u.token), 413,
                         "payload_too_large"));

    // The same with chunked transfer encoding (no Content-Length up front).
    std::string chunked = "POST /api/tweets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                          u.token +
                          "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                          "Connection: close\r\n\r\n";
    for (int i = 0; i < 17; ++i) chunked += "1000\r\n" + std::string(4096, ' ') + "\r\n";
    chunked += "0\r\n\r\n";
    EXPECT_TRUE(is_error(api().raw(chunked), 413, "payload_too_large"));
    EXPECT_EQ(count_events(), before + 1) << "only the 64 KiB tweet";
    // The server is still serving.
    EXPECT_EQ(api().get("/healthz").status, 200u);
}

TEST_F(BadInput, WrongContentTypesAre415) {
    const auto u = register_user(api(), "ct");
    const auto before = count_events();
    const std::string body = R"({"content": "typed"})";
    for (const char* ct :
         {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
          "application/jsonx", "application/json-patch+json", "text/json", "json", "",
          "application/xml"}) {
        EXPECT_TRUE(is_error(post_raw("/api/tweets", body, u.token, std::string(ct)), 415,
                             "unsupported_media_type"))
            << '"' << ct << '"';
    }
    EXPECT_TRUE(is_error(post_raw("/api/tweets", body, u.token, std::nullopt), 415,
                         "unsupported_media_type"))
        << "no Content-Type";
    EXPECT_TRUE(
        is_error(post_raw("/api/auth/register", R"({"handle":"abcdef","password":"12345678"})", "",
                          std::string("text/plain")),
                 415, "unsupported_media_type"));
    EXPECT_EQ(count_events(), before);
    // Parameters and letter case do not matter.
    for (const char* ct : {"application/json; charset=utf-8", "application/json;charset=UTF-8",
                           "Application/JSON"}) {
        const auto r = post_raw("/api/tweets", body, u.token, std::string(ct));
        EXPECT_EQ(r.status, 201u) << ct << ": " << r.describe();
    }
}

TEST_F(BadInput, InjectionStringsAreStoredVerbatim) {
    const std::vector<std::string> evil = {
        "'); DROP TABLE events; --",
        "' OR '1'='1",
        "Robert'); DROP TABLE students;--",
        "'; SELECT pg_sleep(30); --",
        "$$; DELETE FROM users; $$",
        "\\'; TRUNCATE tweets; --",
        "%_\\ LIKE '%'",
        "<script>alert(1)</script>",
        "{{7*7}} ${7*7} `id`",
        "\" , \"content\": \"overwritten",
        "NULL",
        "\\u0000 (an escaped backslash, not a NUL)",
        "\xF0\x9F\x92\xA3 \xE6\x97\xA5\xE6\x9C\xAC "
        "\xD8\xA7\xD9\x84\xD8\xB9\xD8\xB1\xD8\xA8\xD9\x8A\xD8\xA9 \xE2\x80\xAE"
        "reversed",
    };
    const auto u = register_user(api(), "inj", "'; DROP TABLE users; --");
    EXPECT_EQ(api().get("/api/users/" + u.handle).json().at("displayName"),
              "'; DROP TABLE users; --");
    for (const auto& content : evil) {
        const auto r = api().post("/api/tweets", {{"content", content}}, u.token);
        ASSERT_EQ(r.status, 201u) << content << ": " << r.describe();
        EXPECT_EQ(r.json().at("content"), content);
        const auto id = r.json().at("id").get<std::string>();
        const auto g = api().get("/api/tweets/" + id);
        ASSERT_EQ(g.status, 200u);
        EXPECT_EQ(g.json().at("content"), content) << "read back identical";
        pqxx::connection conn(server().db().url());
        pqxx::work tx(conn);
        const auto row = tx.exec_params("SELECT content FROM tweets WHERE id = $1", std::stoll(id));
        ASSERT_EQ(row.size(), 1u);
        EXPECT_EQ(row[0][0].as<std::string>(), content) << "stored identical";
    }
    // Handle searches with SQL in them find nothing and break nothing.
    for (const char* q : {"'%20OR%201=1--", "%27", "%25%27%3B--", "a%27)%3B--"}) {
        const auto r = api().get(std::string("/api/users?q=") + q);
        ASSERT_EQ(r.status, 200u) << q << ": " << r.describe();
        EXPECT_EQ(r.json().at("items").size(), 0u) << q;
    }
    // Everything is still there.
    pqxx::connection conn(server().db().url());
    EXPECT_GE(std::stoll(query_rows(conn, "SELECT count(*) FROM users")[0][0]), 1);
    EXPECT_EQ(api().get("/api/users/" + u.handle).json().at("tweets"),
              static_cast<int>(evil.size()));
}

TEST_F(BadInput, NonsenseIdsInPathsAre404Or400NeverServerErrors) {
    const auto u = register_user(api(), "ids");
    const auto before = count_events();
    const std::vector<std::string> ids = {"-1",
                                          "abc",
                                          "0",
                                          "99999999999999999999",
                                          "9223372036854775808",
                                          "9223372036854775807",
                                          "1.5",
                                          "1e3",
                                          "0x1",
                                          "+1",
                                          "01",
                                          "%20",
                                          "%00",
                                          "1%00",
                                          "..",
                                          "...",
                                          "%2e%2e",
                                          "..%2F..%2Fetc%2Fpasswd",
                                          "%2F",
                                          "1%20OR%201%3D1",
                                          "1;DROP%20TABLE%20events",
                                          "%FF%FE",
                                          "%C0%AF",
                                          "%ED%A0%80",
                                          "null",
                                          "undefined",
                                          "NaN",
                                          "Infinity",
                                          "%E2%80%AE1"};
    for (const auto& id : ids) {
        const std::vector<std::pair<std::string, std::string>> requests = {
            {"GET", "/api/tweets/" + id},
            {"DELETE", "/api/tweets/" + id},
            {"GET", "/api/tweets/" + id + "/replies"},
            {"POST", "/api/tweets/" + id + "/like"},
            {"DELETE", "/api/tweets/" + id + "/like"},
            {"POST", "/api/tweets/" + id + "/retweet"},
            {"GET", "/api/conversations/" + id + "/messages"},
            {"POST", "/api/conversations/" + id + "/messages"},
            {"GET", "/api/users/" + id},
            {"GET", "/api/users/" + id + "/tweets"},
            {"GET", "/api/users/" + id + "/followers"},
            {"POST", "/api/users/" + id + "/follow"},
        };
        for (const auto& [method, path] : requests) {
            const auto r = api().request(method, path, std::string(R"({"content":"x"})"), u.token);
            EXPECT_TRUE(r.status == 404 || r.status == 400)
                << method << " " << path << " -> " << r.describe();
            EXPECT_TRUE(r.json().contains("error")) << method << " " << path;
        }
    }
    // Traversal in the raw target never reaches a file.
    for (const char* target :
         {"/api/tweets/../../etc/passwd", "/../../etc/passwd", "/api/../etc/passwd",
          "/%2e%2e/%2e%2e/etc/passwd", "/api/users/..%2f..%2fetc%2fpasswd"}) {
        const auto r = api().get(target, u.token);
        EXPECT_TRUE(r.status == 404 || r.status == 400) << target << " -> " << r.describe();
        EXPECT_EQ(r.body.find("root:"), std::string::npos) << target;
    }
    EXPECT_EQ(count_events(), before);
}

TEST_F(BadInput, BadQueryParametersAre400) {
    const auto u = register_user(api(), "qp");
    const auto t = post_tweet(api(), u, "query me");
    for (const std::string q :
         {"limit=0", "limit=-1", "limit=101", "limit=abc", "limit=1e2",
          "limit=", "limit=99999999999999999999", "before=-1", "before=abc", "before=0",
          "before=99999999999999999999", "before=1%00", "limit=%FF"}) {
        for (const auto& path :
             {std::string("/api/timeline?"), std::string("/api/notifications?"),
              "/api/tweets/" + t + "/replies?", "/api/users/" + u.handle + "/tweets?",
              "/api/users/" + u.handle + "/followers?"}) {
            EXPECT_TRUE(is_error(api().get(path + q, u.token), 400, "bad_request")) << path << q;
        }
    }
    for (const std::string q : {"after=-1", "after=abc", "after=99999999999999999999", "limit=0"})
        EXPECT_TRUE(is_error(api().get("/api/events?" + q, u.token), 400, "bad_request")) << q;
    // Unknown parameters are ignored; an empty cursor means none.
    EXPECT_EQ(api().get("/api/timeline?foo=bar&before=", u.token).status, 200u);
}

TEST_F(BadInput, WrongTypesInBodiesAre422) {
    const auto u = register_user(api(), "wt");
    const auto t = post_tweet(api(), u, "typed");
    const auto before = count_events();
    for (const json& body :
         {json{{"content", nullptr}}, json{{"content", true}}, json{{"content", 1.5}},
          json{{"content", json::object()}}, json{{"content", "x"}, {"replyTo", true}},
          json{{"content", "x"}, {"replyTo", json::array({t})}},
          json{{"content", "x"}, {"replyTo", "-1"}}, json{{"content", "x"}, {"replyTo", ""}}}) {
        const auto r = api().post("/api/tweets", body, u.token);
        // An empty replyTo is "no reply": that one is a fine tweet.
        if (body.contains("replyTo") && body["replyTo"] == "") {
            EXPECT_EQ(r.status, 201u) << body.dump() << ": " << r.describe();
            continue;
        }
        EXPECT_TRUE(is_error(r, 422, "validation_failed")) << body.dump();
    }
    EXPECT_TRUE(
        is_error(api().post("/api/auth/login", {{"handle", json::array()}, {"password", "x"}}), 422,
                 "validation_failed"));
    EXPECT_TRUE(is_error(api().post("/api/notifications/read", {{"upTo", json::object()}}, u.token),
                         422, "validation_failed"));
    EXPECT_EQ(count_events(), before + 1);
}

TEST_F(BadInput, DeeplyNestedJsonDoesNotCrash) {
    const auto u = register_user(api(), "deep");
    const int depth = 30000;  // within the 64 KiB body limit
    const std::string arrays = std::string(depth, '[') + std::string(depth, ']');
    EXPECT_TRUE(is_error(post_raw("/api/tweets", arrays, u.token), 400, "malformed_json"));
    std::string objects;
    for (int i = 0; i < 6000; ++i) objects += "{\"a\":";
    objects += "1" + std::string(6000, '}');
    EXPECT_TRUE(is_error(post_raw("/api/tweets", objects, u.token), 422, "validation_failed"));
    std::string nested_content =
        "{\"content\": \"x\", \"n\": " + std::string(20000, '[') + std::string(20000, ']') + "}";
    EXPECT_EQ(post_raw("/api/tweets", nested_content, u.token).status, 201u);
    EXPECT_EQ(api().get("/healthz").status, 200u);
}

TEST_F(BadInput, OddJsonValuesAreHandled) {
    const auto u = register_user(api(), "odd");
    // Duplicate keys, huge numbers, unknown fields: no 500.
    for (const char* body :
         {R"({"content": "first", "content": "second"})", R"({"content": "x", "replyTo": 1e400})",
          R"({"content": "x", "replyTo": 123456789012345678901234567890})",
          R"({"content": "x", "unknown": {"deep": [1, 2, {"x": null}]}})",
          R"({"content": "x", "replyTo": null})"}) {
        const auto r = post_raw("/api/tweets", body, u.token);
        EXPECT_TRUE(r.status == 201 || r.status == 400 || r.status == 422)
            << body << " -> " << r.describe();
    }
}

TEST_F(BadInput, MalformedHttpIs400) {
    EXPECT_EQ(api().raw("GARBAGE\r\n\r\n").status, 400u);
    EXPECT_EQ(api().raw("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n").status,
              400u);
    EXPECT_EQ(api().raw("GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n").status, 400u);
    EXPECT_EQ(api().raw("GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\n\r\n").status,
              400u);
    // Headers over 8 KiB.
    const auto r = api().raw(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(10000, 'a') + "\r\n\r\n");
    EXPECT_EQ(r.status, 431u);
    // Authorization headers that are not Bearer tokens, or are huge.
    EXPECT_TRUE(is_error(api().request("GET", "/api/me", std::nullopt, "",
                                       {{"Authorization", "Bearer " + std::string(5000, 'a')}}),
                         401, "unauthorized"));
    EXPECT_TRUE(is_error(api().request("GET", "/api/me", std::nullopt, "",
                                       {{"Authorization", "Bearer \xFF\xFE.\x80.x"}}),
                         401, "unauthorized"));
    // A control character in a header value is not HTTP.
    EXPECT_TRUE(is_error(
        api().request("GET", "/api/me", std::nullopt, "", {{"Authorization", "Bearer a.\x01.x"}}),
        400, "bad_request"));
    EXPECT_EQ(api().get("/healthz").status, 200u);
}

}  // namespace
}  // namespace chirp::test
