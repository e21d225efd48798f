//! `llmbench sweep`: closed-loop runs at each `--concurrency` level; per level the per-request
//! and aggregate tok/s, TTFT and E2E, and the speedup of aggregate throughput over the first
//! level: what continuous batching buys (the seed's single vs batched comparison). With
//! `--compare-url` or `--baseline-cmd/--treatment-cmd` each level runs on both arms, and the
//! arms are compared level by level (the seed's off-vs-on table).

use std::process::ExitCode;

use crate::arms::{order, Arms, Slot};
use crate::cli::SweepArgs;
use crate::client::Client;
use crate::plan::{Plan, SweepPlan};
use crate::record::RequestRecord;
use crate::report::console;
use crate::report::progress::{Progress, Span};
use crate::result::{BenchResult, Level, LevelParams};
use crate::scheduler::ClosedLoop;
use crate::session::Session;
use crate::workload::Workload;

use super::{conclude, level_failed};

pub async fn sweep(args: SweepArgs) -> anyhow::Result<ExitCode> {
    let plan = SweepPlan::from_args(&args)?;
    let result = execute_plan(&plan).await?;
    let text = if plan.kind.ab.on() {
        console::ab_table(&result)
    } else {
        console::sweep_table(&result)
    };
    let code = conclude(&result, text, &plan.common.output)?;
    Ok(level_failed(&result).unwrap_or(code))
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
            "llmbench sweep: concurrency {:?}, max_tokens {}, {total} requests in all{}",
            p.concurrency,
            req.max_tokens,
            if p.ab.on() { " (both arms)" } else { "" }
        );
    }
    let mut arms = Arms::open(
        &p.ab,
        &plan.common,
        &s.target,
        &workload,
        req.count_with_tokenizer,
    )
    .await?;
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
    'levels: for (li, &c) in p.concurrency.iter().enumerate() {
        // Each arm's level, by arm (pushed in index order below).
        let mut at_level: [Option<Level>; 2] = [None, None];
        for k in order(&arms, li) {
            if s.stop.is_stopping() {
                break 'levels;
            }
            let (runs, warm) = (p.runs_for(c), p.warmup_for(c));
            let params = LevelParams {
                concurrency: Some(c),
                runs: Some(runs),
                warmup: Some(warm),
                ..Default::default()
            };
            let base = (&s.target.client, &workload);
            let slot = Slot::enter(&mut arms, (li, k), format!("concurrency {c}"), params, base);
            let (client, w) = match slot.serve {
                Ok(x) => x,
                Err(e) => {
                    at_level[k] = Some(Level::not_run(slot.name, slot.params, e));
                    levels.extend(at_level.into_iter().flatten());
                    break 'levels;
                }
            };
            let phase = Phase {
                concurrency: c,
                runs,
                warm,
                index: slot.index,
            };
            let mine = phase.run(&s, client, w, &mut next_id).await;
            at_level[k] = Some(Level::of(slot.index, slot.name, slot.params, &mine));
            records.extend(mine);
        }
        levels.extend(at_level.into_iter().flatten());
    }
    progress.finish().await;
    if let Some(a) = arms {
        a.shutdown().await;
    }
    let mut result = s.finish(&workload, records, levels).await;
    if plan.kind.ab.on() {
        result.comparison = Some(crate::verdict::compare::compare_arms(&result));
    }
    Ok(result)
}

/// One level's warmup and measured requests on one arm.
struct Phase {
    concurrency: usize,
    runs: u64,
    warm: u64,
    index: u32,
}

impl Phase {
    async fn run(
        &self,
        s: &Session,
        client: &Client,
        w: &Workload,
        next_id: &mut u64,
    ) -> Vec<RequestRecord> {
        let mut mine = Vec::new();
        for (count, warmup) in [(self.warm, true), (self.runs, false)] {
            if count == 0 {
                continue;
            }
            let phase = ClosedLoop {
                first_id: *next_id,
                count,
                concurrency: self.concurrency,
                warmup,
                level: Some(self.index),
                shard: s.shard,
            };
            *next_id += count;
            mine.extend(s.run_closed_on(client, phase, w).await);
        }
        mine
    }
}
