#!/usr/bin/env bash
# Python-side checks, in a venv cached outside the checkout:
#  1. the official openai and anthropic packages drive `llmbench sim` (streaming and not: chat,
#     completions, messages, responses, embeddings; reasoning, tool calls, bundled tokens);
#  2. results of several commands validate against docs/result.schema.json (jsonschema);
#  3. the Kubernetes Job of `llmbench cluster k8s` validates (kubernetes-validate --strict,
#     against 1.29, the oldest Kubernetes with backoffLimitPerIndex) and passes our own checks.
# usage: tests/python/run.sh path/to/llmbench
set -euo pipefail
BIN=${1:?usage: run.sh path/to/llmbench}
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${LLMBENCH_CACHE:-$HOME/.cache/llmbench-ci}
VENV=$CACHE/py-clients
if ! "$VENV/bin/python" -c 'import openai, anthropic, jsonschema, kubernetes_validate' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check openai anthropic jsonschema kubernetes-validate
fi
LOG=$(mktemp)
WORK=$(mktemp -d)
RLOG=$(mktemp)
"$BIN" sim --port 0 --profile zero > "$LOG" 2>&1 &
PID=$!
"$BIN" sim --port 0 --profile zero --reasoning-tokens 3 --tokens-per-chunk 2 > "$RLOG" 2>&1 &
RPID=$!
trap 'kill $PID $RPID 2>/dev/null || true; rm -rf "$LOG" "$RLOG" "$WORK"' EXIT
url_of() {
  for _ in $(seq 100); do
    U=$(grep -o 'http://127.0.0.1:[0-9]*' "$1" | head -1 || true)
    [ -n "$U" ] && { echo "$U"; return; }
    sleep 0.1
  done
  echo "sim did not start:" >&2; cat "$1" >&2; exit 1
}
URL=$(url_of "$LOG")
RURL=$(url_of "$RLOG")
"$VENV/bin/python" "$HERE/test_sim_clients.py" "$URL" "$RURL"

"$BIN" run --url "$URL" --stream --runs 5 --max-tokens 8 -q -o "$WORK/run.json" > /dev/null
"$BIN" throughput --url "$URL" --rate 50 --duration 2s --max-tokens 8 -q --target 'error_rate<1%' -o "$WORK/tp.json" > /dev/null
"$BIN" sweep --url "$URL" --concurrency 1,2 --max-tokens 8 -q -o "$WORK/sweep.json" > /dev/null
"$BIN" stress --url "$URL" --start-rate 20 --step 20 --step-duration 1s --max-rate 40 --max-tokens 4 -q -o "$WORK/stress.json" > /dev/null
"$BIN" ttft --url "$URL" --compare-url "$URL" --samples 10 --warmup 1 --max-tokens 4 -q -o "$WORK/ttft.json" > /dev/null
"$VENV/bin/python" "$HERE/validate_results.py" "$HERE/../../docs/result.schema.json" "$WORK"/*.json

"$VENV/bin/kubernetes-validate" --strict --kubernetes-version 1.29.0 "$HERE/../golden/k8s-job.yaml"
"$BIN" cluster k8s --shards 3 --image llmbench:test -- run --url http://vllm:8000 --seed 1 --runs 30 > "$WORK/job.yaml"
"$VENV/bin/kubernetes-validate" --strict --kubernetes-version 1.29.0 "$WORK/job.yaml"
"$VENV/bin/python" "$HERE/check_k8s.py" "$WORK/job.yaml"
