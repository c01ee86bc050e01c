-- Decide: check one command against the current state (under the append lock, exec.sql),
-- append its events through chirp_append (which applies them) and return the answer with the
-- live deliveries.
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
