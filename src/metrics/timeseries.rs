//! Per-second time series and concurrency, computed from the records alone (so that shards merge
//! exactly): requests started, completed and failed, output tokens, and concurrency per second.

use serde::{Deserialize, Serialize};

use crate::record::{RequestRecord, Row};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Second {
    /// Start of the bucket, seconds from t0.
    pub t_s: u64,
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    /// Output tokens of successful requests, placed at their content events (or at the end
    /// of a whole response).
    pub output_tokens: f64,
    /// Mean requests in flight over the second.
    pub concurrency_avg: f64,
    /// Most requests in flight at once during the second.
    pub concurrency_max: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Concurrency {
    pub peak: u64,
    /// Time-weighted mean over the measured window.
    pub avg: f64,
}

const NS: u64 = 1_000_000_000;

/// Requests in flight are those between `sent` and `done` (dropped requests never are).
fn intervals<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Vec<(u64, u64)> {
    rows.into_iter()
        .filter(|r| r.kind != Some(crate::record::FailureKind::Dropped))
        .map(|r| (r.sent_ns, r.done_ns.max(r.sent_ns)))
        .collect()
}

/// The per-second series of records (see [`Accumulator`](super::accumulate::Accumulator)).
pub fn per_second(records: &[RequestRecord]) -> Vec<Second> {
    let mut a = super::accumulate::Accumulator::default();
    records.iter().for_each(|r| a.push(r));
    a.finish().seconds
}

/// Fill in the concurrency of each second from the rows' intervals: the time-weighted mean
/// and the running maximum.
pub fn add_concurrency(out: &mut [Second], rows: &[Row]) {
    let n = out.len();
    if n == 0 {
        return;
    }
    let bucket = |ns: u64| ((ns / NS) as usize).min(n - 1);
    for (a, b) in intervals(rows) {
        let mut t = a;
        while t < b {
            let i = bucket(t);
            let edge = ((i as u64 + 1) * NS).min(b);
            out[i].concurrency_avg += (edge - t) as f64 / NS as f64;
            if edge == t {
                break;
            }
            t = edge;
        }
    }
    let mut events: Vec<(u64, i64)> = intervals(rows)
        .into_iter()
        .flat_map(|(a, b)| [(a, 1), (b, -1)])
        .collect();
    events.sort();
    let mut cur = 0i64;
    let mut last_bucket = 0usize;
    for (t, d) in events {
        let i = bucket(t);
        if i > last_bucket {
            // A bucket entered with requests still in flight has at least that many.
            for s in &mut out[last_bucket + 1..=i] {
                s.concurrency_max = s.concurrency_max.max(cur as u64);
            }
            last_bucket = i;
        }
        cur += d;
        out[i].concurrency_max = out[i].concurrency_max.max(cur.max(0) as u64);
    }
}

/// Peak and time-weighted mean concurrency over [start, end).
pub fn concurrency<'a>(
    rows: impl IntoIterator<Item = &'a Row>,
    start_ns: u64,
    end_ns: u64,
) -> Concurrency {
    let mut events: Vec<(u64, i64)> = intervals(rows)
        .into_iter()
        .flat_map(|(a, b)| [(a, 1), (b, -1)])
        .collect();
    events.sort();
    let (mut cur, mut peak, mut area, mut last) = (0i64, 0i64, 0f64, start_ns);
    for (t, d) in events {
        let tc = t.clamp(start_ns, end_ns);
        area += cur as f64 * (tc - last.min(tc)) as f64;
        last = tc;
        cur += d;
        if t >= start_ns && t < end_ns {
            peak = peak.max(cur);
        }
    }
    let span = end_ns.saturating_sub(start_ns);
    Concurrency {
        peak: peak.max(0) as u64,
        avg: if span > 0 { area / span as f64 } else { 0.0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TokenSource;

    fn rec(sent_s: f64, done_s: f64, tokens: u64) -> RequestRecord {
        let s = (sent_s * 1e9) as u64;
        let d = (done_s * 1e9) as u64;
        RequestRecord {
            sent_ns: s,
            done_ns: d,
            content_ns: vec![d],
            output_tokens: Some(tokens),
            token_source: TokenSource::Usage,
            ..Default::default()
        }
    }

    #[test]
    fn buckets_count_starts_completions_and_tokens() {
        let recs = vec![rec(0.1, 0.9, 10), rec(0.5, 1.5, 20), rec(1.2, 2.4, 30)];
        let ts = per_second(&recs);
        assert_eq!(ts.len(), 3);
        assert_eq!(
            ts.iter().map(|s| s.started).collect::<Vec<_>>(),
            vec![2, 1, 0]
        );
        assert_eq!(
            ts.iter().map(|s| s.completed).collect::<Vec<_>>(),
            vec![1, 1, 1]
        );
        assert_eq!(
            ts.iter().map(|s| s.output_tokens).collect::<Vec<_>>(),
            vec![10.0, 20.0, 30.0]
        );
        // second 0: 0.8 + 0.5 request-seconds; second 1: 0.5 + 0.8; second 2: 0.4
        assert!((ts[0].concurrency_avg - 1.3).abs() < 1e-9);
        assert!((ts[1].concurrency_avg - 1.3).abs() < 1e-9);
        assert!((ts[2].concurrency_avg - 0.4).abs() < 1e-9);
        assert_eq!(
            ts.iter().map(|s| s.concurrency_max).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
    }

    #[test]
    fn concurrency_peak_and_mean() {
        let recs = [rec(0.0, 2.0, 1), rec(1.0, 2.0, 1)];
        let rows: Vec<Row> = recs.iter().map(RequestRecord::row).collect();
        let c = concurrency(&rows, 0, 2_000_000_000);
        assert_eq!(c.peak, 2);
        assert!((c.avg - 1.5).abs() < 1e-9);
    }
}
