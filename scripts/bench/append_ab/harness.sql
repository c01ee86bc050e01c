CREATE OR REPLACE FUNCTION ab_cpu_ns() RETURNS bigint LANGUAGE sql AS $$
    SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/schedstat'), ' ', 1)::bigint $$;
CREATE OR REPLACE FUNCTION ab_bench_cpu(rounds int, variants text[], cpu boolean DEFAULT true)
RETURNS TABLE(variant text, med float8, mean float8, trimmed float8, n int)
LANGUAGE plpgsql AS $$
DECLARE
    cmds jsonb;
    c0 bigint;
    t0 timestamptz;
    v text;
    k int;
    r int;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS ab_times(variant text, ms float8);
    TRUNCATE ab_times;
    FOR r IN 1..rounds LOOP
        FOR k IN 0..cardinality(variants)-1 LOOP
            v := variants[1 + (k + r) % cardinality(variants)];
            SELECT jsonb_agg(jsonb_build_object('type','tweet','actor',1,'args',
                     jsonb_build_object('content','benchmark tweet number '||(r*10+k)||'-'||i||' #bench','hashtags',jsonb_build_array('bench'))))
            INTO cmds FROM generate_series(1,2000) i;
            c0 := ab_cpu_ns();
            t0 := clock_timestamp();
            EXECUTE format('SELECT count(*) FROM %I($1, 1, 2000)', 'chirp_decide_tweets' || v) USING cmds;
            INSERT INTO ab_times VALUES (v, CASE WHEN cpu THEN (ab_cpu_ns() - c0) / 1e6
                ELSE extract(epoch FROM clock_timestamp() - t0) * 1000 END);
        END LOOP;
    END LOOP;
    -- trimmed: the mean of the middle 80 % (checkpoints and other outliers cut off both ends)
    RETURN QUERY
        SELECT a.variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY a.ms), avg(a.ms),
               (SELECT avg(b.ms) FROM (SELECT t.ms, ntile(10) OVER (ORDER BY t.ms) AS d
                                       FROM ab_times t WHERE t.variant = a.variant) b
                WHERE b.d BETWEEN 2 AND 9),
               count(*)::int
        FROM ab_times a GROUP BY a.variant ORDER BY 1;
END $$;
