-- Execute a batch of commands in one call, one round trip per group commit (the event
-- writer, src/store/store.cpp, and `chirpd seed` call chirp_exec_rows):
--
--   chirp_lock()             the cross-process append lock: seq order = commit order
--   chirp_append(...)        append one event and apply it (apply.sql)
--   chirp_err / chirp_ok     an answer: {"status", "body", "seq", "deliveries"}
--   chirp_deliveries(event)  what to deliver live for an appended event
--   chirp_exec_rows(cmds)    the dispatcher: one chirp_exec_row per command, in order
--
-- Runs of tweets and of likes are decided, appended and applied set-wise (decide.sql): a few
-- statements per run, whatever its length. Plain tweets and likes without Idempotency-Key are
-- answered with raw columns the writer renders the answer and the live frames from (in C++:
-- rendering JSON in SQL cost ~15 µs per tweet, half of the whole append, and ~120 µs per
-- like). The set-wise functions are PL/pgSQL, so their plans are cached per connection (a SQL
-- function's statement was planned on every call: 0.3-0.4 ms, most of a one-command batch).
-- They look big tables up by `= ANY (array)` (an index scan whatever the join method): with
-- nested loops off, a join against users, tweets, tweet_stats or likes was a hash join over a
-- sequential scan of the whole table, so a batch cost grew with the data (likes at 1,000/s:
-- p99 217 ms with 100k tweets).
--
-- Re-applied at every start (src/store/migrations.cpp): edit here, in place.

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

-- A result row that answers with JSON only (o_json); every raw column NULL.
CREATE OR REPLACE FUNCTION chirp_answer_row(answer json) RETURNS chirp_exec_row
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    r chirp_exec_row;
BEGIN
    r.o_json := answer;
    RETURN r;
END $$;

CREATE OR REPLACE FUNCTION chirp_ok(status int, body jsonb, e events) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('status', status, 'body', body,
        'seq', e.seq::text,
        'deliveries', CASE WHEN e.seq IS NULL THEN '[]'::jsonb ELSE chirp_deliveries(e) END));
END $$;

-- What to deliver live for an appended event, as data (records.sql): timeline fan-out (by the
-- author's followers), notifications, messages, and follow changes (to invalidate follower
-- caches everywhere), with what fan-out needs: the actor, the tweet id for the home cache, the
-- conversation. Each item: {channel, seq, author?, actor, tweet_id?, conversation?, users?,
-- event: chirp_rec_event}; the writer renders the frames.
CREATE OR REPLACE FUNCTION chirp_deliveries(e events) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    out jsonb := '[]'::jsonb;
    n notifications;
    tid bigint := (e.payload->>'tweetId')::bigint;
    conv bigint := (e.payload->>'conversationId')::bigint;
BEGIN
    IF e.type = 'TweetCreated' THEN
        out := out || jsonb_build_object('channel', 'timeline', 'seq', e.seq,
            'author', e.user_id, 'actor', e.user_id, 'tweet_id', tid,
            'event', chirp_rec_event(e, e.type, jsonb_build_object('tweet',
                (SELECT chirp_rec_tweet(t, NULL) FROM tweets t WHERE t.id = tid))));
    ELSIF e.type = 'TweetDeleted' THEN
        out := out || jsonb_build_object('channel', 'timeline', 'seq', e.seq,
            'author', e.user_id, 'actor', e.user_id,
            'event', chirp_rec_event(e, e.type, jsonb_build_object('tweet_id', tid)));
    ELSIF e.type IN ('TweetLiked', 'TweetUnliked') THEN
        out := out || jsonb_build_object('channel', 'timeline', 'seq', e.seq,
            'author', (e.payload->>'authorId')::bigint, 'actor', e.user_id,
            'event', chirp_rec_event(e, e.type, (SELECT jsonb_build_object(
                'tweet_id', s.tweet_id, 'likes', s.likes, 'retweets', s.retweets,
                'replies', s.replies) FROM tweet_stats s WHERE s.tweet_id = tid)));
    ELSIF e.type = 'MessageSent' THEN
        out := out || jsonb_build_object('channel', 'messages', 'seq', e.seq,
            'actor', e.user_id, 'conversation', conv,
            'users', (SELECT jsonb_agg(cm.user_id) FROM conversation_members cm
                      WHERE cm.conversation_id = conv),
            'event', chirp_rec_event(e, e.type, jsonb_build_object(
                'message', (SELECT chirp_rec_message(m) FROM messages m
                            WHERE m.id = (e.payload->>'messageId')::bigint),
                'conversation', (SELECT chirp_rec_conversation(c) FROM conversations c
                                 WHERE c.id = conv))));
    ELSIF e.type IN ('UserFollowed', 'UserUnfollowed') THEN
        out := out || jsonb_build_object('channel', 'follow', 'seq', e.seq,
            'author', (e.payload->>'followeeId')::bigint, 'actor', e.user_id);
    END IF;
    FOR n IN SELECT * FROM notifications WHERE seq = e.seq ORDER BY recipient_id LOOP
        out := out || jsonb_build_object('channel', 'notifications', 'seq', e.seq,
            'actor', e.user_id, 'users', jsonb_build_array(n.recipient_id),
            'event', chirp_rec_event(e, 'Notification',
                                     jsonb_build_object('notification', chirp_rec_notification(n))));
    END LOOP;
    RETURN out;
END $$;

-- Before chirp_exec_row (migration 008), chirp_exec_rows returned a TABLE of the same columns.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc WHERE oid = to_regprocedure('chirp_exec_rows(jsonb)')
                                       AND prorettype <> 'chirp_exec_row'::regtype) THEN
        DROP FUNCTION chirp_exec_rows(jsonb);
    END IF;
END $$;

-- The dispatcher: one row per command, in command order. Runs of tweets and of likes go to
-- their set-wise decide, every other command to chirp_decide. A command may carry
-- {"idem": {"key", "hash"}}: a retry with the same key and hash returns the stored answer and
-- appends nothing; the same key with another hash gives 409. Such a command is decided alone
-- (a run of one) and answered with JSON, which is stored with its key.
CREATE OR REPLACE FUNCTION chirp_exec_rows(cmds jsonb) RETURNS SETOF chirp_exec_row
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    cmd jsonb;
    res jsonb;
    k idempotency_keys;
    idem_user bigint;
    ord bigint;
    n bigint := jsonb_array_length(cmds);
    run_kind text;           -- a pending run of 'tweet' or 'like' commands without idem
    run_start bigint := 0;
    r chirp_exec_row;
BEGIN
    PERFORM chirp_lock();
    -- The commonest batch, all tweets without Idempotency-Key, without a per-command loop.
    IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(cmds) c
                   WHERE (c->>'type' = 'tweet' AND NOT c ? 'idem') IS NOT TRUE) THEN
        RETURN QUERY SELECT * FROM chirp_decide_tweets(cmds, 1, n);
        RETURN;
    END IF;
    FOR cmd, ord IN SELECT value, ordinality FROM jsonb_array_elements(cmds) WITH ORDINALITY
                    ORDER BY ordinality LOOP
        IF run_kind IS NOT NULL AND (cmd->>'type' IS DISTINCT FROM run_kind OR cmd ? 'idem') THEN
            IF run_kind = 'tweet' THEN
                RETURN QUERY SELECT * FROM chirp_decide_tweets(cmds, run_start, ord - 1);
            ELSE
                RETURN QUERY SELECT * FROM chirp_decide_likes(cmds, run_start, ord - 1);
            END IF;
            run_kind := NULL;
        END IF;
        IF cmd->>'type' IN ('tweet', 'like') AND NOT cmd ? 'idem' THEN
            IF run_kind IS NULL THEN
                run_kind := cmd->>'type';
                run_start := ord;
            END IF;
            CONTINUE;
        END IF;
        IF cmd ? 'idem' THEN
            idem_user := COALESCE((cmd->>'actor')::bigint, 0);
            SELECT * INTO k FROM idempotency_keys
            WHERE user_id = idem_user AND key = cmd->'idem'->>'key';
            IF FOUND THEN
                r := NULL;
                IF k.request_hash = cmd->'idem'->>'hash' THEN
                    -- answer: the bytes first sent (migration 009); NULL for a key
                    -- stored earlier in this batch, or by an older version: the writer
                    -- renders `body` then.
                    r.o_json := json_build_object('status', k.status, 'body', k.body,
                                                  'answer', k.answer, 'replayed', true,
                                                  'deliveries', '[]'::json);
                ELSE
                    r.o_json := chirp_err(
                        409, 'conflict', 'Idempotency-Key was used with a different request')::json;
                END IF;
                RETURN NEXT r;
                CONTINUE;
            END IF;
        END IF;
        IF cmd->>'type' = 'tweet' THEN  -- a run of one
            SELECT * INTO r FROM chirp_decide_tweets(cmds, ord, ord);
            res := r.o_json::jsonb;
        ELSIF cmd->>'type' = 'like' THEN
            SELECT * INTO r FROM chirp_decide_likes(cmds, ord, ord);
            res := r.o_json::jsonb;
        ELSE
            res := chirp_decide(cmd);
            r := NULL;
            r.o_json := res::json;
        END IF;
        IF cmd ? 'idem' AND (res->>'status')::int < 500 THEN
            INSERT INTO idempotency_keys (user_id, key, request_hash, status, body)
            VALUES (idem_user, cmd->'idem'->>'key', cmd->'idem'->>'hash',
                    (res->>'status')::int, res->'body');
        END IF;
        RETURN NEXT r;
    END LOOP;
    IF run_kind = 'tweet' THEN
        RETURN QUERY SELECT * FROM chirp_decide_tweets(cmds, run_start, n);
    ELSIF run_kind = 'like' THEN
        RETURN QUERY SELECT * FROM chirp_decide_likes(cmds, run_start, n);
    END IF;
END $$;
