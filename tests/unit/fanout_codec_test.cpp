// The fan-out's Redis payload codecs (chirp/fanout/codec.hpp): round trips, the exact wire
// bytes, and malformed input (truncated, non-numeric, overflow, empty), which must decode to
// nullopt without throwing or reading past the payload.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "chirp/fanout/codec.hpp"

namespace fo = chirp::fanout;

namespace {

// A copy on the heap of exactly the payload's bytes: AddressSanitizer catches a read past it.
std::unique_ptr<char[]> exact(std::string_view s) {
    auto p = std::make_unique<char[]>(s.size() + 1);
    std::copy(s.begin(), s.end(), p.get());
    return p;
}

template <class Decode>
void every_prefix_is_safe(std::string_view good, Decode decode) {
    for (std::size_t n = 0; n <= good.size(); ++n) {
        auto buf = exact(good.substr(0, n));
        EXPECT_NO_THROW((void)decode(std::string_view(buf.get(), n))) << n;
    }
}

}  // namespace

TEST(FanoutCodec, TimelineMessageWireBytesAndRoundTrip) {
    const std::string frame = R"({"type":"event","seq":"42"})";
    fo::timeline_message m{42, 1700000000123456, {7, 8, 900000000001}, frame};
    const auto wire = fo::encode_timeline_message(m);
    EXPECT_EQ(wire, "42 1700000000123456\n7,8,900000000001\n" + frame);
    auto d = fo::decode_timeline_message(wire);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, m);
}

TEST(FanoutCodec, TimelineFrameMayHoldNewlines) {
    fo::timeline_message m{1, 2, {3}, "a\nb\n"};
    const auto wire = fo::encode_timeline_message(m);  // decoded views point into it
    auto d = fo::decode_timeline_message(wire);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->frame, "a\nb\n");
}

TEST(FanoutCodec, TimelineEmptyRecipientsRoundTrip) {
    fo::timeline_message m{5, 6, {}, "{}"};
    const auto wire = fo::encode_timeline_message(m);
    EXPECT_EQ(wire, "5 6\n\n{}");
    auto d = fo::decode_timeline_message(wire);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->recipients.empty());
    EXPECT_EQ(d->frame, "{}");
}

TEST(FanoutCodec, TimelineMalformed) {
    for (std::string_view bad : {
             "",
             "1 2",                            // no newline
             "1 2\n3,4",                       // recipients without frame line
             "x 2\n3\n{}",                     // non-numeric seq
             "1 y\n3\n{}",                     // non-numeric commit
             "1\n3\n{}",                       // no commit
             "1 2\n3,,4\n{}",                  // empty recipient
             "1 2\n3,\n{}",                    // trailing comma
             "1 2\n,3\n{}",                    // leading comma
             "1 2\n3a\n{}",                    // junk in id
             "1 2\n-3\n{}",                    // negative id
             "99999999999999999999 2\n3\n{}",  // seq overflow
             "1 2\n99999999999999999999\n{}",  // id overflow
             " 1 2\n3\n{}",                    // leading space
             "+1 2\n3\n{}",                    // sign
         })
        EXPECT_FALSE(fo::decode_timeline_message(bad)) << bad;
    every_prefix_is_safe("12 345\n6,7,8\n{\"a\":1}", fo::decode_timeline_message);
}

TEST(FanoutCodec, LiveMessageWireBytesAndRoundTrip) {
    fo::live_message m{9, 10, R"({"type":"event"})"};
    const auto wire = fo::encode_live_message(m);
    EXPECT_EQ(wire, "9 10\n{\"type\":\"event\"}");
    auto d = fo::decode_live_message(wire);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, m);
    // Typing: ephemeral, seq 0.
    EXPECT_EQ(fo::encode_live_message({0, 0, "{}"}), "0 0\n{}");
    auto t = fo::decode_live_message("0 0\n{}");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->seq, 0);
    // An empty frame is still a message (the session decides what to do with it).
    auto e = fo::decode_live_message("1 2\n");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->frame, "");
}

TEST(FanoutCodec, LiveMessageMalformed) {
    for (std::string_view bad : {"", "\n", "1\n{}", "1 \n{}", " 2\n{}", "a b\n{}", "1 2",
                                 "1 2 3\n{}", "-1 2\n{}", "1 99999999999999999999\n{}", "1  2\n{}"})
        EXPECT_FALSE(fo::decode_live_message(bad)) << bad;
    every_prefix_is_safe("12 345\n{\"a\":1}", fo::decode_live_message);
}

TEST(FanoutCodec, Channels) {
    using k = fo::channel_kind;
    EXPECT_EQ(fo::encode_channel({k::notifications, 5}), "notifications:5");
    EXPECT_EQ(fo::encode_channel({k::messages, 6}), "messages:6");
    EXPECT_EQ(fo::encode_channel({k::author, 7}), "author:7");
    for (auto c : {fo::user_channel{k::notifications, 1}, fo::user_channel{k::messages, 2},
                   fo::user_channel{k::author, 9223372036854775807LL}}) {
        auto d = fo::decode_channel(fo::encode_channel(c));
        ASSERT_TRUE(d);
        EXPECT_EQ(*d, c);
    }
    for (std::string_view bad :
         {"", "chirp:timeline", "chirp:follows", "notifications:", "messages:x", "author:1x",
          "author:-1", "notifications:99999999999999999999", "notification:1", "authors:1"})
        EXPECT_FALSE(fo::decode_channel(bad)) << bad;
    every_prefix_is_safe("notifications:123", fo::decode_channel);
}

TEST(FanoutCodec, FollowMessage) {
    EXPECT_EQ(fo::encode_follow_message({3, 4}), "3 4");
    auto d = fo::decode_follow_message("3 4");
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, (fo::follow_message{3, 4}));
    for (std::string_view bad :
         {"", "3", "3 ", " 4", "3 x", "a 4", "3 4 5", "3  4", "99999999999999999999 1", "-3 4"})
        EXPECT_FALSE(fo::decode_follow_message(bad)) << bad;
    every_prefix_is_safe("123 456", fo::decode_follow_message);
}

TEST(FanoutCodec, PresenceMessage) {
    EXPECT_EQ(fo::encode_presence_message({true, 12}), "+12");
    EXPECT_EQ(fo::encode_presence_message({false, 12}), "-12");
    for (auto m : {fo::presence_message{true, 1}, fo::presence_message{false, 2}}) {
        auto d = fo::decode_presence_message(fo::encode_presence_message(m));
        ASSERT_TRUE(d);
        EXPECT_EQ(*d, m);
    }
    for (std::string_view bad :
         {"", "+", "-", "12", "+x", "*12", "+12 ", "+-12", "+99999999999999999999"})
        EXPECT_FALSE(fo::decode_presence_message(bad)) << bad;
    every_prefix_is_safe("+123", fo::decode_presence_message);
}

TEST(FanoutCodec, NodeHello) {
    const std::uint64_t node = 18446744073709551615ULL;
    EXPECT_EQ(fo::encode_node_hello(node), "18446744073709551615");
    auto d = fo::decode_node_hello(fo::encode_node_hello(node));
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, node);
    for (std::string_view bad : {"", "0", "-1", "x", "1 ", "18446744073709551616"})
        EXPECT_FALSE(fo::decode_node_hello(bad)) << bad;
    every_prefix_is_safe("1234567890", fo::decode_node_hello);
}

TEST(FanoutCodec, UserId) {
    EXPECT_EQ(fo::encode_user_id(77), "77");
    EXPECT_EQ(fo::decode_user_id("77"), 77);
    for (std::string_view bad : {"", "x", "7 ", "-7", "99999999999999999999"})
        EXPECT_FALSE(fo::decode_user_id(bad)) << bad;
}

TEST(FanoutCodec, TypingFrame) {
    EXPECT_EQ(fo::typing_frame(5, R"({"id":"3"})", 5000),
              R"({"type":"typing","conversation":"5","user":{"id":"3"},"expiresInMs":5000})");
    EXPECT_EQ(fo::typing_frame(5, R"({"id":"3"})", 0),
              R"({"type":"typing","conversation":"5","user":{"id":"3"},"expiresInMs":0})");
}
