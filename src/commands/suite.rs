//! `llmbench suite`: the seed's tier suite. Each tier (small, medium, large by default, with the
//! seed's model ids) is benchmarked like `run`; a tier that fails is recorded and the suite goes
//! on. Without `--url`, each tier runs against the built-in simulator of the same profile.
//!
//! `--config suite.toml` may list the tiers:
//!
//! ```toml
//! runs = 3
//! [[tier]]
//! name = "small"
//! model = "meta-llama/Llama-3.2-3B-Instruct"
//! url = "http://127.0.0.1:8000"    # optional, else --url, else the simulator
//! api = "chat"                     # optional
//! prompt = "medium"                # optional
//! max_tokens = 256                 # optional
//! ```

use std::process::ExitCode;

use crate::cli::SuiteArgs;
use crate::metrics::Summary;
use crate::plan::SuitePlan;
use crate::report::console;
use crate::report::progress::{Progress, Span};
use crate::result::{BenchResult, Header, Level, LevelParams, Tool};
use crate::scheduler::ClosedLoop;
use crate::session::{self, Session};
use crate::target::TargetInfo;
use crate::units::Named;

use super::conclude;

pub async fn suite(args: SuiteArgs) -> anyhow::Result<ExitCode> {
    let plan = SuitePlan::from_args(&args)?;
    let result = execute_plan(&plan).await?;
    // Each tier's block was printed as the tier finished.
    let mut code = conclude(&result, String::new(), &plan.output)?;
    let broken = result
        .levels
        .iter()
        .any(|l| l.error.is_some() || l.summary.requests.ok == 0);
    if broken && code == ExitCode::SUCCESS {
        code = ExitCode::from(1);
    }
    Ok(code)
}

/// Run the suite and return its result (used by tests).
pub async fn execute(args: &SuiteArgs) -> anyhow::Result<BenchResult> {
    execute_plan(&SuitePlan::from_args(args)?).await
}

async fn execute_plan(plan: &SuitePlan) -> anyhow::Result<BenchResult> {
    let quiet = plan.output.quiet;
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut levels = Vec::new();
    let mut records = Vec::new();
    let mut first_target: Option<TargetInfo> = None;
    let mut clients = Vec::new();
    // The process's one Ctrl-C handler: checked between tiers.
    let stop = session::ctrl_c_stop(quiet);
    let mut interrupted = false;
    for (ti, tp) in plan.planned.iter().enumerate() {
        if stop.is_stopping() {
            interrupted = true;
            break;
        }
        let (tier, tier_plan) = (&tp.tier, &tp.plan);
        let req = &tier_plan.requests;
        let params = LevelParams {
            model: Some(tier.model.clone()),
            url: tier_plan.common.target.url.clone(),
            api: Some(req.api),
            max_tokens: Some(req.max_tokens),
            prompt: Some(req.prompt.name().to_string()),
            ..Default::default()
        };
        if !quiet {
            eprintln!("\nBenchmarking {} tier: {}", tier.name, tier.model);
        }
        let s = match Session::open(&tier_plan.common).await {
            Ok(s) => s,
            Err(e) => {
                if !quiet {
                    eprintln!("  Error: {e:#}");
                }
                let level = Level {
                    name: tier.name.clone(),
                    params,
                    summary: Summary::from_records(&[]),
                    target: None,
                    error: Some(format!("{e:#}")),
                };
                print!("{}", console::tier_block(&level));
                levels.push(level);
                continue;
            }
        };
        let r = run_tier(s, tier_plan, ti as u32, quiet).await?;
        interrupted |= r.interrupted;
        if let Some(c) = r.client.clone() {
            clients.push((format!("tier {}", tier.name), c));
        }
        first_target.get_or_insert_with(|| r.target.clone());
        let offset = records.len() as u64;
        records.extend(r.requests.into_iter().map(|mut rec| {
            rec.id += offset;
            rec.level = Some(ti as u32);
            rec
        }));
        let level = Level {
            name: tier.name.clone(),
            params,
            summary: r.summary,
            target: Some(r.target),
            error: None,
        };
        print!("{}", console::tier_block(&level));
        levels.push(level);
    }
    let head = Header {
        command: "suite".to_string(),
        started_at,
        tool: Tool::default(),
        config: serde_json::to_value(plan)?,
        target: first_target.unwrap_or_default(),
        shard: None,
    };
    let mut result = session::result(head, records, levels, &plan.output.requirements, None);
    result.interrupted = interrupted;
    let clients: Vec<(String, &crate::selfcheck::ClientCheck)> =
        clients.iter().map(|(l, c)| (l.clone(), c)).collect();
    result.client = crate::selfcheck::combine(&clients);
    Ok(result)
}

/// One tier, like `run` at concurrency 1: its result (records tagged with the tier).
async fn run_tier(
    mut s: Session,
    tier_plan: &crate::plan::Plan<crate::plan::RunPlan>,
    ti: u32,
    quiet: bool,
) -> anyhow::Result<BenchResult> {
    let workload = s.bind(&tier_plan.requests.workload, false);
    s.begin(tier_plan.config()).await?;
    let (runs, warmup) = (tier_plan.kind.runs, tier_plan.kind.warmup);
    let progress = Progress::start(
        quiet,
        Span::Requests(runs + warmup),
        None,
        s.live.clone(),
        None,
    );
    let mut records = Vec::new();
    for (first_id, count, warm) in [(0, warmup, true), (warmup, runs, false)] {
        if count == 0 {
            continue;
        }
        let phase = ClosedLoop {
            first_id,
            count,
            concurrency: 1,
            warmup: warm,
            level: Some(ti),
            shard: None,
        };
        records.extend(s.run_closed(phase, &workload).await);
    }
    progress.finish().await;
    Ok(s.finish(&workload, records, Vec::new()).await)
}
