-- Execute a batch of commands in one call, one round trip per group commit (the event
-- writer, src/store/store.cpp, and `chirpd seed` call chirp_exec_rows):
--
--   chirp_lock()             the cross-process append lock: seq order = commit order
--   chirp_append(...)        append one event and apply it (apply.sql)
--   chirp_err / chirp_ok     an answer row: {"status", "body", "seq", "deliveries"}
--   chirp_deliveries(event)  what to deliver live for an appended event
--   chirp_exec_rows(cmds)    the dispatcher: one row per command, in order
--
-- The fast paths (runs of plain tweets, runs of likes) return raw columns the writer renders
-- the answer and the live frames from (in C++: rendering JSON in SQL cost ~15 µs per tweet,
-- half of the whole append, and ~120 µs per like). They are PL/pgSQL, so their plans are
-- cached per connection (a SQL function's statement was planned on every call: 0.3-0.4 ms,
-- most of a one-command batch). They look big tables up by `= ANY (array)` (an index scan
-- whatever the join method): with nested loops off, a join against users, tweets,
-- tweet_stats or likes was a hash join over a sequential scan of the whole table, so a batch
-- cost grew with the data (likes at 1,000/s: p99 217 ms with 100k tweets).
--
-- Re-applied at every start (src/store/migrations.cpp): edit here, in place.

-- Every append runs under this lock, taken once per transaction: seq order = commit order.
CREATE OR REPLACE FUNCTION chirp_lock() RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(7263947) $$;

CREATE OR REPLACE FUNCTION chirp_append(etype text, actor bigint, payload jsonb) RETURNS events
LANGUAGE plpgsql AS $$
DECLARE e events;
BEGIN
    INSERT INTO events (seq, type, user_id, payload)
    VALUES (nextval('event_seq'), etype, actor, payload)
    RETURNING * INTO e;
    PERFORM chirp_apply(e);
    RETURN e;
END $$;

CREATE OR REPLACE FUNCTION chirp_err(status int, code text, message text) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('status', status,
                              'body', jsonb_build_object('error',
                                  jsonb_build_object('code', code, 'message', message)))
$$;

CREATE OR REPLACE FUNCTION chirp_ok(status int, body jsonb, e events) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('status', status, 'body', body,
        'seq', e.seq::text,
        'deliveries', CASE WHEN e.seq IS NULL THEN '[]'::jsonb ELSE chirp_deliveries(e) END));
END $$;

-- What to deliver live for an appended event: timeline fan-out (by the author's followers),
-- notifications, messages, and follow changes (to invalidate follower caches everywhere),
-- with what fan-out needs: the actor, the tweet id for the home cache, the conversation.
CREATE OR REPLACE FUNCTION chirp_deliveries(e events) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    out jsonb := '[]'::jsonb;
    n notifications;
    author bigint;
BEGIN
    IF e.type IN ('TweetCreated', 'TweetDeleted') THEN
        out := out || jsonb_build_object('channel', 'timeline', 'author', e.user_id::text,
                                         'actor', e.user_id::text, 'type', e.type,
                                         'tweetId', e.payload->>'tweetId',
                                         'seq', e.seq::text, 'event', chirp_wire_timeline(e));
    ELSIF e.type IN ('TweetLiked', 'TweetUnliked') THEN
        author := (e.payload->>'authorId')::bigint;
        out := out || jsonb_build_object('channel', 'timeline', 'author', author::text,
                                         'actor', e.user_id::text, 'type', e.type,
                                         'seq', e.seq::text, 'event', chirp_wire_timeline(e));
    ELSIF e.type = 'MessageSent' THEN
        out := out || jsonb_build_object(
            'channel', 'messages', 'seq', e.seq::text, 'event', chirp_wire_message(e),
            'actor', e.user_id::text, 'conversation', e.payload->>'conversationId',
            'users', (SELECT jsonb_agg(cm.user_id::text) FROM conversation_members cm
                      WHERE cm.conversation_id = (e.payload->>'conversationId')::bigint));
    ELSIF e.type IN ('UserFollowed', 'UserUnfollowed') THEN
        out := out || jsonb_build_object('channel', 'follow', 'seq', e.seq::text,
                                         'author', e.payload->>'followeeId',
                                         'actor', e.user_id::text, 'event', '{}'::jsonb);
    END IF;
    FOR n IN SELECT * FROM notifications WHERE seq = e.seq ORDER BY recipient_id LOOP
        out := out || jsonb_build_object('channel', 'notifications', 'actor', e.user_id::text,
                                         'user', n.recipient_id::text, 'seq', e.seq::text,
                                         'event', chirp_wire_notification(n));
    END LOOP;
    RETURN out;
END $$;

-- The fast path for runs of plain tweets (no reply, no mention, no Idempotency-Key), as rows.
-- Its events and projection writes are exactly what chirp_apply does for such a TweetCreated
-- (a rebuild replays these events through chirp_apply and must give the same rows: tested).
-- Unknown actors give o_json = the 401 answer. o_ts: created_at in microseconds since 1970.
-- o_kind = 'tweet'; the columns after o_hashtags are the likes path's (NULL here).
CREATE OR REPLACE FUNCTION chirp_exec_plain_tweets_rows(cmds jsonb, first_ord bigint, last_ord bigint)
RETURNS TABLE (o_json json, o_kind text, o_seq bigint, o_tid bigint, o_actor bigint, o_eid uuid,
               o_ts bigint, o_content text, o_handle text, o_name text, o_hashtags text,
               o_author bigint, o_likes integer, o_retweets integer, o_replies integer,
               o_flag boolean, o_base text, o_for_author text)
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
               NULL::text
        FROM numbered n
        ORDER BY n.ord;
END $$;

-- The fast path for runs of likes without Idempotency-Key, as rows: the decisions, events and
-- projection writes of chirp_decide/chirp_apply for 'like', set-wise, without JSON per like
-- (nested jsonb_build_object re-encodes the whole tweet at every level: ~120 µs per like).
-- Each liked tweet is rendered once per run in SQL, without the fields the writer fills in
-- per like: o_base = the tweet for nobody without likes/likedByMe/retweetedByMe, o_for_author
-- = the tweet for its author without likes. o_likes etc.: the counts after the whole run;
-- o_flag: retweetedByMe. o_seq is NULL when the like was not new (nothing appended).
CREATE OR REPLACE FUNCTION chirp_exec_likes_rows(cmds jsonb, first_ord bigint, last_ord bigint)
RETURNS TABLE (o_json json, o_kind text, o_seq bigint, o_tid bigint, o_actor bigint, o_eid uuid,
               o_ts bigint, o_content text, o_handle text, o_name text, o_hashtags text,
               o_author bigint, o_likes integer, o_retweets integer, o_replies integer,
               o_flag boolean, o_base text, o_for_author text)
LANGUAGE plpgsql SET jit = off SET enable_nestloop = off AS $$
BEGIN
    RETURN QUERY
        WITH raw AS MATERIALIZED (
            SELECT x.ord, (x.cmd->>'actor')::bigint AS actor,
                   (x.cmd->'args'->>'tweetId')::bigint AS tweet_id
            FROM jsonb_array_elements(cmds) WITH ORDINALITY AS x(cmd, ord)
            WHERE x.ord BETWEEN first_ord AND last_ord),
        known_users AS MATERIALIZED (
            SELECT u.id, u.handle, u.display_name FROM users u
            WHERE u.id = ANY ((SELECT array_agg(DISTINCT r.actor) FROM raw r)::bigint[])),
        known_tweets AS MATERIALIZED (
            SELECT t.id, t.author_id FROM tweets t
            WHERE t.id = ANY ((SELECT array_agg(DISTINCT r.tweet_id) FROM raw r)::bigint[])
              AND NOT t.deleted),
        input AS MATERIALIZED (
            SELECT r.ord, u.id AS actor, u.handle, u.display_name, t.id AS tweet_id,
                   t.author_id AS author
            FROM raw r
            LEFT JOIN known_users u ON u.id = r.actor
            LEFT JOIN known_tweets t ON t.id = r.tweet_id
            ORDER BY r.ord),
        -- A like is new when the user has not liked the tweet and it is the first in this run.
        flagged AS MATERIALIZED (
            SELECT i.*,
                   i.actor IS NOT NULL AND i.tweet_id IS NOT NULL
                   AND i.ord = min(i.ord) OVER (PARTITION BY i.actor, i.tweet_id)
                   AND NOT EXISTS (SELECT 1 FROM likes l WHERE l.tweet_id = i.tweet_id
                                                           AND l.user_id = i.actor) AS fresh
            FROM input i ORDER BY i.ord),
        numbered AS MATERIALIZED (
            SELECT f.*, CASE WHEN f.fresh THEN nextval('event_seq') END AS seq,
                   CASE WHEN f.fresh THEN gen_random_uuid() END AS eid,
                   clock_timestamp() AS created_at
            FROM flagged f),
        ev AS (
            INSERT INTO events (seq, id, type, user_id, payload, created_at)
            SELECT n.seq, n.eid, 'TweetLiked', n.actor,
                   jsonb_build_object('tweetId', n.tweet_id::text, 'authorId', n.author::text),
                   n.created_at
            FROM numbered n WHERE n.fresh ORDER BY n.seq),
        lk AS (
            INSERT INTO likes (user_id, tweet_id, created_at)
            SELECT n.actor, n.tweet_id, n.created_at FROM numbered n WHERE n.fresh),
        per_tweet AS MATERIALIZED (
            SELECT tweet_id, count(*) AS n FROM numbered WHERE fresh GROUP BY tweet_id),
        st AS (
            UPDATE tweet_stats s SET likes = s.likes + c.n
            FROM per_tweet c
            WHERE s.tweet_id = c.tweet_id
              AND s.tweet_id = ANY ((SELECT array_agg(c2.tweet_id) FROM per_tweet c2)::bigint[])
            RETURNING s.*),
        nt AS (
            INSERT INTO notifications (recipient_id, seq, type, actor_id, tweet_id, conversation_id,
                                       created_at)
            SELECT n.author, n.seq, 'like', n.actor, n.tweet_id, NULL, n.created_at
            FROM numbered n WHERE n.fresh AND n.author <> n.actor
            ON CONFLICT DO NOTHING),
        -- Each liked tweet rendered once for nobody and once for its author; counts after the run.
        -- (A tweet that is not a retweet has no original: chirp_tweet_json is then exactly
        -- chirp_tweet_json_flat, at less than half the cost.)
        tw AS MATERIALIZED (
            SELECT t.id,
                   (CASE WHEN t.retweet_of IS NULL THEN chirp_tweet_json_flat(t, NULL)
                         ELSE chirp_tweet_json(t, NULL) END
                    - 'likes' - 'likedByMe' - 'retweetedByMe')::text AS base,
                   (CASE WHEN t.retweet_of IS NULL THEN chirp_tweet_json_flat(t, t.author_id)
                         ELSE chirp_tweet_json(t, t.author_id) END - 'likes')::text AS for_author
            FROM tweets t
            WHERE t.id = ANY ((SELECT array_agg(k.id) FROM known_tweets k)::bigint[])),
        counts AS (
            SELECT x.tweet_id,
                   COALESCE(st.likes, x.likes) AS likes, x.retweets, x.replies
            FROM tweet_stats x LEFT JOIN st ON st.tweet_id = x.tweet_id
            WHERE x.tweet_id = ANY ((SELECT array_agg(k.id) FROM known_tweets k)::bigint[]))
        SELECT CASE
                   WHEN n.actor IS NULL THEN chirp_err(401, 'unauthorized', 'unknown user')::json
                   WHEN n.tweet_id IS NULL THEN chirp_err(404, 'not_found', 'no such tweet')::json
               END,
               'like', n.seq, n.tweet_id, n.actor, n.eid,
               CASE WHEN n.fresh THEN (date_part('epoch', n.created_at) * 1000000)::bigint END,
               NULL::text, n.handle, n.display_name, NULL::text, n.author,
               c.likes, c.retweets, c.replies,
               EXISTS (SELECT 1 FROM tweets x WHERE x.retweet_of = n.tweet_id
                       AND x.author_id = n.actor AND NOT x.deleted),
               tw.base, tw.for_author
        FROM numbered n
        LEFT JOIN tw ON tw.id = n.tweet_id
        LEFT JOIN counts c ON c.tweet_id = n.tweet_id
        ORDER BY n.ord;
END $$;

-- The dispatcher: one row per command, in command order, either the answer as JSON (o_json) or,
-- for the fast paths, raw columns (see chirp_exec_plain_tweets_rows and chirp_exec_likes_rows).
-- Each command may carry {"idem": {"key", "hash"}}: a retry with the same key and hash returns
-- the stored answer and appends nothing; the same key with another hash gives 409.
CREATE OR REPLACE FUNCTION chirp_exec_rows(cmds jsonb)
RETURNS TABLE (o_json json, o_kind text, o_seq bigint, o_tid bigint, o_actor bigint, o_eid uuid,
               o_ts bigint, o_content text, o_handle text, o_name text, o_hashtags text,
               o_author bigint, o_likes integer, o_retweets integer, o_replies integer,
               o_flag boolean, o_base text, o_for_author text)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    cmd jsonb;
    res jsonb;
    k idempotency_keys;
    idem_user bigint;
    ord bigint;
    n bigint := jsonb_array_length(cmds);
    run_start bigint := 0;   -- a pending run of plain tweets
    run_end bigint := 0;
    like_start bigint := 0;  -- a pending run of likes
    like_end bigint := 0;
BEGIN
    PERFORM chirp_lock();
    -- The commonest batch, all plain tweets, in one statement without a per-command loop.
    IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(cmds) c
                   WHERE (c->>'type' = 'tweet' AND NOT c ? 'idem'
                          AND c->'args'->>'replyTo' IS NULL
                          AND jsonb_array_length(COALESCE(c->'args'->'mentions', '[]'::jsonb)) = 0)
                         IS NOT TRUE) THEN
        RETURN QUERY SELECT * FROM chirp_exec_plain_tweets_rows(cmds, 1, n);
        RETURN;
    END IF;
    -- One result row per command, in order.
    FOR cmd, ord IN SELECT value, ordinality FROM jsonb_array_elements(cmds) WITH ORDINALITY
                    ORDER BY ordinality LOOP
        IF cmd->>'type' = 'tweet' AND NOT cmd ? 'idem' AND cmd->'args'->>'replyTo' IS NULL
           AND jsonb_array_length(COALESCE(cmd->'args'->'mentions', '[]'::jsonb)) = 0 THEN
            IF like_start > 0 THEN
                RETURN QUERY SELECT * FROM chirp_exec_likes_rows(cmds, like_start, like_end);
                like_start := 0;
            END IF;
            IF run_start = 0 THEN run_start := ord; END IF;
            run_end := ord;
            CONTINUE;
        END IF;
        IF run_start > 0 THEN
            RETURN QUERY SELECT * FROM chirp_exec_plain_tweets_rows(cmds, run_start, run_end);
            run_start := 0;
        END IF;
        IF cmd->>'type' = 'like' AND NOT cmd ? 'idem' THEN
            IF like_start = 0 THEN like_start := ord; END IF;
            like_end := ord;
            CONTINUE;
        END IF;
        IF like_start > 0 THEN
            RETURN QUERY SELECT * FROM chirp_exec_likes_rows(cmds, like_start, like_end);
            like_start := 0;
        END IF;
        o_json := NULL;
        IF cmd ? 'idem' THEN
            idem_user := COALESCE((cmd->>'actor')::bigint, 0);
            SELECT * INTO k FROM idempotency_keys
            WHERE user_id = idem_user AND key = cmd->'idem'->>'key';
            IF FOUND THEN
                IF k.request_hash = cmd->'idem'->>'hash' THEN
                    o_json := json_build_object('status', k.status, 'body', k.body,
                                                'replayed', true, 'deliveries', '[]'::json);
                ELSE
                    o_json := chirp_err(409, 'conflict',
                                        'Idempotency-Key was used with a different request')::json;
                END IF;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;
        res := chirp_decide(cmd);
        IF cmd ? 'idem' AND (res->>'status')::int < 500 THEN
            INSERT INTO idempotency_keys (user_id, key, request_hash, status, body)
            VALUES (idem_user, cmd->'idem'->>'key', cmd->'idem'->>'hash',
                    (res->>'status')::int, res->'body');
        END IF;
        o_json := res::json;
        RETURN NEXT;
    END LOOP;
    IF run_start > 0 THEN
        RETURN QUERY SELECT * FROM chirp_exec_plain_tweets_rows(cmds, run_start, run_end);
    END IF;
    IF like_start > 0 THEN
        RETURN QUERY SELECT * FROM chirp_exec_likes_rows(cmds, like_start, like_end);
    END IF;
END $$;
