//! Console text: the seed's run summary and a latency table. Plain text, no colours, so the
//! same output reads well in a terminal, a CI log and a pasted issue.

use std::fmt::Write;

use crate::metrics::{Distribution, Summary};
use crate::report::BenchResult;

const RULE: &str = "============================================================";

fn num(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A table of distributions, one row each (rows with no data are left out).
pub fn distribution_table(unit: &str, rows: &[(&str, Option<&Distribution>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:<14} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        unit, "count", "mean", "stddev", "min", "p50", "p90", "p95", "p99", "max"
    );
    for (name, d) in rows {
        if let Some(d) = d {
            let _ = writeln!(
                out,
                "  {:<14} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                name,
                d.count,
                num(d.mean),
                num(d.stddev),
                num(d.min),
                num(d.p50),
                num(d.p90),
                num(d.p95),
                num(d.p99),
                num(d.max)
            );
        }
    }
    out
}

pub fn errors_block(s: &Summary, result: &BenchResult) -> String {
    let mut out = String::new();
    if s.requests.failed == 0 {
        return out;
    }
    let kinds: Vec<String> = s.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(
        out,
        "  Errors: {} of {} ({:.1}%): {}",
        s.requests.failed,
        s.requests.total,
        s.error_rate * 100.0,
        kinds.join(", ")
    );
    let mut shown = std::collections::BTreeSet::new();
    for r in result.requests.iter().filter(|r| !r.warmup) {
        if let Some(f) = &r.error {
            if shown.insert(f.kind) {
                let status = f.http_status.map(|s| format!(" {s}")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "    e.g. request #{} {}{}: {}",
                    r.id,
                    f.kind.name(),
                    status,
                    f.detail
                );
            }
        }
    }
    out
}

/// The `run` summary, as the seed prints it, plus latency when streamed.
pub fn run_summary(result: &BenchResult) -> String {
    let s = &result.summary;
    let t = &result.target;
    let mut out = String::new();
    let _ = writeln!(out, "\n{RULE}");
    let _ = writeln!(out, "Model: {}", t.model);
    let _ = writeln!(out, "Backend: {}", t.backend);
    let _ = writeln!(
        out,
        "Runs: {}/{} successful",
        s.requests.ok, s.requests.total
    );
    if result.interrupted {
        let _ = writeln!(out, "Interrupted: partial results (Ctrl-C)");
    }
    let _ = writeln!(out, "{RULE}");
    let ok: Vec<_> = result
        .requests
        .iter()
        .filter(|r| !r.warmup && r.is_ok())
        .collect();
    let total_time_s: f64 = ok.iter().map(|r| r.e2e_ms()).sum::<f64>() / 1e3;
    if let Some(d) = &s.output_tok_s {
        let avg = if total_time_s > 0.0 {
            s.tokens.output as f64 / total_time_s
        } else {
            0.0
        };
        let _ = writeln!(out, "  Avg throughput: {avg:.1} tok/s");
        let _ = writeln!(out, "  Min throughput: {:.1} tok/s", d.min);
        let _ = writeln!(out, "  Max throughput: {:.1} tok/s", d.max);
        let _ = writeln!(out, "  P50 throughput: {:.1} tok/s", d.p50);
        let _ = writeln!(out, "  P95 throughput: {:.1} tok/s", d.p95);
    }
    let _ = writeln!(
        out,
        "  Total tokens: {} (source: {})",
        s.tokens.output, s.tokens.source
    );
    let _ = writeln!(out, "  Total time: {total_time_s:.2}s");
    let _ = writeln!(
        out,
        "  Aggregate: {:.1} tok/s, {:.2} req/s over a {:.2}s window",
        s.throughput.output_tok_s, s.throughput.req_s, s.throughput.window_s
    );
    if s.tokens.cached > 0 {
        let _ = writeln!(
            out,
            "  Cached prompt tokens: {} of {}",
            s.tokens.cached, s.tokens.prompt
        );
    }
    if s.ttft_ms.is_some() || s.e2e_ms.is_some() {
        let _ = writeln!(out);
        out.push_str(&distribution_table(
            "Latency (ms)",
            &[
                ("TTFT", s.ttft_ms.as_ref()),
                ("ITL", s.itl_ms.as_ref()),
                ("TPOT", s.tpot_ms.as_ref()),
                ("E2E", s.e2e_ms.as_ref()),
            ],
        ));
    }
    out.push_str(&errors_block(s, result));
    out
}

/// The seed's target validation block.
pub fn targets_table(outcomes: &[crate::metrics::targets::TargetOutcome]) -> String {
    let mut out = String::from("\n=== Target Validation ===\n\n");
    for o in outcomes {
        let _ = writeln!(
            out,
            "  {:<32} {:>16}   {}",
            o.target,
            o.shown,
            if o.passed { "PASSED" } else { "FAILED" }
        );
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    let _ = writeln!(
        out,
        "\n  {}",
        if failed == 0 {
            "All targets met.".to_string()
        } else {
            format!("{failed} of {} targets FAILED.", outcomes.len())
        }
    );
    out
}

fn resources(result: &BenchResult) -> String {
    let mut out = String::new();
    let Some(m) = &result.monitor else {
        return out;
    };
    if let (Some(c), Some(r)) = (m.client_cpu_avg_pct, m.client_rss_peak_mb) {
        let _ = writeln!(out, "  Client:        CPU {c:.1}% avg, RSS peak {r:.0} MB");
    }
    if let (Some(c), Some(r)) = (m.server_cpu_avg_pct, m.server_rss_peak_mb) {
        let _ = writeln!(
            out,
            "  Server:        CPU {c:.1}% avg (max {:.1}%), RSS peak {r:.0} MB",
            m.server_cpu_max_pct.unwrap_or(c)
        );
    }
    if let Some(slope) = m.rss_slope_mb_per_min {
        let _ = writeln!(
            out,
            "  Memory:        {} (server RSS {slope:+.1} MB/min)",
            if m.memory_growing {
                "GROWING"
            } else {
                "stable (no continuous growth)"
            }
        );
    }
    if m.server_exited {
        let _ = writeln!(out, "  Server:        the process EXITED during the run");
    }
    out
}

/// `throughput`: the seed's sustained-load summary.
pub fn throughput_summary(result: &BenchResult, rate: f64) -> String {
    let s = &result.summary;
    let mut out = String::new();
    let _ = writeln!(out, "\n=== Throughput Benchmark ===\n");
    let _ = writeln!(
        out,
        "  Model:         {} ({})",
        result.target.model, result.target.url
    );
    let sent = s.throughput.sent_req_s.unwrap_or(0.0);
    let _ = writeln!(
        out,
        "  Requests/sec:  {sent:.1} / {rate:.1} (target): {:.1}% of the target rate sent; {:.1}/s completed over the window",
        if rate > 0.0 { sent / rate * 100.0 } else { 0.0 },
        s.throughput.req_s
    );
    let _ = writeln!(out, "  Tokens/sec:    {:.1}", s.throughput.output_tok_s);
    let _ = writeln!(
        out,
        "  Concurrent:    peak {}, avg {:.1}",
        s.concurrency.peak, s.concurrency.avg
    );
    let _ = writeln!(
        out,
        "  Requests:      {} ok, {} failed ({:.2}%), window {:.1}s",
        s.requests.ok,
        s.requests.failed,
        s.error_rate * 100.0,
        s.throughput.window_s
    );
    if result.interrupted {
        let _ = writeln!(out, "  Interrupted:   partial results (Ctrl-C)");
    }
    out.push_str(&resources(result));
    let _ = writeln!(out);
    out.push_str(&distribution_table(
        "Latency (ms)",
        &[
            ("TTFT", s.ttft_ms.as_ref()),
            ("ITL", s.itl_ms.as_ref()),
            ("TPOT", s.tpot_ms.as_ref()),
            ("E2E", s.e2e_ms.as_ref()),
            ("TTFT sched.", s.ttft_from_scheduled_ms.as_ref()),
            ("E2E sched.", s.e2e_from_scheduled_ms.as_ref()),
            ("Send lag", s.send_lag_ms.as_ref()),
        ],
    ));
    let _ = writeln!(
        out,
        "  (sched.: measured from when the request was due; send lag: how late the client sent it)"
    );
    out.push_str(&errors_block(s, result));
    out
}

/// `sweep`: the seed's single vs batched comparison.
pub fn sweep_table(result: &BenchResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n=== Concurrency Sweep: {} ===\n",
        result.target.model
    );
    let _ = writeln!(
        out,
        "  {:>11} {:>9} {:>14} {:>14} {:>10} {:>10} {:>10} {:>8}",
        "concurrency",
        "requests",
        "req tok/s p50",
        "aggr. tok/s",
        "TTFT p50",
        "TTFT p95",
        "E2E p95",
        "speedup"
    );
    let base = result
        .levels
        .first()
        .map(|l| l.summary.throughput.output_tok_s)
        .filter(|v| *v > 0.0);
    let ms = |d: &Option<crate::metrics::Distribution>,
              f: fn(&crate::metrics::Distribution) -> f64| {
        d.as_ref()
            .map(|d| format!("{:.1}", f(d)))
            .unwrap_or_else(|| "-".into())
    };
    for l in &result.levels {
        let s = &l.summary;
        let agg = s.throughput.output_tok_s;
        let _ = writeln!(
            out,
            "  {:>11} {:>9} {:>14} {:>14.1} {:>10} {:>10} {:>10} {:>8}",
            l.params["concurrency"].to_string(),
            format!("{}/{}", s.requests.ok, s.requests.total),
            ms(&s.output_tok_s, |d| d.p50),
            agg,
            ms(&s.ttft_ms, |d| d.p50),
            ms(&s.ttft_ms, |d| d.p95),
            ms(&s.e2e_ms, |d| d.p95),
            base.map(|b| format!("{:.2}x", agg / b))
                .unwrap_or_else(|| "-".into()),
        );
    }
    let _ = writeln!(
        out,
        "\n  req tok/s: per-request output tok/s; aggr.: all output tokens / wall window; speedup: aggregate vs the first level"
    );
    let failed: u64 = result
        .levels
        .iter()
        .map(|l| l.summary.requests.failed)
        .sum();
    if failed > 0 {
        out.push_str(&errors_block(&result.summary, result));
    }
    out
}

/// `suite`: one block per tier, as the seed prints them, then a table.
pub fn suite_summary(result: &BenchResult) -> String {
    let mut out = String::new();
    for (i, l) in result.levels.iter().enumerate() {
        let _ = writeln!(out, "\n{RULE}");
        let _ = writeln!(out, "Tier: {}", l.name);
        let _ = writeln!(out, "Model: {}", l.params["model"].as_str().unwrap_or("?"));
        if let Some(t) = &l.target {
            let _ = writeln!(out, "Backend: {}", t.backend);
        }
        let s = &l.summary;
        let _ = writeln!(
            out,
            "Runs: {}/{} successful",
            s.requests.ok, s.requests.total
        );
        let _ = writeln!(out, "{RULE}");
        if let Some(e) = &l.error {
            let _ = writeln!(out, "  Error: {e}");
            continue;
        }
        if let Some(d) = &s.output_tok_s {
            let time_s: f64 = result
                .requests
                .iter()
                .filter(|r| r.level == Some(i as u32) && !r.warmup && r.is_ok())
                .map(|r| r.e2e_ms() / 1e3)
                .sum();
            let avg = if time_s > 0.0 {
                s.tokens.output as f64 / time_s
            } else {
                0.0
            };
            let _ = writeln!(out, "  Avg throughput: {avg:.1} tok/s");
            let _ = writeln!(out, "  Min throughput: {:.1} tok/s", d.min);
            let _ = writeln!(out, "  Max throughput: {:.1} tok/s", d.max);
            let _ = writeln!(out, "  P50 throughput: {:.1} tok/s", d.p50);
            let _ = writeln!(out, "  P95 throughput: {:.1} tok/s", d.p95);
        }
        let _ = writeln!(out, "  Total tokens: {}", s.tokens.output);
        if let Some(t) = &s.ttft_ms {
            let _ = writeln!(out, "  TTFT p50: {:.1} ms, p95: {:.1} ms", t.p50, t.p95);
        }
    }
    out
}
