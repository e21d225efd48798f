//! The plan of each measuring command: its own settings (serialised into `config`) and how they
//! are derived from the arguments.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::{
    above_zero, at_most, common, positive, Command, MonitorPlan, OutputPlan, Plan, Requests,
    MAX_CONCURRENCY, MAX_COUNT, MAX_RATE,
};
use crate::cli::{MonitorArgs, RequestArgs, RunArgs, StressArgs, SuiteArgs, SweepArgs, TtftArgs};
use crate::protocol::Api;
use crate::scheduler::Arrival;
use crate::sim::Profile;
use crate::workload::PromptSize;

/// `run`: warmup, then `runs` requests at `concurrency` (closed loop).
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    pub runs: u64,
    pub warmup: u64,
    pub concurrency: usize,
}

impl RunPlan {
    pub fn from_args(a: &RunArgs) -> anyhow::Result<Plan<RunPlan>> {
        positive("--runs", a.runs)?;
        positive("--concurrency", a.concurrency as u64)?;
        at_most(
            "--concurrency",
            a.concurrency as f64,
            MAX_CONCURRENCY as f64,
        )?;
        at_most("--warmup", a.warmup as f64, MAX_COUNT as f64)?;
        let stream = !a.no_stream && a.target.api.generates();
        let common = common(
            Command::Run,
            &a.target,
            &MonitorArgs::default(),
            &a.out,
            Some(&a.request),
            stream,
            a.concurrency,
        )?;
        let requests = Requests::load(&a.request, &common.target, a.max_tokens, stream)?;
        Ok(Plan {
            common,
            requests,
            kind: RunPlan {
                runs: a.runs,
                warmup: a.warmup,
                concurrency: a.concurrency,
            },
        })
    }
}

/// `sweep`: closed-loop levels of concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPlan {
    pub concurrency: Vec<usize>,
    /// `--runs` as given (each level's count is in its level parameters).
    pub runs: Option<u64>,
    pub warmup: Option<u64>,
    #[serde(flatten)]
    pub ab: AbPlan,
}

impl SweepPlan {
    pub fn from_args(a: &SweepArgs) -> anyhow::Result<Plan<SweepPlan>> {
        if a.concurrency.is_empty() || a.concurrency.contains(&0) {
            bail!("--concurrency takes levels >= 1, comma separated (e.g. 1,2,4,8)");
        }
        if a.runs == Some(0) {
            bail!("--runs must be at least 1");
        }
        if let Some(c) = a.concurrency.iter().find(|&&c| c > MAX_CONCURRENCY) {
            bail!(
                "--concurrency {c} is beyond what a benchmark can run (at most {MAX_CONCURRENCY})"
            );
        }
        if let Some(n) = a.runs {
            positive("--runs", n)?;
            if let Some(c) = a.concurrency.iter().find(|&&c| (c as u64) > n) {
                bail!("--runs {n} is below the concurrency level {c}: that level would never have {c} requests in flight");
            }
        }
        let stream = !a.no_stream && a.target.api.generates();
        let top = a.concurrency.iter().copied().max().unwrap_or(1);
        let common = common(
            Command::Sweep,
            &a.target,
            &a.monitor,
            &a.out,
            Some(&a.request),
            stream,
            top,
        )?;
        let requests = Requests::load(&a.request, &common.target, a.max_tokens, stream)?;
        Ok(Plan {
            common,
            requests,
            kind: SweepPlan {
                concurrency: a.concurrency.clone(),
                runs: a.runs,
                warmup: a.warmup,
                ab: AbPlan::from_args(&a.ab)?,
            },
        })
    }

    /// Measured requests at concurrency `c` (default: 4 × c, at least 8).
    pub fn runs_for(&self, c: usize) -> u64 {
        self.runs.unwrap_or((4 * c as u64).max(8))
    }

    /// Warmup requests at concurrency `c` (default: c).
    pub fn warmup_for(&self, c: usize) -> u64 {
        self.warmup.unwrap_or(c as u64)
    }

    pub fn total_requests(&self) -> u64 {
        let arms = if self.ab.on() { 2 } else { 1 };
        self.concurrency
            .iter()
            .map(|&c| self.runs_for(c) + self.warmup_for(c))
            .sum::<u64>()
            * arms
    }
}

/// `stress`: open-loop levels from `start_rate` by `step` up to `max_rate`.
#[derive(Debug, Clone, Serialize)]
pub struct StressPlan {
    pub start_rate: f64,
    pub step: f64,
    pub step_duration_s: f64,
    pub max_rate: f64,
    pub max_concurrency: usize,
    pub failure_threshold: f64,
    pub max_duration_s: f64,
    pub arrival: Arrival,
    /// The server's memory limit for `oom` (default: this machine's memory).
    pub memory_limit_mb: f64,
    /// The server's CPU limit for `resource_exhaustion` (default: this machine's cores).
    pub cpu_limit_cores: f64,
}

impl StressPlan {
    pub fn from_args(a: &StressArgs) -> anyhow::Result<Plan<StressPlan>> {
        above_zero("--start-rate", a.start_rate, "50")?;
        above_zero("--max-rate", a.max_rate, "300")?;
        above_zero("--step", a.step, "20")?;
        at_most("--max-rate", a.max_rate, MAX_RATE)?;
        if (a.max_rate - a.start_rate) / a.step > 10_000.0 {
            bail!(
                "--start-rate {} to --max-rate {} by --step {} is over 10000 levels",
                a.start_rate,
                a.max_rate,
                a.step
            );
        }
        if a.max_rate < a.start_rate {
            bail!(
                "--max-rate {} is below --start-rate {}: the ramp would have no level",
                a.max_rate,
                a.start_rate
            );
        }
        if a.step_duration.is_zero() || a.max_duration.is_zero() {
            bail!("--step-duration and --max-duration must be longer than 0 (e.g. 30s)");
        }
        positive("--max-concurrency", a.max_concurrency as u64)?;
        at_most(
            "--max-concurrency",
            a.max_concurrency as f64,
            MAX_CONCURRENCY as f64,
        )?;
        for (v, name) in [
            (a.memory_limit_mb, "--memory-limit-mb"),
            (a.cpu_limit_cores, "--cpu-limit-cores"),
        ] {
            if let Some(v) = v {
                above_zero(name, v, "4")?;
            }
        }
        let stream = !a.no_stream && a.target.api.generates();
        let common = common(
            Command::Stress,
            &a.target,
            &a.monitor,
            &a.out,
            Some(&a.request),
            stream,
            a.max_concurrency,
        )?;
        let requests = Requests::load(&a.request, &common.target, a.max_tokens, stream)?;
        let memory_limit_mb = a.memory_limit_mb.unwrap_or_else(|| {
            let mut sys = sysinfo::System::new();
            sys.refresh_memory();
            sys.total_memory() as f64 / 1e6
        });
        let cpu_limit_cores = a.cpu_limit_cores.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
        });
        Ok(Plan {
            common,
            requests,
            kind: StressPlan {
                start_rate: a.start_rate,
                step: a.step,
                step_duration_s: a.step_duration.as_secs_f64(),
                max_rate: a.max_rate,
                max_concurrency: a.max_concurrency,
                failure_threshold: a.failure_threshold,
                max_duration_s: a.max_duration.as_secs_f64(),
                arrival: a.arrival,
                memory_limit_mb,
                cpu_limit_cores,
            },
        })
    }

    /// Levels the ramp has at most.
    pub fn levels(&self) -> usize {
        ((self.max_rate - self.start_rate) / self.step).floor() as usize + 1
    }

    pub fn rate_of(&self, level: usize) -> f64 {
        self.start_rate + level as f64 * self.step
    }
}

/// `ttft`: streamed requests one at a time, over the mixed built-in prompts; an A/B with a
/// second server or with a command before each arm.
#[derive(Debug, Clone, Serialize)]
pub struct TtftPlan {
    pub samples: u64,
    pub warmup: u64,
    #[serde(flatten)]
    pub ab: AbPlan,
    /// `--target` with `p95<=550ms` meaning `ttft.p95<=550ms`; judged on the treatment arm.
    #[serde(skip)]
    pub requirements: Vec<crate::metrics::targets::Target>,
    #[serde(skip)]
    pub stretch: Vec<crate::metrics::targets::Target>,
}

/// `p95<=550ms` means `ttft.p95<=550ms` in `ttft`'s targets and stretch goals.
fn ttft_targets(
    texts: &[String],
    flag: &str,
) -> anyhow::Result<Vec<crate::metrics::targets::Target>> {
    texts
        .iter()
        .map(|t| {
            crate::metrics::targets::Target::parse(&crate::verdict::ttft::target_text(t))
                .map_err(|e| anyhow::anyhow!("{flag} {e}"))
        })
        .collect()
}

impl TtftPlan {
    pub fn from_args(a: &TtftArgs) -> anyhow::Result<Plan<TtftPlan>> {
        let samples = if a.quick { 20 } else { a.samples };
        if samples < 2 {
            bail!("--samples must be at least 2");
        }
        positive("--samples", samples)?;
        let ab = AbPlan::from_args(&a.ab)?;
        let mut requirements = ttft_targets(&a.out.targets, "--target")?;
        if let Some(x) = a.out.max_error_rate {
            let t = format!("error_rate<={}%", x * 100.0);
            requirements.extend(crate::metrics::targets::parse_all(&[t])?);
        }
        let stretch = ttft_targets(&a.stretch, "--stretch")?;
        let mut out = a.out.clone();
        // Judged by the command, on the treatment arm.
        out.targets.clear();
        out.max_error_rate = None;
        let mut common = common(Command::Ttft, &a.target, &a.monitor, &out, None, true, 1)?;
        common.output.requirements.clear();
        super::ask_percentiles(&mut common.output.percentiles, &requirements);
        super::ask_percentiles(&mut common.output.percentiles, &stretch);
        let req = RequestArgs {
            temperature: Some(a.temperature),
            warm_cache: a.warm_cache,
            ..RequestArgs::builtin(PromptSize::Mixed)
        };
        let requests = Requests::load(&req, &common.target, a.max_tokens, true)?;
        Ok(Plan {
            common,
            requests,
            kind: TtftPlan {
                samples,
                warmup: a.warmup,
                ab,
                requirements,
                stretch,
            },
        })
    }

    pub fn ab(&self) -> bool {
        self.ab.on()
    }
}

/// An A/B (`ttft`, `sweep`, `throughput`): a treatment server, or a command before each arm.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AbPlan {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_cmd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub treatment_cmd: Option<String>,
}

impl AbPlan {
    pub fn from_args(a: &crate::cli::AbArgs) -> anyhow::Result<AbPlan> {
        if a.compare_url.is_some() && a.baseline_cmd.is_some() {
            bail!("use either --compare-url or --baseline-cmd/--treatment-cmd, not both");
        }
        if let Some(u) = &a.compare_url {
            crate::client::normalize_base_url(u)?;
        }
        Ok(AbPlan {
            compare_url: a.compare_url.clone(),
            baseline_cmd: a.baseline_cmd.clone(),
            treatment_cmd: a.treatment_cmd.clone(),
        })
    }

    pub fn on(&self) -> bool {
        self.compare_url.is_some() || self.baseline_cmd.is_some()
    }
}

/// One tier of a suite file (`[[tier]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// One tier, planned like a `run`.
#[derive(Debug, Clone)]
pub struct TierPlan {
    pub tier: Tier,
    pub plan: Plan<RunPlan>,
}

/// `suite`: each tier benchmarked like `run`.
#[derive(Debug, Clone, Serialize)]
pub struct SuitePlan {
    pub runs: u64,
    pub warmup: u64,
    pub max_tokens: u32,
    pub stream: bool,
    pub tiers: Vec<Tier>,
    #[serde(skip)]
    pub planned: Vec<TierPlan>,
    #[serde(skip)]
    pub output: OutputPlan,
}

impl SuitePlan {
    pub fn from_args(a: &SuiteArgs) -> anyhow::Result<SuitePlan> {
        positive("--runs", a.runs)?;
        positive("--max-tokens", a.max_tokens as u64)?;
        let output = OutputPlan::from_args(&a.out, Command::Suite)?;
        let stream = !a.no_stream && a.target.api.generates();
        let tiers = load_tiers(a.out.config.as_deref())?;
        let mut planned = Vec::new();
        for tier in &tiers {
            let mut targs = a.target.clone();
            targs.model = Some(tier.model.clone());
            if let Some(u) = &tier.url {
                targs.url = vec![u.clone()];
            }
            if let Some(api) = tier.api {
                targs.api = api;
            }
            if let Some(p) = tier.profile {
                targs.sim_profile = p;
                targs.sim_profile_file = None;
            }
            let max_tokens = tier.max_tokens.unwrap_or(a.max_tokens);
            let req = RequestArgs::builtin(tier.prompt.unwrap_or(a.prompt));
            let common = super::Common {
                command: Command::Suite,
                target: super::TargetPlan::from_args(&targs)
                    .with_context(|| format!("tier {}", tier.name))?,
                monitor: MonitorPlan::default(),
                output: OutputPlan {
                    quiet: a.out.quiet,
                    ..OutputPlan::none()
                },
                stream,
                max_connections: 1,
            };
            let requests = Requests::load(&req, &common.target, max_tokens, stream)?;
            planned.push(TierPlan {
                tier: tier.clone(),
                plan: Plan {
                    common,
                    requests,
                    kind: RunPlan {
                        runs: a.runs,
                        warmup: a.warmup,
                        concurrency: 1,
                    },
                },
            });
        }
        Ok(SuitePlan {
            runs: a.runs,
            warmup: a.warmup,
            max_tokens: a.max_tokens,
            stream,
            tiers,
            planned,
            output,
        })
    }
}

/// The `[[tier]]` list of a `--config` file, or the seed's tiers.
fn load_tiers(config: Option<&std::path::Path>) -> anyhow::Result<Vec<Tier>> {
    let Some(path) = config else {
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
