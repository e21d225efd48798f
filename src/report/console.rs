//! Console text: the seed's run summary and a latency table. Plain text, no colours, so the
//! same output reads well in a terminal, a CI log and a pasted issue.

use std::fmt::Write;

pub use super::sections::{ab_table, failover_block, sessions_block};
use super::{curves, views};
use crate::metrics::metric::names;
use crate::metrics::Summary;
use crate::report::BenchResult;

const RULE: &str = "============================================================";

pub fn errors_block(s: &Summary, result: &BenchResult) -> String {
    let mut out = String::new();
    for note in super::sections::output_notes(s) {
        let _ = writeln!(out, "  {note}");
    }
    if s.tokens.usage_below_events > 0 {
        let _ = writeln!(
            out,
            "  WARNING: {} responses reported fewer output tokens in usage than the content events received",
            s.tokens.usage_below_events
        );
    }
    if s.requests.stopped > 0 {
        let _ = writeln!(
            out,
            "  Stopped: {} requests cut or never sent when the run was interrupted (not errors)",
            s.requests.stopped
        );
    }
    let resent = result.requests.iter().filter(|r| r.resent).count();
    if resent > 0 {
        let _ = writeln!(
            out,
            "  Resent: {resent} requests sent a second time at once: the server closed their connection within 200 ms, before any answer (a keep-alive race)"
        );
    }
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
    for r in result
        .requests
        .iter()
        .filter(|r| !r.warmup && !r.stopped_by_user())
    {
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

/// The seed's throughput lines: "avg" is total tokens / total request time (the seed's
/// definition), then per-request min, max, p50 and p95.
fn seed_throughput(out: &mut String, s: &Summary) {
    if let Some(d) = &s.output_tok_s {
        let avg = s.throughput.avg_request_tok_s.unwrap_or(0.0);
        let _ = writeln!(out, "  Avg throughput: {avg:.1} tok/s");
        let _ = writeln!(out, "  Min throughput: {:.1} tok/s", d.min);
        let _ = writeln!(out, "  Max throughput: {:.1} tok/s", d.max);
        let _ = writeln!(out, "  P50 throughput: {:.1} tok/s", d.p50);
        let _ = writeln!(out, "  P95 throughput: {:.1} tok/s", d.p95);
    }
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
    seed_throughput(&mut out, s);
    if let Some(inputs_s) = s.throughput.inputs_s {
        // Embeddings generate nothing: their figures are inputs and input tokens.
        let _ = writeln!(
            out,
            "  Total inputs: {} ({} input tokens)",
            s.tokens.inputs, s.tokens.prompt
        );
        let _ = writeln!(out, "  Total time: {:.2}s", s.throughput.request_time_s);
        let _ = writeln!(
            out,
            "  Aggregate: {inputs_s:.1} inputs/s, {:.1} input tok/s, {:.2} req/s over a {:.2}s window",
            s.throughput.input_tok_s, s.throughput.req_s, s.throughput.window_s
        );
    } else {
        let _ = writeln!(
            out,
            "  Total tokens: {} (source: {})",
            s.tokens.output, s.tokens.source
        );
        let _ = writeln!(out, "  Total time: {:.2}s", s.throughput.request_time_s);
        let _ = writeln!(
            out,
            "  Aggregate: {:.1} tok/s, {:.2} req/s over a {:.2}s window",
            s.throughput.output_tok_s, s.throughput.req_s, s.throughput.window_s
        );
    }
    if s.tokens.cached > 0 {
        let _ = writeln!(
            out,
            "  Cached prompt tokens: {} of {}",
            s.tokens.cached, s.tokens.prompt
        );
    }
    if s.ttft_ms.is_some() || s.e2e_ms.is_some() {
        let _ = writeln!(out);
        out.push_str(&views::latency(s).to_text(2));
        out.push_str(&intervals_block(s));
    }
    out.push_str(&errors_block(s, result));
    out
}

/// The 95% intervals of the latency percentiles, under the latency table.
fn intervals_block(s: &crate::metrics::Summary) -> String {
    format!(
        "\n{}  (distribution-free 95% intervals from order statistics; - where too few values)\n",
        views::latency_intervals(s).to_text(2)
    )
}

/// The seed's target validation block.
pub fn targets_table(outcomes: &[crate::metrics::targets::TargetOutcome]) -> String {
    let mut out = String::from("\n=== Target Validation ===\n\n");
    out.push_str(&views::targets(outcomes).to_text(2));
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

/// `--goodput`: the requests that met every SLO.
pub fn goodput_block(result: &BenchResult) -> String {
    match &result.summary.goodput {
        Some(g) => format!("\n  Goodput:       {}\n", views::goodput_line(g)),
        None => String::new(),
    }
}

/// The client's self-check (every measuring command): its figures, and the warning when the
/// client, not the server, set the pace.
pub fn client_block(result: &BenchResult) -> String {
    let Some(c) = &result.client else {
        return String::new();
    };
    let mut out = format!("\n  Client:        {}", views::client_line(c));
    match c.warning() {
        Some(w) => {
            let _ = writeln!(out, "\n  {w}");
        }
        None => out.push_str("; not client-bound\n"),
    }
    out
}

/// `throughput --rate A,B,...`: the load curve.
pub fn load_curve(result: &BenchResult) -> String {
    let mut out = format!(
        "\n=== Load curve: {} ({}) ===\n\n",
        result.target.model, result.target.url
    );
    out.push_str(&curves::load_curve(result).to_text(2));
    out.push_str(&errors_block(&result.summary, result));
    out
}

/// `capacity`: the probes, the intervals at the chosen level, and the answer.
pub fn capacity_summary(result: &BenchResult) -> String {
    let mut out = String::new();
    let Some(c) = &result.capacity else {
        return out;
    };
    let _ = writeln!(
        out,
        "\n=== Capacity: {} ({}) ===\n",
        result.target.model, result.target.url
    );
    out.push_str(&curves::capacity_probes(c).to_text(2));
    let _ = writeln!(out);
    for t in curves::capacity_text(c) {
        let _ = writeln!(out, "  {}", t.flat());
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
    if rate.is_finite() {
        let _ = writeln!(
            out,
            "  Requests/sec:  {sent:.1} / {rate:.1} (target): {:.1}% of the target rate sent; {:.1}/s completed over the window",
            if rate > 0.0 { sent / rate * 100.0 } else { 0.0 },
            s.throughput.req_s
        );
    } else {
        let _ = writeln!(
            out,
            "  Requests/sec:  all sent at once (--rate inf); {:.1}/s completed over the window",
            s.throughput.req_s
        );
    }
    match s.throughput.inputs_s {
        // Embeddings generate nothing: their work is the inputs.
        Some(inputs) => writeln!(
            out,
            "  Inputs/sec:    {inputs:.1} ({:.1} input tok/s)",
            s.throughput.input_tok_s
        ),
        None => writeln!(out, "  Tokens/sec:    {:.1}", s.throughput.output_tok_s),
    }
    .ok();
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
    if let Some(line) = views::trace_line(result) {
        let _ = writeln!(out, "  Trace:         {line}");
    }
    out.push_str(&resources(result));
    if result.requests_omitted > 0 {
        let _ = writeln!(
            out,
            "  Records:       {} of {} kept in full (--keep-records); every figure counts them all",
            result.requests.len(),
            result.requests.len() as u64 + result.requests_omitted
        );
    }
    let _ = writeln!(out);
    out.push_str(&views::latency(s).to_text(2));
    let _ = writeln!(
        out,
        "  (sched.: measured from when the request was due; send lag: how late the client sent it)"
    );
    out.push_str(&intervals_block(s));
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
    out.push_str(&views::sweep(result).to_text(2));
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
    result.levels.iter().map(tier_block).collect()
}

/// One tier's block, as the seed prints it when the tier finishes.
pub fn tier_block(l: &crate::result::Level) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{RULE}");
    let _ = writeln!(out, "Tier: {}", l.name);
    let _ = writeln!(out, "Model: {}", l.params.model.as_deref().unwrap_or("?"));
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
        return out;
    }
    seed_throughput(&mut out, s);
    let _ = writeln!(out, "  Total tokens: {}", s.tokens.output);
    let _ = writeln!(out, "  Total time: {:.2}s", s.throughput.request_time_s);
    if let Some(t) = &s.ttft_ms {
        let _ = writeln!(out, "  TTFT p50: {:.1} ms, p95: {:.1} ms", t.p50, t.p95);
    }
    out
}

/// `stress`: the seed's level table and breaking point.
pub fn stress_summary(result: &BenchResult) -> String {
    let mut out = String::new();
    let Some(r) = &result.stress else {
        return out;
    };
    let _ = writeln!(out, "\n=== Stress Test Results ===\n");
    let _ = writeln!(
        out,
        "  Model: {} ({})",
        result.target.model, result.target.url
    );
    let _ = writeln!(out, "  Levels tested: {}\n", r.levels.len());
    out.push_str(&views::stress_levels(r).to_text(2));
    let _ = writeln!(
        out,
        "  (p95/p99: end-to-end latency from the scheduled send time)"
    );
    let _ = writeln!(out, "\n=== Breaking Point ===\n");
    let rate = |v: Option<f64>| {
        v.map(|v| format!("{v:.1} req/s"))
            .unwrap_or_else(|| "none".into())
    };
    let _ = writeln!(
        out,
        "  Maximum sustainable throughput: {}{}",
        rate(r.max_sustainable_rate),
        views::stress_none_why(r)
    );
    match r.breaking_level {
        Some(l) => {
            let _ = writeln!(
                out,
                "  Breaking point: {} (level {l})",
                rate(r.breaking_rate)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  Breaking point: not reached (ended by {})",
                r.ended_by
            );
        }
    }
    let _ = writeln!(out, "  Failure mode: {}", r.failure_mode.name());
    if let Some(e) = r.error_rate_at_break {
        let _ = writeln!(out, "  Error rate at break: {:.1}%", e * 100.0);
    }
    let _ = writeln!(
        out,
        "  Safe production target (80% of max): {}",
        rate(r.safe_target_rate)
    );
    out.push_str(&errors_block(&result.summary, result));
    out
}

/// `ttft`: the seed's results table, improvement summary (A/B) and intervals.
pub fn ttft_summary(result: &BenchResult) -> String {
    let mut out = String::from("\n=== Benchmark Results ===\n\n");
    let _ = writeln!(
        out,
        "  {:<12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "Phase", "Mean", "Median", "P95", "P99", "Min", "Max", "StdDev", "Errors"
    );
    let row = |name: &str, s: &Summary| -> String {
        match &s.ttft_ms {
            Some(d) => format!(
                "  {:<12} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7}\n",
                name, d.mean, d.p50, d.p95, d.p99, d.min, d.max, d.stddev, s.requests.failed
            ),
            None => format!(
                "  {name:<12} (no TTFT measured) errors {}\n",
                s.requests.failed
            ),
        }
    };
    let arms: Vec<(&str, &Summary)> = if result.levels.len() == 2 {
        vec![
            ("Baseline", &result.levels[0].summary),
            ("Treatment", &result.levels[1].summary),
        ]
    } else {
        vec![("TTFT (ms)", &result.summary)]
    };
    for (name, s) in &arms {
        out.push_str(&row(name, s));
    }
    if let Some(iv) = &result.intervals {
        let arm = if iv.arm == "treatment" {
            "Treatment"
        } else {
            "TTFT (ms)"
        };
        let _ = writeln!(out, "\n  95% confidence intervals ({arm}):");
        for i in &iv.rows {
            let _ = writeln!(
                out,
                "    {:<5} [{:.2}, {:.2}] ms",
                i.stat, i.low_ms, i.high_ms
            );
        }
    }
    if let Some(c) = &result.comparison {
        let _ = writeln!(out, "\n=== Improvement Summary ===\n");
        for stat in ["mean", "p50", "p95", "p99"] {
            if let Some(r) = c
                .rows
                .iter()
                .find(|r| r.metric == format!("{}.{stat}", names::TTFT))
            {
                let reduction = -r.delta;
                let _ = writeln!(
                    out,
                    "  {:<5} TTFT: {:>8.2} ms {} ({:+.1}%), 95% CI of the change [{:+.2}, {:+.2}] ms: {}",
                    stat,
                    reduction.abs(),
                    if reduction >= 0.0 { "reduction" } else { "increase " },
                    r.delta_pct.unwrap_or(0.0),
                    r.ci_low.unwrap_or(0.0),
                    r.ci_high.unwrap_or(0.0),
                    if r.significant == Some(true) { "significant" } else { "not significant" }
                );
            }
        }
        if let Some(p) = c
            .rows
            .iter()
            .find(|r| r.metric == format!("{}.mean", names::TTFT))
            .and_then(|r| r.mann_whitney_p)
        {
            let _ = writeln!(out, "  Mann-Whitney U p-value: {p:.4}");
        }
    }
    out.push_str(&errors_block(&result.summary, result));
    out
}

/// `compare`: one row per metric.
pub fn comparison_table(
    c: &crate::verdict::compare::Comparison,
    base: &str,
    treat: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n=== Comparison ===\n  baseline:  {base}\n  treatment: {treat}\n"
    );
    out.push_str(&views::comparison(c).to_text(2));
    if !c.requirements.is_empty() {
        let _ = writeln!(out, "\n=== Requirements ===\n");
        out.push_str(&views::requirements(c).to_text(2));
    }
    out
}

/// `check`: the seed's regression table.
pub fn check_table(rows: &[crate::verdict::check::CheckRow]) -> String {
    let mut out = String::from("\n=== Regression Check Results ===\n\n");
    out.push_str(&views::check(rows).to_text(2));
    let pct = |p: Option<f64>| p.map(|p| format!("{p:+.1}%"));
    let failed: Vec<&crate::verdict::check::CheckRow> = rows.iter().filter(|r| !r.passed).collect();
    let _ = writeln!(out, "\n=== Overall Result ===\n");
    if failed.is_empty() {
        let _ = writeln!(out, "  Status: PASSED - no regressions detected");
        return out;
    }
    let _ = writeln!(
        out,
        "  Status: FAILED - regressions detected\n\n  Failed metrics:"
    );
    for r in failed {
        let change = match (r.delta, r.delta_pct, r.tolerance) {
            (None, _, _) => "missing from the current result".to_string(),
            (Some(d), _, crate::verdict::check::Tolerance::Points(_)) => {
                format!("{:+.2} pp", d * 100.0)
            }
            (Some(d), p, _) => pct(p).unwrap_or_else(|| format!("{d:+.3}")),
        };
        let noise = if r.overlap() == Some(true) {
            "; the two 95% intervals overlap: the change may be noise, measure with more requests"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "    - {}: {change} (tolerance {}){noise}",
            r.metric,
            r.tolerance.shown()
        );
    }
    out
}
