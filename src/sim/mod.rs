//! The simulated LLM server (`llmbench sim`): a continuous-batching performance model behind the
//! OpenAI and Anthropic wire formats, with fault injection. It is the embedded default target of
//! every command and the ground truth of our tests: its timings are known, so a test can check
//! that the client measures what the server imposed.
//!
//! [`start`] binds a listener (port 0 for a free one) and returns a [`SimHandle`] with the URL and
//! a way to stop it. The engine (step loop) is in `engine.rs`, the HTTP side in `routes.rs`.

pub mod engine;
pub mod fit;
mod fit_lines;
mod prefix_cache;
pub mod profile_file;
mod prometheus;
mod regression;
mod request;
mod respond;
pub mod routes;
pub mod virtual_time;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Model tiers shaped after the seed's 3B / 8B / 70B classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// 3B class: ~100 tok/s single stream.
    Small,
    /// 8B class: ~60 tok/s single stream.
    Medium,
    /// 70B class: ~20 tok/s single stream.
    Large,
    /// No delays and no limits: for measuring a client's own cost.
    Zero,
}

impl crate::units::Named for Profile {
    const ALL: &'static [Profile] = &[
        Profile::Small,
        Profile::Medium,
        Profile::Large,
        Profile::Zero,
    ];
    fn name(self) -> &'static str {
        Profile::name(self)
    }
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Small => "small",
            Profile::Medium => "medium",
            Profile::Large => "large",
            Profile::Zero => "zero",
        }
    }
}

/// Faults injected on purpose, to show that clients record them right.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Probability that a request is answered with `error_status` at once.
    pub error_rate: f64,
    pub error_status: u16,
    /// Pause this long in the middle of every stream.
    pub stall_ms: u64,
    /// Close the connection after this many tokens of a stream.
    pub drop_after_tokens: Option<u32>,
    /// Probability that a stream carries one invalid JSON chunk.
    pub malformed_rate: f64,
    /// The server dies when request N+1 arrives (standalone: the process exits).
    pub crash_after: Option<u64>,
    /// Delay before the response headers of every request.
    pub slow_start_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    pub profile: Profile,
    /// The model name reported by `/v1/models`; requests may name any model.
    pub model: String,
    pub max_num_seqs: usize,
    /// Waiting requests beyond this get 429.
    pub queue_limit: usize,
    /// KV cache budget in tokens; each running sequence reserves prompt + max_tokens.
    pub kv_tokens: u64,
    /// Prefill speed (0: instant).
    pub prefill_tok_s: f64,
    /// Fixed cost of starting a sequence's prefill, in ms.
    pub prefill_base_ms: f64,
    /// Prompt tokens prefilled per step at most (chunked prefill; 0: unlimited).
    pub max_batched_tokens: u64,
    pub decode_base_ms: f64,
    pub decode_per_seq_ms: f64,
    /// Added step time per thousand tokens of context (prompt + generated) held by the running
    /// sequences: attention's cost growing with the KV cache.
    #[serde(default)]
    pub decode_per_ktok_ms: f64,
    /// Steps vary as a real server's do: each step's modelled decode time is multiplied by a
    /// factor drawn from these quantiles (at evenly spaced probabilities from 0 to 1, linear
    /// between them; median about 1), seeded by `seed`. Empty: every step as modelled.
    #[serde(default)]
    pub step_jitter: Vec<f64>,
    /// A request waiting longer than this for a slot gets 504 (None: forever).
    pub request_timeout_ms: Option<u64>,
    /// Per-token probability of ending early with `stop` (unless the request sets ignore_eos).
    pub eos_prob: f64,
    pub seed: u64,
    /// Count prompt tokens with this tokenizer (cl100k_base, o200k_base, a tokenizer.json);
    /// None: one token per 4 bytes.
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// Reuse the prefill of prompt prefixes seen before (64-byte blocks); on by default but in
    /// the `zero` profile.
    #[serde(default)]
    pub prefix_caching: bool,
    /// Reasoning tokens at the start of every answer (chat, messages, responses).
    #[serde(default)]
    pub reasoning_tokens: u32,
    /// Tokens per streamed event (1: one event per token).
    #[serde(default = "one")]
    pub tokens_per_chunk: u32,
    /// Numbers per embedding vector.
    #[serde(default = "embedding_dim")]
    pub embedding_dim: usize,
    pub faults: Faults,
    /// The profile file the figures came from (`--profile-file`), if any.
    #[serde(default)]
    pub profile_file: Option<String>,
    /// Keep the server's own account of every token's timing ([`SimStats::log`]): what tests
    /// judge the client against.
    #[serde(default)]
    pub log_timings: bool,
    /// Send llama.cpp's `timings` in a stream's last chunk (chat, completions): the server's
    /// own account of each request, which a client's figures can be checked against.
    #[serde(default)]
    pub timings: bool,
}

fn one() -> u32 {
    1
}

fn embedding_dim() -> usize {
    384
}

impl SimConfig {
    pub fn profile(p: Profile) -> SimConfig {
        let (base, per_seq, prefill, prefill_base, seqs, kv) = match p {
            Profile::Zero => (0.0, 0.0, 0.0, 0.0, 65_536, u64::MAX / 4),
            Profile::Small => (9.75, 0.25, 4000.0, 5.0, 64, 262_144),
            Profile::Medium => (16.2, 0.47, 2500.0, 10.0, 48, 131_072),
            Profile::Large => (48.5, 1.5, 600.0, 30.0, 32, 65_536),
        };
        SimConfig {
            profile: p,
            model: format!("llmbench-sim-{}", p.name()),
            max_num_seqs: seqs,
            queue_limit: if p == Profile::Zero { 1 << 20 } else { 1024 },
            kv_tokens: kv,
            prefill_tok_s: prefill,
            prefill_base_ms: prefill_base,
            // The zero-delay server prefills every waiting prompt in one step (0: no cap).
            max_batched_tokens: if p == Profile::Zero { 0 } else { 2048 },
            decode_base_ms: base,
            decode_per_seq_ms: per_seq,
            decode_per_ktok_ms: 0.0,
            step_jitter: Vec::new(),
            profile_file: None,
            request_timeout_ms: None,
            eos_prob: 0.0,
            seed: 0,
            tokenizer: None,
            // Real servers cache prompt prefixes by default; the zero-delay server stays minimal.
            prefix_caching: p != Profile::Zero,
            faults: Faults {
                error_status: 500,
                ..Faults::default()
            },
            log_timings: false,
            timings: false,
            reasoning_tokens: 0,
            tokens_per_chunk: 1,
            embedding_dim: embedding_dim(),
        }
    }

    /// The seed of the simulator's `n`-th request (its text, early stops and faults).
    pub fn request_seed(&self, n: u64) -> u64 {
        self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// Reasoning tokens at the start of an answer on `api` (a completion never reasons).
    pub fn reasoning_for(&self, api: crate::protocol::Api) -> u32 {
        if api == crate::protocol::Api::Completions {
            0
        } else {
            self.reasoning_tokens
        }
    }

    /// What the simulator serves: its profile's name, or its profile file's path.
    pub fn label(&self) -> String {
        match &self.profile_file {
            Some(p) => format!("file {p}"),
            None => self.profile.name().to_string(),
        }
    }

    /// Predicted single-stream timing: (TTFT ms, ITL ms) for a prompt of `prompt_tokens`
    /// (assuming it fits one prefill chunk).
    pub fn predicted_single_stream(&self, prompt_tokens: u64) -> (f64, f64) {
        let step = self.decode_base_ms
            + self.decode_per_seq_ms
            + self.decode_per_ktok_ms * prompt_tokens as f64 / 1e3;
        let prefill = if self.prefill_tok_s > 0.0 {
            prompt_tokens as f64 / self.prefill_tok_s * 1e3
        } else {
            0.0
        };
        (step + self.prefill_base_ms + prefill, step)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let check = |ok: bool, msg: &str| {
            if ok {
                Ok(())
            } else {
                Err(anyhow::anyhow!("{msg}"))
            }
        };
        check(self.max_num_seqs >= 1, "--max-num-seqs must be at least 1")?;
        check(self.kv_tokens >= 1, "--kv-tokens must be at least 1")?;
        for (v, name) in [
            (self.prefill_tok_s, "--prefill-tok-s"),
            (self.prefill_base_ms, "--prefill-base-ms"),
            (self.decode_base_ms, "--decode-base-ms"),
            (self.decode_per_seq_ms, "--decode-per-seq-ms"),
            (self.decode_per_ktok_ms, "--decode-per-ktok-ms"),
        ] {
            check(
                v.is_finite() && v >= 0.0,
                &format!("{name} must be a number >= 0"),
            )?;
        }
        check(
            self.step_jitter.iter().all(|v| v.is_finite() && *v >= 0.0)
                && self.step_jitter.windows(2).all(|w| w[0] <= w[1]),
            "step_jitter must be factors >= 0 in increasing order (quantiles)",
        )?;
        for (v, name) in [
            (self.eos_prob, "--eos-prob"),
            (self.faults.error_rate, "--error-rate"),
            (self.faults.malformed_rate, "--malformed-rate"),
        ] {
            check(
                (0.0..=1.0).contains(&v),
                &format!("{name} must be between 0 and 1"),
            )?;
        }
        check(
            (400..=599).contains(&self.faults.error_status),
            "--error-status must be an HTTP error status (400-599)",
        )?;
        Ok(())
    }
}

/// Live counters, read by `/metrics`.
#[derive(Debug, Default)]
pub struct SimStats {
    pub running: AtomicU64,
    pub waiting: AtomicU64,
    pub kv_used: AtomicU64,
    pub prompt_tokens_total: AtomicU64,
    pub generation_tokens_total: AtomicU64,
    pub requests_received: AtomicU64,
    pub requests_by_status: Mutex<BTreeMap<u16, u64>>,
    /// With `log_timings`: what the server did, token by token.
    pub log: Mutex<ServerLog>,
}

/// The server's own timings: per sequence, queueing + prefill until the first token
/// (submitted → first token), and the gaps between its tokens, in ns.
#[derive(Debug, Default, Clone)]
pub struct ServerLog {
    pub ttft_ns: Vec<u64>,
    pub itl_ns: Vec<u64>,
}

impl SimStats {
    pub fn count_status(&self, status: u16) {
        let mut m = self
            .requests_by_status
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *m.entry(status).or_insert(0) += 1;
    }
}

/// What `crash_after` does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Stop listening and drop every connection (in-process servers, tests).
    StopServing,
    /// Exit the whole process (the standalone `llmbench sim`).
    ExitProcess,
}

/// A running simulator. Dropping the handle does not stop it; call [`SimHandle::stop`].
pub struct SimHandle {
    pub addr: SocketAddr,
    pub config: Arc<SimConfig>,
    pub stats: Arc<SimStats>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    /// The simulator's own runtime, when it has one ([`start_apart`]).
    runtime: Option<OwnRuntime>,
}

/// A runtime owned by a handle: shut down in the background when dropped (dropping a runtime
/// inside another one's task would panic).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// [`start`] on a runtime of its own, whose threads are named
/// [`crate::selfcheck::SIM_THREAD_PREFIX`]: the built-in target of the measuring commands, so
/// that the client's self-check does not count the simulator's CPU as the client's.
pub async fn start_apart(
    cfg: SimConfig,
    addr: SocketAddr,
    crash: CrashMode,
) -> anyhow::Result<SimHandle> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.div_ceil(2))
        .thread_name(crate::selfcheck::SIM_THREAD_PREFIX)
        .enable_all()
        .build()
        .context("starting the simulator's runtime")?;
    let mut handle = rt
        .spawn(start(cfg, addr, crash))
        .await
        .context("starting the simulator")??;
    handle.runtime = Some(OwnRuntime(Some(rt)));
    Ok(handle)
}

impl SimHandle {
    /// Base URL, ending in `/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Stop accepting, drop every connection, and wait for the listener to close.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }

    /// Resolves when the server stopped (by [`SimHandle::stop`] or a simulated crash).
    pub async fn stopped(&self) {
        self.shutdown.cancelled().await
    }
}

/// Start the simulator on `addr` (port 0: a free port).
pub async fn start(
    cfg: SimConfig,
    addr: SocketAddr,
    crash: CrashMode,
) -> anyhow::Result<SimHandle> {
    cfg.validate()?;
    let listener = listen(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let cfg = Arc::new(cfg);
    let stats = Arc::new(SimStats::default());
    let shutdown = CancellationToken::new();
    let (tx, rx) = mpsc::unbounded_channel();
    let engine = engine::Engine::new(cfg.clone(), stats.clone(), rx);
    std::thread::Builder::new()
        .name("llmbench-sim-engine".into())
        .spawn(move || engine.run())
        .context("starting the simulator's engine thread")?;
    let tokenizer = match &cfg.tokenizer {
        Some(t) => Some(crate::workload::Tokenizer::load(t)?),
        None => None,
    };
    let state = Arc::new(
        routes::AppState::new(cfg.clone(), stats.clone(), tx, shutdown.clone(), crash)
            .with_tokenizer(tokenizer),
    );
    let app = routes::router(state);
    let task = tokio::spawn(accept_loop(listener, app, shutdown.clone()));
    Ok(SimHandle {
        addr: local,
        config: cfg,
        stats,
        shutdown,
        task,
        runtime: None,
    })
}

/// A listener with a deep accept backlog, so that thousands of clients connecting at once are
/// not refused or delayed by SYN retries.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(8192)
}

async fn accept_loop(listener: TcpListener, app: axum::Router, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(_) => {
                // Out of file descriptors or similar: back off instead of spinning.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(app.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

/// Start `llmbench sim ARGS --port 0` from `binary` as a child process (its stdout piped) and
/// read the URL it prints: a server in another process, for benchmarks and shard tests.
pub fn spawn_child(
    binary: &std::path::Path,
    args: &[&str],
) -> anyhow::Result<(std::process::Child, String)> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(binary)
        .args(["sim", "--port", "0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {} sim", binary.display()))?;
    let mut line = String::new();
    let out = child.stdout.take().context("the sim's stdout")?;
    std::io::BufReader::new(out).read_line(&mut line)?;
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .with_context(|| format!("the sim printed no URL: {line:?}"))?
        .to_string();
    Ok((child, url))
}

/// Counter for ids and per-request seeds.
pub(crate) fn next(counter: &AtomicU64) -> u64 {
    counter.fetch_add(1, Ordering::Relaxed)
}
