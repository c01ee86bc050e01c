// Collaborative drafts, the event-sourced and REST half (docs/api.md "Drafts"): the endpoints'
// happy paths and authorization matrix, the length rules, the published tweet with its
// coauthors live in a follower's timeline, the draft_invite notification live, and the store
// seam (store::event_store::draft_append) against real PostgreSQL: two stores (two writers,
// as two chirpd processes) racing the same expected version, exactly one wins, versions
// gap-free; the fold of the log equals the projected text, before and after a rebuild.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "chirp/collab/changeset.hpp"
#include "chirp/config/config.hpp"
#include "chirp/metrics/metrics.hpp"
#include "chirp/store/store.hpp"
#include "support/server.hpp"

namespace chirp::test {
namespace {

namespace asio = boost::asio;
using json = nlohmann::json;

class Drafts : public server_test<Drafts> {};

json ok(const http_response& r, unsigned status = 200) {
    if (r.status != status) throw std::runtime_error("unexpected answer: " + r.describe());
    return r.body.empty() ? json() : r.json();
}

std::string create_draft(http_client& c, const test_user& owner, const std::string& text = "") {
    const json body = text.empty() ? json::object() : json{{"text", text}};
    return ok(c.post("/api/drafts", body, owner.token), 201).at("id").get<std::string>();
}

json invite(http_client& c, const test_user& owner, const std::string& draft,
            const test_user& who) {
    return ok(
        c.post("/api/drafts/" + draft + "/collaborators", {{"handle", who.handle}}, owner.token));
}

// An event store of our own on the test database, as a chirpd process has: its own writer
// (group commit under the append lock) and readers. Calls run on its loop thread.
class own_store {
public:
    explicit own_store(const std::string& url) {
        cfg_.database_url = url;
        cfg_.db_threads = 1;
        store_ = store::create_event_store(ioc_, cfg_, metrics_);
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~own_store() {
        store_->stop();
        guard_.reset();
        thread_.join();
    }
    store::event_store& operator*() { return *store_; }

    // Starts an operation on the loop; *get() is its result (store::result has no default
    // value, which use_future wants: hence the optional).
    template <class T>
    std::future<std::optional<T>> start(asio::awaitable<T> op) {
        return asio::co_spawn(ioc_, wrap(std::move(op)), asio::use_future);
    }
    template <class T>
    T run(asio::awaitable<T> op) {
        return *start(std::move(op)).get();
    }

private:
    template <class T>
    static asio::awaitable<std::optional<T>> wrap(asio::awaitable<T> op) {
        co_return co_await std::move(op);
    }

    asio::io_context ioc_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_{ioc_.get_executor()};
    config cfg_;
    metrics::registry metrics_;
    std::unique_ptr<store::event_store> store_;
    std::thread thread_;
};

// An insertion of `text` at `at` into a document of `length` UTF-16 units.
collab::update insertion(const std::string& client, long long length, long long at,
                         const std::string& text) {
    json j = json::array();
    if (at > 0) j.push_back(at);
    json ins = json::array({0});  // the inserted lines
    std::size_t from = 0;
    for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', from)) {
        ins.push_back(text.substr(from, nl - from));
        from = nl + 1;
    }
    ins.push_back(text.substr(from));
    j.push_back(ins);
    if (length > at) j.push_back(length - at);
    auto cs = collab::changeset::from_json(j);
    if (!cs) throw std::runtime_error("bad change set " + j.dump());
    return {client, *cs};
}

std::string u8(const std::u16string& s) {
    return *collab::utf16_to_utf8(s);
}

// ---------------------------------------------------------------------------- REST

TEST_F(Drafts, CreateListGetInvitePublish) {
    auto alice = register_user(api(), "da", "Alice Draft");
    auto bob = register_user(api(), "db", "Bob Draft");

    const auto created =
        ok(api().post("/api/drafts", {{"text", "hello\r\nworld"}}, alice.token), 201);
    EXPECT_EQ(created.at("text"), "hello\nworld") << "line breaks are \\n, as CodeMirror counts";
    EXPECT_EQ(created.at("version"), 0);
    EXPECT_EQ(created.at("codePoints"), 11);
    EXPECT_EQ(created.at("owner").at("handle"), alice.handle);
    EXPECT_EQ(created.at("collaborators"), json::array());
    EXPECT_TRUE(is_timestamp(created.at("createdAt")));
    EXPECT_TRUE(is_timestamp(created.at("updatedAt")));
    const auto id = created.at("id").get<std::string>();
    const auto empty = ok(api().post("/api/drafts", json::object(), alice.token), 201);
    EXPECT_EQ(empty.at("text"), "");

    EXPECT_EQ(ok(api().get("/api/drafts/" + id, alice.token)), created);
    const auto list = ok(api().get("/api/drafts", alice.token));
    ASSERT_EQ(list.at("items").size(), 2u);
    EXPECT_EQ(list.at("items")[0].at("id"), empty.at("id")) << "newest first";
    EXPECT_TRUE(list.at("nextCursor").is_null());
    const auto page1 = ok(api().get("/api/drafts?limit=1", alice.token));
    ASSERT_EQ(page1.at("items").size(), 1u);
    const auto page2 = ok(api().get(
        "/api/drafts?limit=1&before=" + page1.at("nextCursor").get<std::string>(), alice.token));
    ASSERT_EQ(page2.at("items").size(), 1u);
    EXPECT_EQ(page2.at("items")[0].at("id"), id);

    const auto with_bob = invite(api(), alice, id, bob);
    ASSERT_EQ(with_bob.at("collaborators").size(), 1u);
    EXPECT_EQ(with_bob.at("collaborators")[0].at("displayName"), "Bob Draft");
    EXPECT_EQ(ok(api().get("/api/drafts", bob.token)).at("items")[0].at("id"), id);
    EXPECT_EQ(ok(api().get("/api/drafts/" + id, bob.token)).at("collaborators"),
              with_bob.at("collaborators"));

    const auto pub =
        ok(api().post("/api/drafts/" + id + "/publish", {{"version", 0}}, alice.token), 201);
    EXPECT_EQ(pub.at("tweet").at("content"), "hello\nworld");
    EXPECT_EQ(pub.at("tweet").at("author").at("id"), alice.id);
    EXPECT_EQ(pub.at("tweet").at("coauthors"), with_bob.at("collaborators"));
    EXPECT_EQ(pub.at("draft").at("id"), id);
    const auto tweet_id = pub.at("tweet").at("id").get<std::string>();
    // The tweet is a tweet like any other, coauthors included, everywhere it is rendered.
    EXPECT_EQ(ok(api().get("/api/tweets/" + tweet_id, alice.token)), pub.at("tweet"));
    const auto liked = ok(api().post_empty("/api/tweets/" + tweet_id + "/like", bob.token));
    EXPECT_EQ(liked.at("coauthors"), with_bob.at("collaborators"));
    EXPECT_EQ(
        ok(api().get("/api/tweets/" + post_tweet(api(), bob, "plain"), bob.token)).at("coauthors"),
        json::array());

    // Closed: gone for everybody.
    EXPECT_TRUE(is_error(api().get("/api/drafts/" + id, alice.token), 404, "not_found"));
    EXPECT_TRUE(is_error(api().get("/api/drafts/" + id, bob.token), 404, "not_found"));
    EXPECT_EQ(ok(api().get("/api/drafts", bob.token)).at("items"), json::array());

    // Discard.
    const auto other = empty.at("id").get<std::string>();
    const auto gone = api().del("/api/drafts/" + other, alice.token);
    EXPECT_EQ(gone.status, 204u) << gone.describe();
    EXPECT_TRUE(gone.body.empty());
    EXPECT_TRUE(is_error(api().get("/api/drafts/" + other, alice.token), 404, "not_found"));
    EXPECT_EQ(ok(api().get("/api/drafts", alice.token)).at("items"), json::array());
}

TEST_F(Drafts, AuthorizationMatrix) {
    auto owner = register_user(api(), "mo");
    auto collab = register_user(api(), "mc");
    auto third = register_user(api(), "mt");
    auto stranger = register_user(api(), "ms");
    const auto id = create_draft(api(), owner, "shared");
    invite(api(), owner, id, collab);
    const std::string d = "/api/drafts/" + id;

    auto every_call = [&](const test_user& who, unsigned status, const char* code,
                          const std::string& why) {
        SCOPED_TRACE(why);
        if (status == 403)
            EXPECT_EQ(api().get(d, who.token).status, 200u) << "a collaborator reads the draft";
        else
            EXPECT_TRUE(is_error(api().get(d, who.token), status, code));
        EXPECT_TRUE(is_error(
            api().post(d + "/collaborators", {{"handle", third.handle}}, who.token), status, code));
        EXPECT_TRUE(
            is_error(api().del(d + "/collaborators/" + owner.handle, who.token), status, code));
        EXPECT_TRUE(
            is_error(api().post(d + "/publish", {{"version", 0}}, who.token), status, code));
        EXPECT_TRUE(is_error(api().del(d, who.token), status, code));
    };
    every_call(stranger, 404, "not_found", "a stranger learns nothing");
    every_call(collab, 403, "forbidden", "a collaborator may not do the owner's part");

    // Bad handles.
    EXPECT_TRUE(is_error(api().post(d + "/collaborators", {{"handle", "nobody_zz_9"}}, owner.token),
                         404, "not_found"));
    EXPECT_TRUE(is_error(api().post(d + "/collaborators", {{"handle", owner.handle}}, owner.token),
                         422, "validation_failed"));
    EXPECT_TRUE(is_error(api().post(d + "/collaborators", {{"handle", collab.handle}}, owner.token),
                         422, "validation_failed"));
    EXPECT_TRUE(is_error(api().del(d + "/collaborators/" + stranger.handle, owner.token), 404,
                         "not_found"));
    EXPECT_TRUE(is_error(api().get("/api/drafts/999999999", owner.token), 404, "not_found"));
    EXPECT_TRUE(is_error(api().get(d), 401, "unauthorized"));

    // At most 10 collaborators.
    const auto big = create_draft(api(), owner);
    for (int i = 0; i < 10; ++i) invite(api(), owner, big, register_user(api(), "mx"));
    EXPECT_TRUE(is_error(api().post("/api/drafts/" + big + "/collaborators",
                                    {{"handle", third.handle}}, owner.token),
                         422, "validation_failed"));

    // A collaborator leaves (removes himself); a removed collaborator is a stranger again.
    invite(api(), owner, id, third);
    EXPECT_EQ(
        ok(api().del(d + "/collaborators/" + third.handle, third.token)).at("collaborators").size(),
        1u);
    ok(api().del(d + "/collaborators/" + collab.handle, owner.token));
    every_call(collab, 404, "not_found", "removed collaborator");
    every_call(third, 404, "not_found", "a collaborator who left");

    // Closed (discarded): 404 for the owner too.
    ok(api().del(d, owner.token), 204);
    every_call(owner, 404, "not_found", "discarded draft");
}

TEST_F(Drafts, LengthRulesAndStaleVersions) {
    auto alice = register_user(api(), "dl");
    // 1,000 code points (astral ones count once) are fine, 1,001 are not.
    std::string thousand;
    for (int i = 0; i < 500; ++i) thousand += "a\xF0\x9F\x98\x80";
    const auto full = ok(api().post("/api/drafts", {{"text", thousand}}, alice.token), 201);
    EXPECT_EQ(full.at("codePoints"), 1000);
    EXPECT_TRUE(is_error(api().post("/api/drafts", {{"text", thousand + "b"}}, alice.token), 422,
                         "validation_failed"));
    EXPECT_TRUE(
        is_error(api().post("/api/drafts", {{"text", 5}}, alice.token), 422, "validation_failed"));

    // Publishing: 1..280 code points after trimming, like any tweet.
    const auto id = full.at("id").get<std::string>();
    EXPECT_TRUE(
        is_error(api().post("/api/drafts/" + id + "/publish", {{"version", 0}}, alice.token), 422,
                 "validation_failed"));
    const auto blank = create_draft(api(), alice, " \n\t ");
    EXPECT_TRUE(
        is_error(api().post("/api/drafts/" + blank + "/publish", {{"version", 0}}, alice.token),
                 422, "validation_failed"));
    const auto nothing = create_draft(api(), alice);
    EXPECT_TRUE(
        is_error(api().post("/api/drafts/" + nothing + "/publish", {{"version", 0}}, alice.token),
                 422, "validation_failed"));
    const auto fine = create_draft(api(), alice, "  " + std::string(280, 'x') + "  ");
    EXPECT_TRUE(
        is_error(api().post("/api/drafts/" + fine + "/publish", {{"version", 1}}, alice.token), 409,
                 "conflict"));
    EXPECT_TRUE(
        is_error(api().post("/api/drafts/" + fine + "/publish", json::object(), alice.token), 422,
                 "validation_failed"));
    EXPECT_EQ(ok(api().post("/api/drafts/" + fine + "/publish", {{"version", 0}}, alice.token), 201)
                  .at("tweet")
                  .at("content"),
              std::string(280, 'x'));
}

TEST_F(Drafts, IdempotentCreateAndPublish) {
    auto alice = register_user(api(), "di");
    const header_list key = {{"Idempotency-Key", "draft-" + random_token(8)}};
    const auto a = api().post("/api/drafts", {{"text", "once"}}, alice.token, key);
    const auto b = api().post("/api/drafts", {{"text", "once"}}, alice.token, key);
    ASSERT_EQ(a.status, 201u) << a.describe();
    ASSERT_EQ(b.status, 201u) << b.describe();
    EXPECT_EQ(b.header("Idempotent-Replayed"), "true");
    EXPECT_EQ(a.json(), b.json());
    const auto id = a.json().at("id").get<std::string>();
    const header_list pkey = {{"Idempotency-Key", "publish-" + random_token(8)}};
    const auto p1 =
        api().post("/api/drafts/" + id + "/publish", {{"version", 0}}, alice.token, pkey);
    const auto p2 =
        api().post("/api/drafts/" + id + "/publish", {{"version", 0}}, alice.token, pkey);
    ASSERT_EQ(p1.status, 201u) << p1.describe();
    ASSERT_EQ(p2.status, 201u) << p2.describe();
    EXPECT_EQ(p1.json().at("tweet").at("id"), p2.json().at("tweet").at("id"));
    EXPECT_EQ(ok(api().get("/api/drafts", alice.token)).at("items"), json::array());
}

// ---------------------------------------------------------------------------- live

TEST_F(Drafts, InviteAndPublishedTweetArriveLive) {
    auto alice = register_user(api(), "dv", "Alice Live");
    auto bob = register_user(api(), "dw");
    auto fan = register_user(api(), "dx");
    follow(api(), fan, alice);
    auto wb = server().connect_subscribed(bob, {"notifications"});
    auto wf = server().connect_subscribed(fan, {"timeline"});

    const auto id = create_draft(api(), alice, "together with #friends @" + fan.handle);
    invite(api(), alice, id, bob);
    const auto f = wb->expect("event");
    EXPECT_EQ(f.at("channel"), "notifications") << f.dump();
    const auto& n = f.at("event").at("payload").at("notification");
    EXPECT_EQ(n.at("type"), "draft_invite") << f.dump();
    EXPECT_EQ(n.at("draftId"), id);
    EXPECT_EQ(n.at("actor").at("id"), alice.id);
    const auto listed = ok(api().get("/api/notifications", bob.token)).at("items");
    ASSERT_FALSE(listed.empty());
    EXPECT_EQ(listed[0], n) << "GET /api/notifications shows the same notification";

    const auto pub =
        ok(api().post("/api/drafts/" + id + "/publish", {{"version", 0}}, alice.token), 201);
    const auto t = wf->expect("event");
    EXPECT_EQ(t.at("event").at("type"), "TweetCreated") << t.dump();
    const auto& live = t.at("event").at("payload").at("tweet");
    EXPECT_EQ(live.at("id"), pub.at("tweet").at("id"));
    EXPECT_EQ(live.at("coauthors").size(), 1u);
    EXPECT_EQ(live.at("coauthors")[0].at("id"), bob.id);
    EXPECT_EQ(live.at("hashtags"), json::array({"friends"}));
    EXPECT_EQ(live.at("mentions"), json::array({fan.handle}));
    // In the follower's timeline (cache or PostgreSQL) with its coauthors too.
    const auto tl = ok(api().get("/api/timeline", fan.token)).at("items");
    ASSERT_FALSE(tl.empty());
    EXPECT_EQ(tl[0].at("coauthors"), live.at("coauthors"));
}

// ---------------------------------------------------------------------------- store seam

TEST_F(Drafts, AppendsRaceGapFreeAndFoldToTheProjectedText) {
    auto alice = register_user(api(), "ds");
    auto bob = register_user(api(), "dt");
    auto eve = register_user(api(), "du");
    const auto id_text = create_draft(api(), alice, "x");
    invite(api(), alice, id_text, bob);
    const long long id = std::stoll(id_text);
    const long long a = std::stoll(alice.id), b = std::stoll(bob.id), e = std::stoll(eve.id);

    own_store one(server().db().url()), two(server().db().url());
    // Errors: no such draft, not a member, a stale version.
    EXPECT_EQ(
        one.run((*one).draft_append(999999999, 0, a, {insertion("c", 1, 0, "q")}, "qx")).error(),
        errc::not_found);
    EXPECT_EQ(one.run((*one).draft_append(id, 0, e, {insertion("c", 1, 0, "q")}, "qx")).error(),
              errc::forbidden);
    auto stale = one.run((*one).draft_append(id, 3, a, {insertion("c", 1, 0, "q")}, "qx"));
    ASSERT_TRUE(stale);
    EXPECT_TRUE(stale->conflict);
    EXPECT_EQ(stale->version, 0);

    // Rounds of two appenders on two stores racing the same expected version: exactly one
    // wins; the loser learns the current version, catches up, and goes on.
    std::u16string text = u"x";
    long long version = 0;
    for (int round = 0; round < 12; ++round) {
        const auto len = static_cast<long long>(text.size());
        // One update from a (an astral character), two from b.
        auto up_a = insertion("ca", len, 0, "\xF0\x9F\x98\x80" + std::to_string(round));
        auto up_b = insertion("cb", len, len, "b\n" + std::to_string(round));
        const auto text_a = *up_a.changes.apply(text);
        const auto mid_b = *up_b.changes.apply(text);
        auto up_b2 = insertion("cb", static_cast<long long>(mid_b.size()), 0, "!");
        const auto text_b = *up_b2.changes.apply(mid_b);
        auto fa = one.start((*one).draft_append(id, version, a, {up_a}, u8(text_a)));
        auto fb = two.start((*two).draft_append(id, version, b, {up_b, up_b2}, u8(text_b)));
        auto ra = *fa.get();
        auto rb = *fb.get();
        ASSERT_TRUE(ra) << static_cast<int>(ra.error());
        ASSERT_TRUE(rb) << static_cast<int>(rb.error());
        ASSERT_NE(ra->conflict, rb->conflict) << "exactly one of two racing appends wins";
        if (!ra->conflict) {
            EXPECT_EQ(ra->version, version + 1);
            EXPECT_EQ(rb->version, version + 1) << "the loser learns the current version";
            text = text_a;
            version += 1;
        } else {
            EXPECT_EQ(rb->version, version + 2);
            EXPECT_EQ(ra->version, version + 2);
            text = text_b;
            version += 2;
        }
    }

    // The projection has the authority's text; the log folds to it, gap-free.
    const auto snap = one.run((*one).load_draft(id));
    ASSERT_TRUE(snap);
    EXPECT_EQ(snap->draft.version, version);
    EXPECT_EQ(snap->draft.text, u8(text));
    EXPECT_EQ(snap->draft.code_points, static_cast<long long>(collab::code_points(text)));
    EXPECT_FALSE(snap->closed);
    EXPECT_TRUE(snap->is_member(b));
    const auto ups = one.run((*one).draft_updates_since(id, 0, 1000));
    ASSERT_TRUE(ups);
    ASSERT_EQ(static_cast<long long>(ups->size()), version);
    std::u16string folded = u"x";
    for (std::size_t i = 0; i < ups->size(); ++i) {
        const auto& u = (*ups)[i];
        EXPECT_EQ(u.version, static_cast<long long>(i) + 1) << "gap-free versions";
        EXPECT_EQ(u.update.client_id == "ca" ? a : b, u.user.id);
        auto next = u.update.changes.apply(folded);
        ASSERT_TRUE(next) << "update " << u.version << " does not fit the fold";
        folded = *next;
    }
    EXPECT_EQ(folded, text) << "the fold of the log is the projected text";
    const auto tail = one.run((*one).draft_updates_since(id, version - 2, 1));
    ASSERT_TRUE(tail);
    ASSERT_EQ(tail->size(), 1u);
    EXPECT_EQ(tail->front().version, version - 1);
    EXPECT_EQ(ok(api().get("/api/drafts/" + id_text, bob.token)).at("text"), u8(text));

    // The log refuses a second DraftUpdated for a version (the unique index).
    {
        pqxx::connection conn(server().db().url());
        pqxx::work tx(conn);
        EXPECT_THROW(
            tx.exec_params(
                "INSERT INTO events (seq, type, user_id, payload) VALUES "
                "(nextval('event_seq'), 'DraftUpdated', $1::bigint, jsonb_build_object('draftId', "
                "$2::bigint::text, 'version', 1, 'clientId', 'z', 'userId', $1::bigint::text, "
                "'changes', '[1]'::jsonb))",
                a, id),
            pqxx::unique_violation);
    }

    // A rebuild folds the log again: every projection, text included, is the same.
    auto snapshot = [&] {
        pqxx::connection conn(server().db().url());
        std::map<std::string, std::vector<std::vector<std::string>>> s;
        s["drafts"] = query_rows(conn, "SELECT * FROM drafts ORDER BY id");
        s["collaborators"] = query_rows(conn, "SELECT * FROM draft_collaborators ORDER BY 1, 2");
        s["notifications"] = query_rows(conn, "SELECT * FROM notifications ORDER BY 1, 2");
        s["tweets"] = query_rows(conn, "SELECT * FROM tweets ORDER BY id");
        return s;
    };
    // Published and discarded drafts, a removed collaborator, in the same log.
    const auto pub = create_draft(api(), bob, "to publish");
    invite(api(), bob, pub, alice);
    ok(api().post("/api/drafts/" + pub + "/publish", {{"version", 0}}, bob.token), 201);
    EXPECT_EQ(one.run((*one).draft_append(std::stoll(pub), 0, b, {insertion("c", 10, 0, "q")},
                                          "qto publish"))
                  .error(),
              errc::forbidden)
        << "a closed draft takes no more updates";
    const auto closed = one.run((*one).load_draft(std::stoll(pub)));
    ASSERT_TRUE(closed);
    EXPECT_TRUE(closed->closed);
    const auto dis = create_draft(api(), bob, "to discard");
    invite(api(), bob, dis, eve);
    ok(api().del("/api/drafts/" + dis + "/collaborators/" + eve.handle, bob.token));
    ok(api().del("/api/drafts/" + dis, bob.token), 204);
    const auto before = snapshot();
    {
        pqxx::connection conn(server().db().url());
        pqxx::work tx(conn);
        tx.exec("UPDATE drafts SET text = 'vandalized', version = 0");
        tx.commit();
    }
    const auto r = run_command({env().chirpd, "rebuild-projections", "--database-url",
                                server().db().url(), "--log-level", "info"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(snapshot(), before);
}

}  // namespace
}  // namespace chirp::test
