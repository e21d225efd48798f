//! `llmbench stress`: the seed's stress test. Open-loop levels at rising rates (start, +step,
//! ... up to max) for `--step-duration` each, until the server breaks; then the maximum
//! sustainable rate, the breaking level, the failure mode, and a safe production target (80% of
//! the maximum).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cli::StressArgs;
use crate::metrics::Summary;
use crate::monitor::Sample;
use crate::record::{FailureKind, RequestRecord};
use crate::report::progress::{Progress, Span};
use crate::report::{BenchResult, Level};
use crate::scheduler::{OpenLoop, Warmup};

use super::session::{conclude, validate_output, Session};

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
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StressReport {
    pub levels: Vec<LevelStats>,
    /// Target rate of the last level under the threshold.
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

fn status(l: &LevelStats, base_p95: Option<f64>, threshold: f64) -> Status {
    let slow = matches!((l.p95_ms, base_p95), (Some(p), Some(b)) if p > 2.0 * b);
    if slow || l.error_rate > threshold {
        Status::Degraded
    } else if l.error_rate > 0.005 {
        Status::Err
    } else {
        Status::Ok
    }
}

fn level_stats(
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
    }
}

pub async fn stress(args: StressArgs) -> anyhow::Result<ExitCode> {
    let result = execute(&args).await?;
    let text = crate::report::console::stress_summary(&result);
    conclude(&result, text, &args.out)
}

pub async fn execute(args: &StressArgs) -> anyhow::Result<BenchResult> {
    for (v, name) in [
        (args.start_rate, "--start-rate"),
        (args.max_rate, "--max-rate"),
    ] {
        if !(v.is_finite() && v > 0.0) {
            bail!("{name} must be > 0");
        }
    }
    if !(args.step.is_finite() && args.step > 0.0) {
        bail!("--step must be > 0");
    }
    if args.step_duration.is_zero() || args.max_concurrency == 0 || args.max_tokens == 0 {
        bail!("--step-duration, --max-concurrency and --max-tokens must be > 0");
    }
    let requirements = validate_output(&args.out)?;
    let quiet = args.out.quiet;
    let stream = !args.no_stream;
    let mut s = Session::open(
        &args.target,
        &args.monitor,
        stream,
        args.max_concurrency,
        quiet,
    )
    .await?
    .with_sink(&args.out, "stress")?;
    let memory_limit_mb = args.memory_limit_mb.unwrap_or_else(|| {
        let mut sys = sysinfo::System::new();
        sys.refresh_memory();
        sys.total_memory() as f64 / 1e6
    });
    let cores = args
        .cpu_limit_cores
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64));
    let limits = Limits {
        failure_threshold: args.failure_threshold,
        memory_limit_mb,
        cpu_limit_pct: cores * 100.0,
    };
    let workload = s.workload(
        &args.request,
        args.max_tokens,
        stream,
        !args.target.no_include_usage,
    )?;
    let levels_planned = ((args.max_rate - args.start_rate) / args.step).floor() as u64 + 1;
    if !quiet {
        eprintln!(
            "llmbench stress: {} → {} req/s by {} every {:.0}s ({levels_planned} levels at most), max concurrency {}, failure threshold {:.1}%",
            args.start_rate, args.max_rate, args.step, args.step_duration.as_secs_f64(),
            args.max_concurrency, args.failure_threshold * 100.0
        );
    }
    let mut config = json!({
        "start_rate": args.start_rate, "step": args.step, "step_duration_s": args.step_duration.as_secs_f64(),
        "max_rate": args.max_rate, "max_concurrency": args.max_concurrency,
        "failure_threshold": args.failure_threshold, "max_duration_s": args.max_duration.as_secs_f64(),
        "max_tokens": args.max_tokens, "arrival": args.arrival, "seed": workload.seed, "stream": stream,
        "memory_limit_mb": memory_limit_mb, "cpu_limit_cores": cores, "prompt": args.request.prompt,
        "prompt_prefix_nonce": workload.nonce,
    });
    s.begin(&config).await?;
    let started = Instant::now();
    let mut records: Vec<RequestRecord> = Vec::new();
    let mut rows: Vec<LevelStats> = Vec::new();
    let mut levels: Vec<Level> = Vec::new();
    let mut broke: Option<(usize, FailureMode)> = None;
    let mut ended_by = "max_rate".to_string();
    let mut succeeded = false;
    for li in 0..levels_planned as usize {
        if s.stop.is_stopping() {
            ended_by = "interrupted".into();
            break;
        }
        if started.elapsed() >= args.max_duration {
            ended_by = "max_duration".into();
            break;
        }
        let rate = args.start_rate + li as f64 * args.step;
        let start_s = s.clock.now_ns() as f64 / 1e9;
        let plan = OpenLoop {
            rate,
            arrival: args.arrival,
            burstiness: 1.0,
            seed: workload.seed.wrapping_add(li as u64),
            max_concurrency: Some(args.max_concurrency),
            duration: args.step_duration,
            warmup: Warmup::Count(0),
            max_requests: None,
            start_s,
            first_id: records.len() as u64,
            level: Some(li as u32),
            shard: None,
        };
        let progress = Progress::start(
            quiet,
            Span::Duration(args.step_duration),
            Some(rate),
            s.live.clone(),
            Some(s.samples()),
        );
        let level_records = s.run_open(&plan, &workload).await;
        progress.finish().await;

        let end_s = s.clock.now_ns() as f64 / 1e9;
        let samples = s
            .samples()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut row = level_stats(li, rate, &level_records, &samples, (start_s, end_s));
        let base_p95 = rows.first().and_then(|r| r.p95_ms).or(row.p95_ms);
        row.status = status(&row, base_p95, args.failure_threshold);
        let mode = classify(&row, &limits, succeeded);
        succeeded |= level_records.iter().any(|r| r.is_ok());
        if !quiet {
            eprintln!(
                "level {li}: {rate:.1} req/s → {} requests, {:.1}% errors, p95 {} ms, {:?}",
                row.requests,
                row.error_rate * 100.0,
                row.p95_ms.map_or("-".into(), |p| format!("{p:.0}")),
                row.status
            );
        }
        levels.push(Level {
            name: format!("level {li}"),
            params: json!({"rate": rate, "duration_s": args.step_duration.as_secs_f64()}),
            summary: Summary::from_records(&level_records),
            target: None,
            error: None,
        });
        rows.push(row);
        records.extend(level_records);
        if let Some(m) = mode {
            broke = Some((li, m));
            ended_by = "break".into();
            break;
        }
    }
    let report = match broke {
        Some((li, mode)) => {
            let max = li.checked_sub(1).map(|i| rows[i].target_rate);
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
            let max = rows.last().map(|r| r.target_rate);
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
    };
    super::session::annotate(&mut config, &workload, &records);
    let mut result = s
        .finish("stress", config, records, &requirements, levels)
        .await;
    result.stress = Some(report);
    Ok(result)
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
        }
    }

    const LIMITS: Limits = Limits {
        failure_threshold: 0.1,
        memory_limit_mb: 10_000.0,
        cpu_limit_pct: 200.0,
    };

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
