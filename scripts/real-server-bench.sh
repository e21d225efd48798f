#!/usr/bin/env bash
# The real-server figures of PERFORMANCE.md, in one command: SmolLM2-135M on llama.cpp's server
# (xllamacpp) with 4 slots; a streamed run, then a concurrency sweep.
# usage: scripts/real-server-bench.sh [CACHE_DIR]    (default ~/.cache/real-llm)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-$HOME/.cache/real-llm}
tests/real-server/setup.sh "$DIR" > /dev/null
cargo build --release -q
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PID=$(MODEL=smollm2 tests/real-server/start.sh "$DIR" "$PORT" 4)
trap 'kill $PID 2>/dev/null || true' EXIT
URL=http://127.0.0.1:$PORT
B=target/release/llmbench
echo "== run: 20 streamed requests, 128 tokens, concurrency 1"
$B run --url "$URL" --stream --runs 20 --warmup 2 --max-tokens 128 --ignore-eos -q -o real-run.json
python3 - <<'PY'
import json, statistics as st
r = json.load(open("real-run.json"))
rows = [q for q in r["requests"] if not q.get("warmup") and "error" not in q]
ttft = [(q["content_ns"][0] - q["sent_ns"]) / 1e6 for q in rows]
prompt = [q["server_timings"]["prompt_ms"] for q in rows]
decode = [(q["done_ns"] - q["content_ns"][0]) / 1e6 for q in rows]
pred = [q["server_timings"]["predicted_ms"] for q in rows]
print(f"client TTFT p50 {st.median(ttft):.1f} ms vs server prompt_ms p50 {st.median(prompt):.1f} ms")
print(f"client decode (E2E - TTFT) p50 {st.median(decode):.1f} ms vs server predicted_ms p50 {st.median(pred):.1f} ms")
PY
echo "== sweep on --parallel 4"
$B sweep --url "$URL" --concurrency 1,2,4,8 --runs 8 --warmup 2 --max-tokens 128 --ignore-eos --prompt short -q
rm -f real-run.json
