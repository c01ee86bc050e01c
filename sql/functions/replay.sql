-- Replay: the frames of one user's streams after a seq, from the log and the projections,
-- equal to the live ones (same wire functions, render.sql). Single requests and batches (a
-- reconnect storm is replayed with one query per stream instead of one per session).
--
-- Re-applied at every start (src/store/migrations.cpp): edit here, in place.

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

-- Timeline: every followee's event is built once, however many followers replay it.
CREATE OR REPLACE FUNCTION chirp_replay_timeline_batch(uids bigint[], sinces bigint[], lim int)
RETURNS text LANGUAGE sql STABLE AS $$
    WITH req AS (
        SELECT r.uid, r.since, r.i FROM unnest(uids, sinces) WITH ORDINALITY AS r(uid, since, i)),
    sel AS (
        SELECT r.i, h.seq FROM req r CROSS JOIN LATERAL (
            SELECT x.seq FROM (
                SELECT e.seq FROM events e
                WHERE e.user_id IN (SELECT f.followee_id FROM follows f WHERE f.follower_id = r.uid
                                    UNION ALL SELECT r.uid)
                  AND e.seq > r.since AND e.type IN ('TweetCreated', 'TweetDeleted')
                UNION ALL
                SELECT e.seq FROM events e
                WHERE (e.payload->>'authorId')::bigint IN
                          (SELECT f.followee_id FROM follows f WHERE f.follower_id = r.uid
                           UNION ALL SELECT r.uid)
                  AND e.seq > r.since AND e.type IN ('TweetLiked', 'TweetUnliked')
            ) x ORDER BY x.seq LIMIT lim) h),
    frames AS (
        SELECT e.seq, chirp_frame('timeline', e.seq, chirp_wire_timeline(e)) AS f FROM events e
        WHERE e.seq IN (SELECT DISTINCT s.seq FROM sel s))
    SELECT concat_ws(E'\n',
        (SELECT string_agg(f, E'\n' ORDER BY seq) FROM frames),
        (SELECT string_agg('#' || g.i || ' ' || g.seqs, E'\n')
         FROM (SELECT s.i, string_agg(s.seq::text, ' ' ORDER BY s.seq) AS seqs
               FROM sel s GROUP BY s.i) g))
$$;

-- Notifications and messages are per user anyway: one round trip for many requests.
CREATE OR REPLACE FUNCTION chirp_replay_notifications_batch(uids bigint[], sinces bigint[], lim int)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT string_agg('#' || r.i || E'\n' || x.frames, E'\n' ORDER BY r.i)
    FROM unnest(uids, sinces) WITH ORDINALITY AS r(uid, since, i)
    CROSS JOIN LATERAL (SELECT chirp_replay_notifications(r.uid, r.since, lim) AS frames) x
    WHERE x.frames IS NOT NULL
$$;

CREATE OR REPLACE FUNCTION chirp_replay_messages_batch(uids bigint[], sinces bigint[], lim int)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT string_agg('#' || r.i || E'\n' || x.frames, E'\n' ORDER BY r.i)
    FROM unnest(uids, sinces) WITH ORDINALITY AS r(uid, since, i)
    CROSS JOIN LATERAL (SELECT chirp_replay_messages(r.uid, r.since, lim) AS frames) x
    WHERE x.frames IS NOT NULL
$$;
