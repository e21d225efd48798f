//! What every measuring command shares: resolve the target, start monitoring, handle Ctrl-C,
//! and turn records into a result (summary, time series, monitor report, targets), then print
//! and write it. Commands stay recipes of their experiment.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use crate::cli::{MonitorArgs, OutputArgs, RequestArgs, TargetArgs};
use crate::metrics::targets::{self, Target as Requirement};
use crate::monitor::{Monitor, MonitorConfig};
use crate::record::{Clock, FailureKind, RequestRecord};
use crate::report::{self, console};
use crate::result::{BenchResult, Header, Level, Tool};
use crate::scheduler::{closed_loop, open_loop, ClosedLoop, Live, OpenLoop, Stop};
use crate::shard::{Shard, ShardInfo};
use crate::sink::Sink;
use crate::target::{self, Target};
use crate::workload::{BodyOptions, DatasetSpec, Workload};

/// Exit code of a run stopped with Ctrl-C (partial results are still reported).
pub const EXIT_INTERRUPTED: u8 = 130;
/// How long requests in flight may finish after Ctrl-C before they are cut.
pub const GRACE: Duration = Duration::from_secs(5);

/// Checks that need no server: run them before anything starts.
pub fn validate_output(out: &OutputArgs) -> anyhow::Result<Vec<Requirement>> {
    for p in &out.output {
        report::format_for(p)?;
    }
    targets::parse_all(&out.targets)
}

pub struct Session {
    pub target: Target,
    pub stop: Stop,
    pub live: Arc<Live>,
    pub clock: Clock,
    pub started_at: String,
    pub quiet: bool,
    /// Connections opened before measuring.
    max_connections: usize,
    /// This process's part of the plan (`--shard` or the engine's environment).
    pub shard: Option<Shard>,
    monitor_cfg: MonitorConfig,
    monitor: Option<Monitor>,
    start_at: Option<chrono::DateTime<chrono::Utc>>,
    outputs: Option<(OutputArgs, String)>,
    shard_info: Option<ShardInfo>,
    sink: Option<Sink>,
}

impl Session {
    pub async fn open(
        targs: &TargetArgs,
        monitor: &MonitorArgs,
        stream: bool,
        max_connections: usize,
        quiet: bool,
    ) -> anyhow::Result<Session> {
        let target = target::resolve(targs, stream, max_connections).await?;
        if !quiet {
            eprintln!(
                "target: {} (model {})",
                target.describe(),
                target.info.model
            );
        }
        let metrics_url = monitor.metrics_url.clone().or_else(|| {
            target
                .sim
                .as_ref()
                .map(|s| format!("http://{}/metrics", s.addr))
        });
        Ok(Session {
            target,
            stop: ctrl_c_stop(quiet),
            live: Arc::new(Live::default()),
            clock: Clock::start(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            quiet,
            max_connections,
            shard: None,
            monitor_cfg: MonitorConfig {
                server_pid: monitor.server_pid,
                metrics_url,
                metrics: monitor.metrics.clone(),
            },
            monitor: None,
            start_at: None,
            outputs: None,
            shard_info: None,
            sink: None,
        })
    }

    /// Start measuring: wait for `--start-at`, start the clock and the monitor, open the live
    /// outputs, and fix the plan's identity (for shards). Call right before the first request.
    pub async fn begin(&mut self, config: &serde_json::Value) -> anyhow::Result<()> {
        // Connections first: their setup must not land in the measured window.
        if self.max_connections > 1 {
            self.target.client.prewarm(self.max_connections).await;
        }
        let lag = match self.start_at {
            Some(at) => {
                if !self.quiet {
                    eprintln!(
                        "waiting for the start at {}",
                        at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    );
                }
                Some(crate::shard::wait_until(at).await)
            }
            None => None,
        };
        self.clock = match lag {
            Some(l) => Clock::started_ago(l),
            None => Clock::start(),
        };
        self.started_at = match self.start_at {
            Some(at) => at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            None => chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        };
        self.monitor = Some(Monitor::start(self.monitor_cfg.clone(), self.clock));
        let (out, command) = self
            .outputs
            .clone()
            .unwrap_or_else(|| (OutputArgs::none(), String::new()));
        let target = serde_json::to_value(&self.target.info).unwrap_or_default();
        if self.shard.is_some() || self.start_at.is_some() {
            let (index, count, source) = self
                .shard
                .map_or((0, 1, "none"), |s| (s.index, s.count, s.source));
            self.shard_info = Some(ShardInfo {
                index,
                count,
                source: source.to_string(),
                plan_id: crate::shard::plan_id(&command, &target, config, count),
                start_at: self.start_at.is_some().then(|| self.started_at.clone()),
                start_lag_ms: lag.map(|l| l.as_secs_f64() * 1e3),
            });
        }
        if let Some(p) = out
            .output
            .iter()
            .find(|p| p.extension().and_then(|e| e.to_str()) == Some("jsonl"))
        {
            let header = Header {
                command: command.clone(),
                started_at: self.started_at.clone(),
                tool: Tool::default(),
                target: self.target.info.clone(),
                config: config.clone(),
                shard: self.shard_info.clone(),
            };
            self.sink = Some(Sink::create(p, &header)?);
        }
        Ok(())
    }

    /// Take the outputs, the shard and the start time of this command (checked now; used by
    /// [`Session::begin`]).
    pub fn with_sink(mut self, out: &OutputArgs, command: &str) -> anyhow::Result<Session> {
        if matches!(command, "stress" | "ttft" | "suite") && out.shard.is_some() {
            anyhow::bail!(
                "{command} stays single-process: --shard is for run, throughput and sweep"
            );
        }
        if !matches!(command, "stress" | "ttft" | "suite") {
            self.shard = Shard::resolve(out.shard.as_deref())?;
        }
        self.start_at = out
            .start_at
            .as_deref()
            .map(crate::shard::parse_start_at)
            .transpose()?;
        self.outputs = Some((out.clone(), command.to_string()));
        Ok(self)
    }

    /// Run a closed-loop phase of `w` against the target; records go to the live outputs.
    pub async fn run_closed(&self, phase: ClosedLoop, w: &Workload) -> Vec<RequestRecord> {
        let w = w.clone();
        closed_loop(
            phase,
            &self.target.client,
            self.clock,
            &self.stop,
            &self.live,
            move |i| w.body(i),
            |r| self.record(r),
        )
        .await
    }

    /// Run an open-loop plan of `w` against the target; records go to the live outputs.
    pub async fn run_open(&self, plan: &OpenLoop, w: &Workload) -> Vec<RequestRecord> {
        let w = w.clone();
        open_loop(
            plan,
            &self.target.client,
            self.clock,
            &self.stop,
            &self.live,
            move |i| w.body(i),
            |r| self.record(r),
        )
        .await
    }

    /// Show a completed record to the live outputs.
    pub fn record(&self, r: &RequestRecord) {
        if let Some(s) = &self.sink {
            s.write(r);
        }
    }

    pub fn samples(&self) -> Arc<std::sync::Mutex<Vec<crate::monitor::Sample>>> {
        self.monitor
            .as_ref()
            .map(Monitor::shared)
            .unwrap_or_default()
    }

    /// Bind a prepared workload to this target: its model, and its tokenizer for counting.
    pub fn bind(&mut self, mut w: Workload, req: &RequestArgs) -> anyhow::Result<Workload> {
        if self.shard.is_some() && req.seed.is_none() {
            anyhow::bail!("--shard needs --seed, so that every shard derives the same plan");
        }
        w.opts.model = self.target.info.model.clone();
        if req.tokenizer.is_some() {
            self.target.client.set_tokenizer(w.tokenizer.clone());
        }
        Ok(w)
    }

    /// Summarize the records into a result and stop the target.
    pub async fn finish(
        self,
        command: &str,
        config: serde_json::Value,
        records: Vec<RequestRecord>,
        requirements: &[Requirement],
        levels: Vec<Level>,
    ) -> BenchResult {
        let (from_s, to_s) = measured_window_s(&records);
        let monitor = match self.monitor {
            Some(m) => m.finish(from_s, to_s).await,
            None => {
                Monitor::start(self.monitor_cfg.clone(), self.clock)
                    .finish(0.0, 0.0)
                    .await
            }
        };
        let head = Header {
            command: command.to_string(),
            started_at: self.started_at.clone(),
            tool: Tool::default(),
            target: self.target.info.clone(),
            config,
            shard: self.shard_info.clone(),
        };
        let mut result = BenchResult::build(head, records, levels);
        result.targets = requirements
            .iter()
            .map(|r| r.evaluate(&result.summary, Some(&monitor)))
            .collect();
        result.monitor = Some(monitor);
        result.interrupted = self.stop.is_stopping();
        result.live_outputs = self.sink.iter().map(|s| s.path().to_path_buf()).collect();
        self.target.shutdown().await;
        result
    }
}

/// Seconds from t0 of the first measured send and the last measured completion.
pub fn measured_window_s(records: &[RequestRecord]) -> (f64, f64) {
    let m = records.iter().filter(|r| !r.warmup);
    let from = m.clone().map(|r| r.sent_ns).min().unwrap_or(0);
    let to = m.map(|r| r.done_ns).max().unwrap_or(0);
    (from as f64 / 1e9, to as f64 / 1e9)
}

/// Print the console text, write `--output`, and choose the exit code.
pub fn conclude(result: &BenchResult, text: String, out: &OutputArgs) -> anyhow::Result<ExitCode> {
    print!("{text}");
    if !result.targets.is_empty() {
        print!("{}", console::targets_table(&result.targets));
    }
    for p in &out.output {
        if !result.live_outputs.contains(p) {
            report::write(p, result)?;
        }
        if !out.quiet {
            eprintln!("result written to {}", p.display());
        }
    }
    let measured: Vec<&RequestRecord> = result.requests.iter().filter(|r| !r.warmup).collect();
    if !measured.is_empty()
        && measured.iter().all(|r| {
            r.error
                .as_ref()
                .is_some_and(|e| e.kind == FailureKind::Connect)
        })
    {
        eprintln!(
            "error: cannot connect to {}: every request failed to connect",
            result.target.url
        );
        return Ok(ExitCode::from(2));
    }
    if result.interrupted {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if !result.targets_passed() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// First Ctrl-C: stop scheduling, give requests in flight [`GRACE`] to finish, then cut them.
/// A second Ctrl-C exits at once.
pub fn ctrl_c_stop(quiet: bool) -> Stop {
    static STOP: std::sync::OnceLock<Stop> = std::sync::OnceLock::new();
    STOP.get_or_init(|| install_stop(quiet)).clone()
}

/// A stop request: Ctrl-C, or SIGTERM (what batch schedulers send).
async fn stop_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok(),
                t = term.recv() => t.is_some(),
            };
        }
    }
    tokio::signal::ctrl_c().await.is_ok()
}

/// The process's one signal handler (a suite's tiers share it).
fn install_stop(quiet: bool) -> Stop {
    let stop = Stop::new();
    let s = stop.clone();
    tokio::spawn(async move {
        if !stop_signal().await {
            return;
        }
        if !quiet {
            eprintln!(
                "\ninterrupted: no new requests; waiting up to {}s for those in flight, then reporting (Ctrl-C again to quit now)",
                GRACE.as_secs()
            );
        }
        s.scheduling.cancel();
        tokio::select! {
            _ = tokio::time::sleep(GRACE) => s.in_flight.cancel(),
            r = stop_signal() => if r {
                std::process::exit(EXIT_INTERRUPTED as i32);
            },
        }
        if stop_signal().await {
            std::process::exit(EXIT_INTERRUPTED as i32);
        }
    });
    stop
}

/// Build the workload from local inputs only (files, tokenizer): before any connection, so that
/// a missing dataset is reported before an unreachable server. The model is bound later.
pub fn prepare(
    req: &RequestArgs,
    target: &TargetArgs,
    max_tokens: u32,
    stream: bool,
) -> anyhow::Result<Workload> {
    if let Some(t) = req.temperature {
        if !(t.is_finite() && t >= 0.0) {
            bail!("--temperature must be a number >= 0 (e.g. 0.7), not {t}");
        }
    }
    Workload::build(
        &dataset_spec(req),
        BodyOptions {
            api: target.api,
            model: String::new(),
            max_tokens,
            stream,
            temperature: req.temperature,
            ignore_eos: req.ignore_eos,
            include_usage: !target.no_include_usage,
        },
    )
}

pub fn positive(name: &str, v: u64) -> anyhow::Result<()> {
    if v == 0 {
        bail!("{name} must be at least 1");
    }
    Ok(())
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
        tokenizer: req.tokenizer.clone(),
        seed: req.seed,
        warm_cache: req.warm_cache,
    }
}

/// Record the dataset (name, parameters, seed, tokenizer, hash of the bodies sent) in a config.
pub fn annotate(config: &mut serde_json::Value, w: &Workload, records: &[RequestRecord]) {
    let mut ids: Vec<u64> = records.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    config["dataset"] = w.describe(ids);
}
