#!/usr/bin/env bash
# scripts/test.sh — build and run every test of Chirp with one command.
#
# Installs the missing Debian packages; builds a Debug build with AddressSanitizer and
# UndefinedBehaviorSanitizer in build-test/ (ccache shared between clones); starts a
# throw-away PostgreSQL 15 and Redis on free ports in a temporary directory; runs CTest,
# the web unit tests, the REST responses of a real chirpd against docs/openapi.yaml (api-spec),
# the browser (e2e) tests against a real chirpd, the chirp-bench smoke run, and validates
# docker-compose.yml. Always stops the servers, prints which stages passed and exits
# non-zero if any failed.
#
# Usage: scripts/test.sh        (CI runs it through .ci/run as root, CI=true, no stdin)
# Environment: CHIRP_TEST_JOBS (2) ninja jobs; CHIRP_TEST_SKIP="web api-spec e2e bench
#              compose" skips stages by name; CHIRP_TEST_CMAKE_ARGS extra CMake arguments;
#              CHIRP_TEST_CTEST_ARGS extra ctest arguments (e.g. "-R realtime_cluster").
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
fi

cd "$CHIRP_ROOT"
BUILD=$CHIRP_ROOT/build-test
LOGS=$BUILD/test-logs
JOBS=${CHIRP_TEST_JOBS:-2}
SKIP=" ${CHIRP_TEST_SKIP:-} "
T_START=$SECONDS

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export CI=${CI:-}

# ---------------------------------------------------------------------------- stages

STAGE_NAMES=()
STAGE_RESULTS=()
STAGE_TIMES=()
STAGE_RC=0 # exit code of the last run_stage
CTEST_LINE=

record() {
    STAGE_NAMES+=("$1")
    STAGE_RESULTS+=("$2")
    STAGE_TIMES+=("$3")
}

# run_stage NAME COMMAND... — runs COMMAND in a subshell with errexit and records PASS or
# FAIL; never fails itself (so callers are not a "condition" that would disable errexit).
run_stage() {
    local name=$1 t0=$SECONDS
    shift
    printf '\n%s=== %s%s\n' "$CHIRP_C_BOLD" "$name" "$CHIRP_C_OFF" >&2
    set +e
    (
        set -euo pipefail
        "$@"
    )
    STAGE_RC=$?
    set -e
    if ((STAGE_RC == 0)); then
        record "$name" PASS $((SECONDS - t0))
    else
        record "$name" "FAIL (exit $STAGE_RC)" $((SECONDS - t0))
    fi
}

skip_stage() { record "$1" "skipped: $2" 0; }

skipped_by_user() { [[ $SKIP == *" $1 "* ]]; }

print_summary() {
    local i failed=0
    printf '\n%s%-12s %-36s %6s%s\n' "$CHIRP_C_BOLD" stage result time "$CHIRP_C_OFF" >&2
    for i in "${!STAGE_NAMES[@]}"; do
        printf '%-12s %-36s %5ss\n' "${STAGE_NAMES[$i]}" "${STAGE_RESULTS[$i]}" "${STAGE_TIMES[$i]}" >&2
        [[ ${STAGE_RESULTS[$i]} == FAIL* ]] && failed=$((failed + 1))
    done
    printf '%-12s %-36s %5ss\n' total "" $((SECONDS - T_START)) >&2
    if ((failed > 0)); then
        printf '\n%s%d stage(s) failed%s (logs: %s)\n' "$CHIRP_C_RED" "$failed" "$CHIRP_C_OFF" "$LOGS" >&2
    else
        printf '\n%sall stages passed%s\n' "$CHIRP_C_GREEN" "$CHIRP_C_OFF" >&2
    fi
    [[ -n $CTEST_LINE ]] && printf '%s\n' "$CTEST_LINE"
    return "$failed"
}

# ---------------------------------------------------------------------------- servers

TMP=
SERVERS=
PG_PORT=
REDIS_PORT=

# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local rc=$? pidfile
    set +e
    trap '' INT TERM
    if [[ $SERVERS == starting ]]; then
        record servers "FAIL (exit $rc)" 0
    fi
    if [[ -n $TMP && -d $TMP ]]; then
        for pidfile in "$TMP"/*/chirpd.pid; do
            [[ -f $pidfile ]] && chirp_stop_pid "$(<"$pidfile")" 10
        done
        [[ -n $REDIS_PORT ]] && chirp_redis_stop "$TMP/redis" "$REDIS_PORT"
        chirp_pg_stop "$TMP/pg" immediate || true
        mkdir -p "$LOGS"
        cp "$TMP/pg-run/postgresql.log" "$LOGS/postgresql.log" 2>/dev/null
        cp "$TMP/redis/redis.log" "$LOGS/redis.log" 2>/dev/null
        rm -rf "$TMP"
    fi
    if ((${#STAGE_NAMES[@]} > 0)); then
        print_summary || rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_servers() {
    local base=${TMPDIR:-/tmp}
    if [[ $EUID -eq 0 ]] && ! runuser -u postgres -- test -x "$base" 2>/dev/null; then
        base=/tmp
    fi
    TMP=$(mktemp -d "$base/chirp-test.XXXXXX")
    chmod 755 "$TMP"
    PG_PORT=$(chirp_free_port)
    REDIS_PORT=$(chirp_free_port "$PG_PORT")

    chirp_pg_init "$TMP/pg" --no-sync
    chirp_pg_start "$TMP/pg" "$TMP/pg-run" "$PG_PORT" "$TMP/pg-run/postgresql.log" \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200
    chirp_pg_ensure_db "$PG_PORT" chirp chirp_test
    chirp_redis_start "$TMP/redis" "$REDIS_PORT"

    local -a redis_cmd
    mapfile -t redis_cmd < <(chirp_redis_cmd "$TMP/redis" "$REDIS_PORT")
    local pg_ctl pg_opts="-p $PG_PORT -k $TMP/pg-run -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=200"
    pg_ctl=$(printf '%q ' "$PGBIN/pg_ctl" -D "$TMP/pg")
    [[ $EUID -eq 0 ]] && pg_ctl="runuser -u postgres -- $pg_ctl"

    export CHIRP_TEST_DATABASE_URL="postgresql://chirp@127.0.0.1:$PG_PORT/chirp_test"
    export CHIRP_TEST_ADMIN_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
    export CHIRP_TEST_PG_PORT=$PG_PORT
    export CHIRP_TEST_PG_STOP_CMD="$pg_ctl -m fast -w stop"
    CHIRP_TEST_PG_START_CMD="$pg_ctl -l $(printf '%q' "$TMP/pg-run/postgresql.log") -w -o $(printf '%q' "$pg_opts") start"
    export CHIRP_TEST_PG_START_CMD
    export CHIRP_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    export CHIRP_TEST_REDIS_PORT=$REDIS_PORT
    export CHIRP_TEST_REDIS_DIR=$TMP/redis
    CHIRP_TEST_REDIS_CMD=$(printf '%q ' "${redis_cmd[@]}")
    export CHIRP_TEST_REDIS_CMD=${CHIRP_TEST_REDIS_CMD% }
    export CHIRP_TEST_CHIRPD=$BUILD/chirpd
    # Scratch space and logs of the integration tests: kept after the run, beside the others.
    export CHIRP_TEST_TMPDIR=$LOGS/tmp
    rm -rf "$CHIRP_TEST_TMPDIR"
    mkdir -p "$CHIRP_TEST_TMPDIR"
    chirp_log "PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT ($TMP)"
}

# chirpd_ctl_create NAME [chirpd flags...] — a fresh database chirp_NAME, a free port, and an
# executable $TMP/NAME/ctl {start|stop|restart} that runs build-test/chirpd against the
# throw-away servers (log in $LOGS/chirpd-NAME.log). Prints the port. One process (--workers
# 1, overridable in the flags): these stages check the API of a process, and some of its limits
# are per process (api-spec's login throttle); integration.workers_test covers --workers N.
chirpd_ctl_create() {
    local name=$1 port db=chirp_$1
    shift
    port=$(chirp_free_port "$PG_PORT" "$REDIS_PORT")
    mkdir -p "$TMP/$name" "$LOGS"
    : >"$LOGS/chirpd-$name.log"
    chirp_psql "$PG_PORT" postgres "DROP DATABASE IF EXISTS $db"
    chirp_pg_ensure_db "$PG_PORT" chirp "$db"
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" flushall >/dev/null
    local -a cmd=("$BUILD/chirpd" --port "$port" --bind 127.0.0.1
        --database-url "postgresql://chirp@127.0.0.1:$PG_PORT/$db"
        --redis-url "redis://127.0.0.1:$REDIS_PORT" --workers 1 "$@")
    {
        printf '#!/usr/bin/env bash\n'
        printf '# Controls the chirpd of test stage %s: start | stop | restart\n' "$name"
        printf 'set -euo pipefail\n'
        printf 'pidfile=%q\nlog=%q\nurl=%q\n' "$TMP/$name/chirpd.pid" "$LOGS/chirpd-$name.log" \
            "http://127.0.0.1:$port/healthz"
        printf 'cmd=(%s)\n' "$(printf '%q ' "${cmd[@]}")"
        cat <<'CTL'
start() {
    "${cmd[@]}" </dev/null >>"$log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 600); do
        curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
        kill -0 "$(<"$pidfile")" 2>/dev/null || { echo "chirpd exited; see $log" >&2; return 1; }
        sleep 0.1
    done
    echo "chirpd did not answer $url; see $log" >&2
    return 1
}
stop() {
    [[ -f $pidfile ]] || return 0
    local pid
    pid=$(<"$pidfile")
    if kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}
case ${1:-} in
    start) start ;;
    stop) stop ;;
    restart) stop; start ;;
    *) echo "usage: $0 start|stop|restart" >&2; exit 2 ;;
esac
CTL
    } >"$TMP/$name/ctl"
    chmod +x "$TMP/$name/ctl"
    printf '%s\n' "$port"
}

# ---------------------------------------------------------------------------- stage bodies

stage_compose() {
    docker-compose -f docker-compose.yml config -q
    # The `cluster` profile (nginx, three chirpd, three Redis): its services and the nginx
    # configuration it mounts, with the WebSocket upgrade headers a load balancer must pass.
    local services
    services=$(docker-compose -f docker-compose.yml --profile cluster config --services)
    local s
    for s in lb chirpd-1 chirpd-2 chirpd-3 redis-1 redis-2 redis-3 postgres; do
        grep -qx "$s" <<<"$services" || { echo "profile cluster lacks service $s" >&2; return 1; }
    done
    grep -q 'proxy_set_header Upgrade \$http_upgrade' deploy/nginx-cluster.conf &&
        grep -q 'proxy_set_header Connection \$connection_upgrade' deploy/nginx-cluster.conf ||
        { echo "deploy/nginx-cluster.conf does not pass the WebSocket upgrade" >&2; return 1; }
}

stage_build() {
    chirp_log "building (Debug, ASan+UBSan, -Werror) in build-test/ with $JOBS jobs"
    local -a extra=()
    read -r -a extra <<<"${CHIRP_TEST_CMAKE_ARGS:-}"
    # -Wno-mismatched-new-delete: GCC wrongly flags the operator new/delete pair of Asio's
    # awaitable frames once -fsanitize changes inlining (a false positive, GCC PR 109224);
    # with -Werror it would fail the build.
    chirp_cmake_build "$BUILD" "$JOBS" "" -DCMAKE_BUILD_TYPE=Debug -DCHIRP_SANITIZE=ON -DCHIRP_WERROR=ON \
        -DCMAKE_CXX_FLAGS=-Wno-mismatched-new-delete "${extra[@]}"
    ccache -s 2>/dev/null | grep -iE '^(cache(able)? ?)?(hits|misses)|hit rate|Hits|Misses' | head -n 4 >&2 || true
}

stage_ctest() {
    local out=$LOGS/ctest.log rc
    mkdir -p "$LOGS"
    set +e
    local -a extra_ctest=()
    read -r -a extra_ctest <<<"${CHIRP_TEST_CTEST_ARGS:-}"
    ctest --test-dir "$BUILD" --output-on-failure --timeout 600 --no-tests=error "${extra_ctest[@]}" 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

stage_web_unit() {
    chirp_web_deps
    (cd web && timeout 900 npm test)
    check_collab_fixture
}

# The fixture of the C++ differential test of collab/changeset must be what the pinned
# @codemirror/state and @codemirror/collab compute: regenerated here, it must not differ.
check_collab_fixture() {
    local fixture=$CHIRP_ROOT/tests/unit/data/changeset_diff.json out rc=0
    [[ -f web/collab-diff/generate.mjs ]] || return 0
    out=$(mktemp)
    (cd web && timeout 300 node collab-diff/generate.mjs "$out") || rc=$?
    if ((rc == 0)) && ! cmp -s "$out" "$fixture"; then
        chirp_warn "tests/unit/data/changeset_diff.json differs from what web/collab-diff/generate.mjs" \
            "computes now (regenerate: cd web && npm run collab-fixture, then run the unit tests)"
        diff "$fixture" "$out" | head -n 6 | cut -c1-300 >&2 || true
        rc=1
    fi
    rm -f "$out"
    return "$rc"
}

# show_chirpd_log NAME — the end of a stage's chirpd log, after a failure.
show_chirpd_log() {
    local log=$LOGS/chirpd-$1.log
    [[ -s $log ]] || return 0
    printf '\n--- last 60 lines of %s\n' "$log" >&2
    tail -n 60 "$log" | cut -c1-400 >&2
}

stage_web_e2e() {
    local port rc=0
    chirp_web_deps
    (cd web && npm run build)
    port=$(chirpd_ctl_create e2e --web-root "$CHIRP_ROOT/web/dist" --dev --fast-password-hash)
    "$TMP/e2e/ctl" start || { show_chirpd_log e2e; return 1; }
    chirp_log "e2e against chirpd on http://127.0.0.1:$port"
    (cd web && CHIRP_URL="http://127.0.0.1:$port" CHIRP_E2E_CHIRPD_CTL="$TMP/e2e/ctl" \
        timeout 1200 npm run e2e) || rc=$?
    "$TMP/e2e/ctl" stop
    ((rc == 0)) || show_chirpd_log e2e
    return "$rc"
}

# Every REST operation of a fresh chirpd (real PostgreSQL and Redis), each response
# validated against docs/openapi.yaml; also fails on a route the spec does not describe.
stage_api_spec() {
    local port rc=0
    chirp_web_deps
    port=$(chirpd_ctl_create apispec --dev --fast-password-hash)
    "$TMP/apispec/ctl" start || { show_chirpd_log apispec; return 1; }
    chirp_log "validating chirpd on http://127.0.0.1:$port against docs/openapi.yaml"
    (cd web && CHIRP_URL="http://127.0.0.1:$port" timeout 600 npm run -s api-spec) || rc=$?
    "$TMP/apispec/ctl" stop
    ((rc == 0)) || show_chirpd_log apispec
    return "$rc"
}

stage_bench_smoke() {
    local port secret rc=0
    secret=$(head -c 32 /dev/urandom | base64)
    # The load tool registers its users from one address: no per-address registration limit.
    port=$(chirpd_ctl_create bench --jwt-secret "$secret" --fast-password-hash --register-rate-limit 0)
    "$TMP/bench/ctl" start || { show_chirpd_log bench; return 1; }
    CHIRP_JWT_SECRET=$secret timeout 600 "$BENCH" smoke \
        --url "http://127.0.0.1:$port" --users 50 --tweets 5 || rc=$?
    "$TMP/bench/ctl" stop
    ((rc == 0)) || show_chirpd_log bench
    return "$rc"
}

# ---------------------------------------------------------------------------- main

# The chirp-bench binary of the test build (wherever its CMakeLists puts it), or nothing.
find_bench() {
    local f
    for f in "$BUILD/chirp-bench" "$BUILD/src/bench/chirp-bench" "$BUILD/bench/chirp-bench"; do
        [[ -x $f ]] && { printf '%s\n' "$f"; return 0; }
    done
    return 0
}
BENCH=

chirp_log "installing missing packages"
chirp_install_packages core test

if skipped_by_user compose; then
    skip_stage compose "CHIRP_TEST_SKIP"
elif [[ ! -f docker-compose.yml ]]; then
    skip_stage compose "no docker-compose.yml"
else
    run_stage compose stage_compose
fi

run_stage build stage_build
BUILD_OK=$STAGE_RC

HAS_WEB=
[[ -f web/package.json ]] && HAS_WEB=1

if [[ $BUILD_OK -ne 0 ]]; then
    skip_stage ctest "build failed"
else
    t0=$SECONDS
    SERVERS=starting
    start_servers
    SERVERS=started
    record servers PASS $((SECONDS - t0))
    run_stage ctest stage_ctest
    CTEST_LINE=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$LOGS/ctest.log" 2>/dev/null |
        sed -E 's/.*% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2 \1/' |
        awk '{ printf "ctest: %d passed, %d failed\n", $1 - $2, $2 }' | tail -n 1 || true)
fi

if skipped_by_user web; then
    skip_stage web-unit "CHIRP_TEST_SKIP"
elif [[ -z $HAS_WEB ]] || ! chirp_web_has_script test; then
    skip_stage web-unit "no web tests"
else
    run_stage web-unit stage_web_unit
fi

if skipped_by_user api-spec; then
    skip_stage api-spec "CHIRP_TEST_SKIP"
elif [[ -z $HAS_WEB ]] || ! chirp_web_has_script api-spec; then
    skip_stage api-spec "no api-spec script"
elif [[ $BUILD_OK -ne 0 ]]; then
    skip_stage api-spec "build failed"
else
    run_stage api-spec stage_api_spec
fi

if skipped_by_user e2e; then
    skip_stage web-e2e "CHIRP_TEST_SKIP"
elif [[ -z $HAS_WEB ]] || ! chirp_web_has_script e2e; then
    skip_stage web-e2e "no e2e script"
elif [[ $BUILD_OK -ne 0 ]]; then
    skip_stage web-e2e "build failed"
else
    run_stage web-e2e stage_web_e2e
fi

if skipped_by_user bench; then
    skip_stage bench-smoke "CHIRP_TEST_SKIP"
elif [[ -z ${BENCH:=$(find_bench)} ]]; then
    skip_stage bench-smoke "no chirp-bench in build-test/"
elif [[ $BUILD_OK -ne 0 ]]; then
    skip_stage bench-smoke "build failed"
else
    run_stage bench-smoke stage_bench_smoke
fi
# The EXIT trap stops the servers, prints the summary and sets the exit code.
