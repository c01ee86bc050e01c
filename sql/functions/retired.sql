-- Functions that no longer exist. A database created before they were removed still has them:
-- they are dropped at every start (a no-op once gone). Add a signature here when a function
-- is removed or its signature changes.
DROP FUNCTION IF EXISTS chirp_exec(jsonb);
DROP FUNCTION IF EXISTS chirp_exec_plain_tweets(jsonb, bigint, bigint);
DROP FUNCTION IF EXISTS chirp_exec_likes(jsonb, bigint, bigint);
-- Replay is a typed read now (src/store/typed_reads.cpp renders the frames in C++).
DROP FUNCTION IF EXISTS chirp_replay_timeline(bigint, bigint, int);
DROP FUNCTION IF EXISTS chirp_replay_notifications(bigint, bigint, int);
DROP FUNCTION IF EXISTS chirp_replay_messages(bigint, bigint, int);
DROP FUNCTION IF EXISTS chirp_replay_timeline_batch(bigint[], bigint[], int);
DROP FUNCTION IF EXISTS chirp_replay_notifications_batch(bigint[], bigint[], int);
DROP FUNCTION IF EXISTS chirp_replay_messages_batch(bigint[], bigint[], int);
DROP FUNCTION IF EXISTS chirp_frame(text, bigint, jsonb);
DROP FUNCTION IF EXISTS chirp_exec_plain_tweets_rows(jsonb, bigint, bigint);
DROP FUNCTION IF EXISTS chirp_exec_likes_rows(jsonb, bigint, bigint);
DROP FUNCTION IF EXISTS chirp_exec_run(text, jsonb, bigint, bigint);
-- The JSON views of render.sql: answers, live frames, REST reads and replay are rendered by
-- domain/wire from typed data (records.sql, the typed reads); nothing calls them any more.
DROP FUNCTION IF EXISTS chirp_wire_message(events);
DROP FUNCTION IF EXISTS chirp_wire_notification(notifications);
DROP FUNCTION IF EXISTS chirp_wire_timeline(events);
DROP FUNCTION IF EXISTS chirp_wire(events, text, jsonb);
DROP FUNCTION IF EXISTS chirp_event_json(events);
DROP FUNCTION IF EXISTS chirp_conversation_json(conversations);
DROP FUNCTION IF EXISTS chirp_message_json(messages);
DROP FUNCTION IF EXISTS chirp_notification_json(notifications);
DROP FUNCTION IF EXISTS chirp_tweet_by_id(bigint, bigint);
DROP FUNCTION IF EXISTS chirp_tweet_json(tweets, bigint);
DROP FUNCTION IF EXISTS chirp_tweet_json_flat(tweets, bigint);
DROP FUNCTION IF EXISTS chirp_user_json(users, bigint);
DROP FUNCTION IF EXISTS chirp_user_ref(bigint);
DROP FUNCTION IF EXISTS chirp_ts(timestamptz);
-- A typed-columns apply for tweets, briefly on a branch (tweets apply from events[]).
DROP FUNCTION IF EXISTS chirp_apply_tweet_rows(bigint[], bigint[], text[], bigint[], bigint[],
                                               jsonb[], jsonb[], timestamptz[], bigint[]);
