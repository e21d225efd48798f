//! `llmbench sweep`: closed-loop runs at each `--concurrency` level; per level the per-request
//! and aggregate tok/s, TTFT and E2E, and the speedup of aggregate throughput over the first
//! level: what continuous batching buys (the seed's single vs batched comparison).

use std::process::ExitCode;

use anyhow::bail;
use serde_json::json;

use crate::cli::SweepArgs;
use crate::report::console;
use crate::report::progress::{Progress, Span};
use crate::result::{BenchResult, Level, LevelParams};
use crate::scheduler::ClosedLoop;

use super::session::{conclude, validate_output, Session};

pub async fn sweep(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let result = execute(&args).await?;
    conclude(&result, console::sweep_table(&result), &args.out)
}

fn runs_for(args: &SweepArgs, c: usize) -> u64 {
    args.runs.unwrap_or((4 * c as u64).max(8))
}

pub async fn execute(args: &SweepArgs) -> anyhow::Result<BenchResult> {
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        bail!("--concurrency takes levels >= 1, comma separated (e.g. 1,2,4,8)");
    }
    if args.runs == Some(0) || args.max_tokens == 0 {
        bail!("--runs and --max-tokens must be at least 1");
    }
    let requirements = validate_output(&args.out)?;
    let quiet = args.out.quiet;
    let stream = !args.no_stream;
    let top = *args.concurrency.iter().max().unwrap_or(&1);
    // Local inputs (dataset file, tokenizer) are loaded before any connection.
    let prepared = super::session::prepare(&args.request, &args.target, args.max_tokens, stream)?;
    let mut s = Session::open(&args.target, &args.monitor, stream, top, quiet)
        .await?
        .with_sink(&args.out, "sweep")?;
    let workload = s.bind(prepared, &args.request)?;
    let total: u64 = args
        .concurrency
        .iter()
        .map(|&c| runs_for(args, c) + args.warmup.unwrap_or(c as u64))
        .sum();
    if !quiet {
        eprintln!(
            "llmbench sweep: concurrency {:?}, max_tokens {}, {total} requests in all",
            args.concurrency, args.max_tokens
        );
    }
    let mut config = json!({
        "concurrency": args.concurrency,
        "runs": args.runs,
        "warmup": args.warmup,
        "max_tokens": args.max_tokens,
        "stream": stream,
        "prompt": args.request.prompt,
        "temperature": args.request.temperature,
        "ignore_eos": args.request.ignore_eos,
        "warm_cache": args.request.warm_cache,
        "prompt_prefix_nonce": workload.nonce,
        "api": args.target.api,
    });
    s.begin(&config).await?;
    let progress = Progress::start(
        quiet,
        Span::Requests(total),
        None,
        s.live.clone(),
        Some(s.samples()),
    );
    let mut records = Vec::new();
    let mut levels = Vec::new();
    let mut next_id = 0u64;
    for (li, &c) in args.concurrency.iter().enumerate() {
        if s.stop.is_stopping() {
            break;
        }
        let runs = runs_for(args, c);
        let warm = args.warmup.unwrap_or(c as u64);
        let mut level_records = Vec::new();
        for (count, warmup) in [(warm, true), (runs, false)] {
            if count == 0 {
                continue;
            }
            let phase = ClosedLoop {
                first_id: next_id,
                count,
                concurrency: c,
                warmup,
                level: Some(li as u32),
                shard: s.shard,
            };
            next_id += count;
            let recs = s.run_closed(phase, &workload).await;
            level_records.extend(recs);
        }

        let params = LevelParams {
            concurrency: Some(c),
            runs: Some(runs),
            warmup: Some(warm),
            ..Default::default()
        };
        levels.push(Level::of(
            li as u32,
            format!("concurrency {c}"),
            params,
            &level_records,
        ));
        records.extend(level_records);
    }
    progress.finish().await;
    super::session::annotate(&mut config, &workload, &records);
    Ok(s.finish("sweep", config, records, &requirements, levels)
        .await)
}
