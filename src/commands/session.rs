//! What every measuring command shares: resolve the target, start monitoring, handle Ctrl-C,
//! and turn records into a result (summary, time series, monitor report, targets), then print
//! and write it. Commands stay recipes of their experiment.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use crate::cli::{MonitorArgs, OutputArgs, RequestArgs, TargetArgs};
use crate::metrics::targets::{self, Target as Requirement};
use crate::metrics::timeseries;
use crate::metrics::Summary;
use crate::monitor::{Monitor, MonitorConfig};
use crate::record::{Clock, FailureKind, RequestRecord};
use crate::report::{self, console, BenchResult, Level, Tool, SCHEMA};
use crate::scheduler::{Live, Stop};
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
    monitor: Monitor,
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
        let clock = Clock::start();
        let monitor = Monitor::start(
            MonitorConfig {
                server_pid: monitor.server_pid,
                metrics_url,
                metrics: monitor.metrics.clone(),
            },
            clock,
        );
        Ok(Session {
            target,
            stop: ctrl_c_stop(quiet),
            live: Arc::new(Live::default()),
            clock,
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            quiet,
            monitor,
            sink: None,
        })
    }

    /// Start writing records to the `.jsonl` output (if any) as they complete.
    pub fn with_sink(mut self, out: &OutputArgs, command: &str) -> anyhow::Result<Session> {
        if let Some(p) = out
            .output
            .iter()
            .find(|p| p.extension().and_then(|e| e.to_str()) == Some("jsonl"))
        {
            let header = serde_json::json!({
                "command": command, "started_at": self.started_at, "tool": Tool::default(), "target": self.target.info,
            });
            self.sink = Some(Sink::create(p, header)?);
        }
        Ok(self)
    }

    /// Show a completed record to the live outputs.
    pub fn record(&self, r: &RequestRecord) {
        if let Some(s) = &self.sink {
            s.write(r);
        }
    }

    pub fn samples(&self) -> Arc<std::sync::Mutex<Vec<crate::monitor::Sample>>> {
        self.monitor.shared()
    }

    /// The workload for this target, from `--dataset` and friends. A tokenizer named with
    /// `--tokenizer` also counts output tokens when the server reports no usage.
    pub fn workload(
        &mut self,
        req: &RequestArgs,
        max_tokens: u32,
        stream: bool,
        include_usage: bool,
    ) -> anyhow::Result<Workload> {
        let spec = dataset_spec(req);
        let w = Workload::build(
            &spec,
            BodyOptions {
                api: self.target.info.api,
                model: self.target.info.model.clone(),
                max_tokens,
                stream,
                temperature: req.temperature,
                ignore_eos: req.ignore_eos,
                include_usage,
            },
        )?;
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
        let summary = Summary::from_records(&records);
        let (from_s, to_s) = measured_window_s(&records);
        let monitor = self.monitor.finish(from_s, to_s).await;
        let mut facts = summary.facts();
        facts.extend(monitor.facts());
        let outcomes = requirements.iter().map(|r| r.evaluate(&facts)).collect();
        let timeseries = timeseries::per_second(&records);
        let result = BenchResult {
            schema: SCHEMA.to_string(),
            tool: Tool::default(),
            command: command.to_string(),
            started_at: self.started_at,
            interrupted: self.stop.is_stopping(),
            config,
            target: self.target.info.clone(),
            summary,
            targets: outcomes,
            levels,
            timeseries,
            monitor: Some(monitor),
            stress: None,
            comparison: None,
            requests: records,
            live_outputs: self.sink.iter().map(|s| s.path().to_path_buf()).collect(),
        };
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
    let stop = Stop::new();
    let s = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
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
            r = tokio::signal::ctrl_c() => if r.is_ok() {
                std::process::exit(EXIT_INTERRUPTED as i32);
            },
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(EXIT_INTERRUPTED as i32);
        }
    });
    stop
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
