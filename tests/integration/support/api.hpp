// Helpers over the REST API: random handles, registering users, small assertions.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "support/env.hpp"
#include "support/http_client.hpp"

namespace chirp::test {

struct test_user {
    std::string id;
    std::string handle;
    std::string token;
    std::string password;
};

// prefix + random letters and digits, 15 characters in all (a valid, unused handle).
std::string random_handle(const std::string& prefix = "u");

// Registers a user with a random handle (POST /api/auth/register); throws unless 201.
test_user register_user(http_client& client, const std::string& prefix = "u",
                        const std::string& display_name = "");

// POST /api/tweets {content}; throws unless 201. Returns the tweet id.
std::string post_tweet(http_client& client, const test_user& author, const std::string& content,
                       const std::string& reply_to = "");

// An expiry far in the past, signed with the given secret (HS256), for a user id and handle.
std::string sign_token(const std::string& secret, long long user_id, const std::string& handle,
                       long long issued_at, long long ttl_seconds = 3600);

// The documented error answer: that status, Content-Type application/json and a body of
// exactly {"error": {"code": <code>, "message": <non-empty string>}}.
::testing::AssertionResult is_error(const http_response& r, unsigned status, std::string_view code);

// RFC 3339 UTC with milliseconds: 2026-11-27T22:01:02.123Z.
bool is_timestamp(const nlohmann::json& v);

// Every event of the user's audit trail (GET /api/events, all pages), in seq order.
std::vector<nlohmann::json> all_events(http_client& client, const test_user& user);

// REST shortcuts (each throws with the response unless it has the expected status).
void follow(http_client& c, const test_user& who, const test_user& whom);
void unfollow(http_client& c, const test_user& who, const test_user& whom);
void like(http_client& c, const test_user& who, const std::string& tweet_id);
std::string retweet(http_client& c, const test_user& who, const std::string& tweet_id);
void delete_tweet(http_client& c, const test_user& who, const std::string& tweet_id);
// Returns the conversation id.
std::string create_conversation(http_client& c, const test_user& who,
                                const std::vector<test_user>& others);
// Returns the Message JSON.
nlohmann::json send_message(http_client& c, const test_user& who, const std::string& conversation,
                            const std::string& content);
// GET /api/timeline pages until the end (ids, newest first); limit per page.
std::vector<std::string> timeline_ids(http_client& c, const test_user& who, int limit = 100);

// The JWT secret chirpd uses in --dev mode without --jwt-secret.
inline constexpr const char* dev_jwt_secret = "chirp-dev-secret-not-for-production";

}  // namespace chirp::test
