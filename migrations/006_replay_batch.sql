-- 006: batched replay. Many sessions that reconnect at once (a reconnect storm) are replayed
-- with one query per stream instead of one each. Requests are (uid, since) pairs, numbered
-- from 1 in array order. The answer is text, one item a line:
--   {frame}          a live frame (as chirp_replay_* returns them)
--   #i               the frames that follow belong to request i
--   #i s1 s2 ...     request i gets the frames of these seqs (given earlier in the answer)
-- A request without a line has nothing to replay. Each request gets at most `lim` frames.

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
