#!/usr/bin/env bash
# scripts/bench/routing.sh — per-process CPU per delivered frame with 1 and 2 chirpd processes
# (issue 12, "Routing by process"; BENCHMARKS.md). Uses the binaries of scripts/bench.sh
# (build-bench/, or --chirpd/--bench to compare another build in the same sitting).
#
# One PostgreSQL (durability defaults) and one Redis on free ports; two independent
# populations (an author with F followers each, seeded before chirpd starts). Run 1: chirpd A
# alone, chirp-bench posts R tweets/s for D s to population a on A. Run 2: chirpd A and B, two
# chirp-bench at once, population a on A and b on B (each process holds only its own
# population's sessions, each tweet's followers are all on the process it was posted to).
# Run 3: A and B, only population a (on A): B holds no recipient, what it spends is the
# per-process cost of the others' traffic (a broadcast reaches it; routing by process does not).
# Servers on CPU 0, clients on CPU 1 (like bench.sh). CPU per frame = the process's CPU time
# over the whole client run (from /proc, connects and warm-up included) / frames delivered to
# its clients (steps + warm-up).
#
# Usage: scripts/bench/routing.sh [--chirpd PATH] [--bench PATH] [--rate R] [--duration D]
#                                 [--followers F] [--label TEXT] [--runs "1 2 3"]
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

CHIRPD=$CHIRP_ROOT/build-bench/chirpd
BENCH=$CHIRP_ROOT/build-bench/chirp-bench
RATE=20
DURATION=20
F=1000
RUNS="1 2 3"
LABEL=$(git -C "$CHIRP_ROOT" rev-parse --short HEAD 2>/dev/null || echo build)
while (($#)); do
    case $1 in
        --chirpd) CHIRPD=$2; shift 2 ;;
        --bench) BENCH=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --followers) F=$2; shift 2 ;;
        --label) LABEL=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) chirp_die 2 "unknown argument $1" ;;
    esac
done
[[ -x $CHIRPD && -x $BENCH ]] || chirp_die 2 "no $CHIRPD or $BENCH (build them with scripts/bench.sh --only smoke, or give --chirpd/--bench)"

TMP=$(mktemp -d /tmp/chirp-routing.XXXXXX)
chmod 755 "$TMP"
PG_PORT=$(chirp_free_port)
REDIS_PORT=$(chirp_free_port "$PG_PORT")
PORT_A=$(chirp_free_port "$PG_PORT" "$REDIS_PORT")
PORT_B=$(chirp_free_port "$PG_PORT" "$REDIS_PORT" "$PORT_A")
SECRET=$(head -c 32 /dev/urandom | base64)
PW=bench-password-1
DB_URL="postgresql://chirp@127.0.0.1:$PG_PORT/chirp"
PIDS=()
# shellcheck disable=SC2317
cleanup() {
    local rc=$? p
    set +e
    for p in "${PIDS[@]}"; do chirp_stop_pid "$p" 20; done
    chirp_redis_stop "$TMP/redis" "$REDIS_PORT"
    chirp_pg_stop "$TMP/pg" fast
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)"

chirp_pg_init "$TMP/pg" --no-sync
chirp_pg_start "$TMP/pg" "$TMP/pg-sock" "$PG_PORT" "$TMP/pg-sock/postgresql.log" -c max_connections=200
chirp_pg_ensure_db "$PG_PORT" chirp chirp
chirp_redis_start "$TMP/redis" "$REDIS_PORT"
"$CHIRPD" migrate --database-url "$DB_URL" >>"$TMP/seed.log" 2>&1
for pop in a b; do
    "$CHIRPD" seed --database-url "$DB_URL" --seed "users=$((F + 1)),prefix=br$pop,password=$PW,follow=1:$F" >>"$TMP/seed.log" 2>&1
done

start() { # start PORT NAME -> pid in $!
    taskset -c 0 "$CHIRPD" serve --port "$1" --bind 127.0.0.1 --database-url "$DB_URL" \
        --redis-url "redis://127.0.0.1:$REDIS_PORT" --jwt-secret "$SECRET" --fast-password-hash \
        --log-level warn </dev/null >>"$TMP/chirpd-$2.log" 2>&1 &
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
client() { # client PORT POP PID
    taskset -c 1 "$BENCH" fanout --url "http://127.0.0.1:$1" --server-pid "$3" --prefix "br$2" \
        --assume-seeded --jwt-secret "$SECRET" --password "$PW" --authors 1 --followers "$F" \
        --rates "$RATE" --duration "$DURATION" --json "$TMP/run-$2.json" >"$TMP/run-$2.txt" 2>&1
}
frames() { # frames JSON: deliveries in the steps plus the warm-up
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(sum(s["received"] for s in j["steps"]) + j.get("warmupTweets",0)*j["followers"])' "$1"
}
HZ=$(getconf CLK_TCK)

printf '%s\n' "routing benchmark ($LABEL): $RATE tweets/s x $F followers per process, $DURATION s"
secs() { python3 -c "print(f'{($2-$1)/$HZ:.2f} s')"; }
for n in $RUNS; do
    start "$PORT_A" A
    pa=$!
    PIDS+=("$pa")
    chirp_wait_http "http://127.0.0.1:$PORT_A/healthz" 60 "$pa" || chirp_die "chirpd A did not start"
    pb=
    if ((n >= 2)); then
        start "$PORT_B" B
        pb=$!
        PIDS+=("$pb")
        chirp_wait_http "http://127.0.0.1:$PORT_B/healthz" 60 "$pb" || chirp_die "chirpd B did not start"
    fi
    sleep 1 # the processes hear each other's hellos
    a0=$(cpu_ticks "$pa")
    [[ -n $pb ]] && b0=$(cpu_ticks "$pb")
    client "$PORT_A" a "$pa" &
    ca=$!
    if ((n == 2)); then
        client "$PORT_B" b "$pb" &
        cb=$!
        wait "$cb" || chirp_warn "client b failed: $(tail -3 "$TMP/run-b.txt")"
    fi
    wait "$ca" || chirp_warn "client a failed: $(tail -3 "$TMP/run-a.txt")"
    a1=$(cpu_ticks "$pa")
    fa=$(frames "$TMP/run-a.json")
    line="run $n ($((n == 1 ? 1 : 2)) processes) A: cpu $(secs "$a0" "$a1") frames $fa us/frame $(python3 -c "print(round(($a1-$a0)/$HZ*1e6/$fa,2))")"
    if ((n == 2)); then
        b1=$(cpu_ticks "$pb")
        fb=$(frames "$TMP/run-b.json")
        line+="  B: cpu $(secs "$b0" "$b1") frames $fb us/frame $(python3 -c "print(round(($b1-$b0)/$HZ*1e6/$fb,2))")"
    elif ((n == 3)); then
        b1=$(cpu_ticks "$pb")
        line+="  B (no clients): cpu $(secs "$b0" "$b1")"
    fi
    printf '%s\n' "$line"
    grep -h "R=$RATE:" "$TMP"/run-*.txt | sed 's/^[0-9:.]* info /    /' || true
    rm -f "$TMP"/run-*
    for p in "$pa" $pb; do chirp_stop_pid "$p" 20; wait "$p" 2>/dev/null || true; done
    PIDS=()
done
