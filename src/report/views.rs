//! The tables of a result, built once in the [`table`](super::table) model and rendered by the
//! console, Markdown and HTML alike. Views read figures; they compute none.

use super::curves::{ab_levels, capacity_probes, capacity_text, load_curve};
use super::table::{Document, Style, Table, Text};
use crate::metrics::metric::{Metric, LATENCY};
use crate::metrics::stats::NOISE_PCT;
use crate::metrics::targets::TargetOutcome;
use crate::metrics::{percentile_name, Distribution, Summary, FIXED_PERCENTILES};
use crate::result::BenchResult;
use crate::verdict::check::{CheckRow, Tolerance};
use crate::verdict::compare::Comparison;
use crate::verdict::stress::StressReport;

/// A figure with as many decimals as it deserves (1234, 123.4, 12.34).
pub fn num(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub(super) fn opt(v: Option<f64>, decimals: usize) -> Text {
    v.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}").into())
}

pub(super) fn stat(d: &Option<Distribution>, f: fn(&Distribution) -> f64) -> Text {
    opt(d.as_ref().map(f), 1)
}

fn pct(p: Option<f64>) -> Text {
    p.map_or_else(|| "-".into(), |p| format!("{p:+.1}%").into())
}

/// The percentiles a summary reports, in order.
fn reported(s: &Summary) -> Vec<f64> {
    if s.percentiles.is_empty() {
        FIXED_PERCENTILES.to_vec()
    } else {
        s.percentiles.clone()
    }
}

/// One row per distribution (count, mean, stddev, min, the percentiles `ps`, max); rows
/// without data are left out.
pub fn distribution(unit: &str, rows: &[(&str, Option<&Distribution>)], ps: &[f64]) -> Table {
    let names: Vec<String> = ps.iter().map(|p| percentile_name(*p)).collect();
    let mut head = vec![format!("<{unit}")];
    head.extend(["count", "mean", "stddev", "min"].map(String::from));
    head.extend(names.iter().cloned());
    head.push("max".into());
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut t = Table::new(&head);
    for (name, d) in rows {
        if let Some(d) = d {
            let mut cells: Vec<Text> = vec![(*name).into(), d.count.to_string().into()];
            cells.extend([d.mean, d.stddev, d.min].map(|v| Text::plain(num(v))));
            cells.extend(
                ps.iter()
                    .map(|p| d.quantile(*p).map_or_else(|| "-".into(), |v| num(v).into())),
            );
            cells.push(num(d.max).into());
            t.row(cells);
        }
    }
    t
}

/// The 95% interval of each reported percentile (`-` where there are too few values for one).
pub fn intervals(unit: &str, rows: &[(&str, Option<&Distribution>)], ps: &[f64]) -> Table {
    let mut head = vec![format!("<{unit}")];
    head.extend(ps.iter().map(|p| percentile_name(*p)));
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut t = Table::new(&head);
    for (name, d) in rows {
        if let Some(d) = d {
            let mut cells: Vec<Text> = vec![(*name).into()];
            cells.extend(ps.iter().map(|p| match d.quantile_ci(*p) {
                Some([lo, hi]) => format!("{} - {}", num(lo), num(hi)).into(),
                None => "-".into(),
            }));
            t.row(cells);
        }
    }
    t
}

/// The latency distributions of a summary, labelled as the metric registry labels them.
fn latency_rows(s: &Summary) -> Vec<(&'static str, Option<&Distribution>)> {
    LATENCY
        .iter()
        .filter_map(|name| Metric::dist(name))
        .map(|d| (d.label, (d.summary)(s)))
        .collect()
}

/// The latency distributions of a summary (open-loop ones only where measured).
pub fn latency(s: &Summary) -> Table {
    distribution("Latency (ms)", &latency_rows(s), &reported(s))
}

/// The 95% intervals of the latency percentiles.
pub fn latency_intervals(s: &Summary) -> Table {
    intervals("95% CI (ms)", &latency_rows(s), &reported(s))
}

/// Requests, errors, throughput and tokens in one row (embeddings: inputs and input tokens,
/// since they generate nothing).
pub fn results(s: &Summary) -> Table {
    let (r, t) = (&s.requests, &s.throughput);
    let mut cols: Vec<(&str, String)> = vec![
        ("requests", r.total.to_string()),
        ("ok", r.ok.to_string()),
        ("failed", r.failed.to_string()),
        ("error rate", format!("{:.2}%", s.error_rate * 100.0)),
    ];
    match t.inputs_s {
        Some(inputs_s) => cols.extend([
            ("inputs/s", format!("{inputs_s:.1}")),
            ("input tok/s", format!("{:.1}", t.input_tok_s)),
            ("req/s", format!("{:.2}", t.req_s)),
            ("window", format!("{:.1} s", t.window_s)),
            ("inputs", s.tokens.inputs.to_string()),
        ]),
        None => cols.extend([
            ("output tok/s", format!("{:.1}", t.output_tok_s)),
            ("req/s", format!("{:.2}", t.req_s)),
            ("window", format!("{:.1} s", t.window_s)),
            ("output tokens", s.tokens.output.to_string()),
            ("<token source", s.tokens.source.clone()),
        ]),
    }
    let mut table = Table::new(&cols.iter().map(|c| c.0).collect::<Vec<_>>());
    table.row(cols.into_iter().map(|c| c.1.into()).collect());
    table
}

/// Targets and whether each was met.
pub fn targets(outcomes: &[TargetOutcome]) -> Table {
    let with_ci = outcomes.iter().any(|o| o.confidence.is_some());
    let mut head = vec!["<target", "actual", "<status"];
    if with_ci {
        head.extend(["95% CI", "<confidence"]);
    }
    let mut t = Table::new(&head);
    for o in outcomes {
        let mut row = vec![
            Text::code(&o.target),
            o.shown.clone().into(),
            if o.passed {
                "PASSED".into()
            } else {
                Text::strong("FAILED")
            },
        ];
        if with_ci {
            row.push(match o.ci95 {
                Some([lo, hi]) => format!("{} - {}", num(lo), num(hi)).into(),
                None => "-".into(),
            });
            row.push(o.confidence.map_or("", |c| c.text()).into());
        }
        t.row(row);
    }
    t
}

/// Deltas per metric (per level for results with levels), with intervals and a verdict.
pub fn comparison(c: &Comparison) -> Table {
    let mut t = Table::new(&[
        "<metric",
        "baseline",
        "treatment",
        "delta",
        "delta %",
        "95% CI of delta",
        "MW p",
        "<verdict",
    ]);
    for r in &c.rows {
        let verdict = match r.significant {
            Some(true) if r.improved => "better",
            Some(true) => "worse",
            Some(false) => "no significant change",
            None if r.delta_pct.map_or(r.delta == 0.0, |p| p.abs() < NOISE_PCT) => {
                "same (within 2%, one value)"
            }
            None if r.improved => "better (one value)",
            None => "worse (one value)",
        };
        t.row(vec![
            match &r.level {
                Some(l) => format!("{l}: {}", r.metric).into(),
                None => r.metric.clone().into(),
            },
            format!("{:.2}", r.baseline).into(),
            format!("{:.2}", r.treatment).into(),
            format!("{:+.2}", r.delta).into(),
            pct(r.delta_pct),
            match (r.ci_low, r.ci_high) {
                (Some(a), Some(b)) => format!("[{a:+.2}, {b:+.2}]").into(),
                _ => "-".into(),
            },
            opt(r.mann_whitney_p, 4),
            verdict.into(),
        ]);
    }
    t
}

/// `compare --require` outcomes.
pub fn requirements(c: &Comparison) -> Table {
    let mut t = Table::new(&["<requirement", "actual", "<status"]);
    for q in &c.requirements {
        t.row(vec![
            Text::code(&q.text),
            q.actual_pct
                .map_or_else(|| "n/a".into(), |p| format!("{p:+.1}%").into()),
            if q.passed {
                "PASSED".into()
            } else {
                Text::strong("FAILED")
            },
        ]);
    }
    t
}

/// `check`: one row per metric against its tolerance.
pub fn check(rows: &[CheckRow]) -> Table {
    let mut t = Table::new(&[
        "<metric",
        "baseline",
        "current",
        "delta",
        "% change",
        "tolerance",
        "<status",
        "<95% CIs",
    ]);
    for r in rows {
        t.row(vec![
            r.metric.clone().into(),
            format!("{:.3}", r.baseline).into(),
            r.current
                .map_or_else(|| "missing".into(), |c| format!("{c:.3}").into()),
            match (r.delta, r.tolerance) {
                (None, _) => "-".into(),
                (Some(d), Tolerance::Points(_)) => format!("{:+.2} pp", d * 100.0).into(),
                (Some(d), _) => format!("{d:+.3}").into(),
            },
            pct(r.delta_pct),
            r.tolerance.shown().into(),
            if r.passed {
                "PASS".into()
            } else {
                Text::strong("FAIL")
            },
            match r.overlap() {
                Some(true) => "overlap",
                Some(false) => "apart",
                None => "-",
            }
            .into(),
        ]);
    }
    t
}

/// `stress`: one row per level.
pub fn stress_levels(st: &StressReport) -> Table {
    let targeted = st.levels.iter().any(|l| l.targets_met.is_some());
    let mut head = vec![
        "level", "req/s", "achieved", "requests", "errors", "p95 ms", "p99 ms", "peak", "CPU",
        "memory", "<status",
    ];
    if targeted {
        head.push("<targets");
    }
    let mut t = Table::new(&head);
    for l in &st.levels {
        let mut row = vec![
            l.level.to_string().into(),
            format!("{:.1}", l.target_rate).into(),
            opt(l.achieved_rate, 1),
            l.requests.to_string().into(),
            format!("{:.1}%", l.error_rate * 100.0).into(),
            opt(l.p95_ms, 0),
            opt(l.p99_ms, 0),
            l.peak_concurrency.to_string().into(),
            l.server_cpu_pct
                .map_or_else(|| "-".into(), |v| format!("{v:.1}%").into()),
            l.server_rss_mb
                .map_or_else(|| "-".into(), |v| format!("{v:.0} MB").into()),
            l.status.name().into(),
        ];
        if targeted {
            row.push(match l.targets_met {
                Some(true) => "met".into(),
                _ => Text::strong("MISSED"),
            });
        }
        t.row(row);
    }
    t
}

/// Why no rate is sustainable, when none is.
pub fn stress_none_why(st: &StressReport) -> &'static str {
    match (
        st.max_sustainable_rate,
        st.levels.iter().any(|l| l.targets_met.is_some()),
    ) {
        (None, true) => " (no level before the break met every target)",
        (None, false) => " (the first level already broke)",
        _ => "",
    }
}

/// `stress`: the verdict in one sentence.
pub fn stress_verdict(st: &StressReport) -> Text {
    let rate = |v: Option<f64>| v.map_or_else(|| "none".into(), |v| format!("{v:.1} req/s"));
    Text::plain(format!(
        "Maximum sustainable throughput: {}{}; breaking point: {}; failure mode: ",
        rate(st.max_sustainable_rate),
        stress_none_why(st),
        match st.breaking_level {
            Some(l) => format!("{} (level {l})", rate(st.breaking_rate)),
            None => format!("not reached (ended by {})", st.ended_by),
        }
    ))
    .then(Style::Code, st.failure_mode.name())
    .then(
        Style::Plain,
        format!(
            "; safe production target (80% of max): {}.",
            rate(st.safe_target_rate)
        ),
    )
}

/// `sweep`: one row per concurrency level; speedup against the first level.
pub fn sweep(r: &BenchResult) -> Table {
    let mut t = Table::new(&[
        "concurrency",
        "requests",
        "req tok/s p50",
        "aggr. tok/s",
        "TTFT p50",
        "TTFT p95",
        "E2E p95",
        "speedup",
    ]);
    let base = r
        .levels
        .first()
        .map(|l| l.summary.throughput.output_tok_s)
        .filter(|v| *v > 0.0);
    for l in &r.levels {
        let s = &l.summary;
        let agg = s.throughput.output_tok_s;
        t.row(vec![
            l.params
                .concurrency
                .map_or("-".to_string(), |c| c.to_string())
                .into(),
            format!("{}/{}", s.requests.ok, s.requests.total).into(),
            stat(&s.output_tok_s, |d| d.p50),
            format!("{agg:.1}").into(),
            stat(&s.ttft_ms, |d| d.p50),
            stat(&s.ttft_ms, |d| d.p95),
            stat(&s.e2e_ms, |d| d.p95),
            base.map_or_else(|| "-".into(), |b| format!("{:.2}x", agg / b).into()),
        ]);
    }
    t
}

/// Named levels (suite tiers, ttft arms): one row each.
pub fn levels(r: &BenchResult) -> Table {
    let mut t = Table::new(&[
        "<name",
        "ok/total",
        "output tok/s (per request, mean)",
        "aggregate tok/s",
        "TTFT p50 ms",
        "E2E p95 ms",
        "<error",
    ]);
    for l in &r.levels {
        let s = &l.summary;
        t.row(vec![
            l.name.clone().into(),
            format!("{}/{}", s.requests.ok, s.requests.total).into(),
            stat(&s.output_tok_s, |d| d.mean),
            format!("{:.1}", s.throughput.output_tok_s).into(),
            stat(&s.ttft_ms, |d| d.p50),
            stat(&s.e2e_ms, |d| d.p95),
            l.error.clone().unwrap_or_default().into(),
        ]);
    }
    t
}

/// `--goodput` in one line.
pub fn goodput_line(g: &crate::metrics::goodput::Goodput) -> String {
    format!(
        "{:.2} req/s; {} of {} requests ({:.1}%) met {}",
        g.req_s,
        g.met,
        g.judged,
        g.fraction * 100.0,
        g.slos.join(" and ")
    )
}

/// The client's self-check in one line: its cost and lateness.
pub fn client_line(c: &crate::selfcheck::ClientCheck) -> String {
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2} ms"));
    format!(
        "{} CPU/token, CPU {:.1}% of one core ({} usable), RSS peak {}, dispatch lag p50 {} p99 {}, loop lag p99 {} (0.1 ms bins)",
        c.cpu_us_per_token
            .map_or("-".to_string(), |v| format!("{v:.2} us")),
        c.cpu_pct,
        c.cores,
        c.rss_peak_mb
            .map_or("-".to_string(), |v| format!("{v:.0} MB")),
        ms(c.send_lag_p50_ms),
        ms(c.send_lag_p99_ms),
        ms(c.loop_lag_p99_ms),
    )
}

/// The client's self-check as a paragraph: the figures, and the warning when it set the pace.
pub fn client(c: &crate::selfcheck::ClientCheck) -> Text {
    let t = Text::plain(format!("Client: {}. ", client_line(c)));
    match c.warning() {
        Some(w) => t.then(Style::Strong, w),
        None => t.then(Style::Plain, "Not client-bound."),
    }
}

/// The sections of a result's levels: capacity's probes, stress levels, an A/B by level, a
/// sweep, a load curve, or named levels.
fn level_sections(doc: &mut Document, r: &BenchResult) {
    if let Some(c) = &r.capacity {
        doc.section("Capacity", capacity_probes(c));
        for t in capacity_text(c) {
            doc.paragraph(t);
        }
    } else if let Some(st) = &r.stress {
        doc.section("Stress levels", stress_levels(st));
        doc.paragraph(stress_verdict(st));
    } else if r.comparison.is_some() && r.command != crate::plan::Command::Ttft.name() {
        doc.section("A/B by level", ab_levels(r));
        for line in super::curves::not_run(r) {
            doc.paragraph(Text::plain(line));
        }
    } else if r.command == "sweep" {
        doc.section("Sweep", sweep(r));
    } else if r.command == crate::plan::Command::Throughput.name() && !r.levels.is_empty() {
        doc.section("Load curve", load_curve(r));
    } else {
        doc.section("Levels", levels(r));
    }
}

/// A replayed trace in one line: format, requests, span, and the prefix reuse its block ids
/// allow beside what the server reported cached.
pub fn trace_line(r: &BenchResult) -> Option<String> {
    let d = &r.config["dataset"];
    if d["name"] != "trace" {
        return None;
    }
    let p = &d["params"];
    let mut line = format!(
        "{} trace, {} requests over {:.1} s (time scale {})",
        p["format"].as_str().unwrap_or("?"),
        p["entries"],
        p["span_s"].as_f64().unwrap_or(0.0),
        p["time_scale"].as_f64().unwrap_or(1.0)
    );
    let t = &r.summary.tokens;
    let cached = (t.prompt > 0).then(|| t.cached as f64 / t.prompt as f64 * 100.0);
    if let Some(reuse) = p["prefix_reuse"].as_f64() {
        line.push_str(&format!(
            "; its blocks allow {:.1}% prefix reuse, the server reported {} cached",
            reuse * 100.0,
            cached.map_or("no".to_string(), |c| format!("{c:.1}%"))
        ));
    }
    Some(line)
}

/// The whole result as a document (Markdown and HTML).
pub fn document(r: &BenchResult) -> Document {
    let s = &r.summary;
    let mut doc = Document {
        title: format!("llmbench {}: {}", r.command, r.target.model),
        blocks: Vec::new(),
    };
    let mut intro = Text::plain("Target ")
        .then(Style::Code, &r.target.url)
        .then(Style::Plain, format!(" ({} API", r.target.api.name()));
    if let Some(p) = &r.target.simulator {
        intro = intro
            .then(Style::Plain, ", built-in simulator ")
            .then(Style::Code, p);
    }
    intro = intro.then(
        Style::Plain,
        format!("), started {}, llmbench {}.", r.started_at, r.tool.version),
    );
    if r.interrupted {
        intro = intro
            .then(Style::Plain, " ")
            .then(Style::Strong, "Interrupted (Ctrl-C): partial results.");
    }
    doc.paragraph(intro);
    if r.requests_omitted > 0 {
        doc.paragraph(format!(
            "Every figure counts all {} requests; the per-request data (charts, CSV rows, \
             `requests`) holds the first {} (`--keep-records`), and the .jsonl output every one.",
            r.requests.len() as u64 + r.requests_omitted,
            r.requests.len()
        ));
    }
    doc.section("Results", results(s));
    if r.is_ab() {
        doc.paragraph(Text::plain(
            "An A/B: Results and Latency pool both arms' requests; targets judge the treatment arm; the arms are compared level by level below.",
        ));
    }
    if !s.errors.is_empty() {
        let kinds: Vec<String> = s.errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        doc.paragraph(format!("Errors by kind: {}", kinds.join(", ")));
    }
    doc.section("Latency", latency(s));
    for note in super::sections::output_notes(s) {
        doc.paragraph(note);
    }
    doc.section(
        "Latency percentiles: 95% confidence intervals",
        latency_intervals(s),
    );
    if let Some(g) = &s.goodput {
        doc.paragraph(format!("Goodput: {}.", goodput_line(g)));
    }
    if let Some(c) = &r.client {
        doc.paragraph(client(c));
    }
    if let Some(c) = &r.comparison {
        doc.section("Improvement summary", comparison(c));
    }
    if let Some(iv) = &r.intervals {
        let mut t = Table::new(&["<TTFT statistic", "95% CI low ms", "95% CI high ms"]);
        for i in &iv.rows {
            t.row(vec![
                i.stat.clone().into(),
                format!("{:.2}", i.low_ms).into(),
                format!("{:.2}", i.high_ms).into(),
            ]);
        }
        doc.section(&format!("Confidence intervals ({})", iv.arm), t);
    }
    if let Some(f) = &r.failover {
        let title = if f.replicas { "Replicas" } else { "Failover" };
        doc.section(title, super::curves::failover(f));
        doc.paragraph(super::curves::failover_text(f));
    }
    if let Some(ss) = &r.sessions {
        doc.section("Sessions by turn", super::curves::sessions(ss));
        doc.paragraph(super::curves::sessions_text(ss));
    }
    doc.section("Target validation", targets(&r.targets));
    level_sections(&mut doc, r);
    if r.command == crate::plan::Command::Suite.name() {
        for l in &r.levels {
            doc.section(&format!("Tier {}: latency", l.name), latency(&l.summary));
        }
    }
    doc
}
