//! The regression check: each metric, in its better direction (from the metric registry), may
//! get worse by at most its tolerance: a fraction of the baseline, or for rates such as
//! `error_rate`, percentage points. A metric the baseline has and the current result lacks
//! fails. Data in, data out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::metric::{Better, Metric, Unit, CHECK_DEFAULT};
use crate::result::BenchResult;

/// How much worse a metric may get.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tolerance {
    /// A fraction of the baseline (0.1: 10% worse).
    Relative(f64),
    /// Percentage points, for metrics that are themselves rates (error_rate).
    Points(f64),
}

impl Tolerance {
    pub fn shown(self) -> String {
        match self {
            Tolerance::Relative(f) => format!("{}%", (f * 1e8).round() / 1e6),
            Tolerance::Points(p) => format!("{p:.1} pp"),
        }
    }
}

/// The tolerances of one check: defaults and per-metric settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Tolerances {
    pub relative: f64,
    /// For fraction metrics (error_rate), in percentage points.
    pub points: f64,
    pub per_metric: BTreeMap<String, Tolerance>,
}

impl Tolerances {
    pub fn of(&self, m: &Metric) -> Tolerance {
        if let Some(t) = self.per_metric.get(&m.name()) {
            return *t;
        }
        match m.unit() {
            Unit::Fraction => Tolerance::Points(self.points),
            _ => Tolerance::Relative(self.relative),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckRow {
    pub metric: String,
    pub baseline: f64,
    /// None: the current result does not hold the metric (the row fails).
    pub current: Option<f64>,
    pub delta: Option<f64>,
    pub delta_pct: Option<f64>,
    pub tolerance: Tolerance,
    pub better: Better,
    pub passed: bool,
    /// A percentile's 95% intervals in the baseline and the current result, where each has
    /// values enough for one: a change whose intervals overlap may be noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_ci95: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_ci95: Option<[f64; 2]>,
}

impl CheckRow {
    /// Whether the two intervals overlap (None without both).
    pub fn overlap(&self) -> Option<bool> {
        let ([a0, a1], [b0, b1]) = (self.baseline_ci95?, self.current_ci95?);
        Some(a0 <= b1 && b0 <= a1)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub rows: Vec<CheckRow>,
    /// Settings in which the two results differ.
    pub differences: Vec<String>,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.passed)
    }
}

/// Judge one metric.
pub fn check_row(m: &Metric, baseline: f64, current: Option<f64>, tol: Tolerance) -> CheckRow {
    let delta = current.map(|c| c - baseline);
    let passed = match delta {
        None => false,
        Some(d) => {
            // How much worse, as a non-negative amount where a change in the wrong direction
            // is positive (neutral metrics: either direction).
            let worse = match m.better() {
                Better::Lower => d,
                Better::Higher => -d,
                Better::Neutral => d.abs(),
            };
            match tol {
                Tolerance::Points(p) => worse * 100.0 <= p + 1e-9,
                Tolerance::Relative(_) if baseline == 0.0 => worse <= 0.0,
                Tolerance::Relative(f) => worse / baseline.abs() <= f + 1e-12,
            }
        }
    };
    CheckRow {
        metric: m.name(),
        baseline,
        current,
        delta,
        delta_pct: delta
            .filter(|_| baseline != 0.0)
            .map(|d| d / baseline * 100.0),
        tolerance: tol,
        better: m.better(),
        passed,
        baseline_ci95: None,
        current_ci95: None,
    }
}

/// Check `current` against `baseline`: `wanted` metrics (empty: the default list, as the
/// baseline holds them). Errors name a wanted metric that is unknown or not in the baseline.
pub fn check(
    baseline: &BenchResult,
    current: &BenchResult,
    wanted: &[String],
    tol: &Tolerances,
) -> anyhow::Result<Check> {
    let explicit = !wanted.is_empty();
    let names: Vec<String> = if explicit {
        wanted.to_vec()
    } else {
        CHECK_DEFAULT.iter().map(|s| s.to_string()).collect()
    };
    let mut rows = Vec::new();
    for name in &names {
        let m = Metric::lookup(name).ok_or_else(|| {
            anyhow::anyhow!(
                "--metric {name}: unknown metric; known: {}",
                crate::metrics::metric::known()
            )
        })?;
        let Some(b) = m.value(&baseline.summary, baseline.monitor.as_ref()) else {
            if explicit {
                anyhow::bail!("--metric {name}: the baseline does not hold it");
            }
            continue;
        };
        let c = m.value(&current.summary, current.monitor.as_ref());
        rows.push(CheckRow {
            baseline_ci95: m.interval(&baseline.summary),
            current_ci95: m.interval(&current.summary),
            ..check_row(&m, b, c, tol.of(&m))
        });
    }
    if rows.is_empty() {
        anyhow::bail!("the baseline holds none of the metrics to check");
    }
    Ok(Check {
        rows,
        differences: super::compare::settings_differences(baseline, current),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, b: f64, c: f64, tol: Tolerance) -> bool {
        check_row(&Metric::lookup(name).unwrap(), b, Some(c), tol).passed
    }

    #[test]
    fn direction_comes_from_the_registry() {
        let t = Tolerance::Relative(0.1);
        assert!(row("ttft.p95", 650.0, 623.0, t));
        assert!(row("ttft.p95", 650.0, 714.0, t));
        assert!(!row("ttft.p95", 650.0, 730.0, t));
        assert!(row("tok_s", 100.0, 95.0, t));
        assert!(!row("tok_s", 100.0, 85.0, t));
        assert!(
            row("tok_s", 100.0, 500.0, t),
            "faster is never a regression"
        );
        assert!(
            !row("ok", 8.0, 4.0, t),
            "half the successes is a regression"
        );
        assert!(row("ok", 8.0, 8.0, t));
        assert!(
            !row("peak_concurrency", 10.0, 20.0, t),
            "neutral: either way"
        );
        assert!(!row("peak_concurrency", 10.0, 5.0, t));
    }

    #[test]
    fn error_rate_tolerance_is_in_points() {
        let t = Tolerance::Points(1.0);
        assert!(row("error_rate", 0.0, 0.005, t));
        assert!(row("error_rate", 0.02, 0.03, t), "+1.0 point is allowed");
        assert!(!row("error_rate", 0.0, 0.02, t));
        assert!(!row("error_rate", 0.0, 0.011, t));
    }

    #[test]
    fn a_metric_missing_from_the_current_result_fails() {
        let m = Metric::lookup("ttft.p95").unwrap();
        let r = check_row(&m, 100.0, None, Tolerance::Relative(0.1));
        assert!(!r.passed);
        assert_eq!(r.delta, None);
    }
}
