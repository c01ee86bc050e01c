-- 003: indexes for the real-time layer's replay of each stream from the log
-- (sql/functions/replay.sql).

CREATE INDEX IF NOT EXISTS events_likes_by_author ON events (((payload->>'authorId')::bigint), seq)
    WHERE type IN ('TweetLiked', 'TweetUnliked');
CREATE INDEX IF NOT EXISTS events_messages_by_conversation
    ON events (((payload->>'conversationId')::bigint), seq) WHERE type = 'MessageSent';
