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
