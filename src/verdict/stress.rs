//! The stress verdict: each level's figures, its status (OK, ERR, DEGR), the failure mode of
//! the level that broke the server, and the ramp's conclusion. Data in, data out.

use serde::{Deserialize, Serialize};

use crate::metrics::Summary;
use crate::monitor::Sample;
use crate::record::{FailureKind, RequestRecord};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureMode {
    /// Server RSS above 90% of its memory limit.
    Oom,
    /// Timeouts above 5% of requests.
    Timeout,
    /// Errors above the failure threshold.
    HighErrorRate,
    /// Server CPU above 95% of its cores.
    ResourceExhaustion,
    /// The server process is gone, or connections are refused after earlier successes.
    Crash,
    /// The maximum rate was reached unbroken.
    None,
}

impl FailureMode {
    /// The name results and reports use (`high_error_rate`).
    pub fn name(self) -> &'static str {
        match self {
            FailureMode::Oom => "oom",
            FailureMode::Timeout => "timeout",
            FailureMode::HighErrorRate => "high_error_rate",
            FailureMode::ResourceExhaustion => "resource_exhaustion",
            FailureMode::Crash => "crash",
            FailureMode::None => "none",
        }
    }
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Err => "ERR",
            Status::Degraded => "DEGR",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Status {
    #[serde(rename = "OK")]
    Ok,
    /// Errors above 0.5%.
    #[serde(rename = "ERR")]
    Err,
    /// p95 more than twice level 0's, or errors above the threshold.
    #[serde(rename = "DEGR")]
    Degraded,
}

/// What one level showed: the inputs of the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LevelStats {
    pub level: usize,
    pub target_rate: f64,
    pub achieved_rate: Option<f64>,
    pub requests: u64,
    pub error_rate: f64,
    pub timeouts: u64,
    pub connect_failures: u64,
    /// E2E latency measured from the scheduled time.
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub peak_concurrency: u64,
    pub server_cpu_pct: Option<f64>,
    pub server_rss_mb: Option<f64>,
    pub server_exited: bool,
    pub status: Status,
    /// With `--target`: this level met every target (a level that did not is not sustainable,
    /// though the ramp goes on to find where the server breaks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets_met: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StressReport {
    pub levels: Vec<LevelStats>,
    /// Target rate of the last level under the threshold (with `--target`: of the highest
    /// such level that met every target).
    pub max_sustainable_rate: Option<f64>,
    pub breaking_level: Option<usize>,
    pub breaking_rate: Option<f64>,
    pub failure_mode: FailureMode,
    pub error_rate_at_break: Option<f64>,
    /// 80% of the maximum sustainable rate.
    pub safe_target_rate: Option<f64>,
    /// Why the ramp ended when no level broke (max rate, max duration, Ctrl-C).
    pub ended_by: String,
}

/// Limits the verdict compares against.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub failure_threshold: f64,
    pub memory_limit_mb: f64,
    pub cpu_limit_pct: f64,
}

/// The seed's classification of a level: `Some(mode)` when the server broke there.
/// `succeeded_before`: some earlier request succeeded (a refused connection is then a crash).
pub fn classify(l: &LevelStats, limits: &Limits, succeeded_before: bool) -> Option<FailureMode> {
    let n = l.requests.max(1) as f64;
    let crashed = l.server_exited || (succeeded_before && l.connect_failures > 0);
    let oom = l
        .server_rss_mb
        .is_some_and(|r| r > 0.9 * limits.memory_limit_mb);
    let timeouts = l.timeouts as f64 / n > 0.05;
    let cpu = l
        .server_cpu_pct
        .is_some_and(|c| c > 0.95 * limits.cpu_limit_pct);
    let errors = l.error_rate > limits.failure_threshold;
    if crashed {
        Some(FailureMode::Crash)
    } else if oom {
        Some(FailureMode::Oom)
    } else if timeouts {
        Some(FailureMode::Timeout)
    } else if errors && cpu {
        Some(FailureMode::ResourceExhaustion)
    } else if errors {
        Some(FailureMode::HighErrorRate)
    } else {
        None
    }
}

pub fn status(l: &LevelStats, base_p95: Option<f64>, threshold: f64) -> Status {
    let slow = matches!((l.p95_ms, base_p95), (Some(p), Some(b)) if p > 2.0 * b);
    if slow || l.error_rate > threshold {
        Status::Degraded
    } else if l.error_rate > 0.005 {
        Status::Err
    } else {
        Status::Ok
    }
}

pub fn level_stats(
    index: usize,
    rate: f64,
    records: &[RequestRecord],
    samples: &[Sample],
    window: (f64, f64),
) -> LevelStats {
    let s = Summary::from_records(records);
    let kind_count = |k: FailureKind| {
        records
            .iter()
            .filter(|r| r.error.as_ref().is_some_and(|e| e.kind == k))
            .count() as u64
    };
    // A gateway or queue timeout is a timeout too.
    let http_timeouts = records
        .iter()
        .filter(|r| {
            r.error
                .as_ref()
                .is_some_and(|e| matches!(e.http_status, Some(408 | 504)))
        })
        .count() as u64;
    let in_window: Vec<&Sample> = samples
        .iter()
        .filter(|x| x.t_s >= window.0 && x.t_s <= window.1 + 1.0)
        .collect();
    let cpu: Vec<f64> = in_window.iter().filter_map(|x| x.server_cpu_pct).collect();
    LevelStats {
        level: index,
        target_rate: rate,
        achieved_rate: s.throughput.sent_req_s,
        requests: s.requests.total,
        error_rate: s.error_rate,
        timeouts: kind_count(FailureKind::Timeout) + http_timeouts,
        connect_failures: kind_count(FailureKind::Connect),
        p95_ms: s.e2e_from_scheduled_ms.as_ref().map(|d| d.p95),
        p99_ms: s.e2e_from_scheduled_ms.as_ref().map(|d| d.p99),
        peak_concurrency: s.concurrency.peak,
        server_cpu_pct: (!cpu.is_empty()).then(|| cpu.iter().sum::<f64>() / cpu.len() as f64),
        server_rss_mb: in_window
            .iter()
            .filter_map(|x| x.server_rss_mb)
            .reduce(f64::max),
        server_exited: in_window.iter().any(|x| x.server_alive == Some(false)),
        status: Status::Ok,
        targets_met: None,
    }
}

/// The ramp's conclusion from its levels: `broke` is the level that broke and how.
pub fn conclude(
    rows: Vec<LevelStats>,
    broke: Option<(usize, FailureMode)>,
    ended_by: String,
) -> StressReport {
    // With targets, the highest level before the break that met every one.
    let judged = rows.iter().any(|r| r.targets_met.is_some());
    let before = broke.map_or(rows.len(), |(li, _)| li);
    let met = rows[..before]
        .iter()
        .rev()
        .find(|r| r.targets_met == Some(true))
        .map(|r| r.target_rate);
    let sustainable = |untargeted: Option<f64>| if judged { met } else { untargeted };
    match broke {
        Some((li, mode)) => {
            let max = sustainable(li.checked_sub(1).map(|i| rows[i].target_rate));
            StressReport {
                max_sustainable_rate: max,
                breaking_level: Some(li),
                breaking_rate: Some(rows[li].target_rate),
                failure_mode: mode,
                error_rate_at_break: Some(rows[li].error_rate),
                safe_target_rate: max.map(|m| m * 0.8),
                ended_by,
                levels: rows,
            }
        }
        None => {
            let max = sustainable(rows.last().map(|r| r.target_rate));
            StressReport {
                max_sustainable_rate: max,
                breaking_level: None,
                breaking_rate: None,
                failure_mode: FailureMode::None,
                error_rate_at_break: None,
                safe_target_rate: max.map(|m| m * 0.8),
                ended_by,
                levels: rows,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level() -> LevelStats {
        LevelStats {
            level: 1,
            target_rate: 70.0,
            achieved_rate: Some(70.0),
            requests: 1000,
            error_rate: 0.0,
            timeouts: 0,
            connect_failures: 0,
            p95_ms: Some(100.0),
            p99_ms: Some(120.0),
            peak_concurrency: 10,
            server_cpu_pct: Some(50.0),
            server_rss_mb: Some(1000.0),
            server_exited: false,
            status: Status::Ok,
            targets_met: None,
        }
    }

    const LIMITS: Limits = Limits {
        failure_threshold: 0.1,
        memory_limit_mb: 10_000.0,
        cpu_limit_pct: 200.0,
    };

    #[test]
    fn with_targets_the_sustainable_rate_is_the_highest_level_that_met_them() {
        let at = |rate: f64, met: Option<bool>| LevelStats {
            target_rate: rate,
            targets_met: met,
            ..level()
        };
        // No targets: the last level before the break.
        let rows = vec![at(10.0, None), at(20.0, None), at(30.0, None)];
        let r = conclude(rows, Some((2, FailureMode::HighErrorRate)), "break".into());
        assert_eq!(r.max_sustainable_rate, Some(20.0));
        // Targets: the highest level before the break that met them.
        let rows = vec![
            at(10.0, Some(true)),
            at(20.0, Some(false)),
            at(30.0, Some(false)),
        ];
        let r = conclude(rows, Some((2, FailureMode::HighErrorRate)), "break".into());
        assert_eq!(
            (r.max_sustainable_rate, r.safe_target_rate),
            (Some(10.0), Some(8.0))
        );
        let rows = vec![
            at(10.0, Some(true)),
            at(20.0, Some(false)),
            at(30.0, Some(true)),
        ];
        let r = conclude(rows, None, "max_rate".into());
        assert_eq!(r.max_sustainable_rate, Some(30.0));
        let rows = vec![at(10.0, Some(false)), at(20.0, Some(false))];
        let r = conclude(rows, None, "max_rate".into());
        assert_eq!((r.max_sustainable_rate, r.safe_target_rate), (None, None));
    }

    #[test]
    fn each_mode_is_classified_as_the_seed_does() {
        assert_eq!(classify(&level(), &LIMITS, true), None);
        let mut l = level();
        l.server_rss_mb = Some(9_500.0);
        assert_eq!(classify(&l, &LIMITS, true), Some(FailureMode::Oom));
        let mut l = level();
        l.timeouts = 60;
        l.error_rate = 0.06;
        assert_eq!(classify(&l, &LIMITS, true), Some(FailureMode::Timeout));
        let mut l = level();
        l.error_rate = 0.2;
        assert_eq!(
            classify(&l, &LIMITS, true),
            Some(FailureMode::HighErrorRate)
        );
        l.server_cpu_pct = Some(198.0);
        assert_eq!(
            classify(&l, &LIMITS, true),
            Some(FailureMode::ResourceExhaustion)
        );
        let mut l = level();
        l.connect_failures = 3;
        assert_eq!(classify(&l, &LIMITS, true), Some(FailureMode::Crash));
        assert_eq!(
            classify(&l, &LIMITS, false),
            None,
            "refused from the start is not a crash"
        );
        let mut l = level();
        l.server_exited = true;
        assert_eq!(classify(&l, &LIMITS, true), Some(FailureMode::Crash));
    }

    #[test]
    fn status_follows_the_seed() {
        let mut l = level();
        assert_eq!(status(&l, Some(100.0), 0.1), Status::Ok);
        l.error_rate = 0.01;
        assert_eq!(status(&l, Some(100.0), 0.1), Status::Err);
        l.p95_ms = Some(250.0);
        assert_eq!(status(&l, Some(100.0), 0.1), Status::Degraded);
    }
}
