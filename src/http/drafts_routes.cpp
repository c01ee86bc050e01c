// The REST handlers of collaborative drafts (docs/api.md "Drafts"). Thin, like the others:
// check auth and input with domain/, submit a command (sql/functions/drafts.sql decides under
// the append lock: 404 for strangers and closed drafts, 403 for what only the owner may do) or
// read, and map the result. After a committed change they call services::on_draft_notice
// (http/drafts.hpp) so the live editors hear of it.
#include <nlohmann/json.hpp>
#include <string>

#include "chirp/collab/authority.hpp"
#include "chirp/domain/text.hpp"
#include "chirp/domain/wire.hpp"
#include "chirp/fanout/fanout.hpp"
#include "chirp/http/api.hpp"
#include "chirp/http/drafts.hpp"
#include "chirp/store/store.hpp"
#include "handler_support.hpp"

// See api_routes.cpp: a GCC 12 false positive on Asio's coroutine frames under the sanitizers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace asio = boost::asio;
using json = nlohmann::json;

namespace chirp::http {
namespace {

using namespace handler_support;
using awaitable_response = asio::awaitable<response>;

using collab::max_draft_code_points;

response no_such_draft() {
    return error_response(errc::not_found, "no such draft");
}

// CodeMirror counts a line break as one character whatever it was: "\r\n" and "\r" become
// "\n", so the server's text and every editor's document have the same length.
std::string normalize_line_breaks(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\r') {
            out += s[i];
            continue;
        }
        out += '\n';
        if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    }
    return out;
}

void notify(services& svc, const draft_notice& n) {
    if (svc.on_draft_notice) svc.on_draft_notice(n);
}

awaitable_response create_draft(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    json body;
    if (auto e = parse_body(req, body, true)) co_return *e;
    if (auto e = check_idempotency_key(req)) co_return *e;
    std::string text;
    if (auto e = get_string(body, "text", text, false)) co_return *e;
    text = normalize_line_breaks(text);
    if (domain::code_points(text) > max_draft_code_points)
        co_return error_response(errc::validation_failed, "a draft holds at most 1000 characters");
    // Arguments built before the co_await: GCC 12 miscompiles a braced json there.
    json args = {{"text", text}};
    co_return from_write(co_await submit(svc, req, "draft_create", std::move(args)));
}

awaitable_response list_drafts(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    std::string before;
    int limit = 0;
    if (auto e = get_limit(req, limit)) co_return *e;
    if (auto e = get_cursor(req, "before", before)) co_return *e;
    co_return from_page(co_await svc.store.drafts_of(viewer(req), as_id(before), limit), "draft");
}

awaitable_response get_draft(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    std::string id;
    if (auto e = get_id_param(req, 0, id)) co_return *e;
    auto r = co_await svc.store.load_draft(as_id(id));
    if (!r) co_return read_error(r.error(), "draft");
    if (r->closed || !r->is_member(viewer(req))) co_return no_such_draft();
    std::string out;
    domain::render(out, r->draft);
    co_return json_response(200, std::move(out));
}

awaitable_response add_collaborator(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    json body;
    if (auto e = parse_body(req, body)) co_return *e;
    if (auto e = check_idempotency_key(req)) co_return *e;
    std::string id, handle;
    if (auto e = get_id_param(req, 0, id)) co_return *e;
    if (auto e = get_string(body, "handle", handle)) co_return *e;
    json args = {{"draftId", id}, {"handle", handle}};
    auto w = co_await submit(svc, req, "draft_add_collaborator", std::move(args));
    if (w.status == 200 && !w.replayed) {
        draft_notice n{as_id(id), draft_notice::kind::collaborators, viewer(req)};
        if (auto u = co_await svc.store.user_by_handle(handle, 0)) n.added_user_id = u->ref.id;
        notify(svc, n);
    }
    co_return from_write(std::move(w));
}

awaitable_response remove_collaborator(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    if (auto e = check_idempotency_key(req)) co_return *e;
    std::string id;
    if (auto e = get_id_param(req, 0, id)) co_return *e;
    const std::string handle = req.params.at(1);
    json args = {{"draftId", id}, {"handle", handle}};
    auto w = co_await submit(svc, req, "draft_remove_collaborator", std::move(args));
    if (w.status == 200 && !w.replayed) {
        draft_notice n{as_id(id), draft_notice::kind::collaborators, viewer(req)};
        if (auto u = co_await svc.store.user_by_handle(handle, 0)) n.removed_user_id = u->ref.id;
        notify(svc, n);
    }
    co_return from_write(std::move(w));
}

// Publishes the text at `version` as the owner's tweet, with the rules of POST /api/tweets.
// The draft is read first to validate the text at that version (the decide checks the
// version again under the lock, so the text it publishes is the one validated here). A
// request with an Idempotency-Key that fails the read's checks still goes to the writer: a
// retry of a publish that succeeded finds its stored answer there (the draft is closed now).
awaitable_response publish_draft(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    json body;
    if (auto e = parse_body(req, body)) co_return *e;
    if (auto e = check_idempotency_key(req)) co_return *e;
    std::string id;
    if (auto e = get_id_param(req, 0, id)) co_return *e;
    const auto v = body.find("version");
    if (v == body.end() || !v->is_number_integer() || v->get<long long>() < 0)
        co_return error_response(errc::validation_failed,
                                 "version must be the draft version to publish");
    const long long version = v->get<long long>();
    const long long me = viewer(req);

    auto r = co_await svc.store.load_draft(as_id(id));
    if (!r && r.error() != errc::not_found) co_return read_error(r.error(), "draft");
    std::optional<response> refused;
    if (!r || r->closed || !r->is_member(me))
        refused = no_such_draft();
    else if (r->draft.owner.id != me)
        refused = error_response(errc::forbidden, "only the owner can publish a draft");
    else if (r->draft.version != version)
        refused =
            error_response(errc::conflict, "draft moved past version " + std::to_string(version));
    json args = {{"draftId", id}, {"version", version}};
    if (!refused) {
        const auto trimmed = domain::trim(r->draft.text);
        if (auto m = domain::check_tweet_content(trimmed))
            co_return error_response(errc::validation_failed, *m);
        args["content"] = std::string(trimmed);
        args["mentions"] = domain::extract_mentions(trimmed);
        args["hashtags"] = domain::extract_hashtags(trimmed);
    } else if (req.idempotency_key.empty()) {
        co_return *refused;
    }
    if (svc.fanout != nullptr) svc.fanout->prepare_fanout(me);
    auto w = co_await submit(svc, req, "draft_publish", std::move(args));
    if (w.status == 201 && !w.replayed) {
        draft_notice n{as_id(id), draft_notice::kind::published, me};
        const auto answer = json::parse(w.body, nullptr, false);
        if (answer.is_object() && answer.contains("tweet"))
            n.tweet_id = std::stoll(answer["tweet"].value("id", std::string("0")));
        notify(svc, n);
    }
    co_return from_write(std::move(w));
}

awaitable_response discard_draft(services& svc, request& req) {
    if (auto e = require_user(req)) co_return *e;
    if (auto e = check_idempotency_key(req)) co_return *e;
    std::string id;
    if (auto e = get_id_param(req, 0, id)) co_return *e;
    json args = {{"draftId", id}};
    auto w = co_await submit(svc, req, "draft_discard", std::move(args));
    if (w.status != 200) co_return from_write(std::move(w));
    if (!w.replayed) notify(svc, {as_id(id), draft_notice::kind::discarded, viewer(req)});
    response resp = json_response(204, std::string());
    if (w.replayed) resp.headers.emplace_back("Idempotent-Replayed", "true");
    co_return resp;
}

}  // namespace

std::vector<route> draft_routes() {
    return {
        {method::post, "/api/drafts", create_draft},
        {method::get, "/api/drafts", list_drafts},
        {method::get, "/api/drafts/{}", get_draft},
        {method::del, "/api/drafts/{}", discard_draft},
        {method::post, "/api/drafts/{}/collaborators", add_collaborator},
        {method::del, "/api/drafts/{}/collaborators/{}", remove_collaborator},
        {method::post, "/api/drafts/{}/publish", publish_draft},
    };
}

}  // namespace chirp::http
