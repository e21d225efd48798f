#!/usr/bin/env bash
# llmbench beside its peers (issue #18): the same workloads, one mock server, the server's truth,
# one Markdown table. Not run by CI; about 25 minutes on the 2-core development machine (the first
# install: ~20 minutes and ~10 GB more).
#
# usage: scripts/peers/run.sh [install|measure|table|all]     (default: all)
#   install  install the pinned peer tools outside the checkout (scripts/peers/install.sh)
#   measure  run every part for every tool, results under $OUT
#   table    print the table of $OUT (scripts/peers/table.py)
#
# env:  BIN    llmbench binary (default target/release/llmbench; copied to $OUT first, so a
#              rebuild during the run changes nothing)
#       TOOLS  default "llmbench llmbench-builtin vllm guidellm aiperf oha inference-benchmarker"
#              (llmbench-builtin: llmbench with its built-in prompts instead of the random dataset,
#              which it builds per request inside the run)
#       PARTS  default "start cost t16 t1024"; add "real" for the llama.cpp part (REAL=1 does too)
#       OUT    results directory (default $PEERS_DIR/results/YYYY-MM-DDTHHMM)
#       PEERS_DIR  tools, tokenizer, results (default ~/.cache/llmbench-peers)
#       TIMEOUT    seconds per tool run (default 900)
#       COST_REQUESTS=2000 COST_CONC=64 COST_OUT=128    client cost: zero-delay server
#       T_REQUESTS16=320 T_REQUESTS1024=2048 T_OUT=64   timing: TTFT 100-120 ms, ITL 20 ms
#       ISL=128    prompt tokens (SmolLM2 tokenizer)
#       REAL_DIR (default ~/.cache/real-llm), REAL_REQUESTS=12 REAL_OUT=32: the llama.cpp part
#       KEEP_PCAP=1  keep each timing run's capture (PART/TOOL/wire.pcap)
#
# Pinning: the mock server (llmbench sim) and tcpdump run on core 0 (`taskset -c 0`), the tool
# under test and everything it forks on core 1 (`taskset -c 1`). Loopback only. Each tool run is
# bounded by TIMEOUT; every process started here is stopped on exit.
#
# What is measured (details in scripts/peers/README.md):
#   start  one request of COST_OUT tokens, zero-delay server: the tool's start-up CPU and memory
#   cost   COST_REQUESTS streamed chat completions of COST_OUT tokens (ignore_eos) at COST_CONC,
#          zero-delay server: the tool's whole process tree CPU (user + sys, every descendant
#          reaped: scripts/peers/measure.py) over the tokens the server sent (its /metrics),
#          and the tree's peak memory (PSS, sampled every 0.25 s).
#   t16, t1024  the same at 16 and 1,024 streams against a server with ITL 20 ms and TTFT
#          100-120 ms: the tool's TTFT p50/p99 minus the wire's (tcpdump on loopback: each
#          request's first byte to its first content token, scripts/peers/wire.py).
#   real   llama.cpp's server (SmolLM2-135M, tests/real-server/start.sh): each tool's TTFT p50
#          beside the wire's and the server's own prompt eval time (its log, per request).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=${ROOT:-$(cd "$HERE/../.." && pwd)}
. "$HERE/versions.sh"
MODE=${1:-all}
PEERS_DIR=${PEERS_DIR:-$HOME/.cache/llmbench-peers}
BIN=${BIN:-$ROOT/target/release/llmbench}
TOOLS=${TOOLS:-llmbench llmbench-builtin vllm guidellm aiperf oha inference-benchmarker}
PARTS=${PARTS:-start cost t16 t1024}
[ "${REAL:-0}" = 1 ] && [[ " $PARTS " != *" real "* ]] && PARTS="$PARTS real"
OUT=${OUT:-$PEERS_DIR/results/$(date +%Y-%m-%dT%H%M)}
TIMEOUT=${TIMEOUT:-900}
COST_REQUESTS=${COST_REQUESTS:-2000}; COST_CONC=${COST_CONC:-64}; COST_OUT=${COST_OUT:-128}
T_REQUESTS16=${T_REQUESTS16:-320}; T_REQUESTS1024=${T_REQUESTS1024:-2048}; T_OUT=${T_OUT:-64}
ISL=${ISL:-128}
REAL_DIR=${REAL_DIR:-$HOME/.cache/real-llm}; REAL_REQUESTS=${REAL_REQUESTS:-12}; REAL_OUT=${REAL_OUT:-32}
MODEL=llmbench-sim
TOK_ID=llmbench/smollm2-tokenizer
TOK_DIR=$PEERS_DIR/hf/hub/models--llmbench--smollm2-tokenizer/snapshots/$TOKENIZER_REV
PY=${PYTHON:-python3}

log() { echo "[peers $(date +%H:%M:%S)] $*" >&2; }

if [ "$MODE" = install ] || [ "$MODE" = all ]; then
  "$HERE/install.sh"
fi
if [ "$MODE" = table ]; then
  exec "$PY" "$HERE/table.py" "$OUT"
fi
[ "$MODE" = install ] && exit 0

# ---------------------------------------------------------------------------------------------
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "no llmbench binary at $BIN (cargo build --release, or set BIN)" >&2; exit 1; }
cp "$BIN" "$OUT/llmbench"
LB=$OUT/llmbench
ulimit -n 20000 2>/dev/null || true
export HF_HOME=$PEERS_DIR/hf HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export PYTHONWARNINGS=ignore NO_COLOR=1 TERM=dumb

SERVER_PID=; DUMP_PID=
cleanup() {
  [ -n "$DUMP_PID" ] && kill -INT "$DUMP_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  DUMP_PID=; SERVER_PID=
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
metric() {   # metric PORT NAME: a counter's value from the server's /metrics (0 when absent)
  curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1==n {print $2; f=1} END {if (!f) print 0}'
}
wait_ready() {   # wait_ready PORT PATH
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1$2")" = 200 ] && return 0
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2; return 1
}

# start_sim PART: the mock server for a part, on core 0, port in $PORT
start_sim() {
  PORT=$(free_port)
  local extra=()
  # zero profile: no delay, no prefix cache, 65,536 slots. Timing parts: every step 20 ms (the
  # ITL), and 80 ms before a request joins the batch, so TTFT = 80 ms + the wait for the next
  # step boundary (0-20 ms) + one step: 100-120 ms. The wire says exactly what each request got.
  # --max-batched-tokens 0: the zero profile keeps the default chunked-prefill budget (2,048
  # prompt tokens per step), which with 20 ms steps queues 1,024 prompts for a second or more.
  case $1 in t16|t1024) extra=(--decode-base-ms 20 --slow-start-ms 80 --max-batched-tokens 0) ;; esac
  taskset -c 0 "$LB" sim --profile zero --model "$MODEL" --host 127.0.0.1 --port "$PORT" "${extra[@]}" \
    > "$2/server.log" 2>&1 &
  SERVER_PID=$!
  wait_ready "$PORT" /health
}

start_real() {
  PORT=$(free_port)
  [ -x "$REAL_DIR/venv/bin/python" ] || "$ROOT/tests/real-server/setup.sh" "$REAL_DIR" > "$2/setup.log" 2>&1
  SERVER_PID=$(THREADS=1 MODEL=smollm2 taskset -c 0 "$ROOT/tests/real-server/start.sh" "$REAL_DIR" "$PORT" 4)
  MODEL_REAL=$(curl -s "http://127.0.0.1:$PORT/v1/models" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
}

start_dump() {   # start_dump DIR: capture the data segments of the server's port (core 0)
  # -s 2048: a late server writes headers, the role chunk and the first token in one segment;
  # the token must be inside the captured part (-s 400 cut it off and moved the truth later)
  taskset -c 0 tcpdump -i lo -nn -s 2048 -B 65536 -w "$1/wire.pcap" \
    "tcp port $PORT and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)" \
    2> "$1/tcpdump.log" &
  DUMP_PID=$!
  for _ in $(seq 1 50); do grep -q listening "$1/tcpdump.log" 2>/dev/null && return 0; sleep 0.1; done
}
stop_dump() {
  [ -n "$DUMP_PID" ] || return 0
  sleep 1.5   # tcpdump gets the kernel's packets in blocks, up to 1 s late: let the last ones in
  kill -INT "$DUMP_PID" 2>/dev/null || true
  wait "$DUMP_PID" 2>/dev/null || true
  DUMP_PID=
}

# tool_cmd TOOL DIR URL N CONC OSL MODEL: sets CMD (the tool's command line) or SKIP (why not)
tool_cmd() {
  local t=$1 d=$2 url=$3 n=$4 c=$5 osl=$6 model=$7
  CMD=(); SKIP=
  case $t in
    llmbench)
      CMD=("$LB" run --url "$url" --model "$model" --runs "$n" --concurrency "$c"
           --max-tokens "$osl" --ignore-eos --warmup 0 --dataset random --input-tokens "$ISL"
           --tokenizer "$TOK_DIR/tokenizer.json" --seed 1 -q --output "$d/result.json") ;;
    llmbench-builtin)
      CMD=("$LB" run --url "$url" --model "$model" --runs "$n" --concurrency "$c"
           --max-tokens "$osl" --ignore-eos --warmup 0 --seed 1 -q --output "$d/result.json") ;;
    vllm)
      CMD=("$PEERS_DIR/venv-vllm/bin/vllm" bench serve --backend openai-chat --base-url "$url"
           --endpoint /v1/chat/completions --model "$model" --tokenizer "$TOK_ID"
           --dataset-name random --random-input-len "$ISL" --random-output-len "$osl" --ignore-eos
           --num-prompts "$n" --max-concurrency "$c" --request-rate inf --seed 1
           --percentile-metrics ttft,tpot,itl,e2el --metric-percentiles 50,99
           --save-result --result-dir "$d" --result-filename result.json --disable-tqdm) ;;
    guidellm)
      CMD=("$PEERS_DIR/venv-guidellm/bin/guidellm" run
           --backend "kind=openai_http,target=$url,model=$model"
           --profile "kind=concurrent,streams=$c" --constraint "kind=max_requests,count=$n"
           --data "kind=synthetic_text,prompt_tokens=$ISL,output_tokens=$osl"
           --tokenizer "kind=huggingface_auto,model=$TOK_ID"
           --output "kind=json,path=$d/result.json" --disable-console-interactive) ;;
    aiperf)
      CMD=("$PEERS_DIR/venv-aiperf/bin/aiperf" profile --url "$url" -m "$model"
           --endpoint-type chat --streaming --concurrency "$c" --request-count "$n"
           --isl "$ISL" --osl "$osl" --extra-inputs ignore_eos:true --tokenizer "$TOK_ID"
           --random-seed 1 --artifact-dir "$d/artifacts" --ui none) ;;
    oha)
      # A raw HTTP load generator: reads each streamed body whole, parses no SSE: a floor.
      local body
      body=$("$PY" -c 'import json,sys; print(json.dumps({"model": sys.argv[1], "messages": [{"role": "user", "content": " ".join(["word"] * int(sys.argv[2]))}], "max_tokens": int(sys.argv[3]), "ignore_eos": True, "stream": True}))' "$model" "$ISL" "$osl")
      CMD=("$PEERS_DIR/oha-$OHA_VERSION/bin/oha" -n "$n" -c "$c" -m POST -d "$body"
           -H "content-type: application/json" --no-tui --output-format json
           -o "$d/result.json" "$url/v1/chat/completions") ;;
    *) SKIP="unknown tool" ;;
  esac
  if [ -z "$SKIP" ] && [ -f "$PEERS_DIR/$t.status" ] && [ "$(cat "$PEERS_DIR/$t.status")" != ok ]; then
    SKIP=$(cat "$PEERS_DIR/$t.status")
  fi
  if [ -z "$SKIP" ] && ! [ -x "${CMD[0]}" ]; then SKIP="not installed (${CMD[0]})"; fi
  if [ "$t" = inference-benchmarker ]; then
    SKIP=$(cat "$PEERS_DIR/$t.status" 2>/dev/null || echo "not installable here: only on GitHub")
  fi
}

tool_version() {
  case $1 in
    llmbench|llmbench-builtin) "$LB" --version | awk '{print $2}' ;;
    vllm) echo "$VLLM_VERSION" ;;
    guidellm) echo "$GUIDELLM_VERSION" ;;
    aiperf) echo "$AIPERF_VERSION" ;;
    oha) echo "$OHA_VERSION" ;;
    *) echo - ;;
  esac
}

# run_one PART TOOL
run_one() {
  local part=$1 t=$2 d=$OUT/$1/$2 n c osl
  rm -rf "$d"; mkdir -p "$d"
  case $part in
    start) n=1; c=1; osl=$COST_OUT ;;
    cost)  n=$COST_REQUESTS; c=$COST_CONC; osl=$COST_OUT ;;
    t16)   n=$T_REQUESTS16; c=16; osl=$T_OUT ;;
    t1024) n=$T_REQUESTS1024; c=1024; osl=$T_OUT ;;
    real)  n=$REAL_REQUESTS; c=1; osl=$REAL_OUT ;;
  esac
  local m=$MODEL
  tool_cmd "$t" "$d" "http://127.0.0.1:0" "$n" "$c" "$osl" "$m"
  echo "$(tool_version "$t")" > "$d/version"
  if [ -n "$SKIP" ]; then
    echo "$SKIP" > "$d/skipped"; log "$part $t: skipped: $SKIP"; return 0
  fi
  if [ "$part" = real ] && [ "$t" = oha ]; then
    echo "no TTFT to compare (oha parses no SSE)" > "$d/skipped"; log "$part $t: skipped"; return 0
  fi
  if [ "$part" = real ]; then start_real "$part" "$d"; m=$MODEL_REAL; else start_sim "$part" "$d"; fi
  local url=http://127.0.0.1:$PORT
  tool_cmd "$t" "$d" "$url" "$n" "$c" "$osl" "$m"
  local gen=llmbench_sim:generation_tokens_total req='llmbench_sim:request_total{status="200"}'
  local psec=
  if [ "$part" = real ]; then
    # llama.cpp counts no requests: the wire does (wire.json)
    gen=llamacpp:tokens_predicted_total; req=none; psec=llamacpp:prompt_seconds_total
  fi
  case $part in t16|t1024|real) start_dump "$d" ;; esac
  local tok0 req0 ps0=0 load0 load1
  load0=$(cut -d' ' -f1 /proc/loadavg)
  tok0=$(metric "$PORT" "$gen"); req0=$(metric "$PORT" "$req")
  [ -n "$psec" ] && ps0=$(metric "$PORT" "$psec")
  log "$part $t: ${CMD[*]:0:3} ... ($n requests at concurrency $c, $osl tokens)"
  printf '%q ' "${CMD[@]}" > "$d/command"; echo >> "$d/command"
  local rc=0
  ( cd "$d" && taskset -c 1 "$PY" "$HERE/measure.py" --out "$d/measure.json" --timeout "$TIMEOUT" -- \
      "${CMD[@]}" > "$d/stdout.log" 2> "$d/stderr.log" ) || rc=$?
  stop_dump
  local tok1 req1 ps1=0
  tok1=$(metric "$PORT" "$gen"); req1=$(metric "$PORT" "$req"); load1=$(cut -d' ' -f1 /proc/loadavg)
  [ -n "$psec" ] && ps1=$(metric "$PORT" "$psec")
  "$PY" - "$d/served.json" "$tok0" "$tok1" "$req0" "$req1" "$ps0" "$ps1" "$rc" "$load0" "$load1" <<'PY'
import json, sys
f, t0, t1, r0, r1, p0, p1, rc, l0, l1 = sys.argv[1:]
json.dump({"tokens": float(t1) - float(t0), "requests_ok": float(r1) - float(r0),
           "prompt_seconds": float(p1) - float(p0), "rc": int(rc),
           "load1_before": float(l0), "load1_after": float(l1)}, open(f, "w"))
PY
  if [ -f "$d/wire.pcap" ]; then
    "$PY" "$HERE/wire.py" "$d/wire.pcap" "$PORT" --json "$d/wire.json" --records "$d/wire.csv" > /dev/null || true
    [ "${KEEP_PCAP:-0}" = 1 ] || rm -f "$d/wire.pcap"
  fi
  kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
  if [ "$part" = real ]; then   # llama.cpp's log: its own prompt eval time for every request
    sleep 0.5; mv -f "$REAL_DIR/server-$PORT.log" "$d/server.log" 2>/dev/null || true
    rm -f "$REAL_DIR/server-$PORT.pid"
  fi
  log "$part $t: rc $rc, $(tr -d '\n' < "$d/served.json")"
}

{ echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"; echo "host: $(nproc) cores, $(uname -r)";
  # the binary's own identity: the checkout's HEAD may have moved on since it was built
  echo "llmbench: $("$LB" --version), binary $(sha256sum "$LB" | cut -c1-12) built $(date -u -r "$BIN" +%Y-%m-%dT%H:%MZ), checkout HEAD $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo ?)";
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"; echo "parts: $PARTS"; echo "tools: $TOOLS"; } >> "$OUT/meta.txt"
# Only the tools are pinned, not what pip resolved under them: keep the exact sets.
for v in "$PEERS_DIR"/venv-*; do
  [ -x "$v/bin/python" ] && "$v/bin/python" -m pip freeze --all > "$OUT/pip-freeze-$(basename "$v").txt" 2>/dev/null || true
done
for part in $PARTS; do
  for t in $TOOLS; do run_one "$part" "$t"; done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/meta.txt"
"$PY" "$HERE/table.py" "$OUT"
