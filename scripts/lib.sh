# shellcheck shell=bash
# scripts/lib.sh — shell functions shared by run.sh, test.sh (and bench.sh, demo.sh).
#
# Source it; it defines functions and a few variables and starts nothing:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# What lives here: Debian package installation (idempotent, dpkg-query first), the
# CMake/Ninja/ccache build, the web client build, port checks, and private PostgreSQL 15
# and Redis servers that run without systemd. PostgreSQL refuses to run as root, so when
# we are root it runs as the `postgres` user via runuser; its directories are handed to
# that user. All paths handed to these functions must be absolute.

# Repository root (this file is <root>/scripts/lib.sh).
CHIRP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

# Debian 12 packages. Never add libboost-dev (1.74): it conflicts with libboost1.81-dev.
CHIRP_PKGS_CORE=(
    cmake g++ ninja-build pkg-config ccache
    libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
    libhiredis-dev libpqxx-dev nlohmann-json3-dev libspdlog-dev libsodium-dev libssl-dev
    libgtest-dev libgmock-dev
    postgresql-15 redis-server
    iproute2 procps curl ca-certificates
)
# Browser tests, compose validation, formatting.
CHIRP_PKGS_TEST=(chromium docker-compose clang-format)
# scripts/bench.sh
CHIRP_PKGS_BENCH=(wrk gnuplot-nox)

# ---------------------------------------------------------------------------- messages

# Colours only on a terminal (CI logs stay plain); the callers use them too.
# shellcheck disable=SC2034
if [[ -t 2 && -z ${NO_COLOR:-} ]]; then
    CHIRP_C_BLUE=$'\033[1;34m' CHIRP_C_YELLOW=$'\033[1;33m' CHIRP_C_RED=$'\033[1;31m'
    CHIRP_C_GREEN=$'\033[1;32m' CHIRP_C_BOLD=$'\033[1m' CHIRP_C_OFF=$'\033[0m'
else
    CHIRP_C_BLUE='' CHIRP_C_YELLOW='' CHIRP_C_RED='' CHIRP_C_GREEN='' CHIRP_C_BOLD='' CHIRP_C_OFF=''
fi

chirp_log() { printf '%s==>%s %s\n' "$CHIRP_C_BLUE" "$CHIRP_C_OFF" "$*" >&2; }
chirp_warn() { printf '%swarning:%s %s\n' "$CHIRP_C_YELLOW" "$CHIRP_C_OFF" "$*" >&2; }
# chirp_die [code] message — one line on stderr, then exit (default code 1).
chirp_die() {
    local code=1
    if [[ $# -gt 1 && $1 =~ ^[0-9]+$ ]]; then code=$1; shift; fi
    printf 'chirp: %s\n' "$*" >&2
    exit "$code"
}

# Run a command as root: directly when we are root, else through sudo.
chirp_as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        chirp_die "need root to run '$*' (run as root or install sudo)"
    fi
}

# ---------------------------------------------------------------------------- packages

# Is a `node` of at least version 20 on PATH? (The machine image ships Node 20 + npm 11;
# Debian's nodejs/npm would conflict with or downgrade it, so we only install them when no
# node is there at all.)
chirp_node_ok() {
    command -v node >/dev/null 2>&1 || return 1
    local major
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || return 1
    [[ $major =~ ^[0-9]+$ ]] && ((major >= 20))
}

# Print the packages among "$@" that are not installed.
chirp_missing_packages() {
    local pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
        [[ $status == ii* ]] || printf '%s\n' "$pkg"
    done
}

# chirp_install_packages PROFILE... — PROFILE is core, test or bench. Installs only what is
# missing; `apt-get update` runs only then, so a second run is quick and installs nothing.
chirp_install_packages() {
    local -a want=() missing=()
    local profile
    for profile in "$@"; do
        case $profile in
            core) want+=("${CHIRP_PKGS_CORE[@]}") ;;
            test) want+=("${CHIRP_PKGS_TEST[@]}") ;;
            bench) want+=("${CHIRP_PKGS_BENCH[@]}") ;;
            *) chirp_die "unknown package profile: $profile" ;;
        esac
    done
    if ! command -v node >/dev/null 2>&1; then
        want+=(nodejs npm)
    elif ! chirp_node_ok; then
        chirp_warn "node $(node --version) is older than 20; the web client needs Node >= 20"
    fi
    command -v dpkg-query >/dev/null 2>&1 || chirp_die "dpkg-query not found: these scripts need Debian 12"
    mapfile -t missing < <(chirp_missing_packages "${want[@]}")
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    chirp_log "installing ${#missing[@]} Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    chirp_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    chirp_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
}

# ---------------------------------------------------------------------------- build

# ccache shared between clones in different folders: paths below the repo root are made
# relative and the working directory is left out of the hash. The sloppiness lets ccache
# cache compilations that use CMake's precompiled header; CCACHE_PCH_EXTSUM makes it hash
# the checksum file that chirp_pch_sums writes instead of the .gch itself (see there).
chirp_setup_ccache() {
    export CCACHE_BASEDIR="$CHIRP_ROOT"
    export CCACHE_NOHASHDIR=true
    export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
    export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
    export CCACHE_PCH_EXTSUM=true
}

# chirp_pch_sums BUILD_DIR — write <gch>.sum beside every precompiled header CMake will build.
# A .gch embeds the absolute path of the checkout (CMake's cmake_pch.hxx includes the header
# by absolute path), so no two clones produce the same .gch and ccache, which hashes it, would
# never hit across folders. What a .gch contains is fixed by: the wrapper (root path
# normalized), the headers it names, what those include (system headers: the installed
# package versions; project headers: all of include/, coarse but never stale) and the
# compiler; the compile flags are in each object's own hash. That is the checksum.
chirp_pch_sums() {
    local build=$1 wrapper sum base header name
    base=$({
        g++ --version 2>/dev/null | head -n 1
        dpkg-query -W -f='${Package} ${Version}\n' 2>/dev/null
    } | sha256sum | cut -d' ' -f1)
    while IFS= read -r -d '' wrapper; do
        sum=$({
            printf '%s\n' "$base"
            sed "s|$CHIRP_ROOT|@ROOT@|g" "$wrapper"
            while IFS= read -r header; do
                [[ -f $header ]] || continue
                cat "$header"
                while IFS= read -r name; do
                    if [[ -e $CHIRP_ROOT/include/$name || -e $(dirname "$header")/$name ]]; then
                        find "$CHIRP_ROOT/include" -type f -print0 | sort -z | xargs -0 -r cat
                        break
                    fi
                done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^>"]+)[>"].*/\1/p' "$header")
            done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/p' "$wrapper")
        } | sha256sum | cut -d' ' -f1)
        if [[ ! -f $wrapper.gch.sum || $(<"$wrapper.gch.sum") != "$sum" ]]; then
            printf '%s\n' "$sum" >"$wrapper.gch.sum"
        fi
    done < <(find "$build" -path '*/CMakeFiles/*' -name 'cmake_pch.hxx' -print0)
}

# chirp_cmake_build BUILD_DIR JOBS "TARGET..." CMAKE_ARG... — configure (cheap when nothing
# changed) and build. TARGET may be empty for "all".
chirp_cmake_build() {
    local dir=$1 jobs=$2 targets=$3
    shift 3
    chirp_setup_ccache
    cmake -S "$CHIRP_ROOT" -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 || {
        cat "$dir.configure.log" >&2
        rm -f "$dir.configure.log"
        return 1
    }
    rm -f "$dir.configure.log"
    chirp_pch_sums "$dir"
    local -a build=(cmake --build "$dir" -j "$jobs")
    local t
    for t in $targets; do build+=(--target "$t"); done
    "${build[@]}"
}

# ---------------------------------------------------------------------------- web client

# Does web/package.json define the npm script $1?
chirp_web_has_script() {
    [[ -f $CHIRP_ROOT/web/package.json ]] || return 1
    node -e 'const p = require(process.argv[1]); process.exit(p.scripts && p.scripts[process.argv[2]] ? 0 : 1)' \
        "$CHIRP_ROOT/web/package.json" "$1"
}

# npm ci, skipped when node_modules was installed from the same package.json and lock file.
chirp_web_deps() {
    local web=$CHIRP_ROOT/web stamp want
    stamp=$web/node_modules/.chirp-deps-stamp
    want=$(cat "$web/package.json" "$web/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1)
    want="$want node-$(node --version)"
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
        return 0
    fi
    chirp_log "installing web dependencies (npm ci)"
    if [[ -f $web/package-lock.json ]]; then
        (cd "$web" && npm ci --no-audit --no-fund --prefer-offline)
    else
        chirp_warn "web/package-lock.json is missing: using npm install"
        (cd "$web" && npm install --no-audit --no-fund)
    fi
    printf '%s\n' "$want" >"$stamp"
}

# npm run build, skipped when web/dist is newer than every source file of the client.
chirp_web_build() {
    local web=$CHIRP_ROOT/web
    if [[ -f $web/dist/index.html ]] && [[ -z $(find "$web" \
        \( -path "$web/node_modules" -o -path "$web/dist" -o -path "$web/e2e" \) -prune -o \
        -type f -newer "$web/dist/index.html" -print -quit) ]]; then
        return 0
    fi
    chirp_log "building the web client"
    (cd "$web" && npm run build)
}

# ---------------------------------------------------------------------------- ports

# Is something listening on TCP port $1 (any address)?
chirp_port_busy() {
    local port=$1
    if command -v ss >/dev/null 2>&1; then
        [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    fi
}

# Who listens on port $1, as "name, pid N" (empty when unknown).
chirp_port_owner() {
    command -v ss >/dev/null 2>&1 || return 0
    ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\1, pid \2/p' | head -n 1
}

# Exit 1 with one clear line when port $1 is taken. $2 names the setting that moves it.
chirp_require_free_port() {
    local port=$1 setting=$2 owner
    chirp_port_busy "$port" || return 0
    owner=$(chirp_port_owner "$port")
    chirp_die 1 "port $port is already in use${owner:+ (by $owner)}; stop that process or choose another port with $setting=<port>"
}

# Print a TCP port that is free now, different from the ports given as arguments.
chirp_free_port() {
    local port i exclude=" $* "
    for ((i = 0; i < 100; i++)); do
        if command -v python3 >/dev/null 2>&1; then
            port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        else
            port=$((20000 + RANDOM % 30000))
        fi
        [[ $exclude == *" $port "* ]] && continue
        chirp_port_busy "$port" && continue
        printf '%s\n' "$port"
        return 0
    done
    chirp_die "could not find a free TCP port"
}

# ---------------------------------------------------------------------------- processes

# chirp_stop_pid PID [TIMEOUT_S] — SIGTERM, wait, SIGKILL after TIMEOUT_S (default 20).
chirp_stop_pid() {
    local pid=$1 timeout=${2:-20} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < timeout * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    chirp_warn "pid $pid did not stop within ${timeout}s: killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

# chirp_wait_http URL TIMEOUT_S [PID] — wait until URL answers 2xx; fail early if PID exits.
chirp_wait_http() {
    local url=$1 timeout=$2 pid=${3:-} i
    for ((i = 0; i < timeout * 10; i++)); do
        if curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------- PostgreSQL

# The user PostgreSQL runs as: `postgres` when we are root, else ourselves.
chirp_pg_user() {
    if [[ $EUID -eq 0 ]]; then echo postgres; else id -un; fi
}

# Run a PostgreSQL server binary as that user, from / (its cwd may be unreadable to it).
chirp_pg_run() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# Create directory $1 owned by the PostgreSQL user with mode $2, and check that user can
# reach it (every parent must be traversable).
chirp_pg_dir() {
    local dir=$1 mode=$2 user
    user=$(chirp_pg_user)
    mkdir -p "$dir"
    if [[ $EUID -eq 0 ]]; then
        chown "$user:" "$dir"
    fi
    chmod "$mode" "$dir"
    if ! chirp_pg_run test -w "$dir" -a -x "$dir"; then
        chirp_die "user '$user' cannot reach $dir: make every parent directory traversable (chmod o+x) or move the repository"
    fi
}

# chirp_pg_init DATA_DIR [initdb args...] — initdb once (superuser postgres, trust auth on
# this private cluster, which listens on 127.0.0.1 and a private socket dir only).
chirp_pg_init() {
    local data=$1
    shift
    [[ -f $data/PG_VERSION ]] && return 0
    chirp_pg_dir "$data" 700
    chirp_log "initializing PostgreSQL in $data"
    chirp_pg_run "$PGBIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 "$@" >/dev/null
}

chirp_pg_running() {
    [[ -f $1/PG_VERSION ]] && chirp_pg_run "$PGBIN/pg_ctl" -D "$1" status >/dev/null 2>&1
}

# chirp_pg_start DATA_DIR SOCKET_DIR PORT LOG_FILE [-c name=value...]
chirp_pg_start() {
    local data=$1 sock=$2 port=$3 logfile=$4
    shift 4
    chirp_pg_dir "$sock" 755
    if ((${#sock} > 90)); then
        chirp_die "socket directory path too long for a Unix socket: $sock"
    fi
    local opts="-p $port -k $sock -c listen_addresses=127.0.0.1" arg
    for arg in "$@"; do opts+=" $arg"; done
    if ! chirp_pg_run "$PGBIN/pg_ctl" -D "$data" -l "$logfile" -w -t 60 -o "$opts" start >/dev/null; then
        tail -n 20 "$logfile" >&2 || true
        chirp_die "PostgreSQL did not start (log: $logfile)"
    fi
}

# chirp_pg_stop DATA_DIR [MODE] — MODE fast (default) or immediate.
chirp_pg_stop() {
    local data=$1 mode=${2:-fast}
    chirp_pg_running "$data" || return 0
    chirp_pg_run "$PGBIN/pg_ctl" -D "$data" -m "$mode" -w -t 60 stop >/dev/null
}

# chirp_psql PORT DB SQL... — run SQL as the superuser over TCP; prints unaligned tuples.
chirp_psql() {
    local port=$1 db=$2
    shift 2
    local -a cmd=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -tA -h 127.0.0.1 -p "$port" -U postgres -d "$db")
    local sql
    for sql in "$@"; do cmd+=(-c "$sql"); done
    "${cmd[@]}"
}

# chirp_pg_ensure_db PORT ROLE DB — role (LOGIN, not superuser) and database owned by it.
chirp_pg_ensure_db() {
    local port=$1 role=$2 db=$3
    [[ $role =~ ^[a-z_][a-z0-9_]*$ && $db =~ ^[a-z_][a-z0-9_]*$ ]] || chirp_die "bad role or database name: $role $db"
    if [[ -z $(chirp_psql "$port" postgres "SELECT 1 FROM pg_roles WHERE rolname = '$role'") ]]; then
        chirp_psql "$port" postgres "CREATE ROLE $role LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"
    fi
    if [[ -z $(chirp_psql "$port" postgres "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
        chirp_psql "$port" postgres "CREATE DATABASE $db OWNER $role"
    fi
}

# ---------------------------------------------------------------------------- Redis

# The redis-server command line for a private server on PORT with its files in DIR, one
# word per line (so callers can build an array or a shell-quoted string).
chirp_redis_cmd() {
    local dir=$1 port=$2
    # chirpd's subscriber connection carries every follower's channel of this process: give
    # it a larger pub/sub output buffer than the 32 MB default before Redis drops it.
    printf '%s\n' redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' \
        --appendonly no --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
        --client-output-buffer-limit 'pubsub 256mb 128mb 60'
}

chirp_redis_ping() {
    [[ $(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null) == PONG ]]
}

# chirp_redis_start DIR PORT
chirp_redis_start() {
    local dir=$1 port=$2 i
    local -a cmd
    mkdir -p "$dir"
    mapfile -t cmd < <(chirp_redis_cmd "$dir" "$port")
    "${cmd[@]}" || chirp_die "redis-server did not start (log: $dir/redis.log)"
    for ((i = 0; i < 100; i++)); do
        chirp_redis_ping "$port" && return 0
        sleep 0.05
    done
    tail -n 20 "$dir/redis.log" >&2 || true
    chirp_die "redis-server did not answer on port $port (log: $dir/redis.log)"
}

# Is the redis-server whose pidfile lives in DIR running? Prints its pid.
chirp_redis_pid() {
    local dir=$1 pid
    [[ -f $dir/redis.pid ]] || return 1
    pid=$(<"$dir/redis.pid")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && [[ $(ps -o comm= -p "$pid" 2>/dev/null) == redis-server* ]] || return 1
    printf '%s\n' "$pid"
}

# chirp_redis_stop DIR PORT — SHUTDOWN NOSAVE, then make sure the process is gone.
chirp_redis_stop() {
    local dir=$1 port=$2 pid i
    pid=$(chirp_redis_pid "$dir") || pid=
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
    [[ -n $pid ]] || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$dir/redis.pid"; return 0; }
        sleep 0.1
    done
    chirp_stop_pid "$pid" 5
    rm -f "$dir/redis.pid"
}
