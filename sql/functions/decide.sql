-- Decide: check commands against the current state (under the append lock, exec.sql), append
-- their events and apply them (apply.sql), and answer. Each command has exactly one decide:
--
--   chirp_decide_tweets(cmds, first, last)  'tweet', a run of them set-wise
--   chirp_decide_likes(cmds, first, last)   'like', a run of them set-wise
--   chirp_decide(cmd)                       every other command, one at a time
--
-- The dispatcher (chirp_exec_rows, exec.sql) sends runs of tweets and of likes without
-- Idempotency-Key to the set-wise decides, and a command with one as a run of one. The
-- set-wise decides answer a plain tweet (no reply, no mention) or a like without
-- Idempotency-Key with raw columns (see migrations/008 and 010), any other command with
-- o_json: {status, body, seq, deliveries}, as data: the body is {<shape>: record}
-- (records.sql), the deliveries records too (chirp_deliveries). The event writer maps both into
-- the domain structs and renders them (src/store/exec_result.cpp, records.cpp): no wire JSON
-- is built here.
--
-- Re-applied at every start (src/store/migrations.cpp): edit here, in place.

-- Decide one command. cmd = {"type": ..., "actor": "<id>" | null, "args": {...}}.
CREATE OR REPLACE FUNCTION chirp_decide(cmd jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    a jsonb := cmd->'args';
    actor bigint := (cmd->>'actor')::bigint;
    e events;
    u users;
    t tweets;
    c conversations;
    ids bigint[];
    n bigint;
BEGIN
    IF cmd->>'type' <> 'register' AND NOT EXISTS (SELECT 1 FROM users WHERE id = actor) THEN
        RETURN chirp_err(401, 'unauthorized', 'unknown user');
    END IF;

    CASE cmd->>'type'
    WHEN 'register' THEN
        IF EXISTS (SELECT 1 FROM users WHERE lower(handle) = lower(a->>'handle')) THEN
            RETURN chirp_err(409, 'conflict', 'handle is taken');
        END IF;
        n := nextval('user_ids');
        e := chirp_append('UserRegistered', n, jsonb_build_object(
            'userId', n::text, 'handle', a->>'handle', 'displayName', a->>'displayName',
            'passwordHash', a->>'passwordHash'));
        SELECT * INTO u FROM users WHERE id = n;
        RETURN chirp_ok(201, jsonb_build_object('user', chirp_rec_user(u, NULL)), e);

    WHEN 'follow', 'unfollow' THEN
        SELECT * INTO u FROM users WHERE lower(handle) = lower(a->>'handle');
        IF NOT FOUND THEN RETURN chirp_err(404, 'not_found', 'no such user'); END IF;
        IF u.id = actor THEN
            RETURN chirp_err(422, 'validation_failed', 'you cannot follow yourself');
        END IF;
        IF (cmd->>'type' = 'follow') <> EXISTS (SELECT 1 FROM follows
                WHERE follower_id = actor AND followee_id = u.id) THEN
            e := chirp_append(CASE WHEN cmd->>'type' = 'follow' THEN 'UserFollowed'
                                   ELSE 'UserUnfollowed' END,
                              actor, jsonb_build_object('followeeId', u.id::text));
        END IF;
        SELECT * INTO u FROM users WHERE id = u.id;
        RETURN chirp_ok(200, jsonb_build_object('user', chirp_rec_user(u, actor)), e);

    WHEN 'retweet' THEN
        SELECT * INTO t FROM tweets WHERE id = (a->>'tweetId')::bigint AND NOT deleted;
        IF NOT FOUND THEN RETURN chirp_err(404, 'not_found', 'no such tweet'); END IF;
        IF t.retweet_of IS NOT NULL THEN
            SELECT * INTO t FROM tweets WHERE id = t.retweet_of AND NOT deleted;
            IF NOT FOUND THEN RETURN chirp_err(404, 'not_found', 'no such tweet'); END IF;
        END IF;
        IF EXISTS (SELECT 1 FROM tweets WHERE retweet_of = t.id AND author_id = actor
                                           AND NOT deleted) THEN
            RETURN chirp_err(409, 'conflict', 'you already retweeted this tweet');
        END IF;
        n := nextval('tweet_ids');
        e := chirp_append('TweetCreated', actor, jsonb_build_object(
            'tweetId', n::text, 'content', '', 'replyTo', NULL, 'retweetOf', t.id::text,
            'mentions', '[]'::jsonb, 'hashtags', '[]'::jsonb));
        SELECT * INTO t FROM tweets WHERE id = n;
        RETURN chirp_ok(201, jsonb_build_object('tweet', chirp_rec_tweet(t, actor)), e);

    WHEN 'delete_tweet' THEN
        SELECT * INTO t FROM tweets WHERE id = (a->>'tweetId')::bigint AND NOT deleted;
        IF NOT FOUND THEN RETURN chirp_err(404, 'not_found', 'no such tweet'); END IF;
        IF t.author_id <> actor THEN
            RETURN chirp_err(403, 'forbidden', 'only the author can delete a tweet');
        END IF;
        e := chirp_append('TweetDeleted', actor, jsonb_build_object('tweetId', t.id::text));
        RETURN chirp_ok(200, jsonb_build_object('deleted', t.id), e);

    WHEN 'unlike' THEN
        SELECT * INTO t FROM tweets WHERE id = (a->>'tweetId')::bigint AND NOT deleted;
        IF NOT FOUND THEN RETURN chirp_err(404, 'not_found', 'no such tweet'); END IF;
        IF EXISTS (SELECT 1 FROM likes WHERE tweet_id = t.id AND user_id = actor) THEN
            e := chirp_append('TweetUnliked', actor,
                              jsonb_build_object('tweetId', t.id::text,
                                                 'authorId', t.author_id::text));
            SELECT * INTO t FROM tweets WHERE id = t.id;
        END IF;
        RETURN chirp_ok(200, jsonb_build_object('tweet', chirp_rec_tweet(t, actor)), e);

    WHEN 'read_notifications' THEN
        -- Never past the newest notification: an upTo from the future must not mark
        -- notifications read before they exist.
        n := LEAST(COALESCE((a->>'upTo')::bigint, 9223372036854775807),
                   COALESCE((SELECT max(seq) FROM notifications WHERE recipient_id = actor), 0));
        IF n > (SELECT notif_read_upto FROM user_stats WHERE user_id = actor) THEN
            e := chirp_append('NotificationsRead', actor, jsonb_build_object('upTo', n::text));
        END IF;
        RETURN chirp_ok(200, jsonb_build_object('unread', (
            SELECT count(*) FROM notifications x
            WHERE x.recipient_id = actor
              AND x.seq > (SELECT notif_read_upto FROM user_stats WHERE user_id = actor))), e);

    WHEN 'create_conversation' THEN
        SELECT array_agg(DISTINCT x.id ORDER BY x.id) INTO ids
        FROM users x
        WHERE lower(x.handle) IN (SELECT lower(h) FROM jsonb_array_elements_text(a->'participants') h)
           OR x.id = actor;
        IF cardinality(ids) <> (SELECT count(DISTINCT lower(h)) FROM
                                jsonb_array_elements_text(a->'participants') h
                                WHERE lower(h) <> (SELECT lower(handle) FROM users WHERE id = actor)) + 1 THEN
            RETURN chirp_err(404, 'not_found', 'a participant does not exist');
        END IF;
        IF cardinality(ids) < 2 OR cardinality(ids) > 10 THEN
            RETURN chirp_err(422, 'validation_failed',
                             'a conversation has 2 to 10 people including you');
        END IF;
        SELECT * INTO c FROM conversations WHERE participants = ids;
        IF FOUND THEN
            RETURN chirp_ok(200, jsonb_build_object('conversation', chirp_rec_conversation(c)), e);
        END IF;
        n := nextval('conversation_ids');
        e := chirp_append('ConversationCreated', actor, jsonb_build_object(
            'conversationId', n::text,
            'participants', (SELECT jsonb_agg(x::text ORDER BY x) FROM unnest(ids) x)));
        SELECT * INTO c FROM conversations WHERE id = n;
        RETURN chirp_ok(201, jsonb_build_object('conversation', chirp_rec_conversation(c)), e);

    WHEN 'send_message' THEN
        SELECT * INTO c FROM conversations WHERE id = (a->>'conversationId')::bigint;
        IF NOT FOUND THEN RETURN chirp_err(404, 'not_found', 'no such conversation'); END IF;
        IF NOT actor = ANY (c.participants) THEN
            RETURN chirp_err(403, 'forbidden', 'you are not in this conversation');
        END IF;
        n := nextval('message_ids');
        e := chirp_append('MessageSent', actor, jsonb_build_object(
            'messageId', n::text, 'conversationId', c.id::text, 'content', a->>'content'));
        RETURN chirp_ok(201, jsonb_build_object('message', (SELECT chirp_rec_message(m) FROM messages m
                                                          WHERE m.id = n)), e);

    ELSE
        IF cmd->>'type' LIKE 'draft\_%' THEN  -- collaborative drafts: drafts.sql
            RETURN chirp_decide_draft(cmd, actor);
        END IF;
        RETURN chirp_err(400, 'bad_request', 'unknown command');
    END CASE;
END $$;

-- 'tweet', a run of commands cmds[first_ord..last_ord] set-wise: the actor must exist (401), a
-- reply's parent too (404); mentions are resolved to the users that exist. Ids, seqs, event ids
-- and times are drawn in command order. One statement decides, appends and applies the run
-- (chirp_apply_tweet_rows, called in it with the rows it appends), then the answers: raw
-- columns for a plain tweet (no reply, no mention, no Idempotency-Key: o_kind 'tweet'),
-- otherwise a record (o_json) built after the apply.
-- A parent is looked up before the run: a reply to a tweet of the same run (whose id the
-- client cannot know before this batch commits) is a 404.
CREATE OR REPLACE FUNCTION chirp_decide_tweets(cmds jsonb, first_ord bigint, last_ord bigint)
RETURNS SETOF chirp_exec_row
LANGUAGE plpgsql SET jit = off SET enable_nestloop = off AS $$
DECLARE
    out chirp_exec_row[];
    any_rich boolean;
    one chirp_exec_row;
    one_event events;
    one_tweet tweets;
BEGIN
    WITH input AS MATERIALIZED (
        SELECT x.ord, (x.cmd->>'actor')::bigint AS actor, x.cmd->'args'->>'content' AS content,
               x.cmd->'args'->>'replyTo' AS reply_to,
               COALESCE(x.cmd->'args'->'hashtags', '[]'::jsonb) AS hashtags,
               x.cmd->'args'->'mentions' AS mention_handles,
               x.cmd ? 'idem' OR x.cmd->'args'->>'replyTo' IS NOT NULL
               OR jsonb_array_length(COALESCE(x.cmd->'args'->'mentions', '[]'::jsonb)) > 0 AS rich
        FROM jsonb_array_elements(cmds) WITH ORDINALITY AS x(cmd, ord)
        WHERE x.ord BETWEEN first_ord AND last_ord),
    authors AS MATERIALIZED (
        SELECT u.id, u.handle, u.display_name FROM users u
        WHERE u.id = ANY ((SELECT array_agg(DISTINCT i.actor) FROM input i)::bigint[])),
    parents AS MATERIALIZED (
        SELECT p.id FROM tweets p
        WHERE p.id = ANY ((SELECT array_agg(DISTINCT i.reply_to::bigint) FROM input i
                           WHERE i.reply_to IS NOT NULL)::bigint[])
          AND NOT p.deleted),
    checked AS MATERIALIZED (
        SELECT i.ord, i.rich, i.content, i.reply_to, i.hashtags, au.id AS actor, au.handle,
               au.display_name,
               CASE WHEN au.id IS NULL THEN chirp_err(401, 'unauthorized', 'unknown user')
                    WHEN i.reply_to IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM parents p WHERE p.id = i.reply_to::bigint)
                    THEN chirp_err(404, 'not_found', 'the tweet you reply to does not exist')
               END AS err,
               CASE WHEN i.mention_handles IS NULL OR jsonb_array_length(i.mention_handles) = 0
                    THEN '[]'::jsonb
                    ELSE (SELECT COALESCE(jsonb_agg(jsonb_build_object('id', x.id::text,
                                                                       'handle', x.handle)
                                                    ORDER BY x.id), '[]'::jsonb)
                          FROM users x
                          WHERE lower(x.handle) = ANY (ARRAY(
                              SELECT lower(h) FROM jsonb_array_elements_text(i.mention_handles) h)))
               END AS mentions
        FROM input i LEFT JOIN authors au ON au.id = i.actor),
    numbered AS MATERIALIZED (
        SELECT c.*,
               CASE WHEN c.err IS NULL THEN nextval('tweet_ids') END AS tid,
               CASE WHEN c.err IS NULL THEN nextval('event_seq') END AS seq,
               CASE WHEN c.err IS NULL THEN gen_random_uuid() END AS eid,
               clock_timestamp() AS created_at
        FROM (SELECT * FROM checked ORDER BY ord) c),
    ev AS (
        INSERT INTO events (seq, id, type, user_id, payload, created_at)
        SELECT n.seq, n.eid, 'TweetCreated', n.actor,
               jsonb_build_object('tweetId', n.tid::text, 'content', n.content,
                                  'replyTo', n.reply_to, 'retweetOf', NULL,
                                  'mentions', n.mentions,
                                  'hashtags', n.hashtags),
               n.created_at
        FROM numbered n WHERE n.err IS NULL ORDER BY n.seq),
    -- The run's apply, in this statement, with the rows just appended (it reads none of the
    -- rows this statement writes).
    applied AS MATERIALIZED (
        SELECT chirp_apply_tweet_rows(array_agg(ROW(
                   n.tid, n.actor, n.content, n.reply_to::bigint, NULL, n.mentions,
                   ARRAY(SELECT jsonb_array_elements_text(n.hashtags)),
                   '{}', n.created_at, n.seq)::chirp_tweet_row)) AS done
        FROM numbered n WHERE n.err IS NULL)
    SELECT array_agg(ROW(n.err::json, CASE WHEN n.rich THEN 'rich' ELSE 'tweet' END, n.seq,
                         n.tid, n.actor, n.eid,
                         CASE WHEN n.err IS NULL
                              THEN (date_part('epoch', n.created_at) * 1000000)::bigint END,
                         n.content, n.handle, n.display_name,
                         n.hashtags::text,
                         NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                         NULL, NULL, NULL, NULL, NULL, NULL, NULL)::chirp_exec_row
                     ORDER BY n.ord),
           bool_or(n.rich)
    INTO out, any_rich
    FROM numbered n CROSS JOIN applied;

    IF any_rich IS NOT TRUE THEN
        RETURN QUERY SELECT * FROM unnest(out);
        RETURN;
    END IF;
    FOREACH one IN ARRAY out LOOP
        IF one.o_kind = 'rich' THEN
            IF one.o_json IS NULL THEN
                SELECT * INTO one_event FROM events WHERE seq = one.o_seq;
                SELECT * INTO one_tweet FROM tweets WHERE id = one.o_tid;
                one := chirp_answer_row(
                    chirp_ok(201, jsonb_build_object('tweet', chirp_rec_tweet(one_tweet, one.o_actor)),
                             one_event)::json);
            ELSE
                one := chirp_answer_row(one.o_json);
            END IF;
        END IF;
        RETURN NEXT one;
    END LOOP;
END $$;

-- 'like', a run of commands cmds[first_ord..last_ord] set-wise: the actor (401) and the tweet,
-- not deleted (404), must exist; a like is appended when the user does not like the tweet yet
-- and it is the first such like in the run. One statement decides, appends and applies the run
-- (chirp_apply_like_rows, called in it with the columns it appends), then the answers with
-- the counts after the run: raw columns without Idempotency-Key (o_kind 'like'; o_seq NULL
-- when nothing was appended), otherwise a record (o_json) built after the apply. The liked
-- tweet comes as typed columns read before the apply (migrations/011_exec_row_liked.sql); the
-- writer fills in the likes and the liker's flags. A liked retweet, which carries its
-- original, and a published draft, which carries its coauthors, come as records instead
-- (o_base for nobody, o_for_author for its author).
CREATE OR REPLACE FUNCTION chirp_decide_likes(cmds jsonb, first_ord bigint, last_ord bigint)
RETURNS SETOF chirp_exec_row
LANGUAGE plpgsql SET jit = off SET enable_nestloop = off
    SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    out chirp_exec_row[];
    any_rich boolean;
    tw_ids bigint[];
    one chirp_exec_row;
    one_event events;
    one_tweet tweets;
BEGIN
    WITH raw AS MATERIALIZED (
        SELECT x.ord, (x.cmd->>'actor')::bigint AS actor,
               (x.cmd->'args'->>'tweetId')::bigint AS tweet_id, x.cmd ? 'idem' AS rich
        FROM jsonb_array_elements(cmds) WITH ORDINALITY AS x(cmd, ord)
        WHERE x.ord BETWEEN first_ord AND last_ord),
    known_users AS MATERIALIZED (
        SELECT u.id, u.handle, u.display_name FROM users u
        WHERE u.id = ANY ((SELECT array_agg(DISTINCT r.actor) FROM raw r)::bigint[])),
    known_tweets AS MATERIALIZED (
        SELECT t.id, t.author_id, t.content, t.created_at, t.reply_to, t.retweet_of,
               t.mentions, t.hashtags, t.coauthors
        FROM tweets t
        WHERE t.id = ANY ((SELECT array_agg(DISTINCT r.tweet_id) FROM raw r)::bigint[])
          AND NOT t.deleted),
    input AS MATERIALIZED (
        SELECT r.ord, r.rich, u.id AS actor, u.handle, u.display_name, t.id AS tweet_id,
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
               AND (SELECT true FROM likes l WHERE l.tweet_id = i.tweet_id
                                               AND l.user_id = i.actor) IS NULL AS fresh
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
    authors AS MATERIALIZED (
        SELECT u.id, u.handle, u.display_name FROM users u
        WHERE u.id = ANY ((SELECT array_agg(DISTINCT k.author_id) FROM known_tweets k)::bigint[])),
    -- Each liked tweet once, before the run, as its author sees it (the flags); a retweet as
    -- records (records.sql) for nobody and for its author. Only for answers without
    -- Idempotency-Key (the others are records built after the run).
    tw AS MATERIALIZED (
        SELECT t.id, a.handle, a.display_name, t.content, chirp_us(t.created_at) AS ts,
               t.reply_to,
               CASE WHEN t.mentions = '[]'::jsonb THEN '[]'
                    ELSE COALESCE((SELECT jsonb_agg(m->'handle')
                                   FROM jsonb_array_elements(t.mentions) m), '[]'::jsonb)::text
               END AS mentions,
               to_jsonb(t.hashtags)::text AS hashtags,
               -- The author's flags. Lookups here are scalar subqueries, an index lookup
               -- each: an EXISTS may be planned as a hashed subplan, which reads the whole
               -- table on every call (the generic plan, made on a small table, kept it: 6 ms
               -- per single like).
               (SELECT true FROM likes l WHERE l.tweet_id = t.id AND l.user_id = t.author_id)
                   IS NOT NULL AS liked,
               (SELECT true FROM tweets r WHERE r.author_id = t.author_id
                                            AND r.retweet_of = t.id AND NOT r.deleted LIMIT 1)
                   IS NOT NULL AS retweeted,
               CASE WHEN t.retweet_of IS NOT NULL OR cardinality(t.coauthors) > 0 THEN
                   chirp_rec_tweet((SELECT x FROM tweets x WHERE x.id = t.id), NULL)::text
               END AS base,
               CASE WHEN t.retweet_of IS NOT NULL OR cardinality(t.coauthors) > 0 THEN
                   chirp_rec_tweet((SELECT x FROM tweets x WHERE x.id = t.id), t.author_id)::text
               END AS for_author
        FROM known_tweets t JOIN authors a ON a.id = t.author_id
        WHERE EXISTS (SELECT 1 FROM raw WHERE NOT raw.rich)),
    -- The run's apply, in this statement, with the columns it appends (it reads none of the
    -- rows this statement writes; tw was read before it).
    applied AS MATERIALIZED (
        SELECT chirp_apply_like_rows(array_agg(n.actor), array_agg(n.tweet_id),
                                     array_agg(n.created_at), array_agg(n.seq)) AS done
        FROM numbered n WHERE n.fresh)
    SELECT array_agg(ROW(
               CASE WHEN n.actor IS NULL THEN chirp_err(401, 'unauthorized', 'unknown user')::json
                    WHEN n.tweet_id IS NULL THEN chirp_err(404, 'not_found', 'no such tweet')::json
               END,
               CASE WHEN n.rich THEN 'rich' ELSE 'like' END, n.seq, n.tweet_id, n.actor, n.eid,
               CASE WHEN n.fresh THEN (date_part('epoch', n.created_at) * 1000000)::bigint END,
               tw.content, n.handle, n.display_name, tw.hashtags, n.author, NULL, NULL, NULL,
               (SELECT true FROM tweets x WHERE x.author_id = n.actor
                                            AND x.retweet_of = n.tweet_id AND NOT x.deleted
                LIMIT 1) IS NOT NULL,
               tw.base, tw.for_author, tw.handle, tw.display_name, tw.ts, tw.reply_to,
               tw.mentions, tw.liked, tw.retweeted)::chirp_exec_row ORDER BY n.ord),
           bool_or(n.rich),
           array_agg(DISTINCT n.tweet_id) FILTER (WHERE n.tweet_id IS NOT NULL)
    INTO out, any_rich, tw_ids
    FROM numbered n LEFT JOIN tw ON tw.id = n.tweet_id CROSS JOIN applied;

    IF any_rich IS NOT TRUE THEN
        -- The counts after the whole run.
        RETURN QUERY
            SELECT o.o_json, o.o_kind, o.o_seq, o.o_tid, o.o_actor, o.o_eid, o.o_ts, o.o_content,
                   o.o_handle, o.o_name, o.o_hashtags, o.o_author, s.likes, s.retweets,
                   s.replies, o.o_flag, o.o_base, o.o_for_author, o.o_t_handle, o.o_t_name,
                   o.o_t_ts, o.o_t_reply_to, o.o_t_mentions, o.o_t_liked, o.o_t_retweeted
            FROM unnest(out) WITH ORDINALITY o
            LEFT JOIN (SELECT * FROM tweet_stats x WHERE x.tweet_id = ANY (tw_ids)) s
                   ON s.tweet_id = o.o_tid
            ORDER BY o.ordinality;
        RETURN;
    END IF;
    FOREACH one IN ARRAY out LOOP
        IF one.o_kind = 'rich' THEN
            IF one.o_json IS NULL THEN
                one_event := NULL;
                IF one.o_seq IS NOT NULL THEN
                    SELECT * INTO one_event FROM events WHERE seq = one.o_seq;
                END IF;
                SELECT * INTO one_tweet FROM tweets WHERE id = one.o_tid;
                one := chirp_answer_row(
                    chirp_ok(200, jsonb_build_object('tweet', chirp_rec_tweet(one_tweet, one.o_actor)),
                             one_event)::json);
            ELSE
                one := chirp_answer_row(one.o_json);
            END IF;
        ELSE
            SELECT s.likes, s.retweets, s.replies INTO one.o_likes, one.o_retweets, one.o_replies
            FROM tweet_stats s WHERE s.tweet_id = one.o_tid;
        END IF;
        RETURN NEXT one;
    END LOOP;
END $$;
