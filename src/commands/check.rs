//! `llmbench check --baseline BASE.json CURRENT.json`: the seed's regression check for CI.
//! Each metric, in its better direction (lower for latency and errors, higher for throughput),
//! may get worse by at most its tolerance. Exit 0 all pass, 1 a regression, 2 bad input.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::cli::{parse_fraction, CheckArgs};
use crate::report;

/// Metrics checked by default, when both files hold them.
pub const DEFAULT_METRICS: &[&str] = &[
    "ttft.p50",
    "ttft.p95",
    "ttft.p99",
    "ttft.mean",
    "itl.p50",
    "itl.p95",
    "tpot.p50",
    "e2e.p50",
    "e2e.p95",
    "tok_s",
    "req_s",
    "error_rate",
];

fn lower_is_better(metric: &str) -> bool {
    !(metric == "tok_s"
        || metric == "req_s"
        || metric == "sent_req_s"
        || metric.starts_with("output_tok_s")
        || metric.starts_with("decode_tok_s"))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRow {
    pub metric: String,
    pub baseline: f64,
    pub current: f64,
    pub delta: f64,
    pub delta_pct: Option<f64>,
    /// Allowed worsening: a fraction of the baseline, or for `error_rate` percentage points.
    pub tolerance: f64,
    pub lower_is_better: bool,
    pub passed: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToleranceFile {
    #[serde(default)]
    tolerance: Option<toml::Value>,
    #[serde(default)]
    metrics: BTreeMap<String, toml::Value>,
}

fn fraction(v: &toml::Value, what: &str) -> anyhow::Result<f64> {
    match v {
        toml::Value::String(s) => parse_fraction(s).map_err(|e| anyhow::anyhow!("{what}: {e}")),
        toml::Value::Float(f) => Ok(*f),
        toml::Value::Integer(i) => Ok(*i as f64),
        other => bail!("{what}: {other} is not a tolerance (e.g. \"10%\")"),
    }
}

pub fn check_row(metric: &str, baseline: f64, current: f64, tolerance: f64) -> CheckRow {
    let lower = lower_is_better(metric);
    let delta = current - baseline;
    let worse = if lower { delta } else { -delta };
    let passed = if metric == "error_rate" {
        worse <= tolerance / 10.0 + 1e-12 // 10% tolerance allows +1 percentage point
    } else if baseline == 0.0 {
        worse <= 0.0
    } else {
        worse / baseline.abs() <= tolerance + 1e-12
    };
    CheckRow {
        metric: metric.to_string(),
        baseline,
        current,
        delta,
        delta_pct: (baseline != 0.0).then(|| delta / baseline * 100.0),
        tolerance,
        lower_is_better: lower,
        passed,
    }
}

pub async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let tol_file = match &args.tolerances {
        None => ToleranceFile::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("--tolerances {}: cannot read the file", p.display()))?;
            toml::from_str(&text)
                .with_context(|| format!("--tolerances {}: invalid TOML", p.display()))?
        }
    };
    let default_tol = match &tol_file.tolerance {
        Some(v) => fraction(v, "tolerance")?,
        None => args.tolerance,
    };
    let base = report::read(&args.baseline).with_context(|| "--baseline")?;
    let cur = report::read(&args.current)?;
    let (fb, fc) = (base.summary.facts(), cur.summary.facts());
    let wanted: Vec<String> = if args.metrics.is_empty() {
        DEFAULT_METRICS.iter().map(|s| s.to_string()).collect()
    } else {
        args.metrics.clone()
    };
    let mut rows = Vec::new();
    for m in &wanted {
        let (Some(b), Some(c)) = (fb.get(m), fc.get(m)) else {
            if !args.metrics.is_empty() {
                bail!(
                    "--metric {m}: not in both {} and {}",
                    args.baseline.display(),
                    args.current.display()
                );
            }
            continue;
        };
        let tol = match tol_file.metrics.get(m) {
            Some(v) => fraction(v, m)?,
            None => default_tol,
        };
        rows.push(check_row(m, *b, *c, tol));
    }
    if rows.is_empty() {
        bail!(
            "{} and {} share no metric to check",
            args.baseline.display(),
            args.current.display()
        );
    }
    print!("{}", crate::report::console::check_table(&rows));
    if let Some(p) = &args.output {
        std::fs::write(p, serde_json::to_string_pretty(&rows)?)
            .with_context(|| format!("--output {}: cannot write", p.display()))?;
    }
    if args.update_baseline {
        std::fs::copy(&args.current, &args.baseline).with_context(|| {
            format!(
                "--update-baseline: cannot write {}",
                args.baseline.display()
            )
        })?;
        println!(
            "\nBaseline updated: {} now holds {}",
            args.baseline.display(),
            args.current.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    Ok(if rows.iter().all(|r| r.passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_and_tolerance() {
        assert!(check_row("ttft.p95", 650.0, 623.0, 0.1).passed);
        assert!(check_row("ttft.p95", 650.0, 714.0, 0.1).passed);
        assert!(!check_row("ttft.p95", 650.0, 730.0, 0.1).passed);
        assert!(check_row("tok_s", 100.0, 95.0, 0.1).passed);
        assert!(!check_row("tok_s", 100.0, 85.0, 0.1).passed);
        assert!(
            check_row("tok_s", 100.0, 500.0, 0.1).passed,
            "faster is never a regression"
        );
        assert!(check_row("error_rate", 0.0, 0.005, 0.1).passed);
        assert!(!check_row("error_rate", 0.0, 0.02, 0.1).passed);
    }
}
