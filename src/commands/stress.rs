//! `llmbench stress`: the seed's stress test. Open-loop levels at rising rates (start, +step,
//! ... up to max) for `--step-duration` each, until the server breaks; then the maximum
//! sustainable rate, the breaking level, the failure mode, and a safe production target (80% of
//! the maximum).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;
use serde_json::json;

use crate::cli::StressArgs;
use crate::metrics::Summary;
use crate::record::RequestRecord;
use crate::report::progress::{Progress, Span};
use crate::result::{BenchResult, Level, LevelParams};
use crate::scheduler::{OpenLoop, Warmup};
use crate::verdict::{
    self,
    stress::{classify, level_stats, status, FailureMode, LevelStats, Limits},
};

use super::session::{conclude, validate_output, Session};

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
    if args.max_rate < args.start_rate {
        bail!(
            "--max-rate {} is below --start-rate {}: the ramp would have no level",
            args.max_rate,
            args.start_rate
        );
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
    // Local inputs (dataset file, tokenizer) are loaded before any connection.
    let prepared = super::session::prepare(&args.request, &args.target, args.max_tokens, stream)?;
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
    let workload = s.bind(prepared, &args.request)?;
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
            params: LevelParams {
                rate: Some(rate),
                duration_s: Some(args.step_duration.as_secs_f64()),
                ..Default::default()
            },
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
    let report = verdict::stress::conclude(rows, broke, ended_by);
    super::session::annotate(&mut config, &workload, &records);
    let mut result = s
        .finish("stress", config, records, &requirements, levels)
        .await;
    result.stress = Some(report);
    Ok(result)
}
