CREATE OR REPLACE FUNCTION ab_cpu_ns() RETURNS bigint LANGUAGE sql AS $$
    SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/schedstat'), ' ', 1)::bigint $$;
CREATE OR REPLACE FUNCTION ab_bench_cpu(rounds int, variants text[]) RETURNS TABLE(variant text, med float8, mean float8, n int)
LANGUAGE plpgsql AS $$
DECLARE
    cmds jsonb;
    c0 bigint;
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
            EXECUTE format('SELECT count(*) FROM %I($1, 1, 2000)', 'chirp_decide_tweets' || v) USING cmds;
            INSERT INTO ab_times VALUES (v, (ab_cpu_ns() - c0) / 1e6);
        END LOOP;
    END LOOP;
    RETURN QUERY SELECT a.variant, percentile_cont(0.5) WITHIN GROUP (ORDER BY a.ms), avg(a.ms), count(*)::int FROM ab_times a GROUP BY a.variant ORDER BY 1;
END $$;
