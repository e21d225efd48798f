//! The run engine every measuring command shares: from a plan's [`Common`] part, resolve the
//! target, start monitoring, hold the process's one Ctrl-C handler, stream records to the live
//! outputs, fix the shard's identity, and turn records into the result (summary, time series,
//! monitor report, targets). [`result`] is the one place a measured [`BenchResult`] is made.
//! Commands stay recipes of their experiment.

use std::sync::Arc;
use std::time::Duration;

use crate::metrics::accumulate::Keeper;
use crate::metrics::targets::Target as Requirement;
use crate::monitor::{Monitor, MonitorConfig, MonitorReport};
use crate::plan::{Common, OutputPlan};
use crate::record::{Clock, RequestRecord, Row};
use crate::result::{BenchResult, Header, Level, Tool};
use crate::scheduler::{
    closed_loop, open_loop, session_arrivals, session_loop, ClosedLoop, Live, OpenLoop,
    SessionLoop, Stop,
};
use crate::shard::{Shard, ShardInfo};
use crate::sink::Sink;
use crate::target::{self, Target};
use crate::workload::{History, Workload};

/// Renders a session's turn: (conversation, turn, its history so far).
type SessionBody = dyn Fn(u64, u64, &mut History) -> bytes::Bytes + Send + Sync;

/// What [`open_sessions`] plans.
type OpenSessions = (SessionLoop, Vec<(u64, f64, bool)>, Box<SessionBody>);

/// Exit code of a run stopped with Ctrl-C (partial results are still reported).
pub const EXIT_INTERRUPTED: u8 = 130;
/// How long requests in flight may finish after Ctrl-C before they are cut.
pub const GRACE: Duration = Duration::from_secs(5);

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
    command: &'static str,
    output: OutputPlan,
    /// The serialised plan (set by [`Session::begin`]).
    config: serde_json::Value,
    shard_info: Option<ShardInfo>,
    sink: Option<Sink>,
    /// The client's self-check, from [`Session::begin`] on.
    probe: Option<crate::selfcheck::Probe>,
    /// A long run's statistics, fed as records complete ([`Session::keep_records`]).
    keeper: Option<std::sync::Mutex<Keeper>>,
}

impl Session {
    /// Resolve the target of a plan (or start the built-in simulator) and get ready.
    pub async fn open(plan: &Common) -> anyhow::Result<Session> {
        let quiet = plan.output.quiet;
        let target = target::resolve(&plan.target, plan.stream, plan.max_connections).await?;
        if !quiet {
            eprintln!(
                "target: {} (model {})",
                target.describe(),
                target.info.model
            );
        }
        if let Some(url) = &plan.monitor.metrics_url {
            check_metrics_url(url).await?;
        }
        let metrics_url = plan.monitor.metrics_url.clone().or_else(|| {
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
            max_connections: plan.max_connections,
            shard: plan.output.shard,
            monitor_cfg: MonitorConfig {
                server_pid: plan.monitor.server_pid,
                metrics_url,
                metrics: plan.monitor.metrics.clone(),
            },
            monitor: None,
            start_at: plan.output.start_at,
            command: plan.command.name(),
            output: plan.output.clone(),
            config: serde_json::Value::Null,
            shard_info: None,
            sink: None,
            probe: None,
            keeper: None,
        })
    }

    /// Start measuring: wait for `--start-at`, start the clock and the monitor, open the live
    /// outputs, and fix the plan's identity (for shards). Call right before the first request.
    pub async fn begin(&mut self, config: serde_json::Value) -> anyhow::Result<()> {
        self.config = config;
        // Connections first: their setup must not land in the measured window.
        if self.max_connections > 1 && self.target.virtual_server.is_none() {
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
        self.probe = Some(crate::selfcheck::Probe::start());
        let command = self.command;
        let target = serde_json::to_value(&self.target.info).unwrap_or_default();
        if self.shard.is_some() || self.start_at.is_some() {
            let (index, count, source) = self
                .shard
                .map_or((0, 1, "none"), |s| (s.index, s.count, s.source));
            self.shard_info = Some(ShardInfo {
                index,
                count,
                source: source.to_string(),
                plan_id: crate::shard::plan_id(command, &target, &self.config, count),
                start_at: self.start_at.is_some().then(|| self.started_at.clone()),
                start_lag_ms: lag.map(|l| l.as_secs_f64() * 1e3),
            });
        }
        if let Some(p) = self
            .output
            .outputs
            .iter()
            .find(|p| p.extension().and_then(|e| e.to_str()) == Some("jsonl"))
        {
            self.sink = Some(Sink::create(p, &self.header())?);
        }
        Ok(())
    }

    /// The identity of this run (the JSONL header and the result's head).
    fn header(&self) -> Header {
        Header {
            command: self.command.to_string(),
            started_at: self.started_at.clone(),
            tool: Tool::default(),
            target: self.target.info.clone(),
            config: self.config.clone(),
            shard: self.shard_info.clone(),
        }
    }

    /// Run a closed-loop phase of `w` against the target; records go to the live outputs.
    pub async fn run_closed(&self, phase: ClosedLoop, w: &Workload) -> Vec<RequestRecord> {
        self.run_closed_on(&self.target.client, phase, w).await
    }

    /// [`Session::run_closed`] against another client (an A/B's treatment server).
    pub async fn run_closed_on(
        &self,
        client: &crate::client::Client,
        phase: ClosedLoop,
        w: &Workload,
    ) -> Vec<RequestRecord> {
        self.run_closed_with(client, phase, w, |_| {}).await
    }

    /// [`Session::run_closed_on`], showing each record to `observe` too (`run`'s lines). A
    /// multi-turn workload runs as sessions: each user holds a conversation, turn after
    /// answered turn.
    pub async fn run_closed_with(
        &self,
        client: &crate::client::Client,
        phase: ClosedLoop,
        w: &Workload,
        mut observe: impl FnMut(&RequestRecord) + Send,
    ) -> Vec<RequestRecord> {
        let w = w.clone();
        let on_record = |r: &RequestRecord| {
            observe(r);
            self.record(r)
        };
        if let Some(v) = &self.target.virtual_server {
            let mut v = v.lock().unwrap_or_else(|e| e.into_inner());
            return v.closed(&phase, |i| w.body(i), on_record);
        }
        if let Some((turns, sessions)) = w.sessions() {
            let plan = SessionLoop {
                first_id: phase.first_id,
                count: phase.count,
                users: phase.concurrency,
                turns,
                think: sessions.think,
                seed: w.seed,
                real_history: !sessions.synthetic_history,
                warmup: phase.warmup,
                level: phase.level,
                shard: phase.shard,
                scheduled_ns: None,
                timed: None,
            };
            let real = !sessions.synthetic_history;
            let body = move |conv, turn, h: &mut History| {
                w.turn_body(conv, turn, real.then_some(&h.answers[..]))
            };
            let (clock, stop, live) = (self.clock, &self.stop, &self.live);
            return session_loop(plan, client, clock, stop, live, body, on_record).await;
        }
        closed_loop(
            phase,
            client,
            self.clock,
            &self.stop,
            &self.live,
            move |i| w.body(i),
            on_record,
        )
        .await
    }

    /// Run an open-loop plan of `w` against the target; records go to the live outputs.
    pub async fn run_open(&self, plan: &OpenLoop, w: &Workload) -> Vec<RequestRecord> {
        self.run_open_on(&self.target.client, plan, w).await
    }

    /// [`Session::run_open`] against another client (an A/B's treatment server).
    pub async fn run_open_on(
        &self,
        client: &crate::client::Client,
        plan: &OpenLoop,
        w: &Workload,
    ) -> Vec<RequestRecord> {
        if let Some(v) = &self.target.virtual_server {
            let mut v = v.lock().unwrap_or_else(|e| e.into_inner());
            return v.open(plan, |i| w.body(i), |r| self.record(r));
        }
        let Some((p, arrivals, body)) = open_sessions(plan, w) else {
            let w = w.clone();
            return open_loop(
                plan,
                client,
                self.clock,
                &self.stop,
                &self.live,
                move |i| w.body(i),
                |r| self.record(r),
            )
            .await;
        };
        let (clock, stop, live) = (self.clock, &self.stop, &self.live);
        let on_record = |r: &RequestRecord| self.record(r);
        session_arrivals(
            p,
            arrivals,
            plan.start_s,
            client,
            clock,
            stop,
            live,
            body,
            on_record,
        )
        .await
    }

    /// Keep at most `cap` full records (and the first failure of each kind); count every one
    /// in bounded form. For runs of any length (`throughput --keep-records`).
    pub fn keep_records(&mut self, cap: usize) {
        self.keeper = Some(std::sync::Mutex::new(Keeper::new(cap)));
    }

    /// Show a completed record to the live outputs (and a long run's statistics); true when
    /// it is to be kept in full.
    pub fn record(&self, r: &RequestRecord) -> bool {
        if let Some(s) = &self.sink {
            s.write(r);
        }
        match &self.keeper {
            Some(k) => k.lock().unwrap_or_else(|e| e.into_inner()).offer(r),
            None => true,
        }
    }

    pub fn samples(&self) -> Arc<std::sync::Mutex<Vec<crate::monitor::Sample>>> {
        self.monitor
            .as_ref()
            .map(Monitor::shared)
            .unwrap_or_default()
    }

    /// Bind a planned workload to this target: its model, and its tokenizer for counting.
    pub fn bind(&mut self, w: &Workload, count_with_tokenizer: bool) -> Workload {
        let mut w = w.clone();
        w.opts.model = self.target.info.model.clone();
        if count_with_tokenizer {
            self.target.client.set_tokenizer(w.tokenizer.clone());
        }
        w
    }

    /// Summarize the records into the result (with the dataset actually sent recorded in its
    /// `config`) and stop the target.
    pub async fn finish(
        mut self,
        workload: &Workload,
        records: Vec<RequestRecord>,
        levels: Vec<Level>,
    ) -> BenchResult {
        let mut head = self.header();
        // The self-check ends with the run: what follows is bookkeeping, not the client's load.
        let probe_end = std::mem::take(&mut self.probe).map(crate::selfcheck::Probe::stop);
        // A long run that did not keep every record: its figures come from the keeper.
        let keeper = self
            .keeper
            .map(|k| k.into_inner().unwrap_or_else(|e| e.into_inner()))
            .filter(|k| k.omitted > 0);
        let rows: Vec<Row> = match &keeper {
            Some(_) => Vec::new(),
            None => records.iter().map(RequestRecord::row).collect(),
        };
        let rows = keeper.as_ref().map_or(rows.as_slice(), |k| k.acc.rows());
        let (from_s, to_s) = measured_window_s(rows);
        let monitor = match self.monitor {
            Some(m) => m.finish(from_s, to_s).await,
            None => {
                Monitor::start(self.monitor_cfg.clone(), self.clock)
                    .finish(0.0, 0.0)
                    .await
            }
        };
        annotate(&mut head.config, workload, rows);
        let tokens: u64 = rows
            .iter()
            .map(|r| r.output_tokens().unwrap_or(r.events as u64))
            .sum();
        let client = probe_end.map(|p| p.finish(tokens, &self.live.send_lag));
        let mut r = match keeper {
            Some(k) => {
                let omitted = k.omitted;
                let mut r = BenchResult::build_from(head, k.acc, records, levels);
                r.requests_omitted = omitted;
                judge(r, &self.output.requirements, Some(monitor))
            }
            None => result(
                head,
                records,
                levels,
                &self.output.requirements,
                Some(monitor),
            ),
        };
        r.interrupted = self.stop.is_stopping();
        // In virtual time the process's CPU is the simulation's, not a client's load.
        r.client = client.filter(|_| self.target.virtual_server.is_none());
        // An incomplete live file is not a live output: it is written again, whole, at the end.
        r.live_outputs = self
            .sink
            .iter()
            .filter(|s| !s.failed())
            .map(|s| s.path().to_path_buf())
            .collect();
        self.target.shutdown().await;
        r
    }
}

/// A result from its records: the summary, the levels, the monitor report, and the
/// requirements judged on the summary. The one place a measured result is built.
pub fn result(
    head: Header,
    records: Vec<RequestRecord>,
    levels: Vec<Level>,
    requirements: &[Requirement],
    monitor: Option<MonitorReport>,
) -> BenchResult {
    judge(
        BenchResult::build(head, records, levels),
        requirements,
        monitor,
    )
}

/// The requirements judged on a result's summary (and monitor report).
fn judge(
    mut result: BenchResult,
    requirements: &[Requirement],
    monitor: Option<MonitorReport>,
) -> BenchResult {
    let judged = result.judged_summary();
    result.targets = requirements
        .iter()
        .map(|r| r.evaluate(&judged, monitor.as_ref()))
        .collect();
    result.monitor = monitor;
    result
}

/// `--metrics-url` must answer with Prometheus text before the run starts.
async fn check_metrics_url(url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let resp = http.get(url).send().await.map_err(|e| {
        anyhow::anyhow!(
            "--metrics-url {url}: cannot reach it: {}",
            crate::client::error_chain(&e)
        )
    })?;
    let status = resp.status();
    if !status.is_success() {
        anyhow::bail!("--metrics-url {url}: HTTP {status}, not a Prometheus endpoint");
    }
    let text = resp.text().await.unwrap_or_default();
    let looks_like_prometheus = text.lines().any(|l| {
        let l = l.trim();
        l.starts_with("# TYPE") || l.starts_with("# HELP") || {
            let mut parts = l.rsplitn(2, ' ');
            let value = parts.next().unwrap_or("");
            parts.next().is_some() && value.parse::<f64>().is_ok() && !l.starts_with('{')
        }
    });
    if !looks_like_prometheus {
        anyhow::bail!(
            "--metrics-url {url}: the answer is not Prometheus text (e.g. vLLM's http://HOST:8000/metrics)"
        );
    }
    Ok(())
}

/// Seconds from t0 of the first measured send and the last measured completion.
pub fn measured_window_s(rows: &[Row]) -> (f64, f64) {
    let m = rows.iter().filter(|r| !r.warmup);
    let from = m.clone().map(|r| r.sent_ns).min().unwrap_or(0);
    let to = m.map(|r| r.done_ns).max().unwrap_or(0);
    (from as f64 / 1e9, to as f64 / 1e9)
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

/// Record the dataset (name, parameters, seed, tokenizer, hash of the bodies sent) in a config.
fn annotate(config: &mut serde_json::Value, w: &Workload, rows: &[Row]) {
    let mut ids: Vec<u64> = rows.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    config["dataset"] = w.describe(ids);
}

/// An open-loop plan whose arrivals start sessions (multi-turn, or a trace naming sessions):
/// the sessions' plan, the arrivals this shard owns (conversation index, offset s, warmup)
/// and the body of a turn. None for one request per arrival.
fn open_sessions(plan: &OpenLoop, w: &Workload) -> Option<OpenSessions> {
    let w = w.clone();
    let shard = plan.shard;
    let owned = move |j: u64| shard.is_none_or(|s| s.owns(j));
    let base = SessionLoop {
        first_id: plan.first_id,
        count: u64::MAX,
        users: 0,
        turns: 1,
        think: crate::workload::Think::Fixed(0.0),
        seed: w.seed,
        real_history: true,
        warmup: false,
        level: plan.level,
        shard: None,
        scheduled_ns: None,
        timed: None,
    };
    if let Some((turns, sessions)) = w.sessions() {
        // Multi-turn: each arrival starts a conversation, turn after answered turn.
        let p = SessionLoop {
            turns,
            think: sessions.think,
            real_history: !sessions.synthetic_history,
            ..base
        };
        let arrivals = (plan.arrivals().enumerate())
            .map(|(j, (off, warm))| (j as u64, off, warm))
            .filter(|a| owned(a.0))
            .collect();
        let real = p.real_history;
        let body = move |conv, turn, h: &mut History| {
            w.turn_body(conv, turn, real.then_some(&h.answers[..]))
        };
        return Some((p, arrivals, Box::new(body)));
    }
    // A trace's conversations: each turn at its time, after the previous answer.
    let groups = w.trace_sessions()?;
    let offsets = w.trace_offsets().unwrap_or_default();
    let timed = (groups.iter())
        .map(|g| {
            g.iter()
                .map(|&i| (plan.first_id + i as u64, plan.start_s + offsets[i]))
                .collect()
        })
        .collect();
    let arrivals = (groups.iter().enumerate())
        .map(|(j, g)| (j as u64, offsets[g[0]], false))
        .filter(|a| owned(a.0))
        .collect();
    let p = SessionLoop {
        timed: Some(Arc::new(timed)),
        ..base
    };
    let body = move |conv, turn, h: &mut History| w.trace_turn_body(conv, turn, h);
    Some((p, arrivals, Box::new(body)))
}
