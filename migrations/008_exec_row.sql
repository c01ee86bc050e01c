-- 008: the row chirp_exec_rows returns, one per command, declared once (sql/functions: the
-- dispatcher and the set-wise decides return it; src/store/exec_result.cpp reads it). Either
-- the answer as a record (o_json: status, body, seq, deliveries), or, for a plain tweet (o_kind
-- 'tweet') or a like (o_kind 'like') without Idempotency-Key, o_json NULL and the raw values
-- the writer renders the answer and the live frames from:
--   o_seq, o_eid, o_ts     the event (seq, id, created_at in microseconds since 1970); o_seq
--                          is NULL when nothing was appended (a like that was not new)
--   o_tid, o_actor         the tweet, the user who tweeted or liked
--   o_content, o_hashtags  a tweet's content and hashtags (jsonb text of an array)
--   o_handle, o_name       the actor's handle and display name
--   o_author               a liked tweet's author
--   o_likes, o_retweets, o_replies  a liked tweet's counts after the whole batch
--   o_flag                 a like: retweetedByMe
--   o_base, o_for_author   a liked tweet's record (records.sql, jsonb text): for nobody; for
--                          its author (the writer sets the likes, and the liker's flags)
CREATE TYPE chirp_exec_row AS (
    o_json json, o_kind text, o_seq bigint, o_tid bigint, o_actor bigint, o_eid uuid,
    o_ts bigint, o_content text, o_handle text, o_name text, o_hashtags text,
    o_author bigint, o_likes integer, o_retweets integer, o_replies integer,
    o_flag boolean, o_base text, o_for_author text);
