-- Rebuild: recreate every projection from the log alone, through the same chirp_apply as the
-- live path (`chirpd rebuild-projections`).
--
-- Re-applied at every start (src/store/migrations.cpp): edit here, in place.

CREATE OR REPLACE FUNCTION chirp_rebuild() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    e events;
    n bigint := 0;
BEGIN
    PERFORM chirp_lock();
    TRUNCATE users, user_stats, follows, tweets, tweet_stats, likes, notifications,
             conversations, conversation_members, messages;
    FOR e IN SELECT * FROM events ORDER BY seq LOOP
        PERFORM chirp_apply(e);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
