-- 001: the append-only event log and the projections derived from it.
--
-- `events` is the truth. Every other table here is a projection that chirp_apply()
-- (sql/functions/apply.sql) keeps current in the same transaction as the append, and that
-- chirp_rebuild() can recreate from the log alone.

CREATE TABLE IF NOT EXISTS events (
    seq        bigint      PRIMARY KEY,
    id         uuid        NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    type       text        NOT NULL,
    user_id    bigint,
    payload    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    version    integer     NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS events_user_seq ON events (user_id, seq);

-- seq is handed out under a transaction-level advisory lock (see chirp_lock()), so seq
-- order is commit order across every chirpd process.
CREATE SEQUENCE IF NOT EXISTS event_seq AS bigint;

-- The log is append-only for everybody, owner included: UPDATE, DELETE and TRUNCATE raise.
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
DROP TRIGGER IF EXISTS events_no_update ON events;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
DROP TRIGGER IF EXISTS events_no_truncate ON events;
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON events FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON events FROM CURRENT_USER;

-- Projections ---------------------------------------------------------------------------

CREATE SEQUENCE IF NOT EXISTS user_ids AS bigint;
CREATE SEQUENCE IF NOT EXISTS tweet_ids AS bigint;
CREATE SEQUENCE IF NOT EXISTS conversation_ids AS bigint;
CREATE SEQUENCE IF NOT EXISTS message_ids AS bigint;

CREATE TABLE IF NOT EXISTS users (
    id              bigint PRIMARY KEY,
    handle          text NOT NULL,
    display_name    text NOT NULL,
    password_hash   text NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_handle_lower ON users (lower(handle) text_pattern_ops);

-- Counters live apart from the rows they count: a batch that updates one author's counter
-- 2,000 times must not make every read of that author walk 2,000 row versions.
CREATE TABLE IF NOT EXISTS user_stats (
    user_id         bigint PRIMARY KEY,
    followers       integer NOT NULL DEFAULT 0,
    following       integer NOT NULL DEFAULT 0,
    tweets          integer NOT NULL DEFAULT 0,
    notif_read_upto bigint NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS follows (
    follower_id bigint NOT NULL,
    followee_id bigint NOT NULL,
    seq         bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
);
CREATE INDEX IF NOT EXISTS follows_followee ON follows (followee_id, seq);
CREATE INDEX IF NOT EXISTS follows_follower_seq ON follows (follower_id, seq);

CREATE TABLE IF NOT EXISTS tweets (
    id            bigint PRIMARY KEY,
    author_id     bigint NOT NULL,
    content       text NOT NULL,
    reply_to      bigint,
    retweet_of    bigint,
    mentions      jsonb NOT NULL DEFAULT '[]',
    hashtags      text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL,
    seq           bigint NOT NULL,
    deleted       boolean NOT NULL DEFAULT false
);

CREATE TABLE IF NOT EXISTS tweet_stats (
    tweet_id bigint PRIMARY KEY,
    likes    integer NOT NULL DEFAULT 0,
    retweets integer NOT NULL DEFAULT 0,
    replies  integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tweets_author ON tweets (author_id, id DESC);
CREATE INDEX IF NOT EXISTS tweets_reply_to ON tweets (reply_to, id DESC) WHERE reply_to IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS tweets_one_retweet ON tweets (author_id, retweet_of)
    WHERE retweet_of IS NOT NULL AND NOT deleted;

CREATE TABLE IF NOT EXISTS likes (
    user_id    bigint NOT NULL,
    tweet_id   bigint NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tweet_id, user_id)
);

CREATE TABLE IF NOT EXISTS notifications (
    recipient_id    bigint NOT NULL,
    seq             bigint NOT NULL,
    type            text NOT NULL,
    actor_id        bigint NOT NULL,
    tweet_id        bigint,
    conversation_id bigint,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (recipient_id, seq)
);
CREATE INDEX IF NOT EXISTS notifications_seq ON notifications (seq);

CREATE TABLE IF NOT EXISTS conversations (
    id           bigint PRIMARY KEY,
    participants bigint[] NOT NULL,    -- sorted ascending
    created_at   timestamptz NOT NULL,
    last_seq     bigint NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS conversations_participants ON conversations (participants);

CREATE TABLE IF NOT EXISTS conversation_members (
    user_id         bigint NOT NULL,
    conversation_id bigint NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
);
CREATE INDEX IF NOT EXISTS conversation_members_conv ON conversation_members (conversation_id);

CREATE TABLE IF NOT EXISTS messages (
    id              bigint PRIMARY KEY,
    conversation_id bigint NOT NULL,
    sender_id       bigint NOT NULL,
    content         text NOT NULL,
    created_at      timestamptz NOT NULL,
    seq             bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_conv ON messages (conversation_id, id DESC);

-- Idempotency keys are not events: they remember the answer to a request.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id      bigint NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       integer NOT NULL,
    body         jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
