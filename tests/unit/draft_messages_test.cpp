// The parser of the collaborative drafts' client messages (src/ws/draft_messages.cpp).
#include <gtest/gtest.h>

#include "../../src/ws/client_message.hpp"

namespace {

using namespace chirp::ws;

client_message parse(std::string_view text) {
    return parse_client_message(text, 42);
}

message_error error_of(std::string_view text) {
    auto m = parse(text);
    auto* e = std::get_if<message_error>(&m);
    if (e == nullptr) {
        ADD_FAILURE() << "accepted: " << text;
        return {};
    }
    return *e;
}

TEST(DraftMessages, AcceptsEachKind) {
    auto j = parse(R"({"type":"draft_join","draft":"12","version":3,"clientID":"c1"})");
    ASSERT_TRUE(std::holds_alternative<draft_join_message>(j));
    EXPECT_EQ(std::get<draft_join_message>(j).r.draft, 12);
    EXPECT_EQ(std::get<draft_join_message>(j).r.version, 3u);
    EXPECT_EQ(std::get<draft_join_message>(j).r.client_id, "c1");
    auto j2 = parse(R"({"type":"draft_join","draft":"12"})");
    EXPECT_FALSE(std::get<draft_join_message>(j2).r.version);

    auto p = parse(
        R"({"type":"draft_push","draft":"7","version":0,"updates":[{"clientID":"a","changes":[[0,"hi"]]}]})");
    ASSERT_TRUE(std::holds_alternative<draft_push_message>(p));
    const auto& r = std::get<draft_push_message>(p).r;
    EXPECT_EQ(r.draft, 7);
    ASSERT_EQ(r.updates.size(), 1u);
    EXPECT_EQ(r.updates[0].client_id, "a");
    EXPECT_EQ(r.updates[0].changes.new_length(), 2);
    EXPECT_FALSE(r.error);

    auto pr = parse(
        R"({"type":"draft_presence","draft":"7","clientID":"a","version":2,"selection":{"anchor":1,"head":3}})");
    ASSERT_TRUE(std::holds_alternative<draft_presence_message>(pr));
    EXPECT_EQ(std::get<draft_presence_message>(pr).r.selection->second, 3);
    auto pn = parse(
        R"({"type":"draft_presence","draft":"7","clientID":"a","version":2,"selection":null})");
    EXPECT_FALSE(std::get<draft_presence_message>(pn).r.selection);

    auto l = parse(R"({"type":"draft_leave","draft":"7"})");
    EXPECT_EQ(std::get<draft_leave_message>(l).draft, 7);
}

TEST(DraftMessages, BadChangesBecomeAResetCode) {
    auto lone = parse(
        R"({"type":"draft_push","draft":"7","version":0,"updates":[{"clientID":"a","changes":[[0,"\ud83d"]]}]})");
    ASSERT_TRUE(std::get<draft_push_message>(lone).r.error);
    EXPECT_EQ(std::get<draft_push_message>(lone).r.error->code,
              chirp::collab::collab_errc::lone_surrogate);
    auto bad =
        parse(R"({"type":"draft_push","draft":"7","version":0,"updates":[{"changes":[1]}]})");
    EXPECT_EQ(std::get<draft_push_message>(bad).r.error->code,
              chirp::collab::collab_errc::malformed);
    std::string many = R"({"type":"draft_push","draft":"7","version":0,"updates":[)";
    for (int i = 0; i < 201; ++i)
        many += std::string(i ? "," : "") + R"({"clientID":"a","changes":[]})";
    many += "]}";
    EXPECT_EQ(std::get<draft_push_message>(parse(many)).r.error->code,
              chirp::collab::collab_errc::too_many_updates);
}

TEST(DraftMessages, Errors) {
    EXPECT_EQ(error_of(R"({"type":"draft_join"})").code, "missing_field");
    EXPECT_EQ(error_of(R"({"type":"draft_join","draft":12})").code, "bad_request");
    EXPECT_EQ(error_of(R"({"type":"draft_join","draft":"12","version":-1})").code, "bad_request");
    auto e = error_of(R"({"type":"draft_push","draft":"12","updates":[]})");
    EXPECT_EQ(e.code, "missing_field");
    EXPECT_EQ(e.draft, 12);
    EXPECT_EQ(e.kind, message_kind::draft);
    EXPECT_EQ(error_of(R"({"type":"draft_push","draft":"12","version":1})").code, "missing_field");
    EXPECT_EQ(error_of(R"({"type":"draft_presence","draft":"12","version":1})").code,
              "missing_field");
    EXPECT_EQ(
        error_of(
            R"({"type":"draft_presence","draft":"12","clientID":"a","version":1,"selection":{"anchor":-1,"head":0}})")
            .code,
        "bad_request");
    EXPECT_TRUE(std::holds_alternative<unknown_message>(parse(R"({"type":"draft_other"})")));
}

}  // namespace
