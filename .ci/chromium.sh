#!/usr/bin/env bash
# Headless Chromium and its WebDriver from Debian, for the browser tests (tests/browser). Idempotent: installs only
# when /usr/bin/chromium or /usr/bin/chromedriver is missing. Never downloads a browser from anywhere but apt.
set -euo pipefail

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)  # CI runners are often not root; this machine is
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
test -x /usr/bin/chromium && test -x /usr/bin/chromedriver
