// REST helpers: see api.hpp.
#include "support/api.hpp"

#include <regex>
#include <stdexcept>

#include "chirp/auth/jwt.hpp"
#include "support/env.hpp"

namespace chirp::test {

std::string random_handle(const std::string& prefix) {
    return prefix + random_token(15 - prefix.size());
}

test_user register_user(http_client& client, const std::string& prefix,
                        const std::string& display_name) {
    test_user u;
    u.handle = random_handle(prefix);
    u.password = "pw-" + random_token(12);
    nlohmann::json body = {{"handle", u.handle}, {"password", u.password}};
    body["displayName"] = display_name.empty() ? "User " + u.handle : display_name;
    const auto r = client.post("/api/auth/register", body);
    if (r.status != 201) throw std::runtime_error("register " + u.handle + ": " + r.describe());
    const auto j = r.json();
    u.id = j.at("user").at("id").get<std::string>();
    u.token = j.at("token").get<std::string>();
    return u;
}

std::string post_tweet(http_client& client, const test_user& author, const std::string& content,
                       const std::string& reply_to) {
    nlohmann::json body = {{"content", content}};
    if (!reply_to.empty()) body["replyTo"] = reply_to;
    const auto r = client.post("/api/tweets", body, author.token);
    if (r.status != 201) throw std::runtime_error("post tweet: " + r.describe());
    return r.json().at("id").get<std::string>();
}

std::string sign_token(const std::string& secret, long long user_id, const std::string& handle,
                       long long issued_at, long long ttl_seconds) {
    auth::jwt_codec codec(secret, std::chrono::seconds(ttl_seconds));
    return codec.sign(user_id, handle, issued_at);
}

::testing::AssertionResult is_error(const http_response& r, unsigned status,
                                    std::string_view code) {
    if (r.status != status)
        return ::testing::AssertionFailure()
               << "expected status " << status << ", got " << r.describe();
    if (r.header("Content-Type").rfind("application/json", 0) != 0)
        return ::testing::AssertionFailure()
               << "error without a JSON content type: " << r.header("Content-Type");
    const auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (!j.is_object() || j.size() != 1 || !j.contains("error") || !j["error"].is_object())
        return ::testing::AssertionFailure() << "not an error body: " << r.body;
    const auto& e = j["error"];
    if (e.size() != 2 || !e.contains("code") || !e.contains("message"))
        return ::testing::AssertionFailure()
               << "error body needs exactly code and message: " << r.body;
    if (e["code"] != code)
        return ::testing::AssertionFailure() << "expected code " << code << ", got " << r.body;
    if (!e["message"].is_string() || e["message"].get<std::string>().empty())
        return ::testing::AssertionFailure() << "error without a message: " << r.body;
    return ::testing::AssertionSuccess();
}

bool is_timestamp(const nlohmann::json& v) {
    static const std::regex re(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
    return v.is_string() && std::regex_match(v.get<std::string>(), re);
}

std::vector<nlohmann::json> all_events(http_client& client, const test_user& user) {
    std::vector<nlohmann::json> out;
    std::string after;
    for (int page = 0; page < 1000; ++page) {
        const auto r = client.get(
            "/api/events?limit=100" + (after.empty() ? "" : "&after=" + after), user.token);
        if (r.status != 200) throw std::runtime_error("GET /api/events: " + r.describe());
        const auto j = r.json();
        for (const auto& e : j.at("items")) out.push_back(e);
        if (j.at("nextCursor").is_null()) return out;
        after = j.at("nextCursor").get<std::string>();
    }
    throw std::runtime_error("GET /api/events does not end");
}

namespace {

http_response expect_status(const http_response& r, unsigned status, const std::string& what) {
    if (r.status != status)
        throw std::runtime_error(what + ": expected " + std::to_string(status) + ", got " +
                                 r.describe());
    return r;
}

}  // namespace

void follow(http_client& c, const test_user& who, const test_user& whom) {
    expect_status(c.post_empty("/api/users/" + whom.handle + "/follow", who.token), 200,
                  who.handle + " follows " + whom.handle);
}

void unfollow(http_client& c, const test_user& who, const test_user& whom) {
    expect_status(c.del("/api/users/" + whom.handle + "/follow", who.token), 200,
                  who.handle + " unfollows " + whom.handle);
}

void like(http_client& c, const test_user& who, const std::string& tweet_id) {
    expect_status(c.post_empty("/api/tweets/" + tweet_id + "/like", who.token), 200, "like");
}

std::string retweet(http_client& c, const test_user& who, const std::string& tweet_id) {
    return expect_status(c.post_empty("/api/tweets/" + tweet_id + "/retweet", who.token), 201,
                         "retweet")
        .json()
        .at("id")
        .get<std::string>();
}

void delete_tweet(http_client& c, const test_user& who, const std::string& tweet_id) {
    expect_status(c.del("/api/tweets/" + tweet_id, who.token), 200, "delete tweet");
}

std::string create_conversation(http_client& c, const test_user& who,
                                const std::vector<test_user>& others) {
    nlohmann::json handles = nlohmann::json::array();
    for (const auto& o : others) handles.push_back(o.handle);
    const auto r =
        c.post("/api/conversations", nlohmann::json{{"participants", handles}}, who.token);
    if (r.status != 201 && r.status != 200)
        throw std::runtime_error("create conversation: " + r.describe());
    return r.json().at("id").get<std::string>();
}

nlohmann::json send_message(http_client& c, const test_user& who, const std::string& conversation,
                            const std::string& content) {
    return expect_status(c.post("/api/conversations/" + conversation + "/messages",
                                nlohmann::json{{"content", content}}, who.token),
                         201, "send message")
        .json();
}

std::vector<std::string> timeline_ids(http_client& c, const test_user& who, int limit) {
    std::vector<std::string> ids;
    std::string before;
    for (int page = 0; page < 1000; ++page) {
        std::string target = "/api/timeline?limit=" + std::to_string(limit);
        if (!before.empty()) target += "&before=" + before;
        const auto j = expect_status(c.get(target, who.token), 200, "timeline").json();
        for (const auto& t : j.at("items")) ids.push_back(t.at("id").get<std::string>());
        if (!j.contains("nextCursor") || j["nextCursor"].is_null()) return ids;
        before = j["nextCursor"].get<std::string>();
    }
    throw std::runtime_error("timeline: too many pages");
}

}  // namespace chirp::test
