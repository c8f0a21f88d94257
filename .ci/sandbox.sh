#!/usr/bin/env bash
# bubblewrap from Debian, so that the out-of-process plugin tests run with the strongest sandbox the host supports
# (no network, own PID namespace, read-only minimal filesystem view). Idempotent: installs only when bwrap is missing.
# Without it the host still sandboxes with util-linux `unshare` (or rlimits + uid only), and says so in its log.
set -euo pipefail

if command -v bwrap >/dev/null; then
    exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
command -v bwrap >/dev/null
