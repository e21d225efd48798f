//! Plans: the arguments of a measuring command turned into a validated plan before any
//! connection is made. Every default and every check is here; local inputs (dataset file,
//! tokenizer, suite tiers, API key, headers) are loaded here, so that a missing file is reported
//! before an unreachable server. A result's `config` is the serialised plan
//! ([`Plan::config`]): what was asked for, never a hand-built copy of it.
//!
//! This module and `commands/` are the only ones that read the CLI's argument structs.

mod capacity;
mod checks;
mod commands;
mod options;
mod throughput;

use checks::check_virtual;
pub use checks::check_writable;

pub use crate::metrics::targets::ask_percentiles;
pub use capacity::CapacityPlan;
pub use commands::{AbPlan, RunPlan, StressPlan, SuitePlan, SweepPlan, TierPlan, TtftPlan};
pub use throughput::ThroughputPlan;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use reqwest::header::HeaderMap;
use serde::Serialize;
use serde_json::Value;

use crate::cli::{MonitorArgs, OutputArgs, RequestArgs, TargetArgs};
use crate::metrics::targets::{self, Target as Requirement};
use crate::protocol::Api;
use crate::shard::Shard;
use crate::sim::Profile;
use crate::workload::{BodyOptions, DatasetSpec, PromptSize, Workload};

/// The measuring commands, and what each may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    Run,
    Throughput,
    Sweep,
    Suite,
    Stress,
    Ttft,
    Capacity,
}

impl Command {
    pub const ALL: [Command; 7] = [
        Command::Run,
        Command::Throughput,
        Command::Sweep,
        Command::Suite,
        Command::Stress,
        Command::Ttft,
        Command::Capacity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Command::Run => "run",
            Command::Throughput => "throughput",
            Command::Sweep => "sweep",
            Command::Suite => "suite",
            Command::Stress => "stress",
            Command::Ttft => "ttft",
            Command::Capacity => "capacity",
        }
    }

    pub fn from_name(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Its plan splits into shards that `merge` joins exactly (arrivals, requests, users are
    /// dealt out); the others depend on what happened before (a ramp, an A/B, tiers).
    pub fn shardable(self) -> bool {
        matches!(self, Command::Run | Command::Throughput | Command::Sweep)
    }

    /// The shardable commands, for messages.
    pub fn shardable_names() -> String {
        let names: Vec<&str> = Command::ALL
            .into_iter()
            .filter(|c| c.shardable())
            .map(Command::name)
            .collect();
        names.join(", ")
    }
}

/// Where requests go and how to speak to the server, resolved from the arguments and the
/// environment (the API key). Holds secrets: never serialised.
#[derive(Debug, Clone)]
pub struct TargetPlan {
    /// `None`: the built-in simulator with `sim_profile`.
    pub url: Option<String>,
    pub api: Api,
    pub model: Option<String>,
    pub backend: Option<String>,
    /// Content type, auth (sensitive) and extra headers.
    pub headers: HeaderMap,
    /// Names of the extra headers (recorded; their values never are).
    pub header_names: Vec<String>,
    pub timeout: Duration,
    pub include_usage: bool,
    /// `--endpoint`: the request path under the URL (without /v1), instead of the API's.
    pub path: Option<String>,
    pub sim_profile: Profile,
    /// `--virtual-time`: the simulator in simulated time.
    pub virtual_time: bool,
    /// `--sim-profile-file`, read: it replaces `sim_profile`.
    pub sim_file: Option<(std::path::PathBuf, crate::sim::profile_file::ProfileFile)>,
    /// `--fallback-url`, normalized, in order.
    pub fallbacks: Vec<String>,
    /// The other `--url` replicas (after the first), normalized, and how requests are spread.
    pub replicas: Vec<String>,
    pub balance: crate::client::Balance,
}

impl TargetPlan {
    pub fn from_args(a: &TargetArgs) -> anyhow::Result<TargetPlan> {
        if a.virtual_time && !a.url.is_empty() {
            bail!("--virtual-time runs the built-in simulator in simulated time: drop --url");
        }
        if a.url.len() > 1 && !a.fallback_url.is_empty() {
            bail!("use several --url (replicas) or --fallback-url, not both");
        }
        let replicas = a
            .url
            .iter()
            .skip(1)
            .map(|u| {
                crate::client::normalize_base_url(u).map_err(|e| anyhow::anyhow!("--url {e:#}"))
            })
            .collect::<anyhow::Result<Vec<String>>>()?;
        let (url, credentials) = match a.url.first() {
            Some(u) => {
                let (clean, credentials) = without_userinfo(u)?;
                crate::client::normalize_base_url(&clean)?;
                (Some(clean), credentials)
            }
            None => (None, None),
        };
        let env_key = match a.api {
            Api::Messages => std::env::var("ANTHROPIC_API_KEY").ok(),
            _ => std::env::var("OPENAI_API_KEY").ok(),
        };
        let key = a.api_key.clone().or(env_key);
        let mut headers = crate::protocol::build_headers(a.api, key.as_deref(), &a.headers)?;
        if let Some(basic) = credentials {
            headers
                .entry(reqwest::header::AUTHORIZATION)
                .or_insert(basic);
        }
        Ok(TargetPlan {
            url,
            api: a.api,
            model: a.model.clone(),
            backend: a.backend.clone(),
            headers,
            header_names: a
                .headers
                .iter()
                .filter_map(|h| h.split_once(':').map(|(k, _)| k.trim().to_string()))
                .collect(),
            timeout: a.timeout,
            include_usage: !a.no_include_usage,
            path: match &a.endpoint {
                Some(p) if !p.starts_with('/') => {
                    bail!("--endpoint {p:?}: a path starting with / (e.g. /openai/v1/chat/completions)")
                }
                p => p.clone(),
            },
            sim_profile: a.sim_profile,
            virtual_time: a.virtual_time,
            sim_file: match &a.sim_profile_file {
                Some(p) => Some((
                    p.clone(),
                    crate::sim::profile_file::ProfileFile::load(p)
                        .map_err(|e| anyhow::anyhow!("--sim-profile-file {e:#}"))?,
                )),
                None => None,
            },
            replicas,
            balance: a.balance,
            fallbacks: a
                .fallback_url
                .iter()
                .map(|u| {
                    crate::client::normalize_base_url(u)
                        .map_err(|e| anyhow::anyhow!("--fallback-url {e:#}"))
                })
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

/// `http://user:pass@host` → `http://host` and the credentials as a (sensitive) Basic
/// authorization: a URL is printed and written into results, credentials never are.
fn without_userinfo(url: &str) -> anyhow::Result<(String, Option<reqwest::header::HeaderValue>)> {
    let Ok(mut parsed) = reqwest::Url::parse(url.trim()) else {
        return Ok((url.to_string(), None)); // normalize_base_url names the problem
    };
    if parsed.username().is_empty() && parsed.password().is_none() {
        return Ok((url.to_string(), None));
    }
    use base64::Engine;
    let pair = format!("{}:{}", parsed.username(), parsed.password().unwrap_or(""));
    let token = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut v = reqwest::header::HeaderValue::from_str(&format!("Basic {token}"))?;
    v.set_sensitive(true);
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    Ok((parsed.as_str().to_string(), Some(v)))
}

/// Resource monitoring while the load runs.
#[derive(Debug, Clone, Default)]
pub struct MonitorPlan {
    pub server_pid: Option<u32>,
    pub metrics_url: Option<String>,
    pub metrics: Vec<String>,
}

impl MonitorPlan {
    pub fn from_args(a: &MonitorArgs) -> MonitorPlan {
        MonitorPlan {
            server_pid: a.server_pid,
            metrics_url: a.metrics_url.clone(),
            metrics: a.metrics.clone(),
        }
    }
}

/// Outputs, requirements, shard and start time: checked before the run.
#[derive(Debug, Clone, Default)]
pub struct OutputPlan {
    pub outputs: Vec<PathBuf>,
    pub quiet: bool,
    pub requirements: Vec<Requirement>,
    /// This process's part of the plan (`--shard` or the engine's environment).
    pub shard: Option<Shard>,
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `--goodput` SLOs (recorded in the result's config as `goodput`).
    pub goodput: Vec<crate::metrics::goodput::Slo>,
    /// The percentiles reported: `--percentiles`, then any a target names beyond them (empty:
    /// p50, p90, p95, p99). Recorded in the result's config as `percentiles`.
    pub percentiles: Vec<f64>,
}

impl OutputPlan {
    pub fn from_args(a: &OutputArgs, command: Command) -> anyhow::Result<OutputPlan> {
        for p in &a.output {
            crate::report::format_for(p)?;
            check_writable(p)?;
        }
        let shard = if command.shardable() {
            Shard::resolve(a.shard.as_deref())?
        } else if a.shard.is_some() {
            bail!(
                "{} stays single-process: --shard is for {}",
                command.name(),
                Command::shardable_names()
            );
        } else {
            None
        };
        let mut texts = a.targets.clone();
        if let Some(x) = a.max_error_rate {
            texts.push(format!("error_rate<={}%", x * 100.0));
        }
        let requirements = targets::parse_all(&texts)?;
        let mut percentiles = match &a.percentiles {
            Some(ps) => targets::check_percentiles(ps)?,
            None => Vec::new(),
        };
        targets::ask_percentiles(&mut percentiles, &requirements);
        Ok(OutputPlan {
            outputs: a.output.clone(),
            quiet: a.quiet,
            requirements,
            percentiles,
            shard,
            start_at: a
                .start_at
                .as_deref()
                .map(crate::shard::parse_start_at)
                .transpose()?,
            goodput: match &a.goodput {
                Some(t) => crate::metrics::goodput::parse(t).map_err(anyhow::Error::msg)?,
                None => Vec::new(),
            },
        })
    }

    /// What every summary of the run computes beyond its fixed figures.
    pub fn extras(&self) -> crate::metrics::Extras {
        crate::metrics::Extras {
            slos: self.goodput.clone(),
            percentiles: self.percentiles.clone(),
        }
    }

    /// No outputs, no requirements, quiet (a suite's tiers).
    pub fn none() -> OutputPlan {
        OutputPlan {
            quiet: true,
            ..Default::default()
        }
    }
}

/// What the session of a command needs: where, how, what to record and write.
#[derive(Debug, Clone)]
pub struct Common {
    pub command: Command,
    pub target: TargetPlan,
    pub monitor: MonitorPlan,
    pub output: OutputPlan,
    pub stream: bool,
    /// Connections opened before measuring (the most requests in flight).
    pub max_connections: usize,
}

/// What every request of a plan carries (serialised into the result's `config`), and the
/// workload built from the local inputs.
#[derive(Debug, Clone, Serialize)]
pub struct Requests {
    pub api: Api,
    pub max_tokens: u32,
    pub stream: bool,
    pub prompt: PromptSize,
    pub temperature: Option<f64>,
    pub ignore_eos: bool,
    pub warm_cache: bool,
    pub include_usage: bool,
    /// `--top-p`, `--stop`, `--extra-body`, `--tools`, … as sent.
    #[serde(flatten)]
    pub options: crate::protocol::RequestOptions,
    pub timeout_s: f64,
    /// Seed of the dataset and of arrival times (chosen and recorded when not given).
    pub seed: u64,
    /// The per-run prefix that keeps prompts out of the server's prefix cache (none with
    /// `--warm-cache`).
    pub prompt_prefix_nonce: Option<String>,
    #[serde(skip)]
    pub workload: Workload,
    /// `--tokenizer` given: it also counts output tokens when the server reports no usage.
    #[serde(skip)]
    pub count_with_tokenizer: bool,
}

impl Requests {
    /// Check the sampling options and build the workload from local inputs only.
    pub fn load(
        req: &RequestArgs,
        target: &TargetPlan,
        max_tokens: u32,
        stream: bool,
    ) -> anyhow::Result<Requests> {
        if max_tokens == 0 {
            bail!("--max-tokens must be at least 1");
        }
        at_most("--max-tokens", max_tokens as f64, MAX_TOKENS as f64)?;
        for (name, v) in [
            ("--input-tokens", req.input_tokens),
            ("--output-tokens", req.output_tokens.unwrap_or(1.0)),
        ] {
            at_most(name, v, MAX_TOKENS as f64)?;
        }
        at_most(
            "--prefix-tokens",
            req.prefix_tokens as f64,
            MAX_TOKENS as f64,
        )?;
        at_most("--prefix-groups", req.prefix_groups as f64, 1e6)?;
        at_most("--turns", req.turns as f64, 1e4)?;
        if let Some(t) = req.temperature {
            if !(t.is_finite() && t >= 0.0) {
                bail!("--temperature must be a number >= 0 (e.g. 0.7), not {t}");
            }
        }
        let options = options::request_options(req, target.api)?;
        let workload = Workload::build(
            &dataset_spec(req),
            BodyOptions {
                api: target.api,
                model: String::new(),
                max_tokens,
                stream,
                temperature: req.temperature,
                ignore_eos: req.ignore_eos,
                include_usage: target.include_usage,
                options: options.clone(),
            },
        )?;
        Ok(Requests {
            api: target.api,
            max_tokens,
            stream,
            prompt: req.prompt,
            temperature: req.temperature,
            ignore_eos: req.ignore_eos,
            warm_cache: req.warm_cache,
            include_usage: target.include_usage,
            options,
            timeout_s: target.timeout.as_secs_f64(),
            seed: workload.seed,
            prompt_prefix_nonce: workload.nonce.clone(),
            workload,
            count_with_tokenizer: req.tokenizer.is_some(),
        })
    }
}

pub fn dataset_spec(req: &RequestArgs) -> DatasetSpec {
    DatasetSpec {
        dataset: req.dataset.clone(),
        prompt: Some(req.prompt),
        input_tokens: req.input_tokens,
        input_stddev: req.input_stddev,
        output_tokens: req.output_tokens,
        output_stddev: req.output_stddev,
        prefix_tokens: req.prefix_tokens,
        prefix_groups: req.prefix_groups,
        turns: req.turns,
        sessions: Some(crate::workload::Sessions {
            think: req.think_time,
            synthetic_history: req.synthetic_history,
        }),
        trace: req.trace.clone().map(|p| {
            let spec = crate::workload::trace::TraceSpec {
                format: req.trace_format,
                scale: req.time_scale,
                start_s: req.trace_start.as_secs_f64(),
                duration_s: req.trace_duration.map(|d| d.as_secs_f64()),
                max_requests: None,
            };
            (p, spec)
        }),
        tokenizer: req.tokenizer.clone(),
        seed: req.seed,
        warm_cache: req.warm_cache,
    }
}

/// A command's plan: its own settings `K`, the requests, and the session's needs.
#[derive(Debug, Clone)]
pub struct Plan<K> {
    pub common: Common,
    pub requests: Requests,
    pub kind: K,
}

impl<K: Serialize> Plan<K> {
    /// The serialised plan (the result's `config`): the command's settings over the requests'.
    pub fn config(&self) -> Value {
        let mut v = serde_json::to_value(&self.requests).unwrap_or_default();
        if let (Some(base), Value::Object(own)) = (
            v.as_object_mut(),
            serde_json::to_value(&self.kind).unwrap_or_default(),
        ) {
            base.extend(own);
        }
        let out = &self.common.output;
        if let (Some(base), false) = (v.as_object_mut(), out.goodput.is_empty()) {
            base.insert(
                "goodput".into(),
                serde_json::to_value(&out.goodput).unwrap_or_default(),
            );
        }
        if let (Some(base), false) = (v.as_object_mut(), out.percentiles.is_empty()) {
            base.insert("percentiles".into(), serde_json::json!(out.percentiles));
        }
        v
    }
}

/// The common part of a plan; `--shard` needs a fixed seed so that every shard derives the same
/// plan.
fn common(
    command: Command,
    target: &TargetArgs,
    monitor: &MonitorArgs,
    out: &OutputArgs,
    req: Option<&RequestArgs>,
    stream: bool,
    max_connections: usize,
) -> anyhow::Result<Common> {
    let output = OutputPlan::from_args(out, command)?;
    if output.shard.is_some() && req.is_some_and(|r| r.seed.is_none()) {
        bail!("--shard needs --seed, so that every shard derives the same plan");
    }
    crate::metrics::goodput::check_asked(&output.requirements, &output.goodput)
        .map_err(anyhow::Error::msg)?;
    if let Some(s) = output
        .goodput
        .iter()
        .find(|s| s.metric.needs_stream() && !stream)
    {
        bail!(
            "--goodput {}: TTFT and TPOT are measured on streamed responses only: drop --no-stream",
            s.metric.name()
        );
    }
    if target.virtual_time {
        check_virtual(&output, req, monitor)?;
    }
    if target.api == Api::Embeddings && command == Command::Ttft {
        bail!("ttft times the first token: --api embeddings has none (use run or throughput)");
    }
    Ok(Common {
        command,
        target: TargetPlan::from_args(target)?,
        monitor: MonitorPlan::from_args(monitor),
        output,
        stream,
        max_connections,
    })
}

/// `name` must be at least 1, and at most `MAX_COUNT`.
fn positive(name: &str, v: u64) -> anyhow::Result<()> {
    if v == 0 {
        bail!("{name} must be at least 1");
    }
    at_most(name, v as f64, MAX_COUNT as f64)
}

/// Requests, samples, concurrency: beyond this a plan is a typo, not a benchmark.
pub const MAX_COUNT: u64 = 100_000_000;
/// Requests in flight at once.
pub const MAX_CONCURRENCY: usize = 100_000;
/// Tokens asked of one request.
pub const MAX_TOKENS: u32 = 1_000_000;
/// Arrivals per second.
pub const MAX_RATE: f64 = 1_000_000.0;

fn at_most(name: &str, v: f64, max: f64) -> anyhow::Result<()> {
    if v > max {
        bail!("{name} {v} is beyond what a benchmark can run (at most {max})");
    }
    Ok(())
}

/// `name` must be a finite number above 0.
fn above_zero(name: &str, v: f64, example: &str) -> anyhow::Result<()> {
    if !(v.is_finite() && v > 0.0) {
        bail!("{name} must be a number > 0 (e.g. {name} {example}), not {v}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_leave_the_url_for_a_sensitive_header() {
        let (url, auth) = without_userinfo("http://alice:s3cret@127.0.0.1:8000/v1").unwrap();
        assert_eq!(url, "http://127.0.0.1:8000/v1");
        let auth = auth.unwrap();
        assert!(auth.is_sensitive());
        assert_eq!(auth.to_str().unwrap(), "Basic YWxpY2U6czNjcmV0");
        assert!(without_userinfo("http://127.0.0.1:8000")
            .unwrap()
            .1
            .is_none());
    }
}
