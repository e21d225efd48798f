//! Statistics fed one record at a time, in bounded form: what a run of any length needs to be
//! summarized, without keeping its records.
//!
//! Per request a [`Row`] (64 bytes) is kept, so the per-request percentiles (TTFT, E2E, TPOT,
//! ...) stay exact. Inter-token gaps are per token: they are kept exactly (4 bytes each) up to
//! [`GAPS_EXACT`] gaps, beyond which they are counted in a 1 µs histogram (8 MB however long the
//! run; its percentiles are then exact to 1 µs, and the distribution says so). The per-second
//! series grows with the run's duration, not its requests.
//! [`Summary::from_records`](super::Summary::from_records) is this, fed every record.

use std::collections::BTreeMap;

use super::timeseries::{self, Second};
use super::{Distribution, Summary};
use crate::record::{RequestRecord, Row};

/// Inter-token gaps kept exactly before the histogram takes over (128 MB of them).
pub const GAPS_EXACT: usize = 32 << 20;

/// Inter-token gaps: exact (as ns) up to a budget, then a 1 µs histogram.
pub struct Gaps {
    budget: usize,
    /// Gaps up to u32::MAX ns (4.29 s), and the longer ones apart.
    short: Vec<u32>,
    long: Vec<u64>,
    hist: Option<Histogram>,
}

impl Default for Gaps {
    fn default() -> Self {
        Gaps::with_budget(GAPS_EXACT)
    }
}

/// Counts per microsecond: dense below 1 s, sparse above; exact count, sum, square sum, min
/// and max.
struct Histogram {
    dense: Vec<u64>,
    sparse: BTreeMap<u64, u64>,
    count: u64,
    sum_ns: u128,
    sum_sq_ms: f64,
    min_ns: u64,
    max_ns: u64,
}

const DENSE_US: usize = 1_000_000;

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            dense: vec![0; DENSE_US],
            sparse: BTreeMap::new(),
            count: 0,
            sum_ns: 0,
            sum_sq_ms: 0.0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    fn add(&mut self, ns: u64) {
        let us = ns / 1000;
        match self.dense.get_mut(us as usize) {
            Some(c) => *c += 1,
            None => *self.sparse.entry(us).or_default() += 1,
        }
        self.count += 1;
        self.sum_ns += ns as u128;
        let ms = ns as f64 / 1e6;
        self.sum_sq_ms += ms * ms;
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// The value of rank `k` (0-based, sorted), ms: the middle of its microsecond, kept within
    /// the exact minimum and maximum.
    fn rank_ms(&self, k: u64) -> f64 {
        let mut seen = 0;
        let dense = self.dense.iter().enumerate().map(|(us, c)| (us as u64, *c));
        let sparse = self.sparse.iter().map(|(us, c)| (*us, *c));
        for (us, c) in dense.chain(sparse) {
            seen += c;
            if seen > k {
                let ns = (us * 1000 + 500).clamp(self.min_ns, self.max_ns);
                return ns as f64 / 1e6;
            }
        }
        self.max_ns as f64 / 1e6
    }

    fn distribution(&self, more: &[f64]) -> Option<Distribution> {
        if self.count == 0 {
            return None;
        }
        let n = self.count as f64;
        let mean = self.sum_ns as f64 / n / 1e6;
        let var = if self.count > 1 {
            ((self.sum_sq_ms - n * mean * mean) / (n - 1.0)).max(0.0)
        } else {
            0.0
        };
        let pct = |p: f64| super::percentile_of(self.count as usize, |k| self.rank_ms(k as u64), p);
        Some(
            Distribution {
                count: self.count,
                mean,
                stddev: var.sqrt(),
                min: self.min_ns as f64 / 1e6,
                p50: pct(50.0),
                p90: pct(90.0),
                p95: pct(95.0),
                p99: pct(99.0),
                max: self.max_ns as f64 / 1e6,
                resolution_ms: Some(0.001),
                ci95: super::Ci95::of(self.count as usize, |k| self.rank_ms(k as u64)),
                percentiles: Vec::new(),
            }
            .with_percentiles(self.count as usize, |k| self.rank_ms(k as u64), more),
        )
    }
}

impl Gaps {
    pub fn with_budget(budget: usize) -> Gaps {
        Gaps {
            budget,
            short: Vec::new(),
            long: Vec::new(),
            hist: None,
        }
    }

    pub fn add(&mut self, ns: u64) {
        if let Some(h) = &mut self.hist {
            h.add(ns);
            return;
        }
        match u32::try_from(ns) {
            Ok(v) => self.short.push(v),
            Err(_) => self.long.push(ns),
        }
        if self.short.len() + self.long.len() > self.budget {
            let mut h = Histogram::new();
            for v in self.short.drain(..) {
                h.add(v as u64);
            }
            for v in self.long.drain(..) {
                h.add(v);
            }
            self.short = Vec::new();
            self.long = Vec::new();
            self.hist = Some(h);
        }
    }

    /// The distribution in ms (with the percentiles `more` beyond the fixed ones): exact
    /// while within the budget, to 1 µs beyond.
    pub fn distribution(mut self, more: &[f64]) -> Option<Distribution> {
        if let Some(h) = &self.hist {
            return h.distribution(more);
        }
        self.short.sort_unstable();
        self.long.sort_unstable();
        let (short, long) = (&self.short, &self.long);
        // Every long gap exceeds every short one: the sorted values are short, then long.
        let at = |i: usize| {
            let ns = match short.get(i) {
                Some(v) => *v as u64,
                None => long[i - short.len()],
            };
            ns as f64 / 1e6
        };
        let n = short.len() + long.len();
        Distribution::from_sorted(n, at).map(|d| d.with_percentiles(n, at, more))
    }
}

/// Full records a long run keeps by default (`--keep-records`).
pub const KEEP_RECORDS: usize = 100_000;

/// What a long run keeps: every record into the statistics; the first `cap` records, and the
/// first failure of each kind, in full.
pub struct Keeper {
    pub acc: Accumulator,
    cap: usize,
    kept: usize,
    kinds: std::collections::BTreeSet<crate::record::FailureKind>,
    /// Records counted in the statistics but not kept in full.
    pub omitted: u64,
}

impl Keeper {
    pub fn new(cap: usize) -> Keeper {
        Keeper {
            acc: Accumulator::default(),
            cap,
            kept: 0,
            kinds: Default::default(),
            omitted: 0,
        }
    }

    /// Count `r`; true when it is to be kept in full.
    pub fn offer(&mut self, r: &RequestRecord) -> bool {
        self.acc.push(r);
        let new_kind = r.error.as_ref().is_some_and(|e| self.kinds.insert(e.kind));
        if self.kept < self.cap || new_kind {
            self.kept += 1;
            true
        } else {
            self.omitted += 1;
            false
        }
    }
}

/// A run's statistics, fed one record at a time.
#[derive(Default)]
pub struct Accumulator {
    rows: Vec<Row>,
    /// ITL of the measured successful requests.
    gaps: Gaps,
    /// Per second: started, completed, failed, output tokens (the concurrency is added from
    /// the rows at the end).
    seconds: Vec<Second>,
    /// The percentiles to report ([`super::Extras::percentiles`]).
    pub percentiles: Vec<f64>,
}

impl Accumulator {
    pub fn with_gap_budget(budget: usize) -> Accumulator {
        Accumulator {
            gaps: Gaps::with_budget(budget),
            ..Accumulator::default()
        }
    }

    pub fn push(&mut self, r: &RequestRecord) {
        let row = r.row();
        if row.is_ok() && !row.warmup {
            for g in r.itl_ns() {
                self.gaps.add(g);
            }
        }
        self.second(r.sent_ns).started += 1;
        if r.is_ok() {
            self.second(r.done_ns).completed += 1;
            let tokens = r.output_tokens.unwrap_or(0) as f64;
            if r.content_ns.is_empty() {
                self.second(r.done_ns).output_tokens += tokens;
            } else {
                let each = tokens / r.content_ns.len() as f64;
                for &t in &r.content_ns {
                    self.second(t).output_tokens += each;
                }
            }
        } else {
            self.second(r.done_ns).failed += 1;
        }
        self.rows.push(row);
    }

    fn second(&mut self, ns: u64) -> &mut Second {
        let i = (ns / 1_000_000_000) as usize;
        if i >= self.seconds.len() {
            let from = self.seconds.len();
            self.seconds.extend((from..=i).map(|t| Second {
                t_s: t as u64,
                started: 0,
                completed: 0,
                failed: 0,
                output_tokens: 0.0,
                concurrency_avg: 0.0,
                concurrency_max: 0,
            }));
        }
        &mut self.seconds[i]
    }

    /// Requests pushed so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows so far (one per request, in the order pushed).
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The summary of the measured requests and the per-second series of all of them. The
    /// rows are taken in plan order, so the figures do not depend on the order of pushing.
    pub fn finish(mut self) -> Finished {
        self.rows.sort_by_key(|r| r.id);
        let end = self.rows.iter().map(|r| r.done_ns).max();
        let mut seconds = self.seconds;
        if let Some(end) = end {
            seconds.truncate((end / 1_000_000_000 + 1) as usize);
            timeseries::add_concurrency(&mut seconds, &self.rows);
        }
        Finished {
            summary: Summary::from_rows(&self.rows, self.gaps, &self.percentiles),
            seconds,
            rows: self.rows,
        }
    }
}

/// What an [`Accumulator`] gives at the end.
pub struct Finished {
    pub summary: Summary,
    pub seconds: Vec<Second>,
    /// Every row, in plan order.
    pub rows: Vec<Row>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TokenSource;

    /// Requests with varied inter-token gaps (seeded), some over 4.29 s.
    fn records() -> Vec<RequestRecord> {
        let mut x: u64 = 7;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        (0..200)
            .map(|i| {
                let sent = i * 10_000_000;
                let mut t = sent + 50_000_000 + next() % 20_000_000;
                let mut content = vec![t];
                for _ in 0..20 {
                    t += 5_000_000 + next() % 60_000_000;
                    if i == 7 {
                        t += 5_000_000_000;
                    }
                    content.push(t);
                }
                RequestRecord {
                    id: i,
                    sent_ns: sent,
                    done_ns: t,
                    output_tokens: Some(21),
                    token_source: TokenSource::Usage,
                    content_ns: content,
                    ..Default::default()
                }
            })
            .collect()
    }

    #[test]
    fn exact_gaps_equal_the_distribution_of_all_values() {
        let recs = records();
        let all: Vec<f64> = recs.iter().flat_map(|r| r.itl_ms()).collect();
        let mut a = Accumulator::default();
        recs.iter().rev().for_each(|r| a.push(r));
        let s = a.finish().summary;
        assert_eq!(s.itl_ms, Distribution::from_values(all));
        assert_eq!(s.itl_ms.unwrap().resolution_ms, None);
    }

    #[test]
    fn beyond_the_budget_gaps_are_exact_to_a_microsecond() {
        let recs = records();
        let exact =
            Distribution::from_values(recs.iter().flat_map(|r| r.itl_ms()).collect()).unwrap();
        let mut a = Accumulator::with_gap_budget(100);
        recs.iter().for_each(|r| a.push(r));
        let done = a.finish();
        let (s, series) = (done.summary, done.seconds);
        let h = s.itl_ms.clone().unwrap();
        assert_eq!(h.resolution_ms, Some(0.001));
        assert_eq!((h.count, h.min, h.max), (exact.count, exact.min, exact.max));
        for (got, want) in [
            (h.mean, exact.mean),
            (h.p50, exact.p50),
            (h.p90, exact.p90),
            (h.p95, exact.p95),
            (h.p99, exact.p99),
        ] {
            assert!((got - want).abs() <= 0.001, "{got} vs {want}");
        }
        assert!((h.stddev - exact.stddev).abs() / exact.stddev < 1e-6);
        // Everything else is the same as with every value kept.
        let mut all = Accumulator::default();
        recs.iter().for_each(|r| all.push(r));
        let full = all.finish().summary;
        assert_eq!((s.ttft_ms, s.e2e_ms), (full.ttft_ms, full.e2e_ms));
        assert_eq!(s.throughput, full.throughput);
        let end = recs.iter().map(|r| r.done_ns).max().unwrap();
        assert_eq!(series.len() as u64, end / 1_000_000_000 + 1);
    }
}
