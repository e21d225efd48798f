//! `llmbench throughput`: the seed's sustained-load benchmark. Open-loop arrivals at `--rate`
//! for `--duration` after `--warmup`, optionally capped by `--max-concurrency`; live progress;
//! achieved vs target rate, tokens/s, concurrency, latency from sent and from scheduled, errors,
//! client and server resources; `--target` checks.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use serde_json::json;

use crate::cli::ThroughputArgs;
use crate::report::progress::{Progress, Span};
use crate::report::{console, BenchResult};
use crate::scheduler::{OpenLoop, Warmup};

use super::session::{conclude, validate_output, Session};

pub async fn throughput(args: ThroughputArgs) -> anyhow::Result<ExitCode> {
    let result = execute(&args).await?;
    conclude(
        &result,
        console::throughput_summary(&result, args.rate),
        &args.out,
    )
}

pub fn plan(args: &ThroughputArgs) -> anyhow::Result<OpenLoop> {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate must be a number of requests per second > 0 (e.g. --rate 20)");
    }
    if args.duration.is_zero() {
        bail!("--duration must be longer than 0 (e.g. --duration 60s)");
    }
    if args.max_concurrency == Some(0) {
        bail!("--max-concurrency must be at least 1");
    }
    if !(args.burstiness.is_finite() && args.burstiness > 0.0) {
        bail!("--burstiness must be > 0");
    }
    if args.max_tokens == 0 {
        bail!("--max-tokens must be at least 1");
    }
    let warmup = Warmup::parse(&args.warmup).map_err(|e| anyhow::anyhow!("--warmup {e}"))?;
    Ok(OpenLoop {
        rate: args.rate,
        arrival: args.arrival,
        burstiness: args.burstiness,
        seed: 0, // set from the workload's seed
        max_concurrency: args.max_concurrency,
        duration: args.duration,
        warmup,
        max_requests: args.max_requests,
        start_s: 0.0,
        first_id: 0,
        level: None,
        shard: None,
    })
}

pub async fn execute(args: &ThroughputArgs) -> anyhow::Result<BenchResult> {
    let mut plan = plan(args)?;
    let requirements = validate_output(&args.out)?;
    let quiet = args.out.quiet;
    let stream = !args.no_stream;
    let pool = args
        .max_concurrency
        .unwrap_or_else(|| (args.rate * 4.0).clamp(16.0, 4096.0) as usize);
    // Local inputs (dataset file, tokenizer) are loaded before any connection.
    let prepared = super::session::prepare(&args.request, &args.target, args.max_tokens, stream)?;
    let mut s = Session::open(&args.target, &args.monitor, stream, pool, quiet)
        .await?
        .with_sink(&args.out, "throughput")?;
    let warm_s = match plan.warmup {
        Warmup::Duration(d) => d.as_secs_f64(),
        Warmup::Count(n) => n as f64 / args.rate,
    };
    if !quiet {
        eprintln!(
            "llmbench throughput: {} req/s ({:?} arrivals) for {:.0}s after {} warmup, max concurrency {}, max_tokens {}",
            args.rate,
            args.arrival,
            args.duration.as_secs_f64(),
            args.warmup,
            args.max_concurrency.map_or("unlimited".to_string(), |c| c.to_string()),
            args.max_tokens
        );
    }
    let workload = s.bind(prepared, &args.request)?;
    plan.seed = workload.seed;
    let mut config = json!({
        "rate": args.rate,
        "arrival": args.arrival,
        "burstiness": args.burstiness,
        "seed": workload.seed,
        "duration_s": args.duration.as_secs_f64(),
        "warmup": plan.warmup,
        "max_concurrency": args.max_concurrency,
        "max_requests": args.max_requests,
        "max_tokens": args.max_tokens,
        "stream": stream,
        "prompt": args.request.prompt,
        "temperature": args.request.temperature,
        "ignore_eos": args.request.ignore_eos,
        "warm_cache": args.request.warm_cache,
        "prompt_prefix_nonce": workload.nonce,
        "timeout_s": args.target.timeout.as_secs_f64(),
        "api": args.target.api,
    });
    plan.shard = s.shard;
    s.begin(&config).await?;
    let progress = Progress::start(
        quiet,
        Span::Duration(Duration::from_secs_f64(warm_s) + args.duration),
        Some(args.rate),
        s.live.clone(),
        Some(s.samples()),
    );
    let records = s.run_open(&plan, &workload).await;
    progress.finish().await;
    super::session::annotate(&mut config, &workload, &records);
    Ok(
        s.finish("throughput", config, records, &requirements, Vec::new())
            .await,
    )
}
