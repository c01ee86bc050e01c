-- 003: what the real-time layer reads: replay of each stream from the log.

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

