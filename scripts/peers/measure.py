#!/usr/bin/env python3
"""Run a command and measure its whole process tree: CPU (user + sys) and peak memory.

usage: measure.py --out FILE.json [--timeout S] [--interval S] -- COMMAND...

CPU: this process becomes a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so every descendant,
even one orphaned by its parent (a daemonized worker), is reaped here or by a parent that is, and
its user + sys time lands in getrusage(RUSAGE_CHILDREN). Exact, whatever the tool forks.
Memory: the tree is sampled every --interval seconds; the peak of the summed PSS (proportional
set size: pages shared by forked workers are split, not counted twice) and of the summed RSS.
The largest single process's maxrss (from the kernel, exact) is reported too.
The command runs in its own process group; at --timeout the group gets SIGTERM, then SIGKILL.
Writes {"rc", "timed_out", "wall_s", "cpu_user_s", "cpu_sys_s", "peak_pss_kb", "peak_rss_kb",
"max_single_rss_kb", "peak_procs"} to --out. Exits with the command's status.
"""
import argparse
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def descendants(root):
    """PIDs of every process below `root`, from /proc (ppid links)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                s = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        ppid = int(s[s.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c in children.get(p, ()):
            out.append(c)
            todo.append(c)
    return out


def mem_kb(pid):
    """(PSS, RSS) of one process in kB, from smaps_rollup; (0, 0) if it is gone."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("measure.py: prctl(PR_SET_CHILD_SUBREAPER) failed: orphans would escape", file=sys.stderr)
        sys.exit(2)
    me = os.getpid()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, start_new_session=True)
    peak_pss = peak_rss = peak_procs = 0
    timed_out = False
    rc = None
    while rc is None:
        pids = descendants(me)
        pss = rss = 0
        for p in pids:
            a1, b1 = mem_kb(p)
            pss += a1
            rss += b1
        peak_pss, peak_rss = max(peak_pss, pss), max(peak_rss, rss)
        peak_procs = max(peak_procs, len(pids))
        rc = proc.poll()
        if rc is not None:
            break
        if time.monotonic() - t0 > a.timeout:
            timed_out = True
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
                try:
                    rc = proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    pass
            break
        time.sleep(a.interval)
    wall = time.monotonic() - t0
    # Reap what is left (orphans reparented to us): give them 10 s, then kill them.
    deadline = time.monotonic() + 10
    while True:
        left = descendants(me)
        if not left:
            break
        if time.monotonic() > deadline:
            for p in left:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            time.sleep(0.05)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = {
        "cmd": cmd,
        "rc": rc,
        "timed_out": timed_out,
        "wall_s": round(wall, 3),
        "cpu_user_s": ru.ru_utime,
        "cpu_sys_s": ru.ru_stime,
        "peak_pss_kb": peak_pss,
        "peak_rss_kb": peak_rss,
        "max_single_rss_kb": ru.ru_maxrss,
        "peak_procs": peak_procs,
    }
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    sys.exit(rc if isinstance(rc, int) and rc >= 0 else 1)


if __name__ == "__main__":
    main()
