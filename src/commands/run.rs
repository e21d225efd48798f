//! `llmbench run`: the seed's fixed benchmark. Warmup requests, then `--runs` measured requests
//! at `--concurrency` (closed loop), over the built-in prompts; the seed's summary and, when
//! streaming, the latency table.

use std::process::ExitCode;
use std::time::Instant;

use crate::cli::RunArgs;
use crate::plan::RunPlan;
use crate::report::{console, BenchResult};
use crate::scheduler::ClosedLoop;
use crate::session::Session;
use crate::units::Named;

use super::conclude;

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let plan = RunPlan::from_args(&args)?;
    let result = execute_plan(&plan).await?;
    conclude(&result, console::run_summary(&result), &plan.common.output)
}

/// Run the benchmark and return its result (used by tests).
pub async fn execute(args: &RunArgs) -> anyhow::Result<BenchResult> {
    execute_plan(&RunPlan::from_args(args)?).await
}

async fn execute_plan(plan: &crate::plan::Plan<RunPlan>) -> anyhow::Result<BenchResult> {
    let (p, req) = (&plan.kind, &plan.requests);
    let quiet = plan.common.output.quiet;
    let mut s = Session::open(&plan.common).await?;
    if !quiet {
        eprintln!(
            "llmbench run: {} requests (+{} warmup), concurrency {}, max_tokens {}, {}, {}",
            p.runs,
            p.warmup,
            p.concurrency,
            req.max_tokens,
            match req.workload.name() {
                "builtin" => format!("{} prompts", req.prompt.name()),
                name => format!("dataset {name}"),
            },
            if req.stream {
                "streaming"
            } else {
                "not streaming"
            },
        );
    }
    let workload = s.bind(&req.workload, req.count_with_tokenizer);
    s.begin(plan.config()).await?;
    let mut records = Vec::new();
    if p.warmup > 0 {
        let phase = ClosedLoop {
            first_id: 0,
            count: p.warmup,
            concurrency: p.concurrency,
            warmup: true,
            level: None,
            shard: s.shard,
        };
        let recs = s.run_closed(phase, &workload).await;
        if !quiet {
            let failed = recs.iter().filter(|r| !r.is_ok()).count();
            eprintln!("warmup: {} requests, {failed} failed", recs.len());
        }
        records.extend(recs);
    }
    let phase = ClosedLoop {
        first_id: p.warmup,
        count: p.runs,
        concurrency: p.concurrency,
        warmup: false,
        level: None,
        shard: s.shard,
    };
    let mut done = 0u64;
    let mut last_print = Instant::now();
    let total = p.runs;
    let observe = |r: &crate::record::RequestRecord| {
        done += 1;
        if quiet || (total > 20 && done < total && last_print.elapsed().as_secs_f64() < 2.0) {
            return;
        }
        last_print = Instant::now();
        match &r.error {
            None => eprintln!(
                "[{done}/{total}] {} tokens in {:.2}s ({:.1} tok/s){}",
                r.output_tokens.unwrap_or(0),
                r.e2e_ms() / 1e3,
                r.output_tok_s().unwrap_or(0.0),
                r.ttft_ms()
                    .map(|t| format!(", TTFT {t:.1} ms"))
                    .unwrap_or_default()
            ),
            Some(f) => eprintln!("[{done}/{total}] failed: {}: {}", f.kind.name(), f.detail),
        }
    };
    let recs = s
        .run_closed_with(&s.target.client, phase, &workload, observe)
        .await;
    records.extend(recs);
    Ok(s.finish(&workload, records, Vec::new()).await)
}
