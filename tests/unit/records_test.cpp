// The event writer's records (sql/functions/records.sql) decoded and rendered
// (src/store/records.cpp): an answer body and a live frame are the domain renderer's bytes;
// deliveries keep what fan-out needs; stored Idempotency-Key bodies of older versions pass
// through; malformed records throw.
#include "chirp/store/records.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace d = chirp::domain;
namespace s = chirp::store;
using json = nlohmann::json;

namespace {

// 2026-11-27T22:01:02.123456Z
constexpr d::timestamp_us ts = 1795816862123456LL;

json ref_rec(long long id, const char* handle) {
    return {{"id", id}, {"handle", handle}, {"display_name", std::string("N ") + handle}};
}

json tweet_rec(long long id, json retweet_of = nullptr) {
    return {{"id", id},
            {"author", ref_rec(7, "alice")},
            {"content", "hi \"there\"\n"},
            {"created_at", ts},
            {"reply_to", nullptr},
            {"mentions", json::array({"bob"})},
            {"hashtags", json::array({"cpp"})},
            {"likes", 3},
            {"retweets", 1},
            {"replies", 0},
            {"liked", true},
            {"retweeted", false},
            {"retweet_of", std::move(retweet_of)}};
}

json event_rec(const char* type, json payload) {
    return {{"id", "0b7e4c1a-0000-4000-8000-000000000001"},
            {"type", type},
            {"user_id", 7},
            {"created_at", ts},
            {"version", 1},
            {"payload", std::move(payload)}};
}

}  // namespace

TEST(Records, ATweetAnswerIsTheDomainRenderersBytes) {
    const auto wr = s::write_result_from_record(
        {{"status", 201}, {"body", {{"tweet", tweet_rec(43, tweet_rec(42))}}}, {"seq", "9"}});
    EXPECT_EQ(wr.status, 201u);
    EXPECT_EQ(wr.seq, 9);
    EXPECT_FALSE(wr.replayed);
    EXPECT_TRUE(wr.deliveries.empty());
    const auto t = s::decode_tweet(tweet_rec(43, tweet_rec(42)));
    ASSERT_TRUE(t && t->retweet_of);
    EXPECT_EQ(t->retweet_of->id, 42);
    EXPECT_EQ(wr.body, d::to_json(*t));
    const auto body = json::parse(wr.body);
    EXPECT_EQ(body["id"], "43");
    EXPECT_EQ(body["retweetOf"]["id"], "42");
    EXPECT_EQ(body["createdAt"], "2026-11-27T22:01:02.123Z");
    EXPECT_EQ(body["content"], "hi \"there\"\n");
    EXPECT_EQ(body["likedByMe"], true);
}

TEST(Records, EveryAnswerShape) {
    auto body_of = [](json body) {
        return s::write_result_from_record({{"status", 200}, {"body", std::move(body)}}).body;
    };
    json user = ref_rec(7, "alice");
    user.update({{"created_at", ts},
                 {"followers", 2},
                 {"following", 1},
                 {"tweets", 5},
                 {"followed_by_me", nullptr}});
    EXPECT_EQ(body_of({{"user", user}}), d::to_json(s::decode_user(user)));
    EXPECT_EQ(json::parse(body_of({{"user", user}})).count("followedByMe"), 0u);
    user["followed_by_me"] = true;
    EXPECT_EQ(json::parse(body_of({{"user", user}}))["followedByMe"], true);

    const json msg = {{"id", 5},         {"conversation_id", 3}, {"sender", ref_rec(7, "alice")},
                      {"content", "yo"}, {"created_at", ts},     {"seq", 11}};
    const json conv = {{"id", 3},
                       {"participants", json::array({ref_rec(7, "alice"), ref_rec(8, "bob")})},
                       {"created_at", ts},
                       {"last_message", msg}};
    EXPECT_EQ(body_of({{"message", msg}}), d::to_json(s::decode_message(msg)));
    EXPECT_EQ(body_of({{"conversation", conv}}), d::to_json(s::decode_conversation(conv)));
    EXPECT_EQ(json::parse(body_of({{"conversation", conv}}))["lastMessage"]["seq"], "11");
    EXPECT_EQ(body_of({{"deleted", 42}}), R"({"deleted":"42"})");
    EXPECT_EQ(body_of({{"unread", 3}}), R"({"unread":3})");
    EXPECT_EQ(body_of({{"error", {{"code", "not_found"}, {"message", "no such tweet"}}}}),
              chirp::error_body(chirp::errc::not_found, "no such tweet"));
}

TEST(Records, AnIdempotencyBodyStoredByAnOlderVersionIsAnsweredAsStored) {
    // Before records, the stored body was the answer itself (and ids were strings).
    const json old_tweet = {{"id", "42"}, {"content", "x"}, {"likes", 0}};
    const auto wr = s::write_result_from_record(
        {{"status", 201}, {"body", old_tweet}, {"replayed", true}, {"deliveries", json::array()}});
    EXPECT_TRUE(wr.replayed);
    EXPECT_EQ(json::parse(wr.body), old_tweet);
    EXPECT_EQ(s::write_result_from_record({{"status", 200}, {"body", {{"deleted", "42"}}}}).body,
              R"({"deleted":"42"})");
}

TEST(Records, DeliveriesCarryTheTypedEventAndItsFrame) {
    const json note = {{"seq", 12},
                       {"type", "reply"},
                       {"actor", ref_rec(8, "bob")},
                       {"tweet", tweet_rec(44)},
                       {"conversation_id", nullptr},
                       {"created_at", ts},
                       {"read", false}};
    const json rec = {
        {"status", 201},
        {"body", {{"tweet", tweet_rec(44)}}},
        {"seq", "12"},
        {"deliveries",
         json::array({{{"channel", "timeline"},
                       {"seq", 12},
                       {"author", 8},
                       {"actor", 8},
                       {"tweet_id", 44},
                       {"event", event_rec("TweetCreated", {{"tweet", tweet_rec(44)}})}},
                      {{"channel", "notifications"},
                       {"seq", 12},
                       {"actor", 8},
                       {"users", json::array({7})},
                       {"event", event_rec("Notification", {{"notification", note}})}},
                      {{"channel", "follow"}, {"seq", 13}, {"author", 7}, {"actor", 8}}})}};
    const auto wr = s::write_result_from_record(rec);
    ASSERT_EQ(wr.deliveries.size(), 3u);

    const auto& tl = wr.deliveries[0];
    EXPECT_EQ(tl.channel, s::channel_kind::timeline);
    EXPECT_EQ(tl.author, 8);
    EXPECT_EQ(tl.tweet_id, 44);
    ASSERT_TRUE(tl.event && tl.frame);
    std::string frame;
    d::render_frame(frame, d::channel::timeline, 12, *tl.event);
    EXPECT_EQ(*tl.frame, frame);
    const auto f = json::parse(*tl.frame);
    EXPECT_EQ(f["seq"], "12");
    EXPECT_EQ(f["event"]["payload"]["tweet"]["id"], "44");
    // The tweet in the frame is the same bytes as in an answer.
    EXPECT_NE(tl.frame->find(d::to_json(*s::decode_tweet(tweet_rec(44)))), std::string::npos);

    const auto& n = wr.deliveries[1];
    EXPECT_EQ(n.channel, s::channel_kind::notifications);
    EXPECT_EQ(n.users, std::vector<long long>{7});
    EXPECT_EQ(json::parse(*n.frame)["event"]["payload"]["notification"]["id"], "12");

    const auto& fo = wr.deliveries[2];
    EXPECT_TRUE(fo.follow_change);
    EXPECT_EQ(fo.author, 7);
    EXPECT_EQ(fo.actor, 8);
    EXPECT_FALSE(fo.frame);
}

TEST(Records, MalformedRecordsThrow) {
    EXPECT_ANY_THROW(s::write_result_from_record({{"status", 200}}));
    EXPECT_ANY_THROW(s::write_result_from_record(
        {{"status", 200},
         {"body", {{"unread", 0}}},
         {"deliveries", json::array({{{"channel", "timeline"},
                                      {"seq", 1},
                                      {"event", event_rec("NoSuchEvent", json::object())}}})}}));
}
