//! Command-line arguments (clap derive) and the `--config FILE` merge. Raw arguments only:
//! turning them into a validated plan happens in each command before the first request.

mod commands;
mod config;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use commands::*;

use crate::protocol::Api;
use crate::sim::Profile;
use crate::units::Named;
use crate::workload::PromptSize;

/// A value parser for a library enum: its names, listed in `--help` and in errors.
fn choice<T: Named + Clone>() -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(T::ALL.iter().map(|v| v.name()))
        .map(|s| T::from_name(&s).expect("a listed name"))
}

#[derive(Debug, Parser)]
#[command(
    name = "llmbench",
    version,
    about = "Benchmark LLM inference servers: tok/s, TTFT, inter-token latency, end-to-end latency.",
    long_about = "Benchmark LLM inference servers (vLLM, SGLang, TGI, llama.cpp, Ollama, OpenAI, \
                  Anthropic, ...) over the OpenAI and Anthropic APIs.\n\nWithout --url, every \
                  command benchmarks the built-in simulated server, started in-process.",
    args_override_self = true,
    after_help = "Exit codes: 0 ok, 1 a target or check failed, 2 bad input or unreachable server."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fixed benchmark: warmup, then N requests; tok/s, TTFT, ITL, TPOT, E2E.
    Run(RunArgs),
    /// Sustained open-loop load at a target request rate, with live progress and targets.
    Throughput(ThroughputArgs),
    /// Closed-loop runs at several concurrency levels: what batching buys.
    Sweep(SweepArgs),
    /// Benchmark model tiers (small, medium, large) in one go.
    Suite(SuiteArgs),
    /// Raise the request rate step by step until the server breaks; name the failure mode.
    Stress(StressArgs),
    /// The highest load that meets every SLO: bracket, then bisect, by rate or by users.
    Capacity(CapacityArgs),
    /// Time to first token, with confidence intervals; A/B between two servers or configs.
    Ttft(TtftArgs),
    /// Compare two result files: deltas, confidence intervals, significance.
    Compare(CompareArgs),
    /// Check a result against a saved baseline; exit 1 on a regression (for CI).
    Check(CheckArgs),
    /// Render a saved result (.json, or a .jsonl record file) again: HTML, Markdown, CSV, JSON.
    Report(ReportArgs),
    /// Write a dataset's requests to a JSONL file, to inspect or share.
    Dataset(DatasetArgs),
    /// Merge the shard results of one plan into one result (recomputing every figure).
    Merge(MergeArgs),
    /// Print a Slurm script or a Kubernetes Indexed Job that runs one plan as N shards.
    Cluster(ClusterArgs),
    /// Print the JSON Schema of result files (docs/result.schema.json).
    #[command(hide = true)]
    Schema,
    /// Serve the simulated LLM server until stopped; `sim fit` fits it to a real server.
    #[command(args_conflicts_with_subcommands = true)]
    Sim(SimArgs),
}

/// Where to send requests and how to speak to the server.
#[derive(Debug, Args, Clone)]
pub struct TargetArgs {
    /// Server base URL, with or without /v1. Omitted: the built-in simulator, in-process.
    /// Repeated: replicas of one model, requests spread over them (--balance).
    #[arg(long, value_name = "URL")]
    pub url: Vec<String>,
    /// How requests are spread over several --url: round-robin, or least-inflight (the
    /// replica with the fewest requests in flight).
    #[arg(long, default_value = "round-robin", value_parser = choice::<crate::client::Balance>())]
    pub balance: crate::client::Balance,
    /// API dialect.
    #[arg(long, default_value = "chat", value_parser = choice::<Api>())]
    pub api: Api,
    /// Model name. Omitted: the first model the server lists at /v1/models.
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// API key (default: $OPENAI_API_KEY, or $ANTHROPIC_API_KEY with --api messages).
    /// Never printed or written into a result.
    #[arg(long, hide_env_values = true)]
    pub api_key: Option<String>,
    /// Extra request header 'Name: value' (repeatable).
    #[arg(long = "header", short = 'H', value_name = "'K: V'")]
    pub headers: Vec<String>,
    /// Label for the backend (default: from the model name: gpt/o1 → openai, claude →
    /// anthropic, else local).
    #[arg(long)]
    pub backend: Option<String>,
    /// Per-request timeout (e.g. 30s, 500ms, 5m).
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// The request path under --url (without its /v1) for a server that serves the API
    /// elsewhere, e.g. /openai/v1/chat/completions. Default: the API's own path.
    #[arg(long, value_name = "PATH")]
    pub endpoint: Option<String>,
    /// Do not send stream_options.include_usage (for servers that reject it).
    #[arg(long)]
    pub no_include_usage: bool,
    /// A fallback server (repeatable, tried in order): a request that cannot connect, times
    /// out or is dropped before any response, or gets HTTP 5xx or 429, is sent to the next.
    #[arg(long, value_name = "URL")]
    pub fallback_url: Vec<String>,
    /// Profile of the built-in simulator used when --url is omitted.
    #[arg(long, default_value = "small", value_parser = choice::<Profile>())]
    pub sim_profile: Profile,
    /// The built-in simulator from a profile file (`llmbench sim fit`), instead of
    /// --sim-profile.
    #[arg(long, value_name = "FILE")]
    pub sim_profile_file: Option<PathBuf>,
    /// Run the built-in simulator, the load and an ideal client in simulated time: no sockets,
    /// no waiting; a 10-minute run takes seconds, and the same plan gives the same figures on
    /// any machine (what-if planning with a fitted --sim-profile-file).
    #[arg(long)]
    pub virtual_time: bool,
}

/// What each request asks for: the dataset and the sampling options.
#[derive(Debug, Args, Clone)]
pub struct RequestArgs {
    /// Built-in prompt size (the `builtin` dataset).
    #[arg(long, default_value = "medium", value_parser = choice::<PromptSize>())]
    pub prompt: PromptSize,
    /// Requests: `builtin` (15 prompts), `random` (exact token lengths), `shared-prefix`,
    /// `multi-turn`, or a file (.jsonl with {"prompt"} or {"messages"} per line, or ShareGPT
    /// .json).
    #[arg(long, default_value = "builtin", value_name = "NAME|FILE")]
    pub dataset: String,
    /// Prompt length in tokens (random, shared-prefix: the unique part, multi-turn: per turn).
    #[arg(long, default_value_t = 512.0)]
    pub input_tokens: f64,
    #[arg(long, default_value_t = 0.0)]
    pub input_stddev: f64,
    /// Output length in tokens for synthetic datasets (default: --max-tokens).
    #[arg(long)]
    pub output_tokens: Option<f64>,
    #[arg(long, default_value_t = 0.0)]
    pub output_stddev: f64,
    /// Shared prefix length in tokens (shared-prefix).
    #[arg(long, default_value_t = 1000)]
    pub prefix_tokens: usize,
    /// Number of distinct shared prefixes; request i uses prefix i mod N (shared-prefix).
    #[arg(long, default_value_t = 8)]
    pub prefix_groups: u64,
    /// Turns per conversation (multi-turn).
    #[arg(long, default_value_t = 3)]
    pub turns: u64,
    /// multi-turn: a user's pause between an answer and their next turn: `2s`, or `exp:2s`
    /// (exponential, that mean).
    #[arg(long, default_value = "0s", value_parser = crate::workload::Think::parse)]
    pub think_time: crate::workload::Think,
    /// multi-turn: fill the history with generated text instead of the server's real answers.
    #[arg(long)]
    pub synthetic_history: bool,
    /// Replay a request trace: Mooncake JSONL, BurstGPT CSV, or JSONL with `timestamp` (ms)
    /// and `prompt` or `input_tokens` (see docs/WORKLOADS.md). `throughput`: arrivals follow
    /// its times (no --rate); other commands use its requests in order.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// The trace's format (default: detected from its content).
    #[arg(long, value_parser = choice::<crate::workload::trace::TraceFormat>())]
    pub trace_format: Option<crate::workload::trace::TraceFormat>,
    /// Multiply the trace's time offsets (2: twice as slow, 0.5: twice as fast).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Skip the trace's first part (its own time), e.g. 10m.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub trace_start: std::time::Duration,
    /// Keep this much of the trace (its own time, from --trace-start).
    #[arg(long, value_parser = parse_duration)]
    pub trace_duration: Option<std::time::Duration>,
    /// Tokenizer: cl100k_base (default for synthetic datasets), o200k_base, a tokenizer.json,
    /// or a model name (org/name) found in the local Hugging Face cache (HF_HOME or
    /// ~/.cache/huggingface/hub; never downloaded). Also counts output tokens when the server
    /// reports no usage.
    #[arg(long, value_name = "NAME|FILE")]
    pub tokenizer: Option<String>,
    /// Seed of the dataset (and of arrival times). Omitted: a fresh one per run, recorded.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Sampling temperature (omitted: the server's default).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Ask the server to ignore end-of-sequence, so every request generates --max-tokens.
    #[arg(long)]
    pub ignore_eos: bool,
    /// Repeat prompts exactly (a warm prefix cache). Default: a unique prefix per request.
    #[arg(long)]
    pub warm_cache: bool,
    /// Nucleus sampling: `top_p` in every request.
    #[arg(long)]
    pub top_p: Option<f64>,
    /// `top_k` in every request (vLLM, SGLang, llama.cpp, Anthropic).
    #[arg(long)]
    pub top_k: Option<u32>,
    /// The sampling seed sent as `seed` (not the dataset's --seed).
    #[arg(long)]
    pub sampling_seed: Option<u64>,
    /// A stop sequence (repeatable): `stop`, or Anthropic's `stop_sequences`.
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    /// `min_tokens` in every request (vLLM, SGLang).
    #[arg(long)]
    pub min_tokens: Option<u32>,
    /// A JSON object merged into every request body last (any server-specific field), e.g.
    /// '{"chat_template_kwargs": {"enable_thinking": false}}'; @FILE reads it from a file.
    #[arg(long, value_name = "JSON|@FILE")]
    pub extra_body: Option<String>,
    /// A JSON file holding the tools list, in the API's own format; answers that call a tool
    /// are counted and timed as output.
    #[arg(long, value_name = "FILE")]
    pub tools: Option<PathBuf>,
    /// `auto`, `none`, `required`, or a tool's name (needs --tools).
    #[arg(long)]
    pub tool_choice: Option<String>,
    /// Ask for usage on every streamed chunk (vLLM's continuous_usage_stats): exact token
    /// counts per event, also for a stream cut short.
    #[arg(long)]
    pub continuous_usage: bool,
    /// --api embeddings: inputs per request.
    #[arg(long, default_value_t = 1)]
    pub batch_size: u32,
}

impl OutputArgs {
    /// No outputs, no targets.
    pub fn none() -> OutputArgs {
        OutputArgs {
            output: Vec::new(),
            quiet: true,
            targets: Vec::new(),
            max_error_rate: None,
            goodput: None,
            percentiles: None,
            config: None,
            shard: None,
            start_at: None,
        }
    }
}

impl RequestArgs {
    /// The built-in prompts of one size, with every other option at its default.
    pub fn builtin(prompt: PromptSize) -> RequestArgs {
        RequestArgs {
            prompt,
            dataset: "builtin".into(),
            input_tokens: 512.0,
            input_stddev: 0.0,
            output_tokens: None,
            output_stddev: 0.0,
            prefix_tokens: 1000,
            prefix_groups: 8,
            turns: 3,
            think_time: crate::workload::Think::Fixed(0.0),
            synthetic_history: false,
            trace: None,
            trace_format: None,
            time_scale: 1.0,
            trace_start: std::time::Duration::ZERO,
            trace_duration: None,
            tokenizer: None,
            seed: None,
            temperature: None,
            ignore_eos: false,
            warm_cache: false,
            top_p: None,
            top_k: None,
            sampling_seed: None,
            stop: Vec::new(),
            min_tokens: None,
            extra_body: None,
            tools: None,
            tool_choice: None,
            continuous_usage: false,
            batch_size: 1,
        }
    }
}

/// Resource monitoring while the load runs.
#[derive(Debug, Args, Clone, Default)]
pub struct MonitorArgs {
    /// Sample CPU and RSS of this server process (and its children) every second.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Scrape this Prometheus endpoint every second (default with the built-in simulator: its
    /// /metrics).
    #[arg(long, value_name = "URL")]
    pub metrics_url: Option<String>,
    /// Gauge to keep from --metrics-url (repeatable; default: vLLM, SGLang, llama.cpp and
    /// simulator queue and KV-cache gauges).
    #[arg(long = "metric", value_name = "NAME")]
    pub metrics: Vec<String>,
}

/// Output, targets and config: the same on every measuring command.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Write the result to FILE, in the format of its extension: .json (the full result),
    /// .jsonl (records, written as they complete), .md, .csv (requests, plus
    /// NAME.timeseries.csv), .html (report with charts). Repeatable.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Vec<PathBuf>,
    /// No progress output.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Requirement on the result, e.g. 'ttft.p95<=550ms', 'error_rate<1%', 'req_s>=130'
    /// (repeatable). Any failure: exit code 1.
    #[arg(long = "target", value_name = "EXPR")]
    pub targets: Vec<String>,
    /// Fail (exit 1) when the error rate exceeds this (5% or 0.05): `--target 'error_rate<=5%'`.
    #[arg(long, value_name = "RATE", value_parser = parse_fraction)]
    pub max_error_rate: Option<f64>,
    /// Count the requests that met every SLO, vLLM's syntax: 'ttft:500ms,tpot:50ms' (keys ttft,
    /// tpot, e2el; ms unless a unit is given). Goodput per second and as a fraction in the
    /// summary; targets `goodput` (req/s) and `goodput_ratio`.
    #[arg(long, value_name = "SLOS")]
    pub goodput: Option<String>,
    /// Percentiles reported, comma separated (default 50,90,95,99), e.g. 50,90,99,99.9; each
    /// with its 95% interval. Targets may name any percentile (`ttft.p99.9<=2s`).
    #[arg(long, value_delimiter = ',', value_name = "P,...")]
    pub percentiles: Option<Vec<f64>>,
    /// Read flags from a TOML file (keys as the long flags; command-line flags win).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Run part INDEX of COUNT of the plan (every COUNT-th arrival, request and user); default:
    /// from $LLMBENCH_SHARD/$LLMBENCH_SHARDS, $JOB_COMPLETION_INDEX, $SLURM_ARRAY_TASK_ID or
    /// $SLURM_PROCID. run, throughput and sweep only; merge the parts with `llmbench merge`.
    #[arg(long, value_name = "INDEX/COUNT")]
    pub shard: Option<String>,
    /// Start measuring at this wall-clock instant (RFC 3339, or +10s from now), so that shards
    /// share one t0.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
}

pub use crate::units::{parse_duration, parse_fraction};
pub use config::{config_key_of, expand_config};
