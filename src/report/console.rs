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

/// The seed's throughput lines: "avg" is total tokens / total request time (the seed's
/// definition), then per-request min, max, p50 and p95. Returns the total request time, s.
fn seed_throughput<'a>(
    out: &mut String,
    s: &Summary,
    ok: impl Iterator<Item = &'a crate::record::RequestRecord>,
) -> f64 {
    let total_time_s: f64 = ok.map(|r| r.e2e_ms()).sum::<f64>() / 1e3;
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
    total_time_s
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
    let total_time_s = seed_throughput(
        &mut out,
        s,
        result.requests.iter().filter(|r| !r.warmup && r.is_ok()),
    );
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
            l.params
                .concurrency
                .map_or("-".to_string(), |c| c.to_string()),
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
            continue;
        }
        seed_throughput(
            &mut out,
            s,
            result
                .requests
                .iter()
                .filter(|r| r.level == Some(i as u32) && !r.warmup && r.is_ok()),
        );
        let _ = writeln!(out, "  Total tokens: {}", s.tokens.output);
        if let Some(t) = &s.ttft_ms {
            let _ = writeln!(out, "  TTFT p50: {:.1} ms, p95: {:.1} ms", t.p50, t.p95);
        }
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
    let _ = writeln!(
        out,
        "  {:>5} {:>8} {:>9} {:>9} {:>7} {:>9} {:>9} {:>6} {:>7} {:>9}  status",
        "level",
        "req/s",
        "achieved",
        "requests",
        "errors",
        "p95 ms",
        "p99 ms",
        "peak",
        "CPU",
        "memory"
    );
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map(f).unwrap_or_else(|| "-".into());
    for l in &r.levels {
        let _ = writeln!(
            out,
            "  {:>5} {:>8.1} {:>9} {:>9} {:>6.1}% {:>9} {:>9} {:>6} {:>7} {:>9}  {}",
            l.level,
            l.target_rate,
            opt(l.achieved_rate, &|v| format!("{v:.1}")),
            l.requests,
            l.error_rate * 100.0,
            opt(l.p95_ms, &|v| format!("{v:.0}")),
            opt(l.p99_ms, &|v| format!("{v:.0}")),
            l.peak_concurrency,
            opt(l.server_cpu_pct, &|v| format!("{v:.1}%")),
            opt(l.server_rss_mb, &|v| format!("{v:.0}MB")),
            match l.status {
                crate::verdict::stress::Status::Ok => "OK",
                crate::verdict::stress::Status::Err => "ERR",
                crate::verdict::stress::Status::Degraded => "DEGR",
            }
        );
    }
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
        "  Maximum sustainable throughput: {}",
        rate(r.max_sustainable_rate)
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
    let mode = serde_json::to_value(r.failure_mode)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let _ = writeln!(out, "  Failure mode: {mode}");
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
            if let Some(r) = c.rows.iter().find(|r| r.metric == format!("ttft.{stat}")) {
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
            .find(|r| r.metric == "ttft.mean")
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
    let _ = writeln!(
        out,
        "  {:<20} {:>11} {:>11} {:>10} {:>8} {:>23} {:>8}  verdict",
        "metric", "baseline", "treatment", "delta", "delta %", "95% CI of delta", "MW p"
    );
    for r in &c.rows {
        let ci = match (r.ci_low, r.ci_high) {
            (Some(a), Some(b)) => format!("[{a:+.2}, {b:+.2}]"),
            _ => "-".into(),
        };
        let verdict = match r.significant {
            Some(true) if r.improved => "better",
            Some(true) => "worse",
            Some(false) => "no significant change",
            None if r.delta == 0.0 => "same",
            None if r.improved => "better (one value)",
            None => "worse (one value)",
        };
        let metric = match &r.level {
            Some(l) => format!("{l}: {}", r.metric),
            None => r.metric.clone(),
        };
        let _ = writeln!(
            out,
            "  {:<20} {:>11.2} {:>11.2} {:>+10.2} {:>8} {:>23} {:>8}  {verdict}",
            metric,
            r.baseline,
            r.treatment,
            r.delta,
            r.delta_pct
                .map(|p| format!("{p:+.1}%"))
                .unwrap_or_else(|| "-".into()),
            ci,
            r.mann_whitney_p
                .map(|p| format!("{p:.4}"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    if !c.requirements.is_empty() {
        let _ = writeln!(out, "\n=== Requirements ===\n");
        for q in &c.requirements {
            let _ = writeln!(
                out,
                "  {:<24} actual {:>8}   {}",
                q.text,
                q.actual_pct
                    .map(|p| format!("{p:+.1}%"))
                    .unwrap_or_else(|| "n/a".into()),
                if q.passed { "PASSED" } else { "FAILED" }
            );
        }
    }
    out
}

/// `check`: the seed's regression table.
pub fn check_table(rows: &[crate::verdict::check::CheckRow]) -> String {
    let mut out = String::from("\n=== Regression Check Results ===\n\n");
    let _ = writeln!(
        out,
        "  {:<14} {:>12} {:>12} {:>11} {:>9} {:>10}  status",
        "metric", "baseline", "current", "delta", "% change", "tolerance"
    );
    let pct = |p: Option<f64>| p.map(|p| format!("{p:+.1}%"));
    for r in rows {
        let _ = writeln!(
            out,
            "  {:<14} {:>12.3} {:>12} {:>11} {:>9} {:>10}  {}",
            r.metric,
            r.baseline,
            r.current.map_or("missing".into(), |c| format!("{c:.3}")),
            r.delta.map_or("-".into(), |d| format!("{d:+.3}")),
            pct(r.delta_pct).unwrap_or_else(|| "-".into()),
            r.tolerance.shown(),
            if r.passed { "PASS" } else { "FAIL" }
        );
    }
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
        let _ = writeln!(
            out,
            "    - {}: {change} (tolerance {})",
            r.metric,
            r.tolerance.shown()
        );
    }
    out
}
