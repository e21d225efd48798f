//! `llmbench stress`: the seed's stress test. Open-loop levels at rising rates (start, +step,
//! ... up to max) for `--step-duration` each, until the server breaks; then the maximum
//! sustainable rate, the breaking level, the failure mode, and a safe production target (80% of
//! the maximum).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::cli::StressArgs;
use crate::metrics::targets::TargetOutcome;
use crate::metrics::Summary;
use crate::plan::{Plan, StressPlan};
use crate::record::RequestRecord;
use crate::report::progress::{Progress, Span};
use crate::result::{BenchResult, Level, LevelParams};
use crate::scheduler::{OpenLoop, Warmup};
use crate::session::Session;
use crate::verdict::{
    self,
    stress::{classify, level_stats, status, FailureMode, LevelStats, Limits, StressReport},
};

use super::conclude;

pub async fn stress(args: StressArgs) -> anyhow::Result<ExitCode> {
    let plan = StressPlan::from_args(&args)?;
    let result = execute_plan(&plan).await?;
    let text = crate::report::console::stress_summary(&result);
    conclude(&result, text, &plan.common.output)
}

/// Run the ramp and return its result (used by tests).
pub async fn execute(args: &StressArgs) -> anyhow::Result<BenchResult> {
    execute_plan(&StressPlan::from_args(args)?).await
}

async fn execute_plan(plan: &Plan<StressPlan>) -> anyhow::Result<BenchResult> {
    let (p, req) = (&plan.kind, &plan.requests);
    let quiet = plan.common.output.quiet;
    let mut s = Session::open(&plan.common).await?;
    let limits = Limits {
        failure_threshold: p.failure_threshold,
        memory_limit_mb: p.memory_limit_mb,
        cpu_limit_pct: p.cpu_limit_cores * 100.0,
    };
    let workload = s.bind(&req.workload, req.count_with_tokenizer);
    let max_duration = Duration::from_secs_f64(p.max_duration_s);
    if !quiet {
        eprintln!(
            "llmbench stress: {} → {} req/s by {} every {:.0}s ({} levels at most), max concurrency {}, failure threshold {:.1}%",
            p.start_rate, p.max_rate, p.step, p.step_duration_s, p.levels(),
            p.max_concurrency, p.failure_threshold * 100.0
        );
    }
    s.begin(plan.config()).await?;
    let started = Instant::now();
    let mut records: Vec<RequestRecord> = Vec::new();
    let mut rows: Vec<LevelStats> = Vec::new();
    let mut levels: Vec<Level> = Vec::new();
    let mut broke: Option<(usize, FailureMode)> = None;
    let requirements = &plan.common.output.requirements;
    let mut judged: Vec<Vec<TargetOutcome>> = Vec::new();
    let mut ended_by = "max_rate".to_string();
    let mut succeeded = false;
    for li in 0..p.levels() {
        if s.stop.is_stopping() {
            ended_by = "interrupted".into();
            break;
        }
        if started.elapsed() >= max_duration {
            ended_by = "max_duration".into();
            break;
        }
        let rate = p.rate_of(li);
        let (level_records, window) =
            run_level(&s, p, &workload, li, records.len() as u64, quiet).await;
        let samples = s
            .samples()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut row = level_stats(li, rate, &level_records, &samples, window);
        let level_summary =
            Summary::from_records_with(&level_records, &plan.common.output.extras());
        let outcomes = judge_level(requirements, &level_summary, &samples, window);
        if !outcomes.is_empty() {
            row.targets_met = Some(outcomes.iter().all(|o| o.passed));
        }
        judged.push(outcomes);
        let base_p95 = rows.first().and_then(|r| r.p95_ms).or(row.p95_ms);
        row.status = status(&row, base_p95, p.failure_threshold);
        let mode = classify(&row, &limits, succeeded);
        succeeded |= level_records.iter().any(|r| r.is_ok());
        if !quiet {
            eprintln!("{}", level_line(&row));
        }
        levels.push(Level {
            name: format!("level {li}"),
            params: LevelParams {
                rate: Some(rate),
                duration_s: Some(p.step_duration_s),
                ..Default::default()
            },
            summary: level_summary,
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
    let report = verdict::stress::conclude(rows, broke, ended_by);
    let mut result = s.finish(&workload, records, levels).await;
    if !requirements.is_empty() {
        result.targets = level_targets(&report, judged);
    }
    result.stress = Some(report);
    Ok(result)
}

fn level_line(row: &LevelStats) -> String {
    format!(
        "level {}: {:.1} req/s → {} requests, {:.1}% errors, p95 {} ms, {:?}{}",
        row.level,
        row.target_rate,
        row.requests,
        row.error_rate * 100.0,
        row.p95_ms.map_or("-".into(), |p| format!("{p:.0}")),
        row.status,
        match row.targets_met {
            Some(true) => ", targets met",
            Some(false) => ", targets MISSED",
            None => "",
        }
    )
}

/// `--target`, judged on one level (and its own window of the monitor's samples).
fn judge_level(
    requirements: &[crate::metrics::targets::Target],
    summary: &Summary,
    samples: &[crate::monitor::Sample],
    window: (f64, f64),
) -> Vec<TargetOutcome> {
    let during = crate::monitor::MonitorReport::of(samples, window.0, window.1, true);
    requirements
        .iter()
        .map(|t| t.evaluate(summary, Some(&during)))
        .collect()
}

/// The targets as judged at the maximum sustainable level (or, when no level met them all, at
/// the first level), each naming its level.
fn level_targets(report: &StressReport, judged: Vec<Vec<TargetOutcome>>) -> Vec<TargetOutcome> {
    let at = report
        .max_sustainable_rate
        .and_then(|m| report.levels.iter().position(|l| l.target_rate == m))
        .unwrap_or(0);
    let rate = report.levels.get(at).map_or(0.0, |l| l.target_rate);
    judged
        .into_iter()
        .nth(at)
        .unwrap_or_default()
        .into_iter()
        .map(|mut o| {
            o.target = format!("{} (level {at}, {rate} req/s)", o.target);
            o
        })
        .collect()
}

/// Level `li` of the ramp: open-loop arrivals at its rate for one step; its records and its
/// window (seconds from t0).
async fn run_level(
    s: &Session,
    p: &StressPlan,
    workload: &crate::workload::Workload,
    li: usize,
    first_id: u64,
    quiet: bool,
) -> (Vec<RequestRecord>, (f64, f64)) {
    let rate = p.rate_of(li);
    let step = Duration::from_secs_f64(p.step_duration_s);
    let start_s = s.clock.now_ns() as f64 / 1e9;
    let plan = OpenLoop {
        rate,
        arrival: p.arrival,
        burstiness: 1.0,
        seed: workload.seed.wrapping_add(li as u64),
        max_concurrency: Some(p.max_concurrency),
        duration: step,
        warmup: Warmup::Count(0),
        max_requests: None,
        start_s,
        first_id,
        level: Some(li as u32),
        shard: None,
        drain: None,
        offsets: None,
    };
    let progress = Progress::start(
        quiet,
        Span::Duration(step),
        Some(rate),
        s.live.clone(),
        Some(s.samples()),
    );
    let records = s.run_open(&plan, workload).await;
    progress.finish().await;
    (records, (start_s, s.clock.now_ns() as f64 / 1e9))
}
