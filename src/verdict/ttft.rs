//! The `ttft` verdict: bootstrap intervals of TTFT statistics, and the A/B comparison of the
//! two arms. Data in, data out.

use serde::{Deserialize, Serialize};

use crate::metrics::metric::names;
use crate::metrics::metric::Metric;
use crate::metrics::stats::{bootstrap_ci, Stat};
use crate::record::RequestRecord;

/// 95% bootstrap intervals of one arm's TTFT statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Intervals {
    /// The arm they describe (`all`, or `treatment` in an A/B).
    pub arm: String,
    pub rows: Vec<Interval>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Interval {
    /// `mean`, `p50`, `p95`, `p99`.
    pub stat: String,
    pub low_ms: f64,
    pub high_ms: f64,
}

/// Intervals of the TTFT mean, p50, p95 and p99 over `records` (None for fewer than 2 values).
pub fn intervals<'a>(
    arm: &str,
    records: impl IntoIterator<Item = &'a RequestRecord>,
) -> Option<Intervals> {
    let values = Metric::dist(names::TTFT)?.values_of(records);
    let rows: Vec<Interval> = ["mean", "p50", "p95", "p99"]
        .iter()
        .filter_map(|stat| {
            let (low_ms, high_ms) = bootstrap_ci(&values, Stat::parse(stat)?)?;
            Some(Interval {
                stat: stat.to_string(),
                low_ms,
                high_ms,
            })
        })
        .collect();
    (!rows.is_empty()).then(|| Intervals {
        arm: arm.to_string(),
        rows,
    })
}

/// `p95<=550ms` means `ttft.p95<=550ms` in `ttft`'s targets and stretch goals.
pub fn target_text(t: &str) -> String {
    let t = t.trim();
    let bare = t.starts_with(|c: char| c.is_ascii_alphabetic()) && !t.contains('.');
    let name_end = t.find(['<', '>']).unwrap_or(t.len());
    if bare && Metric::lookup(&t[..name_end]).is_none() {
        format!("{}.{t}", names::TTFT)
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_statistics_mean_ttft() {
        assert_eq!(target_text("p95<=550ms"), "ttft.p95<=550ms");
        assert_eq!(target_text("error_rate<1%"), "error_rate<1%");
        assert_eq!(target_text("itl.p95<20ms"), "itl.p95<20ms");
    }
}
