-- 013: the typed row of a TweetCreated event, as chirp_apply_tweet_rows (sql/functions/apply.sql)
-- takes a run of them: the live path (chirp_decide_tweets) builds them from the columns it
-- appends, the rebuild and chirp_apply from the events' payloads. One array of these cost less
-- than passing events[] (RETURNING the appended rows, their payloads parsed back) or one array
-- per column (a tuplestore per unnest): BENCHMARKS.md "Session 6".

DO $$
BEGIN
    IF to_regtype('chirp_tweet_row') IS NULL THEN
        CREATE TYPE chirp_tweet_row AS (
            tid        bigint,
            user_id    bigint,
            content    text,
            reply_to   bigint,
            retweet_of bigint,
            mentions   jsonb,     -- [{id, handle}] of the users mentioned
            hashtags   text[],
            coauthors  bigint[],  -- a published draft's collaborators, in the order added
            created_at timestamptz,
            seq        bigint);
    END IF;
END $$;
