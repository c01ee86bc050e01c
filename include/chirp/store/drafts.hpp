// What the event store answers about collaborative drafts (docs/api.md "Drafts"): the typed
// seam the live part (WebSocket draft sessions, one collab::authority per joined draft) and the
// REST handlers use. The draft's events and projections: migrations/012_drafts.sql,
// sql/functions/drafts.sql.
//
//   load_draft(id)                        -> draft_snapshot (not_found: no such draft; a
//                                            closed one is returned with closed = true)
//   draft_append(id, expected, user, updates, text)
//                                         -> draft_appended: ok (version = the new version)
//                                            or conflict (version = the current one); errors
//                                            not_found (no such draft), forbidden (closed, or
//                                            the user is neither owner nor collaborator),
//                                            unavailable / outcome_unknown (PostgreSQL)
//   draft_updates_since(id, v, limit)     -> the accepted updates after version v, in order
//
// draft_append goes through the event writer (group commit, under the append lock, the
// draft's row locked): the version must equal `expected`; one DraftUpdated per update is
// appended with versions expected+1.. (unique per draft in the log: gap-free), and the
// projection takes `text` (the authority's text after the updates) and the new version, all
// in one transaction.
#pragma once

#include <string>
#include <vector>

#include "chirp/collab/changeset.hpp"
#include "chirp/domain/wire.hpp"

namespace chirp::store {

struct draft_snapshot {
    domain::draft draft;  // id, owner, collaborators (in the order added), text (UTF-8), ...
    bool closed = false;  // published or discarded

    // The owner or a collaborator.
    bool is_member(long long user) const {
        if (draft.owner.id == user) return true;
        for (const auto& c : draft.collaborators)
            if (c.id == user) return true;
        return false;
    }
};

struct draft_appended {
    bool conflict = false;  // the draft's version was not `expected`: nothing appended
    long long version = 0;  // ok: the version after the append; conflict: the current one
};

// One accepted update as the log holds it.
struct draft_update {
    long long version = 0;  // the version it produced
    domain::user_ref user;  // who pushed it
    collab::update update;  // client id and changes
};

}  // namespace chirp::store
