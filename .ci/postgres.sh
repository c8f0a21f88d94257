#!/usr/bin/env bash
# A throwaway PostgreSQL server for the backend tests.
#
#   .ci/postgres.sh start DIR   install PostgreSQL if missing, run a cluster in DIR on 127.0.0.1, print its URL
#   .ci/postgres.sh stop DIR    stop that cluster and delete DIR
#
# Idempotent: `start` on a DIR whose server runs only prints the URL again. The cluster trusts local TCP logins
# (it listens on 127.0.0.1 only and lives for one CI run) and runs with fsync off: fast, and disposable.
# Env: PIXSIM_PG_PORT (default: first free port from 55432), PIXSIM_PG_DB (default pixsim_test).
set -euo pipefail

DB="${PIXSIM_PG_DB:-pixsim_test}"

log() { echo "postgres.sh: $*" >&2; }

pg_bin() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [[ -n "$bin" && -x "$bin/initdb" ]] && echo "$bin"
}

install_postgres() {
    pg_bin >/dev/null || "$(dirname "$0")/system-packages.sh" ci
}

# Run as the cluster owner: the postgres user when we are root (the server refuses to run as root).
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local port="${PIXSIM_PG_PORT:-55432}"
    while port_in_use "$port"; do port=$((port + 1)); done
    echo "$port"
}

start() {
    local dir="$1" bin port
    install_postgres
    bin=$(pg_bin)
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >/dev/null
    fi
    if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        port=$(free_port)
        as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
            "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200" >/dev/null
        echo "$port" >"$dir/port"
    fi
    port=$(cat "$dir/port")
    if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'" postgres | grep -q 1; then
        as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$DB"
    fi
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $dir"
    echo "postgresql+asyncpg://postgres@127.0.0.1:$port/$DB"
}

stop() {
    local dir="$1" bin
    if bin=$(pg_bin) && [[ -f "$dir/data/PG_VERSION" ]]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) start "${2:?usage: $0 start DIR}" ;;
    stop) stop "${2:?usage: $0 stop DIR}" ;;
    *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
