-- Rebuild: recreate every projection from the log alone, through the same apply functions as
-- the live path (apply.sql; `chirpd rebuild-projections`). Runs of TweetCreated and of
-- TweetLiked events are applied set-wise, like the live writes that appended them, every
-- other event one at a time, in seq order.
--
-- Re-applied at every start (src/store/migrations.cpp): edit here, in place.

CREATE OR REPLACE FUNCTION chirp_rebuild() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    e events;
    run events[] := '{}';
    run_type text;
    n bigint := 0;
BEGIN
    PERFORM chirp_lock();
    TRUNCATE users, user_stats, follows, tweets, tweet_stats, likes, notifications,
             conversations, conversation_members, messages, drafts, draft_collaborators;
    FOR e IN SELECT * FROM events ORDER BY seq LOOP
        IF run_type IS NOT NULL AND (e.type IS DISTINCT FROM run_type
                                     OR cardinality(run) >= 5000) THEN
            PERFORM chirp_rebuild_run(run_type, run);
            run := '{}';
            run_type := NULL;
        END IF;
        IF e.type IN ('TweetCreated', 'TweetLiked') THEN
            run := run || e;
            run_type := e.type;
        ELSE
            PERFORM chirp_apply(e);
        END IF;
        n := n + 1;
    END LOOP;
    IF run_type IS NOT NULL THEN
        PERFORM chirp_rebuild_run(run_type, run);
    END IF;
    RETURN n;
END $$;

CREATE OR REPLACE FUNCTION chirp_rebuild_run(run_type text, run events[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF run_type = 'TweetCreated' THEN
        PERFORM chirp_apply_tweets_created(run);
    ELSE
        PERFORM chirp_apply_tweets_liked(run);
    END IF;
END $$;
