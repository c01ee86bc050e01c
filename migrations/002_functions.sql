-- 002: the event store's logic, in the database so that one round trip appends a whole batch.
--
--   chirp_exec(commands)  decide: check each command against the current state (under the
--                         cross-process append lock), append its events and return the
--                         HTTP result plus the wire events to deliver. One call per batch.
--   chirp_apply(event)    evolve: update the projections from one event. The live path and
--                         chirp_rebuild() both use it, so a rebuild equals the live state.
--   chirp_*_json(...)     the JSON views shared by the REST API, WebSocket and replay.

-- Views ----------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION chirp_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE OR REPLACE FUNCTION chirp_user_ref(uid bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT (SELECT jsonb_build_object('id', u.id::text, 'handle', u.handle,
                                      'displayName', u.display_name)
            FROM users u WHERE u.id = uid));
END $$;

CREATE OR REPLACE FUNCTION chirp_user_json(u users, viewer bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE s user_stats;
BEGIN
    SELECT * INTO s FROM user_stats WHERE user_id = u.id;
    RETURN (SELECT jsonb_build_object(
        'id', u.id::text, 'handle', u.handle, 'displayName', u.display_name,
        'createdAt', chirp_ts(u.created_at), 'followers', s.followers,
        'following', s.following, 'tweets', s.tweets)
        || CASE WHEN viewer IS NULL OR viewer = u.id THEN '{}'::jsonb
                ELSE jsonb_build_object('followedByMe', EXISTS (
                    SELECT 1 FROM follows f WHERE f.follower_id = viewer AND f.followee_id = u.id))
           END);
END $$;

-- A tweet without its retweeted original (the original of a retweet is never a retweet).
CREATE OR REPLACE FUNCTION chirp_tweet_json_flat(t tweets, viewer bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE s tweet_stats;
BEGIN
    SELECT * INTO s FROM tweet_stats WHERE tweet_id = t.id;
    RETURN (SELECT jsonb_build_object(
        'id', t.id::text, 'author', chirp_user_ref(t.author_id), 'content', t.content,
        'createdAt', chirp_ts(t.created_at), 'replyTo', t.reply_to::text, 'retweetOf', NULL,
        'mentions', COALESCE((SELECT jsonb_agg(m->'handle') FROM jsonb_array_elements(t.mentions) m),
                             '[]'::jsonb),
        'hashtags', to_jsonb(t.hashtags),
        'likes', s.likes, 'retweets', s.retweets, 'replies', s.replies,
        'likedByMe', viewer IS NOT NULL AND EXISTS (
            SELECT 1 FROM likes l WHERE l.tweet_id = t.id AND l.user_id = viewer),
        'retweetedByMe', viewer IS NOT NULL AND EXISTS (
            SELECT 1 FROM tweets r WHERE r.retweet_of = t.id AND r.author_id = viewer
                                     AND NOT r.deleted)));
END $$;

-- View functions are PL/pgSQL so their plans are cached per connection (a non-inlined SQL
-- function is planned again on every call).
CREATE OR REPLACE FUNCTION chirp_tweet_json(t tweets, viewer bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- The flat view plus the retweeted original (never itself a retweet).
    RETURN chirp_tweet_json_flat(t, viewer) || jsonb_build_object(
        'retweetOf', (SELECT chirp_tweet_json_flat(o, viewer) FROM tweets o
                      WHERE o.id = t.retweet_of AND NOT o.deleted));
END $$;

CREATE OR REPLACE FUNCTION chirp_tweet_by_id(tid bigint, viewer bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT (SELECT chirp_tweet_json(t, viewer) FROM tweets t WHERE t.id = tid AND NOT t.deleted));
END $$;

CREATE OR REPLACE FUNCTION chirp_notification_json(n notifications) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
        'id', n.seq::text, 'seq', n.seq::text, 'type', n.type,
        'actor', chirp_user_ref(n.actor_id),
        'tweet', chirp_tweet_by_id(n.tweet_id, n.recipient_id),
        'conversationId', n.conversation_id::text,
        'createdAt', chirp_ts(n.created_at),
        'read', n.seq <= (SELECT s.notif_read_upto FROM user_stats s WHERE s.user_id = n.recipient_id)));
END $$;

CREATE OR REPLACE FUNCTION chirp_message_json(m messages) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
        'id', m.id::text, 'conversationId', m.conversation_id::text,
        'sender', chirp_user_ref(m.sender_id), 'content', m.content,
        'createdAt', chirp_ts(m.created_at), 'seq', m.seq::text));
END $$;

CREATE OR REPLACE FUNCTION chirp_conversation_json(c conversations) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
        'id', c.id::text,
        'participants', (SELECT jsonb_agg(chirp_user_ref(p) ORDER BY p)
                         FROM unnest(c.participants) p),
        'createdAt', chirp_ts(c.created_at),
        'lastMessage', (SELECT chirp_message_json(m) FROM messages m
                        WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1)));
END $$;

-- The audit-trail form of an event (secrets stripped).
CREATE OR REPLACE FUNCTION chirp_event_json(e events) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
        'seq', e.seq::text, 'id', e.id::text, 'type', e.type, 'userId', e.user_id::text,
        'timestamp', chirp_ts(e.created_at), 'version', e.version,
        'payload', e.payload - 'passwordHash'));
END $$;

-- The wire form of an event on a stream: the payload holds what a client needs to render.
CREATE OR REPLACE FUNCTION chirp_wire(e events, type text, payload jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object(
        'id', e.id::text, 'type', type, 'userId', e.user_id::text,
        'timestamp', chirp_ts(e.created_at), 'version', e.version, 'payload', payload));
END $$;

CREATE OR REPLACE FUNCTION chirp_wire_timeline(e events) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT CASE e.type
        WHEN 'TweetCreated' THEN chirp_wire(e, e.type, jsonb_build_object('tweet',
            (SELECT chirp_tweet_json(t, NULL) FROM tweets t
             WHERE t.id = (e.payload->>'tweetId')::bigint)))
        WHEN 'TweetDeleted' THEN chirp_wire(e, e.type,
            jsonb_build_object('tweetId', e.payload->>'tweetId'))
        ELSE chirp_wire(e, e.type, (SELECT jsonb_build_object(
            'tweetId', s.tweet_id::text, 'likes', s.likes, 'retweets', s.retweets,
            'replies', s.replies)
            FROM tweet_stats s WHERE s.tweet_id = (e.payload->>'tweetId')::bigint))
    END);
END $$;

CREATE OR REPLACE FUNCTION chirp_wire_notification(n notifications) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT (SELECT chirp_wire(e, 'Notification',
                              jsonb_build_object('notification', chirp_notification_json(n)))
            FROM events e WHERE e.seq = n.seq));
END $$;

CREATE OR REPLACE FUNCTION chirp_wire_message(e events) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT chirp_wire(e, e.type, jsonb_build_object(
        'message', (SELECT chirp_message_json(m) FROM messages m
                    WHERE m.id = (e.payload->>'messageId')::bigint),
        'conversation', (SELECT chirp_conversation_json(c) FROM conversations c
                         WHERE c.id = (e.payload->>'conversationId')::bigint))));
END $$;

-- Evolve ---------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION chirp_notify(recipient bigint, e events, kind text,
                                        tweet bigint, conv bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF recipient IS NOT NULL AND recipient <> e.user_id THEN
        INSERT INTO notifications (recipient_id, seq, type, actor_id, tweet_id, conversation_id,
                                   created_at)
        VALUES (recipient, e.seq, kind, e.user_id, tweet, conv, e.created_at)
        ON CONFLICT DO NOTHING;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION chirp_apply(e events) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := e.payload;
    tid bigint;
    parent tweets;
    reply_recipient bigint;
    m jsonb;
    target bigint;
BEGIN
    CASE e.type
    WHEN 'UserRegistered' THEN
        INSERT INTO users (id, handle, display_name, password_hash, created_at)
        VALUES ((p->>'userId')::bigint, p->>'handle', p->>'displayName', p->>'passwordHash',
                e.created_at);
        INSERT INTO user_stats (user_id) VALUES ((p->>'userId')::bigint);
    WHEN 'UserFollowed' THEN
        target := (p->>'followeeId')::bigint;
        INSERT INTO follows VALUES (e.user_id, target, e.seq, e.created_at) ON CONFLICT DO NOTHING;
        IF FOUND THEN
            UPDATE user_stats SET following = following + 1 WHERE user_id = e.user_id;
            UPDATE user_stats SET followers = followers + 1 WHERE user_id = target;
            PERFORM chirp_notify(target, e, 'follow', NULL, NULL);
        END IF;
    WHEN 'UserUnfollowed' THEN
        target := (p->>'followeeId')::bigint;
        DELETE FROM follows WHERE follower_id = e.user_id AND followee_id = target;
        IF FOUND THEN
            UPDATE user_stats SET following = following - 1 WHERE user_id = e.user_id;
            UPDATE user_stats SET followers = followers - 1 WHERE user_id = target;
        END IF;
    WHEN 'TweetCreated' THEN
        tid := (p->>'tweetId')::bigint;
        INSERT INTO tweets (id, author_id, content, reply_to, retweet_of, mentions, hashtags,
                            created_at, seq)
        VALUES (tid, e.user_id, p->>'content', (p->>'replyTo')::bigint,
                (p->>'retweetOf')::bigint, COALESCE(p->'mentions', '[]'::jsonb),
                ARRAY(SELECT jsonb_array_elements_text(COALESCE(p->'hashtags', '[]'::jsonb))),
                e.created_at, e.seq);
        INSERT INTO tweet_stats (tweet_id) VALUES (tid);
        UPDATE user_stats SET tweets = tweets + 1 WHERE user_id = e.user_id;
        IF p->>'replyTo' IS NOT NULL THEN
            UPDATE tweet_stats SET replies = replies + 1 WHERE tweet_id = (p->>'replyTo')::bigint;
            SELECT * INTO parent FROM tweets WHERE id = (p->>'replyTo')::bigint;
            reply_recipient := parent.author_id;
            PERFORM chirp_notify(reply_recipient, e, 'reply', tid, NULL);
        END IF;
        IF p->>'retweetOf' IS NOT NULL THEN
            UPDATE tweet_stats SET retweets = retweets + 1 WHERE tweet_id = (p->>'retweetOf')::bigint;
            SELECT * INTO parent FROM tweets WHERE id = (p->>'retweetOf')::bigint;
            PERFORM chirp_notify(parent.author_id, e, 'retweet', parent.id, NULL);
        END IF;
        FOR m IN SELECT * FROM jsonb_array_elements(COALESCE(p->'mentions', '[]'::jsonb)) LOOP
            IF reply_recipient IS NULL OR (m->>'id')::bigint <> reply_recipient THEN
                PERFORM chirp_notify((m->>'id')::bigint, e, 'mention', tid, NULL);
            END IF;
        END LOOP;
    WHEN 'TweetDeleted' THEN
        -- The tweet and every live retweet of it disappear from the projections.
        FOR parent IN
            UPDATE tweets SET deleted = true, content = ''
            WHERE (id = (p->>'tweetId')::bigint OR retweet_of = (p->>'tweetId')::bigint)
              AND NOT deleted
            RETURNING *
        LOOP
            UPDATE user_stats SET tweets = tweets - 1 WHERE user_id = parent.author_id;
            IF parent.reply_to IS NOT NULL THEN
                UPDATE tweet_stats SET replies = replies - 1 WHERE tweet_id = parent.reply_to;
            END IF;
            IF parent.retweet_of IS NOT NULL THEN
                UPDATE tweet_stats SET retweets = retweets - 1 WHERE tweet_id = parent.retweet_of;
            END IF;
        END LOOP;
    WHEN 'TweetLiked' THEN
        tid := (p->>'tweetId')::bigint;
        INSERT INTO likes VALUES (e.user_id, tid, e.created_at) ON CONFLICT DO NOTHING;
        IF FOUND THEN
            UPDATE tweet_stats SET likes = likes + 1 WHERE tweet_id = tid;
            SELECT * INTO parent FROM tweets WHERE id = tid;
            PERFORM chirp_notify(parent.author_id, e, 'like', tid, NULL);
        END IF;
    WHEN 'TweetUnliked' THEN
        tid := (p->>'tweetId')::bigint;
        DELETE FROM likes WHERE user_id = e.user_id AND tweet_id = tid;
        IF FOUND THEN
            UPDATE tweet_stats SET likes = likes - 1 WHERE tweet_id = tid;
        END IF;
    WHEN 'NotificationsRead' THEN
        UPDATE user_stats SET notif_read_upto = GREATEST(notif_read_upto, (p->>'upTo')::bigint)
        WHERE user_id = e.user_id;
    WHEN 'ConversationCreated' THEN
        INSERT INTO conversations (id, participants, created_at, last_seq)
        VALUES ((p->>'conversationId')::bigint,
                ARRAY(SELECT (x)::bigint FROM jsonb_array_elements_text(p->'participants') x
                      ORDER BY 1),
                e.created_at, e.seq);
        INSERT INTO conversation_members
        SELECT (x)::bigint, (p->>'conversationId')::bigint
        FROM jsonb_array_elements_text(p->'participants') x;
    WHEN 'MessageSent' THEN
        INSERT INTO messages (id, conversation_id, sender_id, content, created_at, seq)
        VALUES ((p->>'messageId')::bigint, (p->>'conversationId')::bigint, e.user_id,
                p->>'content', e.created_at, e.seq);
        UPDATE conversations SET last_seq = e.seq WHERE id = (p->>'conversationId')::bigint;
        FOR target IN SELECT user_id FROM conversation_members
                      WHERE conversation_id = (p->>'conversationId')::bigint LOOP
            PERFORM chirp_notify(target, e, 'message', NULL, (p->>'conversationId')::bigint);
        END LOOP;
    ELSE
        NULL;  -- unknown (future) event types leave the projections alone
    END CASE;
END $$;

-- Append ---------------------------------------------------------------------------------

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

CREATE OR REPLACE FUNCTION chirp_ok(status int, body jsonb, e events) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('status', status, 'body', body,
        'seq', e.seq::text,
        'deliveries', CASE WHEN e.seq IS NULL THEN '[]'::jsonb ELSE chirp_deliveries(e) END));
END $$;

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
    mentions jsonb;
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
        RETURN chirp_ok(201, chirp_user_json(u, NULL), e);

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
        RETURN chirp_ok(200, chirp_user_json(u, actor), e);

    WHEN 'tweet' THEN
        IF a->>'replyTo' IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM tweets WHERE id = (a->>'replyTo')::bigint AND NOT deleted) THEN
            RETURN chirp_err(404, 'not_found', 'the tweet you reply to does not exist');
        END IF;
        SELECT COALESCE(jsonb_agg(jsonb_build_object('id', x.id::text, 'handle', x.handle)
                                  ORDER BY x.id), '[]'::jsonb)
        INTO mentions
        FROM users x
        WHERE lower(x.handle) IN (SELECT lower(h) FROM jsonb_array_elements_text(a->'mentions') h);
        n := nextval('tweet_ids');
        e := chirp_append('TweetCreated', actor, jsonb_build_object(
            'tweetId', n::text, 'content', a->>'content', 'replyTo', a->>'replyTo',
            'retweetOf', NULL, 'mentions', mentions,
            'hashtags', COALESCE(a->'hashtags', '[]'::jsonb)));
        SELECT * INTO t FROM tweets WHERE id = n;
        RETURN chirp_ok(201, chirp_tweet_json(t, actor), e);

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
        RETURN chirp_ok(201, chirp_tweet_json(t, actor), e);

    WHEN 'delete_tweet' THEN
        SELECT * INTO t FROM tweets WHERE id = (a->>'tweetId')::bigint AND NOT deleted;
        IF NOT FOUND THEN RETURN chirp_err(404, 'not_found', 'no such tweet'); END IF;
        IF t.author_id <> actor THEN
            RETURN chirp_err(403, 'forbidden', 'only the author can delete a tweet');
        END IF;
        e := chirp_append('TweetDeleted', actor, jsonb_build_object('tweetId', t.id::text));
        RETURN chirp_ok(200, jsonb_build_object('deleted', t.id::text), e);

    WHEN 'like', 'unlike' THEN
        SELECT * INTO t FROM tweets WHERE id = (a->>'tweetId')::bigint AND NOT deleted;
        IF NOT FOUND THEN RETURN chirp_err(404, 'not_found', 'no such tweet'); END IF;
        IF (cmd->>'type' = 'like') <> EXISTS (SELECT 1 FROM likes
                WHERE tweet_id = t.id AND user_id = actor) THEN
            e := chirp_append(CASE WHEN cmd->>'type' = 'like' THEN 'TweetLiked'
                                   ELSE 'TweetUnliked' END,
                              actor, jsonb_build_object('tweetId', t.id::text,
                                                        'authorId', t.author_id::text));
            SELECT * INTO t FROM tweets WHERE id = t.id;
        END IF;
        RETURN chirp_ok(200, chirp_tweet_json(t, actor), e);

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
            RETURN chirp_ok(200, chirp_conversation_json(c), e);
        END IF;
        n := nextval('conversation_ids');
        e := chirp_append('ConversationCreated', actor, jsonb_build_object(
            'conversationId', n::text,
            'participants', (SELECT jsonb_agg(x::text ORDER BY x) FROM unnest(ids) x)));
        SELECT * INTO c FROM conversations WHERE id = n;
        RETURN chirp_ok(201, chirp_conversation_json(c), e);

    WHEN 'send_message' THEN
        SELECT * INTO c FROM conversations WHERE id = (a->>'conversationId')::bigint;
        IF NOT FOUND THEN RETURN chirp_err(404, 'not_found', 'no such conversation'); END IF;
        IF NOT actor = ANY (c.participants) THEN
            RETURN chirp_err(403, 'forbidden', 'you are not in this conversation');
        END IF;
        n := nextval('message_ids');
        e := chirp_append('MessageSent', actor, jsonb_build_object(
            'messageId', n::text, 'conversationId', c.id::text, 'content', a->>'content'));
        RETURN chirp_ok(201, (SELECT chirp_message_json(m) FROM messages m WHERE m.id = n), e);

    ELSE
        RETURN chirp_err(400, 'bad_request', 'unknown command');
    END CASE;
END $$;

-- The fast path for the commonest write: a run of plain tweets (no reply, no mention, no
-- Idempotency-Key) is decided and appended set-wise, a few statements for the whole run.
-- Its projection writes are exactly what chirp_apply does for such a TweetCreated (a rebuild
-- replays these events through chirp_apply and must give the same rows: tested).
DROP FUNCTION IF EXISTS chirp_exec_plain_tweets(jsonb, bigint, bigint);
CREATE OR REPLACE FUNCTION chirp_exec_plain_tweets(cmds jsonb, first_ord bigint, last_ord bigint)
RETURNS SETOF json
LANGUAGE sql SET jit = off SET enable_nestloop = off AS $$
    -- One statement (no temporary table: truncating one costs milliseconds per batch).
    -- Ids and seqs are drawn while scanning the run in command order.
    WITH input AS MATERIALIZED (
        SELECT x.ord, u.id AS actor, u.handle, u.display_name,
               x.cmd->'args'->>'content' AS content,
               COALESCE(x.cmd->'args'->'hashtags', '[]'::jsonb) AS hashtags
        FROM jsonb_array_elements(cmds) WITH ORDINALITY AS x(cmd, ord)
        LEFT JOIN users u ON u.id = (x.cmd->>'actor')::bigint
        WHERE x.ord BETWEEN first_ord AND last_ord
        ORDER BY x.ord),
    numbered AS MATERIALIZED (
        SELECT i.*, CASE WHEN i.actor IS NOT NULL THEN nextval('tweet_ids') END AS tid,
               CASE WHEN i.actor IS NOT NULL THEN nextval('event_seq') END AS seq
        FROM input i),
    ev AS (
        INSERT INTO events (seq, type, user_id, payload)
        SELECT n.seq, 'TweetCreated', n.actor,
               jsonb_build_object('tweetId', n.tid::text, 'content', n.content, 'replyTo', NULL,
                                  'retweetOf', NULL, 'mentions', '[]'::jsonb, 'hashtags', n.hashtags)
        FROM numbered n WHERE n.actor IS NOT NULL ORDER BY n.seq
        RETURNING seq, id, created_at, version),
    tw AS (
        INSERT INTO tweets (id, author_id, content, reply_to, retweet_of, mentions, hashtags,
                            created_at, seq)
        SELECT n.tid, n.actor, n.content, NULL, NULL, '[]'::jsonb,
               ARRAY(SELECT jsonb_array_elements_text(n.hashtags)), ev.created_at, n.seq
        FROM numbered n JOIN ev ON ev.seq = n.seq),
    st AS (
        INSERT INTO tweet_stats (tweet_id) SELECT n.tid FROM numbered n WHERE n.actor IS NOT NULL),
    us AS (
        UPDATE user_stats s SET tweets = s.tweets + c.n
        FROM (SELECT actor, count(*) AS n FROM numbered WHERE actor IS NOT NULL GROUP BY actor) c
        WHERE s.user_id = c.actor)
    SELECT CASE WHEN n.actor IS NULL THEN chirp_err(401, 'unauthorized', 'unknown user')::json ELSE
        json_build_object(
            'status', 201, 'body', v.tj, 'seq', n.seq::text,
            'deliveries', json_build_array(json_build_object(
                'channel', 'timeline', 'author', n.actor::text, 'actor', n.actor::text,
                'type', 'TweetCreated', 'tweetId', n.tid::text, 'seq', n.seq::text,
                'event', json_build_object(
                    'id', ev.id::text, 'type', 'TweetCreated', 'userId', n.actor::text,
                    'timestamp', chirp_ts(ev.created_at), 'version', ev.version,
                    'payload', json_build_object('tweet', v.tj)))))
    END
    FROM numbered n
    LEFT JOIN ev ON ev.seq = n.seq
    LEFT JOIN LATERAL (SELECT json_build_object(
            'id', n.tid::text,
            'author', json_build_object('id', n.actor::text, 'handle', n.handle,
                                        'displayName', n.display_name),
            'content', n.content, 'createdAt', chirp_ts(ev.created_at), 'replyTo', NULL,
            'retweetOf', NULL, 'mentions', '[]'::json, 'hashtags', n.hashtags::json,
            'likes', 0, 'retweets', 0, 'replies', 0,
            'likedByMe', false, 'retweetedByMe', false) AS tj) v ON true
    ORDER BY n.ord
$$;

-- The fast path for likes (the hottest write after tweets): a run of likes without
-- Idempotency-Key is decided and appended set-wise. Same events and projection writes as
-- chirp_decide/chirp_apply for 'like' (rebuild equality is tested); the answers show the counts
-- after the whole run.
DROP FUNCTION IF EXISTS chirp_exec_likes(jsonb, bigint, bigint);
CREATE OR REPLACE FUNCTION chirp_exec_likes(cmds jsonb, first_ord bigint, last_ord bigint)
RETURNS SETOF json
LANGUAGE sql SET jit = off SET enable_nestloop = off AS $$
    WITH input AS MATERIALIZED (
        SELECT x.ord, u.id AS actor, t.id AS tweet_id, t.author_id AS author
        FROM jsonb_array_elements(cmds) WITH ORDINALITY AS x(cmd, ord)
        LEFT JOIN users u ON u.id = (x.cmd->>'actor')::bigint
        LEFT JOIN tweets t ON t.id = (x.cmd->'args'->>'tweetId')::bigint AND NOT t.deleted
        WHERE x.ord BETWEEN first_ord AND last_ord
        ORDER BY x.ord),
    -- A like is new when the user has not liked the tweet and it is the first in this run.
    flagged AS MATERIALIZED (
        SELECT i.*,
               i.actor IS NOT NULL AND i.tweet_id IS NOT NULL
               AND i.ord = min(i.ord) OVER (PARTITION BY i.actor, i.tweet_id)
               AND NOT EXISTS (SELECT 1 FROM likes l WHERE l.tweet_id = i.tweet_id
                                                       AND l.user_id = i.actor) AS fresh
        FROM input i ORDER BY i.ord),
    numbered AS MATERIALIZED (
        SELECT f.*, CASE WHEN f.fresh THEN nextval('event_seq') END AS seq FROM flagged f),
    ev AS (
        INSERT INTO events (seq, type, user_id, payload)
        SELECT n.seq, 'TweetLiked', n.actor,
               jsonb_build_object('tweetId', n.tweet_id::text, 'authorId', n.author::text)
        FROM numbered n WHERE n.fresh ORDER BY n.seq
        RETURNING seq, id, created_at, version),
    lk AS (
        INSERT INTO likes (user_id, tweet_id, created_at)
        SELECT n.actor, n.tweet_id, ev.created_at FROM numbered n JOIN ev ON ev.seq = n.seq),
    st AS (
        UPDATE tweet_stats s SET likes = s.likes + c.n
        FROM (SELECT tweet_id, count(*) AS n FROM numbered WHERE fresh GROUP BY tweet_id) c
        WHERE s.tweet_id = c.tweet_id
        RETURNING s.*),
    nt AS (
        INSERT INTO notifications (recipient_id, seq, type, actor_id, tweet_id, conversation_id,
                                   created_at)
        SELECT n.author, n.seq, 'like', n.actor, n.tweet_id, NULL, ev.created_at
        FROM numbered n JOIN ev ON ev.seq = n.seq WHERE n.author <> n.actor
        ON CONFLICT DO NOTHING),
    -- Each liked tweet rendered once for nobody and once for its author; counts after the run.
    tw AS MATERIALIZED (
        SELECT t.id, chirp_tweet_json(t, NULL) AS base, chirp_tweet_json(t, t.author_id) AS for_author
        FROM tweets t WHERE t.id IN (SELECT tweet_id FROM numbered)),
    counts AS (
        SELECT x.tweet_id,
               COALESCE(st.likes, x.likes) AS likes, x.retweets, x.replies
        FROM tweet_stats x LEFT JOIN st ON st.tweet_id = x.tweet_id
        WHERE x.tweet_id IN (SELECT tweet_id FROM numbered))
    SELECT (CASE
        WHEN n.actor IS NULL THEN chirp_err(401, 'unauthorized', 'unknown user')
        WHEN n.tweet_id IS NULL THEN chirp_err(404, 'not_found', 'no such tweet')
        ELSE jsonb_build_object(
            'status', 200,
            'body', tw.base || jsonb_build_object(
                'likes', c.likes, 'likedByMe', true,
                'retweetedByMe', EXISTS (SELECT 1 FROM tweets x WHERE x.retweet_of = n.tweet_id
                                         AND x.author_id = n.actor AND NOT x.deleted)),
            'seq', n.seq::text,
            'deliveries', CASE WHEN NOT n.fresh THEN '[]'::jsonb ELSE
                jsonb_build_array(jsonb_build_object(
                    'channel', 'timeline', 'author', n.author::text, 'actor', n.actor::text,
                    'type', 'TweetLiked', 'seq', n.seq::text,
                    'event', jsonb_build_object(
                        'id', ev.id::text, 'type', 'TweetLiked', 'userId', n.actor::text,
                        'timestamp', chirp_ts(ev.created_at), 'version', ev.version,
                        'payload', jsonb_build_object('tweetId', n.tweet_id::text, 'likes', c.likes,
                                                      'retweets', c.retweets, 'replies', c.replies))))
                || CASE WHEN n.author = n.actor THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_build_object(
                    'channel', 'notifications', 'actor', n.actor::text, 'user', n.author::text,
                    'seq', n.seq::text,
                    'event', jsonb_build_object(
                        'id', ev.id::text, 'type', 'Notification', 'userId', n.actor::text,
                        'timestamp', chirp_ts(ev.created_at), 'version', ev.version,
                        'payload', jsonb_build_object('notification', jsonb_build_object(
                            'id', n.seq::text, 'seq', n.seq::text, 'type', 'like',
                            'actor', chirp_user_ref(n.actor),
                            'tweet', tw.for_author || jsonb_build_object('likes', c.likes),
                            'conversationId', NULL, 'createdAt', chirp_ts(ev.created_at),
                            'read', false))))) END
            END)
    END)::json
    FROM numbered n
    LEFT JOIN ev ON ev.seq = n.seq
    LEFT JOIN tw ON tw.id = n.tweet_id
    LEFT JOIN counts c ON c.tweet_id = n.tweet_id
    ORDER BY n.ord
$$;

-- Execute a batch of commands in the caller's transaction (the event writer's group commit).
-- Each command may carry {"idem": {"key", "hash"}}: a retry with the same key and hash returns
-- the stored answer and appends nothing; the same key with another hash gives 409.
DROP FUNCTION IF EXISTS chirp_exec(jsonb);
CREATE OR REPLACE FUNCTION chirp_exec(cmds jsonb) RETURNS SETOF json
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    cmd jsonb;
    res jsonb;
    k idempotency_keys;
    idem_user bigint;
    ord bigint;
    run_start bigint := 0;   -- a pending run of plain tweets
    run_end bigint := 0;
    like_start bigint := 0;  -- a pending run of likes
    like_end bigint := 0;
BEGIN
    PERFORM chirp_lock();
    -- One result row per command, in order (RETURN NEXT streams: no quadratic accumulation).
    -- Runs of plain tweets take the set-wise fast path.
    FOR cmd, ord IN SELECT value, ordinality FROM jsonb_array_elements(cmds) WITH ORDINALITY
                    ORDER BY ordinality LOOP
        IF cmd->>'type' = 'tweet' AND NOT cmd ? 'idem' AND cmd->'args'->>'replyTo' IS NULL
           AND jsonb_array_length(COALESCE(cmd->'args'->'mentions', '[]'::jsonb)) = 0 THEN
            IF like_start > 0 THEN
                RETURN QUERY SELECT * FROM chirp_exec_likes(cmds, like_start, like_end);
                like_start := 0;
            END IF;
            IF run_start = 0 THEN run_start := ord; END IF;
            run_end := ord;
            CONTINUE;
        END IF;
        IF run_start > 0 THEN
            RETURN QUERY SELECT * FROM chirp_exec_plain_tweets(cmds, run_start, run_end);
            run_start := 0;
        END IF;
        IF cmd->>'type' = 'like' AND NOT cmd ? 'idem' THEN
            IF like_start = 0 THEN like_start := ord; END IF;
            like_end := ord;
            CONTINUE;
        END IF;
        IF like_start > 0 THEN
            RETURN QUERY SELECT * FROM chirp_exec_likes(cmds, like_start, like_end);
            like_start := 0;
        END IF;
        IF cmd ? 'idem' THEN
            idem_user := COALESCE((cmd->>'actor')::bigint, 0);
            SELECT * INTO k FROM idempotency_keys
            WHERE user_id = idem_user AND key = cmd->'idem'->>'key';
            IF FOUND THEN
                IF k.request_hash = cmd->'idem'->>'hash' THEN
                    RETURN NEXT json_build_object('status', k.status, 'body', k.body,
                                                  'replayed', true, 'deliveries', '[]'::json);
                ELSE
                    RETURN NEXT chirp_err(409, 'conflict',
                                          'Idempotency-Key was used with a different request')::json;
                END IF;
                CONTINUE;
            END IF;
        END IF;
        res := chirp_decide(cmd);
        IF cmd ? 'idem' AND (res->>'status')::int < 500 THEN
            INSERT INTO idempotency_keys (user_id, key, request_hash, status, body)
            VALUES (idem_user, cmd->'idem'->>'key', cmd->'idem'->>'hash',
                    (res->>'status')::int, res->'body');
        END IF;
        RETURN NEXT res::json;
    END LOOP;
    IF run_start > 0 THEN
        RETURN QUERY SELECT * FROM chirp_exec_plain_tweets(cmds, run_start, run_end);
    END IF;
    IF like_start > 0 THEN
        RETURN QUERY SELECT * FROM chirp_exec_likes(cmds, like_start, like_end);
    END IF;
END $$;

-- Rebuild -------------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION chirp_rebuild() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    e events;
    n bigint := 0;
BEGIN
    PERFORM chirp_lock();
    TRUNCATE users, user_stats, follows, tweets, tweet_stats, likes, notifications,
             conversations, conversation_members, messages;
    FOR e IN SELECT * FROM events ORDER BY seq LOOP
        PERFORM chirp_apply(e);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
