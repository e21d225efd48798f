//! `llmbench throughput`: the seed's sustained-load benchmark. Open-loop arrivals at `--rate`
//! for `--duration` after `--warmup`, optionally capped by `--max-concurrency`; live progress;
//! achieved vs target rate, tokens/s, concurrency, latency from sent and from scheduled, errors,
//! client and server resources; `--target` checks.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::ThroughputArgs;
use crate::plan::{Plan, ThroughputPlan};
use crate::report::progress::{Progress, Span};
use crate::report::{console, BenchResult};
use crate::session::Session;

use super::conclude;

pub async fn throughput(args: ThroughputArgs) -> anyhow::Result<ExitCode> {
    let plan = ThroughputPlan::from_args(&args)?;
    let result = execute_plan(&plan).await?;
    let text = console::throughput_summary(&result, plan.kind.rate);
    conclude(&result, text, &plan.common.output)
}

/// Run the benchmark and return its result (used by tests).
pub async fn execute(args: &ThroughputArgs) -> anyhow::Result<BenchResult> {
    execute_plan(&ThroughputPlan::from_args(args)?).await
}

async fn execute_plan(plan: &Plan<ThroughputPlan>) -> anyhow::Result<BenchResult> {
    let (p, req) = (&plan.kind, &plan.requests);
    let quiet = plan.common.output.quiet;
    let mut s = Session::open(&plan.common).await?;
    if !quiet {
        eprintln!(
            "llmbench throughput: {} req/s ({:?} arrivals) for {:.0}s after {:.0}s warmup, max concurrency {}, max_tokens {}",
            p.rate,
            p.arrival,
            p.duration_s,
            p.warmup_s(),
            p.max_concurrency.map_or("unlimited".to_string(), |c| c.to_string()),
            req.max_tokens
        );
    }
    let workload = s.bind(&req.workload, req.count_with_tokenizer);
    s.keep_records(p.keep_records);
    s.begin(plan.config()).await?;
    let progress = Progress::start(
        quiet,
        Span::Duration(Duration::from_secs_f64(p.warmup_s() + p.duration_s)),
        Some(p.rate),
        s.live.clone(),
        Some(s.samples()),
    );
    let records = s.run_open(&p.open_loop, &workload).await;
    progress.finish().await;
    Ok(s.finish(&workload, records, Vec::new()).await)
}
