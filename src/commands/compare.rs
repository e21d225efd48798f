//! `llmbench compare BASE.json TREAT.json`: every metric both results hold, with the delta, the
//! 95% bootstrap interval of the difference (from the per-request values), significance (the
//! interval excludes zero) and a Mann-Whitney U p-value. `--require` turns a required change
//! into an exit code. The comparison rows are also what `ttft` prints for an A/B.

use std::process::ExitCode;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::cli::CompareArgs;
use crate::metrics::stats::{difference, mann_whitney_u, Stat};
use crate::record::RequestRecord;
use crate::report::{self, BenchResult};

/// Distributions compared from per-request values: (name, lower is better).
pub const DISTRIBUTIONS: &[(&str, bool)] = &[
    ("ttft", true),
    ("itl", true),
    ("tpot", true),
    ("e2e", true),
    ("output_tok_s", false),
    ("decode_tok_s", false),
];
const STATS: &[&str] = &["mean", "p50", "p90", "p95", "p99"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Row {
    pub metric: String,
    pub baseline: f64,
    pub treatment: f64,
    pub delta: f64,
    pub delta_pct: Option<f64>,
    /// 95% bootstrap interval of treatment − baseline (distributions only).
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub significant: Option<bool>,
    /// Two-sided Mann-Whitney U p-value of the two distributions.
    pub mann_whitney_p: Option<f64>,
    pub lower_is_better: bool,
    /// The treatment is better (and, where an interval exists, significantly so).
    pub improved: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Requirement {
    pub text: String,
    pub metric: String,
    /// Required change in percent (negative: a reduction).
    pub change_pct: f64,
    pub actual_pct: Option<f64>,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Comparison {
    pub rows: Vec<Row>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<Requirement>,
}

/// Per-request values of a distribution, over successful measured records.
pub fn values(records: &[&RequestRecord], dist: &str) -> Vec<f64> {
    let ok = records.iter().filter(|r| !r.warmup && r.is_ok());
    match dist {
        "ttft" => ok.filter_map(|r| r.ttft_ms()).collect(),
        "itl" => ok.flat_map(|r| r.itl_ms()).collect(),
        "tpot" => ok.filter_map(|r| r.tpot_ms()).collect(),
        "e2e" => ok.map(|r| r.e2e_ms()).collect(),
        "output_tok_s" => ok.filter_map(|r| r.output_tok_s()).collect(),
        "decode_tok_s" => ok.filter_map(|r| r.decode_tok_s()).collect(),
        _ => Vec::new(),
    }
}

/// Compare two sets of records, distribution by distribution.
pub fn compare_records(base: &[&RequestRecord], treat: &[&RequestRecord]) -> Vec<Row> {
    let mut rows = Vec::new();
    for &(dist, lower) in DISTRIBUTIONS {
        let (a, b) = (values(base, dist), values(treat, dist));
        if a.len() < 2 || b.len() < 2 {
            continue;
        }
        let p = mann_whitney_u(&a, &b).map(|x| x.1);
        for stat in STATS {
            let Some(d) = Stat::parse(stat).and_then(|s| difference(&a, &b, s)) else {
                continue;
            };
            let better = if lower { d.delta < 0.0 } else { d.delta > 0.0 };
            rows.push(Row {
                metric: format!("{dist}.{stat}"),
                baseline: d.baseline,
                treatment: d.treatment,
                delta: d.delta,
                delta_pct: d.delta_pct,
                ci_low: Some(d.ci_low),
                ci_high: Some(d.ci_high),
                significant: Some(d.significant),
                mann_whitney_p: p,
                lower_is_better: lower,
                improved: better && d.significant,
            });
        }
    }
    rows
}

/// Scalar figures of two results (no interval: one value per run).
fn compare_scalars(base: &BenchResult, treat: &BenchResult) -> Vec<Row> {
    let (fa, fb) = (base.summary.facts(), treat.summary.facts());
    [("tok_s", false), ("req_s", false), ("error_rate", true)]
        .iter()
        .filter_map(|&(m, lower)| {
            let (a, b) = (*fa.get(m)?, *fb.get(m)?);
            let delta = b - a;
            Some(Row {
                metric: m.to_string(),
                baseline: a,
                treatment: b,
                delta,
                delta_pct: (a != 0.0).then(|| delta / a * 100.0),
                ci_low: None,
                ci_high: None,
                significant: None,
                mann_whitney_p: None,
                lower_is_better: lower,
                improved: if lower { delta < 0.0 } else { delta > 0.0 },
            })
        })
        .collect()
}

/// `ttft.p95:-10%`: the metric must change by at least that much (and significantly, where
/// an interval exists).
pub fn parse_requirement(text: &str) -> anyhow::Result<(String, f64)> {
    let (m, c) = text.rsplit_once(':').with_context(|| {
        format!("--require {text:?}: expected METRIC:CHANGE, e.g. 'ttft.p95:-10%'")
    })?;
    let c = c.trim().trim_end_matches('%');
    let change: f64 = c
        .parse()
        .with_context(|| format!("--require {text:?}: {c:?} is not a percentage"))?;
    Ok((m.trim().to_string(), change))
}

pub fn check_requirements(rows: &[Row], reqs: &[String]) -> anyhow::Result<Vec<Requirement>> {
    reqs.iter()
        .map(|text| {
            let (metric, change_pct) = parse_requirement(text)?;
            let row = rows.iter().find(|r| r.metric == metric);
            let actual_pct = row.and_then(|r| r.delta_pct);
            let passed = match (row, actual_pct) {
                (Some(r), Some(a)) => {
                    let moved = if change_pct < 0.0 {
                        a <= change_pct
                    } else {
                        a >= change_pct
                    };
                    moved && r.significant != Some(false)
                }
                _ => false,
            };
            Ok(Requirement {
                text: text.clone(),
                metric,
                change_pct,
                actual_pct,
                passed,
            })
        })
        .collect()
}

pub fn compare_results(base: &BenchResult, treat: &BenchResult) -> Vec<Row> {
    let a: Vec<&RequestRecord> = base.requests.iter().collect();
    let b: Vec<&RequestRecord> = treat.requests.iter().collect();
    let mut rows = compare_records(&a, &b);
    rows.extend(compare_scalars(base, treat));
    rows
}

pub async fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    if let Some(p) = &args.output {
        if p.extension().and_then(|e| e.to_str()) != Some("json") {
            bail!("--output {}: use a .json file", p.display());
        }
    }
    for r in &args.require {
        parse_requirement(r)?;
    }
    let base = report::read(&args.baseline)?;
    let treat = report::read(&args.treatment)?;
    let rows = compare_results(&base, &treat);
    if rows.is_empty() {
        bail!(
            "{} and {} share no metric to compare",
            args.baseline.display(),
            args.treatment.display()
        );
    }
    let requirements = check_requirements(&rows, &args.require)?;
    let cmp = Comparison { rows, requirements };
    print!(
        "{}",
        crate::report::console::comparison_table(
            &cmp,
            &args.baseline.display().to_string(),
            &args.treatment.display().to_string()
        )
    );
    if let Some(p) = &args.output {
        let text = serde_json::to_string_pretty(&cmp)?;
        std::fs::write(p, text)
            .with_context(|| format!("--output {}: cannot write", p.display()))?;
    }
    Ok(if cmp.requirements.iter().all(|r| r.passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
