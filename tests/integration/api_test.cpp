// The REST API against a real chirpd, PostgreSQL and Redis: every endpoint's success and
// failure cases (docs/api.md is the contract), the authorization matrix, idempotency keys,
// JWTs at the HTTP layer, the failed-login throttle and the operational endpoints.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "chirp/auth/jwt.hpp"
#include "support/server.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;

class Api : public server_test<Api> {};

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += s;
    return out;
}

std::vector<std::string> ids_of(const json& items) {
    std::vector<std::string> out;
    for (const auto& i : items) out.push_back(i.at("id").get<std::string>());
    return out;
}

std::vector<std::string> handles_of(const json& items) {
    std::vector<std::string> out;
    for (const auto& i : items) out.push_back(i.at("handle").get<std::string>());
    return out;
}

bool is_id(const json& v) {
    if (!v.is_string()) return false;
    const auto& s = v.get_ref<const std::string&>();
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The pages of a list endpoint with ?limit=&before=, concatenated.
std::vector<json> all_pages(http_client& c, const std::string& path, const std::string& token,
                            int limit) {
    std::vector<json> out;
    std::string before;
    const char sep = path.find('?') == std::string::npos ? '?' : '&';
    for (int page = 0; page < 100; ++page) {
        const auto r = c.get(path + sep + "limit=" + std::to_string(limit) +
                                 (before.empty() ? "" : "&before=" + before),
                             token);
        if (r.status != 200) throw std::runtime_error(path + ": " + r.describe());
        const auto j = r.json();
        EXPECT_LE(j.at("items").size(), static_cast<std::size_t>(limit));
        for (const auto& i : j.at("items")) out.push_back(i);
        if (j.at("nextCursor").is_null()) return out;
        before = j.at("nextCursor").get<std::string>();
    }
    throw std::runtime_error(path + " does not end");
}

json notifications_of(http_client& c, const test_user& u) {
    const auto r = c.get("/api/notifications?limit=100", u.token);
    if (r.status != 200) throw std::runtime_error("notifications: " + r.describe());
    return r.json();
}

// ============================================================================ accounts

TEST_F(Api, RegisterReturnsTheUserAndAToken) {
    const auto handle = random_handle("reg");
    const auto r =
        api().post("/api/auth/register",
                   {{"handle", handle}, {"password", "secret-pass"}, {"displayName", "  Reg  "}});
    ASSERT_EQ(r.status, 201u) << r.describe();
    EXPECT_EQ(r.header("Content-Type").rfind("application/json", 0), 0u);
    const auto j = r.json();
    const auto& u = j.at("user");
    EXPECT_TRUE(is_id(u.at("id"))) << u;
    EXPECT_EQ(u.at("handle"), handle);
    EXPECT_EQ(u.at("displayName"), "Reg") << "trimmed";
    EXPECT_TRUE(is_timestamp(u.at("createdAt"))) << u;
    EXPECT_EQ(u.at("followers"), 0);
    EXPECT_EQ(u.at("following"), 0);
    EXPECT_EQ(u.at("tweets"), 0);
    EXPECT_FALSE(u.contains("followedByMe"));
    EXPECT_EQ(r.body.find("secret-pass"), std::string::npos);
    EXPECT_EQ(r.body.find("assword"), std::string::npos) << "no password or hash in the answer";
    ASSERT_TRUE(j.at("token").is_string());

    auth::jwt_codec codec(dev_jwt_secret);
    auth::claims c;
    ASSERT_EQ(codec.verify(j.at("token").get<std::string>(), c), std::nullopt);
    EXPECT_EQ(std::to_string(c.user_id), u.at("id").get<std::string>());
    EXPECT_EQ(c.handle, handle);
    EXPECT_GT(c.expires_at, c.issued_at);

    // The token works.
    const auto me = api().get("/api/me", j.at("token").get<std::string>());
    ASSERT_EQ(me.status, 200u) << me.describe();
    EXPECT_EQ(me.json().at("id"), u.at("id"));
    EXPECT_EQ(me.json().at("handle"), handle);
}

TEST_F(Api, RegisterWithoutDisplayNameUsesTheHandle) {
    const auto handle = random_handle("nodn");
    const auto r = api().post("/api/auth/register", {{"handle", handle}, {"password", "12345678"}});
    ASSERT_EQ(r.status, 201u) << r.describe();
    EXPECT_EQ(r.json().at("user").at("displayName"), handle);
}

TEST_F(Api, RegisterRejectsTakenHandlesIgnoringCase) {
    const auto u = register_user(api(), "dup");
    std::string upper = u.handle;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    for (const auto& h : {u.handle, upper}) {
        const auto r =
            api().post("/api/auth/register", {{"handle", h}, {"password", "another-pass"}});
        EXPECT_TRUE(is_error(r, 409, "conflict")) << h;
    }
}

TEST_F(Api, RegisterValidatesItsInput) {
    const std::string ok_handle = random_handle("val");
    const json cases[] = {
        {{"password", "12345678"}},                                  // no handle
        {{"handle", ok_handle}},                                     // no password
        {{"handle", 12345}, {"password", "12345678"}},               // handle not a string
        {{"handle", ok_handle}, {"password", 12345678}},             // password not a string
        {{"handle", "ab"}, {"password", "12345678"}},                // too short
        {{"handle", "abcdefghijklmnop"}, {"password", "12345678"}},  // 16 characters
        {{"handle", "bad-handle"}, {"password", "12345678"}},        // '-'
        {{"handle", "bad handle"}, {"password", "12345678"}},        // ' '
        {{"handle",
          "caf\xC3\xA9"
          "123"},
         {"password", "12345678"}},                               // non-ASCII
        {{"handle", ok_handle}, {"password", "1234567"}},         // 7 bytes
        {{"handle", ok_handle}, {"password", repeat("p", 129)}},  // 129 bytes
        {{"handle", ok_handle}, {"password", "12345678"}, {"displayName", "   "}},
        {{"handle", ok_handle}, {"password", "12345678"}, {"displayName", repeat("\xC3\xA9", 51)}},
        {{"handle", ok_handle}, {"password", "12345678"}, {"displayName", 7}},
    };
    for (const auto& body : cases)
        EXPECT_TRUE(is_error(api().post("/api/auth/register", body), 422, "validation_failed"))
            << body.dump();
    // None of them registered the handle.
    EXPECT_TRUE(is_error(api().get("/api/users/" + ok_handle), 404, "not_found"));
    // Limits are inclusive: 128-byte password and 50-code-point names are fine.
    const auto r = api().post("/api/auth/register", {{"handle", ok_handle},
                                                     {"password", repeat("p", 128)},
                                                     {"displayName", repeat("\xC3\xA9", 50)}});
    EXPECT_EQ(r.status, 201u) << r.describe();
}

TEST_F(Api, LoginReturnsAFreshTokenAndIgnoresHandleCase) {
    const auto u = register_user(api(), "log");
    std::string upper = u.handle;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    for (const auto& h : {u.handle, upper}) {
        const auto r = api().post("/api/auth/login", {{"handle", h}, {"password", u.password}});
        ASSERT_EQ(r.status, 200u) << r.describe();
        const auto j = r.json();
        EXPECT_EQ(j.at("user").at("id"), u.id);
        EXPECT_EQ(j.at("user").at("handle"), u.handle);
        EXPECT_EQ(r.body.find("assword"), std::string::npos);
        const auto me = api().get("/api/me", j.at("token").get<std::string>());
        ASSERT_EQ(me.status, 200u);
        EXPECT_EQ(me.json().at("id"), u.id);
    }
}

TEST_F(Api, LoginFailuresAre401WithTheSameMessage) {
    const auto u = register_user(api(), "lgf");
    const auto wrong =
        api().post("/api/auth/login", {{"handle", u.handle}, {"password", "wrong-password"}});
    const auto unknown = api().post(
        "/api/auth/login", {{"handle", random_handle("nobody")}, {"password", u.password}});
    EXPECT_TRUE(is_error(wrong, 401, "unauthorized"));
    EXPECT_TRUE(is_error(unknown, 401, "unauthorized"));
    EXPECT_EQ(wrong.body, unknown.body) << "a login must not reveal which handles exist";
    EXPECT_TRUE(
        is_error(api().post("/api/auth/login", {{"handle", u.handle}}), 422, "validation_failed"));
}

TEST_F(Api, MeNeedsAValidBearerToken) {
    EXPECT_TRUE(is_error(api().get("/api/me"), 401, "unauthorized"));
    EXPECT_TRUE(is_error(api().get("/api/me", "not-a-token"), 401, "unauthorized"));
    EXPECT_TRUE(is_error(
        api().request("GET", "/api/me", std::nullopt, "", {{"Authorization", "Basic YTpi"}}), 401,
        "unauthorized"));
    EXPECT_TRUE(
        is_error(api().request("GET", "/api/me", std::nullopt, "", {{"Authorization", "Bearer"}}),
                 401, "unauthorized"));
    const auto u = register_user(api(), "me");
    // The scheme is "Bearer " exactly.
    EXPECT_TRUE(is_error(
        api().request("GET", "/api/me", std::nullopt, "", {{"Authorization", "bearer " + u.token}}),
        401, "unauthorized"));
    EXPECT_EQ(api().get("/api/me", u.token).status, 200u);
}

// ============================================================================ JWT at the HTTP
// layer

TEST_F(Api, ForgedAndExpiredTokensAre401) {
    const auto u = register_user(api(), "jwt");
    const auto v = register_user(api(), "jwtv");
    const long long uid = std::stoll(u.id);
    const auto now = auth::unix_now();

    // Positive control: a token we sign with the dev secret is accepted, so the 401s below are
    // about the token, not about our signing.
    const auto good = sign_token(dev_jwt_secret, uid, u.handle, now);
    ASSERT_EQ(api().get("/api/me", good).status, 200u);

    auto split = [](const std::string& t) {
        const auto a = t.find('.');
        const auto b = t.find('.', a + 1);
        return std::array<std::string, 3>{t.substr(0, a), t.substr(a + 1, b - a - 1),
                                          t.substr(b + 1)};
    };
    const auto p = split(good);
    auto b64 = [](const json& j) { return auth::base64url_encode(j.dump()); };

    std::map<std::string, std::string> bad;
    bad["expired"] = sign_token(dev_jwt_secret, uid, u.handle, now - 7200, 3600);
    bad["wrong secret"] = sign_token("some-other-secret-0123456789abc", uid, u.handle, now);
    {
        auto payload = json::parse(*auth::base64url_decode(p[1]));
        payload["sub"] = v.id;  // become v
        bad["tampered payload"] = p[0] + "." + b64(payload) + "." + p[2];
    }
    bad["alg none"] = b64({{"alg", "none"}, {"typ", "JWT"}}) + "." + p[1] + ".";
    bad["alg none with signature"] =
        b64({{"alg", "none"}, {"typ", "JWT"}}) + "." + p[1] + "." + p[2];
    bad["alg HS512"] = b64({{"alg", "HS512"}, {"typ", "JWT"}}) + "." + p[1] + "." + p[2];
    bad["two parts"] = p[0] + "." + p[1];
    bad["four parts"] = good + ".x";
    bad["garbage"] = "a.b.c";
    bad["truncated signature"] = good.substr(0, good.size() - 4);

    for (const auto& [what, token] : bad) {
        EXPECT_TRUE(is_error(api().get("/api/me", token), 401, "unauthorized")) << what;
        // A write with it is refused too, and appends nothing.
        EXPECT_TRUE(is_error(api().post("/api/tweets", {{"content", "forged " + what}}, token), 401,
                             "unauthorized"))
            << what;
    }
    EXPECT_EQ(api().get("/api/users/" + u.handle + "/tweets").json().at("items").size(), 0u);
    EXPECT_EQ(api().get("/api/users/" + v.handle + "/tweets").json().at("items").size(), 0u);
}

TEST_F(Api, TokenOfAnUnknownUserIs401) {
    const auto token = sign_token(dev_jwt_secret, 987654321, "ghost", auth::unix_now());
    EXPECT_TRUE(is_error(api().get("/api/me", token), 401, "unauthorized"));
    EXPECT_TRUE(
        is_error(api().post("/api/tweets", {{"content", "boo"}}, token), 401, "unauthorized"));
}

// ============================================================================ users and follows

TEST_F(Api, GetUserByHandleIgnoringCase) {
    const auto u = register_user(api(), "gu");
    std::string upper = u.handle;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    for (const auto& h : {u.handle, upper}) {
        const auto r = api().get("/api/users/" + h);
        ASSERT_EQ(r.status, 200u) << r.describe();
        const auto j = r.json();
        EXPECT_EQ(j.at("id"), u.id);
        EXPECT_EQ(j.at("handle"), u.handle);
        EXPECT_TRUE(j.contains("followers") && j.contains("following") && j.contains("tweets"));
        EXPECT_FALSE(j.contains("followedByMe")) << "anonymous";
    }
    EXPECT_FALSE(api().get("/api/users/" + u.handle, u.token).json().contains("followedByMe"))
        << "not about yourself";
    const auto other = register_user(api(), "gu2");
    EXPECT_EQ(api().get("/api/users/" + u.handle, other.token).json().at("followedByMe"), false);
    EXPECT_TRUE(is_error(api().get("/api/users/" + random_handle("none")), 404, "not_found"));
    EXPECT_TRUE(is_error(api().get("/api/users/x"), 404, "not_found"));
}

TEST_F(Api, SearchUsersByHandlePrefix) {
    const std::string prefix = "s" + random_token(5);
    std::vector<std::string> handles;
    for (int i = 0; i < 3; ++i) handles.push_back(register_user(api(), prefix).handle);
    std::sort(handles.begin(), handles.end());

    auto r = api().get("/api/users?q=" + prefix);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(handles_of(r.json().at("items")), handles);

    std::string upper = prefix;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    r = api().get("/api/users?q=" + upper);
    EXPECT_EQ(handles_of(r.json().at("items")), handles) << "case-insensitive";

    r = api().get("/api/users?q=" + prefix + "&limit=2");
    EXPECT_EQ(handles_of(r.json().at("items")), (std::vector<std::string>{handles[0], handles[1]}));

    r = api().get("/api/users?q=" + handles[1]);
    EXPECT_EQ(handles_of(r.json().at("items")), std::vector<std::string>{handles[1]});

    EXPECT_EQ(api().get("/api/users?q=zz" + random_token(10)).json().at("items").size(), 0u);
}

TEST_F(Api, SearchTreatsLikeWildcardsLiterally) {
    const auto under = register_user(api(), "_w");
    // '_' and '%' are LIKE wildcards: searching them must match them literally.
    for (const char* q : {"_", "_w"}) {
        const auto r = api().get(std::string("/api/users?limit=100&q=") + q);
        ASSERT_EQ(r.status, 200u) << r.describe();
        const auto items = r.json().at("items");
        EXPECT_FALSE(items.empty());
        for (const auto& h : handles_of(items))
            EXPECT_EQ(h.rfind(q, 0), 0u) << q << " matched " << h;
    }
    EXPECT_EQ(api().get("/api/users?q=%25").json().at("items").size(), 0u);
    EXPECT_EQ(api().get("/api/users?q=%5C").json().at("items").size(), 0u);
    (void)under;
}

TEST_F(Api, SearchRejectsBadParameters) {
    EXPECT_TRUE(is_error(api().get("/api/users?q=" + repeat("a", 16)), 400, "bad_request"));
    for (const char* limit : {"0", "101", "-1", "abc", "1.5", "99999999999999999999"})
        EXPECT_TRUE(
            is_error(api().get(std::string("/api/users?q=a&limit=") + limit), 400, "bad_request"))
            << limit;
    EXPECT_TRUE(is_error(api().get("/api/users?q=%FF"), 400, "bad_request")) << "not UTF-8";
}

TEST_F(Api, FollowAndUnfollowAreIdempotent) {
    const auto a = register_user(api(), "fa");
    const auto b = register_user(api(), "fb");
    const auto events_before = all_events(api(), a).size();

    auto r = api().post_empty("/api/users/" + b.handle + "/follow", a.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    auto j = r.json();
    EXPECT_EQ(j.at("id"), b.id) << "the followed user";
    EXPECT_EQ(j.at("followers"), 1);
    EXPECT_EQ(j.at("followedByMe"), true);
    EXPECT_EQ(all_events(api(), a).size(), events_before + 1);

    r = api().post_empty("/api/users/" + b.handle + "/follow", a.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(r.json().at("followers"), 1);
    EXPECT_EQ(all_events(api(), a).size(), events_before + 1) << "following again appends nothing";

    EXPECT_EQ(api().get("/api/users/" + a.handle).json().at("following"), 1);
    EXPECT_EQ(api().get("/api/users/" + b.handle, a.token).json().at("followedByMe"), true);
    EXPECT_EQ(ids_of(api().get("/api/users/" + b.handle + "/followers").json().at("items")),
              std::vector<std::string>{a.id});
    EXPECT_EQ(ids_of(api().get("/api/users/" + a.handle + "/following").json().at("items")),
              std::vector<std::string>{b.id});

    r = api().del("/api/users/" + b.handle + "/follow", a.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(r.json().at("followers"), 0);
    EXPECT_EQ(r.json().at("followedByMe"), false);
    r = api().del("/api/users/" + b.handle + "/follow", a.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    const auto ev = all_events(api(), a);
    ASSERT_EQ(ev.size(), events_before + 2) << "unfollowing twice appends one event";
    EXPECT_EQ(ev[ev.size() - 2].at("type"), "UserFollowed");
    EXPECT_EQ(ev.back().at("type"), "UserUnfollowed");
    EXPECT_EQ(api().get("/api/users/" + b.handle + "/followers").json().at("items").size(), 0u);
    EXPECT_EQ(api().get("/api/users/" + a.handle).json().at("following"), 0);
}

TEST_F(Api, FollowFailures) {
    const auto a = register_user(api(), "ff");
    EXPECT_TRUE(is_error(api().post_empty("/api/users/" + a.handle + "/follow", a.token), 422,
                         "validation_failed"));
    EXPECT_TRUE(is_error(api().post_empty("/api/users/" + random_handle("nx") + "/follow", a.token),
                         404, "not_found"));
    EXPECT_TRUE(is_error(api().post_empty("/api/users/x/follow", a.token), 404, "not_found"));
    const auto b = register_user(api(), "ff2");
    EXPECT_TRUE(
        is_error(api().post_empty("/api/users/" + b.handle + "/follow"), 401, "unauthorized"));
    EXPECT_TRUE(is_error(api().del("/api/users/" + b.handle + "/follow"), 401, "unauthorized"));
    EXPECT_EQ(api().get("/api/users/" + b.handle).json().at("followers"), 0);
}

TEST_F(Api, FollowerListsPageNewestFirst) {
    const auto star = register_user(api(), "star");
    std::vector<std::string> fans;
    for (int i = 0; i < 5; ++i) {
        const auto f = register_user(api(), "fan");
        ASSERT_EQ(api().post_empty("/api/users/" + star.handle + "/follow", f.token).status, 200u);
        fans.push_back(f.id);
    }
    std::reverse(fans.begin(), fans.end());  // newest first
    const auto pages = all_pages(api(), "/api/users/" + star.handle + "/followers", "", 2);
    std::vector<std::string> got;
    for (const auto& u : pages) got.push_back(u.at("id").get<std::string>());
    EXPECT_EQ(got, fans);
    EXPECT_EQ(api().get("/api/users/" + star.handle).json().at("followers"), 5);
    EXPECT_TRUE(
        is_error(api().get("/api/users/" + random_handle("nx") + "/followers"), 404, "not_found"));
    EXPECT_TRUE(
        is_error(api().get("/api/users/" + random_handle("nx") + "/following"), 404, "not_found"));
    EXPECT_TRUE(is_error(api().get("/api/users/" + star.handle + "/followers?before=abc"), 400,
                         "bad_request"));
    EXPECT_TRUE(is_error(api().get("/api/users/" + star.handle + "/followers?limit=0"), 400,
                         "bad_request"));
}

// ============================================================================ tweets

TEST_F(Api, CreateTweetReturnsTheTweet) {
    const auto a = register_user(api(), "tw");
    const auto b = register_user(api(), "twb");
    const auto r = api().post(
        "/api/tweets",
        {{"content", "  hello @" + b.handle + " and @nosuchuser_zz #Cpp #cpp #Rust  "}}, a.token);
    ASSERT_EQ(r.status, 201u) << r.describe();
    const auto t = r.json();
    EXPECT_TRUE(is_id(t.at("id")));
    EXPECT_EQ(t.at("content"), "hello @" + b.handle + " and @nosuchuser_zz #Cpp #cpp #Rust");
    EXPECT_EQ(t.at("author"),
              (json{{"id", a.id}, {"handle", a.handle}, {"displayName", "User " + a.handle}}));
    EXPECT_TRUE(is_timestamp(t.at("createdAt")));
    EXPECT_TRUE(t.at("replyTo").is_null());
    EXPECT_TRUE(t.at("retweetOf").is_null());
    EXPECT_EQ(t.at("mentions"), json::array({b.handle})) << "only existing users";
    EXPECT_EQ(t.at("hashtags"), json::array({"cpp", "rust"}));
    EXPECT_EQ(t.at("likes"), 0);
    EXPECT_EQ(t.at("retweets"), 0);
    EXPECT_EQ(t.at("replies"), 0);
    EXPECT_EQ(t.at("likedByMe"), false);
    EXPECT_EQ(t.at("retweetedByMe"), false);

    const auto g = api().get("/api/tweets/" + t.at("id").get<std::string>());
    ASSERT_EQ(g.status, 200u) << g.describe();
    EXPECT_EQ(g.json(), t) << "anonymous read gives the same tweet";
    EXPECT_EQ(api().get("/api/users/" + a.handle).json().at("tweets"), 1);
}

TEST_F(Api, AuthorComesFromTheTokenNotTheBody) {
    const auto a = register_user(api(), "ta");
    const auto b = register_user(api(), "tb");
    const auto r = api().post("/api/tweets",
                              {{"content", "who wrote this"},
                               {"authorId", b.id},
                               {"userId", b.id},
                               {"author", {{"id", b.id}}}},
                              a.token);
    ASSERT_EQ(r.status, 201u) << r.describe();
    EXPECT_EQ(r.json().at("author").at("id"), a.id);
    EXPECT_EQ(api().get("/api/users/" + b.handle).json().at("tweets"), 0);
}

TEST_F(Api, TweetLengthIsCountedInCodePointsAfterTrimming) {
    const auto a = register_user(api(), "len");
    for (const auto& content :
         {repeat("a", 280), repeat("\xF0\x9F\x98\x80", 280), repeat("\xE6\x97\xA5", 280),
          "  " + repeat("b", 280) + "\n\t\xE3\x80\x80"}) {
        const auto r = api().post("/api/tweets", {{"content", content}}, a.token);
        EXPECT_EQ(r.status, 201u) << r.describe();
    }
    for (const auto& content :
         {repeat("a", 281), repeat("\xF0\x9F\x98\x80", 281), repeat("\xE6\x97\xA5", 281),
          std::string(""), std::string("   "), std::string("\xE3\x80\x80\xC2\xA0\n")}) {
        EXPECT_TRUE(is_error(api().post("/api/tweets", {{"content", content}}, a.token), 422,
                             "validation_failed"))
            << content.size() << " bytes";
    }
    EXPECT_EQ(api().get("/api/users/" + a.handle).json().at("tweets"), 4);
}

TEST_F(Api, CreateTweetFailures) {
    const auto a = register_user(api(), "tf");
    EXPECT_TRUE(is_error(api().post("/api/tweets", {{"content", "x"}}), 401, "unauthorized"));
    EXPECT_TRUE(
        is_error(api().post("/api/tweets", json::object(), a.token), 422, "validation_failed"));
    EXPECT_TRUE(
        is_error(api().post("/api/tweets", {{"content", 5}}, a.token), 422, "validation_failed"));
    EXPECT_TRUE(is_error(api().post("/api/tweets", {{"content", {"x"}}}, a.token), 422,
                         "validation_failed"));
    EXPECT_TRUE(is_error(api().post("/api/tweets", {{"content", "x"}, {"replyTo", "abc"}}, a.token),
                         422, "validation_failed"));
    EXPECT_TRUE(is_error(api().post("/api/tweets", {{"content", "x"}, {"replyTo", 5}}, a.token),
                         422, "validation_failed"));
    EXPECT_TRUE(
        is_error(api().post("/api/tweets", {{"content", "x"}, {"replyTo", "999999999"}}, a.token),
                 404, "not_found"));
    EXPECT_EQ(api().get("/api/users/" + a.handle).json().at("tweets"), 0);
}

TEST_F(Api, RepliesCountAndList) {
    const auto a = register_user(api(), "ra");
    const auto b = register_user(api(), "rb");
    const auto parent = post_tweet(api(), a, "parent");
    const auto r1 = post_tweet(api(), b, "first reply", parent);
    const auto r2 = post_tweet(api(), a, "second reply", parent);
    const auto t = api().get("/api/tweets/" + parent).json();
    EXPECT_EQ(t.at("replies"), 2);
    const auto reply = api().get("/api/tweets/" + r1).json();
    EXPECT_EQ(reply.at("replyTo"), parent);
    const auto list = api().get("/api/tweets/" + parent + "/replies");
    ASSERT_EQ(list.status, 200u) << list.describe();
    EXPECT_EQ(ids_of(list.json().at("items")), (std::vector<std::string>{r2, r1}));
    EXPECT_TRUE(is_error(api().get("/api/tweets/999999999/replies"), 404, "not_found"));
    // Deleting a reply lowers the count and removes it from the list.
    ASSERT_EQ(api().del("/api/tweets/" + r1, b.token).status, 200u);
    EXPECT_EQ(api().get("/api/tweets/" + parent).json().at("replies"), 1);
    EXPECT_EQ(ids_of(api().get("/api/tweets/" + parent + "/replies").json().at("items")),
              std::vector<std::string>{r2});
}

TEST_F(Api, DeleteIsForTheAuthorOnly) {
    const auto a = register_user(api(), "da");
    const auto b = register_user(api(), "db");
    const auto id = post_tweet(api(), a, "mine");
    EXPECT_TRUE(is_error(api().del("/api/tweets/" + id), 401, "unauthorized"));
    EXPECT_TRUE(is_error(api().del("/api/tweets/" + id, b.token), 403, "forbidden"));
    ASSERT_EQ(api().get("/api/tweets/" + id).status, 200u) << "still there";

    const auto r = api().del("/api/tweets/" + id, a.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(r.json(), (json{{"deleted", id}}));
    EXPECT_TRUE(is_error(api().get("/api/tweets/" + id), 404, "not_found"));
    EXPECT_TRUE(is_error(api().del("/api/tweets/" + id, a.token), 404, "not_found"));
    EXPECT_TRUE(is_error(api().del("/api/tweets/999999999", a.token), 404, "not_found"));
    EXPECT_EQ(api().get("/api/users/" + a.handle).json().at("tweets"), 0);
    EXPECT_EQ(api().get("/api/users/" + a.handle + "/tweets").json().at("items").size(), 0u);
}

TEST_F(Api, LikeAndUnlikeAreIdempotent) {
    const auto a = register_user(api(), "la");
    const auto b = register_user(api(), "lb");
    const auto id = post_tweet(api(), a, "like me");
    const auto before = all_events(api(), b).size();

    auto r = api().post_empty("/api/tweets/" + id + "/like", b.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(r.json().at("likes"), 1);
    EXPECT_EQ(r.json().at("likedByMe"), true);
    r = api().post_empty("/api/tweets/" + id + "/like", b.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(r.json().at("likes"), 1);
    EXPECT_EQ(all_events(api(), b).size(), before + 1);

    EXPECT_EQ(api().get("/api/tweets/" + id, b.token).json().at("likedByMe"), true);
    EXPECT_EQ(api().get("/api/tweets/" + id, a.token).json().at("likedByMe"), false);

    r = api().del("/api/tweets/" + id + "/like", b.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(r.json().at("likes"), 0);
    EXPECT_EQ(r.json().at("likedByMe"), false);
    r = api().del("/api/tweets/" + id + "/like", b.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(all_events(api(), b).size(), before + 2);

    EXPECT_TRUE(is_error(api().post_empty("/api/tweets/" + id + "/like"), 401, "unauthorized"));
    EXPECT_TRUE(
        is_error(api().post_empty("/api/tweets/999999999/like", b.token), 404, "not_found"));
    EXPECT_TRUE(is_error(api().del("/api/tweets/999999999/like", b.token), 404, "not_found"));
    ASSERT_EQ(api().del("/api/tweets/" + id, a.token).status, 200u);
    EXPECT_TRUE(
        is_error(api().post_empty("/api/tweets/" + id + "/like", b.token), 404, "not_found"));
}

TEST_F(Api, RetweetEmbedsTheOriginalAndOnlyOnce) {
    const auto a = register_user(api(), "rta");
    const auto b = register_user(api(), "rtb");
    const auto c = register_user(api(), "rtc");
    const auto id = post_tweet(api(), a, "worth sharing #news");

    auto r = api().post_empty("/api/tweets/" + id + "/retweet", b.token);
    ASSERT_EQ(r.status, 201u) << r.describe();
    const auto rt = r.json();
    EXPECT_NE(rt.at("id"), id);
    EXPECT_EQ(rt.at("author").at("id"), b.id);
    ASSERT_TRUE(rt.at("retweetOf").is_object());
    EXPECT_EQ(rt.at("retweetOf").at("id"), id);
    EXPECT_EQ(rt.at("retweetOf").at("content"), "worth sharing #news");
    EXPECT_EQ(rt.at("retweetOf").at("retweets"), 1);
    EXPECT_EQ(rt.at("retweetOf").at("retweetedByMe"), true);
    EXPECT_EQ(api().get("/api/tweets/" + id).json().at("retweets"), 1);

    EXPECT_TRUE(
        is_error(api().post_empty("/api/tweets/" + id + "/retweet", b.token), 409, "conflict"));
    // Retweeting the retweet retweets the original: a conflict for b, a new retweet for c.
    const auto rt_id = rt.at("id").get<std::string>();
    EXPECT_TRUE(
        is_error(api().post_empty("/api/tweets/" + rt_id + "/retweet", b.token), 409, "conflict"));
    r = api().post_empty("/api/tweets/" + rt_id + "/retweet", c.token);
    ASSERT_EQ(r.status, 201u) << r.describe();
    EXPECT_EQ(r.json().at("retweetOf").at("id"), id);
    EXPECT_EQ(api().get("/api/tweets/" + id).json().at("retweets"), 2);

    EXPECT_TRUE(is_error(api().post_empty("/api/tweets/" + id + "/retweet"), 401, "unauthorized"));
    EXPECT_TRUE(
        is_error(api().post_empty("/api/tweets/999999999/retweet", b.token), 404, "not_found"));

    // The retweet shows in b's tweets; deleting the original removes every retweet of it.
    EXPECT_EQ(ids_of(api().get("/api/users/" + b.handle + "/tweets").json().at("items")),
              std::vector<std::string>{rt_id});
    ASSERT_EQ(api().del("/api/tweets/" + id, a.token).status, 200u);
    EXPECT_TRUE(is_error(api().get("/api/tweets/" + rt_id), 404, "not_found"));
    EXPECT_EQ(api().get("/api/users/" + b.handle + "/tweets").json().at("items").size(), 0u);
    EXPECT_EQ(api().get("/api/users/" + b.handle).json().at("tweets"), 0);
    EXPECT_TRUE(
        is_error(api().post_empty("/api/tweets/" + id + "/retweet", c.token), 404, "not_found"));
}

TEST_F(Api, UserTweetsPageNewestFirst) {
    const auto a = register_user(api(), "ut");
    std::vector<std::string> ids;
    for (int i = 0; i < 7; ++i) ids.push_back(post_tweet(api(), a, "tweet " + std::to_string(i)));
    std::reverse(ids.begin(), ids.end());
    const auto pages = all_pages(api(), "/api/users/" + a.handle + "/tweets", "", 3);
    std::vector<std::string> got;
    for (const auto& t : pages) got.push_back(t.at("id").get<std::string>());
    EXPECT_EQ(got, ids);
    EXPECT_TRUE(
        is_error(api().get("/api/users/" + random_handle("nx") + "/tweets"), 404, "not_found"));
}

// ============================================================================ timeline

TEST_F(Api, TimelineHasOwnAndFolloweesTweetsNewestFirst) {
    const auto a = register_user(api(), "tla");
    const auto b = register_user(api(), "tlb");
    const auto c = register_user(api(), "tlc");
    ASSERT_EQ(api().post_empty("/api/users/" + b.handle + "/follow", a.token).status, 200u);
    const auto t1 = post_tweet(api(), a, "a1");
    const auto t2 = post_tweet(api(), b, "b1");
    const auto t3 = post_tweet(api(), c, "c1 (not followed)");
    const auto t4 = post_tweet(api(), b, "b2 reply", t1);
    const auto rt = api()
                        .post_empty("/api/tweets/" + t3 + "/retweet", b.token)
                        .json()
                        .at("id")
                        .get<std::string>();
    const auto t5 = post_tweet(api(), a, "a2");

    const auto expected = std::vector<std::string>{t5, rt, t4, t2, t1};
    auto r = api().get("/api/timeline", a.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(ids_of(r.json().at("items")), expected);

    const auto pages = all_pages(api(), "/api/timeline", a.token, 2);
    std::vector<std::string> got;
    for (const auto& t : pages) got.push_back(t.at("id").get<std::string>());
    EXPECT_EQ(got, expected);

    // Unfollowing removes b's tweets; deleting removes a tweet.
    ASSERT_EQ(api().del("/api/users/" + b.handle + "/follow", a.token).status, 200u);
    ASSERT_EQ(api().del("/api/tweets/" + t1, a.token).status, 200u);
    EXPECT_EQ(ids_of(api().get("/api/timeline", a.token).json().at("items")),
              std::vector<std::string>{t5});

    EXPECT_TRUE(is_error(api().get("/api/timeline"), 401, "unauthorized"));
    EXPECT_TRUE(is_error(api().get("/api/timeline?limit=1000", a.token), 400, "bad_request"));
    EXPECT_TRUE(is_error(api().get("/api/timeline?before=-5", a.token), 400, "bad_request"));
}

// ============================================================================ notifications

TEST_F(Api, NotificationsForEveryKindButNeverForYourself) {
    const auto a = register_user(api(), "na");
    const auto b = register_user(api(), "nb");
    const auto own = post_tweet(api(), b, "my own tweet");
    // b acting on b's own tweet: no notification.
    ASSERT_EQ(api().post_empty("/api/tweets/" + own + "/like", b.token).status, 200u);
    ASSERT_EQ(post_tweet(api(), b, "self reply @" + b.handle, own).empty(), false);

    ASSERT_EQ(api().post_empty("/api/users/" + b.handle + "/follow", a.token).status, 200u);
    ASSERT_EQ(api().post_empty("/api/tweets/" + own + "/like", a.token).status, 200u);
    ASSERT_EQ(api().post_empty("/api/tweets/" + own + "/retweet", a.token).status, 201u);
    const auto reply = post_tweet(api(), a, "a reply", own);
    const auto mention = post_tweet(api(), a, "hey @" + b.handle);

    const auto j = notifications_of(api(), b);
    const auto& items = j.at("items");
    std::vector<std::string> types;
    for (const auto& n : items) {
        types.push_back(n.at("type").get<std::string>());
        EXPECT_EQ(n.at("actor").at("id"), a.id) << n;
        EXPECT_EQ(n.at("read"), false);
        EXPECT_TRUE(is_timestamp(n.at("createdAt")));
        EXPECT_EQ(n.at("id"), n.at("seq"));
    }
    EXPECT_EQ(types, (std::vector<std::string>{"mention", "reply", "retweet", "like", "follow"}))
        << "newest first";
    EXPECT_EQ(j.at("unread"), 5);
    ASSERT_EQ(items.size(), 5u);
    EXPECT_EQ(items[0].at("tweet").at("id"), mention);
    EXPECT_EQ(items[1].at("tweet").at("id"), reply);
    EXPECT_EQ(items[3].at("tweet").at("id"), own);
    EXPECT_TRUE(items[4].at("tweet").is_null());

    // a only has notifications addressed to a (none).
    const auto mine = notifications_of(api(), a);
    EXPECT_EQ(mine.at("items").size(), 0u);
    EXPECT_EQ(mine.at("unread"), 0);
}

TEST_F(Api, ReplyMentioningTheParentAuthorNotifiesOnce) {
    const auto a = register_user(api(), "rma");
    const auto b = register_user(api(), "rmb");
    const auto parent = post_tweet(api(), b, "parent");
    post_tweet(api(), a, "@" + b.handle + " replying", parent);
    const auto items = notifications_of(api(), b).at("items");
    ASSERT_EQ(items.size(), 1u) << items;
    EXPECT_EQ(items[0].at("type"), "reply");
}

TEST_F(Api, MarkingNotificationsRead) {
    const auto a = register_user(api(), "mra");
    const auto b = register_user(api(), "mrb");
    const auto c = register_user(api(), "mrc");
    const auto t = post_tweet(api(), b, "t");
    ASSERT_EQ(api().post_empty("/api/users/" + b.handle + "/follow", a.token).status, 200u);
    ASSERT_EQ(api().post_empty("/api/tweets/" + t + "/like", a.token).status, 200u);
    ASSERT_EQ(api().post_empty("/api/users/" + b.handle + "/follow", c.token).status, 200u);
    ASSERT_EQ(api().post_empty("/api/users/" + c.handle + "/follow", b.token).status, 200u);  // c's

    auto items = notifications_of(api(), b).at("items");
    ASSERT_EQ(items.size(), 3u);
    const auto middle = items[1].at("seq").get<std::string>();

    auto r = api().post("/api/notifications/read", {{"upTo", middle}}, b.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(r.json(), (json{{"unread", 1}}));
    auto j = notifications_of(api(), b);
    EXPECT_EQ(j.at("unread"), 1);
    EXPECT_EQ(j.at("items")[0].at("read"), false);
    EXPECT_EQ(j.at("items")[1].at("read"), true);
    EXPECT_EQ(j.at("items")[2].at("read"), true);

    // Reading never goes backwards.
    r = api().post("/api/notifications/read", {{"upTo", items[2].at("seq")}}, b.token);
    EXPECT_EQ(r.json(), (json{{"unread", 1}}));

    // c's notification is untouched by b.
    EXPECT_EQ(notifications_of(api(), c).at("unread"), 1);

    // Without upTo (and even without a body): everything.
    r = api().post_empty("/api/notifications/read", b.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(r.json(), (json{{"unread", 0}}));
    EXPECT_EQ(notifications_of(api(), b).at("unread"), 0);
    EXPECT_EQ(notifications_of(api(), c).at("unread"), 1);
    r = api().post("/api/notifications/read", json::object(), c.token);
    EXPECT_EQ(r.json(), (json{{"unread", 0}}));

    // An upTo beyond the newest notification does not mark future ones read.
    r = api().post("/api/notifications/read", {{"upTo", "9223372036854775807"}}, c.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(r.json(), (json{{"unread", 0}}));
    ASSERT_EQ(api().post_empty("/api/users/" + c.handle + "/follow", a.token).status, 200u);
    EXPECT_EQ(notifications_of(api(), c).at("unread"), 1);
    EXPECT_EQ(notifications_of(api(), c).at("items")[0].at("read"), false);

    EXPECT_TRUE(is_error(api().post("/api/notifications/read", {{"upTo", "abc"}}, b.token), 422,
                         "validation_failed"));
    EXPECT_TRUE(is_error(api().post("/api/notifications/read", {{"upTo", 5}}, b.token), 422,
                         "validation_failed"));
    EXPECT_TRUE(is_error(api().post_empty("/api/notifications/read"), 401, "unauthorized"));
    EXPECT_TRUE(is_error(api().get("/api/notifications"), 401, "unauthorized"));
}

TEST_F(Api, NotificationsPage) {
    const auto b = register_user(api(), "npb");
    for (int i = 0; i < 5; ++i) {
        const auto f = register_user(api(), "npf");
        ASSERT_EQ(api().post_empty("/api/users/" + b.handle + "/follow", f.token).status, 200u);
    }
    const auto pages = all_pages(api(), "/api/notifications", b.token, 2);
    ASSERT_EQ(pages.size(), 5u);
    for (std::size_t i = 1; i < pages.size(); ++i)
        EXPECT_GT(std::stoll(pages[i - 1].at("seq").get<std::string>()),
                  std::stoll(pages[i].at("seq").get<std::string>()));
}

// ============================================================================ audit trail

TEST_F(Api, EventsAreTheCallersOwnInSeqOrder) {
    const auto a = register_user(api(), "ea");
    const auto b = register_user(api(), "eb");
    const auto t = post_tweet(api(), a, "event one");
    ASSERT_EQ(api().post_empty("/api/users/" + b.handle + "/follow", a.token).status, 200u);
    ASSERT_EQ(api().post_empty("/api/tweets/" + t + "/like", b.token).status, 200u);  // b's event
    ASSERT_EQ(api().post_empty("/api/tweets/" + t + "/like", a.token).status, 200u);
    ASSERT_EQ(api().del("/api/tweets/" + t, a.token).status, 200u);

    const auto ev = all_events(api(), a);
    std::vector<std::string> types;
    long long last = 0;
    for (const auto& e : ev) {
        types.push_back(e.at("type").get<std::string>());
        EXPECT_EQ(e.at("userId"), a.id) << e;
        const auto seq = std::stoll(e.at("seq").get<std::string>());
        EXPECT_GT(seq, last);
        last = seq;
        EXPECT_TRUE(is_timestamp(e.at("timestamp")));
        EXPECT_EQ(e.at("version"), 1);
        EXPECT_EQ(e.at("id").get<std::string>().size(), 36u) << "a UUID";
        EXPECT_TRUE(e.at("payload").is_object());
    }
    EXPECT_EQ(types, (std::vector<std::string>{"UserRegistered", "TweetCreated", "UserFollowed",
                                               "TweetLiked", "TweetDeleted"}));
    ASSERT_FALSE(ev.empty());
    EXPECT_FALSE(ev[0].at("payload").contains("passwordHash")) << ev[0];
    EXPECT_EQ(ev[0].at("payload").dump().find("argon2"), std::string::npos);

    // after= and limit= page through the same sequence.
    const auto first_two = api().get("/api/events?limit=2", a.token).json();
    ASSERT_EQ(first_two.at("items").size(), 2u);
    const auto rest =
        api()
            .get("/api/events?after=" + first_two.at("nextCursor").get<std::string>(), a.token)
            .json();
    EXPECT_EQ(rest.at("items").size(), 3u);
    EXPECT_TRUE(rest.at("nextCursor").is_null());
    EXPECT_EQ(rest.at("items")[0], ev[2]);

    EXPECT_TRUE(is_error(api().get("/api/events"), 401, "unauthorized"));
    EXPECT_TRUE(is_error(api().get("/api/events?after=x", a.token), 400, "bad_request"));
}

// ============================================================================ direct messages

TEST_F(Api, ConversationsAndMessages) {
    const auto a = register_user(api(), "ca");
    const auto b = register_user(api(), "cb");
    const auto c = register_user(api(), "cc");

    auto r = api().post("/api/conversations", {{"participants", {b.handle}}}, a.token);
    ASSERT_EQ(r.status, 201u) << r.describe();
    const auto conv = r.json();
    const auto cid = conv.at("id").get<std::string>();
    EXPECT_TRUE(is_id(conv.at("id")));
    EXPECT_EQ(ids_of(conv.at("participants")), (std::vector<std::string>{a.id, b.id}));
    EXPECT_TRUE(conv.at("lastMessage").is_null());
    EXPECT_TRUE(is_timestamp(conv.at("createdAt")));

    // The same people again (in any spelling, from either side): the same conversation, 200.
    std::string upper = b.handle;
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    r = api().post("/api/conversations", {{"participants", {upper, b.handle}}}, a.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(r.json().at("id"), cid);
    r = api().post("/api/conversations", {{"participants", {a.handle}}}, b.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(r.json().at("id"), cid);

    r = api().post("/api/conversations/" + cid + "/messages", {{"content", "  hi b  "}}, a.token);
    ASSERT_EQ(r.status, 201u) << r.describe();
    const auto msg = r.json();
    EXPECT_EQ(msg.at("content"), "hi b");
    EXPECT_EQ(msg.at("conversationId"), cid);
    EXPECT_EQ(msg.at("sender").at("id"), a.id);
    EXPECT_TRUE(is_id(msg.at("seq")));
    r = api().post("/api/conversations/" + cid + "/messages", {{"content", "hi a"}}, b.token);
    ASSERT_EQ(r.status, 201u) << r.describe();
    const auto reply = r.json();

    r = api().get("/api/conversations/" + cid + "/messages", b.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(ids_of(r.json().at("items")),
              (std::vector<std::string>{reply.at("id").get<std::string>(),
                                        msg.at("id").get<std::string>()}));

    // Lists: newest activity first, only your own conversations.
    const auto group =
        api().post("/api/conversations", {{"participants", {b.handle, c.handle}}}, a.token);
    ASSERT_EQ(group.status, 201u) << group.describe();
    const auto gid = group.json().at("id").get<std::string>();
    r = api().get("/api/conversations", b.token);
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(ids_of(r.json().at("items")), (std::vector<std::string>{gid, cid}));
    EXPECT_EQ(r.json().at("items")[1].at("lastMessage").at("id"), reply.at("id"));
    r = api().get("/api/conversations", c.token);
    EXPECT_EQ(ids_of(r.json().at("items")), std::vector<std::string>{gid});

    // b was notified of a's message, a of b's; nobody of their own.
    const auto nb = notifications_of(api(), b).at("items");
    ASSERT_EQ(nb.size(), 1u) << nb;
    EXPECT_EQ(nb[0].at("type"), "message");
    EXPECT_EQ(nb[0].at("conversationId"), cid);
    EXPECT_EQ(nb[0].at("actor").at("id"), a.id);
    EXPECT_EQ(notifications_of(api(), a).at("items").size(), 1u);

    // c is not in the first conversation: 403 for reading and writing.
    EXPECT_TRUE(
        is_error(api().get("/api/conversations/" + cid + "/messages", c.token), 403, "forbidden"));
    EXPECT_TRUE(is_error(
        api().post("/api/conversations/" + cid + "/messages", {{"content", "let me in"}}, c.token),
        403, "forbidden"));
    EXPECT_EQ(
        api().get("/api/conversations/" + cid + "/messages", a.token).json().at("items").size(),
        2u);
}

TEST_F(Api, ConversationAndMessageFailures) {
    const auto a = register_user(api(), "cfa");
    const auto b = register_user(api(), "cfb");
    auto post = [&](const json& body) { return api().post("/api/conversations", body, a.token); };
    EXPECT_TRUE(is_error(post({{"participants", json::array()}}), 422, "validation_failed"));
    EXPECT_TRUE(is_error(post(json::object()), 422, "validation_failed"));
    EXPECT_TRUE(is_error(post({{"participants", b.handle}}), 422, "validation_failed"));
    EXPECT_TRUE(is_error(post({{"participants", {5}}}), 422, "validation_failed"));
    EXPECT_TRUE(
        is_error(post({{"participants", {"no spaces allowed"}}}), 422, "validation_failed"));
    EXPECT_TRUE(is_error(post({{"participants", {a.handle}}}), 422, "validation_failed"))
        << "only yourself";
    EXPECT_TRUE(is_error(post({{"participants", {random_handle("nx")}}}), 404, "not_found"));
    EXPECT_TRUE(
        is_error(post({{"participants", {b.handle, random_handle("nx")}}}), 404, "not_found"));
    json ten = json::array();
    for (int i = 0; i < 10; ++i) ten.push_back(random_handle("p"));
    EXPECT_TRUE(is_error(post({{"participants", ten}}), 422, "validation_failed"));
    EXPECT_TRUE(is_error(api().post("/api/conversations", {{"participants", {b.handle}}}), 401,
                         "unauthorized"));

    const auto conv = post({{"participants", {b.handle}}});
    ASSERT_EQ(conv.status, 201u) << conv.describe();
    const auto cid = conv.json().at("id").get<std::string>();
    auto send = [&](const json& body) {
        return api().post("/api/conversations/" + cid + "/messages", body, a.token);
    };
    EXPECT_TRUE(is_error(send({{"content", "   "}}), 422, "validation_failed"));
    EXPECT_TRUE(is_error(send({{"content", repeat("m", 1001)}}), 422, "validation_failed"));
    EXPECT_EQ(send({{"content", repeat("\xE6\x97\xA5", 1000)}}).status, 201u);
    EXPECT_TRUE(is_error(send(json::object()), 422, "validation_failed"));
    EXPECT_TRUE(
        is_error(api().post("/api/conversations/999999999/messages", {{"content", "x"}}, a.token),
                 404, "not_found"));
    EXPECT_TRUE(
        is_error(api().get("/api/conversations/999999999/messages", a.token), 404, "not_found"));
    EXPECT_TRUE(is_error(api().get("/api/conversations", ""), 401, "unauthorized"));
    EXPECT_TRUE(
        is_error(api().get("/api/conversations/" + cid + "/messages"), 401, "unauthorized"));
}

// ============================================================================ authorization matrix

TEST_F(Api, AuthorizationMatrix) {
    const auto owner = register_user(api(), "own");
    const auto other = register_user(api(), "oth");
    const auto tweet = post_tweet(api(), owner, "owner's tweet @" + other.handle);
    ASSERT_EQ(api().post_empty("/api/users/" + owner.handle + "/follow", other.token).status, 200u);

    // Another user may read, like and retweet a tweet, but not delete it.
    EXPECT_EQ(api().get("/api/tweets/" + tweet, other.token).status, 200u);
    EXPECT_EQ(api().post_empty("/api/tweets/" + tweet + "/like", other.token).status, 200u);
    EXPECT_EQ(api().post_empty("/api/tweets/" + tweet + "/retweet", other.token).status, 201u);
    EXPECT_TRUE(is_error(api().del("/api/tweets/" + tweet, other.token), 403, "forbidden"));
    EXPECT_EQ(api().get("/api/tweets/" + tweet).status, 200u);

    // The owner cannot delete the other's retweet either.
    const auto rts = api().get("/api/users/" + other.handle + "/tweets").json().at("items");
    ASSERT_EQ(rts.size(), 1u);
    EXPECT_TRUE(
        is_error(api().del("/api/tweets/" + rts[0].at("id").get<std::string>(), owner.token), 403,
                 "forbidden"));

    // Notifications: each reads only their own, and reading marks only their own.
    const auto owner_n = notifications_of(api(), owner);
    const auto other_n = notifications_of(api(), other);
    for (const auto& n : owner_n.at("items")) EXPECT_EQ(n.at("actor").at("id"), other.id) << n;
    for (const auto& n : other_n.at("items")) EXPECT_EQ(n.at("actor").at("id"), owner.id) << n;
    EXPECT_EQ(owner_n.at("unread"), 3);  // follow, like, retweet
    EXPECT_EQ(other_n.at("unread"), 1);  // mention
    ASSERT_EQ(api()
                  .post("/api/notifications/read", {{"upTo", owner_n.at("items")[0].at("seq")}},
                        other.token)
                  .status,
              200u);
    EXPECT_EQ(notifications_of(api(), owner).at("unread"), 3)
        << "other cannot mark owner's as read";
    EXPECT_EQ(notifications_of(api(), other).at("unread"), 0);

    // Audit trails are private.
    for (const auto& e : all_events(api(), other)) EXPECT_EQ(e.at("userId"), other.id);
}

// ============================================================================ idempotency keys

TEST_F(Api, IdempotencyKeyReplaysTheOriginalAnswer) {
    const auto a = register_user(api(), "ik");
    const header_list key = {{"Idempotency-Key", "key-" + random_token(10)}};
    const json body = {{"content", "exactly once"}};

    const auto first = api().post("/api/tweets", body, a.token, key);
    ASSERT_EQ(first.status, 201u) << first.describe();
    EXPECT_FALSE(first.has_header("Idempotent-Replayed"));
    const auto events = all_events(api(), a).size();

    for (int i = 0; i < 3; ++i) {
        const auto again = api().post("/api/tweets", body, a.token, key);
        EXPECT_EQ(again.status, 201u);
        EXPECT_EQ(again.json(), first.json());
        EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
    }
    EXPECT_EQ(all_events(api(), a).size(), events) << "a replay appends nothing";
    EXPECT_EQ(api().get("/api/users/" + a.handle).json().at("tweets"), 1);

    // The same key with another body, or on another path: 409, nothing appended.
    EXPECT_TRUE(is_error(api().post("/api/tweets", {{"content", "something else"}}, a.token, key),
                         409, "conflict"));
    const auto t = first.json().at("id").get<std::string>();
    EXPECT_TRUE(
        is_error(api().request("POST", "/api/tweets/" + t + "/like", std::nullopt, a.token, key),
                 409, "conflict"));
    EXPECT_EQ(all_events(api(), a).size(), events);

    // Keys belong to users: another user's same key is a new request.
    const auto b = register_user(api(), "ik2");
    const auto theirs = api().post("/api/tweets", body, b.token, key);
    ASSERT_EQ(theirs.status, 201u) << theirs.describe();
    EXPECT_NE(theirs.json().at("id"), first.json().at("id"));
    EXPECT_EQ(theirs.json().at("author").at("id"), b.id);
}

TEST_F(Api, IdempotencyKeyOnOtherCommands) {
    const auto a = register_user(api(), "ikc");
    const auto b = register_user(api(), "ikd");
    const auto t = post_tweet(api(), b, "to like");
    const header_list k1 = {{"Idempotency-Key", random_token(20)}};
    const header_list k2 = {{"Idempotency-Key", random_token(20)}};
    const header_list k3 = {{"Idempotency-Key", random_token(20)}};

    const auto f1 =
        api().request("POST", "/api/users/" + b.handle + "/follow", std::nullopt, a.token, k1);
    ASSERT_EQ(f1.status, 200u) << f1.describe();
    // Unfollow in between: the replay still gives the recorded answer and appends nothing.
    ASSERT_EQ(api().del("/api/users/" + b.handle + "/follow", a.token).status, 200u);
    const auto events = all_events(api(), a).size();
    const auto f2 =
        api().request("POST", "/api/users/" + b.handle + "/follow", std::nullopt, a.token, k1);
    EXPECT_EQ(f2.status, 200u);
    EXPECT_EQ(f2.body, f1.body);
    EXPECT_EQ(f2.header("Idempotent-Replayed"), "true");
    EXPECT_EQ(all_events(api(), a).size(), events);
    EXPECT_EQ(api().get("/api/users/" + b.handle).json().at("followers"), 0);

    const auto l1 = api().request("POST", "/api/tweets/" + t + "/like", std::nullopt, a.token, k2);
    ASSERT_EQ(l1.status, 200u);
    const auto l2 = api().request("POST", "/api/tweets/" + t + "/like", std::nullopt, a.token, k2);
    EXPECT_EQ(l2.body, l1.body);
    EXPECT_EQ(l2.header("Idempotent-Replayed"), "true");

    // A refused command is remembered too: same answer again.
    const auto s1 =
        api().request("POST", "/api/users/" + a.handle + "/follow", std::nullopt, a.token, k3);
    EXPECT_TRUE(is_error(s1, 422, "validation_failed"));
    const auto s2 =
        api().request("POST", "/api/users/" + a.handle + "/follow", std::nullopt, a.token, k3);
    EXPECT_TRUE(is_error(s2, 422, "validation_failed"));
    EXPECT_EQ(s2.header("Idempotent-Replayed"), "true");
}

TEST_F(Api, IdempotentRegistrationIsReplayed) {
    const header_list key = {{"Idempotency-Key", random_token(24)}};
    const json body = {{"handle", random_handle("ikr")}, {"password", "12345678"}};
    const auto first = api().post("/api/auth/register", body, "", key);
    ASSERT_EQ(first.status, 201u) << first.describe();
    const auto again = api().post("/api/auth/register", body, "", key);
    ASSERT_EQ(again.status, 201u) << again.describe() << " (not a 409 for the taken handle)";
    EXPECT_EQ(again.json().at("user"), first.json().at("user"));
    EXPECT_EQ(again.header("Idempotent-Replayed"), "true");
    auto other = body;
    other["handle"] = random_handle("ikr");
    EXPECT_TRUE(is_error(api().post("/api/auth/register", other, "", key), 409, "conflict"));
}

TEST_F(Api, BadIdempotencyKeysAre400) {
    const auto a = register_user(api(), "ikb");
    for (const auto& k : {repeat("k", 201), std::string("has space"), std::string("tab\there"),
                          std::string("caf\xC3\xA9")}) {
        EXPECT_TRUE(is_error(
            api().post("/api/tweets", {{"content", "x"}}, a.token, {{"Idempotency-Key", k}}), 400,
            "bad_request"))
            << k;
    }
    EXPECT_EQ(api()
                  .post("/api/tweets", {{"content", "x"}}, a.token,
                        {{"Idempotency-Key", repeat("k", 200)}})
                  .status,
              201u);
    EXPECT_EQ(api().get("/api/users/" + a.handle).json().at("tweets"), 1);
}

// ============================================================================ operations

TEST_F(Api, HealthAndReadiness) {
    auto r = api().get("/healthz");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.json(), (json{{"status", "ok"}}));
    r = api().get("/readyz");
    ASSERT_EQ(r.status, 200u) << r.describe();
    EXPECT_EQ(r.json().at("postgres"), "up");
    EXPECT_EQ(r.json().at("redis"), "up");
    r = api().request("HEAD", "/healthz");
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, "");
}

// The database counts of /api/stats and /metrics come from the database monitor, recounted
// at most once a second (issue 10, item 5): waits (bounded) until they include every user.
void wait_for_counted_users(http_client& api, pqxx::connection& conn) {
    const auto registered = std::stoll(query_rows(conn, "SELECT count(*) FROM users")[0][0]);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
        const auto r = api.get("/api/stats");
        if (r.status == 200 && r.json().at("users") == registered) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

TEST_F(Api, StatsReportLiveNumbers) {
    register_user(api(), "st");
    pqxx::connection conn(server().db().url());
    wait_for_counted_users(api(), conn);
    const auto r = api().get("/api/stats");
    ASSERT_EQ(r.status, 200u) << r.describe();
    const auto j = r.json();
    for (const char* k : {"uptimeSeconds", "eventsStored", "users", "tweets", "requestsPerSecond"})
        EXPECT_TRUE(j.contains(k) && j.at(k).is_number()) << k << " in " << j;
    EXPECT_TRUE(j.at("requestLatencyMs").at("p50").is_number());
    EXPECT_TRUE(j.at("requestLatencyMs").at("p99").is_number());
    EXPECT_LE(j.at("requestLatencyMs").at("p50").get<double>(),
              j.at("requestLatencyMs").at("p99").get<double>());
    EXPECT_GE(j.at("uptimeSeconds").get<double>(), 0.0);

    const auto users = std::stoll(query_rows(conn, "SELECT count(*) FROM users")[0][0]);
    const auto tweets =
        std::stoll(query_rows(conn, "SELECT count(*) FROM tweets WHERE NOT deleted")[0][0]);
    const auto events = std::stoll(query_rows(conn, "SELECT count(*) FROM events")[0][0]);
    EXPECT_EQ(j.at("users").get<long long>(), users);
    EXPECT_EQ(j.at("tweets").get<long long>(), tweets);
    EXPECT_GE(j.at("eventsStored").get<long long>(), events);
}

TEST_F(Api, MetricsArePrometheusText) {
    register_user(api(), "mt");
    pqxx::connection conn(server().db().url());
    wait_for_counted_users(api(), conn);
    const auto r = api().get("/metrics");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(r.header("Content-Type").rfind("text/plain", 0), 0u) << r.header("Content-Type");
    static const std::regex sample(
        R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? (-?[0-9.]+([eE][-+]?[0-9]+)?|NaN|\+Inf|-Inf))");
    static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)");
    static const std::regex type(
        R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary|histogram|untyped))");
    std::istringstream in(r.body);
    std::set<std::string> typed, helped;
    std::map<std::string, double> values;
    int samples = 0;
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_match(line, m, help)) {
            helped.insert(m[1]);
        } else if (std::regex_match(line, m, type)) {
            EXPECT_TRUE(typed.insert(m[1]).second) << "TYPE twice: " << line;
        } else {
            ASSERT_TRUE(std::regex_match(line, m, sample))
                << "not Prometheus text: '" << line << "'";
            std::string base = m[1];
            for (const char* suffix : {"_count", "_sum", "_bucket"})
                if (!typed.count(base) && base.size() > std::strlen(suffix) &&
                    base.compare(base.size() - std::strlen(suffix), std::string::npos, suffix) == 0)
                    base.resize(base.size() - std::strlen(suffix));
            EXPECT_TRUE(typed.count(base)) << "sample before its TYPE: " << line;
            if (!m[2].matched) values[m[1]] = std::stod(m[4]);
            ++samples;
        }
    }
    EXPECT_GT(samples, 10);
    EXPECT_EQ(typed, helped);
    for (const char* name :
         {"chirp_users", "chirp_tweets", "chirp_events_stored", "chirp_http_requests_total"})
        EXPECT_TRUE(values.count(name)) << name;
    EXPECT_EQ(values["chirp_users"],
              std::stod(query_rows(conn, "SELECT count(*) FROM users")[0][0]));
    EXPECT_GT(values["chirp_http_requests_total"], 0.0);
}

TEST_F(Api, UnknownRoutesAre404Json) {
    for (const char* path :
         {"/api/nope", "/api", "/api/", "/api/tweets/1/nope", "/nope.json", "/api/users/a/b/c"}) {
        EXPECT_TRUE(is_error(api().get(path), 404, "not_found")) << path;
    }
}

TEST_F(Api, WrongMethodsAre405WithAllow) {
    struct expectation {
        const char* method;
        const char* path;
        const char* allow;
    };
    for (const auto& e :
         {expectation{"PUT", "/api/tweets/1", "GET, DELETE"},
          expectation{"GET", "/api/tweets", "POST"}, expectation{"DELETE", "/api/timeline", "GET"},
          expectation{"PATCH", "/api/users/alice", "GET"},
          expectation{"GET", "/api/auth/login", "POST"}, expectation{"POST", "/healthz", "GET"},
          expectation{"GET", "/api/users/alice/follow", "POST, DELETE"}}) {
        const auto r = api().request(e.method, e.path, std::string("{}"));
        EXPECT_TRUE(is_error(r, 405, "method_not_allowed")) << e.method << " " << e.path;
        EXPECT_EQ(r.header("Allow"), e.allow) << e.method << " " << e.path;
    }
}

// ============================================================================ login throttle

// Its own server: the throttle counts failures per handle and per address (all of ours are
// 127.0.0.1), so it must not share counters with the other tests.
class LoginThrottle : public server_test<LoginThrottle> {};

TEST_F(LoginThrottle, FiveFailuresForAHandleGive429WithRetryAfter) {
    const auto u = register_user(api(), "thr");
    for (int i = 0; i < 5; ++i)
        EXPECT_TRUE(
            is_error(api().post("/api/auth/login",
                                {{"handle", u.handle}, {"password", "wrong-" + std::to_string(i)}}),
                     401, "unauthorized"))
            << i;
    // Now even the right password is refused until the minute has passed.
    const auto r = api().post("/api/auth/login", {{"handle", u.handle}, {"password", u.password}});
    EXPECT_TRUE(is_error(r, 429, "rate_limited"));
    ASSERT_TRUE(r.has_header("Retry-After"));
    const int wait = std::stoi(r.header("Retry-After"));
    EXPECT_GE(wait, 1);
    EXPECT_LE(wait, 60);
    EXPECT_EQ(r.body.find("token"), std::string::npos);
    // The existing token keeps working, and other handles can log in.
    EXPECT_EQ(api().get("/api/me", u.token).status, 200u);
    const auto v = register_user(api(), "thr2");
    EXPECT_EQ(
        api().post("/api/auth/login", {{"handle", v.handle}, {"password", v.password}}).status,
        200u);
}

class LoginThrottleByAddress : public server_test<LoginThrottleByAddress> {};

TEST_F(LoginThrottleByAddress, TwentyFailuresFromAnAddressGive429) {
    const auto u = register_user(api(), "adr");
    for (int i = 0; i < 20; ++i) {
        const auto r = api().post("/api/auth/login",
                                  {{"handle", random_handle("nobody")}, {"password", "whatever1"}});
        EXPECT_TRUE(is_error(r, 401, "unauthorized")) << i;
    }
    const auto r = api().post("/api/auth/login", {{"handle", u.handle}, {"password", u.password}});
    EXPECT_TRUE(is_error(r, 429, "rate_limited"));
    EXPECT_TRUE(r.has_header("Retry-After"));
}

}  // namespace
}  // namespace chirp::test
