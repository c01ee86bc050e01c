// The read side. Each query returns a single JSON value rendered by the view functions of
// migrations/002 (the same views the writer uses), so the REST API, replay and live events
// agree on shapes. Parameters are text; '' means NULL. Cursors are ids or seqs (as text).
#include "queries.hpp"

namespace chirp::store {

const std::vector<named_query>& named_queries() {
    static const std::vector<named_query> q = {
        {"ping", "SELECT 'true'"},

        // $1 handle, $2 viewer
        {"user_by_handle", R"sql(
            SELECT chirp_user_json(u, NULLIF($2, '')::bigint)::text FROM users u
            WHERE lower(u.handle) = lower($1))sql"},
        // $1 id
        {"user_by_id", R"sql(
            SELECT chirp_user_json(u, NULL)::text FROM users u WHERE u.id = $1::bigint)sql"},
        // $1 handle: for login only (carries the password hash)
        {"user_auth", R"sql(
            SELECT jsonb_build_object('user', chirp_user_json(u, NULL),
                                      'passwordHash', u.password_hash)::text
            FROM users u WHERE lower(u.handle) = lower($1))sql"},
        // $1 prefix, $2 limit, $3 viewer
        {"users_search", R"sql(
            SELECT jsonb_build_object('items', COALESCE(jsonb_agg(chirp_user_json(u, NULLIF($3, '')::bigint)
                                                                  ORDER BY lower(u.handle)), '[]'))::text
            FROM (SELECT * FROM users
                  WHERE lower(handle) LIKE replace(replace(replace(lower($1), '\', '\\'), '%', '\%'), '_', '\_') || '%'
                  ORDER BY lower(handle) LIMIT $2::int) u)sql"},
        // $1 handle, $2 before (follow seq), $3 limit, $4 viewer
        {"followers", R"sql(
            WITH target AS (SELECT id FROM users WHERE lower(handle) = lower($1)),
            page AS (SELECT f.follower_id AS uid, f.seq FROM follows f, target
                     WHERE f.followee_id = target.id
                       AND (NULLIF($2, '') IS NULL OR f.seq < NULLIF($2, '')::bigint)
                     ORDER BY f.seq DESC LIMIT $3::int)
            SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM target) THEN NULL ELSE
              jsonb_build_object(
                'items', COALESCE((SELECT jsonb_agg(chirp_user_json(u, NULLIF($4, '')::bigint) ORDER BY p.seq DESC)
                                   FROM page p JOIN users u ON u.id = p.uid), '[]'),
                'nextCursor', CASE WHEN (SELECT count(*) FROM page) = $3::int
                                   THEN (SELECT min(seq)::text FROM page) END)::text END)sql"},
        {"following", R"sql(
            WITH target AS (SELECT id FROM users WHERE lower(handle) = lower($1)),
            page AS (SELECT f.followee_id AS uid, f.seq FROM follows f, target
                     WHERE f.follower_id = target.id
                       AND (NULLIF($2, '') IS NULL OR f.seq < NULLIF($2, '')::bigint)
                     ORDER BY f.seq DESC LIMIT $3::int)
            SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM target) THEN NULL ELSE
              jsonb_build_object(
                'items', COALESCE((SELECT jsonb_agg(chirp_user_json(u, NULLIF($4, '')::bigint) ORDER BY p.seq DESC)
                                   FROM page p JOIN users u ON u.id = p.uid), '[]'),
                'nextCursor', CASE WHEN (SELECT count(*) FROM page) = $3::int
                                   THEN (SELECT min(seq)::text FROM page) END)::text END)sql"},
        // $1 handle, $2 before (tweet id), $3 limit, $4 viewer
        {"user_tweets", R"sql(
            WITH target AS (SELECT id FROM users WHERE lower(handle) = lower($1)),
            page AS (SELECT t.* FROM tweets t, target
                     WHERE t.author_id = target.id AND NOT t.deleted
                       AND (NULLIF($2, '') IS NULL OR t.id < NULLIF($2, '')::bigint)
                     ORDER BY t.id DESC LIMIT $3::int)
            SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM target) THEN NULL ELSE
              jsonb_build_object(
                'items', COALESCE((SELECT jsonb_agg(chirp_tweet_json(p, NULLIF($4, '')::bigint) ORDER BY p.id DESC)
                                   FROM page p), '[]'),
                'nextCursor', CASE WHEN (SELECT count(*) FROM page) = $3::int
                                   THEN (SELECT min(id)::text FROM page) END)::text END)sql"},
        // $1 tweet id, $2 viewer
        {"tweet", "SELECT chirp_tweet_by_id($1::bigint, NULLIF($2, '')::bigint)::text"},
        // $1 tweet id, $2 before, $3 limit, $4 viewer
        {"replies", R"sql(
            WITH target AS (SELECT id FROM tweets WHERE id = $1::bigint AND NOT deleted),
            page AS (SELECT t.* FROM tweets t, target
                     WHERE t.reply_to = target.id AND NOT t.deleted
                       AND (NULLIF($2, '') IS NULL OR t.id < NULLIF($2, '')::bigint)
                     ORDER BY t.id DESC LIMIT $3::int)
            SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM target) THEN NULL ELSE
              jsonb_build_object(
                'items', COALESCE((SELECT jsonb_agg(chirp_tweet_json(p, NULLIF($4, '')::bigint) ORDER BY p.id DESC)
                                   FROM page p), '[]'),
                'nextCursor', CASE WHEN (SELECT count(*) FROM page) = $3::int
                                   THEN (SELECT min(id)::text FROM page) END)::text END)sql"},
        // $1 user, $2 before (tweet id), $3 limit
        {"timeline", R"sql(
            WITH page AS (
                SELECT t.* FROM tweets t
                WHERE t.author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1::bigint
                                      UNION ALL SELECT $1::bigint)
                  AND NOT t.deleted
                  AND (NULLIF($2, '') IS NULL OR t.id < NULLIF($2, '')::bigint)
                ORDER BY t.id DESC LIMIT $3::int)
            SELECT jsonb_build_object(
                'items', COALESCE((SELECT jsonb_agg(chirp_tweet_json(p, $1::bigint) ORDER BY p.id DESC)
                                   FROM page p), '[]'),
                'nextCursor', CASE WHEN (SELECT count(*) FROM page) = $3::int
                                   THEN (SELECT min(id)::text FROM page) END)::text)sql"},
        // $1 user, $2 before (tweet id), $3 limit: the ids only (for the Redis home cache)
        {"timeline_ids", R"sql(
            SELECT COALESCE(jsonb_agg(t.id::text ORDER BY t.id DESC), '[]')::text FROM (
                SELECT t.id FROM tweets t
                WHERE t.author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1::bigint
                                      UNION ALL SELECT $1::bigint)
                  AND NOT t.deleted
                  AND (NULLIF($2, '') IS NULL OR t.id < NULLIF($2, '')::bigint)
                ORDER BY t.id DESC LIMIT $3::int) t)sql"},
        // $1 user, $2 before (seq), $3 limit
        {"notifications", R"sql(
            WITH page AS (
                SELECT n.* FROM notifications n
                WHERE n.recipient_id = $1::bigint
                  AND (NULLIF($2, '') IS NULL OR n.seq < NULLIF($2, '')::bigint)
                ORDER BY n.seq DESC LIMIT $3::int)
            SELECT jsonb_build_object(
                'items', COALESCE((SELECT jsonb_agg(chirp_notification_json(p) ORDER BY p.seq DESC)
                                   FROM page p), '[]'),
                'unread', (SELECT count(*) FROM notifications x WHERE x.recipient_id = $1::bigint
                             AND x.seq > (SELECT notif_read_upto FROM user_stats WHERE user_id = $1::bigint)),
                'nextCursor', CASE WHEN (SELECT count(*) FROM page) = $3::int
                                   THEN (SELECT min(seq)::text FROM page) END)::text)sql"},
        // $1 user, $2 after (seq), $3 limit
        {"events", R"sql(
            WITH page AS (
                SELECT e.* FROM events e
                WHERE e.user_id = $1::bigint AND e.seq > COALESCE(NULLIF($2, '')::bigint, 0)
                ORDER BY e.seq LIMIT $3::int)
            SELECT jsonb_build_object(
                'items', COALESCE((SELECT jsonb_agg(chirp_event_json(p) ORDER BY p.seq) FROM page p), '[]'),
                'nextCursor', CASE WHEN (SELECT count(*) FROM page) = $3::int
                                   THEN (SELECT max(seq)::text FROM page) END)::text)sql"},
        // $1 user
        {"conversations", R"sql(
            SELECT jsonb_build_object('items', COALESCE(jsonb_agg(chirp_conversation_json(c)
                                                        ORDER BY c.last_seq DESC), '[]'))::text
            FROM conversations c
            JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $1::bigint)sql"},
        // $1 conversation, $2 user, $3 before (message id), $4 limit.
        // NULL: no such conversation; {"forbidden": true}: not a participant.
        {"messages", R"sql(
            WITH conv AS (SELECT * FROM conversations WHERE id = $1::bigint),
            page AS (SELECT m.* FROM messages m
                     WHERE m.conversation_id = $1::bigint
                       AND (NULLIF($3, '') IS NULL OR m.id < NULLIF($3, '')::bigint)
                     ORDER BY m.id DESC LIMIT $4::int)
            SELECT CASE
              WHEN NOT EXISTS (SELECT 1 FROM conv) THEN NULL
              WHEN NOT EXISTS (SELECT 1 FROM conv WHERE $2::bigint = ANY (participants))
                THEN '{"forbidden": true}'
              ELSE jsonb_build_object(
                'items', COALESCE((SELECT jsonb_agg(chirp_message_json(p) ORDER BY p.id DESC) FROM page p), '[]'),
                'nextCursor', CASE WHEN (SELECT count(*) FROM page) = $4::int
                                   THEN (SELECT min(id)::text FROM page) END)::text END)sql"},
        // $1 conversation: participant ids (for typing indicators)
        {"conversation_members", R"sql(
            SELECT COALESCE(jsonb_agg(user_id::text), '[]')::text FROM conversation_members
            WHERE conversation_id = $1::bigint)sql"},
        // $1 user, $2 since (seq), $3 limit: newline-separated live frames
        {"replay_timeline", "SELECT chirp_replay_timeline($1::bigint, $2::bigint, $3::int)"},
        {"replay_notifications",
         "SELECT chirp_replay_notifications($1::bigint, $2::bigint, $3::int)"},
        {"replay_messages", "SELECT chirp_replay_messages($1::bigint, $2::bigint, $3::int)"},
        // $1 users, $2 sinces (both '{a,b,...}'), $3 limit per user: many replays at once
        // (migration 006 describes the answer)
        {"replay_timeline_batch",
         "SELECT chirp_replay_timeline_batch($1::bigint[], $2::bigint[], $3::int)"},
        {"replay_notifications_batch",
         "SELECT chirp_replay_notifications_batch($1::bigint[], $2::bigint[], $3::int)"},
        {"replay_messages_batch",
         "SELECT chirp_replay_messages_batch($1::bigint[], $2::bigint[], $3::int)"},
        // $1 user, $2 threshold: followees with more followers than the threshold
        {"celebrity_followees", R"sql(
            SELECT COALESCE(jsonb_agg(s.user_id::text), '[]')::text FROM follows f
            JOIN user_stats s ON s.user_id = f.followee_id
            WHERE f.follower_id = $1::bigint AND s.followers > $2::int)sql"},
        {"max_seq", "SELECT COALESCE((SELECT max(seq) FROM events), 0)::text"},
        // In-process home timelines (src/timeline/).
        // $1 user, $2 max: the authors of the home timeline (followees + self) and the newest
        // ids of their live tweets.
        {"tl_home", R"sql(
            WITH a AS (SELECT followee_id AS id FROM follows WHERE follower_id = $1::bigint
                       UNION SELECT $1::bigint),
            p AS (SELECT t.id FROM tweets t WHERE t.author_id IN (SELECT id FROM a) AND NOT t.deleted
                  ORDER BY t.id DESC LIMIT $2::int)
            SELECT json_build_object(
                'authors', (SELECT json_agg(id) FROM a),
                'ids', COALESCE((SELECT json_agg(id ORDER BY id DESC) FROM p), '[]'))::text)sql"},
        // $1 tweet ids (JSON array), $2 viewer, $3 ids whose viewer flags are wanted (JSON
        // array): records of the tweets and of their retweeted originals, the parts of
        // chirp_tweet_json_flat that never change as jsonb text; and the viewer's flags for
        // $3 and their originals.
        {"tl_fill", R"sql(
            WITH req AS (SELECT (x)::bigint AS id FROM json_array_elements_text($1::json) x),
            want AS (SELECT id FROM req
                     UNION SELECT t.retweet_of FROM tweets t JOIN req ON t.id = req.id
                     WHERE t.retweet_of IS NOT NULL),
            fr AS (SELECT (x)::bigint AS id FROM json_array_elements_text($3::json) x),
            fl AS (SELECT id FROM fr
                   UNION SELECT t.retweet_of FROM tweets t JOIN fr ON t.id = fr.id
                   WHERE t.retweet_of IS NOT NULL)
            SELECT json_build_object(
                'tweets', COALESCE((SELECT json_agg(json_build_array(
                    t.id, t.author_id, t.deleted, COALESCE(t.reply_to, 0), COALESCE(t.retweet_of, 0),
                    COALESCE(s.likes, 0), COALESCE(s.retweets, 0), COALESCE(s.replies, 0),
                    chirp_user_ref(t.author_id)::text, to_jsonb(t.content)::text,
                    to_jsonb(chirp_ts(t.created_at))::text,
                    COALESCE(to_jsonb(t.reply_to::text)::text, 'null'), to_jsonb(t.hashtags)::text,
                    COALESCE((SELECT jsonb_agg(m->'handle') FROM jsonb_array_elements(t.mentions) m),
                             '[]'::jsonb)::text))
                    FROM tweets t JOIN want w ON w.id = t.id
                    LEFT JOIN tweet_stats s ON s.tweet_id = t.id), '[]'),
                'flagged', COALESCE((SELECT json_agg(id) FROM fl), '[]'),
                'liked', COALESCE((SELECT json_agg(l.tweet_id) FROM likes l
                                   WHERE l.user_id = $2::bigint AND l.tweet_id IN (SELECT id FROM fl)), '[]'),
                'retweeted', COALESCE((SELECT json_agg(r.retweet_of) FROM tweets r
                                       WHERE r.author_id = $2::bigint AND NOT r.deleted
                                         AND r.retweet_of IN (SELECT id FROM fl)), '[]'))::text)sql"},
        {"stats_counts", R"sql(
            SELECT jsonb_build_object(
                'events', COALESCE((SELECT last_value FROM event_seq WHERE is_called), 0),
                'users', (SELECT count(*) FROM users),
                'tweets', (SELECT count(*) FROM tweets WHERE NOT deleted))::text)sql"},
        // $1 user: ids of the accounts the user follows
        {"followees", R"sql(
            SELECT COALESCE(jsonb_agg(followee_id::text), '[]')::text FROM follows
            WHERE follower_id = $1::bigint)sql"},
        // $1 author: ids of the author's followers
        {"follower_ids", R"sql(
            SELECT jsonb_build_object('count', (SELECT followers FROM user_stats WHERE user_id = $1::bigint),
                                      'ids', COALESCE(jsonb_agg(follower_id::text), '[]'))::text
            FROM follows WHERE followee_id = $1::bigint)sql"},
    };
    return q;
}

}  // namespace chirp::store
