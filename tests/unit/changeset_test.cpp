// Unit tests of collab/changeset: CodeMirror's ChangeSet JSON, UTF-16 counting, apply, compose,
// map and rebase_updates on hand-picked cases, and every refusal. The bulk comparison with
// @codemirror/state is changeset_diff_test.cpp.
#include "chirp/collab/changeset.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace {

using chirp::collab::changeset;
using chirp::collab::collab_errc;
using chirp::collab::update;
using nlohmann::json;

changeset cs(std::string_view text) {
    auto r = changeset::parse(text);
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(*r);
}

collab_errc parse_error(std::string_view text) {
    auto r = changeset::parse(text);
    EXPECT_FALSE(r) << text;
    return r ? collab_errc::malformed : r.error().code;
}

std::string apply(const changeset& c, std::string_view doc) {
    auto r = c.apply(*chirp::collab::utf8_to_utf16(doc));
    if (!r) return "error: " + std::string(chirp::collab::code_string(r.error().code));
    return *chirp::collab::utf16_to_utf8(*r);
}

TEST(Changeset, JsonRoundTripKeepsSectionsAsGiven) {
    for (std::string_view text : {R"([5,[2,"a","b"],[3],1])", R"([])", R"([[0,"😀"]])",
                                  R"([1,2,[3],[4]])", R"([[0,"",""],2])", R"([[0,"\"\\\t"]])"}) {
        EXPECT_EQ(cs(text).dump(), text);
    }
    // [len, ""] inserts nothing: it is a deletion, written [len] (as CodeMirror does).
    EXPECT_EQ(cs(R"([[3,""]])").dump(), "[[3]]");
}

TEST(Changeset, LengthsCountUtf16CodeUnits) {
    const auto c = cs(R"([1,[2,"😀é","x"],3])");
    EXPECT_EQ(c.length(), 6);
    EXPECT_EQ(c.new_length(), 1 + 5 + 3);  // 😀 is two code units, é one, plus the newline
    EXPECT_FALSE(c.empty());
    EXPECT_TRUE(cs("[]").empty());
    EXPECT_TRUE(cs("[7]").empty());
    EXPECT_FALSE(cs("[3,4]").empty());  // CodeMirror's `empty` only looks at one section
    EXPECT_EQ(changeset::empty_of(4).dump(), "[4]");
    EXPECT_EQ(changeset::empty_of(0).dump(), "[]");
    EXPECT_EQ(chirp::collab::code_points(u"a😀é"), 3u);
}

TEST(Changeset, RefusesMalformedJson) {
    EXPECT_EQ(parse_error("{}"), collab_errc::malformed);
    EXPECT_EQ(parse_error("[-1]"), collab_errc::malformed);
    EXPECT_EQ(parse_error("[1.5]"), collab_errc::malformed);
    EXPECT_EQ(parse_error("[0]"), collab_errc::malformed);    // empty kept section
    EXPECT_EQ(parse_error("[[0]]"), collab_errc::malformed);  // empty deletion
    EXPECT_EQ(parse_error(R"([[0,""]])"), collab_errc::malformed);
    EXPECT_EQ(parse_error("[[]]"), collab_errc::malformed);
    EXPECT_EQ(parse_error(R"([["1","a"]])"), collab_errc::malformed);
    EXPECT_EQ(parse_error(R"([[1,2]])"), collab_errc::malformed);
    EXPECT_EQ(parse_error(R"([[1,"a\nb"]])"), collab_errc::malformed);  // lines hold no breaks
    EXPECT_EQ(parse_error(R"([[1,"a\rb"]])"), collab_errc::malformed);
    EXPECT_EQ(parse_error("[4294967296]"), collab_errc::malformed);
    EXPECT_EQ(parse_error("[1,"), collab_errc::malformed);
    EXPECT_EQ(parse_error(R"(["x"])"), collab_errc::malformed);
}

TEST(Changeset, RefusesLoneSurrogates) {
    EXPECT_EQ(parse_error(R"([[0,"\ud83d"]])"), collab_errc::lone_surrogate);
    EXPECT_EQ(parse_error(R"([[0,"a\ude00"]])"), collab_errc::lone_surrogate);
    // The same as UTF-8 bytes (CESU-style encoded surrogate), built as a JSON value.
    auto r = changeset::from_json(json::array({json::array({0, std::string("\xED\xA0\xBD")})}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, collab_errc::lone_surrogate);
    EXPECT_FALSE(chirp::collab::utf16_to_utf8(u"\xD83D"));
}

TEST(Changeset, Apply) {
    EXPECT_EQ(apply(cs(R"([[0,"hi "],5])"), "world"), "hi world");
    EXPECT_EQ(apply(cs("[2,[2]]"), "ab😀"), "ab");  // the pair is two code units
    EXPECT_EQ(apply(cs(R"([1,[1,"X","Y"],1])"), "abc"), "aX\nYc");
    EXPECT_EQ(apply(cs(R"([[2]])"), "😀"), "");
    EXPECT_EQ(apply(cs("[]"), ""), "");
}

TEST(Changeset, ApplyRefusesWrongLengthAndSplitPairs) {
    EXPECT_EQ(apply(cs("[3]"), "ab"), "error: length_mismatch");
    EXPECT_EQ(apply(cs("[3]"), "😀"), "error: length_mismatch");  // two code units, not one
    // a😀b is 4 code units; position 2 is between the halves of the pair.
    EXPECT_EQ(apply(cs(R"([2,[0,"x"],2])"), "a😀b"), "error: splits_surrogate");
    EXPECT_EQ(apply(cs("[1,[1],2]"), "a😀b"), "error: splits_surrogate");
    EXPECT_EQ(apply(cs("[2,[2]]"), "a😀b"), "error: splits_surrogate");
    EXPECT_EQ(apply(cs("[1,[2],1]"), "a😀b"), "ab");
    EXPECT_EQ(apply(cs(R"([3,[0,"x"],1])"), "a😀b"), "a😀xb");
    // Kept sections may be cut anywhere: only changed ranges must respect pairs.
    EXPECT_EQ(apply(cs("[2,2]"), "a😀b"), "a😀b");
}

TEST(Changeset, MapOrdersInsertionsAtTheSamePlace) {
    // Both insert at 0 of "abc": by default the other change comes first.
    const auto a = cs(R"([[0,"x"],3])");
    const auto b = cs(R"([[0,"y"],3])");
    EXPECT_EQ(a.map(b)->dump(), R"([1,[0,"x"],3])");
    EXPECT_EQ(a.map(b, true)->dump(), R"([[0,"x"],4])");
    EXPECT_EQ(apply(*a.compose(*b.map(a)), "abc"), "xyabc");
    EXPECT_EQ(apply(*b.compose(*a.map(b, true)), "abc"), "xyabc");
    // Deleting what the other deleted too leaves nothing to delete.
    EXPECT_EQ(cs("[1,[2]]").map(cs("[[3]]"))->dump(), "[]");
    EXPECT_EQ(a.map(cs("[3]"))->dump(), a.dump());  // mapping over no change keeps a as is
}

TEST(Changeset, ComposeAndMapCheckLengths) {
    auto r = cs("[3]").compose(cs("[4]"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, collab_errc::length_mismatch);
    auto m = cs("[3]").map(cs("[4]"));
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error().code, collab_errc::length_mismatch);
    EXPECT_EQ(cs(R"([[1,"ab"],2])").compose(cs(R"([1,[1,"Z"],2])"))->dump(), R"([[1,"aZ"],2])");
}

TEST(Changeset, RebaseDropsWhatWasAlreadyAcceptedFromTheClient) {
    // x typed "1" then "2" at the start of "abc" (version 0); p appended "!" and x's first
    // update was accepted after it. x pushes both again (it never saw the acknowledgement).
    const std::vector<update> over = {
        {"p", cs(R"([3,[0,"!"]])")},
        {"x", cs(R"([[0,"1"],4])")},
    };
    std::vector<update> pushed = {{"x", cs(R"([[0,"1"],3])")}, {"x", cs(R"([1,[0,"2"],3])")}};
    auto r = chirp::collab::rebase_updates(pushed, over);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].client_id, "x");
    EXPECT_EQ((*r)[0].changes.dump(), R"([1,[0,"2"],4])");
    EXPECT_EQ(apply((*r)[0].changes, "1abc!"), "12abc!");

    // Nothing accepted since: returned unchanged.
    auto same = chirp::collab::rebase_updates(pushed, {});
    ASSERT_TRUE(same);
    EXPECT_EQ((*same)[1].changes.dump(), R"([1,[0,"2"],3])");

    // A chain that does not fit is refused, not mapped.
    std::vector<update> bad = {{"x", cs("[5]")}};
    auto refused = chirp::collab::rebase_updates(bad, over);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, collab_errc::length_mismatch);
}

}  // namespace
