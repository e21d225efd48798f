//! HTML: one self-contained page (inline CSS, inline SVG charts, no script, no network) with the
//! summary tables and the charts that fit the result: TTFT and E2E CDFs, the ITL histogram,
//! throughput and concurrency over time, the sweep curve, the stress levels, A/B overlays.
//! A `<meta name="llmbench-charts">` lists the charts the page must show (the browser test
//! checks it).

use std::fmt::Write;

use super::charts;
use super::table::{Align, Block, Document, Style, Table, Text};
use crate::metrics::metric::names;
use crate::record::RequestRecord;
use crate::report::BenchResult;

fn values(records: &[&RequestRecord], dist: &str) -> Vec<f64> {
    crate::metrics::metric::Metric::dist(dist)
        .map(|d| d.values_of(records.iter().copied()))
        .unwrap_or_default()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report's document as HTML (the same tables as the .md report).
fn document(doc: &Document) -> String {
    let mut out = String::new();
    for b in &doc.blocks {
        match b {
            Block::Heading(h) => {
                let _ = writeln!(out, "<h2>{}</h2>", esc(h));
            }
            Block::Paragraph(t) => {
                let _ = writeln!(out, "<p>{}</p>", text(t));
            }
            Block::Table(t) => out.push_str(&table(t)),
        }
    }
    out
}

fn text(t: &Text) -> String {
    t.0.iter()
        .map(|s| match s.style {
            Style::Plain => esc(&s.text),
            Style::Code => format!("<code>{}</code>", esc(&s.text)),
            Style::Strong => format!("<strong>{}</strong>", esc(&s.text)),
        })
        .collect()
}

fn table(t: &Table) -> String {
    let class = |a: Align| if a == Align::Left { " class=\"l\"" } else { "" };
    let mut out = String::from("<table><tr>");
    for c in &t.columns {
        let _ = write!(out, "<th{}>{}</th>", class(c.align), esc(&c.name));
    }
    out.push_str("</tr>\n");
    for row in &t.rows {
        out.push_str("<tr>");
        for (cell, c) in row.iter().zip(&t.columns) {
            let _ = write!(out, "<td{}>{}</td>", class(c.align), text(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    out
}

type Charts = Vec<(&'static str, String)>;

/// The TTFT CDFs of an A/B's two arms, overlaid.
fn ab_cdf(
    charts: &mut Charts,
    a: Vec<&RequestRecord>,
    b: Vec<&RequestRecord>,
) -> anyhow::Result<()> {
    charts.push((
        "ab-ttft-cdf",
        charts::cdf(
            "TTFT: baseline vs treatment",
            "TTFT (ms)",
            &[
                ("baseline".into(), values(&a, names::TTFT)),
                ("treatment".into(), values(&b, names::TTFT)),
            ],
        )?,
    ));
    Ok(())
}

/// Levels by A/B arm (one group named "" without an A/B), for one series per arm.
fn by_arm(r: &BenchResult) -> Vec<(String, Vec<&crate::result::Level>)> {
    let mut groups: Vec<(String, Vec<&crate::result::Level>)> = Vec::new();
    for l in &r.levels {
        let arm = l.params.arm.clone().unwrap_or_default();
        match groups.iter_mut().find(|g| g.0 == arm) {
            Some(g) => g.1.push(l),
            None => groups.push((arm, vec![l])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups
}

/// A series name with its arm, when there is one.
fn series(name: &str, arm: &str) -> String {
    if arm.is_empty() {
        name.to_string()
    } else {
        format!("{name} ({arm})")
    }
}

/// A/B overlay and the distributions of the requests: CDFs of TTFT and E2E, ITL histogram.
fn distribution_charts(r: &BenchResult, charts: &mut Charts) -> anyhow::Result<()> {
    let measured: Vec<&RequestRecord> = r.requests.iter().collect();
    let by_level = |l: u32| -> Vec<&RequestRecord> {
        r.requests.iter().filter(|x| x.level == Some(l)).collect()
    };

    if r.comparison.is_some() && r.levels.len() == 2 {
        let (a, b) = (by_level(0), by_level(1));
        ab_cdf(charts, a, b)?;
    } else if r.comparison.is_some() && r.levels.iter().any(|l| l.params.arm.is_some()) {
        // An A/B by level: each arm's requests over every level.
        let arm_of = |x: &&RequestRecord| {
            x.level
                .and_then(|l| r.levels.get(l as usize))
                .and_then(|l| l.params.arm.as_deref())
        };
        let of = |arm: &str| -> Vec<&RequestRecord> {
            r.requests
                .iter()
                .filter(|x| arm_of(x) == Some(arm))
                .collect()
        };
        ab_cdf(charts, of("baseline"), of("treatment"))?;
    }

    let ttft = values(&measured, names::TTFT);
    if !ttft.is_empty() {
        charts.push((
            "ttft-cdf",
            charts::cdf(
                "Time to first token (CDF)",
                "TTFT (ms)",
                &[("TTFT".into(), ttft)],
            )?,
        ));
    }
    let e2e = values(&measured, names::E2E);
    if !e2e.is_empty() {
        charts.push((
            "e2e-cdf",
            charts::cdf(
                "End-to-end latency (CDF)",
                "E2E (ms)",
                &[("E2E".into(), e2e)],
            )?,
        ));
    }
    let itl = values(&measured, names::ITL);
    if !itl.is_empty() {
        charts.push((
            "itl-histogram",
            charts::histogram("Inter-token latency", "ITL (ms)", &itl, 40)?,
        ));
    }
    Ok(())
}

/// Throughput and requests in flight, second by second.
fn timeseries_charts(r: &BenchResult, charts: &mut Charts) -> anyhow::Result<()> {
    if r.timeseries.len() >= 2 {
        let tok: Vec<(f64, f64)> = r
            .timeseries
            .iter()
            .map(|s| (s.t_s as f64, s.output_tokens))
            .collect();
        let done: Vec<(f64, f64)> = r
            .timeseries
            .iter()
            .map(|s| (s.t_s as f64, s.completed as f64))
            .collect();
        charts.push((
            "throughput-over-time",
            charts::lines(
                "Throughput over time",
                "time (s)",
                "per second",
                &[
                    ("output tokens/s".into(), tok),
                    ("completed requests/s".into(), done),
                ],
            )?,
        ));
        let conc: Vec<(f64, f64)> = r
            .timeseries
            .iter()
            .map(|s| (s.t_s as f64, s.concurrency_avg))
            .collect();
        let peak: Vec<(f64, f64)> = r
            .timeseries
            .iter()
            .map(|s| (s.t_s as f64, s.concurrency_max as f64))
            .collect();
        charts.push((
            "concurrency-over-time",
            charts::lines(
                "Requests in flight",
                "time (s)",
                "requests",
                &[("mean".into(), conc), ("max".into(), peak)],
            )?,
        ));
    }
    Ok(())
}

/// Sweep: aggregate and per-request throughput against concurrency.
fn sweep_charts(r: &BenchResult, charts: &mut Charts) -> anyhow::Result<()> {
    if r.command == "sweep" && !r.levels.is_empty() {
        let c = |l: &crate::report::Level| l.params.concurrency.unwrap_or(0) as f64;
        let (mut agg, mut per) = (Vec::new(), Vec::new());
        for (arm, levels) in by_arm(r) {
            agg.push((
                series("aggregate tok/s", &arm),
                levels
                    .iter()
                    .map(|l| (c(l), l.summary.throughput.output_tok_s))
                    .collect(),
            ));
            per.push((
                series("per-request tok/s", &arm),
                levels
                    .iter()
                    .filter_map(|l| l.summary.output_tok_s.as_ref().map(|d| (c(l), d.p50)))
                    .collect(),
            ));
        }
        charts.push((
            "sweep-aggregate",
            charts::lines(
                "Aggregate throughput vs concurrency",
                "concurrency",
                "output tok/s",
                &agg,
            )?,
        ));
        charts.push((
            "sweep-per-request",
            charts::lines(
                "Per-request throughput vs concurrency",
                "concurrency",
                "output tok/s (p50)",
                &per,
            )?,
        ));
    }
    Ok(())
}

/// Stress: p95 latency and errors against the target rate.
fn stress_charts(r: &BenchResult, charts: &mut Charts) -> anyhow::Result<()> {
    if let Some(st) = &r.stress {
        let p95: Vec<(f64, f64)> = st
            .levels
            .iter()
            .filter_map(|l| l.p95_ms.map(|p| (l.target_rate, p)))
            .collect();
        let errs: Vec<(f64, f64)> = st
            .levels
            .iter()
            .map(|l| (l.target_rate, l.error_rate * 100.0))
            .collect();
        charts.push((
            "stress-latency",
            charts::lines(
                "Stress: p95 latency by rate",
                "target rate (req/s)",
                "p95 E2E from scheduled (ms)",
                &[("p95".into(), p95)],
            )?,
        ));
        charts.push((
            "stress-errors",
            charts::lines(
                "Stress: errors by rate",
                "target rate (req/s)",
                "errors (%)",
                &[("error %".into(), errs)],
            )?,
        ));
    }
    Ok(())
}

/// A load curve (`throughput --rate A,B,...`): achieved vs offered, and TTFT p95, by rate.
fn load_curve_charts(r: &BenchResult, charts: &mut Charts) -> anyhow::Result<()> {
    if r.command != crate::plan::Command::Throughput.name() || r.levels.is_empty() {
        return Ok(());
    }
    type Figure = fn(&crate::result::Level) -> Option<f64>;
    let curves = |figures: &[(&str, Figure)]| -> Vec<(String, Vec<(f64, f64)>)> {
        let mut out = Vec::new();
        for (arm, levels) in by_arm(r) {
            for (name, f) in figures {
                let points = levels
                    .iter()
                    .filter_map(|l| Some((l.params.rate?, f(l)?)))
                    .collect();
                out.push((series(name, &arm), points));
            }
        }
        out
    };
    charts.push((
        "load-curve-rate",
        charts::lines(
            "Achieved vs offered load",
            "offered rate (req/s)",
            "req/s",
            &curves(&[
                ("sent", |l| l.summary.throughput.sent_req_s),
                ("completed", |l| Some(l.summary.throughput.req_s)),
            ]),
        )?,
    ));
    charts.push((
        "load-curve-ttft",
        charts::lines(
            "TTFT by offered load",
            "offered rate (req/s)",
            "ms",
            &curves(&[
                ("TTFT p50", |l| l.summary.ttft_ms.as_ref().map(|d| d.p50)),
                ("TTFT p95", |l| l.summary.ttft_ms.as_ref().map(|d| d.p95)),
            ]),
        )?,
    ));
    Ok(())
}

/// Capacity: each SLO's figure at every probe, with the SLO's limit as a line.
fn capacity_charts(r: &BenchResult, charts: &mut Charts) -> anyhow::Result<()> {
    const NAMES: [&str; 4] = [
        "capacity-slo-1",
        "capacity-slo-2",
        "capacity-slo-3",
        "capacity-slo-4",
    ];
    let Some(c) = r.capacity.as_ref().filter(|c| !c.probes.is_empty()) else {
        return Ok(());
    };
    let by = crate::units::Named::name(c.by);
    let (lo, hi) = c.probes.iter().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(p.level), b.max(p.level))
    });
    for (i, slo) in c.slos.iter().enumerate().take(NAMES.len()) {
        let measured: Vec<(f64, f64)> = c
            .probes
            .iter()
            .filter_map(|p| Some((p.level, p.slos.get(i)?.actual?)))
            .collect();
        let Ok(t) = crate::metrics::targets::Target::parse(slo) else {
            continue;
        };
        let limit = t.threshold;
        let unit = crate::metrics::metric::Metric::lookup(&t.metric)
            .map(|m| m.unit().suffix().trim().to_string())
            .filter(|u| !u.is_empty())
            .map_or(String::new(), |u| format!(" ({u})"));
        charts.push((
            NAMES[i],
            charts::lines(
                &format!("Capacity: {slo} by {by}"),
                by,
                &format!("{}{unit}", slo.split(['<', '>']).next().unwrap_or(slo)),
                &[
                    ("measured".into(), measured),
                    ("SLO limit".into(), vec![(lo, limit), (hi, limit)]),
                ],
            )?,
        ));
    }
    Ok(())
}

pub fn render(r: &BenchResult) -> anyhow::Result<String> {
    let mut charts = Charts::new();
    distribution_charts(r, &mut charts)?;
    timeseries_charts(r, &mut charts)?;
    sweep_charts(r, &mut charts)?;
    stress_charts(r, &mut charts)?;
    capacity_charts(r, &mut charts)?;
    load_curve_charts(r, &mut charts)?;
    let names: Vec<&str> = charts.iter().map(|c| c.0).collect();
    let mut page = String::new();
    let title = format!("llmbench {} — {}", r.command, r.target.model);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"llmbench-charts\" content=\"{}\">\n<title>{}</title>\n<style>{}</style></head><body>\n<h1>{}</h1>\n",
        names.join(","),
        esc(&title),
        CSS,
        esc(&title)
    );
    page.push_str(&document(&super::views::document(r)));
    if !charts.is_empty() {
        page.push_str("<h2>Charts</h2>\n<div class=\"charts\">\n");
        for (name, svg) in &charts {
            let _ = writeln!(page, "<figure data-chart=\"{name}\">{svg}</figure>");
        }
        page.push_str("</div>\n");
    }
    let _ = write!(
        page,
        "<footer>llmbench {} · schema {} · {} requests recorded</footer>\n</body></html>\n",
        esc(&r.tool.version),
        esc(&r.schema),
        r.requests.len()
    );
    Ok(page)
}

const CSS: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1600px;padding:0 1rem;color:#222}\
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}\
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #ddd;padding:.25rem .6rem;text-align:right}\
th{background:#f4f4f4}.l{text-align:left}\
.charts{display:flex;flex-wrap:wrap;gap:1rem}figure{margin:0;border:1px solid #eee}\
footer{margin-top:2rem;color:#888;font-size:.8rem}";
