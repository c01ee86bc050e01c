-- 012: collaborative drafts (docs/api.md "Drafts", docs/collab.md). The events are
-- DraftCreated, DraftUpdated (one per accepted update), DraftCollaboratorAdded / Removed,
-- DraftPublished and DraftDiscarded; the projections below are kept by chirp_apply_draft
-- (sql/functions/drafts.sql) and rebuilt from the log. A draft's text is the fold of its
-- DraftUpdated changes over DraftCreated's text (CodeMirror ChangeSets over UTF-16): the live
-- path stores the text the C++ authority computed, the rebuild folds the changes in C++
-- (src/store/drafts_rebuild.cpp).

CREATE SEQUENCE IF NOT EXISTS draft_ids AS bigint;

CREATE TABLE IF NOT EXISTS drafts (
    id           bigint PRIMARY KEY,
    owner_id     bigint NOT NULL,
    text         text NOT NULL,
    version      bigint NOT NULL DEFAULT 0,       -- accepted updates
    code_points  integer GENERATED ALWAYS AS (char_length(text)) STORED,
    state        text NOT NULL DEFAULT 'open',    -- open | published | discarded
    tweet_id     bigint,                          -- published: the tweet
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    last_seq     bigint NOT NULL                  -- seq of the draft's last event: list order
);
CREATE INDEX IF NOT EXISTS drafts_owner ON drafts (owner_id, last_seq DESC) WHERE state = 'open';

CREATE TABLE IF NOT EXISTS draft_collaborators (
    draft_id bigint NOT NULL,
    user_id  bigint NOT NULL,
    seq      bigint NOT NULL,                     -- when added: the collaborators' order
    PRIMARY KEY (draft_id, user_id)
);
CREATE INDEX IF NOT EXISTS draft_collaborators_user ON draft_collaborators (user_id);

-- Versions are gap-free per draft in the log itself: one DraftUpdated per (draft, version).
-- Also the index draft_updates_since reads.
CREATE UNIQUE INDEX IF NOT EXISTS events_draft_version
    ON events (((payload->>'draftId')::bigint), ((payload->>'version')::bigint))
    WHERE type = 'DraftUpdated';

-- A published draft's tweet credits its collaborators (Tweet.coauthors), in the order added.
ALTER TABLE tweets ADD COLUMN IF NOT EXISTS coauthors bigint[] NOT NULL DEFAULT '{}';

-- A draft_invite notification names its draft.
ALTER TABLE notifications ADD COLUMN IF NOT EXISTS draft_id bigint;
