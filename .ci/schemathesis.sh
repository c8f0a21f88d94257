#!/usr/bin/env bash
# The longer schemathesis run of CI: the backend as `make run` serves it (demo world, contrib plugins, the sandboxed
# one included) on a free local port with its own SQLite file, every operation, all checks, the stateful phase, a
# fixed seed and more examples than the suite's test. Exits non-zero on any finding. Usage: .ci/schemathesis.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-200}
work=$(mktemp -d /tmp/pixsim-schemathesis.XXXXXX)
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(24))')
PIXSIM_DATABASE_URL="sqlite+aiosqlite:///$work/game.sqlite3" PIXSIM_ADMIN_TOKEN="$token" \
  .venv/bin/pixsim-hooks serve --demo --host 127.0.0.1 --port "$port" >"$work/server.log" 2>&1 &
server=$!
trap 'status=$?; kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; rm -rf "$work"; exit $status' EXIT
# Up to 60 s for the server to answer (the sandboxed plugin starts first); stop waiting if it exits.
if ! .venv/bin/python - "$port" "$server" <<'PY'
import os, sys, time, httpx
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2).raise_for_status()
        sys.exit(0)
    except httpx.HTTPError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            sys.exit("the server exited")
        time.sleep(0.1)
sys.exit("the server did not answer within 60 s")
PY
then
  cat "$work/server.log" >&2
  exit 1
fi
(cd "$work" && "$OLDPWD/.venv/bin/st" run "http://127.0.0.1:$port/openapi.json" --checks=all \
  --max-examples="$examples" --seed=7 --header="Authorization: Bearer $token" --no-color)
