// Collaborative drafts inside the store module (drafts.cpp): the typed reads a reader thread
// runs, the draft_append command and the mapping of its answer, and the rebuild's text fold.
#pragma once

#include <nlohmann/json.hpp>
#include <pqxx/connection>
#include <pqxx/transaction>
#include <string>
#include <vector>

#include "chirp/store/drafts.hpp"
#include "chirp/store/store.hpp"

namespace chirp::store {

namespace reads {
using conn = pqxx::connection;
result<draft_snapshot> load_draft(conn& c, long long id);
result<page<domain::draft>> drafts_of(conn& c, long long user, long long before, int limit);
result<std::vector<draft_update>> draft_updates_since(conn& c, long long id, long long after,
                                                      int limit);
}  // namespace reads

// The writer command of draft_append (sql/functions/drafts.sql, 'draft_append').
nlohmann::json draft_append_command(long long draft, long long expected, long long user,
                                    const std::vector<collab::update>& updates,
                                    const std::string& text);
// Its answer: {"draft_append":{"version"}} (200), {"draft_conflict":{"version"}} (409), or an
// error status.
result<draft_appended> to_draft_appended(const write_result& w);

// Sets every rebuilt draft's text to the fold of its DraftUpdated changes over DraftCreated's
// text (the projection chirp_rebuild() leaves); returns the drafts folded. Throws when the log
// does not fold (a bug).
long long fold_draft_texts(pqxx::work& tx);

}  // namespace chirp::store
