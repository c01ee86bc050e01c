-- 007: one dispatcher. chirp_exec_rows (004) serves every caller — the event writer and
-- `chirpd seed` — so 002's chirp_exec and the JSON-building fast paths only it called go:
-- the command loop no longer exists twice.
DROP FUNCTION IF EXISTS chirp_exec(jsonb);
DROP FUNCTION IF EXISTS chirp_exec_plain_tweets(jsonb, bigint, bigint);
DROP FUNCTION IF EXISTS chirp_exec_likes(jsonb, bigint, bigint);
