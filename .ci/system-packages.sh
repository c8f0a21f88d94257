#!/usr/bin/env bash
# The Debian packages pixsim-hooks needs beside Python, installed only where missing. `make run`, `make test` and
# `.ci/run` all call this one script; nothing else in the project installs system packages.
#
#   .ci/system-packages.sh run    bubblewrap: the sandbox of out-of-process plugins (the demo's `gossip` runs in one)
#   .ci/system-packages.sh test   run's, plus Node.js (the JavaScript plugin test), Chromium and chromedriver (the
#                                 admin page's browser test) and redis-server (the deployment tests start their own)
#   .ci/system-packages.sh ci     test's, plus PostgreSQL (CI runs the store and API tests on it a second time)
#   .ci/system-packages.sh check PURPOSE   exit 0 when nothing is missing, 1 (and name it) otherwise; installs nothing
#
# Idempotent and quiet: with everything present it runs a few `command -v` and prints nothing. Installing needs root
# (or passwordless sudo) and apt-get; without them it stops with one message naming what is missing and the command
# that installs it. apt's output goes to a log file that is shown only when apt fails.
set -euo pipefail

usage() {
    echo "usage: $0 run|test|ci | check run|test|ci" >&2
    exit 2
}

# "<probe> <debian package>" per need; a probe is a command on PATH or an absolute path that must exist.
needs() {
    case "$1" in
        run) echo "bwrap:bubblewrap" ;;
        test) needs run; echo "node:nodejs /usr/bin/chromium:chromium /usr/bin/chromedriver:chromium-driver redis-server:redis-server" ;;
        ci) needs test; echo "/usr/lib/postgresql/*/bin/initdb:postgresql" ;;
        *) usage ;;
    esac
}

present() {
    local probe="$1"
    if [[ "$probe" == /* ]]; then
        compgen -G "$probe" >/dev/null
    else
        command -v "$probe" >/dev/null 2>&1
    fi
}

missing_packages() {
    local - pair
    set -f  # the probes' globs are matched in present(), not here
    for pair in $(needs "$1"); do
        present "${pair%%:*}" || echo "${pair#*:}"
    done
}

main() {
    local mode="${1:-}" purpose
    [[ -n "$mode" ]] || usage
    purpose="$mode"
    [[ "$mode" == check ]] && purpose="${2:-}"
    case "$purpose" in run | test | ci) ;; *) usage ;; esac
    local missing
    missing=$(missing_packages "$purpose" | sort -u | tr '\n' ' ')
    missing="${missing% }"
    [[ -z "$missing" ]] && exit 0
    if [[ "$mode" == check ]]; then
        echo "missing Debian packages: $missing (install: apt-get install -y $missing)" >&2
        exit 1
    fi

    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            fail "$missing" "installing them needs root (or passwordless sudo)"
        fi
    fi
    command -v apt-get >/dev/null 2>&1 || fail "$missing" "this machine has no apt-get"

    local log
    log=$(mktemp "${TMPDIR:-/tmp}/pixsim-system-packages.XXXXXX.log")
    echo "pixsim-hooks: installing Debian packages: $missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Another checkout's set-up may hold apt's lock right now: wait for it rather than fail.
    local apt=("${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 -y -q)
    # shellcheck disable=SC2086  # the package list is meant to split
    if ! { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends $missing; } >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        fail "$missing" "apt-get failed (full log: $log)"
    fi
    rm -f "$log"
    missing=$(missing_packages "$purpose" | sort -u | tr '\n' ' ')
    missing="${missing% }"
    [[ -z "$missing" ]] || fail "$missing" "apt-get installed them but they are still not found"
}

fail() {
    echo "pixsim-hooks: missing Debian packages: $1; $2. Install them with: sudo apt-get install -y $1" >&2
    exit 1
}

main "$@"
