//! `llmbench sweep`: closed-loop runs at each `--concurrency` level; per level the per-request
//! and aggregate tok/s, TTFT and E2E, and the speedup of aggregate throughput over the first
//! level: what continuous batching buys (the seed's single vs batched comparison).

use std::process::ExitCode;

use crate::cli::SweepArgs;
use crate::plan::{Plan, SweepPlan};
use crate::report::console;
use crate::report::progress::{Progress, Span};
use crate::result::{BenchResult, Level, LevelParams};
use crate::scheduler::ClosedLoop;
use crate::session::Session;

use super::conclude;

pub async fn sweep(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let plan = SweepPlan::from_args(&args)?;
    let result = execute_plan(&plan).await?;
    conclude(&result, console::sweep_table(&result), &plan.common.output)
}

/// Run the sweep and return its result (used by tests).
pub async fn execute(args: &SweepArgs) -> anyhow::Result<BenchResult> {
    execute_plan(&SweepPlan::from_args(args)?).await
}

async fn execute_plan(plan: &Plan<SweepPlan>) -> anyhow::Result<BenchResult> {
    let (p, req) = (&plan.kind, &plan.requests);
    let quiet = plan.common.output.quiet;
    let mut s = Session::open(&plan.common).await?;
    let workload = s.bind(&req.workload, req.count_with_tokenizer);
    let total = p.total_requests();
    if !quiet {
        eprintln!(
            "llmbench sweep: concurrency {:?}, max_tokens {}, {total} requests in all",
            p.concurrency, req.max_tokens
        );
    }
    s.begin(plan.config()).await?;
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
    for (li, &c) in p.concurrency.iter().enumerate() {
        if s.stop.is_stopping() {
            break;
        }
        let (runs, warm) = (p.runs_for(c), p.warmup_for(c));
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
    Ok(s.finish(&workload, records, levels).await)
}
