// Unit tests of collab/authority: pushes at the current and at older versions, duplicates after
// a lost acknowledgement, the window, the length limit and every refusal (which must leave
// the draft unchanged).
#include "chirp/collab/authority.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using chirp::collab::authority;
using chirp::collab::authority_options;
using chirp::collab::changeset;
using chirp::collab::collab_errc;

changeset cs(std::string_view text) {
    auto r = changeset::parse(text);
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(*r);
}

authority draft(std::string_view text, authority_options options = {}) {
    return std::move(*authority::from_utf8(text, 0, options));
}

std::string utf8(const std::u16string& s) {
    return *chirp::collab::utf16_to_utf8(s);
}

collab_errc refused(authority& d, std::uint64_t base, std::vector<changeset> changes) {
    const auto text = d.text();
    const auto version = d.version();
    auto r = d.push(base, "x", std::move(changes));
    EXPECT_FALSE(r);
    EXPECT_EQ(d.text(), text);  // a refusal changes nothing
    EXPECT_EQ(d.version(), version);
    return r ? collab_errc::malformed : r.error().code;
}

TEST(Authority, AcceptsPushesAtTheCurrentVersion) {
    auto d = draft("abc");
    auto r = d.push(0, "x", {cs(R"([3,[0,"d"]])"), cs(R"([[1],3])")});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->version, 2u);
    ASSERT_EQ(r->accepted.size(), 2u);
    EXPECT_EQ(r->accepted[0].client_id, "x");
    EXPECT_EQ(r->accepted[1].changes.dump(), "[[1],3]");
    EXPECT_EQ(d.text_utf8(), "bcd");
    EXPECT_EQ(d.version(), 2u);
    // An empty push is a no-op.
    auto none = d.push(2, "x", {});
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->accepted.empty());
    EXPECT_EQ(none->version, 2u);
}

TEST(Authority, RebasesAPushAgainstAnOlderVersion) {
    auto d = draft("hello");
    ASSERT_TRUE(d.push(0, "p", {cs(R"([[0,"1"],5])")}));  // "1hello"
    // y saw version 0 and appended " world": rebased over p's insertion.
    auto r = d.push(0, "y", {cs(R"([5,[0," world"]])")});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->accepted.size(), 1u);
    EXPECT_EQ(r->accepted[0].changes.dump(), R"([6,[0," world"]])");
    EXPECT_EQ(d.text_utf8(), "1hello world");
    EXPECT_EQ(d.version(), 2u);
}

TEST(Authority, ALostAcknowledgementNeverDuplicatesText) {
    auto d = draft("");
    const auto u1 = cs(R"([[0,"ab"]])");
    const auto u2 = cs(R"([2,[0,"c"]])");
    ASSERT_TRUE(d.push(0, "x", {u1}));
    ASSERT_TRUE(d.push(1, "p", {cs(R"([2,[0,"!"]])")}));  // "ab!"
    // x never got the echo of u1 and pushes u1 and u2 again from version 0.
    auto r = d.push(0, "x", {u1, u2});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->accepted.size(), 1u);
    EXPECT_EQ(d.text_utf8(), "ab!c");  // p's "!" was accepted first at the same place
    // And once more: everything already accepted, nothing appended.
    auto again = d.push(0, "x", {u1, u2});
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->accepted.empty());
    EXPECT_EQ(again->version, 3u);
    EXPECT_EQ(d.text_utf8(), "ab!c");
}

TEST(Authority, RefusesBasesOutsideTheWindow) {
    authority_options options;
    options.window = 2;
    auto d = draft("", options);
    for (int i = 0; i < 4; ++i)  // "a" inserted at the start, four times
        ASSERT_TRUE(d.push(static_cast<std::uint64_t>(i), "p",
                           {cs(R"([[0,"a"])" + (i ? "," + std::to_string(i) : "") + "]")}));
    EXPECT_EQ(d.version(), 4u);
    EXPECT_EQ(d.window_start(), 2u);
    EXPECT_EQ(refused(d, 5, {cs(R"([4,[0,"b"]])")}), collab_errc::base_ahead);
    EXPECT_EQ(refused(d, 1, {cs(R"([1,[0,"b"]])")}), collab_errc::base_too_old);
    EXPECT_FALSE(d.updates_since(1));
    EXPECT_FALSE(d.updates_since(5));
    ASSERT_TRUE(d.updates_since(2));
    EXPECT_EQ(d.updates_since(2)->size(), 2u);
    EXPECT_EQ(utf8(*d.text_at(2)), "aa");
    EXPECT_EQ(utf8(*d.text_at(3)), "aaa");
    EXPECT_FALSE(d.text_at(1));
    // The oldest version of the window still rebases (p's insertions at the same place were
    // accepted first, so they stay first).
    auto r = d.push(2, "q", {cs(R"([[0,"b"],2])")});
    ASSERT_TRUE(r);
    EXPECT_EQ(d.text_utf8(), "aabaa");
    EXPECT_EQ(d.window_start(), 3u);
}

TEST(Authority, RefusesChangesThatDoNotFitTheTextAtTheirBase) {
    auto d = draft("a😀b");  // 4 code units
    EXPECT_EQ(refused(d, 0, {cs("[3]")}), collab_errc::length_mismatch);
    EXPECT_EQ(refused(d, 0, {cs(R"([2,[0,"x"],2])")}), collab_errc::splits_surrogate);
    EXPECT_EQ(refused(d, 0, {cs("[1,[1],2]")}), collab_errc::splits_surrogate);
    // The second update must start where the first one ends.
    EXPECT_EQ(refused(d, 0, {cs(R"([4,[0,"x"]])"), cs("[4]")}), collab_errc::length_mismatch);
    // Checked at the base version, even when the draft has moved on since.
    ASSERT_TRUE(d.push(0, "p", {cs(R"([[0,"zz"],4])")}));
    EXPECT_EQ(refused(d, 0, {cs("[6]")}), collab_errc::length_mismatch);
    EXPECT_EQ(refused(d, 0, {cs(R"([2,[0,"x"],2])")}), collab_errc::splits_surrogate);
}

TEST(Authority, EnforcesTheLengthLimitInCodePoints) {
    authority_options options;
    options.max_code_points = 5;
    options.max_updates_per_push = 3;
    auto d = draft("😀😀😀", options);                        // 3 code points, 6 code units
    ASSERT_TRUE(d.push(0, "x", {cs(R"([6,[0,"😀😀"]])")}));  // 5 code points: allowed
    EXPECT_EQ(d.text_code_points(), 5u);
    EXPECT_EQ(refused(d, 1, {cs(R"([10,[0,"a"]])")}), collab_errc::too_long);
    // Every resulting version counts, not only the last one.
    EXPECT_EQ(refused(d, 1, {cs(R"([10,[0,"a"]])"), cs("[[2],9]")}), collab_errc::too_long);
    // A rebased push that would go over the limit is refused too.
    ASSERT_TRUE(d.push(1, "p", {cs("[[2],8]")}));  // 4 code points
    EXPECT_EQ(refused(d, 1, {cs(R"([[0,"ab"],10])")}), collab_errc::too_long);
    EXPECT_EQ(refused(d, 2, {cs("[8]"), cs("[8]"), cs("[8]"), cs("[8]")}),
              collab_errc::too_many_updates);
}

TEST(Authority, AppendReplaysAcceptedUpdates) {
    auto d = draft("ab");
    EXPECT_FALSE(d.append({"p", cs(R"([2,[0,"c"]])")}));
    EXPECT_EQ(d.version(), 1u);
    EXPECT_EQ(d.text_utf8(), "abc");
    auto error = d.append({"p", cs("[9]")});
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code, collab_errc::length_mismatch);
    EXPECT_EQ(d.version(), 1u);
    // A push based before the replayed update is rebased over it.
    auto r = d.push(0, "x", {cs(R"([[0,"0"],2])")});
    ASSERT_TRUE(r);
    EXPECT_EQ(d.text_utf8(), "0abc");
}

TEST(Authority, StartsAtAnyVersion) {
    auto d = authority::from_utf8("x", 41);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->version(), 41u);
    EXPECT_EQ(d->window_start(), 41u);
    EXPECT_TRUE(d->push(41, "x", {cs(R"([1,[0,"y"]])")}));
    EXPECT_EQ(d->version(), 42u);
    EXPECT_FALSE(authority::from_utf8("\xFF"));
}

}  // namespace
