//! The arguments of each subcommand (the shared groups are in `mod.rs`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{
    choice, parse_duration, parse_fraction, MonitorArgs, OutputArgs, RequestArgs, TargetArgs,
};
use crate::scheduler::Arrival;
use crate::sim::Profile;
use crate::workload::PromptSize;

#[derive(Debug, Args, Clone)]
pub struct MergeArgs {
    /// Shard results (.json) or record files (.jsonl) of one plan.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Write the merged result (by extension: .json, .jsonl, .md, .csv, .html; repeatable).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Vec<PathBuf>,
    /// Requirement on the merged result (as on every command); a failure exits 1.
    #[arg(long = "target", value_name = "EXPR")]
    pub targets: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub engine: ClusterEngine,
}

#[derive(Debug, Subcommand, Clone)]
pub enum ClusterEngine {
    /// A submission script: a job array of shards, then the merge as a dependent job.
    Slurm(SlurmArgs),
    /// A Kubernetes Indexed Job of shards.
    K8s(K8sArgs),
}

#[derive(Debug, Args, Clone)]
pub struct SlurmArgs {
    #[arg(long)]
    pub shards: u32,
    /// Results directory, shared by every node.
    #[arg(long, default_value = "llmbench-results")]
    pub results: String,
    /// How far ahead of submission the shards start.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub lead: std::time::Duration,
    /// The llmbench binary on the nodes.
    #[arg(long, default_value = "llmbench")]
    pub binary: String,
    #[arg(long)]
    pub partition: Option<String>,
    /// The benchmark to shard: `-- throughput --url ... --seed 1 ...`.
    #[arg(last = true, required = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct K8sArgs {
    #[arg(long)]
    pub shards: u32,
    /// Container image with llmbench on its PATH.
    #[arg(long)]
    pub image: String,
    #[arg(long, default_value = "llmbench")]
    pub name: String,
    /// PersistentVolumeClaim (ReadWriteMany) for the results.
    #[arg(long, default_value = "llmbench-results")]
    pub pvc: String,
    /// How far ahead of now the shards start (the manifest must be applied before).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub lead: std::time::Duration,
    /// Kubernetes Secret holding the API key under `api-key` (passed to the shards as
    /// $OPENAI_API_KEY, or $ANTHROPIC_API_KEY with --api messages); never inline.
    #[arg(long, value_name = "NAME")]
    pub api_key_secret: Option<String>,
    /// An explicit start instant instead of --lead (RFC 3339).
    #[arg(long)]
    pub start_at: Option<String>,
    /// The benchmark to shard: `-- throughput --url ... --seed 1 ...`.
    #[arg(last = true, required = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Measured requests.
    #[arg(long, short = 'n', default_value_t = 5)]
    pub runs: u64,
    /// Warmup requests (not counted).
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// Maximum tokens to generate per request.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// Stream the response (the default: measures TTFT, ITL and TPOT).
    #[arg(long, overrides_with = "no_stream")]
    pub stream: bool,
    /// Whole responses, not streamed (then TTFT, ITL and TPOT are not measured).
    #[arg(long, overrides_with = "stream")]
    pub no_stream: bool,
    /// Requests in flight at once (closed loop); with `--dataset multi-turn`, users, each
    /// holding one conversation (alias --users).
    #[arg(long, short = 'c', visible_alias = "users", default_value_t = 1)]
    pub concurrency: usize,
}

#[derive(Debug, Args, Clone)]
pub struct ThroughputArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub monitor: MonitorArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Target arrival rate, requests per second; several (5,10,20,40) run one level each and
    /// give a load curve; `inf` sends --max-requests at once. With `--dataset multi-turn`, new
    /// sessions per second (alias --session-rate).
    #[arg(long, visible_alias = "session-rate", required_unless_present = "trace", conflicts_with = "trace", value_delimiter = ',', value_parser = crate::units::parse_rate)]
    pub rate: Vec<f64>,
    /// Measured duration (after the warmup).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: std::time::Duration,
    /// Warmup excluded from every figure: a duration (30s) or a request count (100).
    #[arg(long, default_value = "0")]
    pub warmup: String,
    /// At most this many requests in flight; later arrivals wait for a slot (recorded).
    #[arg(long)]
    pub max_concurrency: Option<usize>,
    /// Stop after this many arrivals (warmup included).
    #[arg(long)]
    pub max_requests: Option<u64>,
    /// After the last arrival, requests still queued or in flight get this long; then they are
    /// cut and recorded as timeouts.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub drain_timeout: std::time::Duration,
    /// Full records kept in memory for the result's `requests` (.json, .csv, .html charts);
    /// beyond them a request costs 64 bytes (plus 4 per token, up to 128 MB of inter-token
    /// gaps). Every record is still in every figure and in the .jsonl output.
    #[arg(long, default_value_t = crate::metrics::accumulate::KEEP_RECORDS)]
    pub keep_records: usize,
    /// Arrival process (seeded by --seed).
    #[arg(long, default_value = "poisson", value_parser = choice::<Arrival>())]
    pub arrival: Arrival,
    /// Gamma shape for --arrival gamma (1 = Poisson; < 1 burstier; > 1 smoother).
    #[arg(long, default_value_t = 1.0)]
    pub burstiness: f64,
    #[arg(long, default_value_t = 50)]
    pub max_tokens: u32,
    /// Do not stream (then TTFT and ITL are not measured).
    #[arg(long)]
    pub no_stream: bool,
    #[command(flatten)]
    pub ab: AbArgs,
}

#[derive(Debug, Args, Clone)]
pub struct SweepArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub monitor: MonitorArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Concurrency levels, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    pub concurrency: Vec<usize>,
    /// Requests per level (default: 4 × the level's concurrency, at least 8).
    #[arg(long, short = 'n')]
    pub runs: Option<u64>,
    /// Warmup requests per level (default: the level's concurrency).
    #[arg(long)]
    pub warmup: Option<u64>,
    #[arg(long, default_value_t = 128)]
    pub max_tokens: u32,
    /// Do not stream (then TTFT and ITL are not measured).
    #[arg(long)]
    pub no_stream: bool,
    #[command(flatten)]
    pub ab: AbArgs,
}

#[derive(Debug, Args, Clone)]
pub struct SuiteArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Measured requests per tier.
    #[arg(long, short = 'n', default_value_t = 3)]
    pub runs: u64,
    /// Warmup requests per tier.
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// Built-in prompt size (a tier may set its own).
    #[arg(long, default_value = "medium", value_parser = choice::<PromptSize>())]
    pub prompt: PromptSize,
    /// Stream the responses (the default: measures TTFT, ITL, TPOT).
    #[arg(long, overrides_with = "no_stream")]
    pub stream: bool,
    /// Whole responses, not streamed.
    #[arg(long, overrides_with = "stream")]
    pub no_stream: bool,
}

#[derive(Debug, Args, Clone)]
pub struct SimArgs {
    #[command(subcommand)]
    pub action: Option<SimAction>,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0: a free one, printed).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Model tier: small (~100 tok/s), medium (~60), large (~20) single stream.
    #[arg(long, default_value = "small", value_parser = choice::<Profile>())]
    pub profile: Profile,
    /// A profile file (TOML, from `llmbench sim fit` or by hand): its figures replace the
    /// --profile's; flags given here replace the file's.
    #[arg(long, value_name = "FILE")]
    pub profile_file: Option<PathBuf>,
    /// Model name reported by /v1/models.
    #[arg(long)]
    pub model: Option<String>,
    /// Sequences decoded together at most.
    #[arg(long)]
    pub max_num_seqs: Option<usize>,
    /// Waiting requests beyond this get HTTP 429.
    #[arg(long)]
    pub queue_limit: Option<usize>,
    /// KV cache budget in tokens (a sequence reserves prompt + max_tokens).
    #[arg(long)]
    pub kv_tokens: Option<u64>,
    /// Prefill speed in prompt tokens per second (0: instant).
    #[arg(long)]
    pub prefill_tok_s: Option<f64>,
    /// Fixed cost of starting a prefill, ms.
    #[arg(long)]
    pub prefill_base_ms: Option<f64>,
    /// Prompt tokens prefilled per step at most (chunked prefill; 0: unlimited).
    #[arg(long)]
    pub max_batched_tokens: Option<u64>,
    /// Fixed time of one decode step, ms.
    #[arg(long)]
    pub decode_base_ms: Option<f64>,
    /// Added step time per running sequence, ms.
    #[arg(long)]
    pub decode_per_seq_ms: Option<f64>,
    /// Added step time per thousand tokens of context held by the running sequences, ms.
    #[arg(long)]
    pub decode_per_ktok_ms: Option<f64>,
    /// A request waiting longer than this for a slot gets HTTP 504 (e.g. 30s).
    #[arg(long, value_parser = parse_duration)]
    pub request_timeout: Option<std::time::Duration>,
    /// Per-token probability of stopping early (unless the request sets ignore_eos); default 0.
    #[arg(long)]
    pub eos_prob: Option<f64>,
    /// Seed for text, early stops and faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Count prompt tokens with this tokenizer (cl100k_base, o200k_base, a tokenizer.json, or
    /// an org/name from the local Hugging Face cache); default: one token per 4 bytes.
    #[arg(long, value_name = "NAME|FILE")]
    pub tokenizer: Option<String>,
    /// Prefix caching (on by default, as in vLLM, SGLang and llama.cpp; off in the `zero`
    /// profile): prompt prefixes seen before need no prefill (reported as cached_tokens).
    #[arg(long, conflicts_with = "no_prefix_caching")]
    pub prefix_caching: bool,
    /// Turn prefix caching off.
    #[arg(long)]
    pub no_prefix_caching: bool,
    /// A reasoning model: the first N tokens of every answer are reasoning
    /// (`reasoning_content` on chat, thinking blocks on messages, reasoning items on
    /// responses), counted in usage's reasoning tokens; default 0.
    #[arg(long)]
    pub reasoning_tokens: Option<u32>,
    /// Tokens per streamed event (above 1: bundled, as with speculative decoding): an event
    /// waits until it holds this many; default 1.
    #[arg(long)]
    pub tokens_per_chunk: Option<u32>,
    /// Numbers per embedding vector (/v1/embeddings).
    #[arg(long, default_value_t = 384)]
    pub embedding_dim: usize,
    /// Fault: probability of answering a request with --error-status.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    #[arg(long, default_value_t = 500)]
    pub error_status: u16,
    /// Fault: pause this many ms in the middle of every response.
    #[arg(long, default_value_t = 0)]
    pub stall_ms: u64,
    /// Fault: close the connection after N tokens of each response.
    #[arg(long)]
    pub drop_after_tokens: Option<u32>,
    /// Fault: probability that a stream carries one invalid JSON chunk.
    #[arg(long, default_value_t = 0.0)]
    pub malformed_rate: f64,
    /// Fault: the process exits when request N+1 arrives.
    #[arg(long)]
    pub crash_after: Option<u64>,
    /// Fault: delay before every response's headers, ms.
    #[arg(long, default_value_t = 0)]
    pub slow_start_ms: u64,
    /// Send llama.cpp-style `timings` in a stream's last chunk (chat, completions): prompt_ms
    /// from the handler's receipt of the request to its first token written (queue +
    /// prefill), predicted_ms from the first to the last: the server's own account beside a
    /// client's TTFT.
    #[arg(long)]
    pub timings: bool,
    /// Read flags from a TOML file (keys as the long flags; command-line flags win).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand, Clone)]
pub enum SimAction {
    /// Fit the simulator to a real server: from results of sweep, throughput, capacity or run
    /// against it, write a profile file (TOML) that `llmbench sim --profile-file` serves.
    Fit(SimFitArgs),
}

#[derive(Debug, Args, Clone)]
pub struct SimFitArgs {
    /// Result files (.json or .jsonl) of streamed runs against one server; a sweep over
    /// several concurrency levels fits best.
    #[arg(required = true, value_name = "RESULT")]
    pub results: Vec<PathBuf>,
    /// Where to write the profile (default: print it).
    #[arg(long, short = 'o', value_name = "FILE.toml")]
    pub output: Option<PathBuf>,
    /// The server's own limit on sequences served at once (vLLM --max-num-seqs, llama.cpp
    /// --parallel), when the runs never reached it.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_num_seqs: Option<u64>,
    /// The server's tokenizer (tokenizer.json, cl100k_base, o200k_base): count prompts as it does.
    #[arg(long, value_name = "NAME|FILE")]
    pub tokenizer: Option<String>,
    /// Print only the profile, not the fit's account.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub monitor: MonitorArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    /// An objective every probe must meet, in --target's syntax: 'ttft.p95<=500ms',
    /// 'tpot.p95<=50ms', 'error_rate<1%', 'goodput_ratio>=90%' (repeatable, at least one).
    #[arg(long = "slo", value_name = "EXPR", required = true)]
    pub slos: Vec<String>,
    /// What to raise: the open-loop arrival rate, or the number of closed-loop users.
    #[arg(long, default_value = "rate", value_parser = choice::<crate::verdict::capacity::By>())]
    pub by: crate::verdict::capacity::By,
    /// Arrival process of rate probes.
    #[arg(long, default_value = "poisson", value_parser = choice::<Arrival>())]
    pub arrival: Arrival,
    /// Measured time of each probe (after a warmup of a fifth of it); once a level has missed,
    /// probes near the boundary are lengthened, up to four times, when a percentile needs more
    /// samples.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub probe_duration: std::time::Duration,
    /// Lowest and highest rate tried (req/s), with --by rate.
    #[arg(long, default_value_t = 1.0)]
    pub min_rate: f64,
    #[arg(long, default_value_t = 1000.0)]
    pub max_rate: f64,
    /// Lowest and highest number of users tried, with --by concurrency.
    #[arg(long, default_value_t = 1)]
    pub min_concurrency: usize,
    #[arg(long, default_value_t = 256)]
    pub max_concurrency: usize,
    /// Stop when the last level that met every SLO and the first that did not are this close
    /// (5% or 0.05).
    #[arg(long, default_value = "5%", value_parser = parse_fraction)]
    pub precision: f64,
    /// At most this many probes.
    #[arg(long, default_value_t = 20)]
    pub max_probes: usize,
    #[arg(long, default_value_t = 50)]
    pub max_tokens: u32,
    /// Do not stream (then TTFT and TPOT cannot be SLOs).
    #[arg(long)]
    pub no_stream: bool,
}

#[derive(Debug, Args, Clone)]
pub struct StressArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub monitor: MonitorArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Rate of the first level, requests per second.
    #[arg(long, default_value_t = 50.0)]
    pub start_rate: f64,
    /// Rate added at each level.
    #[arg(long, default_value_t = 20.0)]
    pub step: f64,
    /// Duration of each level.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub step_duration: std::time::Duration,
    /// Highest rate tried; reaching it unbroken is failure mode `none`.
    #[arg(long, default_value_t = 300.0)]
    pub max_rate: f64,
    /// At most this many requests in flight.
    #[arg(long, default_value_t = 150)]
    pub max_concurrency: usize,
    /// A level whose error rate exceeds this breaks the server (10% or 0.1).
    #[arg(long, default_value = "10%", value_parser = parse_fraction)]
    pub failure_threshold: f64,
    /// Stop the ramp after this long in all.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub max_duration: std::time::Duration,
    #[arg(long, default_value_t = 50)]
    pub max_tokens: u32,
    /// Arrival process within each level.
    #[arg(long, default_value = "constant", value_parser = choice::<Arrival>())]
    pub arrival: Arrival,
    /// The server's memory limit (a container's), for `oom`: RSS above 90% of it. Default:
    /// the machine's memory.
    #[arg(long)]
    pub memory_limit_mb: Option<f64>,
    /// The server's CPU limit in cores, for `resource_exhaustion`: CPU above 95% of it.
    /// Default: this machine's cores.
    #[arg(long)]
    pub cpu_limit_cores: Option<f64>,
    /// Do not stream.
    #[arg(long)]
    pub no_stream: bool,
}

#[derive(Debug, Args, Clone)]
pub struct TtftArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub monitor: MonitorArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Measured requests (per arm in an A/B).
    #[arg(long, default_value_t = 1000)]
    pub samples: u64,
    /// 20 samples, for a quick check.
    #[arg(long)]
    pub quick: bool,
    /// Warmup requests (per arm).
    #[arg(long, default_value_t = 10)]
    pub warmup: u64,
    #[arg(long, default_value_t = 50)]
    pub max_tokens: u32,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f64,
    /// Repeat prompts exactly (a warm prefix cache). Default: a unique prefix per request.
    #[arg(long)]
    pub warm_cache: bool,
    /// A stretch goal, shown beside the targets, e.g. 'p95<=400ms' (repeatable; never fails
    /// the exit code).
    #[arg(long = "stretch", value_name = "EXPR")]
    pub stretch: Vec<String>,
    #[command(flatten)]
    pub ab: AbArgs,
}

/// An A/B: the target (`--url`, the baseline) against a treatment server, or one server with
/// a command before each arm.
#[derive(Debug, Args, Clone, Default)]
pub struct AbArgs {
    /// The treatment server, against --url as the baseline (ttft: requests alternate one by
    /// one; sweep and throughput: each level runs on both, the order alternating by level).
    #[arg(long, value_name = "URL", help_heading = "A/B")]
    pub compare_url: Option<String>,
    /// Shell command run before each baseline phase (e.g. turning a feature flag off).
    #[arg(
        long,
        value_name = "CMD",
        requires = "treatment_cmd",
        help_heading = "A/B"
    )]
    pub baseline_cmd: Option<String>,
    /// Shell command run before each treatment phase.
    #[arg(
        long,
        value_name = "CMD",
        requires = "baseline_cmd",
        help_heading = "A/B"
    )]
    pub treatment_cmd: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct CompareArgs {
    /// Baseline result (.json).
    pub baseline: PathBuf,
    /// Treatment result (.json).
    pub treatment: PathBuf,
    /// Required change 'METRIC:CHANGE', e.g. 'ttft.p95:-10%' (at least 10% lower) or
    /// 'tok_s:+5%' (repeatable). Any unmet: exit 1.
    #[arg(long = "require", value_name = "METRIC:CHANGE")]
    pub require: Vec<String>,
    /// Write the comparison to FILE (.json).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Results measured with different settings (stream, max_tokens, dataset, API, model,
    /// rate, concurrency, command) are an error (exit 2), not a warning.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// The saved baseline result (.json).
    #[arg(long, value_name = "FILE")]
    pub baseline: PathBuf,
    /// The current result (.json).
    pub current: PathBuf,
    /// Allowed change in the worse direction, relative to the baseline (10% or 0.1).
    #[arg(long, default_value = "10%", value_parser = parse_fraction)]
    pub tolerance: f64,
    /// Allowed rise of the error rate, in percentage points (1pp: 0.5% may become 1.5%).
    #[arg(long, default_value = "1pp", value_parser = crate::units::parse_points)]
    pub error_rate_tolerance: f64,
    /// Results measured with different settings are an error (exit 2), not a warning.
    #[arg(long)]
    pub strict: bool,
    /// TOML file of tolerances: `tolerance = "10%"`, `error_rate_tolerance = "1pp"`, and
    /// `[metrics]` `"ttft.p95" = "5%"` (`"error_rate" = "2pp"`: points).
    #[arg(long, value_name = "FILE")]
    pub tolerances: Option<PathBuf>,
    /// Metrics to check (repeatable; default: TTFT, ITL, TPOT, E2E percentiles, tok/s, req/s,
    /// error rate, as both files hold them).
    #[arg(long = "metric", value_name = "NAME")]
    pub metrics: Vec<String>,
    /// Replace the baseline with the current result after printing the comparison (exit 0).
    #[arg(long)]
    pub update_baseline: bool,
    /// Write the check to FILE (.json).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct DatasetArgs {
    #[command(flatten)]
    pub request: RequestArgs,
    /// Requests to write.
    #[arg(long, default_value_t = 100)]
    pub num_prompts: u64,
    /// Output length of requests that do not set their own.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// The JSONL file to write ({"prompt"} or {"messages"}, and "max_tokens", per line).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// A result (.json) or a record file written during a run (.jsonl).
    pub input: PathBuf,
    /// Write an HTML report with charts.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write a Markdown report.
    #[arg(long, value_name = "FILE")]
    pub md: Option<PathBuf>,
    /// Write DIR/requests.csv and DIR/timeseries.csv.
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,
    /// Write the result as JSON (e.g. to turn a .jsonl record file into a result).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Any of the above, by extension (repeatable).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Vec<PathBuf>,
}
