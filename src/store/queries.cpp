// The read side's SQL: every statement returns typed columns (data), never wire JSON; the
// typed reads (typed_reads.cpp) build domain rows from them and the domain renderers write the
// JSON. Parameters: ids as bigint, id lists as bigint[] text ('{1,2}'); 0 means "none" for a viewer
// or a cursor (ids and seqs are positive). Timestamps are microseconds since 1970.
#include "queries.hpp"

// A timestamptz as microseconds since 1970 (bigint): domain::append_timestamp formats it.
#define CHIRP_US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

namespace chirp::store {

const std::vector<named_query>& named_queries() {
    static const std::vector<named_query> q = {
        {"ping", "SELECT 1"},

        // --- collaborative drafts (drafts.cpp) ---------------------------------------------
        // $1 ids: the drafts, any state
        {"draft_rows", R"sql(
            SELECT d.id, d.owner_id, d.text, d.version, d.code_points,
                   )sql" CHIRP_US("d.created_at") R"sql(, )sql" CHIRP_US("d.updated_at") R"sql(,
                   d.state
            FROM unnest($1::bigint[]) WITH ORDINALITY AS r(id, ord) JOIN drafts d ON d.id = r.id
            ORDER BY r.ord)sql"},
        // $1 ids: their collaborators in the order added
        {"draft_collaborator_rows", R"sql(
            SELECT c.draft_id, c.user_id FROM draft_collaborators c
            WHERE c.draft_id = ANY ($1::bigint[]) ORDER BY c.draft_id, c.seq)sql"},
        // $1 user, $2 before (last_seq), $3 limit: open drafts the user owns or collaborates
        // on, the latest changed first
        {"drafts_of_user", R"sql(
            SELECT d.id, d.last_seq FROM drafts d
            WHERE d.state = 'open' AND ($2::bigint = 0 OR d.last_seq < $2::bigint)
              AND (d.owner_id = $1::bigint
                   OR d.id IN (SELECT c.draft_id FROM draft_collaborators c
                               WHERE c.user_id = $1::bigint))
            ORDER BY d.last_seq DESC LIMIT $3::int)sql"},
        // $1 draft, $2 after (version), $3 limit: accepted updates from the log (the unique
        // index events_draft_version, migration 012)
        {"draft_updates_since", R"sql(
            SELECT (e.payload->>'version')::bigint, e.payload->>'clientId', e.user_id,
                   COALESCE(u.handle, ''), COALESCE(u.display_name, ''),
                   (e.payload->'changes')::text
            FROM events e LEFT JOIN users u ON u.id = e.user_id
            WHERE e.type = 'DraftUpdated' AND (e.payload->>'draftId')::bigint = $1::bigint
              AND (e.payload->>'version')::bigint > $2::bigint
            ORDER BY (e.payload->>'version')::bigint LIMIT $3::int)sql"},

        // --- users ---------------------------------------------------------------------------
        // $1 ids, $2 viewer: users in the order of $1; followed_by_me NULL for no viewer or self.
        {"user_rows", R"sql(
            SELECT u.id, u.handle, u.display_name, )sql" CHIRP_US("u.created_at") R"sql(,
                   COALESCE(s.followers, 0), COALESCE(s.following, 0), COALESCE(s.tweets, 0),
                   CASE WHEN $2::bigint = 0 OR $2::bigint = u.id THEN NULL
                        ELSE EXISTS (SELECT 1 FROM follows f
                                     WHERE f.follower_id = $2::bigint AND f.followee_id = u.id) END
            FROM unnest($1::bigint[]) WITH ORDINALITY AS r(id, ord)
            JOIN users u ON u.id = r.id LEFT JOIN user_stats s ON s.user_id = u.id
            ORDER BY r.ord)sql"},
        // $1 ids: UserRefs
        {"user_refs", R"sql(
            SELECT u.id, u.handle, u.display_name FROM users u WHERE u.id = ANY ($1::bigint[]))sql"},
        // $1 handle: id and password hash (login, and handle lookups)
        {"user_by_handle", R"sql(
            SELECT u.id, u.password_hash FROM users u WHERE lower(u.handle) = lower($1))sql"},
        // $1 prefix, $2 limit
        {"users_search", R"sql(
            SELECT id FROM users
            WHERE lower(handle) LIKE replace(replace(replace(lower($1), '\', '\\'), '%', '\%'), '_', '\_') || '%'
            ORDER BY lower(handle) LIMIT $2::int)sql"},
        // $1 user, $2 before (follow seq), $3 limit
        {"followers_page", R"sql(
            SELECT f.follower_id, f.seq FROM follows f
            WHERE f.followee_id = $1::bigint AND ($2::bigint = 0 OR f.seq < $2::bigint)
            ORDER BY f.seq DESC LIMIT $3::int)sql"},
        {"following_page", R"sql(
            SELECT f.followee_id, f.seq FROM follows f
            WHERE f.follower_id = $1::bigint AND ($2::bigint = 0 OR f.seq < $2::bigint)
            ORDER BY f.seq DESC LIMIT $3::int)sql"},

        // --- tweets --------------------------------------------------------------------------
        // $1 ids: the tweets and their retweeted originals (any order; deleted ones too).
        {"tweet_rows", R"sql(
            WITH req AS (SELECT DISTINCT unnest($1::bigint[]) AS id),
            want AS (SELECT id FROM req
                     UNION SELECT t.retweet_of FROM tweets t JOIN req ON t.id = req.id
                     WHERE t.retweet_of IS NOT NULL)
            SELECT t.id, t.author_id, u.handle, u.display_name, t.content,
                   )sql" CHIRP_US("t.created_at") R"sql(, COALESCE(t.reply_to, 0),
                   COALESCE(t.retweet_of, 0), t.deleted,
                   COALESCE((SELECT string_agg(x.m->>'handle', ' ' ORDER BY x.o)
                             FROM jsonb_array_elements(t.mentions) WITH ORDINALITY AS x(m, o)), ''),
                   array_to_string(t.hashtags, ' '),
                   COALESCE(s.likes, 0), COALESCE(s.retweets, 0), COALESCE(s.replies, 0),
                   CASE WHEN cardinality(t.coauthors) = 0 THEN ''
                        ELSE (SELECT json_agg(json_build_array(c.x, cu.handle, cu.display_name)
                                              ORDER BY c.o)
                              FROM unnest(t.coauthors) WITH ORDINALITY AS c(x, o)
                              JOIN users cu ON cu.id = c.x)::text END
            FROM want w JOIN tweets t ON t.id = w.id JOIN users u ON u.id = t.author_id
            LEFT JOIN tweet_stats s ON s.tweet_id = t.id)sql"},
        // $1 ids, $2 viewers (pairwise): each pair's flags, and the flags of the same viewer
        // for the pair's retweeted original.
        {"tweet_flags", R"sql(
            WITH req AS (SELECT DISTINCT r.id, r.viewer
                         FROM unnest($1::bigint[], $2::bigint[]) AS r(id, viewer)),
            fl AS (SELECT id, viewer FROM req
                   UNION SELECT t.retweet_of, req.viewer FROM tweets t JOIN req ON t.id = req.id
                   WHERE t.retweet_of IS NOT NULL)
            SELECT fl.id, fl.viewer,
                   EXISTS (SELECT 1 FROM likes l WHERE l.tweet_id = fl.id AND l.user_id = fl.viewer),
                   EXISTS (SELECT 1 FROM tweets r WHERE r.retweet_of = fl.id
                                                    AND r.author_id = fl.viewer AND NOT r.deleted)
            FROM fl)sql"},
        // $1 id: the tweet exists and is not deleted
        {"tweet_live", "SELECT 1 FROM tweets WHERE id = $1::bigint AND NOT deleted"},
        // $1 author, $2 before (tweet id), $3 limit
        {"user_tweets_page", R"sql(
            SELECT t.id FROM tweets t
            WHERE t.author_id = $1::bigint AND NOT t.deleted
              AND ($2::bigint = 0 OR t.id < $2::bigint)
            ORDER BY t.id DESC LIMIT $3::int)sql"},
        // $1 parent, $2 before, $3 limit
        {"replies_page", R"sql(
            SELECT t.id FROM tweets t
            WHERE t.reply_to = $1::bigint AND NOT t.deleted
              AND ($2::bigint = 0 OR t.id < $2::bigint)
            ORDER BY t.id DESC LIMIT $3::int)sql"},
        // $1 user, $2 before, $3 limit: the home timeline (followees and self)
        {"timeline_page", R"sql(
            SELECT t.id FROM tweets t
            WHERE t.author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1::bigint
                                  UNION ALL SELECT $1::bigint)
              AND NOT t.deleted AND ($2::bigint = 0 OR t.id < $2::bigint)
            ORDER BY t.id DESC LIMIT $3::int)sql"},
        // $1 tweet ids: live counts
        {"tweet_counts", R"sql(
            SELECT s.tweet_id, s.likes, s.retweets, s.replies FROM tweet_stats s
            WHERE s.tweet_id = ANY ($1::bigint[]))sql"},

        // --- notifications, audit trail ------------------------------------------------------
        // $1 user, $2 before (seq), $3 limit
        {"notifications_page", R"sql(
            SELECT n.seq, n.type, n.actor_id, COALESCE(n.tweet_id, 0), COALESCE(n.conversation_id, 0),
                   )sql" CHIRP_US("n.created_at") R"sql(,
                   n.seq <= COALESCE((SELECT s.notif_read_upto FROM user_stats s
                                      WHERE s.user_id = n.recipient_id), 0),
                   n.recipient_id, COALESCE(n.draft_id, 0)
            FROM notifications n
            WHERE n.recipient_id = $1::bigint AND ($2::bigint = 0 OR n.seq < $2::bigint)
            ORDER BY n.seq DESC LIMIT $3::int)sql"},
        // $1 user
        {"notifications_unread", R"sql(
            SELECT count(*) FROM notifications x WHERE x.recipient_id = $1::bigint
              AND x.seq > COALESCE((SELECT notif_read_upto FROM user_stats WHERE user_id = $1::bigint), 0))sql"},
        // $1 user, $2 after (seq), $3 limit
        {"events_page", R"sql(
            SELECT e.seq, e.id::text, e.type, COALESCE(e.user_id, 0), )sql" CHIRP_US(
                            "e.created_at") R"sql(,
                   e.version, (e.payload - 'passwordHash')::text
            FROM events e WHERE e.user_id = $1::bigint AND e.seq > $2::bigint
            ORDER BY e.seq LIMIT $3::int)sql"},
        // $1 seqs: logged events as the wire envelope needs them
        {"event_rows", R"sql(
            SELECT e.seq, e.id::text, e.type, COALESCE(e.user_id, 0), )sql" CHIRP_US(
                           "e.created_at") R"sql(,
                   e.version, COALESCE((e.payload->>'tweetId')::bigint, 0),
                   COALESCE((e.payload->>'messageId')::bigint, 0),
                   COALESCE((e.payload->>'conversationId')::bigint, 0)
            FROM events e WHERE e.seq = ANY ($1::bigint[]))sql"},

        // --- conversations and messages ------------------------------------------------------
        // $1 user, $2 before (a last_seq), $3 limit: the user's conversations, latest activity
        // first, with the cursor column
        {"conversation_ids", R"sql(
            SELECT c.id, c.last_seq FROM conversations c
            JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $1::bigint
            WHERE ($2::bigint = 0 OR c.last_seq < $2::bigint)
            ORDER BY c.last_seq DESC LIMIT $3::int)sql"},
        // $1 max age in seconds, $2 limit: idempotency records past their 24 h (oldest first)
        {"purge_idempotency", R"sql(
            DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(
                SELECT ctid FROM idempotency_keys
                WHERE created_at < now() - make_interval(secs => $1::bigint)
                ORDER BY created_at LIMIT $2::int)))sql"},
        // $1 ids: participants (ascending, space-separated) and the last message's id
        {"conversation_rows", R"sql(
            SELECT c.id, )sql" CHIRP_US("c.created_at") R"sql(,
                   array_to_string(ARRAY(SELECT p FROM unnest(c.participants) p ORDER BY p), ' '),
                   COALESCE((SELECT m.id FROM messages m WHERE m.conversation_id = c.id
                             ORDER BY m.id DESC LIMIT 1), 0)
            FROM conversations c WHERE c.id = ANY ($1::bigint[]))sql"},
        // $1 conversation, $2 user: one row when it exists: is the user a participant
        {"conversation_access", R"sql(
            SELECT $2::bigint = ANY (participants) FROM conversations WHERE id = $1::bigint)sql"},
        // $1 conversation, $2 before (message id), $3 limit
        {"messages_page", R"sql(
            SELECT m.id FROM messages m
            WHERE m.conversation_id = $1::bigint AND ($2::bigint = 0 OR m.id < $2::bigint)
            ORDER BY m.id DESC LIMIT $3::int)sql"},
        // $1 ids
        {"message_rows", R"sql(
            SELECT m.id, m.conversation_id, m.sender_id, m.content, )sql" CHIRP_US(
                             "m.created_at") R"sql(, m.seq
            FROM messages m WHERE m.id = ANY ($1::bigint[]))sql"},
        // $1 conversation: participant ids (typing indicators)
        {"conversation_members", R"sql(
            SELECT user_id FROM conversation_members WHERE conversation_id = $1::bigint)sql"},

        // The log's last seq (the primary key's last entry): the head a replay's since is
        // checked against.
        {"event_head", R"sql(SELECT COALESCE(max(seq), 0) FROM events)sql"},
        // --- replay: per request (users and sinces pairwise, numbered from 1), at most $3
        // events, in seq order. Frames are rendered in C++ (reads.cpp).
        {"replay_timeline", R"sql(
            SELECT r.i, h.seq
            FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS r(uid, since, i)
            CROSS JOIN LATERAL (
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
                ) x ORDER BY x.seq LIMIT $3::int) h
            ORDER BY r.i, h.seq)sql"},
        {"replay_notifications", R"sql(
            SELECT r.i, n.seq, n.type, n.actor_id, COALESCE(n.tweet_id, 0),
                   COALESCE(n.conversation_id, 0), )sql" CHIRP_US("n.created_at") R"sql(,
                   n.seq <= COALESCE((SELECT s.notif_read_upto FROM user_stats s
                                      WHERE s.user_id = n.recipient_id), 0),
                   n.recipient_id, COALESCE(n.draft_id, 0)
            FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS r(uid, since, i)
            CROSS JOIN LATERAL (
                SELECT * FROM notifications x WHERE x.recipient_id = r.uid AND x.seq > r.since
                ORDER BY x.seq LIMIT $3::int) n
            ORDER BY r.i, n.seq)sql"},
        {"replay_messages", R"sql(
            SELECT r.i, h.seq
            FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS r(uid, since, i)
            CROSS JOIN LATERAL (
                SELECT e.seq FROM events e
                JOIN conversation_members m
                  ON m.user_id = r.uid AND m.conversation_id = (e.payload->>'conversationId')::bigint
                WHERE e.type = 'MessageSent' AND e.seq > r.since
                ORDER BY e.seq LIMIT $3::int) h
            ORDER BY r.i, h.seq)sql"},

        // --- fan-out and the home-timeline cache ---------------------------------------------
        // $1 user, $2 threshold: followees with more followers than the threshold
        {"celebrity_followees", R"sql(
            SELECT s.user_id FROM follows f JOIN user_stats s ON s.user_id = f.followee_id
            WHERE f.follower_id = $1::bigint AND s.followers > $2::int)sql"},
        // $1 author: the follower count, then the followers' ids
        {"follower_count", R"sql(
            SELECT COALESCE((SELECT followers FROM user_stats WHERE user_id = $1::bigint), 0))sql"},
        {"follower_ids", "SELECT follower_id FROM follows WHERE followee_id = $1::bigint"},
        // $1 user: the authors of the home timeline (followees and self)
        {"home_authors", R"sql(
            SELECT followee_id FROM follows WHERE follower_id = $1::bigint UNION SELECT $1::bigint)sql"},
        // $1 user, $2 max: the newest ids of the live tweets of those authors
        {"home_ids", R"sql(
            SELECT t.id FROM tweets t
            WHERE t.author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1::bigint
                                  UNION SELECT $1::bigint)
              AND NOT t.deleted
            ORDER BY t.id DESC LIMIT $2::int)sql"},
        {"stats_counts", R"sql(
            SELECT COALESCE((SELECT last_value FROM event_seq WHERE is_called), 0),
                   (SELECT count(*) FROM users), (SELECT count(*) FROM tweets WHERE NOT deleted))sql"},
    };
    return q;
}

#undef CHIRP_US

}  // namespace chirp::store
