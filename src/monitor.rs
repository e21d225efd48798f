//! Resource monitoring during a run, sampled every second: the client's own CPU and RSS, a
//! server process's (`--server-pid`, with its children), and gauges scraped from a Prometheus
//! endpoint (`--metrics-url`). Samples are kept in the result; the report derives averages,
//! peaks and the RSS slope ("memory stable, no continuous growth").

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use tokio_util::sync::CancellationToken;

use crate::record::Clock;

/// Gauges kept by default: vLLM's, SGLang's, llama.cpp's and the built-in simulator's queue and
/// KV-cache figures.
pub const DEFAULT_METRICS: &[&str] = &[
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "vllm:kv_cache_usage_perc",
    "vllm:gpu_cache_usage_perc",
    "sglang:num_running_reqs",
    "sglang:num_queue_reqs",
    "sglang:token_usage",
    "llamacpp:requests_processing",
    "llamacpp:requests_deferred",
    "llamacpp:kv_cache_usage_ratio",
    "llmbench_sim:num_requests_running",
    "llmbench_sim:num_requests_waiting",
    "llmbench_sim:kv_cache_usage_perc",
];

#[derive(Debug, Clone, Default)]
pub struct MonitorConfig {
    pub server_pid: Option<u32>,
    pub metrics_url: Option<String>,
    /// Gauge names to keep (empty: [`DEFAULT_METRICS`]).
    pub metrics: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sample {
    /// Seconds from the run's t0.
    pub t_s: f64,
    /// Percent of one core.
    pub client_cpu_pct: f64,
    pub client_rss_mb: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_pct: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_rss_mb: Option<f64>,
    /// False once the server process is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_alive: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gauges: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MonitorReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_url: Option<String>,
    pub total_memory_mb: f64,
    pub client_cpu_avg_pct: Option<f64>,
    pub client_rss_peak_mb: Option<f64>,
    pub server_cpu_avg_pct: Option<f64>,
    pub server_cpu_max_pct: Option<f64>,
    pub server_rss_peak_mb: Option<f64>,
    /// Least-squares slope of the server's RSS over the measured window (with --server-pid).
    pub rss_slope_mb_per_min: Option<f64>,
    /// The slope is positive and steady (R² ≥ 0.8, > 1 MB/min): memory keeps growing.
    pub memory_growing: bool,
    /// The server process disappeared during the run.
    pub server_exited: bool,
    pub samples: Vec<Sample>,
}

pub struct Monitor {
    cfg: MonitorConfig,
    samples: Arc<Mutex<Vec<Sample>>>,
    total_memory_mb: Arc<Mutex<f64>>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// CPU (% of one core) and RSS (MB) of this process, and of the server's process tree (`None`
/// inside: the server is gone).
#[allow(clippy::type_complexity)]
fn read_processes(
    mut s: System,
    own: Pid,
    server: Option<Pid>,
) -> (System, Option<(f64, f64)>, Option<Option<(f64, f64)>>) {
    let kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
    let which = match server {
        Some(_) => ProcessesToUpdate::All,
        None => ProcessesToUpdate::Some(&[own]),
    };
    s.refresh_processes_specifics(which, true, kind);
    s.refresh_memory();
    let own_usage = s
        .process(own)
        .map(|p| (p.cpu_usage() as f64, p.memory() as f64 / 1e6));
    let server_usage = server.map(|pid| tree(&s, pid));
    (s, own_usage, server_usage)
}

/// The wanted gauges of a Prometheus endpoint (none when it cannot be read).
async fn scrape(
    http: Option<&reqwest::Client>,
    url: Option<&str>,
    wanted: &[String],
) -> BTreeMap<String, f64> {
    let (Some(h), Some(url)) = (http, url) else {
        return BTreeMap::new();
    };
    match h.get(url).send().await {
        Ok(r) => parse_prometheus(&r.text().await.unwrap_or_default(), wanted),
        Err(_) => BTreeMap::new(),
    }
}

fn tree(sys: &System, root: Pid) -> Option<(f64, f64)> {
    let root_proc = sys.process(root)?;
    let mut children: HashMap<Pid, Vec<Pid>> = HashMap::new();
    for (pid, p) in sys.processes() {
        // On Linux the process list holds threads too; a process's own figures already
        // include its threads, so only processes are walked.
        if p.thread_kind().is_some() {
            continue;
        }
        if let Some(parent) = p.parent() {
            children.entry(parent).or_default().push(*pid);
        }
    }
    let (mut cpu, mut rss) = (root_proc.cpu_usage() as f64, root_proc.memory() as f64);
    let mut seen = HashSet::from([root]);
    let mut stack = children.get(&root).cloned().unwrap_or_default();
    while let Some(pid) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        if let Some(p) = sys.process(pid) {
            cpu += p.cpu_usage() as f64;
            rss += p.memory() as f64;
        }
        stack.extend(children.get(&pid).cloned().unwrap_or_default());
    }
    Some((cpu, rss / 1e6))
}

/// Sum the samples of each wanted gauge in Prometheus text (all label sets together).
pub fn parse_prometheus(text: &str, wanted: &[String]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        if !wanted.iter().any(|w| w == name) {
            continue;
        }
        let rest = match line[name_end..].rfind('}') {
            Some(i) => &line[name_end + i + 1..],
            None => &line[name_end..],
        };
        if let Some(v) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            *out.entry(name.to_string()).or_insert(0.0) += v;
        }
    }
    out
}

impl Monitor {
    pub fn start(cfg: MonitorConfig, clock: Clock) -> Monitor {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let total_memory_mb = Arc::new(Mutex::new(0.0));
        let stop = CancellationToken::new();
        let wanted: Vec<String> = if cfg.metrics.is_empty() {
            DEFAULT_METRICS.iter().map(|s| s.to_string()).collect()
        } else {
            cfg.metrics.clone()
        };
        let task = {
            let (cfg, samples, total, stop) = (
                cfg.clone(),
                samples.clone(),
                total_memory_mb.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_millis(900))
                    .build()
                    .ok();
                let own = Pid::from_u32(std::process::id());
                let server = cfg.server_pid.map(Pid::from_u32);
                let mut sys = Some(System::new());
                let mut first = true;
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tick.tick() => {}
                    }
                    let t_s = clock.now_ns() as f64 / 1e9;
                    let Some(s) = sys.take() else { return };
                    let Ok((s, own_usage, server_usage)) =
                        tokio::task::spawn_blocking(move || read_processes(s, own, server)).await
                    else {
                        return;
                    };
                    *total.lock().unwrap_or_else(|e| e.into_inner()) =
                        s.total_memory() as f64 / 1e6;
                    sys = Some(s);
                    let gauges = scrape(http.as_ref(), cfg.metrics_url.as_deref(), &wanted).await;
                    if first {
                        first = false; // CPU usage needs two readings
                        continue;
                    }
                    let (client_cpu_pct, client_rss_mb) = own_usage.unwrap_or((0.0, 0.0));
                    let sample = Sample {
                        t_s,
                        client_cpu_pct,
                        client_rss_mb,
                        server_cpu_pct: server_usage.flatten().map(|u| u.0),
                        server_rss_mb: server_usage.flatten().map(|u| u.1),
                        server_alive: server_usage.map(|u| u.is_some()),
                        gauges,
                    };
                    samples
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(sample);
                }
            })
        };
        Monitor {
            cfg,
            samples,
            total_memory_mb,
            stop,
            task,
        }
    }

    /// The samples so far (for the live progress view).
    pub fn shared(&self) -> Arc<Mutex<Vec<Sample>>> {
        self.samples.clone()
    }

    pub fn latest(&self) -> Option<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned()
    }

    /// Stop sampling and summarize over the measured window [from_s, to_s].
    pub async fn finish(self, from_s: f64, to_s: f64) -> MonitorReport {
        self.stop.cancel();
        let _ = self.task.await;
        let samples = std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()));
        let total_memory_mb = *self
            .total_memory_mb
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut r = MonitorReport::of(&samples, from_s, to_s, false);
        r.server_pid = self.cfg.server_pid;
        r.metrics_url = self.cfg.metrics_url.clone();
        r.total_memory_mb = total_memory_mb;
        r.samples = samples;
        r
    }
}

impl MonitorReport {
    /// The figures of the samples in [from_s, to_s] (peaks over every sample unless
    /// `peaks_in_window`); no samples kept, no identity.
    pub fn of(samples: &[Sample], from_s: f64, to_s: f64, peaks_in_window: bool) -> MonitorReport {
        let window: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.t_s >= from_s && s.t_s <= to_s + 1.0)
            .collect();
        let peaks: Vec<&Sample> = if peaks_in_window {
            window.clone()
        } else {
            samples.iter().collect()
        };
        let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let max = |v: Vec<f64>| v.into_iter().reduce(f64::max);
        let server_cpu: Vec<f64> = window.iter().filter_map(|s| s.server_cpu_pct).collect();
        let server_rss: Vec<(f64, f64)> = window
            .iter()
            .filter_map(|s| s.server_rss_mb.map(|r| (s.t_s, r)))
            .collect();
        // The client's memory grows with the records it keeps: only a server's slope means much.
        let (slope, r2) = slope_per_min(&server_rss);
        MonitorReport {
            server_pid: None,
            metrics_url: None,
            total_memory_mb: 0.0,
            client_cpu_avg_pct: mean(window.iter().map(|s| s.client_cpu_pct).collect()),
            client_rss_peak_mb: max(peaks.iter().map(|s| s.client_rss_mb).collect()),
            server_cpu_avg_pct: mean(server_cpu.clone()),
            server_cpu_max_pct: max(server_cpu),
            server_rss_peak_mb: max(peaks.iter().filter_map(|s| s.server_rss_mb).collect()),
            rss_slope_mb_per_min: slope,
            memory_growing: slope.is_some_and(|s| s > 1.0) && r2.is_some_and(|r| r >= 0.8),
            server_exited: peaks.iter().any(|s| s.server_alive == Some(false)),
            samples: Vec::new(),
        }
    }
}

/// Least-squares slope (MB per minute) and R² of (t_s, MB) points; None under 5 points.
pub fn slope_per_min(points: &[(f64, f64)]) -> (Option<f64>, Option<f64>) {
    if points.len() < 5 {
        return (None, None);
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx == 0.0 {
        return (None, None);
    }
    let slope = sxy / sxx;
    let r2 = if syy == 0.0 {
        0.0
    } else {
        sxy * sxy / (sxx * syy)
    };
    (Some(slope * 60.0), Some(r2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_gauges_are_summed_over_labels() {
        let text = "# HELP x\n# TYPE vllm:num_requests_running gauge\n\
                    vllm:num_requests_running{model_name=\"a\"} 3\n\
                    vllm:num_requests_running{model_name=\"b\"} 2.5\n\
                    vllm:num_requests_waiting 7 1700000000\n\
                    other_metric 9\n";
        let wanted: Vec<String> = DEFAULT_METRICS.iter().map(|s| s.to_string()).collect();
        let g = parse_prometheus(text, &wanted);
        assert_eq!(g.get("vllm:num_requests_running"), Some(&5.5));
        assert_eq!(g.get("vllm:num_requests_waiting"), Some(&7.0));
        assert!(!g.contains_key("other_metric"));
    }

    #[test]
    fn steady_growth_has_a_slope_and_flat_memory_does_not() {
        let growing: Vec<(f64, f64)> = (0..30)
            .map(|i| (i as f64, 100.0 + i as f64 * 0.5))
            .collect();
        let (s, r2) = slope_per_min(&growing);
        assert!((s.unwrap() - 30.0).abs() < 1e-9);
        assert!(r2.unwrap() > 0.99);
        let flat: Vec<(f64, f64)> = (0..30)
            .map(|i| (i as f64, 100.0 + (i % 2) as f64))
            .collect();
        assert!(slope_per_min(&flat).0.unwrap().abs() < 1.0);
    }
}
