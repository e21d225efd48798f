//! `llmbench ttft`: the seed's TTFT benchmark. Streamed requests over the 15 built-in prompts
//! (short, medium and long in turn); TTFT statistics with 95% bootstrap intervals; targets and
//! stretch goals. A/B: `--compare-url B` interleaves baseline and treatment requests one by
//! one, so that drift on the machine hits both alike; `--baseline-cmd` / `--treatment-cmd` run
//! a shell command before each phase instead (the seed toggles feature flags that way).

use std::process::ExitCode;

use crate::arms::{Arms, BASELINE, TREATMENT};
use crate::cli::TtftArgs;
use crate::client::Client;
use crate::plan::{Plan, TtftPlan};
use crate::record::RequestRecord;
use crate::report::console;
use crate::report::progress::Progress;
use crate::result::{BenchResult, Level, LevelParams};
use crate::scheduler::ClosedLoop;
use crate::session::Session;
use crate::verdict::{
    self,
    compare::{compare_records, Comparison},
};
use crate::workload::Workload;

use super::conclude;

pub async fn ttft(args: TtftArgs) -> anyhow::Result<ExitCode> {
    let plan = TtftPlan::from_args(&args)?;
    let result = execute_plan(&plan).await?;
    let code = conclude(&result, console::ttft_summary(&result), &plan.common.output)?;
    if !plan.kind.stretch.is_empty() {
        // Stretch goals are shown, never judged.
        let judged = result.levels.get(1).map_or(&result.summary, |l| &l.summary);
        let goals: Vec<_> = plan
            .kind
            .stretch
            .iter()
            .map(|s| s.evaluate(judged, None))
            .collect();
        print!(
            "\n=== Stretch Goals (shown, never judged) ===\n\n{}",
            crate::report::views::targets(&goals).to_text(2)
        );
    }
    Ok(code)
}

/// One arm of the benchmark: where its requests go and how its records are tagged.
#[derive(Clone, Copy)]
struct Arm<'a> {
    client: &'a Client,
    workload: &'a Workload,
    /// 0 baseline, 1 treatment (A/B only).
    level: Option<u32>,
}

/// Requests `first_id..first_id + count` of one arm, one at a time.
async fn phase(
    arm: Arm<'_>,
    s: &Session,
    first_id: u64,
    count: u64,
    warmup: bool,
) -> Vec<RequestRecord> {
    let p = ClosedLoop {
        first_id,
        count,
        concurrency: 1,
        warmup,
        level: arm.level,
        shard: None,
    };
    s.run_closed_on(arm.client, p, arm.workload).await
}

/// Run the benchmark and return its result (used by tests).
pub async fn execute(args: &TtftArgs) -> anyhow::Result<BenchResult> {
    execute_plan(&TtftPlan::from_args(args)?).await
}

async fn execute_plan(plan: &Plan<TtftPlan>) -> anyhow::Result<BenchResult> {
    let (p, req) = (&plan.kind, &plan.requests);
    let mut s = Session::open(&plan.common).await?;
    let workload = s.bind(&req.workload, false);
    s.begin(plan.config()).await?;
    let ab = p.ab();
    let progress = Progress::start_ttft(
        plan.common.output.quiet,
        (p.samples + p.warmup) * if ab { 2 } else { 1 },
        s.live.clone(),
    );
    let arms = run_arms(plan, &s, &workload).await;
    progress.finish().await;
    let ([a, b], treatment_url) = arms?;
    let comparison = ab.then(|| {
        let (ra, rb): (Vec<&RequestRecord>, Vec<&RequestRecord>) =
            (a.iter().collect(), b.iter().collect());
        Comparison {
            rows: compare_records(&ra, &rb),
            ..Default::default()
        }
    });
    let intervals = verdict::ttft::intervals(
        if ab { "treatment" } else { "all" },
        if ab { &b } else { &a },
    );
    let mut records = a;
    records.extend(b);
    records.sort_by_key(|r| r.id);
    let levels = if ab {
        let base_url = s.target.info.url.clone();
        let arms = [
            ("baseline", base_url.clone(), p.ab.baseline_cmd.clone()),
            (
                "treatment",
                treatment_url.unwrap_or(base_url),
                p.ab.treatment_cmd.clone(),
            ),
        ];
        arms.into_iter()
            .enumerate()
            .map(|(i, (name, url, cmd))| {
                let params = LevelParams {
                    arm: Some(name.to_string()),
                    url: Some(url),
                    cmd,
                    ..Default::default()
                };
                Level::of(i as u32, name.into(), params, &records)
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut result = s.finish(&workload, records, levels).await;
    // Targets judge the treatment in an A/B, else the one arm; the summary is every record.
    let judged = result.levels.get(1).map_or(&result.summary, |l| &l.summary);
    result.targets = p
        .requirements
        .iter()
        .map(|r| r.evaluate(judged, result.monitor.as_ref()))
        .collect();
    result.comparison = comparison;
    result.intervals = intervals;
    Ok(result)
}

/// The records of each arm (one arm without an A/B), and the treatment server's URL.
async fn run_arms(
    plan: &Plan<TtftPlan>,
    s: &Session,
    workload: &Workload,
) -> anyhow::Result<([Vec<RequestRecord>; 2], Option<String>)> {
    let p = &plan.kind;
    let (samples, warmup) = (p.samples, p.warmup);
    let base = (&s.target.client, workload);
    let mut arm: [Vec<RequestRecord>; 2] = [Vec::new(), Vec::new()];
    let Some(mut arms) = Arms::open(&p.ab, &plan.common, &s.target, workload, false).await? else {
        let one = Arm {
            client: base.0,
            workload,
            level: None,
        };
        arm[0].extend(phase(one, s, 0, warmup, true).await);
        arm[0].extend(phase(one, s, warmup, samples, false).await);
        return Ok((arm, None));
    };
    if p.ab.compare_url.is_some() {
        // Interleave A, B, A, B: warmup pairs first, then measured pairs.
        'pairs: for i in 0..warmup + samples {
            for k in [BASELINE, TREATMENT] {
                if s.stop.is_stopping() {
                    break 'pairs;
                }
                let (client, workload) = arms.enter(k, base)?;
                let this = Arm {
                    client,
                    workload,
                    level: Some(k as u32),
                };
                arm[k].extend(phase(this, s, 2 * i + k as u64, 1, i < warmup).await);
            }
        }
    } else {
        // One server: each arm's command, then its warmup and samples.
        for k in [BASELINE, TREATMENT] {
            if s.stop.is_stopping() {
                break;
            }
            let (client, workload) = arms.enter(k, base)?;
            let this = Arm {
                client,
                workload,
                level: Some(k as u32),
            };
            let first = k as u64 * (warmup + samples);
            arm[k].extend(phase(this, s, first, warmup, true).await);
            arm[k].extend(phase(this, s, first + warmup, samples, false).await);
        }
    }
    let url = arms.treatment_url();
    arms.shutdown().await;
    Ok((arm, url))
}
