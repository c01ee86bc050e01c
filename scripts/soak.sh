#!/usr/bin/env bash
# scripts/soak.sh — a long churn run against a private chirpd (not part of CI or bench.sh).
#
# Builds chirpd and chirp-bench (Release, build-bench/), starts a private PostgreSQL 15 and
# Redis on free ports in a temp dir and chirpd on 127.0.0.1, seeds N followers of a few
# authors, then runs `chirp-bench soak`: every follower connects, stays a random while,
# disconnects (half with a close frame, half with a TCP reset), comes back after a random
# pause and resumes with `since`, while the authors tweet at a steady rate. Reports chirpd's
# RSS and open descriptors and Redis's pub/sub subscriptions (PUBSUB NUMPAT/CHANNELS, CLIENT
# LIST) before, at the start, at the end and after every client left, and the tweets
# delivered, missed and duplicated. Everything it starts is stopped by PID on the way out.
#
# Usage: scripts/soak.sh [--seconds 300] [--clients 1000] [--rate 5] [--authors 4]
#                        [--stay-min 2] [--stay-max 20] [--away-max 3] [--no-build] [--keep]
#   --seconds   how long the churn and the tweets go on (then up to 20 s to settle)
#   --clients   followers (each a WebSocket subscribed to its timeline)
#   --rate      tweets per second (round robin over the authors)
#   --stay-min/--stay-max  seconds a follower stays connected (uniform)
#   --away-max  seconds a follower stays away before it reconnects (uniform from 0)
#   --no-build  use the binaries already in build-bench/
#   --keep      keep the temp dir with the server logs
# Results: soak-results/<time>-<commit>/soak.{json,txt} and the server logs.
# Environment: CHIRP_BENCH_BUILD (build-bench), CHIRP_BENCH_JOBS (2).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,23s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

SECONDS_RUN=300
CLIENTS=1000
RATE=5
AUTHORS=4
STAY_MIN=2
STAY_MAX=20
AWAY_MAX=3
BUILD_IT=1
KEEP=
while (($#)); do
    case $1 in
        --seconds) SECONDS_RUN=$2; shift ;;
        --clients) CLIENTS=$2; shift ;;
        --rate) RATE=$2; shift ;;
        --authors) AUTHORS=$2; shift ;;
        --stay-min) STAY_MIN=$2; shift ;;
        --stay-max) STAY_MAX=$2; shift ;;
        --away-max) AWAY_MAX=$2; shift ;;
        --no-build) BUILD_IT= ;;
        --keep) KEEP=1 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; chirp_die 2 "unknown argument: $1" ;;
    esac
    shift
done
for v in "$SECONDS_RUN" "$CLIENTS" "$AUTHORS"; do
    [[ $v =~ ^[0-9]+$ && $v -gt 0 ]] || chirp_die 2 "not a positive integer: $v"
done

BUILD=${CHIRP_BENCH_BUILD:-$CHIRP_ROOT/build-bench}
JOBS=${CHIRP_BENCH_JOBS:-2}
CHIRPD=$BUILD/chirpd
BENCH=$BUILD/chirp-bench

chirp_install_packages core
if [[ -n $BUILD_IT ]]; then
    chirp_log "building chirpd and chirp-bench (Release, $BUILD)"
    chirp_cmake_build "$BUILD" "$JOBS" "chirpd chirp-bench" -DCMAKE_BUILD_TYPE=Release -DCHIRP_BUILD_TESTS=OFF
fi
[[ -x $CHIRPD && -x $BENCH ]] || chirp_die "missing $CHIRPD or $BENCH (build first)"

COMMIT=$(git -C "$CHIRP_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
OUT=$CHIRP_ROOT/soak-results/$(date -u +%Y%m%dT%H%M%SZ)-$COMMIT
mkdir -p "$OUT"

TMP=$(mktemp -d /tmp/chirp-soak.XXXXXX)
chmod 755 "$TMP"
PG_PORT=$(chirp_free_port)
REDIS_PORT=$(chirp_free_port "$PG_PORT")
PORT=$(chirp_free_port "$PG_PORT" "$REDIS_PORT")
SECRET=$(head -c 32 /dev/urandom | base64)
DB_URL="postgresql://chirp@127.0.0.1:$PG_PORT/chirp"

CHIRPD_PID=
PG_STARTED=
REDIS_STARTED=
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local rc=$?
    set +e
    trap '' INT TERM
    [[ -n $CHIRPD_PID ]] && chirp_stop_pid "$CHIRPD_PID" 20
    [[ -n $REDIS_STARTED ]] && chirp_redis_stop "$TMP/redis" "$REDIS_PORT"
    [[ -n $PG_STARTED ]] && chirp_pg_stop "$TMP/pg" fast
    cp "$TMP"/*.log "$TMP"/pg-sock/*.log "$TMP"/redis/redis.log "$OUT/" 2>/dev/null
    if [[ -n $KEEP ]]; then chirp_log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n "$(ulimit -Hn)"

chirp_log "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on $REDIS_PORT (in $TMP)"
chirp_pg_init "$TMP/pg" --no-sync
PG_STARTED=1
chirp_pg_start "$TMP/pg" "$TMP/pg-sock" "$PG_PORT" "$TMP/pg-sock/postgresql.log" -c max_connections=200
chirp_pg_ensure_db "$PG_PORT" chirp chirp
REDIS_STARTED=1
chirp_redis_start "$TMP/redis" "$REDIS_PORT"

"$CHIRPD" migrate --database-url "$DB_URL" --redis-url "redis://127.0.0.1:$REDIS_PORT" --jwt-secret "$SECRET" \
    >>"$TMP/seed.log" 2>&1 || chirp_die "chirpd migrate failed (log: $TMP/seed.log)"
PW=soak-password-1
chirp_log "seeding $AUTHORS authors followed by $CLIENTS followers"
"$CHIRPD" seed --database-url "$DB_URL" --seed "users=$((AUTHORS + CLIENTS)),prefix=sk,password=$PW,follow=$AUTHORS:$CLIENTS" \
    >>"$TMP/seed.log" 2>&1 || chirp_die "chirpd seed failed (log: $TMP/seed.log)"

chirp_log "starting chirpd on 127.0.0.1:$PORT"
"$CHIRPD" serve --port "$PORT" --bind 127.0.0.1 --database-url "$DB_URL" \
    --redis-url "redis://127.0.0.1:$REDIS_PORT" --jwt-secret "$SECRET" --fast-password-hash \
    --log-level warn --workers 1 </dev/null >>"$TMP/chirpd.log" 2>&1 &
CHIRPD_PID=$! # one process: the soak counts its descriptors by pid
chirp_wait_http "http://127.0.0.1:$PORT/healthz" 120 "$CHIRPD_PID" ||
    chirp_die "chirpd did not start (log: $TMP/chirpd.log)"

{
    echo "commit: $(git -C "$CHIRP_ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "date: $(date -u +%FT%TZ)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "chirp-bench soak --clients $CLIENTS --rate $RATE --seconds $SECONDS_RUN --authors $AUTHORS" \
        "--stay-min $STAY_MIN --stay-max $STAY_MAX --away-max $AWAY_MAX"
} >"$OUT/run.txt"

chirp_log "soak: $CLIENTS clients, $RATE tweets/s, ${SECONDS_RUN} s (results in $OUT)"
rc=0
"$BENCH" soak --url "http://127.0.0.1:$PORT" --server-pid "$CHIRPD_PID" --redis-port "$REDIS_PORT" \
    --prefix sk --password "$PW" --assume-seeded --jwt-secret "$SECRET" \
    --clients "$CLIENTS" --authors "$AUTHORS" --rate "$RATE" --seconds "$SECONDS_RUN" \
    --stay-min "$STAY_MIN" --stay-max "$STAY_MAX" --away-max "$AWAY_MAX" \
    --json "$OUT/soak.json" --strict 2>&1 | tee "$OUT/soak.txt" || rc=$?
kill -0 "$CHIRPD_PID" 2>/dev/null || { chirp_warn "chirpd died during the soak (log: $OUT/chirpd.log)"; rc=1; }
if ((rc == 0)); then chirp_log "soak passed: $OUT"; else chirp_warn "soak failed (exit $rc): $OUT"; fi
exit "$rc"
