#!/usr/bin/env bash
# scripts/run.sh — build and run Chirp on this machine with one command.
#
# Installs the missing Debian packages, builds chirpd (Release, build/) and the web client,
# starts a private PostgreSQL 15 (var/pg) and Redis (var/redis), then chirpd on
# http://localhost:8000: one worker process per CPU under a supervisor (chirpd's default;
# `--workers 1` or CHIRP_WORKERS=1 for a single process). Ctrl-C stops all three; the next
# run reuses the data.
#
# Usage: scripts/run.sh [chirpd flags...]     e.g. scripts/run.sh --log-format json
# Environment: CHIRP_PORT (8000), CHIRP_PG_PORT (5433), CHIRP_REDIS_PORT (6380);
#              any other CHIRP_* variable is read by chirpd itself (see chirpd --help).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
fi

PORT=${CHIRP_PORT:-8000}
PG_PORT=${CHIRP_PG_PORT:-5433}
REDIS_PORT=${CHIRP_REDIS_PORT:-6380}
for p in "$PORT" "$PG_PORT" "$REDIS_PORT"; do
    if ! [[ $p =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then
        chirp_die 2 "not a TCP port: $p"
    fi
done

VAR=$CHIRP_ROOT/var
PG_DATA=$VAR/pg
PG_RUN=$VAR/pg-run # socket directory and server log
REDIS_DIR=$VAR/redis
BUILD=$CHIRP_ROOT/build
CHIRPD=$BUILD/chirpd

# --- packages
chirp_install_packages core

# --- one run per checkout: the lock is held for as long as this script runs (fd 9 is not
# passed on to the servers, so a leftover server never holds it)
mkdir -p "$VAR"
chmod 755 "$VAR"
exec 9>"$VAR/run.lock"
if ! flock -n 9; then
    chirp_die 1 "Chirp is already running from $CHIRP_ROOT (another scripts/run.sh holds var/run.lock)"
fi

# --- leftovers of a run that was killed without cleaning up: stop them, then check ports
if [[ -f $VAR/chirpd.pid ]]; then
    old_pid=$(<"$VAR/chirpd.pid")
    if [[ $old_pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$old_pid/cmdline" 2>/dev/null | grep -qF "$CHIRPD"; then
        chirp_log "stopping chirpd left over from an earlier run (pid $old_pid)"
        chirp_stop_pid "$old_pid" 20
    fi
    rm -f "$VAR/chirpd.pid"
fi
if chirp_pg_running "$PG_DATA"; then
    chirp_log "stopping PostgreSQL left over from an earlier run"
    chirp_pg_stop "$PG_DATA" fast
fi
if chirp_redis_pid "$REDIS_DIR" >/dev/null; then
    chirp_log "stopping Redis left over from an earlier run"
    chirp_redis_stop "$REDIS_DIR" "$REDIS_PORT"
fi
check_ports() {
    chirp_require_free_port "$PORT" CHIRP_PORT
    chirp_require_free_port "$PG_PORT" CHIRP_PG_PORT
    chirp_require_free_port "$REDIS_PORT" CHIRP_REDIS_PORT
}
check_ports

# --- build
chirp_log "building chirpd (Release, build/)"
chirp_cmake_build "$BUILD" "$(nproc)" chirpd -DCMAKE_BUILD_TYPE=Release
WEB_ROOT=
if [[ -f $CHIRP_ROOT/web/package.json ]]; then
    chirp_web_deps
    chirp_web_build
    WEB_ROOT=$CHIRP_ROOT/web/dist
fi
check_ports # the build may have taken a while

# --- stop everything on the way out, whatever the way out is
CHIRPD_PID=
PG_STARTED=
REDIS_STARTED=
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local rc=$?
    set +e
    trap '' INT TERM
    if [[ -n $CHIRPD_PID ]] && kill -0 "$CHIRPD_PID" 2>/dev/null; then
        chirp_log "stopping chirpd"
        chirp_stop_pid "$CHIRPD_PID" 20
        wait "$CHIRPD_PID" 2>/dev/null || true
    fi
    rm -f "$VAR/chirpd.pid"
    if [[ -n $REDIS_STARTED ]]; then
        chirp_log "stopping Redis"
        chirp_redis_stop "$REDIS_DIR" "$REDIS_PORT" || true
    fi
    if [[ -n $PG_STARTED ]]; then
        chirp_log "stopping PostgreSQL"
        chirp_pg_stop "$PG_DATA" fast || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM # a requested stop is a clean stop

# --- PostgreSQL: private cluster on 127.0.0.1:$PG_PORT, role and database chirp
chirp_pg_init "$PG_DATA"
chirp_log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
PG_STARTED=1
chirp_pg_start "$PG_DATA" "$PG_RUN" "$PG_PORT" "$PG_RUN/postgresql.log" -c max_connections=200 9>&-
chirp_pg_ensure_db "$PG_PORT" chirp chirp

# --- Redis: pub/sub and caches only, nothing to persist
chirp_log "starting Redis on 127.0.0.1:$REDIS_PORT"
REDIS_STARTED=1
chirp_redis_start "$REDIS_DIR" "$REDIS_PORT" 9>&-

# --- JWT secret, generated once
if [[ ! -s $VAR/jwt_secret ]]; then
    (umask 077 && head -c 32 /dev/urandom | base64 >"$VAR/jwt_secret")
fi
chmod 600 "$VAR/jwt_secret"
CHIRP_JWT_SECRET=$(<"$VAR/jwt_secret")
export CHIRP_JWT_SECRET

# --- chirpd (applies the migrations itself at start; by default a supervisor with one worker
# per CPU, which drains them all on the SIGTERM of the cleanup)
args=(--port "$PORT"
    --database-url "postgresql://chirp@127.0.0.1:$PG_PORT/chirp"
    --redis-url "redis://127.0.0.1:$REDIS_PORT")
[[ -n $WEB_ROOT ]] && args+=(--web-root "$WEB_ROOT")
chirp_log "starting chirpd"
"$CHIRPD" "${args[@]}" "$@" </dev/null 9>&- &
CHIRPD_PID=$!
echo "$CHIRPD_PID" >"$VAR/chirpd.pid"

if chirp_wait_http "http://127.0.0.1:$PORT/healthz" 60 "$CHIRPD_PID"; then
    printf '\n  Chirp is running at %shttp://localhost:%s%s   (Ctrl-C to stop)\n\n' \
        "$CHIRP_C_BOLD" "$PORT" "$CHIRP_C_OFF"
elif kill -0 "$CHIRPD_PID" 2>/dev/null; then
    chirp_warn "chirpd does not answer http://127.0.0.1:$PORT/healthz yet; still waiting for it"
fi
set +e
wait "$CHIRPD_PID"
rc=$?
set -e
CHIRPD_PID=
if ((rc != 0)); then
    chirp_warn "chirpd exited with code $rc"
fi
exit "$rc"
