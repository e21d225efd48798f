#!/usr/bin/env bash
# How well does a fitted simulator predict a real server? Fit on sweeps at concurrency 1, 2, 4
# against a real llama.cpp server (xllamacpp, SmolLM2-135M, 4 slots), then measure concurrency 8
# and an open-loop run on the real server, predict them with the fitted profile in virtual
# time, and print the sim-to-real error of TTFT, ITL and E2E at p50/p90/p99 and of throughput,
# beside the real server's own spread over rounds of the same measurements.
# usage: scripts/sim-validate.sh [path/to/llmbench]      (3 to 5 minutes a round; loopback only)
# env:   REAL_DIR (default ~/.cache/real-llm: tests/real-server/setup.sh prepares it)
#        ROUNDS (3)  PORT (8093)  SLOTS (4)  RUNS (16)  RATE (0.5: about 80% of what it serves)  DURATION (90s)  OUT (a temporary directory)
#        TOKENIZER: the server's tokenizer.json (default: SmolLM2's, written from its GGUF by
#                   scripts/peers/install.sh tokenizer into PEERS_DIR, default ~/.cache/llmbench-peers)
#        REUSE=1 with OUT: keep the real server's results already in OUT (refit and predict again)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/target/release/llmbench}
REAL_DIR=${REAL_DIR:-$HOME/.cache/real-llm}
ROUNDS=${ROUNDS:-3}; PORT=${PORT:-8093}; SLOTS=${SLOTS:-4}; RUNS=${RUNS:-16}; RATE=${RATE:-0.5}; DURATION=${DURATION:-90s}
OUT=${OUT:-$(mktemp -d)}
[ "$ROUNDS" -ge 1 ] 2>/dev/null || { echo "ROUNDS must be a number >= 1" >&2; exit 2; }
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "no llmbench at $BIN: cargo build --release" >&2; exit 2; }
URL=http://127.0.0.1:$PORT
REAL=1
[ -n "${REUSE:-}" ] && [ -f "$OUT/fit-$ROUNDS.json" ] && [ -f "$OUT/open-real-$ROUNDS.json" ] && REAL=
if [ -n "$REAL" ]; then
  "$ROOT/tests/real-server/setup.sh" "$REAL_DIR" >/dev/null
  PID=$(MODEL=smollm2 "$ROOT/tests/real-server/start.sh" "$REAL_DIR" "$PORT" "$SLOTS")
  trap 'kill $PID 2>/dev/null || true' EXIT
fi
# One workload shape for every run: prompts of 200 +- 100 tokens, 64-token answers. Each run has
# its own seed: a seeded plan repeats its prompts exactly, and a rerun would meet the server's
# prompt cache.
WORK=(--dataset random --input-tokens 200 --input-stddev 100 --max-tokens 64 --ignore-eos -q)
c8() { "$BIN" sweep "$@" --concurrency 8 --runs $((RUNS * 2)) "${WORK[@]}"; }
open_loop() { "$BIN" throughput "$@" --rate "$RATE" --arrival poisson --duration "$DURATION" --warmup 0s "${WORK[@]}"; }

# Rounds, each a fitting sweep and the two runs to predict: a shared machine's speed drifts by
# 10-20% over minutes, so the fit takes every round's sweep, the prediction is judged against the
# rounds' mean, and the rounds' own spread is printed beside it.
if [ -n "$REAL" ]; then
  for round in $(seq 1 "$ROUNDS"); do
    s=$((10 * round))
    echo "== round $round of $ROUNDS: sweep 1,2,4 (to fit), concurrency 8 and $RATE req/s open loop (to predict)" >&2
    "$BIN" sweep --url "$URL" --concurrency 1,2,4 --runs "$RUNS" "${WORK[@]}" --seed $((s + 1)) -o "$OUT/fit-$round.json" >/dev/null
    c8 --url "$URL" --seed $((s + 2)) -o "$OUT/c8-real-$round.json" >/dev/null
    open_loop --url "$URL" --seed $((s + 3)) -o "$OUT/open-real-$round.json" >/dev/null
  done
fi
# The simulator counts prompt tokens with the server's tokenizer: with its own rule (4 bytes a
# token) it would prefill 25% more tokens than SmolLM2's tokenizer counts in these prompts.
if [ -z "${TOKENIZER:-}" ]; then
  PEERS_DIR=${PEERS_DIR:-$HOME/.cache/llmbench-peers}
  REAL_DIR=$REAL_DIR PEERS_DIR=$PEERS_DIR "$ROOT/scripts/peers/install.sh" tokenizer >&2
  TOKENIZER=$(find "$PEERS_DIR/hf/hub/models--llmbench--smollm2-tokenizer" -name tokenizer.json 2>/dev/null | head -1 || true)
fi
[ -f "$TOKENIZER" ] || { echo "no tokenizer.json at '$TOKENIZER'" >&2; exit 2; }
FITS=(); for round in $(seq 1 "$ROUNDS"); do FITS+=("$OUT/fit-$round.json"); done
"$BIN" sim fit "${FITS[@]}" --max-num-seqs "$SLOTS" --tokenizer "$TOKENIZER" -o "$OUT/server.toml" >&2
echo "== predict every round's runs with the fitted profile, in virtual time" >&2
SIM=(--sim-profile-file "$OUT/server.toml" --virtual-time)
for round in $(seq 1 "$ROUNDS"); do
  s=$((10 * round))
  c8 "${SIM[@]}" --seed $((s + 2)) -o "$OUT/c8-sim-$round.json" >/dev/null
  open_loop "${SIM[@]}" --seed $((s + 3)) -o "$OUT/open-sim-$round.json" >/dev/null
done

python3 - "$OUT" "$ROUNDS" <<'EOF'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(name): return json.load(open(f"{out}/{name}.json"))["summary"]
def pct(a, b): return (a - b) / b * 100 if b else float("nan")
print(f"| run | figure | real (mean of {rounds} rounds) | rounds against their mean | sim | error |")
print("|---|---|---:|---:|---:|---:|")
for run, label in (("c8", "concurrency 8"), ("open", "open loop")):
    real = [load(f"{run}-real-{r}") for r in range(1, rounds + 1)]
    sim = [load(f"{run}-sim-{r}") for r in range(1, rounds + 1)]
    figures = [(f"{m[:-3].upper()} {p} (ms)", lambda x, m=m, p=p: x[m][p])
               for m in ("ttft_ms", "itl_ms", "e2e_ms") for p in ("p50", "p90", "p99")]
    figures.append(("output tok/s", lambda x: x["throughput"]["output_tok_s"]))
    for name, get in figures:
        rs = [get(x) for x in real]
        r, s = sum(rs) / rounds, sum(get(x) for x in sim) / rounds
        spread = f"{pct(min(rs), r):+.0f}% / {pct(max(rs), r):+.0f}%"
        print(f"| {label} | {name} | {r:.1f} | {spread} | {s:.1f} | {pct(s, r):+.1f}% |")
EOF
echo "results and the profile: $OUT" >&2
