//! Markdown: the tables the seeds print (results, latency, improvement summary, targets, stress
//! levels, sweep, suite tiers), for pasting into an issue or a PR.

use std::fmt::Write;

use crate::metrics::Distribution;
use crate::report::BenchResult;

fn dist_rows(out: &mut String, rows: &[(&str, &Option<Distribution>)]) {
    let _ = writeln!(
        out,
        "| metric (ms) | count | mean | stddev | min | p50 | p90 | p95 | p99 | max |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, d) in rows {
        if let Some(d) = d {
            let _ = writeln!(
                out,
                "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                d.count, d.mean, d.stddev, d.min, d.p50, d.p90, d.p95, d.p99, d.max
            );
        }
    }
}

pub fn render(r: &BenchResult) -> String {
    let s = &r.summary;
    let mut out = String::new();
    let _ = writeln!(out, "# llmbench {}: {}\n", r.command, r.target.model);
    let _ = writeln!(
        out,
        "Target `{}` ({} API{}), started {}, llmbench {}.{}\n",
        r.target.url,
        r.target.api.name(),
        r.target
            .simulator
            .as_ref()
            .map(|p| format!(", built-in simulator `{p}`"))
            .unwrap_or_default(),
        r.started_at,
        r.tool.version,
        if r.interrupted {
            " **Interrupted (Ctrl-C): partial results.**"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "## Results\n");
    let _ = writeln!(out, "| requests | ok | failed | error rate | output tok/s | req/s | window | output tokens | token source |");
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {:.2}% | {:.1} | {:.2} | {:.1} s | {} | {} |\n",
        s.requests.total,
        s.requests.ok,
        s.requests.failed,
        s.error_rate * 100.0,
        s.throughput.output_tok_s,
        s.throughput.req_s,
        s.throughput.window_s,
        s.tokens.output,
        s.tokens.source
    );
    if !s.errors.is_empty() {
        let kinds: Vec<String> = s.errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        let _ = writeln!(out, "Errors by kind: {}\n", kinds.join(", "));
    }
    let _ = writeln!(out, "## Latency\n");
    dist_rows(
        &mut out,
        &[
            ("TTFT", &s.ttft_ms),
            ("ITL", &s.itl_ms),
            ("TPOT", &s.tpot_ms),
            ("E2E", &s.e2e_ms),
            ("TTFT from scheduled", &s.ttft_from_scheduled_ms),
            ("E2E from scheduled", &s.e2e_from_scheduled_ms),
            ("send lag", &s.send_lag_ms),
        ],
    );
    if let Some(c) = &r.comparison {
        let _ = writeln!(out, "\n## Improvement summary\n");
        let _ = writeln!(out, "| metric | baseline | treatment | delta | delta % | 95% CI of delta | significant | Mann-Whitney p |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---|---|---:|");
        for row in &c.rows {
            let _ = writeln!(
                out,
                "| {} | {:.2} | {:.2} | {:+.2} | {} | {} | {} | {} |",
                row.metric,
                row.baseline,
                row.treatment,
                row.delta,
                row.delta_pct
                    .map(|p| format!("{p:+.1}%"))
                    .unwrap_or_default(),
                match (row.ci_low, row.ci_high) {
                    (Some(a), Some(b)) => format!("[{a:+.2}, {b:+.2}]"),
                    _ => String::new(),
                },
                match row.significant {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "",
                },
                row.mann_whitney_p
                    .map(|p| format!("{p:.4}"))
                    .unwrap_or_default()
            );
        }
    }
    if !r.targets.is_empty() {
        let _ = writeln!(out, "\n## Target validation\n");
        let _ = writeln!(out, "| target | actual | status |");
        let _ = writeln!(out, "|---|---:|---|");
        for t in &r.targets {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                t.target,
                t.shown,
                if t.passed { "PASSED" } else { "**FAILED**" }
            );
        }
    }
    if let Some(st) = &r.stress {
        let _ = writeln!(out, "\n## Stress levels\n");
        let _ = writeln!(out, "| level | target req/s | achieved | requests | errors | p95 ms | p99 ms | peak conc. | server CPU | server RSS | status |");
        let _ = writeln!(
            out,
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        let f =
            |v: Option<f64>, d: usize| v.map(|v| format!("{v:.d$}")).unwrap_or_else(|| "-".into());
        for l in &st.levels {
            let _ = writeln!(
                out,
                "| {} | {:.1} | {} | {} | {:.1}% | {} | {} | {} | {} | {} | {:?} |",
                l.level,
                l.target_rate,
                f(l.achieved_rate, 1),
                l.requests,
                l.error_rate * 100.0,
                f(l.p95_ms, 0),
                f(l.p99_ms, 0),
                l.peak_concurrency,
                f(l.server_cpu_pct, 1),
                f(l.server_rss_mb, 0),
                l.status
            );
        }
        let _ = writeln!(
            out,
            "\nMaximum sustainable throughput: {}; breaking point: {}; failure mode: `{}`; safe production target: {}.",
            f(st.max_sustainable_rate, 1),
            f(st.breaking_rate, 1),
            serde_json::to_value(st.failure_mode).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            f(st.safe_target_rate, 1)
        );
    } else if r.command == "sweep" {
        let base = r
            .levels
            .first()
            .map(|l| l.summary.throughput.output_tok_s)
            .filter(|v| *v > 0.0);
        let _ = writeln!(out, "\n## Sweep\n");
        let _ = writeln!(out, "| concurrency | requests | per-request tok/s p50 | aggregate tok/s | TTFT p50 ms | TTFT p95 ms | E2E p95 ms | speedup |");
        let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|---:|");
        for l in &r.levels {
            let s = &l.summary;
            let d = |x: &Option<Distribution>, f: fn(&Distribution) -> f64| {
                x.as_ref()
                    .map(|d| format!("{:.1}", f(d)))
                    .unwrap_or_else(|| "-".into())
            };
            let _ = writeln!(
                out,
                "| {} | {}/{} | {} | {:.1} | {} | {} | {} | {} |",
                l.params
                    .concurrency
                    .map_or("-".to_string(), |c| c.to_string()),
                s.requests.ok,
                s.requests.total,
                d(&s.output_tok_s, |d| d.p50),
                s.throughput.output_tok_s,
                d(&s.ttft_ms, |d| d.p50),
                d(&s.ttft_ms, |d| d.p95),
                d(&s.e2e_ms, |d| d.p95),
                base.map(|b| format!("{:.2}x", s.throughput.output_tok_s / b))
                    .unwrap_or_else(|| "-".into())
            );
        }
    } else if !r.levels.is_empty() {
        let _ = writeln!(out, "\n## Levels\n");
        let _ = writeln!(out, "| name | ok/total | output tok/s (per request, mean) | aggregate tok/s | TTFT p50 ms | E2E p95 ms | error |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---|");
        for l in &r.levels {
            let s = &l.summary;
            let _ = writeln!(
                out,
                "| {} | {}/{} | {} | {:.1} | {} | {} | {} |",
                l.name,
                s.requests.ok,
                s.requests.total,
                s.output_tok_s
                    .as_ref()
                    .map(|d| format!("{:.1}", d.mean))
                    .unwrap_or_else(|| "-".into()),
                s.throughput.output_tok_s,
                s.ttft_ms
                    .as_ref()
                    .map(|d| format!("{:.1}", d.p50))
                    .unwrap_or_else(|| "-".into()),
                s.e2e_ms
                    .as_ref()
                    .map(|d| format!("{:.1}", d.p95))
                    .unwrap_or_else(|| "-".into()),
                l.error.as_deref().unwrap_or("")
            );
        }
    }
    out
}
