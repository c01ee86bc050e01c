-- Apply (evolve): update the projections from events. Each event type has exactly one
-- implementation, used by every writer and by chirp_rebuild() (rebuild.sql), so a rebuild
-- equals the live state:
--
--   chirp_apply_tweet_rows(rows[])        TweetCreated, a run of them set-wise
--   chirp_apply_tweets_created(events[])  the same for events (their payloads as rows)
--   chirp_apply_like_rows(columns)        TweetLiked, a run of them set-wise
--   chirp_apply_tweets_liked(events[])    the same for events (their payloads as columns)
--   chirp_apply(event)                    any event; the set-wise ones for a run of one
--
-- The set-wise decides (decide.sql) append a run of tweets or likes and call the run's apply
-- once, with the rows or columns they appended (no events[] built, no payload read back).
-- chirp_append (exec.sql) calls chirp_apply for every other event; the rebuild walks the log
-- in runs and passes events, which the events[] entry points turn into the same columns. A
-- run applied set-wise must leave the same rows as its events applied one by one in seq order
-- (rebuild_test compares a rebuild with the live projections).
--
-- Re-applied at every start (src/store/migrations.cpp): edit here, in place.

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

-- TweetCreated, set-wise: the tweets, their counters, the authors' counters, the parents'
-- reply and retweet counters and the notifications (reply to the parent's author, retweet to
-- the original's author, mention to each mentioned user but the reply's recipient; never to
-- the actor; one per recipient and event, in that order of precedence). Big tables are looked
-- up by `= ANY (array)`: an index scan whatever the join method. Statements in this order: a
-- reply to a tweet of the same run finds its parent.
-- The run as typed rows (chirp_tweet_row, migration 013), one per event: the live path
-- (chirp_decide_tweets) passes the tweets it has just appended, the rebuild and chirp_apply
-- their events through chirp_apply_tweets_created below.
CREATE OR REPLACE FUNCTION chirp_apply_tweet_rows(rows chirp_tweet_row[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    more boolean;  -- a reply, a retweet or a mention in the run
BEGIN
    WITH ev AS MATERIALIZED (SELECT * FROM unnest(rows)),
    tw AS (
        INSERT INTO tweets (id, author_id, content, reply_to, retweet_of, mentions, hashtags,
                            created_at, seq, coauthors)
        SELECT ev.tid, ev.user_id, ev.content, ev.reply_to, ev.retweet_of,
               COALESCE(ev.mentions, '[]'::jsonb), COALESCE(ev.hashtags, '{}'),
               ev.created_at, ev.seq, COALESCE(ev.coauthors, '{}')
        FROM ev),
    st AS (
        INSERT INTO tweet_stats (tweet_id) SELECT ev.tid FROM ev),
    per_author AS MATERIALIZED (
        SELECT ev.user_id, count(*) AS n FROM ev GROUP BY ev.user_id),
    us AS (
        UPDATE user_stats s SET tweets = s.tweets + c.n
        FROM per_author c
        WHERE s.user_id = c.user_id
          AND s.user_id = ANY ((SELECT array_agg(c2.user_id) FROM per_author c2)::bigint[]))
    SELECT bool_or(ev.reply_to IS NOT NULL OR ev.retweet_of IS NOT NULL
                   OR jsonb_array_length(COALESCE(ev.mentions, '[]'::jsonb)) > 0)
    INTO more
    FROM ev;

    IF more IS NOT TRUE THEN
        RETURN;  -- plain tweets: nothing more
    END IF;

    WITH ev AS MATERIALIZED (
        SELECT e.* FROM unnest(rows) e
        WHERE e.reply_to IS NOT NULL OR e.retweet_of IS NOT NULL
           OR jsonb_array_length(COALESCE(e.mentions, '[]'::jsonb)) > 0),
    parents AS MATERIALIZED (
        SELECT t.id, t.author_id FROM tweets t
        WHERE t.id = ANY ((SELECT array_agg(x) FROM (SELECT ev.reply_to FROM ev
                                                     UNION SELECT ev.retweet_of FROM ev) y(x)
                           WHERE x IS NOT NULL)::bigint[])),
    per_parent AS MATERIALIZED (
        SELECT c.parent, sum(c.replies) AS replies, sum(c.retweets) AS retweets
        FROM (SELECT ev.reply_to AS parent, 1 AS replies, 0 AS retweets FROM ev
              WHERE ev.reply_to IS NOT NULL
              UNION ALL
              SELECT ev.retweet_of, 0, 1 FROM ev WHERE ev.retweet_of IS NOT NULL) c
        GROUP BY c.parent),
    counters AS (
        UPDATE tweet_stats s SET replies = s.replies + c.replies, retweets = s.retweets + c.retweets
        FROM per_parent c
        WHERE s.tweet_id = c.parent
          AND s.tweet_id = ANY ((SELECT array_agg(c2.parent) FROM per_parent c2)::bigint[])),
    notes AS (
        SELECT 1 AS rank, r.author_id AS recipient, ev.seq, 'reply' AS kind, ev.user_id AS actor,
               ev.tid AS tweet, ev.created_at
        FROM ev JOIN parents r ON r.id = ev.reply_to
        UNION ALL
        SELECT 2, o.author_id, ev.seq, 'retweet', ev.user_id, o.id, ev.created_at
        FROM ev JOIN parents o ON o.id = ev.retweet_of
        UNION ALL
        SELECT 3, (m->>'id')::bigint, ev.seq, 'mention', ev.user_id, ev.tid, ev.created_at
        FROM ev CROSS JOIN jsonb_array_elements(COALESCE(ev.mentions, '[]'::jsonb)) m
        LEFT JOIN parents r ON r.id = ev.reply_to
        WHERE r.author_id IS NULL OR (m->>'id')::bigint <> r.author_id)
    INSERT INTO notifications (recipient_id, seq, type, actor_id, tweet_id, conversation_id,
                               created_at)
    SELECT DISTINCT ON (n.recipient, n.seq) n.recipient, n.seq, n.kind, n.actor, n.tweet, NULL,
           n.created_at
    FROM notes n
    WHERE n.recipient IS NOT NULL AND n.recipient <> n.actor
    ORDER BY n.recipient, n.seq, n.rank
    ON CONFLICT DO NOTHING;
END $$;

-- TweetCreated events (the rebuild, chirp_apply): their payloads as typed rows.
CREATE OR REPLACE FUNCTION chirp_apply_tweets_created(evs events[]) RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    PERFORM chirp_apply_tweet_rows(ARRAY(
        SELECT ROW((e.payload->>'tweetId')::bigint, e.user_id, e.payload->>'content',
                   (e.payload->>'replyTo')::bigint, (e.payload->>'retweetOf')::bigint,
                   e.payload->'mentions',
                   ARRAY(SELECT jsonb_array_elements_text(
                             COALESCE(e.payload->'hashtags', '[]'::jsonb))),
                   -- a published draft's collaborators (drafts.sql), in the order added
                   ARRAY(SELECT x::bigint
                         FROM jsonb_array_elements_text(
                                  COALESCE(e.payload->'coauthors', '[]'::jsonb))
                              WITH ORDINALITY AS c(x, o) ORDER BY c.o),
                   e.created_at, e.seq)::chirp_tweet_row
        FROM unnest(evs) WITH ORDINALITY AS e ORDER BY e.ordinality));
END $$;

-- TweetLiked, set-wise: a like is new unless the user already likes the tweet (or liked it
-- earlier in the run); a new like counts and notifies the tweet's author (not the actor).
-- The run as columns, one element per event: the live path (chirp_decide_likes) passes the
-- likes it has just appended, the rebuild the events through chirp_apply_tweets_liked below.
-- No SET clauses (each costs a settings save and restore per call): the callers set jit and
-- the plan cache mode.
CREATE OR REPLACE FUNCTION chirp_apply_like_rows(user_ids bigint[], tids bigint[],
                                                 created_ats timestamptz[], seqs bigint[])
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    WITH ev AS MATERIALIZED (
        SELECT DISTINCT ON (e.user_id, e.tid) e.user_id, e.tid, e.seq, e.created_at
        FROM unnest(user_ids, tids, created_ats, seqs) AS e(user_id, tid, created_at, seq)
        ORDER BY e.user_id, e.tid, e.seq),
    lk AS (
        INSERT INTO likes (user_id, tweet_id, created_at)
        SELECT ev.user_id, ev.tid, ev.created_at FROM ev
        ON CONFLICT DO NOTHING
        RETURNING user_id, tweet_id),
    fresh AS MATERIALIZED (
        SELECT ev.* FROM ev JOIN lk ON lk.user_id = ev.user_id AND lk.tweet_id = ev.tid),
    per_tweet AS MATERIALIZED (
        SELECT fresh.tid, count(*) AS n FROM fresh GROUP BY fresh.tid),
    counters AS (
        UPDATE tweet_stats s SET likes = s.likes + c.n
        FROM per_tweet c
        WHERE s.tweet_id = c.tid
          AND s.tweet_id = ANY ((SELECT array_agg(c2.tid) FROM per_tweet c2)::bigint[])),
    authors AS MATERIALIZED (
        SELECT t.id, t.author_id FROM tweets t
        WHERE t.id = ANY ((SELECT array_agg(c.tid) FROM per_tweet c)::bigint[]))
    INSERT INTO notifications (recipient_id, seq, type, actor_id, tweet_id, conversation_id,
                               created_at)
    SELECT a.author_id, f.seq, 'like', f.user_id, f.tid, NULL, f.created_at
    FROM fresh f JOIN authors a ON a.id = f.tid
    WHERE a.author_id <> f.user_id
    ON CONFLICT DO NOTHING;
END $$;

-- TweetLiked events (the rebuild, chirp_apply): their payloads as columns.
CREATE OR REPLACE FUNCTION chirp_apply_tweets_liked(evs events[]) RETURNS void
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    user_ids bigint[];
    tids bigint[];
    created_ats timestamptz[];
    seqs bigint[];
BEGIN
    SELECT array_agg(e.user_id), array_agg((e.payload->>'tweetId')::bigint),
           array_agg(e.created_at), array_agg(e.seq)
    INTO user_ids, tids, created_ats, seqs
    FROM unnest(evs) e;
    PERFORM chirp_apply_like_rows(user_ids, tids, created_ats, seqs);
END $$;

-- Any event, one at a time (chirp_append, the rebuild outside runs).
CREATE OR REPLACE FUNCTION chirp_apply(e events) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := e.payload;
    tid bigint;
    parent tweets;
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
        PERFORM chirp_apply_tweets_created(ARRAY[e]);
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
        PERFORM chirp_apply_tweets_liked(ARRAY[e]);
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
    WHEN 'DraftCreated', 'DraftUpdated', 'DraftCollaboratorAdded', 'DraftCollaboratorRemoved',
         'DraftPublished', 'DraftDiscarded' THEN
        PERFORM chirp_apply_draft(e);  -- drafts.sql
    ELSE
        NULL;  -- unknown (future) event types leave the projections alone
    END CASE;
END $$;
