//! Statistics over records: distributions, throughput over the measured window, error counts.
//!
//! Reads records, produces plain data for reports. Percentiles are computed by exactly one
//! rule ([`percentile`], linear interpolation, numpy's default), from all values: never an
//! average of percentiles. The one exception is stated where it applies: inter-token gaps past
//! [`accumulate::GAPS_EXACT`] (a very long run) come from a 1 µs histogram, and their
//! distribution carries `resolution_ms`.

pub mod accumulate;
pub mod failover;
pub mod goodput;
pub mod live;
pub mod metric;
pub mod sessions;
pub mod stats;
mod summary;
pub mod targets;
pub mod timeseries;

pub use summary::{RequestCounts, Summary, Throughput, Tokens};

use serde::{Deserialize, Serialize};

/// count, mean, stddev (sample, n−1), min, p50, p90, p95, p99, max.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Distribution {
    pub count: u64,
    pub mean: f64,
    pub stddev: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    /// Set when the percentiles come from a histogram of this resolution (inter-token gaps of
    /// a very long run), not from every value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_ms: Option<f64>,
    /// Distribution-free 95% intervals of the percentiles (order statistics; absent where
    /// there are too few values: 36 for p90, 72 for p95, 368 for p99).
    #[serde(default, skip_serializing_if = "Ci95::is_empty")]
    pub ci95: Ci95,
    /// Percentiles asked for beyond p50, p90, p95 and p99 (`--percentiles 99.9`, or a target
    /// on `ttft.p99.9`), each with its interval.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<Percentile>,
}

/// One asked-for percentile: `p` (0-100), its value and its 95% interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Percentile {
    pub p: f64,
    pub value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<[f64; 2]>,
}

/// The percentiles every distribution holds as fields.
pub const FIXED_PERCENTILES: [f64; 4] = [50.0, 90.0, 95.0, 99.0];

/// `p99.9` → 99.9: a percentile's name, strictly between 0 and 100.
pub fn parse_percentile(name: &str) -> Option<f64> {
    let digits = name.strip_prefix('p')?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let p: f64 = digits.parse().ok()?;
    (p > 0.0 && p < 100.0).then_some(p)
}

/// `99.9` → `p99.9`.
pub fn percentile_name(p: f64) -> String {
    format!("p{p}")
}

/// What a summary computes beyond its fixed figures: `--goodput`'s SLOs and the percentiles
/// asked for (`--percentiles`, and those targets name). Recorded in a result's `config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extras {
    #[serde(default, rename = "goodput")]
    pub slos: Vec<goodput::Slo>,
    /// Every percentile reported, in order (empty: p50, p90, p95, p99).
    #[serde(default)]
    pub percentiles: Vec<f64>,
}

impl Extras {
    /// The extras a result's `config` records.
    pub fn of_config(config: &serde_json::Value) -> Extras {
        serde_json::from_value(config.clone()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.slos.is_empty() && self.percentiles.is_empty()
    }

    /// The asked-for percentiles that are not fields.
    pub fn beyond_fixed(&self) -> Vec<f64> {
        self.percentiles
            .iter()
            .copied()
            .filter(|p| !FIXED_PERCENTILES.contains(p))
            .collect()
    }
}

/// `[low, high]` of each percentile, 95% confidence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Ci95 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95: Option<[f64; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<[f64; 2]>,
}

impl Ci95 {
    pub fn is_empty(&self) -> bool {
        self == &Ci95::default()
    }

    /// The intervals of `n` sorted values, the `i`-th given by `at(i)`.
    pub fn of(n: usize, at: impl Fn(usize) -> f64) -> Ci95 {
        let ci = |q: f64| stats::quantile_interval(n, q).map(|(lo, hi)| [at(lo), at(hi)]);
        Ci95 {
            p50: ci(0.5),
            p90: ci(0.9),
            p95: ci(0.95),
            p99: ci(0.99),
        }
    }

    /// The interval of a statistic by name (`p95`).
    pub fn of_stat(&self, stat: &str) -> Option<[f64; 2]> {
        match stat {
            "p50" | "median" => self.p50,
            "p90" => self.p90,
            "p95" => self.p95,
            "p99" => self.p99,
            _ => None,
        }
    }
}

/// Percentile of sorted values by linear interpolation between closest ranks:
/// rank h = (n−1)·p/100, value = x[⌊h⌋] + (h−⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of no values");
    percentile_of(sorted.len(), |i| sorted[i], p)
}

/// [`percentile`] of `n` sorted values, the `i`-th given by `at(i)`.
pub fn percentile_of(n: usize, at: impl Fn(usize) -> f64, p: f64) -> f64 {
    let h = (n - 1) as f64 * p / 100.0;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    at(lo) + (h - lo as f64) * (at(hi) - at(lo))
}

impl Distribution {
    /// `None` for no values: a metric that was not measured is null, never zero.
    pub fn from_values(mut values: Vec<f64>) -> Option<Distribution> {
        values.retain(|v| v.is_finite());
        values.sort_by(|a, b| a.total_cmp(b));
        Distribution::from_sorted(values.len(), |i| values[i])
    }

    /// The distribution of `n` sorted values, the `i`-th given by `at(i)` (so that values kept
    /// in a compact form need not be copied).
    pub fn from_sorted(n: usize, at: impl Fn(usize) -> f64) -> Option<Distribution> {
        if n == 0 {
            return None;
        }
        let count = n as f64;
        let mean = (0..n).map(&at).sum::<f64>() / count;
        let var = if n > 1 {
            (0..n).map(|i| (at(i) - mean).powi(2)).sum::<f64>() / (count - 1.0)
        } else {
            0.0
        };
        let pct = |p: f64| percentile_of(n, &at, p);
        Some(Distribution {
            count: n as u64,
            mean,
            stddev: var.sqrt(),
            min: at(0),
            p50: pct(50.0),
            p90: pct(90.0),
            p95: pct(95.0),
            p99: pct(99.0),
            max: at(n - 1),
            resolution_ms: None,
            ci95: Ci95::of(n, &at),
            percentiles: Vec::new(),
        })
    }

    /// Add the percentiles `ps` (beyond the fixed ones) of the same `n` sorted values.
    pub fn with_percentiles(mut self, n: usize, at: impl Fn(usize) -> f64, ps: &[f64]) -> Self {
        self.percentiles = ps
            .iter()
            .map(|&p| Percentile {
                p,
                value: percentile_of(n, &at, p),
                ci95: stats::quantile_interval(n, p / 100.0).map(|(lo, hi)| [at(lo), at(hi)]),
            })
            .collect();
        self
    }

    /// The `p` percentile (0-100), where the distribution holds it.
    pub fn quantile(&self, p: f64) -> Option<f64> {
        match p {
            50.0 => Some(self.p50),
            90.0 => Some(self.p90),
            95.0 => Some(self.p95),
            99.0 => Some(self.p99),
            _ => self.percentiles.iter().find(|x| x.p == p).map(|x| x.value),
        }
    }

    /// The 95% interval of the `p` percentile, where there are enough values for one.
    pub fn quantile_ci(&self, p: f64) -> Option<[f64; 2]> {
        match p {
            50.0 => self.ci95.p50,
            90.0 => self.ci95.p90,
            95.0 => self.ci95.p95,
            99.0 => self.ci95.p99,
            _ => self.percentiles.iter().find(|x| x.p == p)?.ci95,
        }
    }

    /// Look up a statistic by name (`p95`, `mean`, ...), for targets and comparisons.
    pub fn stat(&self, name: &str) -> Option<f64> {
        Some(match name {
            "count" => self.count as f64,
            "mean" | "avg" => self.mean,
            "stddev" => self.stddev,
            "min" => self.min,
            "p50" | "median" => self.p50,
            "p90" => self.p90,
            "p95" => self.p95,
            "p99" => self.p99,
            "max" => self.max,
            other => return self.quantile(parse_percentile(other)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Failure, FailureKind};
    use crate::record::{RequestRecord, TokenSource};

    #[test]
    fn percentile_matches_numpy_linear() {
        // numpy.percentile([1,2,3,4,5,6,7,8,9,10], [50, 90, 95, 99]) = 5.5, 9.1, 9.55, 9.91
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!((percentile(&v, 50.0) - 5.5).abs() < 1e-12);
        assert!((percentile(&v, 90.0) - 9.1).abs() < 1e-12);
        assert!((percentile(&v, 95.0) - 9.55).abs() < 1e-12);
        assert!((percentile(&v, 99.0) - 9.91).abs() < 1e-12);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 100.0), 10.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn percentiles_carry_their_order_statistic_intervals() {
        // Values 1..=100 are their own ranks: the median's interval is x(40)..x(61).
        let d = Distribution::from_values((1..=100).map(f64::from).collect()).unwrap();
        assert_eq!(d.ci95.p50, Some([40.0, 61.0]));
        assert!(d.ci95.p95.is_some());
        assert_eq!(d.ci95.p99, None, "100 values are too few for p99");
        assert_eq!(d.ci95.of_stat("median"), d.ci95.p50);
        // The exact binomial and its normal approximation agree where they meet.
        for q in [0.5, 0.9, 0.95, 0.99] {
            let (a, b) = (
                stats::quantile_interval(5000, q).unwrap(),
                stats::normal_interval(5000, q).unwrap(),
            );
            assert!(
                a.0.abs_diff(b.0) <= 1 && a.1.abs_diff(b.1) <= 1,
                "{q}: {a:?} {b:?}"
            );
        }
    }

    #[test]
    fn distribution_of_unsorted_values() {
        let d = Distribution::from_values(vec![4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(d.count, 4);
        assert_eq!(d.min, 1.0);
        assert_eq!(d.max, 4.0);
        assert_eq!(d.mean, 2.5);
        assert_eq!(d.p50, 2.5);
        // sample stddev of 1..4 = sqrt(5/3)
        assert!((d.stddev - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!(Distribution::from_values(vec![]).is_none());
    }

    #[test]
    fn summary_excludes_warmup_and_counts_failures_by_kind() {
        let ok = |id: u64, sent: u64, done: u64, tokens: u64| RequestRecord {
            id,
            sent_ns: sent,
            done_ns: done,
            content_ns: vec![sent + 10_000_000, done],
            output_tokens: Some(tokens),
            token_source: TokenSource::Usage,
            ..Default::default()
        };
        let mut warm = ok(0, 0, 5_000_000_000, 1000);
        warm.warmup = true;
        let failed = RequestRecord {
            id: 3,
            sent_ns: 1_500_000_000,
            done_ns: 1_600_000_000,
            error: Some(Failure {
                kind: FailureKind::Timeout,
                http_status: None,
                detail: String::new(),
            }),
            ..Default::default()
        };
        let recs = vec![
            warm,
            ok(1, 1_000_000_000, 2_000_000_000, 10),
            ok(2, 1_000_000_000, 3_000_000_000, 30),
            failed,
        ];
        let s = Summary::from_records(&recs);
        assert_eq!(s.requests.total, 3);
        assert_eq!(s.requests.ok, 2);
        assert_eq!(s.requests.failed, 1);
        assert!((s.error_rate - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.errors.get("timeout"), Some(&1));
        assert_eq!(s.throughput.window_s, 2.0);
        assert_eq!(s.throughput.output_tok_s, 20.0);
        assert_eq!(s.throughput.req_s, 1.0);
        assert_eq!(s.tokens.output, 40);
        assert_eq!(s.ttft_ms.as_ref().unwrap().p50, 10.0);
        assert_eq!(s.tokens.source, "usage");
    }
}
