//! The client's self-check: did the client, not the server, set the pace?
//!
//! Over a session the client measures its own cost and lateness: its CPU (the process's, less
//! the built-in simulator's threads), its peak RSS, how late arrivals were handed to the
//! runtime against their schedule (send lag, without the wait for a concurrency slot, which is
//! the server's doing), and how late a 10 ms ticker wakes on the client's runtime (event-loop
//! lag). [`ClientCheck`] holds the figures, `bound`, and the reasons in words.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// Thread names of the built-in simulator (its engine and its runtime): not the client's CPU.
pub const SIM_THREAD_PREFIX: &str = "llmbench-sim";

// The rules of docs/METHODOLOGY.md. Measured here on 2 cores: a relaxed run with both cores
// busy with other work shows send and loop lag p99 up to about 5 ms (the OS's scheduling), a
// client that cannot keep up hundreds of ms; the limits sit between.
/// Send lag p50 over this: most arrivals left late (the client is behind its schedule).
pub const SEND_LAG_P50_LIMIT_MS: f64 = 1.0;
/// Send lag p99 over this: arrivals left late.
pub const SEND_LAG_P99_LIMIT_MS: f64 = 10.0;
/// Event-loop lag p99 over this: responses are read late.
pub const LOOP_LAG_LIMIT_MS: f64 = 10.0;
/// CPU at this share of the cores the client may use: it has no room left.
pub const CPU_LIMIT_SHARE: f64 = 0.9;
const TICK: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClientCheck {
    /// The client's CPU per output token received, µs (the built-in simulator not counted).
    pub cpu_us_per_token: Option<f64>,
    /// The client's CPU over the session, % of one core.
    pub cpu_pct: f64,
    /// CPU seconds the client used over the session.
    pub cpu_s: f64,
    /// The session's wall time, s.
    pub window_s: f64,
    /// Cores the client may use (its CPU affinity and quota).
    pub cores: usize,
    /// Output tokens received in the session (warmup included).
    pub tokens: u64,
    /// The process's peak resident memory (the kernel's high-water mark), MB.
    pub rss_peak_mb: Option<f64>,
    /// How late arrivals were handed on against their schedule, p99 (open loop only; the
    /// wait for a concurrency slot not included).
    pub send_lag_p99_ms: Option<f64>,
    /// The same, p50.
    pub send_lag_p50_ms: Option<f64>,
    /// How late a 10 ms ticker woke on the client's runtime, p99.
    pub loop_lag_p99_ms: Option<f64>,
    /// The client, not the server, set the pace: the figures are the client's limit.
    pub bound: bool,
    /// Why `bound` is set, in words (empty when it is not).
    pub reasons: Vec<String>,
}

impl ClientCheck {
    /// The console's warning line, when bound.
    pub fn warning(&self) -> Option<String> {
        self.bound.then(|| {
            format!(
                "WARNING: client-bound: {}; shard the load (docs/scale-out.md)",
                self.reasons.join("; ")
            )
        })
    }

    /// Decide `bound` from the figures (the rules of docs/METHODOLOGY.md).
    fn judge(&mut self) {
        let mut reasons = Vec::new();
        let usable = self.cores as f64 * 100.0;
        if self.window_s >= 0.5 && self.cpu_pct >= CPU_LIMIT_SHARE * usable {
            reasons.push(format!(
                "client CPU {:.0}% of the {} core(s) it may use",
                self.cpu_pct, self.cores
            ));
        }
        if let Some(l) = self.send_lag_p50_ms.filter(|l| *l > SEND_LAG_P50_LIMIT_MS) {
            reasons.push(format!(
                "dispatch lag p50 {l:.1} ms (over {SEND_LAG_P50_LIMIT_MS} ms: most arrivals left late)"
            ));
        } else if let Some(l) = self.send_lag_p99_ms.filter(|l| *l > SEND_LAG_P99_LIMIT_MS) {
            reasons.push(format!(
                "dispatch lag p99 {l:.1} ms (over {SEND_LAG_P99_LIMIT_MS} ms: arrivals left late)"
            ));
        }
        if let Some(l) = self.loop_lag_p99_ms.filter(|l| *l > LOOP_LAG_LIMIT_MS) {
            reasons.push(format!(
                "event-loop lag p99 {l:.1} ms (over {LOOP_LAG_LIMIT_MS} ms: responses read late)"
            ));
        }
        self.bound = !reasons.is_empty();
        self.reasons = reasons;
    }
}

/// Latencies in buckets of 0.1 ms up to 100 ms, then of 10 ms up to 100 s (beyond: the last
/// bucket), lock-free; bounded in memory however long the run.
pub struct LagHistogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
}

const FINE_NS: u64 = 100_000;
const FINE: u64 = 1_000;
const COARSE_NS: u64 = 10_000_000;
const BUCKETS: usize = 1_000 + 10_000;

impl Default for LagHistogram {
    fn default() -> Self {
        LagHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
        }
    }
}

impl LagHistogram {
    pub fn add_ns(&self, ns: u64) {
        let i = if ns < FINE * FINE_NS {
            ns / FINE_NS
        } else {
            FINE + (ns - FINE * FINE_NS) / COARSE_NS
        };
        let i = (i as usize).min(BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The `q` quantile (0..1), ms: the upper edge of its bucket (never below the truth).
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                let i = i as u64 + 1;
                let edge_ns = if i <= FINE {
                    i * FINE_NS
                } else {
                    FINE * FINE_NS + (i - FINE) * COARSE_NS
                };
                return Some(edge_ns as f64 / 1e6);
            }
        }
        None
    }
}

/// The client's CPU time so far, ns: the process's, less the built-in simulator's threads.
pub fn client_cpu_ns() -> Option<u64> {
    let total = process_cpu_ns()?;
    Some(total.saturating_sub(sim_threads_cpu_ns()))
}

fn process_cpu_ns() -> Option<u64> {
    #[cfg(unix)]
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut u) == 0 {
            let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
            return Some(ns(u.ru_utime) + ns(u.ru_stime));
        }
    }
    None
}

/// CPU of this process's threads named [`SIM_THREAD_PREFIX`]… (Linux: from /proc).
fn sim_threads_cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut sum = 0;
    for t in dir.flatten() {
        let p = t.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        if !comm.starts_with(SIM_THREAD_PREFIX) {
            continue;
        }
        // schedstat's first field: time on the CPU, ns (stat's utime/stime are in ticks).
        if let Some(ns) = std::fs::read_to_string(p.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        {
            sum += ns;
        }
    }
    sum
}

/// The process's peak RSS so far, MB (the kernel's high-water mark).
pub fn rss_peak_mb() -> Option<f64> {
    #[cfg(unix)]
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut u) == 0 {
            // Linux reports KiB.
            return Some(u.ru_maxrss as f64 * 1024.0 / 1e6);
        }
    }
    None
}

/// Cores this process may run on.
pub fn usable_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What the self-check measures while a session runs.
pub struct Probe {
    started: std::time::Instant,
    cpu0: Option<u64>,
    loop_lag: Arc<LagHistogram>,
    stop: CancellationToken,
}

impl Probe {
    /// Start measuring (on the client's runtime).
    pub fn start() -> Probe {
        let loop_lag = Arc::new(LagHistogram::default());
        let stop = CancellationToken::new();
        let (hist, s) = (loop_lag.clone(), stop.clone());
        tokio::spawn(async move {
            let mut due = tokio::time::Instant::now() + TICK;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => {}
                    _ = s.cancelled() => return,
                }
                let now = tokio::time::Instant::now();
                hist.add_ns(now.saturating_duration_since(due).as_nanos() as u64);
                due = now + TICK;
            }
        });
        Probe {
            started: std::time::Instant::now(),
            cpu0: client_cpu_ns(),
            loop_lag,
            stop,
        }
    }

    /// Stop measuring: the session's window, CPU and peak memory end here.
    pub fn stop(self) -> Stopped {
        self.stop.cancel();
        Stopped {
            window_s: self.started.elapsed().as_secs_f64(),
            cpu_s: match (self.cpu0, client_cpu_ns()) {
                (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1e9,
                _ => 0.0,
            },
            rss_peak_mb: rss_peak_mb(),
            loop_lag: self.loop_lag,
        }
    }
}

/// A stopped [`Probe`]'s figures.
pub struct Stopped {
    window_s: f64,
    cpu_s: f64,
    rss_peak_mb: Option<f64>,
    loop_lag: Arc<LagHistogram>,
}

impl Stopped {
    /// The figures and the verdict. `tokens`: output tokens received; `send_lag`: the open
    /// loop's dispatch lags, if any.
    pub fn finish(self, tokens: u64, send_lag: &LagHistogram) -> ClientCheck {
        let (window_s, cpu_s) = (self.window_s, self.cpu_s);
        let mut c = ClientCheck {
            cpu_us_per_token: (tokens > 0).then(|| cpu_s * 1e6 / tokens as f64),
            cpu_pct: if window_s > 0.0 {
                cpu_s / window_s * 100.0
            } else {
                0.0
            },
            cpu_s,
            window_s,
            cores: usable_cores(),
            tokens,
            rss_peak_mb: self.rss_peak_mb,
            send_lag_p99_ms: send_lag.quantile_ms(0.99),
            send_lag_p50_ms: send_lag.quantile_ms(0.5),
            loop_lag_p99_ms: self.loop_lag.quantile_ms(0.99),
            bound: false,
            reasons: Vec::new(),
        };
        c.judge();
        c
    }
}

/// The self-check of parts run as one (shards, suite tiers), each with its label: summed CPU
/// and tokens, the worst lags and peak, and each part's reasons.
pub fn combine(parts: &[(String, &ClientCheck)]) -> Option<ClientCheck> {
    if parts.is_empty() {
        return None;
    }
    let cpu_s: f64 = parts.iter().map(|(_, c)| c.cpu_s).sum();
    let tokens: u64 = parts.iter().map(|(_, c)| c.tokens).sum();
    let max = |f: fn(&ClientCheck) -> Option<f64>| {
        parts
            .iter()
            .filter_map(|(_, c)| f(c))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    };
    let reasons: Vec<String> = parts
        .iter()
        .flat_map(|(i, c)| c.reasons.iter().map(move |r| format!("{i}: {r}")))
        .collect();
    Some(ClientCheck {
        cpu_us_per_token: (tokens > 0).then(|| cpu_s * 1e6 / tokens as f64),
        cpu_pct: parts.iter().map(|(_, c)| c.cpu_pct).fold(0.0, f64::max),
        cpu_s,
        window_s: parts.iter().map(|(_, c)| c.window_s).fold(0.0, f64::max),
        cores: parts.iter().map(|(_, c)| c.cores).max().unwrap_or(1),
        tokens,
        rss_peak_mb: max(|c| c.rss_peak_mb),
        send_lag_p99_ms: max(|c| c.send_lag_p99_ms),
        send_lag_p50_ms: max(|c| c.send_lag_p50_ms),
        loop_lag_p99_ms: max(|c| c.loop_lag_p99_ms),
        bound: !reasons.is_empty(),
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(cpu_pct: f64, send: Option<(f64, f64)>, lag: Option<f64>) -> ClientCheck {
        let mut c = ClientCheck {
            cpu_us_per_token: None,
            cpu_pct,
            cpu_s: 0.0,
            window_s: 10.0,
            cores: 2,
            tokens: 0,
            rss_peak_mb: None,
            send_lag_p50_ms: send.map(|s| s.0),
            send_lag_p99_ms: send.map(|s| s.1),
            loop_lag_p99_ms: lag,
            bound: false,
            reasons: Vec::new(),
        };
        c.judge();
        c
    }

    #[test]
    fn each_rule_names_its_reason() {
        // The jitter of a busy machine is not the client setting the pace.
        assert!(!check(120.0, Some((0.3, 4.6)), Some(4.4)).bound);
        let c = check(185.0, None, None);
        assert!(
            c.bound && c.reasons[0].contains("185% of the 2 core(s)"),
            "{c:?}"
        );
        let c = check(10.0, Some((0.3, 30.0)), None);
        assert!(
            c.bound && c.reasons[0].contains("dispatch lag p99 30.0 ms"),
            "{c:?}"
        );
        let c = check(10.0, Some((227.0, 600.0)), None);
        assert!(
            c.bound && c.reasons[0].contains("dispatch lag p50 227.0 ms"),
            "{c:?}"
        );
        let c = check(10.0, None, Some(12.0));
        assert!(c.bound && c.reasons[0].contains("event-loop lag p99 12.0 ms"));
        assert!(c
            .warning()
            .unwrap()
            .starts_with("WARNING: client-bound: event-loop"));
    }

    #[test]
    fn histogram_quantiles_are_bucket_upper_edges() {
        let h = LagHistogram::default();
        assert_eq!(h.quantile_ms(0.99), None);
        for i in 0..99 {
            h.add_ns(i * 1_000); // 0..98 µs: the first bucket
        }
        h.add_ns(2_345_000); // 2.345 ms
        assert_eq!(h.quantile_ms(0.5), Some(0.1));
        assert_eq!(h.quantile_ms(0.99), Some(0.1));
        assert_eq!(h.quantile_ms(1.0), Some(2.4));
        h.add_ns(345_678_000); // 345.678 ms: a 10 ms bucket
        assert_eq!(h.quantile_ms(1.0), Some(350.0));
        h.add_ns(u64::MAX);
        assert_eq!(h.quantile_ms(1.0), Some(100_100.0));
    }
}
