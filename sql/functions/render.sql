-- Rendering: the JSON views of users, tweets, notifications, conversations, messages and
-- events (chirp_*_json), the wire form of an event on a live stream (chirp_wire*), the
-- timestamp format (chirp_ts), used by the answers and deliveries of
-- chirp_decide/chirp_deliveries. (REST reads and replay return typed rows and render in C++:
-- src/store/readers.cpp, src/domain/wire.cpp.)
--
-- Like every file in sql/functions/, this is re-applied at every start (see
-- src/store/migrations.cpp): edit a function here, in place; never in a numbered migration.
-- View functions are PL/pgSQL so their plans are cached per connection (a non-inlined SQL
-- function is planned again on every call).

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
