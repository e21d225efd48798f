#!/usr/bin/env bash
# How well does a fitted simulator predict a real server? Fit on a sweep at concurrency 1, 2, 4
# against a real llama.cpp server (xllamacpp, SmolLM2-135M, 4 slots), then measure concurrency 8
# and an open-loop run on both the real server and the simulator serving the fitted profile, and
# print the sim-to-real error of TTFT, ITL and E2E at p50/p90/p99 and of throughput.
# usage: scripts/sim-validate.sh [path/to/llmbench]      (about 8 minutes; loopback only)
# env:   REAL_DIR (default ~/.cache/real-llm: tests/real-server/setup.sh prepares it)
#        PORT (8093)  SLOTS (4)  RUNS (16)  RATE (0.5: about 80% of what it serves)  DURATION (90s)  OUT (a temporary directory)
#        REUSE=1 with OUT: keep the real server's results already in OUT (refit and predict again)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/target/release/llmbench}
REAL_DIR=${REAL_DIR:-$HOME/.cache/real-llm}
PORT=${PORT:-8093}; SLOTS=${SLOTS:-4}; RUNS=${RUNS:-16}; RATE=${RATE:-0.5}; DURATION=${DURATION:-90s}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "no llmbench at $BIN: cargo build --release" >&2; exit 2; }
URL=http://127.0.0.1:$PORT
REAL=1
[ -n "${REUSE:-}" ] && [ -f "$OUT/fit.json" ] && [ -f "$OUT/open-real.json" ] && REAL=
if [ -n "$REAL" ]; then
  "$ROOT/tests/real-server/setup.sh" "$REAL_DIR" >/dev/null
  PID=$(MODEL=smollm2 "$ROOT/tests/real-server/start.sh" "$REAL_DIR" "$PORT" "$SLOTS")
  trap 'kill $PID 2>/dev/null || true' EXIT
fi
# One workload shape for every run: prompts of 200 +- 100 tokens, 64-token answers. Each run has
# its own seed: a seeded plan repeats its prompts exactly, and a rerun would meet the server's
# prompt cache.
WORK=(--dataset random --input-tokens 200 --input-stddev 100 --max-tokens 64 --ignore-eos -q)

if [ -n "$REAL" ]; then
  echo "== fit: sweep 1,2,4 against the real server" >&2
  "$BIN" sweep --url "$URL" --concurrency 1,2,4 --runs "$RUNS" "${WORK[@]}" --seed 7 -o "$OUT/fit.json" >/dev/null
fi
"$BIN" sim fit "$OUT/fit.json" --max-num-seqs "$SLOTS" -o "$OUT/server.toml" >&2

for side in real sim; do
  if [ $side = real ]; then T=(--url "$URL"); else T=(--sim-profile-file "$OUT/server.toml" --virtual-time); fi
  [ $side = real ] && [ -z "$REAL" ] && continue
  echo "== predict: concurrency 8 and $RATE req/s open loop, $side" >&2
  "$BIN" sweep "${T[@]}" --concurrency 8 --runs $((RUNS * 2)) "${WORK[@]}" --seed 8 -o "$OUT/c8-$side.json" >/dev/null
  "$BIN" throughput "${T[@]}" --rate "$RATE" --arrival poisson --duration "$DURATION" --warmup 0s "${WORK[@]}" \
    --seed 9 -o "$OUT/open-$side.json" >/dev/null
done

python3 - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
def load(name): return json.load(open(f"{out}/{name}.json"))["summary"]
def pct(sim, real): return (sim - real) / real * 100 if real else float("nan")
print("| run | figure | real | sim | error |")
print("|---|---|---:|---:|---:|")
for run, label in (("c8", "concurrency 8"), ("open", "open loop")):
    real, sim = load(f"{run}-real"), load(f"{run}-sim")
    for metric in ("ttft_ms", "itl_ms", "e2e_ms"):
        for p in ("p50", "p90", "p99"):
            r, s = real[metric][p], sim[metric][p]
            print(f"| {label} | {metric[:-3].upper()} {p} (ms) | {r:.1f} | {s:.1f} | {pct(s, r):+.1f}% |")
    r, s = real["throughput"]["output_tok_s"], sim["throughput"]["output_tok_s"]
    print(f"| {label} | output tok/s | {r:.1f} | {s:.1f} | {pct(s, r):+.1f}% |")
EOF
echo "results and the profile: $OUT" >&2
