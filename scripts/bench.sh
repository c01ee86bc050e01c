#!/usr/bin/env bash
# scripts/bench.sh — Chirp's benchmark suite (issue 5), one command, everything on 127.0.0.1.
#
# Builds chirpd and chirp-bench (Release, build-bench/), starts a private PostgreSQL 15
# (durability defaults: fsync and synchronous_commit on) and Redis on free ports in a temp
# dir, then chirpd pinned to CPU 0 and, for the machine's ceiling, `chirp-bench relay` (also
# CPU 0, never at the same time as a chirpd measurement); chirp-bench runs on CPU 1. Runs the
# scenarios, prints one summary table and draws latency-vs-load charts (gnuplot, SVG) next
# to the JSON in bench-results/<time>-<commit>/ (and bench-results/latest). Each scenario
# stops by itself; every server is stopped on the way out.
#
# Usage: scripts/bench.sh [--quick] [--only "idle fanout celebrity notify storm drafts wrk append
#                         smoke scale"] [--no-build] [--keep] [--no-relay] [--rt] [--ladder LIST]
#                         [--duration S] [--workers N] [--redis-shards N] [--scale-workers LIST]
#   --quick     short run (5 s steps, smaller N): a few minutes instead of ~20
#   --only      run these scenarios only (default: all but smoke and scale)
#   --workers   chirpd serving processes (`chirpd --workers N`) for every scenario but scale;
#               chirpd then runs on CPUs 0..N-1 instead of CPU 0 (default 1)
#   --redis-shards  start N Redis servers and give chirpd their URLs as one comma-separated
#               --redis-url list (needs a chirpd whose --redis-url takes a list; default 1)
#   --scale-workers  worker counts of the scale scenario (default 1,2 and the CPU count if more)
#   scale       the fan-out ladder once per worker count (CPUs 0..N-1 for chirpd, the client
#               on CPU 1 as always, so from 2 workers on it shares a core with the server),
#               next to the relay's ladder: capacity per worker count in the summary
#   --ladder    the fan-out ladder: comma-separated tweets/s, ascending, for chirpd and the relay
#               alike (e.g. 40,50,60,70,80,90,100,110,120 to resolve capacity to 10 tweets/s;
#               default 10,25,50,75,100,150,200,300,500, quick 10,50,100,200)
#   --duration  seconds per step of the fanout, celebrity and notify ladders (default 20, quick 5)
#   --no-build  use the binaries already in build-bench/
#   --keep      keep the temp dir with the server logs
#   --no-relay  skip the relay (ceiling) runs
#   --rt        run everything (servers and clients) at real-time priority (SCHED_FIFO 5, root):
#               other work on the machine (compilers) can then no longer delay the measured
#               processes; the kernel still keeps 5 % of each second for everything else
# Environment: CHIRP_BENCH_DRAFTS (drafts of the drafts scenario: 100, quick 20),
#              CHIRP_BENCH_BUILD (build-bench), CHIRP_BENCH_JOBS (2), CHIRP_BENCH_OUT
#              (bench-results), CHIRP_BENCH_CPU_SERVER (0), CHIRP_BENCH_CPU_CLIENT (1),
#              CHIRP_BENCH_CHIRPD_ARGS (extra arguments appended to `chirpd serve`'s command
#              line, split on white space, e.g. "--log-level info"; recorded in machine.txt).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The comment block at the top of this file, up to its first line of code.
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

QUICK=
ONLY="idle fanout celebrity notify storm drafts wrk append"
BUILD_IT=1
KEEP=
RELAY=1
RT=
LADDER_ARG=
DURATION_ARG=
WORKERS=1
REDIS_SHARDS=1
SCALE_WORKERS=
ARGS=("$@")
while (($#)); do
    case $1 in
        --quick) QUICK=1 ;;
        --only) ONLY=$2; shift ;;
        --no-build) BUILD_IT= ;;
        --keep) KEEP=1 ;;
        --no-relay) RELAY= ;;
        --rt) RT=1 ;;
        --ladder) LADDER_ARG=${2-}; shift ;;
        --duration) DURATION_ARG=${2-}; shift ;;
        --workers) WORKERS=${2-}; shift ;;
        --redis-shards) REDIS_SHARDS=${2-}; shift ;;
        --scale-workers) SCALE_WORKERS=${2-}; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; chirp_die 2 "unknown argument: $1" ;;
    esac
    shift
done
want() { [[ " $ONLY " == *" $1 "* ]]; }
NUM='[0-9]+([.][0-9]+)?'
[[ -z $LADDER_ARG || $LADDER_ARG =~ ^$NUM(,$NUM)*$ ]] ||
    chirp_die 2 "--ladder takes comma-separated tweets/s, e.g. 40,50,60 (got '$LADDER_ARG')"
[[ -z $DURATION_ARG || ($DURATION_ARG =~ ^$NUM$ && ! $DURATION_ARG =~ ^0+([.]0+)?$) ]] ||
    chirp_die 2 "--duration takes a positive number of seconds (got '$DURATION_ARG')"
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || chirp_die 2 "--workers takes a positive count (got '$WORKERS')"
[[ $REDIS_SHARDS =~ ^[1-9][0-9]*$ ]] || chirp_die 2 "--redis-shards takes a positive count (got '$REDIS_SHARDS')"
[[ -z $SCALE_WORKERS || $SCALE_WORKERS =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
    chirp_die 2 "--scale-workers takes comma-separated counts, e.g. 1,2,4 (got '$SCALE_WORKERS')"
if [[ -z $SCALE_WORKERS ]]; then
    SCALE_WORKERS=1,2
    (($(nproc) > 2)) && SCALE_WORKERS=1,2,$(nproc)
fi
# Extra arguments for `chirpd serve`, split on white space.
read -r -a CHIRPD_EXTRA <<<"${CHIRP_BENCH_CHIRPD_ARGS:-}"

BUILD=${CHIRP_BENCH_BUILD:-$CHIRP_ROOT/build-bench}
JOBS=${CHIRP_BENCH_JOBS:-2}
CPU_SERVER=${CHIRP_BENCH_CPU_SERVER:-0}
CPU_CLIENT=${CHIRP_BENCH_CPU_CLIENT:-1}
CHIRPD=$BUILD/chirpd
BENCH=$BUILD/chirp-bench

chirp_install_packages core bench
if [[ -n $BUILD_IT ]]; then
    chirp_log "building chirpd and chirp-bench (Release, $BUILD)"
    chirp_cmake_build "$BUILD" "$JOBS" "chirpd chirp-bench" -DCMAKE_BUILD_TYPE=Release -DCHIRP_BUILD_TESTS=OFF
fi
[[ -x $CHIRPD && -x $BENCH ]] || chirp_die "missing $CHIRPD or $BENCH (build first)"
# --rt: start over under SCHED_FIFO (after the build, which stays at normal priority); every
# process started from here on inherits it.
if [[ -n $RT && -z ${CHIRP_BENCH_RT_ACTIVE:-} ]]; then
    command -v chrt >/dev/null 2>&1 || chirp_die 2 "--rt needs chrt (util-linux)"
    chrt -f 5 true 2>/dev/null || chirp_die 2 "--rt: not allowed to use SCHED_FIFO here (run as root)"
    export CHIRP_BENCH_RT_ACTIVE=1
    exec chrt -f 5 "${BASH_SOURCE[0]}" "${ARGS[@]}" --no-build
fi
"$BENCH" selftest >/dev/null || chirp_die "chirp-bench selftest failed"
if ((REDIS_SHARDS > 1)) && ! "$CHIRPD" --help 2>&1 | grep -qi 'comma-separated.*redis\|redis.*comma-separated'; then
    chirp_die 2 "--redis-shards $REDIS_SHARDS: this chirpd takes a single --redis-url (no Redis sharding in this build)"
fi
# A chirpd from before --workers (an older commit measured side by side) is one process.
CHIRPD_HAS_WORKERS=0
"$CHIRPD" --help 2>&1 | grep -q -- '--workers' && CHIRPD_HAS_WORKERS=1
if ((WORKERS > 1)) || want scale; then
    ((CHIRPD_HAS_WORKERS)) || chirp_die 2 "this chirpd has no --workers"
fi

COMMIT=$(git -C "$CHIRP_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
OUT_ROOT=${CHIRP_BENCH_OUT:-$CHIRP_ROOT/bench-results}
OUT=$OUT_ROOT/$(date -u +%Y%m%dT%H%M%SZ)-$COMMIT${QUICK:+-quick}
mkdir -p "$OUT"
ln -sfn "$(basename "$OUT")" "$OUT_ROOT/latest"

TMP=$(mktemp -d /tmp/chirp-bench.XXXXXX)
chmod 755 "$TMP"
PG_PORT=$(chirp_free_port)
REDIS_PORT=$(chirp_free_port "$PG_PORT")
PORT=$(chirp_free_port "$PG_PORT" "$REDIS_PORT")
RELAY_PORT=$(chirp_free_port "$PG_PORT" "$REDIS_PORT" "$PORT")
# --redis-shards: the first Redis is REDIS_PORT (seeding, bench-append use it), the others follow.
REDIS_PORTS=("$REDIS_PORT")
while ((${#REDIS_PORTS[@]} < REDIS_SHARDS)); do
    REDIS_PORTS+=("$(chirp_free_port "$PG_PORT" "$PORT" "$RELAY_PORT" "${REDIS_PORTS[@]}")")
done
REDIS_URL=
for p in "${REDIS_PORTS[@]}"; do REDIS_URL+=${REDIS_URL:+,}redis://127.0.0.1:$p; done
SECRET=$(head -c 32 /dev/urandom | base64)
DB_URL="postgresql://chirp@127.0.0.1:$PG_PORT/chirp"

CHIRPD_PID=
RELAY_PID=
PG_STARTED=
REDIS_STARTED=
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local rc=$?
    set +e
    trap '' INT TERM
    [[ -n $RELAY_PID ]] && chirp_stop_pid "$RELAY_PID" 10
    [[ -n $CHIRPD_PID ]] && chirp_stop_pid "$CHIRPD_PID" 20
    if [[ -n $REDIS_STARTED ]]; then
        chirp_redis_stop "$TMP/redis" "$REDIS_PORT"
        for ((i = 1; i < ${#REDIS_PORTS[@]}; i++)); do chirp_redis_stop "$TMP/redis$i" "${REDIS_PORTS[$i]}"; done
    fi
    [[ -n $PG_STARTED ]] && chirp_pg_stop "$TMP/pg" fast
    cp "$TMP"/*.log "$TMP"/pg-sock/*.log "$TMP"/redis/redis.log "$OUT/" 2>/dev/null
    if [[ -n $KEEP ]]; then chirp_log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 20,000 sockets need more descriptors than the default soft limit; the hard limit is the
# ceiling (raising it needs CAP_SYS_RESOURCE, which a container may not have).
ulimit -n "$(ulimit -Hn)"
FD_LIMIT=$(ulimit -n)

chirp_log "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on $REDIS_PORT (in $TMP)"
chirp_pg_init "$TMP/pg" --no-sync
PG_STARTED=1
chirp_pg_start "$TMP/pg" "$TMP/pg-sock" "$PG_PORT" "$TMP/pg-sock/postgresql.log" -c max_connections=200
chirp_pg_ensure_db "$PG_PORT" chirp chirp
REDIS_STARTED=1
chirp_redis_start "$TMP/redis" "$REDIS_PORT"
for ((i = 1; i < ${#REDIS_PORTS[@]}; i++)); do chirp_redis_start "$TMP/redis$i" "${REDIS_PORTS[$i]}"; done
((REDIS_SHARDS > 1)) && chirp_log "Redis shards: $REDIS_URL"

# chirpd's processes and CPUs: --workers N for every scenario (the scale scenario sets its
# own); N workers run on CPUs CPU_SERVER..CPU_SERVER+N-1 (wrapping at the CPU count).
server_cpus() {
    local n=$1 ncpu i list=
    ncpu=$(nproc)
    ((n > ncpu)) && n=$ncpu
    for ((i = 0; i < n; i++)); do list+=${list:+,}$(((CPU_SERVER + i) % ncpu)); done
    echo "$list"
}
CHIRPD_WORKERS=$WORKERS

start_chirpd() {
    local cpus
    cpus=$(server_cpus "$CHIRPD_WORKERS")
    chirp_log "starting chirpd on 127.0.0.1:$PORT ($CHIRPD_WORKERS worker(s), CPU $cpus)${CHIRPD_EXTRA[*]:+ with ${CHIRPD_EXTRA[*]}}"
    local workers=()
    ((CHIRPD_HAS_WORKERS)) && workers=(--workers "$CHIRPD_WORKERS")
    taskset -c "$cpus" "$CHIRPD" serve --port "$PORT" --bind 127.0.0.1 \
        --database-url "$DB_URL" --redis-url "$REDIS_URL" "${workers[@]}" \
        --jwt-secret "$SECRET" --fast-password-hash --log-level warn "${CHIRPD_EXTRA[@]}" \
        </dev/null >>"$TMP/chirpd.log" 2>&1 &
    CHIRPD_PID=$!
    chirp_wait_http "http://127.0.0.1:$PORT/healthz" 120 "$CHIRPD_PID" ||
        chirp_die "chirpd did not start (log: $TMP/chirpd.log)"
}
stop_chirpd() {
    [[ -n $CHIRPD_PID ]] || return 0
    chirp_stop_pid "$CHIRPD_PID" 20
    wait "$CHIRPD_PID" 2>/dev/null || true
    CHIRPD_PID=
}
start_relay() {
    chirp_log "starting the relay on 127.0.0.1:$RELAY_PORT (CPU $CPU_SERVER)"
    taskset -c "$CPU_SERVER" "$BENCH" relay --port "$RELAY_PORT" </dev/null >>"$TMP/relay.log" 2>&1 &
    RELAY_PID=$!
    chirp_wait_http "http://127.0.0.1:$RELAY_PORT/healthz" 20 "$RELAY_PID" || chirp_die "relay did not start"
}
stop_relay() {
    [[ -n $RELAY_PID ]] || return 0
    chirp_stop_pid "$RELAY_PID" 10
    wait "$RELAY_PID" 2>/dev/null || true
    RELAY_PID=
}

# One scenario against chirpd: bench NAME SUBCOMMAND PREFIX [options...]
bench() {
    local name=$1 sub=$2 prefix=$3
    shift 3
    # A fresh chirpd per scenario: a backlog left by an overloaded step must not leak into the
    # next scenario (the database and Redis keep their data).
    stop_chirpd
    start_chirpd
    chirp_log "scenario $name (chirp-bench $sub $*)"
    printf '%s\n' "taskset -c $CPU_CLIENT chirp-bench $sub --url http://127.0.0.1:$PORT --prefix $prefix $*" >>"$OUT/commands.txt"
    taskset -c "$CPU_CLIENT" "$BENCH" "$sub" --url "http://127.0.0.1:$PORT" --server-pid "$CHIRPD_PID" \
        --prefix "$prefix" --assume-seeded --jwt-secret "$SECRET" \
        --token-cache "$TMP/tokens-$prefix" --json "$OUT/$name.json" --dat "$OUT/$name.dat" "$@" \
        2>&1 | tee "$OUT/$name.txt" || chirp_warn "scenario $name failed"
    if ! kill -0 "$CHIRPD_PID" 2>/dev/null; then
        chirp_warn "chirpd died during scenario $name (log: chirpd.log): restarting it"
        echo "chirpd died during $name" >>"$OUT/crashes.txt"
        wait "$CHIRPD_PID" 2>/dev/null || true
        start_chirpd
    fi
}
# The same client against the relay.
bench_relay() {
    local name=$1 sub=$2
    shift 2
    chirp_log "scenario $name against the relay"
    printf '%s\n' "taskset -c $CPU_CLIENT chirp-bench $sub --relay --url http://127.0.0.1:$RELAY_PORT $*" >>"$OUT/commands.txt"
    taskset -c "$CPU_CLIENT" "$BENCH" "$sub" --relay --url "http://127.0.0.1:$RELAY_PORT" \
        --server-pid "$RELAY_PID" --json "$OUT/$name-relay.json" --dat "$OUT/$name-relay.dat" "$@" \
        2>&1 | tee "$OUT/$name-relay.txt" || chirp_warn "scenario $name against the relay failed"
}

# --- parameters: the issue's, or a short version
if [[ -n $QUICK ]]; then
    IDLE_N=1000,5000
    LADDER=10,50,100,200
    DURATION=5
    CELEB_F=10000
    NOTIFY_RATES=1000,5000
    STORM_N=5000
    WRK_SECONDS=5
    DRAFTS_N=20
    DRAFTS_SECONDS=5
else
    IDLE_N=1000,10000,20000
    LADDER=10,25,50,75,100,150,200,300,500
    DURATION=20
    CELEB_F=10000
    NOTIFY_RATES=1000,5000
    STORM_N=10000
    WRK_SECONDS=15
    DRAFTS_N=100
    DRAFTS_SECONDS=20
fi
[[ -n ${CHIRP_BENCH_DRAFTS:-} ]] && DRAFTS_N=$CHIRP_BENCH_DRAFTS
[[ -n $LADDER_ARG ]] && LADDER=$LADDER_ARG
[[ -n $DURATION_ARG ]] && DURATION=$DURATION_ARG
# Each process can hold at most FD_LIMIT descriptors: chirpd needs a few dozen besides its
# sockets, so the largest idle step is clamped to fit (reported in BENCHMARKS.md).
IDLE_N=$(awk -v list="$IDLE_N" -v lim="$FD_LIMIT" 'BEGIN { n = split(list, a, ","); s = "";
    for (i = 1; i <= n; i++) { v = a[i]; if (v > lim - 100) v = lim - 100; s = s (i > 1 ? "," : "") v } print s }')

{
    echo "commit: $(git -C "$CHIRP_ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "date: $(date -u +%FT%TZ)"
    echo "mode: $([[ -n $QUICK ]] && echo quick || echo full)"
    echo "fd limit: $FD_LIMIT"
    echo "fan-out ladder: $LADDER tweets/s, $DURATION s per step"
    echo "chirpd serve extra arguments: ${CHIRPD_EXTRA[*]:-none}"
    echo "chirpd workers: $WORKERS (scale scenario: $SCALE_WORKERS), Redis servers: $REDIS_SHARDS"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "scheduling: $(if [[ -n ${CHIRP_BENCH_RT_ACTIVE:-} ]]; then echo 'SCHED_FIFO 5 (--rt)'; else echo normal; fi)"
    lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|L2|L3)' || true
    uname -r
} >"$OUT/machine.txt"

# --- the relay first (the machine's ceiling), then chirpd with the same ladders
if [[ -n $RELAY ]] && { want idle || want fanout || want celebrity || want scale; }; then
    start_relay
    want idle && bench_relay idle idle --connections "$IDLE_N"
    { want fanout || want scale; } && bench_relay fanout fanout --authors 10 --followers 1000 --rates "$LADDER" --duration "$DURATION"
    want celebrity && bench_relay celebrity celebrity --followers "$CELEB_F" --rates 5,10 --duration "$DURATION"
    stop_relay
fi

# --- users and follow graphs, seeded before chirpd starts: chirpd caches follower lists, so
# follows written behind a running chirpd's back would not be seen by its live fan-out.
IDLE_MAX=$(tr ',' '\n' <<<"$IDLE_N" | sort -n | tail -n 1)
LIKERS=$(awk -v d="$DURATION" -v r="$NOTIFY_RATES" 'BEGIN { n = split(r, a, ","); s = 0;
    for (i = 1; i <= n; i++) s += a[i] * d; print int((s + 99) / 100) }')
seed() {
    chirp_log "seeding $1"
    echo "chirpd seed --database-url $DB_URL --seed '$1'" >>"$OUT/commands.txt"
    local t0=$SECONDS
    "$CHIRPD" seed --database-url "$DB_URL" --seed "$1" >>"$TMP/seed.log" 2>&1 ||
        chirp_die "chirpd seed failed (log: $TMP/seed.log)"
    echo "seed $1: $((SECONDS - t0)) s" >>"$OUT/setup-times.txt"
}
"$CHIRPD" migrate --database-url "$DB_URL" --redis-url "redis://127.0.0.1:$REDIS_PORT" --jwt-secret "$SECRET" \
    >>"$TMP/seed.log" 2>&1 || chirp_die "chirpd migrate failed (log: $TMP/seed.log)"
PW=bench-password-1
want smoke && seed "users=50,prefix=bsm,password=$PW,follow=2:48"
want idle && seed "users=$IDLE_MAX,prefix=bi,password=$PW"
{ want fanout || want wrk || want scale; } && seed "users=1010,prefix=bf,password=$PW,follow=10:1000"
{ want celebrity || want storm; } && seed "users=$((CELEB_F + 1)),prefix=bc,password=$PW,follow=1:$CELEB_F"
want notify && seed "users=$((10 + LIKERS)),prefix=bn,password=$PW"
# drafts: 5 distinct editors per draft (the owner and 4 invited collaborators)
want drafts && seed "users=$((DRAFTS_N * 5)),prefix=bd,password=$PW"

want smoke && bench smoke smoke bsm --users 50 --tweets 5
want idle && bench idle idle bi --connections "$IDLE_N"
want fanout && bench fanout fanout bf --authors 10 --followers 1000 --rates "$LADDER" --duration "$DURATION"
want celebrity && bench celebrity celebrity bc --followers "$CELEB_F" --rates 5,10 --duration "$DURATION"
want notify && bench notify notify bn --rates "$NOTIFY_RATES" --duration "$DURATION" --likers "$LIKERS"
if want scale; then
    # The same ladder with 1, 2 (and more) workers; the summary prints capacity per count.
    for w in ${SCALE_WORKERS//,/ }; do
        CHIRPD_WORKERS=$w
        bench "scale-w$w" fanout bf --authors 10 --followers 1000 --rates "$LADDER" --duration "$DURATION"
    done
    stop_chirpd
    CHIRPD_WORKERS=$WORKERS
fi
want drafts && bench drafts drafts bd --drafts "$DRAFTS_N" --editors 5 --keystrokes 5 --duration "$DRAFTS_SECONDS"
want storm && bench storm storm bc --clients "$((STORM_N < CELEB_F ? STORM_N : CELEB_F))" --rate 5 --before 3 --after 5 --jitter 2

# --- REST reads with wrk: a follower of the fan-out authors (their tweets fill its timeline)
if want wrk; then
    stop_chirpd
    start_chirpd
    # bf10 follows the ten fan-out authors, whose tweets (if fanout ran) fill its timeline.
    # Without fanout, each author posts a few so that a page is a full page of 20 tweets.
    if ! want fanout; then
        for a in 0 1 2 3 4 5 6 7 8 9; do
            t=$(curl -fsS -H 'Content-Type: application/json' -d "{\"handle\":\"bf$a\",\"password\":\"$PW\"}" \
                "http://127.0.0.1:$PORT/api/auth/login" | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p') || t=
            for i in 1 2 3; do
                [[ -n $t ]] && curl -fsS -o /dev/null -H 'Content-Type: application/json' -H "Authorization: Bearer $t" \
                    -d "{\"content\":\"wrk page filler $i from bf$a: about a tweet's length of text #bench\"}" \
                    "http://127.0.0.1:$PORT/api/tweets" || true
            done
        done
    fi
    token=$(curl -fsS -H 'Content-Type: application/json' -d "{\"handle\":\"bf10\",\"password\":\"$PW\"}" \
        "http://127.0.0.1:$PORT/api/auth/login" | sed -n 's/.*"token": *"\([^"]*\)".*/\1/p') || token=
    if [[ -n $token ]]; then
        sed "s|@TOKEN@|$token|" "$CHIRP_ROOT/scripts/bench/timeline.lua" >"$TMP/timeline.lua"
        chirp_log "scenario wrk: GET /api/timeline for ${WRK_SECONDS}s"
        echo "taskset -c $CPU_CLIENT wrk -t1 -c64 -d${WRK_SECONDS}s --latency -s timeline.lua http://127.0.0.1:$PORT/api/timeline" >>"$OUT/commands.txt"
        taskset -c "$CPU_CLIENT" wrk -t1 -c64 -d"${WRK_SECONDS}s" --timeout 5s --latency -s "$TMP/timeline.lua" \
            "http://127.0.0.1:$PORT/api/timeline" | tee "$OUT/wrk-timeline.txt"
        "$CHIRP_ROOT/scripts/bench/wrk2json.sh" <"$OUT/wrk-timeline.txt" >"$OUT/wrk-timeline.json" || true
    else
        chirp_warn "wrk: could not log in as bf10: skipped"
    fi
fi

# --- event append throughput: a hook for `chirpd bench-append` once chirpd has it
stop_chirpd # bench-append runs its own event writer: nothing else on the database
if want append; then
    if "$CHIRPD" --help 2>&1 | grep -q bench-append; then
        chirp_log "scenario append (chirpd bench-append)"
        if [[ -n $QUICK ]]; then append_args=(--bench-events 20000 --bench-rate 1000 --bench-seconds 5)
        else append_args=(--bench-events 50000 --bench-rate 1000 --bench-seconds 10); fi
        echo "taskset -c $CPU_SERVER chirpd bench-append --database-url $DB_URL ${append_args[*]}" >>"$OUT/commands.txt"
        taskset -c "$CPU_SERVER" "$CHIRPD" bench-append --database-url "$DB_URL" \
            --redis-url "redis://127.0.0.1:$REDIS_PORT" --jwt-secret "$SECRET" "${append_args[@]}" \
            2>>"$TMP/append.log" | tee "$OUT/append.json" || chirp_warn "bench-append failed"
        if "$CHIRPD" --help 2>&1 | grep -q bench-type; then
            chirp_log "scenario append, likes (chirpd bench-append --bench-type like)"
            echo "taskset -c $CPU_SERVER chirpd bench-append --database-url $DB_URL ${append_args[*]} --bench-type like" >>"$OUT/commands.txt"
            taskset -c "$CPU_SERVER" "$CHIRPD" bench-append --database-url "$DB_URL" \
                --redis-url "redis://127.0.0.1:$REDIS_PORT" --jwt-secret "$SECRET" "${append_args[@]}" \
                --bench-type like 2>>"$TMP/append.log" | tee "$OUT/append-like.json" ||
                chirp_warn "bench-append --bench-type like failed"
        fi
    else
        chirp_warn "append: this chirpd has no bench-append subcommand: skipped"
    fi
fi

stop_chirpd

# --- summary and charts
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"
"$BENCH" summary --dir "$OUT" | tee "$OUT/summary.txt"
{
    echo "(L: deliveries lost, D: duplicates. Capacity: the highest ladder rate with p99 <= the limit"
    echo " and nothing lost, duplicated or refused; % of relay: chirpd's capacity as a percentage of"
    echo " the relay's in this run. +: passed the top rate run, so capacity is at least that and the"
    echo " percentage a bound (>=, <=; n/a when both passed it): extend the ladder with --ladder.)"
} | tee -a "$OUT/summary.txt"
if command -v gnuplot >/dev/null 2>&1; then
    for name in fanout celebrity; do
        [[ -s $OUT/$name.dat || -s $OUT/$name-relay.dat ]] || continue
        for ext in svg png; do
            gnuplot -e "dir='$OUT'; name='$name'; ext='$ext'" "$CHIRP_ROOT/scripts/bench/latency.gp" \
                2>>"$OUT/gnuplot.log" || chirp_warn "gnuplot failed for $name (see $OUT/gnuplot.log)"
        done
    done
fi
chirp_log "results in $OUT"
