#!/usr/bin/env bash
# Start `llmbench sim` on a free port and drive it with the official openai and anthropic
# Python packages, installed into a venv cached outside the checkout.
# usage: tests/python/run.sh path/to/llmbench
set -euo pipefail
BIN=${1:?usage: run.sh path/to/llmbench}
CACHE=${LLMBENCH_CACHE:-$HOME/.cache/llmbench-ci}
VENV=$CACHE/py-clients
if ! "$VENV/bin/python" -c 'import openai, anthropic' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check openai anthropic
fi
LOG=$(mktemp)
"$BIN" sim --port 0 --profile zero > "$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 100); do
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$LOG" | head -1 || true)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { echo "sim did not start:"; cat "$LOG"; exit 1; }
"$VENV/bin/python" "$(dirname "$0")/test_sim_clients.py" "$URL"
