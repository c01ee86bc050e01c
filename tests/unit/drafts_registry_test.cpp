// The drafts registry (drafts/registry.hpp) with an in-memory log and an in-memory bus between
// two registries (two "processes"): joins, pushes and their echo, rebasing stale pushes, a
// repeated push after a lost acknowledgement (no duplicate), conflicts between processes, gaps
// on the bus, presence throttling, limits and authorization.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "chirp/drafts/registry.hpp"

namespace {

namespace asio = boost::asio;
using namespace chirp;
using json = nlohmann::json;

struct fake_editor final : drafts::editor {
    long long uid;
    std::string uj;
    std::vector<json> frames;
    int dones = 0;
    explicit fake_editor(long long id)
        : uid(id),
          uj(R"({"id":")" + std::to_string(id) + R"(","handle":"u)" + std::to_string(id) +
             R"(","displayName":"U"})") {}
    long long user_id() const override { return uid; }
    const std::string& user_json() const override { return uj; }
    void send(const std::shared_ptr<const std::string>& f) override {
        frames.push_back(json::parse(*f));
    }
    void done() override { ++dones; }
    std::vector<json> of(const std::string& type) const {
        std::vector<json> out;
        for (const auto& f : frames)
            if (f["type"] == type) out.push_back(f);
        return out;
    }
};

// The bus between the registries of one test: publishes are delivered later (posted), to
// every registry subscribed to the channel; `drop` loses the next n messages.
struct bus_hub;
struct mem_bus final : drafts::bus {
    bus_hub& hub;
    drafts::registry* reg = nullptr;
    std::multiset<std::string> subs;
    explicit mem_bus(bus_hub& h) : hub(h) {}
    void publish(const std::string& channel, std::string payload) override;
    asio::awaitable<void> subscribe(std::string channel) override {
        subs.insert(channel);
        co_return;
    }
    void unsubscribe(const std::string& channel) override {
        auto it = subs.find(channel);
        if (it != subs.end()) subs.erase(it);
    }
};

struct bus_hub {
    asio::io_context& ioc;
    std::vector<mem_bus*> nodes;
    int drop = 0;
};

void mem_bus::publish(const std::string& channel, std::string payload) {
    if (hub.drop > 0) {
        --hub.drop;
        return;
    }
    for (auto* n : hub.nodes)
        asio::post(hub.ioc, [n, channel, payload] {
            if (n->subs.contains(channel)) n->reg->on_bus_message(channel, payload);
        });
}

// An insertion of `text` at `at` into a document of `len` code units, as ChangeSet JSON.
collab::changeset insert(std::int64_t len, std::int64_t at, const std::u16string& text) {
    std::vector<std::int64_t> sections;
    std::vector<std::u16string> inserted;
    if (at > 0) {
        sections.insert(sections.end(), {at, -1});
        inserted.emplace_back();
    }
    sections.insert(sections.end(), {0, static_cast<std::int64_t>(text.size())});
    inserted.push_back(text);
    if (len > at) sections.insert(sections.end(), {len - at, -1});
    return collab::changeset::from_sections(std::move(sections), std::move(inserted));
}

struct DraftsRegistry : ::testing::Test {
    asio::io_context ioc;
    drafts::memory_log log;
    bus_hub hub{ioc, {}};
    mem_bus bus1{hub}, bus2{hub};
    std::unique_ptr<drafts::registry> r1, r2;
    domain::user_ref owner{1, "u1", "U"}, collab{2, "u2", "U"};

    void SetUp() override {
        drafts::options o;
        o.presence_interval = std::chrono::milliseconds(50);
        r1 = drafts::create_registry(ioc, log, bus1, o);
        r2 = drafts::create_registry(ioc, log, bus2, o);
        bus1.reg = r1.get();
        bus2.reg = r2.get();
        hub.nodes = {&bus1, &bus2};
    }
    void settle() {
        for (int i = 0; i < 1000; ++i) {
            ioc.restart();
            if (ioc.poll() == 0) return;
        }
    }
    drafts::push_request push_req(long long d, std::uint64_t v, const std::string& client,
                                  std::vector<collab::changeset> cs) {
        drafts::push_request p;
        p.draft = d;
        p.version = v;
        for (auto& c : cs) p.updates.push_back({client, std::move(c)});
        return p;
    }
    std::string text_of(long long d) { return log.find(d)->text; }
};

TEST_F(DraftsRegistry, JoinPushEchoAndLostAck) {
    const auto d = log.create(owner, "ab", {collab});
    fake_editor a(1), b(2);
    auto sa = r1->connect(a), sb = r1->connect(b);
    r1->join(sa, {d, std::nullopt, "ca"});
    r1->join(sb, {d, std::nullopt, "cb"});
    settle();
    ASSERT_EQ(a.of("draft_state").size(), 1u);
    EXPECT_EQ(a.of("draft_state")[0]["text"], "ab");
    EXPECT_EQ(a.of("draft_state")[0]["version"], 0);
    EXPECT_FALSE(a.of("draft_state")[0].contains("updates"));
    EXPECT_EQ(b.of("draft_state")[0]["collaborators"][0]["id"], "2");
    EXPECT_EQ(a.dones, 1);

    r1->push(sa, push_req(d, 0, "ca", {insert(2, 1, u"😀")}));
    settle();
    EXPECT_EQ(text_of(d), "a😀b");
    ASSERT_EQ(a.of("draft_update").size(), 1u);
    EXPECT_EQ(a.of("draft_update")[0]["version"], 1);
    EXPECT_EQ(a.of("draft_update")[0]["clientID"], "ca");
    EXPECT_EQ(a.of("draft_update")[0]["user"]["id"], "1");
    EXPECT_EQ(b.of("draft_update").size(), 1u);
    ASSERT_EQ(a.of("draft_pushed").size(), 1u);
    EXPECT_EQ(a.of("draft_pushed")[0]["version"], 1);
    EXPECT_EQ(a.of("draft_pushed")[0]["accepted"], 1);
    // The echo came before the answer.
    EXPECT_EQ(a.frames.back()["type"], "draft_pushed");

    // The acknowledgement was lost: the same push again appends nothing.
    r1->push(sa, push_req(d, 0, "ca", {insert(2, 1, u"😀")}));
    settle();
    EXPECT_EQ(log.history(d).size(), 1u);
    EXPECT_EQ(a.of("draft_pushed").back()["accepted"], 0);
    EXPECT_EQ(b.of("draft_update").size(), 1u);

    // A stale push (b did not see version 1) is rebased.
    r1->push(sb, push_req(d, 0, "cb", {insert(2, 2, u"c")}));
    settle();
    EXPECT_EQ(text_of(d), "a😀bc");
    EXPECT_EQ(b.of("draft_pushed").back()["version"], 2);

    // Rejoining with a version inside the window gets the updates after it.
    r1->join(sb, {d, 1, "cb"});
    settle();
    const auto st = b.of("draft_state").back();
    ASSERT_TRUE(st.contains("updates"));
    ASSERT_EQ(st["updates"].size(), 1u);
    EXPECT_EQ(st["updates"][0]["version"], 2);
    EXPECT_EQ(st["editors"].size(), 2u);
}

TEST_F(DraftsRegistry, RefusalsReset) {
    const auto d = log.create(owner, "ab");
    fake_editor a(1);
    auto sa = r1->connect(a);
    r1->join(sa, {d, std::nullopt, ""});
    settle();
    r1->push(sa, push_req(d, 0, "ca", {insert(3, 1, u"x")}));  // wrong length
    r1->push(sa, push_req(d, 5, "ca", {insert(2, 1, u"x")}));  // ahead
    r1->push(sa, push_req(d, 0, "ca", {insert(2, 1, std::u16string(1001, u'x'))}));
    settle();
    const auto resets = a.of("draft_reset");
    ASSERT_EQ(resets.size(), 3u);
    EXPECT_EQ(resets[0]["code"], "length_mismatch");
    EXPECT_EQ(resets[1]["code"], "base_ahead");
    EXPECT_EQ(resets[2]["code"], "too_long");
    EXPECT_EQ(resets[2]["text"], "ab");
    EXPECT_EQ(log.history(d).size(), 0u);
    EXPECT_EQ(a.dones, 4);
    // The store is down: nothing appended, an error, the authority unchanged.
    log.fail_next_appends = 1;
    r1->push(sa, push_req(d, 0, "ca", {insert(2, 1, u"x")}));
    settle();
    EXPECT_EQ(a.frames.back()["code"], "unavailable");
    r1->push(sa, push_req(d, 0, "ca", {insert(2, 1, u"x")}));
    settle();
    EXPECT_EQ(text_of(d), "axb");
    EXPECT_EQ(a.of("draft_pushed").back()["version"], 1);
}

TEST_F(DraftsRegistry, Authorization) {
    const auto d = log.create(owner, "", {collab});
    fake_editor a(1), b(2), stranger(3);
    auto sa = r1->connect(a), sb = r1->connect(b), ss = r1->connect(stranger);
    r1->join(sa, {d, std::nullopt, ""});
    r1->join(ss, {d, std::nullopt, ""});
    r1->join(ss, {999, std::nullopt, ""});
    settle();
    ASSERT_EQ(stranger.of("error").size(), 2u);
    EXPECT_EQ(stranger.of("error")[0]["code"], "not_found");
    EXPECT_EQ(stranger.of("error")[1]["code"], "not_found");
    r1->push(ss, push_req(d, 0, "cs", {insert(0, 0, u"x")}));
    r1->presence(ss, {d, "cs", 0, std::make_pair(0LL, 0LL)});
    r1->push(sb, push_req(d, 0, "cb", {insert(0, 0, u"x")}));
    settle();
    EXPECT_EQ(stranger.of("error").size(), 4u);
    EXPECT_EQ(stranger.of("error")[3]["code"], "not_found");
    EXPECT_EQ(b.of("error").back()["code"], "not_joined");
    EXPECT_TRUE(a.of("draft_presence").empty());
    EXPECT_EQ(stranger.dones, 3);

    // b joins, then is removed: detached, and refused from then on.
    r1->join(sb, {d, std::nullopt, "cb"});
    settle();
    log.find(d)->collaborators.clear();
    r1->notify({d, drafts::draft_notice::kind::collaborators, 2, std::nullopt});
    settle();
    ASSERT_EQ(b.of("draft_closed").size(), 1u);
    EXPECT_EQ(b.of("draft_closed")[0]["reason"], "removed");
    EXPECT_EQ(a.of("draft_collaborators").size(), 1u);
    EXPECT_EQ(a.of("draft_collaborators")[0]["collaborators"].size(), 0u);
    r1->push(sb, push_req(d, 0, "cb", {insert(0, 0, u"x")}));
    settle();
    EXPECT_EQ(b.frames.back()["code"], "not_found");
    EXPECT_EQ(log.history(d).size(), 0u);

    // Published: everyone is detached.
    log.find(d)->closed = true;
    r1->notify({d, drafts::draft_notice::kind::published, std::nullopt, 99});
    settle();
    ASSERT_EQ(a.of("draft_closed").size(), 1u);
    EXPECT_EQ(a.of("draft_closed")[0]["tweetId"], "99");
    r1->join(sa, {d, std::nullopt, ""});
    settle();
    EXPECT_EQ(a.frames.back()["code"], "not_found");
}

TEST_F(DraftsRegistry, TooManyDrafts) {
    fake_editor a(1);
    auto sa = r1->connect(a);
    for (int i = 0; i < 9; ++i) r1->join(sa, {log.create(owner), std::nullopt, ""});
    settle();
    EXPECT_EQ(a.of("draft_state").size(), 8u);
    EXPECT_EQ(a.of("error").at(0)["code"], "too_many_drafts");
    r1->leave(sa, 1);
    settle();
    EXPECT_EQ(a.frames.back()["type"], "draft_left");
    r1->join(sa, {9, std::nullopt, ""});
    settle();
    EXPECT_EQ(a.of("draft_state").size(), 9u);
}

TEST_F(DraftsRegistry, TwoProcessesConflictAndGap) {
    const auto d = log.create(owner, "", {collab});
    fake_editor a(1), b(2);
    auto sa = r1->connect(a);
    auto sb = r2->connect(b);
    r1->join(sa, {d, std::nullopt, "ca"});
    r2->join(sb, {d, std::nullopt, "cb"});
    settle();
    // Both push against version 0 before either hears of the other: r2 conflicts, catches up
    // from the log and rebases.
    r1->push(sa, push_req(d, 0, "ca", {insert(0, 0, u"A")}));
    r2->push(sb, push_req(d, 0, "cb", {insert(0, 0, u"B")}));
    settle();
    EXPECT_EQ(log.history(d).size(), 2u);
    EXPECT_EQ(text_of(d), "AB");
    ASSERT_EQ(a.of("draft_update").size(), 2u);
    ASSERT_EQ(b.of("draft_update").size(), 2u);
    EXPECT_EQ(b.of("draft_update")[0]["version"], 1);
    EXPECT_EQ(b.of("draft_update")[1]["version"], 2);
    EXPECT_EQ(a.of("draft_update")[1]["clientID"], "cb");
    // A lost bus message: the next one shows a gap, r2 catches up from the log.
    hub.drop = 1;
    r1->push(sa, push_req(d, 2, "ca", {insert(2, 2, u"C")}));
    settle();
    r1->push(sa, push_req(d, 3, "ca", {insert(3, 3, u"D")}));
    settle();
    ASSERT_EQ(b.of("draft_update").size(), 4u);
    EXPECT_EQ(b.of("draft_update")[2]["version"], 3);
    EXPECT_EQ(b.of("draft_update")[3]["version"], 4);
    EXPECT_EQ(text_of(d), "ABCD");
}

TEST_F(DraftsRegistry, PresenceThrottledCoalescedAndEnded) {
    const auto d = log.create(owner, "abc", {collab});
    fake_editor a(1), b(2), c(2);
    auto sa = r1->connect(a), sb = r1->connect(b);
    auto sc = r2->connect(c);
    r1->join(sa, {d, std::nullopt, "ca"});
    r1->join(sb, {d, std::nullopt, "cb"});
    r2->join(sc, {d, std::nullopt, "cc"});
    settle();
    for (long long i = 0; i < 5; ++i) r1->presence(sa, {d, "ca", 0, std::make_pair(i, i)});
    settle();
    ASSERT_EQ(b.of("draft_presence").size(), 1u);
    EXPECT_EQ(b.of("draft_presence")[0]["selection"]["head"], 0);
    EXPECT_EQ(b.of("draft_presence")[0]["expiresInMs"], 15000);
    EXPECT_EQ(c.of("draft_presence").size(), 1u);
    EXPECT_TRUE(a.of("draft_presence").empty());
    ioc.restart();
    ioc.run_for(std::chrono::milliseconds(200));
    ASSERT_EQ(b.of("draft_presence").size(), 2u);
    EXPECT_EQ(b.of("draft_presence")[1]["selection"]["head"], 4);
    EXPECT_EQ(c.of("draft_presence").size(), 2u);
    r1->disconnect(sa);
    settle();
    ASSERT_EQ(b.of("draft_presence").size(), 3u);
    EXPECT_TRUE(b.of("draft_presence")[2]["selection"].is_null());
    EXPECT_EQ(b.of("draft_presence")[2]["expiresInMs"], 0);
    EXPECT_TRUE(c.of("draft_presence").back()["selection"].is_null());
    EXPECT_EQ(r1->editors(), 1u);
}

}  // namespace
