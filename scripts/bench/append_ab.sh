#!/usr/bin/env bash
# Paired A/B of the tweet append's SQL, inside one PostgreSQL backend: each round builds 2,000
# plain-tweet commands and runs chirp_decide_tweets<suffix> for every variant in a rotating
# order, timing each by the backend's own CPU time (/proc/<pid>/schedstat), so that a busy
# machine (other processes on the cores) moves every variant alike. Prints median and mean ms
# per 2,000-tweet run. Variants: '' (the installed chirp_decide_tweets) and any SQL file that
# defines chirp_decide_tweets<suffix> (e.g. append_ab/pre9.sql: the statement of 525c567).
#
# Usage: scripts/bench/append_ab.sh [--rounds N] [--wall] [--chirpd PATH] [FILE.sql:SUFFIX ...]
#   --wall: time by the wall clock instead (finer than this kernel's CPU-time accounting, which
#           counts in 2 ms steps here; needs a quiet machine, e.g. under chrt -f)
#   e.g. scripts/bench/append_ab.sh --rounds 30 scripts/bench/append_ab/pre9.sql:_pre9
# Starts a throw-away PostgreSQL (as scripts/test.sh does), migrated by PATH (default
# build-bench/chirpd), and stops it at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source scripts/lib.sh
ROUNDS=20
CPU=true
CHIRPD=build-bench/chirpd
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --chirpd) CHIRPD=$2; shift 2 ;;
        --wall) CPU=false; shift ;;
        --help | -h) sed -n '2,15p' "$0"; exit 0 ;;
        *) break ;;
    esac
done
[[ -x $CHIRPD ]] || chirp_die "no chirpd at $CHIRPD (build first, or --chirpd PATH)"
TMP=$(mktemp -d /tmp/chirp-append-ab.XXXXXX)
chmod 755 "$TMP"
PG_PORT=$(chirp_free_port)
cleanup() {
    chirp_pg_stop "$TMP/pg" fast 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
chirp_pg_init "$TMP/pg" --no-sync >/dev/null
chirp_pg_start "$TMP/pg" "$TMP/pg-sock" "$PG_PORT" "$TMP/pg-sock/postgresql.log"
chirp_pg_ensure_db "$PG_PORT" chirp chirp
"$CHIRPD" migrate --database-url "postgresql://chirp@127.0.0.1:$PG_PORT/chirp" >/dev/null 2>&1
chirp_psql "$PG_PORT" chirp "SELECT 1 FROM chirp_exec_rows('[{\"type\":\"register\",\"actor\":null,\"args\":{\"handle\":\"bench\",\"displayName\":\"bench\",\"passwordHash\":\"x\"}}]')" >/dev/null
chirp_psql "$PG_PORT" chirp "$(cat scripts/bench/append_ab/harness.sql)"
variants="''"
for v in "$@"; do
    file=${v%:*}
    suffix=${v##*:}
    chirp_psql "$PG_PORT" chirp "$(cat "$file")"
    variants+=",'$suffix'"
done
chirp_log "$ROUNDS rounds of 2,000 plain tweets per variant (ms per run, $([[ $CPU == true ]] && echo "backend CPU" || echo "wall clock"))"
"$PGBIN/psql" -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d chirp -c \
    "SELECT CASE WHEN variant = '' THEN 'chirp_decide_tweets' ELSE variant END AS variant,
            round(med::numeric, 2) AS median_ms, round(mean::numeric, 2) AS mean_ms,
            round(trimmed::numeric, 2) AS trimmed_mean_ms, n
     FROM ab_bench_cpu($ROUNDS, ARRAY[$variants], $CPU)"
