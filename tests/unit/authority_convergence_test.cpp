// Randomized convergence of the draft authority with simulated @codemirror/collab clients, sans-io:
// each client keeps its version, its text and its unconfirmed updates, and receives the accepted
// updates exactly as collab's receiveUpdates does (its own updates confirm, the others are mapped
// over its unconfirmed ones), one update per call. The authority's broadcasts reach each client
// through an in-order inbox that drops and duplicates messages at random; clients process their
// inboxes at random moments, disconnect and reconnect (pulling what they missed and pushing
// their unconfirmed updates again). At the end every client's text is the authority's; with
// insert-only typing of unique characters (astral ones included) nothing is lost or duplicated.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "chirp/collab/authority.hpp"

namespace {

using chirp::collab::authority;
using chirp::collab::authority_options;
using chirp::collab::changeset;
using chirp::collab::update;

struct client {
    std::string id;
    std::uint64_t version = 0;
    std::u16string doc;
    std::vector<changeset> unconfirmed;
    std::deque<std::pair<std::uint64_t, update>> inbox;  // (resulting version, update)
    int resets = 0;
};

// @codemirror/collab's receiveUpdates, on the text instead of an editor state.
void receive(client& c, const std::vector<update>& updates) {
    c.version += updates.size();
    std::optional<changeset> changes;
    std::size_t own = 0;
    for (const auto& u : updates) {
        if (own < c.unconfirmed.size() && u.client_id == c.id) {
            if (changes) changes = *changes->map(c.unconfirmed[own], true);
            ++own;
        } else {
            changes = changes ? *changes->compose(u.changes) : u.changes;
        }
    }
    c.unconfirmed.erase(c.unconfirmed.begin(), c.unconfirmed.begin() + static_cast<long>(own));
    if (!changes) return;
    for (auto& mine : c.unconfirmed) {
        auto mapped = *mine.map(*changes);
        changes = *changes->map(mine, true);
        mine = std::move(mapped);
    }
    auto next = changes->apply(c.doc);
    ASSERT_TRUE(next) << next.error().message;
    c.doc = std::move(*next);
}

void reset(client& c, const authority& a) {
    c.doc = a.text();
    c.version = a.version();
    c.unconfirmed.clear();
    c.inbox.clear();
    ++c.resets;
}

// Catching up applies the missed updates one receive at a time, as a live client receives them:
// the authority rebases pushes over one accepted update at a time, and CodeMirror's map is not
// compositional, so a client must group updates the same way (docs/collab.md).
void pull(client& c, const authority& a) {
    auto missed = a.updates_since(c.version);
    if (!missed) return reset(c, a);
    for (const auto& u : *missed) receive(c, {u});
}

struct simulation {
    std::mt19937 rng;
    authority draft;
    std::vector<client> clients;
    bool insert_only = true;
    std::uint32_t next_char = 0;
    std::map<char32_t, int> typed;

    simulation(unsigned seed, authority_options options, int n) : rng(seed), draft({}, 0, options) {
        for (int i = 0; i < n; ++i) clients.push_back(client{"c" + std::to_string(i)});
    }

    std::size_t below(std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    }
    bool chance(double p) { return std::bernoulli_distribution(p)(rng); }

    // Code point boundaries of a UTF-16 text.
    static std::vector<std::size_t> boundaries(const std::u16string& s) {
        std::vector<std::size_t> out{0};
        for (std::size_t i = 0; i < s.size();) {
            i += (s[i] >= 0xD800 && s[i] < 0xDC00) ? 2 : 1;
            out.push_back(i);
        }
        return out;
    }

    // A fresh character no one typed before: private-use code points, every third one astral.
    std::u16string unique_char() {
        const auto n = next_char++;
        const char32_t cp = n % 3 == 0 ? 0xF0000 + n : 0xE000 + n % 0x1800;
        ++typed[cp];
        if (cp < 0x10000) return std::u16string(1, static_cast<char16_t>(cp));
        const auto v = cp - 0x10000;
        return {static_cast<char16_t>(0xD800 + (v >> 10)),
                static_cast<char16_t>(0xDC00 + (v & 0x3FF))};
    }

    void type(client& c) {
        const auto b = boundaries(c.doc);
        auto from = b[below(b.size())];
        auto to = from;
        if (!insert_only && chance(0.4)) to = b[below(b.size())];
        if (to < from) std::swap(from, to);
        std::u16string text;
        if (insert_only || chance(0.7))
            for (auto k = 1 + below(2); k > 0; --k) text += unique_char();
        if (from == to && text.empty()) return;
        std::vector<std::int64_t> sections;
        std::vector<std::u16string> inserted;
        if (from > 0) sections.insert(sections.end(), {static_cast<std::int64_t>(from), -1});
        inserted.resize(sections.size() / 2);
        sections.insert(sections.end(), {static_cast<std::int64_t>(to - from),
                                         static_cast<std::int64_t>(text.size())});
        inserted.push_back(text);
        if (to < c.doc.size())
            sections.insert(sections.end(), {static_cast<std::int64_t>(c.doc.size() - to), -1});
        auto cs = changeset::from_sections(std::move(sections), std::move(inserted));
        // Round trip through the JSON the client would send.
        auto parsed = changeset::parse(cs.dump());
        ASSERT_TRUE(parsed) << parsed.error().message;
        auto next = parsed->apply(c.doc);
        ASSERT_TRUE(next) << next.error().message;
        c.doc = std::move(*next);
        c.unconfirmed.push_back(std::move(*parsed));
    }

    void push(client& c) {
        if (c.unconfirmed.empty()) return;
        auto r = draft.push(c.version, c.id, c.unconfirmed);
        if (!r) return reset(c, draft);
        auto version = r->version - r->accepted.size();
        for (const auto& u : r->accepted) {
            ++version;
            for (auto& other : clients) {
                if (chance(0.08)) continue;  // lost
                other.inbox.emplace_back(version, u);
                if (chance(0.08)) other.inbox.emplace_back(version, u);  // duplicated
            }
        }
    }

    void deliver(client& c, std::size_t n) {
        for (; n > 0 && !c.inbox.empty(); --n) {
            auto [version, u] = std::move(c.inbox.front());
            c.inbox.pop_front();
            if (version <= c.version) continue;  // duplicate or already pulled
            if (version == c.version + 1) {
                receive(c, {u});
            } else {
                pull(c, draft);  // a gap: something was lost
            }
        }
    }

    void reconnect(client& c) {
        c.inbox.clear();
        pull(c, draft);
        push(c);
    }

    void run(int steps) {
        for (int step = 0; step < steps; ++step) {
            auto& c = clients[below(clients.size())];
            const auto roll = below(100);
            if (roll < 40) {
                type(c);
            } else if (roll < 65) {
                push(c);
            } else if (roll < 95) {
                deliver(c, 1 + below(3));
            } else {
                reconnect(c);
            }
        }
        // Settle: everyone catches up and sends what is left, until nothing is unconfirmed.
        for (int round = 0; round < 20; ++round) {
            bool pending = false;
            for (auto& c : clients) {
                c.inbox.clear();
                pull(c, draft);
                push(c);
                pending = pending || !c.unconfirmed.empty();
            }
            if (!pending) break;
        }
        for (auto& c : clients) {
            c.inbox.clear();
            pull(c, draft);
        }
    }

    void expect_converged() {
        for (const auto& c : clients) {
            EXPECT_TRUE(c.unconfirmed.empty()) << c.id;
            EXPECT_EQ(c.version, draft.version()) << c.id;
            EXPECT_EQ(c.doc, draft.text()) << c.id;
        }
    }
};

std::map<char32_t, int> count_code_points(const std::u16string& s) {
    std::map<char32_t, int> out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char32_t cp = s[i];
        if (cp >= 0xD800 && cp < 0xDC00) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (s[i + 1] - 0xDC00);
            ++i;
        }
        ++out[cp];
    }
    return out;
}

TEST(AuthorityConvergence, InsertOnlyTypingLosesAndDuplicatesNothing) {
    for (unsigned seed = 1; seed <= 3; ++seed) {
        authority_options options;
        options.max_code_points = 100000;
        options.window = 300;
        simulation sim(seed, options, 4);
        sim.run(1200);
        SCOPED_TRACE("seed " + std::to_string(seed));
        sim.expect_converged();
        for (const auto& c : sim.clients) EXPECT_EQ(c.resets, 0) << c.id;
        EXPECT_EQ(count_code_points(sim.draft.text()), sim.typed);
        EXPECT_GT(sim.draft.version(), 100u);
    }
}

TEST(AuthorityConvergence, MixedEditsConvergeAlsoWithASmallWindow) {
    for (unsigned seed = 1; seed <= 6; ++seed) {
        authority_options options;
        options.max_code_points = 60;  // refusals (too_long) and resets happen too
        options.window = seed % 2 ? 8 : 1000;
        simulation sim(seed, options, 3);
        sim.insert_only = false;
        sim.run(1500);
        SCOPED_TRACE("seed " + std::to_string(seed));
        sim.expect_converged();
        EXPECT_LE(sim.draft.text_code_points(), 60u);
        // Every version is still rebuilt from the window start.
        EXPECT_EQ(*sim.draft.text_at(sim.draft.version()), sim.draft.text());
    }
}

}  // namespace
