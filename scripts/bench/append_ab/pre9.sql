-- Reference for scripts/bench/append_ab.sh: the plain-tweet statement of 525c567 (before issue
-- 9's restructuring: migrations/004_fast_append.sql, chirp_exec_plain_tweets_rows), adapted to
-- the current result type (chirp_exec_row, 25 columns). It decides, appends and projects a run
-- of plain tweets in one statement, without a separate apply; it is what the current
-- chirp_decide_tweets is compared against. Measurement only: never installed by chirpd.
CREATE OR REPLACE FUNCTION chirp_decide_tweets_pre9(cmds jsonb, first_ord bigint, last_ord bigint)
RETURNS SETOF chirp_exec_row
LANGUAGE plpgsql SET jit = off SET enable_nestloop = off AS $$
BEGIN
    RETURN QUERY
        WITH input AS MATERIALIZED (
            SELECT x.ord, (x.cmd->>'actor')::bigint AS actor,
                   x.cmd->'args'->>'content' AS content,
                   COALESCE(x.cmd->'args'->'hashtags', '[]'::jsonb) AS hashtags
            FROM jsonb_array_elements(cmds) WITH ORDINALITY AS x(cmd, ord)
            WHERE x.ord BETWEEN first_ord AND last_ord),
        authors AS MATERIALIZED (
            SELECT u.id, u.handle, u.display_name FROM users u
            WHERE u.id = ANY ((SELECT array_agg(DISTINCT i.actor) FROM input i)::bigint[])),
        -- Ids, seqs, event ids and times drawn while scanning the run in command order.
        numbered AS MATERIALIZED (
            SELECT j.*,
                   CASE WHEN j.actor IS NOT NULL THEN nextval('tweet_ids') END AS tid,
                   CASE WHEN j.actor IS NOT NULL THEN nextval('event_seq') END AS seq,
                   CASE WHEN j.actor IS NOT NULL THEN gen_random_uuid() END AS eid,
                   clock_timestamp() AS created_at
            FROM (SELECT i.ord, a.id AS actor, a.handle, a.display_name, i.content, i.hashtags
                  FROM input i LEFT JOIN authors a ON a.id = i.actor
                  ORDER BY i.ord) j),
        ev AS (
            INSERT INTO events (seq, id, type, user_id, payload, created_at)
            SELECT n.seq, n.eid, 'TweetCreated', n.actor,
                   jsonb_build_object('tweetId', n.tid::text, 'content', n.content, 'replyTo', NULL,
                                      'retweetOf', NULL, 'mentions', '[]'::jsonb, 'hashtags', n.hashtags),
                   n.created_at
            FROM numbered n WHERE n.actor IS NOT NULL ORDER BY n.seq),
        tw AS (
            INSERT INTO tweets (id, author_id, content, reply_to, retweet_of, mentions, hashtags,
                                created_at, seq)
            SELECT n.tid, n.actor, n.content, NULL, NULL, '[]'::jsonb,
                   ARRAY(SELECT jsonb_array_elements_text(n.hashtags)), n.created_at, n.seq
            FROM numbered n WHERE n.actor IS NOT NULL),
        st AS (
            INSERT INTO tweet_stats (tweet_id) SELECT n.tid FROM numbered n WHERE n.actor IS NOT NULL),
        counts AS MATERIALIZED (
            SELECT actor, count(*) AS n FROM numbered WHERE actor IS NOT NULL GROUP BY actor),
        us AS (
            UPDATE user_stats s SET tweets = s.tweets + c.n
            FROM counts c
            WHERE s.user_id = c.actor
              AND s.user_id = ANY ((SELECT array_agg(c2.actor) FROM counts c2)::bigint[]))
        SELECT CASE WHEN n.actor IS NULL THEN chirp_err(401, 'unauthorized', 'unknown user')::json END,
               'tweet', n.seq, n.tid, n.actor, n.eid,
               CASE WHEN n.actor IS NOT NULL THEN (date_part('epoch', n.created_at) * 1000000)::bigint END,
               n.content, n.handle, n.display_name, n.hashtags::text,
               NULL::bigint, NULL::integer, NULL::integer, NULL::integer, NULL::boolean, NULL::text,
               NULL::text, NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::text, NULL::boolean, NULL::boolean
        FROM numbered n
        ORDER BY n.ord;
END $$;
