// Collaborative drafts over WebSocket against real chirpd processes (docs/protocol.md,
// "Collaborative drafts"): authorization (strangers, removed collaborators, closed drafts) and
// a randomized convergence run with two chirpd processes and simulated @codemirror/collab
// editors (unconfirmed updates, one receiveUpdates per update, random delivery moments,
// dropped and duplicated acknowledgements, disconnects with unconfirmed edits). At the end
// every editor's text is the server's, is the fold of the draft's DraftUpdated events, the
// versions are gap-free and every typed token is there exactly once unless it was deleted.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <random>
#include <set>

#include "chirp/collab/changeset.hpp"
#include "support/api.hpp"
#include "support/server.hpp"
#include "support/ws_client.hpp"

namespace chirp::test {
namespace {

using json = nlohmann::json;
using collab::changeset;
using namespace std::chrono_literals;

json create_draft(http_client& api, const test_user& owner, const std::string& text) {
    auto r = api.post("/api/drafts", {{"text", text}}, owner.token);
    if (r.status != 201) throw std::runtime_error("create draft: " + r.describe());
    return r.json();
}

void add_collaborator(http_client& api, const test_user& owner, const std::string& draft,
                      const test_user& who) {
    auto r =
        api.post("/api/drafts/" + draft + "/collaborators", {{"handle", who.handle}}, owner.token);
    if (r.status != 200) throw std::runtime_error("add collaborator: " + r.describe());
}

std::unique_ptr<ws_client> connect(std::uint16_t port, const test_user& u) {
    auto c = std::make_unique<ws_client>(port);
    c->auth(u.token);
    return c;
}

json join(ws_client& c, const std::string& draft, std::optional<std::uint64_t> version = {}) {
    json m = {{"type", "draft_join"}, {"draft", draft}};
    if (version) m["version"] = *version;
    c.send(m);
    return c
        .collect_until(
            [](const json& f) { return f["type"] == "draft_state" || f["type"] == "error"; })
        .back();
}

json push_of(const std::string& draft, std::uint64_t version, const std::string& client,
             const std::vector<changeset>& changes) {
    json ups = json::array();
    for (const auto& c : changes) ups.push_back({{"clientID", client}, {"changes", c.to_json()}});
    return {{"type", "draft_push"}, {"draft", draft}, {"version", version}, {"updates", ups}};
}

changeset insert_at(std::size_t len, std::size_t at, const std::u16string& text) {
    std::vector<std::int64_t> s;
    std::vector<std::u16string> ins;
    if (at > 0) {
        s.insert(s.end(), {static_cast<std::int64_t>(at), -1});
        ins.emplace_back();
    }
    s.insert(s.end(), {0, static_cast<std::int64_t>(text.size())});
    ins.push_back(text);
    if (len > at) s.insert(s.end(), {static_cast<std::int64_t>(len - at), -1});
    return changeset::from_sections(std::move(s), std::move(ins));
}

changeset delete_range(std::size_t len, std::size_t from, std::size_t to) {
    std::vector<std::int64_t> s;
    std::vector<std::u16string> ins;
    if (from > 0) {
        s.insert(s.end(), {static_cast<std::int64_t>(from), -1});
        ins.emplace_back();
    }
    s.insert(s.end(), {static_cast<std::int64_t>(to - from), 0});
    ins.emplace_back();
    if (len > to) s.insert(s.end(), {static_cast<std::int64_t>(len - to), -1});
    return changeset::from_sections(std::move(s), std::move(ins));
}

std::u16string u16(const std::string& s) {
    return *collab::utf8_to_utf16(s);
}
std::string u8(const std::u16string& s) {
    return *collab::utf16_to_utf8(s);
}

class DraftsLiveTest : public server_test<DraftsLiveTest> {};

// ------------------------------------------------------------------------------ authorization

TEST_F(DraftsLiveTest, StrangersRemovedCollaboratorsAndClosedDrafts) {
    auto& api = server().api();
    auto owner = register_user(api, "do");
    auto col = register_user(api, "dc");
    auto stranger = register_user(api, "ds");
    const auto d = create_draft(api, owner, "hello")["id"].get<std::string>();
    add_collaborator(api, owner, d, col);

    auto wo = connect(server().port(), owner);
    auto wc = connect(server().port(), col);
    auto ws = connect(server().port(), stranger);
    auto st = join(*wo, d);
    ASSERT_EQ(st["type"], "draft_state") << st.dump();
    EXPECT_EQ(st["text"], "hello");
    EXPECT_EQ(st["version"], 0);
    EXPECT_EQ(st["owner"]["id"], owner.id);
    ASSERT_EQ(join(*wc, d)["type"], "draft_state");

    // A stranger: join, push and presence are not_found, nothing reaches the editors.
    auto e = join(*ws, d);
    EXPECT_EQ(e["type"], "error");
    EXPECT_EQ(e["code"], "not_found");
    EXPECT_EQ(e["draft"], d);
    EXPECT_EQ(join(*ws, "999999")["code"], "not_found");
    ws->send(push_of(d, 0, "s", {insert_at(5, 0, u"x")}));
    EXPECT_EQ(ws->expect("error")["code"], "not_found");
    ws->send({{"type", "draft_presence"},
              {"draft", d},
              {"clientID", "s"},
              {"version", 0},
              {"selection", {{"anchor", 0}, {"head", 0}}}});
    EXPECT_EQ(ws->expect("error")["code"], "not_found");
    for (const auto& f : wo->before_pong()) EXPECT_NE(f["type"], "draft_presence") << f.dump();

    // The collaborator's presence reaches the owner; his push is echoed to both.
    wc->send({{"type", "draft_presence"},
              {"draft", d},
              {"clientID", "c"},
              {"version", 0},
              {"selection", {{"anchor", 5}, {"head", 5}}}});
    auto p = wo->expect("draft_presence");
    EXPECT_EQ(p["user"]["id"], col.id);
    EXPECT_EQ(p["selection"]["head"], 5);
    wc->send(push_of(d, 0, "c", {insert_at(5, 5, u"!")}));
    EXPECT_EQ(wc->expect("draft_update")["version"], 1);
    EXPECT_EQ(wc->expect("draft_pushed")["accepted"], 1);
    EXPECT_EQ(wo->expect("draft_update")["changes"], json::parse(R"([5,[0,"!"]])"));

    // Removed: detached with reason "removed", his pushes refused, nothing appended.
    auto r = api.del("/api/drafts/" + d + "/collaborators/" + col.handle, owner.token);
    ASSERT_EQ(r.status, 200) << r.describe();
    EXPECT_EQ(wc->expect("draft_closed")["reason"], "removed");
    EXPECT_EQ(wo->expect("draft_collaborators")["collaborators"].size(), 0u);
    wc->send(push_of(d, 1, "c", {insert_at(6, 6, u"?")}));
    EXPECT_EQ(wc->expect("error")["code"], "not_found");
    EXPECT_EQ(join(*wc, d)["code"], "not_found");
    EXPECT_EQ(api.get("/api/drafts/" + d, owner.token).json()["version"], 1);

    // Published: the owner's session is detached; the draft is gone for everyone.
    auto pub = api.post("/api/drafts/" + d + "/publish", {{"version", 1}}, owner.token);
    ASSERT_EQ(pub.status, 201) << pub.describe();
    auto closed = wo->expect("draft_closed");
    EXPECT_EQ(closed["reason"], "published");
    EXPECT_EQ(closed["tweetId"], pub.json()["tweet"]["id"]);
    EXPECT_EQ(join(*wo, d)["code"], "not_found");
}

// ------------------------------------------------------------------------------ convergence

// A simulated CodeMirror editor with @codemirror/collab.
struct sim_editor {
    test_user user;
    std::string client_id;
    std::unique_ptr<ws_client> ws;
    std::uint64_t version = 0;
    std::u16string doc;
    std::vector<changeset> unconfirmed;
    bool in_flight = false;
    bool rejoining = false;
    int resets = 0;
    int counter = 0;
};

// @codemirror/collab's receiveUpdates with one update.
void receive(sim_editor& c, const std::string& client, const changeset& changes) {
    c.version += 1;
    if (!c.unconfirmed.empty() && client == c.client_id) {
        c.unconfirmed.erase(c.unconfirmed.begin());
        return;
    }
    changeset ch = changes;
    for (auto& mine : c.unconfirmed) {
        auto mapped = *mine.map(ch);
        ch = *ch.map(mine, true);
        mine = std::move(mapped);
    }
    auto next = ch.apply(c.doc);
    ASSERT_TRUE(next) << next.error().message;
    c.doc = std::move(*next);
}

struct convergence {
    std::mt19937 rng{20261202};
    std::string draft;
    std::vector<std::uint16_t> ports;
    std::vector<sim_editor> eds;
    std::set<std::string> typed, deleted;
    int rejoins = 0, reconnects = 0, lost_acks = 0, dropped = 0, duplicated = 0;

    bool chance(double p) { return std::bernoulli_distribution(p)(rng); }
    std::size_t below(std::size_t n) {
        return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    }

    // Tokens "[<editor><n>😀]" tile the text: edits happen at token boundaries only.
    static std::vector<std::pair<std::size_t, std::size_t>> tokens(const std::u16string& d) {
        std::vector<std::pair<std::size_t, std::size_t>> out;
        std::size_t start = 0;
        for (std::size_t i = 0; i < d.size(); ++i) {
            if (d[i] == u'[') start = i;
            if (d[i] == u']') out.emplace_back(start, i + 1);
        }
        return out;
    }

    void type(sim_editor& c) {
        auto t = tokens(c.doc);
        if (!t.empty() && chance(0.25)) {
            auto [from, to] = t[below(t.size())];
            deleted.insert(u8(c.doc.substr(from, to - from)));
            auto cs = delete_range(c.doc.size(), from, to);
            c.doc = *cs.apply(c.doc);
            c.unconfirmed.push_back(std::move(cs));
            return;
        }
        std::vector<std::size_t> at{0};
        for (auto [f, e] : t) at.push_back(e);
        const auto pos = at[below(at.size())];
        const auto tok = "[" + c.client_id + std::to_string(++c.counter) + "😀]";
        typed.insert(tok);
        auto cs = insert_at(c.doc.size(), pos, u16(tok));
        c.doc = *cs.apply(c.doc);
        c.unconfirmed.push_back(std::move(cs));
    }

    void push(sim_editor& c) {
        if (c.unconfirmed.empty() || c.in_flight || c.rejoining) return;
        c.ws->send(push_of(draft, c.version, c.client_id, c.unconfirmed));
        c.in_flight = true;
    }

    void rejoin(sim_editor& c) {
        json m = {{"type", "draft_join"}, {"draft", draft}, {"version", c.version}};
        c.ws->send(m);
        c.rejoining = true;
        ++rejoins;
    }

    void reconnect(sim_editor& c) {
        ++reconnects;
        c.ws->close();
        c.ws = connect(ports[below(ports.size())], c.user);
        c.in_flight = false;
        rejoin(c);
    }

    void on_update(sim_editor& c, const json& f) {
        const auto k = f["version"].get<std::uint64_t>();
        if (k <= c.version) return;
        if (k > c.version + 1) {
            if (!c.rejoining) rejoin(c);
            return;
        }
        auto cs = changeset::from_json(f["changes"]);
        ASSERT_TRUE(cs) << f.dump();
        receive(c, f["clientID"].get<std::string>(), *cs);
    }

    void handle(sim_editor& c, const json& f) {
        const auto type = f.value("type", "");
        if (type == "draft_update") {
            if (chance(0.04)) {  // a lost frame: the next one shows the gap
                ++dropped;
                return;
            }
            on_update(c, f);
            if (chance(0.04)) {
                ++duplicated;
                on_update(c, f);
            }
        } else if (type == "draft_pushed") {
            // A lost acknowledgement: the editor pushes the same updates again later.
            c.in_flight = false;
        } else if (type == "draft_state") {
            c.rejoining = false;
            if (f.contains("updates")) {
                for (const auto& u : f["updates"]) on_update(c, u);
            } else if (f["version"] != c.version || !c.unconfirmed.empty()) {
                ++c.resets;
                c.doc = u16(f["text"].get<std::string>());
                c.version = f["version"];
                c.unconfirmed.clear();
            }
        } else if (type == "draft_reset") {
            ADD_FAILURE() << "reset: " << f.dump();
            ++c.resets;
            c.doc = u16(f["text"].get<std::string>());
            c.version = f["version"];
            c.unconfirmed.clear();
            c.in_flight = false;
        } else if (type == "error") {
            ADD_FAILURE() << "error: " << f.dump();
        }
    }

    void deliver(sim_editor& c, int n) {
        for (; n > 0; --n) {
            auto f = c.ws->next(0ms);
            if (!f) return;
            handle(c, *f);
        }
    }
};

TEST_F(DraftsLiveTest, TwoProcessesConverge) {
    auto& db = server().db();
    auto second = start_chirpd(db, {.name = "chirpd-B"});
    http_client api_b(second->port());
    auto& api = server().api();
    convergence sim;
    sim.ports = {server().port(), second->port()};
    auto owner = register_user(api, "co");
    sim.draft = create_draft(api, owner, "")["id"].get<std::string>();
    const char* names = "abcd";
    for (int i = 0; i < 4; ++i) {
        sim_editor e;
        e.user = i == 0 ? owner : register_user(api_b, "cc");
        if (i > 0) add_collaborator(api, owner, sim.draft, e.user);
        e.client_id = std::string(1, names[i]);
        e.ws = connect(sim.ports[static_cast<std::size_t>(i) % 2], e.user);
        auto st = join(*e.ws, sim.draft);
        ASSERT_EQ(st["type"], "draft_state") << st.dump();
        sim.eds.push_back(std::move(e));
    }

    for (int step = 0; step < 600; ++step) {
        auto& c = sim.eds[sim.below(sim.eds.size())];
        const auto roll = sim.below(100);
        if (roll < 25)
            sim.type(c);
        else if (roll < 50)
            sim.push(c);
        else if (roll < 53 && !c.unconfirmed.empty() && c.in_flight) {
            c.in_flight = false;  // an acknowledgement that never came: push again
            ++sim.lost_acks;
        } else if (roll < 55)
            sim.reconnect(c);
        else
            sim.deliver(c, 1 + static_cast<int>(sim.below(3)));
        // Keeps each connection well below the message rate limit (50/s), and lets frames
        // arrive while others are typing.
        std::this_thread::sleep_for(4ms);
        if (HasFailure()) return;
    }

    // Settle: everyone receives everything and pushes what is left.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    std::uint64_t server_version = 0;
    json current;
    for (;;) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no convergence";
        for (auto& c : sim.eds) {
            while (auto f = c.ws->next(20ms)) sim.handle(c, *f);
            if (c.in_flight) continue;
            sim.push(c);
        }
        current = api.get("/api/drafts/" + sim.draft, owner.token).json();
        server_version = current["version"];
        bool done = true;
        for (auto& c : sim.eds)
            done = done && c.unconfirmed.empty() && !c.in_flight && !c.rejoining &&
                   c.version == server_version;
        if (done) break;
        for (auto& c : sim.eds)
            if (c.version != server_version && !c.rejoining && !c.in_flight && sim.chance(0.2))
                sim.rejoin(c);
    }
    const auto text = current["text"].get<std::string>();
    for (auto& c : sim.eds) {
        EXPECT_EQ(u8(c.doc), text) << c.client_id;
        EXPECT_EQ(c.resets, 0) << c.client_id;
    }

    // The fold of the events is the text, versions 1..V without gaps.
    pqxx::connection conn(db.url());
    auto rows = query_rows(conn,
                           "SELECT payload::text FROM events WHERE type = 'DraftUpdated' AND "
                           "payload->>'draftId' = '" +
                               sim.draft + "' ORDER BY seq");
    ASSERT_EQ(rows.size(), server_version);
    std::u16string folded;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        auto p = json::parse(rows[i][0]);
        ASSERT_EQ(p["version"], i + 1);
        auto cs = changeset::from_json(p["changes"]);
        ASSERT_TRUE(cs);
        auto next = cs->apply(folded);
        ASSERT_TRUE(next) << next.error().message;
        folded = std::move(*next);
    }
    EXPECT_EQ(u8(folded), text);

    // Every token typed is there exactly once, unless deleted.
    std::map<std::string, int> seen;
    const auto doc = u16(text);
    for (auto [f, e] : convergence::tokens(doc)) ++seen[u8(doc.substr(f, e - f))];
    for (const auto& t : sim.typed) {
        if (sim.deleted.contains(t))
            EXPECT_EQ(seen[t], 0) << t;
        else
            EXPECT_EQ(seen[t], 1) << t;
    }
    EXPECT_GT(server_version, 50u);
    std::cout << "versions " << server_version << ", tokens typed " << sim.typed.size()
              << ", deleted " << sim.deleted.size() << ", reconnects " << sim.reconnects
              << ", rejoins " << sim.rejoins << ", lost acks " << sim.lost_acks
              << ", dropped frames " << sim.dropped << ", duplicated " << sim.duplicated << "\n";
}

}  // namespace
}  // namespace chirp::test
