-- 011: a like's row (o_kind 'like', see 008) carries the liked tweet as typed columns, so
-- neither chirp_decide_likes builds a record per liked tweet nor the writer parses one:
--   o_content, o_hashtags  the liked tweet's content and hashtags (jsonb text of an array)
--   o_t_handle, o_t_name   its author's handle and display name (o_author: the author's id)
--   o_t_ts                 its created_at in microseconds since 1970
--   o_t_reply_to           the tweet it replies to
--   o_t_mentions           the handles it mentions (jsonb text of an array)
--   o_t_liked, o_t_retweeted  its author's flags (likedByMe, retweetedByMe) before the run
-- A liked retweet keeps its records in o_base and o_for_author (it carries its original).
ALTER TYPE chirp_exec_row
    ADD ATTRIBUTE o_t_handle text,
    ADD ATTRIBUTE o_t_name text,
    ADD ATTRIBUTE o_t_ts bigint,
    ADD ATTRIBUTE o_t_reply_to bigint,
    ADD ATTRIBUTE o_t_mentions text,
    ADD ATTRIBUTE o_t_liked boolean,
    ADD ATTRIBUTE o_t_retweeted boolean;
