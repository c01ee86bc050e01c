// Differential test of collab/changeset against @codemirror/state and @codemirror/collab: the
// fixture tests/unit/data/changeset_diff.json holds what CodeMirror computed for thousands of
// random documents and change sets (web/collab-diff/generate.mjs; the web stage of
// scripts/test.sh checks that it is still what the pinned packages compute). Every result here
// must serialize to the same JSON.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "chirp/collab/authority.hpp"
#include "chirp/collab/changeset.hpp"

namespace {

using chirp::collab::authority;
using chirp::collab::changeset;
using chirp::collab::update;
using nlohmann::json;

const json& fixture() {
    static const json data = [] {
        std::ifstream in(std::string(CHIRP_UNIT_DATA_DIR) + "/changeset_diff.json");
        std::stringstream ss;
        ss << in.rdbuf();
        return json::parse(ss.str());
    }();
    return data;
}

changeset parse(const json& j) {
    auto cs = changeset::from_json(j);
    if (!cs) throw std::runtime_error("fixture change set refused: " + cs.error().message);
    return std::move(*cs);
}

std::u16string utf16(const json& s) {
    return *chirp::collab::utf8_to_utf16(s.get<std::string>());
}

json text(const chirp::collab::result<std::u16string>& r) {
    if (!r) return json("error: " + r.error().message);
    return *chirp::collab::utf16_to_utf8(*r);
}

json sections(const changeset& c) {
    return c.sections();
}

json dump(const chirp::collab::result<changeset>& r) {
    if (!r) return json("error: " + r.error().message);
    return r->to_json();
}

// Counts mismatches and reports the first few in full.
struct checker {
    int failures = 0;
    void operator()(const json& got, const json& want, const std::string& what, const json& c) {
        if (got.dump() == want.dump()) return;
        if (++failures <= 8)
            ADD_FAILURE() << what << ": got " << got.dump() << ", CodeMirror " << want.dump()
                          << "\n  case " << c.dump();
    }
};

TEST(ChangesetDiff, FixtureIsFromThePinnedPackages) {
    const auto& f = fixture();
    EXPECT_EQ(f.at("@codemirror/state"), "6.7.6");
    EXPECT_EQ(f.at("@codemirror/collab"), "6.1.1");
    EXPECT_GE(f.at("cases").size(), 1000u);
    EXPECT_GE(f.at("rebase").size(), 100u);
}

TEST(ChangesetDiff, ApplyMapComposeMatchCodeMirror) {
    checker check;
    for (const auto& c : fixture().at("cases")) {
        const auto doc = utf16(c.at("doc"));
        const auto a = parse(c.at("a"));
        const auto b = parse(c.at("b"));
        const auto cc = parse(c.at("c"));
        check(a.to_json(), c.at("a"), "fromJSON/toJSON round trip", c);
        check(text(a.apply(doc)), c.at("applyA"), "a.apply(doc)", c);
        check(dump(a.map(b)), c.at("mapAB"), "a.map(b)", c);
        check(dump(a.map(b, true)), c.at("mapABBefore"), "a.map(b, true)", c);
        // ChangeDesc.mapDesc returns itself when the other changes are empty.
        check(sections(b.empty() ? a : changeset::map_sections(a, b, false, false)),
              c.at("mapDescAB"), "a.desc.mapDesc(b.desc)", c);
        const auto composed = a.compose(cc);
        check(dump(composed), c.at("composeAC"), "a.compose(c)", c);
        check(sections(a.empty()    ? cc
                       : cc.empty() ? a
                                    : changeset::compose_sections(a, cc, false)),
              c.at("composeDescAC"), "a.desc.composeDesc(c.desc)", c);
        if (composed) check(text(composed->apply(doc)), c.at("composedDoc"), "compose apply", c);
        const auto b_over_a = b.map(a);
        const auto a_over_b = a.map(b, true);
        ASSERT_TRUE(b_over_a && a_over_b);
        const auto one = a.compose(*b_over_a);
        const auto other = b.compose(*a_over_b);
        ASSERT_TRUE(one && other);
        check(text(one->apply(doc)), c.at("converged"), "a.compose(b.map(a)) apply", c);
        check(text(other->apply(doc)), c.at("convergedOther"), "b.compose(a.map(b, true))", c);
    }
    EXPECT_EQ(check.failures, 0);
}

TEST(ChangesetDiff, RebaseUpdatesMatchesCodeMirror) {
    checker check;
    for (const auto& c : fixture().at("rebase")) {
        std::vector<update> accepted;
        auto doc = utf16(c.at("doc"));
        for (const auto& p : c.at("pushes")) {
            const auto id = p.at("clientID").get<std::string>();
            std::vector<update> pushed;
            for (const auto& ch : p.at("changes")) pushed.push_back({id, parse(ch)});
            const auto over =
                std::span<const update>(accepted).subspan(p.at("base").get<std::size_t>());
            // Over all the accepted updates at once.
            auto batched = chirp::collab::rebase_updates(pushed, over);
            ASSERT_TRUE(batched) << batched.error().message << "\n  case " << c.dump();
            json got = json::array();
            for (const auto& u : *batched) got.push_back(u.changes.to_json());
            check(got, p.at("batched"), "rebaseUpdates(updates, over)", c);
            // One accepted update at a time: what the authority appends.
            auto rebased = chirp::collab::result<std::vector<update>>(std::move(pushed));
            for (const auto& w : over) {
                rebased = chirp::collab::rebase_updates(std::move(*rebased), std::span(&w, 1));
                ASSERT_TRUE(rebased) << rebased.error().message << "\n  case " << c.dump();
            }
            got = json::array();
            for (auto& u : *rebased) {
                got.push_back(u.changes.to_json());
                auto next = u.changes.apply(doc);
                ASSERT_TRUE(next) << next.error().message << "\n  case " << c.dump();
                doc = std::move(*next);
                accepted.push_back(std::move(u));
            }
            check(got, p.at("accepted"), "rebaseUpdates over each accepted update", c);
        }
        check(*chirp::collab::utf16_to_utf8(doc), c.at("text"), "text after the pushes", c);
    }
    EXPECT_EQ(check.failures, 0);
}

// The same pushes through the authority: it must accept exactly what CodeMirror's rebase gives.
TEST(ChangesetDiff, AuthorityAcceptsWhatCodeMirrorRebases) {
    checker check;
    for (const auto& c : fixture().at("rebase")) {
        auto draft = authority::from_utf8(c.at("doc").get<std::string>(), 0);
        ASSERT_TRUE(draft);
        for (const auto& p : c.at("pushes")) {
            std::vector<changeset> changes;
            for (const auto& ch : p.at("changes")) changes.push_back(parse(ch));
            const auto before = draft->version();
            auto r = draft->push(p.at("base").get<std::uint64_t>(),
                                 p.at("clientID").get<std::string>(), std::move(changes));
            ASSERT_TRUE(r) << r.error().message << "\n  case " << c.dump();
            json got = json::array();
            for (const auto& u : r->accepted) got.push_back(u.changes.to_json());
            check(got, p.at("accepted"), "authority push", c);
            EXPECT_EQ(r->version, before + r->accepted.size());
        }
        check(draft->text_utf8(), c.at("text"), "authority text", c);
    }
    EXPECT_EQ(check.failures, 0);
}

}  // namespace
