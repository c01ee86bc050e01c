#!/usr/bin/env bash
# scripts/cluster.sh — N chirpd processes and M Redis servers on this machine, on loopback,
# without Docker: the shape of docker-compose.yml's `cluster` profile (docs/deploy.md).
#
# Builds chirpd (Release, build/) and the web client, starts a private PostgreSQL 15
# (var/cluster/pg), M redis-servers (var/cluster/redis-<k>) and N chirpd on consecutive ports,
# all given the same --redis-url list (users are sharded over the servers, the first one also
# carries the cluster-wide broadcasts). With nginx installed (not required), it runs in front
# on CHIRP_PORT as a round-robin balancer (no sticky sessions: clients resume with `since`);
# without it the chirpd ports are printed and any of them serves the whole cluster.
# Ctrl-C stops everything; the next run reuses the database.
#
# Usage: scripts/cluster.sh [-n N] [-m M] [chirpd flags...]   (default N=3 processes, M=3 Redis)
# Environment: CHIRP_PORT (8000: nginx, or the first chirpd without it), CHIRP_PG_PORT (5434),
#              CHIRP_REDIS_PORT (6390: the first Redis, the others follow),
#              CHIRP_CLUSTER_NGINX (auto; 0: never run nginx),
#              CHIRP_CLUSTER_CHIRPD (a chirpd binary to run instead of building build/chirpd;
#              no web client then unless CHIRP_WEB_ROOT is set).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

N=3
M=3
while (($#)); do
    case $1 in
        -h | --help) usage; exit 0 ;;
        -n) N=${2:-}; shift 2 ;;
        -m) M=${2:-}; shift 2 ;;
        *) break ;;
    esac
done
[[ $N =~ ^[1-9][0-9]?$ ]] || chirp_die 2 "-n takes a number of processes (1-99), got '$N'"
[[ $M =~ ^[1-9][0-9]?$ ]] || chirp_die 2 "-m takes a number of Redis servers (1-99), got '$M'"

PORT=${CHIRP_PORT:-8000}
PG_PORT=${CHIRP_PG_PORT:-5434}
REDIS_PORT=${CHIRP_REDIS_PORT:-6390}
NGINX=
if [[ ${CHIRP_CLUSTER_NGINX:-auto} != 0 ]] && command -v nginx >/dev/null; then NGINX=$(command -v nginx); fi
# Without nginx the first chirpd takes CHIRP_PORT; with it, the chirpd come after it.
FIRST=$PORT
[[ -n $NGINX ]] && FIRST=$((PORT + 1))

VAR=$CHIRP_ROOT/var/cluster
BUILD=$CHIRP_ROOT/build
CHIRPD=${CHIRP_CLUSTER_CHIRPD:-$BUILD/chirpd}
mkdir -p "$VAR"
chmod 755 "$CHIRP_ROOT/var" "$VAR"
exec 9>"$VAR/run.lock"
flock -n 9 || chirp_die 1 "a cluster is already running from $CHIRP_ROOT (var/cluster/run.lock)"

chirp_install_packages core
ports=("$PG_PORT")
for ((k = 0; k < M; k++)); do ports+=($((REDIS_PORT + k))); done
for ((i = 0; i < N; i++)); do ports+=($((FIRST + i))); done
[[ -n $NGINX ]] && ports+=("$PORT")
for p in "${ports[@]}"; do chirp_require_free_port "$p" port; done

WEB_ROOT=${CHIRP_WEB_ROOT:-}
if [[ -n ${CHIRP_CLUSTER_CHIRPD:-} ]]; then
    [[ -x $CHIRPD ]] || chirp_die 2 "CHIRP_CLUSTER_CHIRPD: $CHIRPD is not an executable"
else
    chirp_log "building chirpd (Release, build/)"
    chirp_cmake_build "$BUILD" "$(nproc)" chirpd -DCMAKE_BUILD_TYPE=Release
fi
if [[ -z ${CHIRP_CLUSTER_CHIRPD:-} && -f $CHIRP_ROOT/web/package.json ]]; then
    chirp_web_deps
    chirp_web_build
    WEB_ROOT=$CHIRP_ROOT/web/dist
fi

PIDS=()
REDIS_UP=()
PG_STARTED=
NGINX_PID=
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local rc=$? pid k
    set +e
    trap '' INT TERM
    [[ -n $NGINX_PID ]] && chirp_stop_pid "$NGINX_PID" 10
    for pid in "${PIDS[@]}"; do chirp_stop_pid "$pid" 20 & done
    wait
    for k in "${REDIS_UP[@]}"; do chirp_redis_stop "$VAR/redis-$k" $((REDIS_PORT + k)); done
    [[ -n $PG_STARTED ]] && chirp_pg_stop "$VAR/pg" fast
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

chirp_pg_init "$VAR/pg"
PG_STARTED=1
chirp_pg_start "$VAR/pg" "$VAR/pg-run" "$PG_PORT" "$VAR/pg-run/postgresql.log" -c max_connections=300 9>&-
chirp_pg_ensure_db "$PG_PORT" chirp chirp

URLS=
for ((k = 0; k < M; k++)); do
    chirp_log "starting Redis $k on 127.0.0.1:$((REDIS_PORT + k))"
    REDIS_UP+=("$k")
    chirp_redis_start "$VAR/redis-$k" $((REDIS_PORT + k)) 9>&-
    URLS+="${URLS:+,}redis://127.0.0.1:$((REDIS_PORT + k))"
done

if [[ ! -s $VAR/jwt_secret ]]; then (umask 077 && head -c 32 /dev/urandom | base64 >"$VAR/jwt_secret"); fi
CHIRP_JWT_SECRET=$(<"$VAR/jwt_secret")
export CHIRP_JWT_SECRET

for ((i = 0; i < N; i++)); do
    port=$((FIRST + i))
    args=(--port "$port" --bind 127.0.0.1 --database-url "postgresql://chirp@127.0.0.1:$PG_PORT/chirp"
        --redis-url "$URLS")
    if [[ -n $WEB_ROOT ]]; then args+=(--web-root "$WEB_ROOT"); fi
    chirp_log "starting chirpd $i on 127.0.0.1:$port"
    "$CHIRPD" "${args[@]}" "$@" </dev/null >>"$VAR/chirpd-$i.log" 2>&1 9>&- &
    PIDS+=($!)
done
for ((i = 0; i < N; i++)); do
    chirp_wait_http "http://127.0.0.1:$((FIRST + i))/healthz" 60 "${PIDS[$i]}" ||
        chirp_die "chirpd $i did not start (log: $VAR/chirpd-$i.log)"
done

if [[ -n $NGINX ]]; then
    mkdir -p "$VAR/nginx"
    {
        echo "daemon off; pid $VAR/nginx/nginx.pid; error_log $VAR/nginx/error.log;"
        echo "events {}"
        echo "http { access_log off; client_body_temp_path $VAR/nginx;"
        echo "  map \$http_upgrade \$connection_upgrade { default upgrade; '' ''; }"
        echo "  upstream chirpd {"
        for ((i = 0; i < N; i++)); do echo "    server 127.0.0.1:$((FIRST + i)) max_fails=1 fail_timeout=2s;"; done
        echo "  }"
        echo "  server { listen 127.0.0.1:$PORT; location / { proxy_pass http://chirpd;"
        echo "    proxy_http_version 1.1; proxy_set_header Upgrade \$http_upgrade;"
        echo "    proxy_set_header Connection \$connection_upgrade; proxy_set_header Host \$host;"
        echo "    proxy_read_timeout 3600s; proxy_buffering off; } }"
        echo "}"
    } >"$VAR/nginx/nginx.conf"
    "$NGINX" -c "$VAR/nginx/nginx.conf" -p "$VAR/nginx" </dev/null 9>&- &
    NGINX_PID=$!
    chirp_wait_http "http://127.0.0.1:$PORT/healthz" 20 "$NGINX_PID" || chirp_die "nginx did not start"
    printf '\n  Chirp cluster (%d chirpd, %d Redis) at %shttp://localhost:%s%s via nginx   (Ctrl-C to stop)\n\n' \
        "$N" "$M" "$CHIRP_C_BOLD" "$PORT" "$CHIRP_C_OFF"
else
    printf '\n  Chirp cluster (%d chirpd, %d Redis), no balancer (nginx is not installed); any of:\n' "$N" "$M"
    for ((i = 0; i < N; i++)); do printf '    %shttp://localhost:%s%s\n' "$CHIRP_C_BOLD" $((FIRST + i)) "$CHIRP_C_OFF"; done
    printf '  (Ctrl-C to stop; logs in %s)\n\n' "$VAR"
fi
# Until one of them stops (or Ctrl-C).
set +e
wait -n "${PIDS[@]}" ${NGINX_PID:+"$NGINX_PID"}
chirp_warn "a process of the cluster exited; stopping the others"
exit 1
