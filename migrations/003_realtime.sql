-- 003: what the real-time layer reads: replay of each stream from the log, and the extra
-- fields its fan-out needs in chirp_deliveries.

CREATE INDEX IF NOT EXISTS events_likes_by_author ON events (((payload->>'authorId')::bigint), seq)
    WHERE type IN ('TweetLiked', 'TweetUnliked');
CREATE INDEX IF NOT EXISTS events_messages_by_conversation
    ON events (((payload->>'conversationId')::bigint), seq) WHERE type = 'MessageSent';

CREATE OR REPLACE FUNCTION chirp_frame(channel text, seq bigint, event jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('type', 'event', 'channel', channel, 'seq', seq::text,
                              'event', event)::text
$$;

-- Replay of one user's streams after `since`, at most `lim` frames, newline-separated, in
-- seq order. The frames equal the live ones (same wire functions).
CREATE OR REPLACE FUNCTION chirp_replay_timeline(uid bigint, since bigint, lim int) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (WITH authors AS (SELECT followee_id AS id FROM follows WHERE follower_id = uid
                     UNION ALL SELECT uid),
    hits AS (
        SELECT * FROM (
            SELECT e.* FROM events e JOIN authors a ON e.user_id = a.id
            WHERE e.seq > since AND e.type IN ('TweetCreated', 'TweetDeleted')
            UNION ALL
            SELECT e.* FROM events e JOIN authors a ON (e.payload->>'authorId')::bigint = a.id
            WHERE e.seq > since AND e.type IN ('TweetLiked', 'TweetUnliked')
        ) x ORDER BY seq LIMIT lim)
    SELECT string_agg(chirp_frame('timeline', h.seq, chirp_wire_timeline(h)), E'\n' ORDER BY h.seq)
    FROM hits h);
END $$;

CREATE OR REPLACE FUNCTION chirp_replay_notifications(uid bigint, since bigint, lim int) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (WITH hits AS (SELECT * FROM notifications WHERE recipient_id = uid AND seq > since
                  ORDER BY seq LIMIT lim)
    SELECT string_agg(chirp_frame('notifications', h.seq, chirp_wire_notification(h)), E'\n'
                      ORDER BY h.seq)
    FROM hits h);
END $$;

CREATE OR REPLACE FUNCTION chirp_replay_messages(uid bigint, since bigint, lim int) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (WITH hits AS (
        SELECT e.* FROM events e
        JOIN conversation_members m
          ON m.user_id = uid AND m.conversation_id = (e.payload->>'conversationId')::bigint
        WHERE e.type = 'MessageSent' AND e.seq > since
        ORDER BY e.seq LIMIT lim)
    SELECT string_agg(chirp_frame('messages', h.seq, chirp_wire_message(h)), E'\n' ORDER BY h.seq)
    FROM hits h);
END $$;

-- Deliveries, now with what fan-out needs: the actor, the tweet id for the home-timeline
-- cache, and follow changes (to invalidate follower caches in every process).
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
