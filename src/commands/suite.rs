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

use anyhow::Context;
use serde::Deserialize;
use serde_json::json;

use crate::cli::{MonitorArgs, RequestArgs, SuiteArgs};
use crate::metrics::Summary;
use crate::protocol::Api;
use crate::report::console;
use crate::result::{BenchResult, Header, Level, LevelParams, Tool};
use crate::scheduler::ClosedLoop;
use crate::sim::Profile;
use crate::target::TargetInfo;
use crate::workload::PromptSize;

use super::session::{conclude, validate_output, Session};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub name: String,
    pub model: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub api: Option<Api>,
    #[serde(default)]
    pub prompt: Option<PromptSize>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Simulator profile when the tier has no URL (default: the tier's name, if a profile).
    #[serde(default)]
    pub profile: Option<Profile>,
}

#[derive(Debug, Deserialize)]
struct SuiteFile {
    #[serde(default)]
    tier: Vec<Tier>,
}

/// The seed's tiers.
pub fn default_tiers() -> Vec<Tier> {
    [
        (
            "small",
            "mlx-community/Llama-3.2-3B-Instruct-4bit",
            Profile::Small,
        ),
        (
            "medium",
            "mlx-community/Llama-3.1-8B-Instruct-4bit",
            Profile::Medium,
        ),
        (
            "large",
            "mlx-community/Llama-3.3-70B-Instruct-4bit",
            Profile::Large,
        ),
    ]
    .into_iter()
    .map(|(name, model, p)| Tier {
        name: name.into(),
        model: model.into(),
        url: None,
        api: None,
        prompt: None,
        max_tokens: None,
        profile: Some(p),
    })
    .collect()
}

pub fn load_tiers(args: &SuiteArgs) -> anyhow::Result<Vec<Tier>> {
    let Some(path) = &args.out.config else {
        return Ok(default_tiers());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--config {}: cannot read the file", path.display()))?;
    let file: SuiteFile = toml::from_str(&text)
        .with_context(|| format!("--config {}: invalid suite file", path.display()))?;
    Ok(if file.tier.is_empty() {
        default_tiers()
    } else {
        file.tier
    })
}

pub async fn suite(args: SuiteArgs) -> anyhow::Result<ExitCode> {
    let result = execute(&args).await?;
    let mut code = conclude(&result, console::suite_summary(&result), &args.out)?;
    let broken = result
        .levels
        .iter()
        .any(|l| l.error.is_some() || l.summary.requests.ok == 0);
    if broken && code == ExitCode::SUCCESS {
        code = ExitCode::from(1);
    }
    Ok(code)
}

pub async fn execute(args: &SuiteArgs) -> anyhow::Result<BenchResult> {
    if args.runs == 0 || args.max_tokens == 0 {
        anyhow::bail!("--runs and --max-tokens must be at least 1");
    }
    let requirements = validate_output(&args.out)?;
    let tiers = load_tiers(args)?;
    let quiet = args.out.quiet;
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut levels = Vec::new();
    let mut records = Vec::new();
    let mut first_target: Option<TargetInfo> = None;
    // The process's one Ctrl-C handler: checked between tiers.
    let stop = super::session::ctrl_c_stop(quiet);
    let mut interrupted = false;
    for (ti, tier) in tiers.iter().enumerate() {
        let mut targs = args.target.clone();
        targs.model = Some(tier.model.clone());
        if tier.url.is_some() {
            targs.url = tier.url.clone();
        }
        if let Some(api) = tier.api {
            targs.api = api;
        }
        if let Some(p) = tier.profile {
            targs.sim_profile = p;
        }
        let max_tokens = tier.max_tokens.unwrap_or(args.max_tokens);
        let request = RequestArgs::builtin(tier.prompt.unwrap_or(args.prompt));
        if stop.is_stopping() {
            interrupted = true;
            break;
        }
        let params = LevelParams {
            model: Some(tier.model.clone()),
            url: targs.url.clone(),
            api: Some(targs.api),
            max_tokens: Some(max_tokens),
            prompt: Some(format!("{:?}", request.prompt).to_lowercase()),
            ..Default::default()
        };
        if !quiet {
            eprintln!("\nBenchmarking {} tier: {}", tier.name, tier.model);
        }
        let mut s =
            match Session::open(&targs, &MonitorArgs::default(), args.stream, 1, quiet).await {
                Ok(s) => s,
                Err(e) => {
                    if !quiet {
                        eprintln!("  Error: {e:#}");
                    }
                    levels.push(Level {
                        name: tier.name.clone(),
                        params,
                        summary: Summary::from_records(&[]),
                        target: None,
                        error: Some(format!("{e:#}")),
                    });
                    continue;
                }
            };
        s.begin(&serde_json::to_value(&params)?).await?;
        let workload = s.bind(
            super::session::prepare(&request, &targs, max_tokens, args.stream)?,
            &request,
        )?;
        let mut tier_records = Vec::new();
        for (first_id, count, warmup) in [(0, args.warmup, true), (args.warmup, args.runs, false)] {
            if count == 0 {
                continue;
            }
            let phase = ClosedLoop {
                first_id,
                count,
                concurrency: 1,
                warmup,
                level: Some(ti as u32),
                shard: None,
            };
            tier_records.extend(s.run_closed(phase, &workload).await);
        }
        let r = s
            .finish("run", json!({}), tier_records, &[], Vec::new())
            .await;
        interrupted |= r.interrupted;
        first_target.get_or_insert_with(|| r.target.clone());
        let offset = records.len() as u64;
        records.extend(r.requests.into_iter().map(|mut rec| {
            rec.id += offset;
            rec.level = Some(ti as u32);
            rec
        }));
        levels.push(Level {
            name: tier.name.clone(),
            params,
            summary: r.summary,
            target: Some(r.target),
            error: None,
        });
    }
    let head = Header {
        command: "suite".to_string(),
        started_at,
        tool: Tool::default(),
        config: json!({"runs": args.runs, "warmup": args.warmup, "max_tokens": args.max_tokens, "stream": args.stream,
            "tiers": tiers.iter().map(|t| json!({"name": t.name, "model": t.model, "url": t.url})).collect::<Vec<_>>()}),
        target: first_target.unwrap_or(TargetInfo {
            url: args.target.url.clone().unwrap_or_default(),
            api: args.target.api,
            model: String::new(),
            backend: String::new(),
            simulator: None,
            header_names: Vec::new(),
        }),
        shard: None,
    };
    let mut result = BenchResult::build(head, records, levels);
    result.targets = requirements
        .iter()
        .map(|r| r.evaluate(&result.summary, None))
        .collect();
    result.interrupted = interrupted;
    Ok(result)
}
