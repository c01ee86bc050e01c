// DESIGN
// Collaborative drafts in the store (include/chirp/store/drafts.hpp): the typed reads a reader
// thread runs (a draft with its owner and collaborators, a user's open drafts, the accepted
// updates after a version), the draft_append command and its answer's mapping (the write
// itself is sql/functions/drafts.sql, run by the event writer), and the rebuild's text fold.
//
// The text projection: draft_append stores the text the C++ authority computed; the log holds
// only the changes. chirp_rebuild() (SQL) restores every draft with DraftCreated's text, and
// fold_draft_texts() then folds each draft's DraftUpdated changes with collab::changeset, in
// the rebuild's transaction, so a rebuilt text is the fold of the log by construction.
#include "drafts.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <unordered_map>

#include "loaders.hpp"

namespace chirp::store {

using json = nlohmann::json;

namespace reads {
namespace {

// The drafts of `ids` (in that order, unknown ones skipped) with their people.
std::vector<draft_snapshot> load_drafts(tx_t& tx, const std::vector<long long>& ids) {
    std::vector<draft_snapshot> out;
    if (ids.empty()) return out;
    const auto rows = tx.exec_prepared("draft_rows", id_array(ids));
    const auto people = tx.exec_prepared("draft_collaborator_rows", id_array(ids));
    std::vector<long long> users;
    for (const auto& r : rows) users.push_back(r[1].as<long long>());
    for (const auto& r : people) users.push_back(r[1].as<long long>());
    const auto refs = load_refs(tx, users);
    auto ref = [&](long long id) {
        auto it = refs.find(id);
        return it == refs.end() ? domain::user_ref{id, {}, {}} : it->second;
    };
    std::unordered_map<long long, std::size_t> index;
    for (const auto& r : rows) {
        draft_snapshot s;
        auto& d = s.draft;
        d.id = r[0].as<long long>();
        d.owner = ref(r[1].as<long long>());
        d.text = r[2].c_str();
        d.version = r[3].as<long long>();
        d.code_points = r[4].as<long long>();
        d.created_at = r[5].as<long long>();
        d.updated_at = r[6].as<long long>();
        s.closed = std::string_view(r[7].c_str()) != "open";
        index.emplace(d.id, out.size());
        out.push_back(std::move(s));
    }
    for (const auto& r : people)
        if (auto it = index.find(r[0].as<long long>()); it != index.end())
            out[it->second].draft.collaborators.push_back(ref(r[1].as<long long>()));
    return out;
}

}  // namespace

result<draft_snapshot> load_draft(conn& c, long long id) {
    tx_t tx(c);
    auto v = load_drafts(tx, {id});
    if (v.empty()) return errc::not_found;
    return std::move(v.front());
}

result<page<domain::draft>> drafts_of(conn& c, long long user, long long before, int limit) {
    tx_t tx(c);
    std::vector<long long> ids;
    long long last = 0;
    for (const auto& r : tx.exec_prepared("drafts_of_user", user, before, limit)) {
        ids.push_back(r[0].as<long long>());
        last = r[1].as<long long>();
    }
    page<domain::draft> p;
    for (auto& s : load_drafts(tx, ids)) p.items.push_back(std::move(s.draft));
    if (!ids.empty() && ids.size() == static_cast<std::size_t>(limit)) p.next_cursor = last;
    return p;
}

result<std::vector<draft_update>> draft_updates_since(conn& c, long long id, long long after,
                                                      int limit) {
    tx_t tx(c);
    std::vector<draft_update> out;
    for (const auto& r : tx.exec_prepared("draft_updates_since", id, after, limit)) {
        draft_update u;
        u.version = r[0].as<long long>();
        u.update.client_id = r[1].c_str();
        u.user = {r[2].as<long long>(), r[3].c_str(), r[4].c_str()};
        auto cs = collab::changeset::parse(std::string_view(r[5].c_str(), r[5].size()));
        if (!cs) throw std::runtime_error("a DraftUpdated event with malformed changes");
        u.update.changes = std::move(*cs);
        out.push_back(std::move(u));
    }
    return out;
}

}  // namespace reads

json draft_append_command(long long draft, long long expected, long long user,
                          const std::vector<collab::update>& updates, const std::string& text) {
    json ups = json::array();
    for (const auto& u : updates)
        ups.push_back({{"clientId", u.client_id}, {"changes", u.changes.to_json()}});
    return {{"type", "draft_append"},
            {"actor", std::to_string(user)},
            {"args",
             {{"draftId", std::to_string(draft)},
              {"expected", expected},
              {"text", text},
              {"updates", std::move(ups)}}}};
}

result<draft_appended> to_draft_appended(const write_result& w) {
    const auto body = json::parse(w.body, nullptr, false);
    if (w.status == 200 || w.status == 409) {
        const char* key = w.status == 200 ? "draft_append" : "draft_conflict";
        if (body.is_object() && body.contains(key) && body[key].contains("version"))
            return draft_appended{w.status == 409, body[key]["version"].get<long long>()};
        if (w.status == 200) return errc::internal;
    }
    switch (w.status) {
        case 404:
            return errc::not_found;
        case 401:
        case 403:
            return errc::forbidden;
        case 503:
            if (body.is_object() && body.contains("error") &&
                body["error"].value("code", std::string()) == code_string(errc::outcome_unknown))
                return errc::outcome_unknown;
            return errc::unavailable;
        default:
            return errc::internal;
    }
}

long long fold_draft_texts(pqxx::work& tx) {
    long long folded = 0;
    // Every draft with updates, its text after chirp_rebuild() (DraftCreated's), then its
    // updates in version order.
    const auto drafts =
        tx.exec("SELECT d.id, d.text FROM drafts d WHERE d.version > 0 ORDER BY d.id");
    for (const auto& d : drafts) {
        const long long id = d[0].as<long long>();
        auto text = collab::utf8_to_utf16(d[1].c_str());
        if (!text) throw std::runtime_error("draft " + std::to_string(id) + ": bad UTF-8");
        std::u16string doc = std::move(*text);
        const auto ups = tx.exec_params(
            "SELECT (e.payload->'changes')::text FROM events e "
            "WHERE e.type = 'DraftUpdated' AND (e.payload->>'draftId')::bigint = $1 "
            "ORDER BY (e.payload->>'version')::bigint",
            id);
        for (const auto& u : ups) {
            auto cs = collab::changeset::parse(std::string_view(u[0].c_str(), u[0].size()));
            if (!cs) throw std::runtime_error("draft " + std::to_string(id) + ": bad changes");
            auto next = cs->apply(doc);
            if (!next)
                throw std::runtime_error("draft " + std::to_string(id) +
                                         ": changes do not fold: " + next.error().message);
            doc = std::move(*next);
        }
        auto utf8 = collab::utf16_to_utf8(doc);
        if (!utf8) throw std::runtime_error("draft " + std::to_string(id) + ": lone surrogate");
        tx.exec_params("UPDATE drafts SET text = $2 WHERE id = $1", id, *utf8);
        ++folded;
    }
    return folded;
}

}  // namespace chirp::store
