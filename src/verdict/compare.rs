//! Comparison of two sets of records (or two results): per metric the delta, the 95% bootstrap
//! interval of the difference (from the per-request values), significance and a Mann-Whitney U
//! p-value; required changes (`--require`); and the settings in which two results differ.
//! Results with levels (sweep, stress, suite) are compared level by level, never pooled.
//! Data in, data out.

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::metrics::metric::{
    Better, Metric, COMPARE_DISTRIBUTIONS, COMPARE_SCALARS, COMPARE_STATS,
};
use crate::metrics::stats::{difference, mann_whitney_u, Stat};
use crate::record::RequestRecord;
use crate::result::BenchResult;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Row {
    /// The level compared (sweep, stress, suite), by name; none for a whole result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
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
    /// Settings in which the two results differ (the comparison may not be like for like).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
}

/// Compare two sets of records, distribution by distribution.
pub fn compare_records(base: &[&RequestRecord], treat: &[&RequestRecord]) -> Vec<Row> {
    let mut rows = Vec::new();
    for dist in COMPARE_DISTRIBUTIONS.iter().filter_map(|d| Metric::dist(d)) {
        let a = dist.values_of(base.iter().copied());
        let b = dist.values_of(treat.iter().copied());
        if a.len() < 2 || b.len() < 2 {
            continue;
        }
        let lower = dist.better == Better::Lower;
        let p = mann_whitney_u(&a, &b).map(|x| x.1);
        for stat in COMPARE_STATS {
            let Some(d) = Stat::parse(stat).and_then(|s| difference(&a, &b, s)) else {
                continue;
            };
            let better = if lower { d.delta < 0.0 } else { d.delta > 0.0 };
            rows.push(Row {
                level: None,
                metric: format!("{}.{stat}", dist.name),
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

/// Scalar figures of two summaries (no interval: one value per run).
fn compare_scalars(base: &crate::metrics::Summary, treat: &crate::metrics::Summary) -> Vec<Row> {
    COMPARE_SCALARS
        .iter()
        .filter_map(|name| {
            let m = Metric::lookup(name)?;
            let (a, b) = (m.value(base, None)?, m.value(treat, None)?);
            let lower = m.better() == Better::Lower;
            let delta = b - a;
            Some(Row {
                level: None,
                metric: m.name(),
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

/// Compare two results: whole, or level by level when both have levels of the same names.
pub fn compare_results(base: &BenchResult, treat: &BenchResult) -> Vec<Row> {
    let per_level = !base.levels.is_empty()
        && !treat.levels.is_empty()
        && base.command != crate::plan::Command::Ttft.name();
    if !per_level {
        let a: Vec<&RequestRecord> = base.requests.iter().collect();
        let b: Vec<&RequestRecord> = treat.requests.iter().collect();
        let mut rows = compare_records(&a, &b);
        rows.extend(compare_scalars(&base.summary, &treat.summary));
        return rows;
    }
    let mut rows = Vec::new();
    for (i, la) in base.levels.iter().enumerate() {
        let Some(j) = treat.levels.iter().position(|l| l.name == la.name) else {
            continue;
        };
        let a: Vec<&RequestRecord> = base.level_records(Some(i as u32)).collect();
        let b: Vec<&RequestRecord> = treat.level_records(Some(j as u32)).collect();
        let mut level_rows = compare_records(&a, &b);
        level_rows.extend(compare_scalars(&la.summary, &treat.levels[j].summary));
        rows.extend(level_rows.into_iter().map(|mut r| {
            r.level = Some(la.name.clone());
            r
        }));
    }
    rows
}

/// An A/B's arms compared at each level: levels 2i (baseline) and 2i + 1 (treatment) of a
/// sweep or load curve run on both arms; rows are labelled with the level's name less its arm.
pub fn compare_arms(r: &BenchResult) -> Comparison {
    let mut rows = Vec::new();
    for (i, pair) in r.levels.chunks(2).enumerate() {
        let [a, b] = pair else { continue };
        if a.error.is_some() || b.error.is_some() {
            continue;
        }
        let ra: Vec<&RequestRecord> = r.level_records(Some(2 * i as u32)).collect();
        let rb: Vec<&RequestRecord> = r.level_records(Some(2 * i as u32 + 1)).collect();
        let label = a.name.rsplit_once(" / ").map_or(a.name.as_str(), |x| x.0);
        let mut level_rows = compare_records(&ra, &rb);
        level_rows.extend(compare_scalars(&a.summary, &b.summary));
        rows.extend(level_rows.into_iter().map(|mut row| {
            row.level = Some(label.to_string());
            row
        }));
    }
    Comparison {
        rows,
        ..Default::default()
    }
}

/// `ttft.p95:-10%`: the metric must change by at least that much (and significantly, where
/// an interval exists).
pub fn parse_requirement(text: &str) -> anyhow::Result<(String, f64)> {
    let (m, c) = text.rsplit_once(':').with_context(|| {
        format!("--require {text:?}: expected METRIC:CHANGE, e.g. 'ttft.p95:-10%'")
    })?;
    let metric = Metric::lookup(m).with_context(|| {
        format!(
            "--require {text:?}: unknown metric {:?}; known: {}",
            m.trim(),
            crate::metrics::metric::known()
        )
    })?;
    let c = c.trim().trim_end_matches('%');
    let change: f64 = c
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .with_context(|| format!("--require {text:?}: {c:?} is not a percentage"))?;
    Ok((metric.name(), change))
}

/// Judge required changes against comparison rows (every level must meet it).
pub fn check_requirements(rows: &[Row], reqs: &[String]) -> anyhow::Result<Vec<Requirement>> {
    reqs.iter()
        .map(|text| {
            let (metric, change_pct) = parse_requirement(text)?;
            let matching: Vec<&Row> = rows.iter().filter(|r| r.metric == metric).collect();
            let moved = |r: &Row| match r.delta_pct {
                Some(a) if change_pct < 0.0 => a <= change_pct,
                Some(a) => a >= change_pct,
                None => false,
            };
            let passed = !matching.is_empty()
                && matching
                    .iter()
                    .all(|r| moved(r) && r.significant != Some(false));
            // The least favourable level's change is the one shown.
            let actual_pct = matching.iter().filter_map(|r| r.delta_pct).reduce(|a, b| {
                if change_pct < 0.0 {
                    a.max(b)
                } else {
                    a.min(b)
                }
            });
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

/// Settings in which two results differ, one line each ("max_tokens: 64 vs 128").
pub fn settings_differences(a: &BenchResult, b: &BenchResult) -> Vec<String> {
    let mut out = Vec::new();
    let mut diff = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{what}: {x} vs {y}"));
        }
    };
    diff("command", a.command.clone(), b.command.clone());
    diff(
        "api",
        a.target.api.name().into(),
        b.target.api.name().into(),
    );
    diff("model", a.target.model.clone(), b.target.model.clone());
    let key = |r: &BenchResult, k: &str| -> String {
        let v = &r.config[k];
        if v.is_null() {
            "unset".into()
        } else {
            v.to_string()
        }
    };
    for k in ["stream", "max_tokens", "rate", "concurrency", "arrival"] {
        diff(k, key(a, k), key(b, k));
    }
    let hash = |r: &BenchResult| -> String {
        let d = &r.config["dataset"];
        match (d["name"].as_str(), d["requests_hash"].as_str()) {
            (Some(n), Some(h)) => format!("{n} ({h})"),
            _ => "unknown".into(),
        }
    };
    diff("dataset", hash(a), hash(b));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_name_registered_metrics() {
        assert_eq!(
            parse_requirement("ttft.median:-10%").unwrap(),
            ("ttft.p50".to_string(), -10.0)
        );
        assert!(parse_requirement("latency:-10%").is_err());
        assert!(parse_requirement("ttft.p95:fast").is_err());
    }
}
