// The REST side of collaborative drafts (src/http/drafts_routes.cpp) and its hook to the live
// part. After a committed collaborator add or remove, publish or discard, the handler calls
// services::on_draft_notice (empty by default: nothing happens) on the loop with what changed;
// the app wires it to the draft's joined editors (draft_collaborators / draft_closed frames,
// docs/protocol.md). It is not called for an idempotent replay, nor for a refused request. The
// hook must not block or throw; it may read the draft again (store::event_store::load_draft):
// the change is committed.
#pragma once

#include <functional>

namespace chirp::http {

struct draft_notice {
    enum class kind {
        collaborators,  // a collaborator was added or removed (or left)
        published,      // closed: published as tweet_id
        discarded,      // closed: discarded by the owner
    };
    long long draft_id = 0;
    kind what = kind::collaborators;
    long long actor = 0;            // who made the change
    long long added_user_id = 0;    // collaborators: the user added, else 0
    long long removed_user_id = 0;  // collaborators: the user removed (or who left), else 0
    long long tweet_id = 0;         // published: the new tweet
};

using draft_notice_hook = std::function<void(const draft_notice&)>;

}  // namespace chirp::http
