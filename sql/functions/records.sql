-- Records: what the event writer returns for an answer or a live event, as DATA — a jsonb
-- record of table rows (ids as numbers, times as microseconds since 1970, columns by their
-- table names), never the wire JSON. The writer decodes each record into its domain struct in
-- one place (src/store/exec_result.cpp) and the domain renderers (src/domain/wire.cpp) write
-- the bytes, so an answer, a live frame and a REST read of an object are the same bytes.
--
--   chirp_us(t)                        a timestamptz as microseconds since 1970
--   chirp_rec_user_ref(uid)            {id, handle, display_name}
--   chirp_rec_user(u, viewer)          + created_at, followers, following, tweets, followed_by_me
--   chirp_rec_tweet(t, viewer)         {id, author, content, created_at, reply_to, mentions,
--                                       hashtags, coauthors, likes, retweets, replies, liked,
--                                       retweeted, retweet_of (the same record, or null)}
--   chirp_rec_notification(n)          {seq, type, actor, tweet, conversation_id, draft_id,
--                                       created_at, read}
--   chirp_rec_draft(d)                 drafts.sql
--   chirp_rec_message(m)               {id, conversation_id, sender, content, created_at, seq}
--   chirp_rec_conversation(c)          {id, participants, created_at, last_message}
--   chirp_rec_event(e, type, payload)  {id, type, user_id, created_at, version, payload}
--
-- Re-applied at every start (src/store/migrations.cpp): edit here, in place.

CREATE OR REPLACE FUNCTION chirp_us(t timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT (extract(epoch FROM t) * 1000000)::bigint $$;

CREATE OR REPLACE FUNCTION chirp_rec_user_ref(uid bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('id', u.id, 'handle', u.handle,
                                      'display_name', u.display_name)
            FROM users u WHERE u.id = uid);
END $$;

CREATE OR REPLACE FUNCTION chirp_rec_user(u users, viewer bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE s user_stats;
BEGIN
    SELECT * INTO s FROM user_stats WHERE user_id = u.id;
    RETURN jsonb_build_object(
        'id', u.id, 'handle', u.handle, 'display_name', u.display_name,
        'created_at', chirp_us(u.created_at), 'followers', s.followers,
        'following', s.following, 'tweets', s.tweets,
        'followed_by_me', CASE WHEN viewer IS NULL OR viewer = u.id THEN NULL
                               ELSE EXISTS (SELECT 1 FROM follows f
                                            WHERE f.follower_id = viewer AND f.followee_id = u.id)
                          END);
END $$;

-- A tweet without its original.
CREATE OR REPLACE FUNCTION chirp_rec_tweet_flat(t tweets, viewer bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE s tweet_stats;
BEGIN
    SELECT * INTO s FROM tweet_stats WHERE tweet_id = t.id;
    RETURN jsonb_build_object(
        'id', t.id, 'author', chirp_rec_user_ref(t.author_id), 'content', t.content,
        'created_at', chirp_us(t.created_at), 'reply_to', t.reply_to,
        'mentions', COALESCE((SELECT jsonb_agg(m->'handle') FROM jsonb_array_elements(t.mentions) m),
                             '[]'::jsonb),
        'hashtags', to_jsonb(t.hashtags),
        'coauthors', CASE WHEN cardinality(t.coauthors) = 0 THEN '[]'::jsonb
                          ELSE (SELECT jsonb_agg(chirp_rec_user_ref(c.x) ORDER BY c.o)
                                FROM unnest(t.coauthors) WITH ORDINALITY AS c(x, o)) END,
        'likes', s.likes, 'retweets', s.retweets, 'replies', s.replies,
        'liked', viewer IS NOT NULL AND EXISTS (
            SELECT 1 FROM likes l WHERE l.tweet_id = t.id AND l.user_id = viewer),
        'retweeted', viewer IS NOT NULL AND EXISTS (
            SELECT 1 FROM tweets r WHERE r.retweet_of = t.id AND r.author_id = viewer
                                     AND NOT r.deleted));
END $$;

-- A tweet as `viewer` sees it (NULL: nobody), with its original (never itself a retweet;
-- null when deleted).
CREATE OR REPLACE FUNCTION chirp_rec_tweet(t tweets, viewer bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN chirp_rec_tweet_flat(t, viewer) || jsonb_build_object(
        'retweet_of', (SELECT chirp_rec_tweet_flat(o, viewer) FROM tweets o
                       WHERE o.id = t.retweet_of AND NOT o.deleted));
END $$;

CREATE OR REPLACE FUNCTION chirp_rec_notification(n notifications) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'seq', n.seq, 'type', n.type, 'actor', chirp_rec_user_ref(n.actor_id),
        'tweet', (SELECT chirp_rec_tweet(t, n.recipient_id) FROM tweets t
                  WHERE t.id = n.tweet_id AND NOT t.deleted),
        'conversation_id', n.conversation_id, 'draft_id', n.draft_id,
        'created_at', chirp_us(n.created_at),
        'read', n.seq <= (SELECT s.notif_read_upto FROM user_stats s
                          WHERE s.user_id = n.recipient_id));
END $$;

CREATE OR REPLACE FUNCTION chirp_rec_message(m messages) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'id', m.id, 'conversation_id', m.conversation_id,
        'sender', chirp_rec_user_ref(m.sender_id), 'content', m.content,
        'created_at', chirp_us(m.created_at), 'seq', m.seq);
END $$;

CREATE OR REPLACE FUNCTION chirp_rec_conversation(c conversations) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object(
        'id', c.id,
        'participants', (SELECT jsonb_agg(chirp_rec_user_ref(p) ORDER BY p)
                         FROM unnest(c.participants) p),
        'created_at', chirp_us(c.created_at),
        'last_message', (SELECT chirp_rec_message(m) FROM messages m
                         WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1));
END $$;

-- An appended event as a live stream shows it; `type` is the stream's event type
-- (Notification for a notification's frame), `payload` a record (see chirp_deliveries).
CREATE OR REPLACE FUNCTION chirp_rec_event(e events, type text, payload jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN jsonb_build_object('id', e.id::text, 'type', type, 'user_id', e.user_id,
                              'created_at', chirp_us(e.created_at), 'version', e.version,
                              'payload', payload);
END $$;
