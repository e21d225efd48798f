//! The open loop: arrivals at absolute offsets from the run's start (`t0 + offset_i`, never
//! "sleep 1/rate", so no drift accumulates), at a target rate, constant or random but seeded.
//!
//! A dedicated OS thread keeps the schedule: it sleeps with the OS timer (tens of microseconds of
//! error, where the async timer has a 1 ms grain) and hands each arrival to the runtime. With
//! `max_concurrency`, an arrival waits for a slot (FIFO) and its record keeps `scheduled` and
//! `sent` apart; an arrival still waiting when the run is stopped is recorded as `dropped`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp, Gamma};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{Live, Stop};
use crate::client::Client;
use crate::record::{Clock, Failure, FailureKind, RequestRecord};
use crate::shard::Shard;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// Evenly spaced: one every 1/rate.
    Constant,
    /// Exponential gaps (a Poisson process).
    Poisson,
    /// Gamma gaps with shape `--burstiness` (1 = Poisson, < 1 burstier, > 1 smoother).
    Gamma,
}

impl crate::units::Named for Arrival {
    const ALL: &'static [Arrival] = &[Arrival::Constant, Arrival::Poisson, Arrival::Gamma];
    fn name(self) -> &'static str {
        match self {
            Arrival::Constant => "constant",
            Arrival::Poisson => "poisson",
            Arrival::Gamma => "gamma",
        }
    }
}

/// What is excluded from the statistics at the start of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Warmup {
    /// Arrivals scheduled before this offset.
    Duration(Duration),
    /// The first N arrivals.
    Count(u64),
}

impl Warmup {
    /// `30s`, `500ms` (a duration) or `100` (a count of requests).
    pub fn parse(s: &str) -> Result<Warmup, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<u64>() {
            return Ok(Warmup::Count(n));
        }
        crate::units::parse_duration(s).map(Warmup::Duration)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenLoop {
    /// Target arrivals per second.
    pub rate: f64,
    pub arrival: Arrival,
    pub burstiness: f64,
    pub seed: u64,
    pub max_concurrency: Option<usize>,
    /// Measured duration (after the warmup).
    pub duration: Duration,
    pub warmup: Warmup,
    /// Stop scheduling after this many arrivals (warmup included).
    pub max_requests: Option<u64>,
    /// Offset of the first arrival from the run's t0 (a stress level starts where the last
    /// one ended).
    #[serde(default)]
    pub start_s: f64,
    /// Id of the first request (ids continue across levels).
    #[serde(default)]
    pub first_id: u64,
    /// Level the records belong to (stress).
    #[serde(default)]
    pub level: Option<u32>,
    /// Keep only this shard's arrivals (i mod N = index); ids stay the plan's.
    #[serde(skip)]
    pub shard: Option<Shard>,
    /// After the last arrival, requests still queued or in flight get this long; then they are
    /// cut and recorded as timeouts (None: wait for every one).
    #[serde(default)]
    pub drain: Option<Duration>,
    /// A trace's arrival offsets (seconds, ascending), replacing the rate's arrivals.
    #[serde(skip)]
    pub offsets: Option<Arc<Vec<f64>>>,
}

/// The seeded arrival offsets, in seconds from the start. The first arrival is at 0.
pub fn arrival_offsets(
    rate: f64,
    arrival: Arrival,
    burstiness: f64,
    seed: u64,
) -> impl Iterator<Item = f64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let exp = Exp::new(rate).ok();
    let gamma = Gamma::new(burstiness.max(1e-6), 1.0 / (rate * burstiness.max(1e-6))).ok();
    let mut t = 0.0f64;
    let mut i = 0u64;
    std::iter::from_fn(move || {
        let now = match arrival {
            Arrival::Constant => i as f64 / rate,
            _ => t,
        };
        let gap = match arrival {
            Arrival::Constant => 0.0,
            Arrival::Poisson => exp.map_or(1.0 / rate, |e| e.sample(&mut rng)),
            Arrival::Gamma => gamma.map_or(1.0 / rate, |g| g.sample(&mut rng)),
        };
        t += gap;
        i += 1;
        Some(now)
    })
}

impl OpenLoop {
    /// The planned arrivals, generated as they are needed (a 24 h plan holds no list): (offset
    /// s, warmup?) up to the horizon.
    pub fn arrivals(&self) -> impl Iterator<Item = (f64, bool)> + Send + 'static {
        let (warmup, duration, max) = (self.warmup, self.duration.as_secs_f64(), self.max_requests);
        let mut horizon = match warmup {
            Warmup::Duration(w) => w.as_secs_f64() + duration,
            Warmup::Count(_) => f64::INFINITY,
        };
        let offsets: Box<dyn Iterator<Item = f64> + Send> = match &self.offsets {
            Some(o) => {
                let o = o.clone();
                Box::new((0..o.len()).map(move |i| o[i]))
            }
            None => Box::new(arrival_offsets(
                self.rate,
                self.arrival,
                self.burstiness,
                self.seed,
            )),
        };
        offsets
            .enumerate()
            .take_while(move |(i, _)| max.is_none_or(|m| (*i as u64) < m))
            .map_while(move |(i, off)| {
                let i = i as u64;
                let warm = match warmup {
                    Warmup::Duration(w) => off < w.as_secs_f64(),
                    Warmup::Count(k) => {
                        if i == k {
                            horizon = off + duration;
                        }
                        i < k
                    }
                };
                (off < horizon).then_some((off, warm))
            })
    }

    /// About how many arrivals the plan holds (to size buffers; at most 2^20).
    fn expected(&self) -> usize {
        let warm_s = match self.warmup {
            Warmup::Duration(w) => w.as_secs_f64(),
            Warmup::Count(_) => 0.0,
        };
        let n = self.rate * (warm_s + self.duration.as_secs_f64());
        let n = self.max_requests.map_or(n, |m| n.min(m as f64));
        (n.max(0.0) as usize).min(1 << 20)
    }
}

/// Run the plan. `body(id)` renders request `id` (its index in the plan).
pub async fn open_loop<B, F>(
    plan: &OpenLoop,
    client: &Client,
    clock: Clock,
    stop: &Stop,
    live: &Arc<Live>,
    body: B,
    mut on_record: F,
) -> Vec<RequestRecord>
where
    B: Fn(u64) -> Bytes + Send + Sync + 'static,
    F: FnMut(&RequestRecord) -> bool + Send,
{
    let shard = plan.shard;
    let arrivals = plan
        .arrivals()
        .enumerate()
        .map(|(i, a)| (i as u64, a))
        .filter(move |(i, _)| shard.is_none_or(|s| s.owns(*i)));
    let n = plan.expected() / plan.shard.map_or(1, |s| s.count as usize).max(1);
    let body = Arc::new(body);
    let sem = plan
        .max_concurrency
        .map(|c| Arc::new(Semaphore::new(c.max(1))));
    let (tx, rx) = mpsc::unbounded_channel::<RequestRecord>();
    let handle = tokio::runtime::Handle::current();
    let t0 = clock.instant_at(0).into_std() + Duration::from_secs_f64(plan.start_s);
    let drain = Drain::new(plan.drain, stop);
    let burst = plan.rate.is_infinite();
    let (start_ns, first_id, level) = ((plan.start_s * 1e9) as u64, plan.first_id, plan.level);
    {
        let (client, stop, live, tx) = (client.clone(), stop.clone(), live.clone(), tx.clone());
        std::thread::Builder::new()
            .name("llmbench-arrivals".into())
            .spawn(move || {
                let mut last_due = t0;
                for (id, (off, warmup)) in arrivals {
                    let due = t0 + Duration::from_secs_f64(off);
                    last_due = due;
                    let id = first_id + id;
                    // Rendered here, ahead of its due time: a costly body (a long trace
                    // prompt) delays no other request's task, and is late only if rendering
                    // falls behind the arrivals (then the send lag says so).
                    let b = body(id);
                    loop {
                        if stop.is_stopping() {
                            return;
                        }
                        let now = std::time::Instant::now();
                        if now >= due {
                            break;
                        }
                        // Sleep in slices so that a stop is seen within 50 ms.
                        std::thread::sleep((due - now).min(Duration::from_millis(50)));
                    }
                    let scheduled_ns = start_ns + (off * 1e9) as u64;
                    let task = Arrival1 {
                        client: client.clone(),
                        stop: stop.clone(),
                        live: live.clone(),
                        tx: tx.clone(),
                        sem: sem.clone(),
                        drain: drain.clone(),
                        clock,
                        level,
                        burst,
                    };
                    handle.spawn(async move { task.run(id, warmup, scheduled_ns, b).await });
                }
                // Every arrival handed on: the drain's clock starts at the last one's due time.
                drain.arm(last_due, &handle);
            })
            .expect("spawn the arrival thread");
    }
    drop(tx);
    super::collect(rx, n, &mut on_record).await
}

/// What one arrival's task needs.
struct Arrival1 {
    client: Client,
    stop: Stop,
    live: Arc<Live>,
    tx: mpsc::UnboundedSender<RequestRecord>,
    sem: Option<Arc<Semaphore>>,
    drain: Drain,
    clock: Clock,
    level: Option<u32>,
    /// Every arrival is due at once (`rate` infinite).
    burst: bool,
}

impl Arrival1 {
    /// Wait for a concurrency slot (if capped), send, and hand the record on.
    async fn run(self, id: u64, warmup: bool, scheduled_ns: u64, body: Bytes) {
        // A burst (`--rate inf`) has no schedule to keep: its dispatch is not lateness.
        if !self.burst {
            self.live
                .send_lag
                .add_ns(self.clock.now_ns().saturating_sub(scheduled_ns));
        }
        let permit = match &self.sem {
            Some(s) => {
                self.live.queued.fetch_add(1, Ordering::Relaxed);
                let p = tokio::select! {
                    p = s.clone().acquire_owned() => p.ok(),
                    _ = self.stop.scheduling.cancelled() => None,
                    _ = self.drain.cut.cancelled() => None,
                };
                self.live.queued.fetch_sub(1, Ordering::Relaxed);
                if p.is_none() {
                    let mut d = dropped(id, warmup, scheduled_ns, &self.clock);
                    d.level = self.level;
                    self.drain.relabel(&mut d);
                    let _ = self.tx.send(d);
                    return;
                }
                p
            }
            None => None,
        };
        self.live.on_send();
        let mut rec = self
            .client
            .send(id, body, &self.clock, &self.drain.cut)
            .await;
        drop(permit);
        self.drain.relabel(&mut rec);
        rec.scheduled_ns = Some(scheduled_ns);
        rec.warmup = warmup;
        rec.level = self.level;
        self.live.on_done(&rec);
        let _ = self.tx.send(rec);
    }
}

/// The end of a run's drain: requests still queued or in flight when it passes are cut (the
/// same token as Ctrl-C's second stage, which also cuts them).
#[derive(Clone)]
struct Drain {
    cut: CancellationToken,
    timed_out: Arc<std::sync::atomic::AtomicBool>,
    limit: Option<Duration>,
}

impl Drain {
    fn new(limit: Option<Duration>, stop: &Stop) -> Drain {
        Drain {
            cut: stop.in_flight.child_token(),
            timed_out: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            limit,
        }
    }

    /// Start the drain's clock: `limit` after the last arrival's due time, cut the rest.
    fn arm(&self, last_due: std::time::Instant, handle: &tokio::runtime::Handle) {
        let Some(d) = self.limit else {
            return;
        };
        let (cut, timed_out) = (self.cut.clone(), self.timed_out.clone());
        let deadline = tokio::time::Instant::from_std(last_due + d);
        handle.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    timed_out.store(true, Ordering::Relaxed);
                    cut.cancel();
                }
                _ = cut.cancelled() => {}
            }
        });
    }

    /// A request cut by the drain timeout is a timeout of the run, not the user's stop.
    fn relabel(&self, rec: &mut RequestRecord) {
        if !self.timed_out.load(Ordering::Relaxed) {
            return;
        }
        if let Some(e) = &mut rec.error {
            if matches!(e.kind, FailureKind::Cancelled | FailureKind::Dropped) {
                e.kind = FailureKind::Timeout;
                e.detail = format!(
                    "still {} {} s after the last arrival (--drain-timeout)",
                    if rec.sent_ns == rec.done_ns {
                        "queued"
                    } else {
                        "in flight"
                    },
                    self.limit.map_or(0.0, |d| d.as_secs_f64())
                );
            }
        }
    }
}

fn dropped(id: u64, warmup: bool, scheduled_ns: u64, clock: &Clock) -> RequestRecord {
    let now = clock.now_ns();
    RequestRecord {
        id,
        warmup,
        scheduled_ns: Some(scheduled_ns),
        sent_ns: now,
        done_ns: now,
        error: Some(Failure {
            kind: FailureKind::Dropped,
            http_status: None,
            detail: "never sent: the run stopped while it waited for a concurrency slot".into(),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_arrivals_are_evenly_spaced() {
        let v: Vec<f64> = arrival_offsets(4.0, Arrival::Constant, 1.0, 0)
            .take(5)
            .collect();
        assert_eq!(v, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    }

    #[test]
    fn poisson_gaps_pass_a_goodness_of_fit_test() {
        // Kolmogorov–Smirnov of 5,000 gaps against Exp(rate): D < 1.36/sqrt(n) at the 5% level.
        let rate = 50.0;
        let t: Vec<f64> = arrival_offsets(rate, Arrival::Poisson, 1.0, 42)
            .take(5001)
            .collect();
        let mut gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_by(f64::total_cmp);
        let n = gaps.len() as f64;
        let d = gaps
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let cdf = 1.0 - (-rate * g).exp();
                (cdf - i as f64 / n)
                    .abs()
                    .max(((i + 1) as f64 / n - cdf).abs())
            })
            .fold(0.0, f64::max);
        assert!(d < 1.36 / n.sqrt(), "KS D = {d}");
        let mean = gaps.iter().sum::<f64>() / n;
        assert!((mean * rate - 1.0).abs() < 0.05, "mean gap {mean}");
    }

    #[test]
    fn gamma_burstiness_changes_dispersion_not_rate() {
        let cv = |b: f64| {
            let t: Vec<f64> = arrival_offsets(100.0, Arrival::Gamma, b, 7)
                .take(20001)
                .collect();
            let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
            let n = gaps.len() as f64;
            let mean = gaps.iter().sum::<f64>() / n;
            let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / n;
            (mean, var.sqrt() / mean)
        };
        let (m_bursty, cv_bursty) = cv(0.25);
        let (m_smooth, cv_smooth) = cv(4.0);
        assert!((m_bursty * 100.0 - 1.0).abs() < 0.05 && (m_smooth * 100.0 - 1.0).abs() < 0.05);
        // CV of gamma gaps = 1/sqrt(shape): 2.0 and 0.5.
        assert!((cv_bursty - 2.0).abs() < 0.15, "{cv_bursty}");
        assert!((cv_smooth - 0.5).abs() < 0.05, "{cv_smooth}");
    }

    #[test]
    fn same_seed_same_plan() {
        let a: Vec<f64> = arrival_offsets(10.0, Arrival::Poisson, 1.0, 1)
            .take(100)
            .collect();
        let b: Vec<f64> = arrival_offsets(10.0, Arrival::Poisson, 1.0, 1)
            .take(100)
            .collect();
        let c: Vec<f64> = arrival_offsets(10.0, Arrival::Poisson, 1.0, 2)
            .take(100)
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn plan_marks_warmup_by_duration_or_count() {
        let mut p = OpenLoop {
            rate: 10.0,
            arrival: Arrival::Constant,
            burstiness: 1.0,
            seed: 0,
            max_concurrency: None,
            duration: Duration::from_secs(2),
            warmup: Warmup::Duration(Duration::from_secs(1)),
            max_requests: None,
            start_s: 0.0,
            first_id: 0,
            level: None,
            shard: None,
            drain: None,
            offsets: None,
        };
        let plan: Vec<(f64, bool)> = p.arrivals().collect();
        assert_eq!(plan.len(), 30);
        assert_eq!(plan.iter().filter(|(_, w)| *w).count(), 10);
        p.warmup = Warmup::Count(5);
        let plan: Vec<(f64, bool)> = p.arrivals().collect();
        assert_eq!(plan.iter().filter(|(_, w)| *w).count(), 5);
        assert_eq!(plan.len(), 25);
        p.max_requests = Some(7);
        assert_eq!(p.arrivals().count(), 7);
        // A day at a million arrivals a second: nothing is built up front.
        p.max_requests = None;
        p.rate = 1e6;
        p.duration = Duration::from_secs(86_400);
        let first: Vec<(f64, bool)> = p.arrivals().skip(4).take(2).collect();
        assert_eq!(first, vec![(4e-6, true), (5e-6, false)]);
        assert_eq!(p.expected(), 1 << 20);
        assert_eq!(
            Warmup::parse("30s").unwrap(),
            Warmup::Duration(Duration::from_secs(30))
        );
        assert_eq!(Warmup::parse("12").unwrap(), Warmup::Count(12));
    }
}
