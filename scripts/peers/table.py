#!/usr/bin/env python3
"""Read the results of scripts/peers/run.sh and print the comparison as Markdown.

usage: table.py OUT_DIR

OUT_DIR/PART/TOOL/ holds: measure.json (scripts/peers/measure.py: the tool's process tree CPU and
peak memory), served.json (the server's counters before/after: tokens it sent), wire.json
(scripts/peers/wire.py: each request's TTFT on the wire), the tool's own result file, version,
and `skipped` (a reason) when the tool could not run.
"""
import glob
import json
import os
import re
import sys

TOOLS = ["llmbench", "llmbench-builtin", "vllm", "guidellm", "aiperf", "oha", "inference-benchmarker"]
LABEL = {
    "llmbench": "llmbench run",
    "llmbench-builtin": "llmbench run, built-in prompts",
    "vllm": "vLLM `bench serve`",
    "guidellm": "GuideLLM",
    "aiperf": "AIPerf",
    "oha": "oha (raw HTTP, no SSE parsing: a floor)",
    "inference-benchmarker": "HF inference-benchmarker",
}


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def tool_ttft(tool, d):
    """(p50, p99, requests the tool counted as successful) from the tool's own output, in ms."""
    if tool in ("llmbench", "llmbench-builtin"):
        r = load(os.path.join(d, "result.json"))
        if r:
            t = r["summary"].get("ttft_ms") or {}
            return t.get("p50"), t.get("p99"), r["summary"]["requests"].get("ok")
    elif tool == "vllm":
        r = load(os.path.join(d, "result.json"))
        if r:
            return r.get("median_ttft_ms"), r.get("p99_ttft_ms"), r.get("completed")
    elif tool == "guidellm":
        r = load(os.path.join(d, "result.json"))
        if r and r.get("benchmarks"):
            m = r["benchmarks"][0]["metrics"]
            p = m["time_to_first_token_ms"]["successful"].get("percentiles") or {}
            return p.get("p50"), p.get("p99"), m["request_totals"].get("successful")
    elif tool == "aiperf":
        r = load(os.path.join(d, "artifacts", "profile_export_aiperf.json"))
        if r:
            t = r.get("time_to_first_token") or {}
            n = (r.get("request_count") or {}).get("avg")
            return t.get("p50"), t.get("p99"), n
    elif tool == "oha":
        r = load(os.path.join(d, "result.json"))
        if r:
            sc = (r.get("statusCodeDistribution") or {}).get("200")
            return None, None, sc
    return None, None, None


def cell(part_dir, tool):
    """Everything known about one tool in one part, or None if the part was not run."""
    d = os.path.join(part_dir, tool)
    if not os.path.isdir(d):
        return None
    c = {"dir": d, "version": read(os.path.join(d, "version")) or "-"}
    c["skipped"] = read(os.path.join(d, "skipped"))
    if c["skipped"]:
        return c
    c["measure"] = load(os.path.join(d, "measure.json")) or {}
    c["served"] = load(os.path.join(d, "served.json")) or {}
    c["wire"] = load(os.path.join(d, "wire.json"))
    c["p50"], c["p99"], c["ok"] = tool_ttft(tool, d)
    m = c["measure"]
    c["failed"] = None
    if m.get("timed_out"):
        c["failed"] = f"timed out after {m.get('wall_s', 0):.0f} s"
    elif m.get("rc") not in (0, None):
        c["failed"] = f"exit {m.get('rc')}: {last_error(d)}"
    elif not m:
        c["failed"] = "did not run"
    return c


def last_error(d):
    """The last line of the tool's stderr or stdout that looks like an error."""
    for name in ("stderr.log", "stdout.log"):
        try:
            lines = open(os.path.join(d, name), errors="replace").read().splitlines()
        except OSError:
            continue
        for line in reversed(lines):
            s = line.strip(" │|")
            if any(w in s for w in ("Error", "error", "ERROR", "Traceback", "failed")):
                return s[:160]
    return "see stderr.log"


def load_cell(served):
    """The 1-minute load average before and after the run (other work on the machine)."""
    if "load1_before" not in served:
        return "-"
    return f"{served['load1_before']:.1f}–{served['load1_after']:.1f}"


def fmt(x, nd=1, signed=False):
    if x is None:
        return "-"
    s = f"{x:+.{nd}f}" if signed else f"{x:.{nd}f}"
    return s


def cost_cells(c):
    if c is None:
        return "not run", "not run"
    if c["skipped"]:
        return "skipped", "skipped"
    if c["failed"]:
        return "failed", "failed"
    m, tok = c["measure"], c["served"].get("tokens") or 0
    cpu = m.get("cpu_user_s", 0) + m.get("cpu_sys_s", 0)
    us = cpu * 1e6 / tok if tok else None
    # The tree's summed PSS, sampled; a short-lived process can slip between samples, so the
    # largest single process's max RSS (exact, from the kernel) when that is higher.
    mem = max(m.get("peak_pss_kb", 0), m.get("max_single_rss_kb", 0))
    return fmt(us, 2), f"{mem / 1024:.0f} MB"


def cpu_s(c):
    m = c["measure"]
    return m.get("cpu_user_s", 0) + m.get("cpu_sys_s", 0)


def marginal_cell(cost, start):
    """CPU per token once started: (cost run - one-request run) over the tokens between them."""
    ok = lambda c: c is not None and not c["skipped"] and not c["failed"]
    if not ok(cost) or not ok(start):
        return "-"
    tok = (cost["served"].get("tokens") or 0) - (start["served"].get("tokens") or 0)
    if tok <= 0:
        return "-"
    return fmt(max(cpu_s(cost) - cpu_s(start), 0) * 1e6 / tok, 2)


def timing_cell(c):
    if c is None:
        return "not run"
    if c["skipped"]:
        return "skipped"
    if c["failed"]:
        return "failed"
    if c["p50"] is None:
        return "no TTFT"
    w = (c["wire"] or {}).get("ttft_ms") or {}
    if not w:
        return "no wire truth"
    return f"{fmt(c['p50'] - w['p50'], 1, True)} / {fmt(c['p99'] - w['p99'], 1, True)}"


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = sys.argv[1]
    parts = {p: os.path.join(out, p) for p in ("start", "cost", "t16", "t1024", "real")}
    tools = [t for t in TOOLS if any(os.path.isdir(os.path.join(p, t)) for p in parts.values())]
    meta = read(os.path.join(out, "meta.txt")) or ""
    print(f"<!-- {out} -->")
    for line in meta.splitlines():
        print(f"    {line}")
    print()
    print("| tool | version | CPU µs / token | less start-up | peak memory "
          "| TTFT error p50 / p99, 16 streams (ms) | TTFT error p50 / p99, 1,024 streams (ms) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    notes = []
    for t in tools:
        cs = {p: cell(d, t) for p, d in parts.items()}
        version = next((c["version"] for c in cs.values() if c), "-")
        cpu, mem = cost_cells(cs["cost"])
        marginal = marginal_cell(cs["cost"], cs["start"])
        row = [LABEL[t], version, cpu, marginal, mem, timing_cell(cs["t16"]), timing_cell(cs["t1024"])]
        skipped = {c["skipped"] for c in cs.values() if c and c["skipped"]}
        if skipped and all(c is None or c["skipped"] for c in cs.values()):
            row = [LABEL[t], version, "—", "—", "—", "—", "—"]
            notes.append(f"{LABEL[t]}: {'; '.join(sorted(skipped))}")
        else:
            for p, c in cs.items():
                if c and c["skipped"]:
                    notes.append(f"{LABEL[t]}, {p}: skipped: {c['skipped']}")
                elif c and c["failed"]:
                    notes.append(f"{LABEL[t]}, {p}: {c['failed']}")
        print("| " + " | ".join(row) + " |")
    print()
    for n in notes:
        print(f"- {n}")
    if notes:
        print()

    # The details behind each cell: what the server saw against what the tool says.
    print("Details (server truth beside each tool's own figures):")
    print()
    print("| part | tool | server: requests / tokens | tool: requests ok | wall s | CPU s | "
          "processes | TTFT p50 / p99: tool | TTFT p50 / p99: server (wire) | request send p50 / p99 "
          "| load |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p, pd in parts.items():
        for t in tools:
            c = cell(pd, t)
            if c is None or c["skipped"]:
                continue
            m, s = c["measure"], c["served"]
            w = (c["wire"] or {}).get("ttft_ms") or {}
            cpu = m.get("cpu_user_s", 0) + m.get("cpu_sys_s", 0)
            wire_n = (c["wire"] or {}).get("with_token")
            snd = (c["wire"] or {}).get("send_ms") or {}
            print(f"| {p} | {t} | {s.get('requests_ok', 0):.0f} / {s.get('tokens', 0):.0f} | "
                  f"{fmt(c['ok'], 0)} | {fmt(m.get('wall_s'), 1)} | {fmt(cpu, 2)} | "
                  f"{m.get('peak_procs', '-')} | {fmt(c['p50'])} / {fmt(c['p99'])} | "
                  f"{fmt(w.get('p50'))} / {fmt(w.get('p99'))}"
                  + (f" ({wire_n} req)" if wire_n is not None else "")
                  + f" | {fmt(snd.get('p50'))} / {fmt(snd.get('p99'))} | {load_cell(s)} |")
    real = [(t, cell(parts["real"], t)) for t in tools]
    real = [(t, c) for t, c in real if c and not c["skipped"]]
    if real:
        print()
        print("llama.cpp server (SmolLM2-135M Q4_1, 4 slots, 1 thread on core 0), one stream:")
        print()
        print("| tool | TTFT p50: tool | TTFT p50: wire | error | server's prompt eval p50 (its log) "
              "| prompt tokens p50 |")
        print("|---|---:|---:|---:|---:|---:|")
        for t, c in real:
            if c["failed"]:
                print(f"| {LABEL[t]} | failed: {c['failed']} | | | | |")
                continue
            w = (c["wire"] or {}).get("ttft_ms") or {}
            pe = prompt_evals(c["dir"])
            err = c["p50"] - w["p50"] if c["p50"] is not None and w else None
            print(f"| {LABEL[t]} | {fmt(c['p50'])} | {fmt(w.get('p50'))} | {fmt(err, 1, True)} | "
                  f"{fmt(pe[0])} ms | {fmt(pe[1], 0)} |")


def prompt_evals(d):
    """(p50 of prompt eval ms, p50 of prompt tokens) from llama.cpp's log lines
    `prompt eval time =   978.45 ms /   134 tokens`."""
    ms, toks = [], []
    try:
        for line in open(os.path.join(d, "server.log"), errors="replace"):
            m = re.search(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens", line)
            if m:
                ms.append(float(m.group(1)))
                toks.append(int(m.group(2)))
    except OSError:
        pass
    med = lambda xs: sorted(xs)[len(xs) // 2] if xs else None
    return med(ms), med(toks)


if __name__ == "__main__":
    main()
