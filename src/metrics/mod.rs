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
pub mod targets;
pub mod timeseries;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::record::{RequestRecord, Row, TokenSource};

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestCounts {
    /// Measured requests: ok + failed + stopped.
    pub total: u64,
    pub ok: u64,
    /// Failed on their own account (counted in the error rate).
    pub failed: u64,
    /// Cut by the user (Ctrl-C) or never sent because the run stopped: kept as records, out of
    /// the error rate.
    #[serde(default)]
    pub stopped: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Throughput {
    /// Σ output tokens of requests completed in the window / window.
    pub output_tok_s: f64,
    /// Completed requests / window.
    pub req_s: f64,
    /// First measured send to last measured completion.
    pub window_s: f64,
    /// Open loop: measured requests sent per second, (n − 1) / (last send − first send). The
    /// achieved offered load, to set against the target rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_req_s: Option<f64>,
    /// Σ E2E of the successful measured requests, s (the seed's "Total time").
    #[serde(default)]
    pub request_time_s: f64,
    /// Output tokens / `request_time_s`: the seed's "Avg throughput", a per-request speed
    /// weighted by request time (not the aggregate `output_tok_s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_request_tok_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tokens {
    pub prompt: u64,
    pub output: u64,
    /// Prompt tokens served from the server's prefix cache, where usage reported them.
    pub cached: u64,
    /// `usage`, `server_timings`, `tokenizer`, `events` or `mixed` (see the records for each).
    pub source: String,
    /// Successful responses whose `usage` counted fewer output tokens than the content events
    /// received: the server's count is suspect.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage_below_events: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Everything a report needs about one set of records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Summary {
    pub requests: RequestCounts,
    /// failed / (ok + failed).
    pub error_rate: f64,
    pub ttft_ms: Option<Distribution>,
    pub itl_ms: Option<Distribution>,
    pub tpot_ms: Option<Distribution>,
    pub e2e_ms: Option<Distribution>,
    pub output_tok_s: Option<Distribution>,
    pub decode_tok_s: Option<Distribution>,
    /// sent − scheduled (open loop only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lag_ms: Option<Distribution>,
    /// TTFT and E2E from the scheduled time (open loop only): a late client cannot hide a
    /// slow server (coordinated omission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_from_scheduled_ms: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_from_scheduled_ms: Option<Distribution>,
    pub throughput: Throughput,
    pub concurrency: timeseries::Concurrency,
    pub tokens: Tokens,
    /// Failed requests by kind.
    pub errors: BTreeMap<String, u64>,
    /// Requests that met every `--goodput` SLO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<goodput::Goodput>,
    /// The percentiles reported, in order (`--percentiles`; empty: p50, p90, p95, p99).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<f64>,
}

impl Summary {
    /// Summarize the measured (non-warmup) records.
    pub fn from_records(records: &[RequestRecord]) -> Summary {
        let mut a = accumulate::Accumulator::default();
        records.iter().for_each(|r| a.push(r));
        a.finish().summary
    }

    /// [`Summary::from_records`] with `--goodput`'s SLOs judged and the asked-for percentiles
    /// (a level judged on its own).
    pub fn from_records_with(records: &[RequestRecord], extras: &Extras) -> Summary {
        let mut a = accumulate::Accumulator::default();
        a.percentiles = extras.percentiles.clone();
        records.iter().for_each(|r| a.push(r));
        let done = a.finish();
        let mut s = done.summary;
        if !extras.slos.is_empty() {
            s.goodput = Some(goodput::of(&done.rows, &extras.slos, s.throughput.window_s));
        }
        s
    }

    /// Summarize the measured rows (in plan order); `gaps` holds their inter-token gaps;
    /// `percentiles` as [`Extras::percentiles`].
    pub fn from_rows(rows: &[Row], gaps: accumulate::Gaps, percentiles: &[f64]) -> Summary {
        let measured: Vec<&Row> = rows.iter().filter(|r| !r.warmup).collect();
        let ok: Vec<&Row> = measured.iter().copied().filter(|r| r.is_ok()).collect();
        let stopped = measured.iter().filter(|r| r.stopped_by_user()).count();
        let failed = measured.len() - ok.len() - stopped;

        let errors = errors_by_kind(&measured);

        let window_start = measured
            .iter()
            .map(|r| r.scheduled_ns().unwrap_or(r.sent_ns).min(r.sent_ns))
            .min();
        let window_end = measured.iter().map(|r| r.done_ns).max();
        let window_s = match (window_start, window_end) {
            (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
            _ => 0.0,
        };
        let output: u64 = ok.iter().filter_map(|r| r.output_tokens()).sum();
        let prompt: u64 = ok.iter().map(|r| r.prompt_tokens as u64).sum();
        let cached: u64 = ok.iter().map(|r| r.cached_tokens as u64).sum();
        let per_sec = |x: f64| if window_s > 0.0 { x / window_s } else { 0.0 };
        // `+ 0.0`: an empty sum is -0.0, printed "-0.00".
        let request_time_s: f64 = ok.iter().map(|r| r.e2e_ms()).sum::<f64>() / 1e3 + 0.0;
        let more: Vec<f64> = percentiles
            .iter()
            .copied()
            .filter(|p| !FIXED_PERCENTILES.contains(p))
            .collect();
        let dist = |rows: &[&Row], f: fn(&Row) -> Option<f64>| {
            let mut v: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
            v.retain(|x| x.is_finite());
            v.sort_by(f64::total_cmp);
            Distribution::from_sorted(v.len(), |i| v[i])
                .map(|d| d.with_percentiles(v.len(), |i| v[i], &more))
        };

        Summary {
            requests: RequestCounts {
                total: measured.len() as u64,
                ok: ok.len() as u64,
                failed: failed as u64,
                stopped: stopped as u64,
            },
            error_rate: if ok.len() + failed == 0 {
                0.0
            } else {
                failed as f64 / (ok.len() + failed) as f64
            },
            ttft_ms: dist(&ok, Row::ttft_ms),
            itl_ms: gaps.distribution(&more),
            tpot_ms: dist(&ok, Row::tpot_ms),
            e2e_ms: dist(&ok, |r| Some(r.e2e_ms())),
            output_tok_s: dist(&ok, Row::output_tok_s),
            decode_tok_s: dist(&ok, Row::decode_tok_s),
            send_lag_ms: dist(&measured, Row::send_lag_ms),
            ttft_from_scheduled_ms: dist(&ok, Row::ttft_from_scheduled_ms),
            e2e_from_scheduled_ms: dist(&ok, Row::e2e_from_scheduled_ms),
            concurrency: match (window_start, window_end) {
                (Some(a), Some(b)) => timeseries::concurrency(measured.iter().copied(), a, b),
                _ => timeseries::Concurrency::default(),
            },
            throughput: Throughput {
                output_tok_s: per_sec(output as f64),
                req_s: per_sec(ok.len() as f64),
                window_s,
                sent_req_s: send_rate(&measured),
                request_time_s,
                avg_request_tok_s: (request_time_s > 0.0).then(|| output as f64 / request_time_s),
            },
            tokens: Tokens {
                prompt,
                output,
                cached,
                source: token_source(&ok),
                usage_below_events: ok.iter().filter(|r| usage_below_events(r)).count() as u64,
            },
            errors,
            goodput: None,
            percentiles: percentiles.to_vec(),
        }
    }
}

/// Failures by kind, apart from requests the user stopped.
fn errors_by_kind(measured: &[&Row]) -> BTreeMap<String, u64> {
    let mut errors = BTreeMap::new();
    for r in measured.iter().filter(|r| !r.stopped_by_user()) {
        if let Some(kind) = r.kind {
            *errors.entry(kind.name().to_string()).or_insert(0) += 1;
        }
    }
    errors
}

/// `usage` counted fewer output tokens than the content events received.
fn usage_below_events(r: &Row) -> bool {
    r.token_source == TokenSource::Usage && r.output_tokens().unwrap_or(0) < r.events as u64
}

/// Where the output counts came from: one source, `mixed`, or `none`.
fn token_source(ok: &[&Row]) -> String {
    let mut sources: Vec<TokenSource> = ok.iter().map(|r| r.token_source).collect();
    sources.sort_by_key(|s| s.name());
    sources.dedup();
    match sources.as_slice() {
        [] => "none".to_string(),
        [one] => one.name().to_string(),
        _ => "mixed".to_string(),
    }
}

/// (n − 1) / (last send − first send) over open-loop records that were sent.
fn send_rate(measured: &[&Row]) -> Option<f64> {
    let sent: Vec<u64> = measured
        .iter()
        .filter(|r| r.scheduled_ns().is_some())
        .filter(|r| r.kind != Some(crate::record::FailureKind::Dropped))
        .map(|r| r.sent_ns)
        .collect();
    let (first, last) = (sent.iter().min()?, sent.iter().max()?);
    (sent.len() > 1 && last > first)
        .then(|| (sent.len() - 1) as f64 / ((last - first) as f64 / 1e9))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Failure, FailureKind};

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
