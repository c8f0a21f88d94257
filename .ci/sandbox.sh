#!/usr/bin/env bash
# bubblewrap from Debian, so that the out-of-process plugin tests run with the strongest sandbox the host supports
# (no network, own PID namespace, read-only minimal filesystem view), and Node.js for the plugin written in another
# language (tests/protocol/js_plugin.mjs). Idempotent: installs only what is missing. Without bubblewrap the host
# still sandboxes with util-linux `unshare` (or rlimits + uid only), and says so in its log.
set -euo pipefail

missing=()
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v node >/dev/null || missing+=(nodejs)
if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v bwrap >/dev/null && command -v node >/dev/null
