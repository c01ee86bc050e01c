-- Apply (evolve): update the projections from one event. The live path (chirp_append,
-- exec.sql) and chirp_rebuild() (rebuild.sql) both use it, so a rebuild equals the live state.
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
