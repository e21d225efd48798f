//! `llmbench throughput`: the seed's sustained-load benchmark. Open-loop arrivals at `--rate`
//! for `--duration` after `--warmup`, optionally capped by `--max-concurrency`; live progress;
//! achieved vs target rate, tokens/s, concurrency, latency from sent and from scheduled, errors,
//! client and server resources; `--target` checks.

use std::process::ExitCode;
use std::time::Duration;

use crate::arms::{order, Arms, Slot};
use crate::cli::ThroughputArgs;
use crate::plan::{Plan, ThroughputPlan};
use crate::report::progress::{Progress, Span};
use crate::report::{console, BenchResult};
use crate::result::{Level, LevelParams};
use crate::scheduler::OpenLoop;
use crate::session::Session;
use crate::workload::Workload;

use super::conclude;

pub async fn throughput(args: ThroughputArgs) -> anyhow::Result<ExitCode> {
    let plan = ThroughputPlan::from_args(&args)?;
    let result = execute_plan(&plan).await?;
    let text = if plan.kind.ab.on() {
        console::ab_table(&result)
    } else if plan.kind.rates.len() > 1 {
        console::load_curve(&result)
    } else {
        console::throughput_summary(&result, plan.kind.rate)
    };
    let code = conclude(&result, text, &plan.common.output)?;
    Ok(super::level_failed(&result).unwrap_or(code))
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
        let rates: Vec<String> = p
            .rates
            .iter()
            .map(|r| {
                if r.is_finite() {
                    r.to_string()
                } else {
                    "inf".into()
                }
            })
            .collect();
        eprintln!(
            "llmbench throughput: {} req/s ({:?} arrivals) for {:.0}s after {:.0}s warmup{}, max concurrency {}, max_tokens {}",
            rates.join(", "),
            p.arrival,
            p.duration_s,
            p.warmup_s(),
            if p.rates.len() > 1 { " at each rate" } else { "" },
            p.max_concurrency.map_or("unlimited".to_string(), |c| c.to_string()),
            req.max_tokens
        );
    }
    let workload = s.bind(&req.workload, req.count_with_tokenizer);
    if p.levels() {
        // A load curve or an A/B: its levels are summarized from their own records, all kept.
        let arms = Arms::open(
            &p.ab,
            &plan.common,
            &s.target,
            &workload,
            req.count_with_tokenizer,
        )
        .await?;
        s.begin(plan.config()).await?;
        return Ok(load_curve(s, p, &workload, arms).await);
    }
    s.keep_records(p.keep_records);
    s.begin(plan.config()).await?;
    let progress = Progress::start(
        quiet,
        span(p),
        finite(p.rate),
        s.live.clone(),
        Some(s.samples()),
    );
    let records = s.run_open(&p.open_loop, &workload).await;
    progress.finish().await;
    Ok(s.finish(&workload, records, Vec::new()).await)
}

fn finite(rate: f64) -> Option<f64> {
    rate.is_finite().then_some(rate)
}

/// What the progress bar counts: the duration, or the requests sent at once.
fn span(p: &ThroughputPlan) -> Span {
    match p.max_requests {
        Some(n) if p.rate.is_infinite() => Span::Requests(n),
        _ => Span::Duration(Duration::from_secs_f64(p.warmup_s() + p.duration_s)),
    }
}

/// One level per rate (and arm), one after the other (each drained before the next starts).
async fn load_curve(
    s: Session,
    p: &ThroughputPlan,
    w: &Workload,
    mut arms: Option<Arms>,
) -> BenchResult {
    let (mut records, mut levels) = (Vec::new(), Vec::new());
    'levels: for (i, &rate) in p.rates.iter().enumerate() {
        let rate_name = match finite(rate) {
            Some(r) => format!("{r} req/s"),
            None => "inf".to_string(),
        };
        let mut at_level: [Option<Level>; 2] = [None, None];
        for k in order(&arms, i) {
            if s.stop.is_stopping() {
                break 'levels;
            }
            let params = LevelParams {
                rate: finite(rate),
                duration_s: Some(p.duration_s),
                ..Default::default()
            };
            let base = (&s.target.client, w);
            let slot = Slot::enter(&mut arms, (i, k), rate_name.clone(), params, base);
            let (client, w) = match slot.serve {
                Ok(x) => x,
                Err(e) => {
                    at_level[k] = Some(Level::not_run(slot.name, slot.params, e));
                    levels.extend(at_level.into_iter().flatten());
                    break 'levels;
                }
            };
            let (index, name, params) = (slot.index, slot.name, slot.params);
            let plan = OpenLoop {
                rate,
                // Both arms of a level see the same arrivals.
                seed: w.seed.wrapping_add(i as u64),
                start_s: s.clock.now_ns() as f64 / 1e9,
                first_id: records.len() as u64,
                level: Some(index),
                ..p.open_loop.clone()
            };
            if !s.quiet {
                eprintln!("level {i}: {name}");
            }
            let level_plan = ThroughputPlan { rate, ..p.clone() };
            let progress = Progress::start(
                s.quiet,
                span(&level_plan),
                finite(rate),
                s.live.clone(),
                Some(s.samples()),
            );
            let mine = s.run_open_on(client, &plan, w).await;
            progress.finish().await;
            // (goodput per level is added where the result is built)
            at_level[k] = Some(Level::of(index, name, params, &mine));
            records.extend(mine);
        }
        levels.extend(at_level.into_iter().flatten());
    }
    let ab = arms.is_some();
    if let Some(a) = arms {
        a.shutdown().await;
    }
    let mut result = s.finish(w, records, levels).await;
    if ab {
        result.comparison = Some(crate::verdict::compare::compare_arms(&result));
    }
    result
}
