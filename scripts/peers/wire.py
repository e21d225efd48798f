#!/usr/bin/env python3
"""The server's truth from a loopback packet capture: each request's TTFT on the wire.

usage: wire.py CAPTURE.pcap SERVER_PORT [--json OUT] [--records OUT.csv]

For each TCP connection to SERVER_PORT, each HTTP request (a client segment starting with
"POST ") is timed to the first server segment after it that carries a content token of a chat
stream (`"content":"` followed by a non-empty string, so the role-only first chunk
`"content":""` and llama.cpp's `"content":null` do not count), on tcpdump's (the kernel's) clock:

- ttft_ms, the server's truth: from the request's last byte (the last client segment before the
  server's first answer: a client may send headers and body apart) to the first token;
- ttft_first_byte_ms: from the request's first byte; what a client of zero cost would report.
  The difference is the time the client took to send its request.

Requests that never got a token (errors) are counted apart.

Prints a JSON summary: requests, with_token, ttft_ms and ttft_first_byte_ms (p50, p90, p99,
mean, min, max), send_ms (first to last byte of the requests), and last_start_s, the span of
the requests' starts. --records writes one line per request: its start (s after the first
request's), its TTFT (ms, from the last byte) and its send time (ms).
Pure Python (no dpkt): pcap linktypes Ethernet (tcpdump -i lo), Linux SLL/SLL2, raw IPv4.
"""
import json
import re
import struct
import sys

CONTENT = re.compile(rb'"content":\s*"(?!")')


def packets(path):
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        magic = struct.unpack("<I", hdr[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            endian = "<"
        else:
            endian = ">"
            magic = struct.unpack(">I", hdr[:4])[0]
        nano = magic == 0xA1B23C4D
        linktype = struct.unpack(endian + "I", hdr[20:24])[0] & 0x0FFFFFFF
        off = {1: 14, 113: 16, 276: 20, 101: 0, 228: 0, 0: 4, 108: 4}.get(linktype)
        if off is None:
            raise SystemExit(f"wire.py: unsupported pcap linktype {linktype}")
        rec = struct.Struct(endian + "IIII")
        while True:
            h = f.read(16)
            if len(h) < 16:
                return
            sec, frac, incl, _ = rec.unpack(h)
            data = f.read(incl)
            ts = sec + frac / (1e9 if nano else 1e6)
            ip = data[off:]
            if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
                continue
            ihl = (ip[0] & 15) * 4
            tcp = ip[ihl:]
            if len(tcp) < 20:
                continue
            sport, dport = struct.unpack(">HH", tcp[:4])
            doff = (tcp[12] >> 4) * 4
            payload = tcp[doff:]
            if payload:
                yield ts, sport, dport, payload


def percentile(xs, q):
    """Linear interpolation between closest ranks (numpy's default)."""
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * q / 100
    i = int(k)
    j = min(i + 1, len(xs) - 1)
    return xs[i] + (xs[j] - xs[i]) * (k - i)


def summarize(xs):
    if not xs:
        return {}
    return {
        "p50": percentile(xs, 50),
        "p90": percentile(xs, 90),
        "p99": percentile(xs, 99),
        "mean": sum(xs) / len(xs),
        "min": min(xs),
        "max": max(xs),
    }


def analyze(path, port):
    # client port -> [first byte, last byte, server answered yet, tail of previous server segment]
    pending = {}
    rows, requests = [], 0  # (first byte, last byte, first token)
    for ts, sport, dport, payload in packets(path):
        if dport == port:
            if payload.startswith(b"POST "):
                requests += 1
                pending[sport] = [ts, ts, False, b""]
            elif sport in pending and not pending[sport][2]:
                pending[sport][1] = ts
        elif sport == port and dport in pending:
            p = pending[dport]
            p[2] = True
            buf = p[3] + payload
            if CONTENT.search(buf):
                rows.append((p[0], p[1], ts))
                del pending[dport]
            else:
                p[3] = buf[-24:]
    t0 = min(r[0] for r in rows) if rows else 0
    return {
        "requests": requests,
        "with_token": len(rows),
        "ttft_ms": summarize([(t - last) * 1000 for _, last, t in rows]),
        "ttft_first_byte_ms": summarize([(t - first) * 1000 for first, _, t in rows]),
        "send_ms": summarize([(last - first) * 1000 for first, last, _ in rows]),
        "last_start_s": (max(r[0] for r in rows) - t0) if rows else None,
    }, [(f - t0, (t - last) * 1000, (last - f) * 1000) for f, last, t in rows]


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    res, records = analyze(sys.argv[1], int(sys.argv[2]))
    out = json.dumps(res, indent=1)
    opts = dict(zip(sys.argv[3::2], sys.argv[4::2]))
    if "--json" in opts:
        with open(opts["--json"], "w") as f:
            f.write(out)
    if "--records" in opts:
        with open(opts["--records"], "w") as f:
            f.write("start_s,ttft_ms,send_ms\n")
            for s, t, snd in sorted(records):
                f.write(f"{s:.6f},{t:.3f},{snd:.3f}\n")
    print(out)


if __name__ == "__main__":
    main()
