//! The live progress view on stderr. On a TTY: a progress bar whose message (achieved vs target
//! req/s, tok/s, concurrency, latency percentiles, errors, CPU and memory) refreshes every two
//! seconds. Elsewhere (CI, pipes): the same figures as a plain line every 5 s. `--quiet`: nothing.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::metrics::live::Live;
use crate::metrics::percentile;
use crate::monitor::Sample;

#[derive(Debug, Clone, Copy)]
pub enum Span {
    /// The run lasts this long (open loop).
    Duration(Duration),
    /// The run sends this many requests.
    Requests(u64),
}

pub struct Progress {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    pub fn start(
        quiet: bool,
        span: Span,
        target_rate: Option<f64>,
        live: Arc<Live>,
        samples: Option<Arc<Mutex<Vec<Sample>>>>,
    ) -> Progress {
        Progress::start_showing(quiet, span, target_rate, live, samples, Shown::E2e)
    }

    /// The view of `ttft`: time to first token, and requests done of the total.
    pub fn start_ttft(quiet: bool, total: u64, live: Arc<Live>) -> Progress {
        Progress::start_showing(quiet, Span::Requests(total), None, live, None, Shown::Ttft)
    }

    fn start_showing(
        quiet: bool,
        span: Span,
        target_rate: Option<f64>,
        live: Arc<Live>,
        samples: Option<Arc<Mutex<Vec<Sample>>>>,
        shown: Shown,
    ) -> Progress {
        let stop = CancellationToken::new();
        if quiet {
            return Progress { stop, task: None };
        }
        let tty = std::io::stderr().is_terminal();
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let bar = tty.then(|| bar(span));
            let started = Instant::now();
            let every = Duration::from_secs(if tty { 2 } else { 5 });
            let mut window = Window::new(target_rate, &live, shown, span);
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            let mut next_report = Instant::now() + every;
            loop {
                tokio::select! {
                    _ = s.cancelled() => break,
                    _ = tick.tick() => {}
                }
                window.sample_concurrency(&live);
                if let Some(b) = &bar {
                    b.set_position(match span {
                        Span::Duration(_) => started.elapsed().as_secs(),
                        Span::Requests(_) => {
                            live.completed.load(Ordering::Relaxed)
                                + live.failed.load(Ordering::Relaxed)
                        }
                    });
                }
                if Instant::now() < next_report {
                    continue;
                }
                next_report += every;
                let mut msg = String::new();
                if matches!(span, Span::Duration(d) if started.elapsed() > d) {
                    msg = format!(
                        "draining: {} in flight, {} queued | ",
                        live.in_flight.load(Ordering::Relaxed).max(0),
                        live.queued.load(Ordering::Relaxed).max(0)
                    );
                }
                msg.push_str(&window.line(&live));
                if let Some(last) = samples
                    .as_ref()
                    .and_then(|s| s.lock().ok().and_then(|v| v.last().cloned()))
                {
                    msg.push_str(&resources(&last));
                }
                match &bar {
                    Some(b) => b.set_message(msg),
                    None => eprintln!("[{:>6.1}s] {msg}", started.elapsed().as_secs_f64()),
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        Progress {
            stop,
            task: Some(task),
        }
    }

    pub async fn finish(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// The bar: time for a duration, requests for a count.
fn bar(span: Span) -> ProgressBar {
    let (len, style) = match span {
        Span::Duration(d) => (
            d.as_secs().max(1),
            "{bar:30} {percent:>3}% ({elapsed_precise} / {duration_precise})\n{msg}",
        ),
        Span::Requests(n) => (
            n.max(1),
            "{bar:30} {pos}/{len} requests ({elapsed_precise})\n{msg}",
        ),
    };
    let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(4));
    if let Ok(st) = ProgressStyle::with_template(style) {
        b.set_style(st.progress_chars("█▓░"));
    }
    b
}

/// Which latency the view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    E2e,
    Ttft,
}

/// Rates since the last report, and the mean concurrency seen so far; counts since this view
/// started (a stress level's view counts its own level only).
struct Window {
    target_rate: Option<f64>,
    last: (Instant, u64, u64),
    /// Completed, failed and warmup before this view started.
    base: (u64, u64, u64),
    shown: Shown,
    span: Span,
    conc_sum: f64,
    conc_n: u64,
}

impl Window {
    fn new(target_rate: Option<f64>, live: &Live, shown: Shown, span: Span) -> Window {
        let done = live.completed.load(Ordering::Relaxed);
        let tokens = live.output_tokens.load(Ordering::Relaxed);
        Window {
            target_rate,
            last: (Instant::now(), done, tokens),
            base: (
                done,
                live.failed.load(Ordering::Relaxed),
                live.warmup.load(Ordering::Relaxed),
            ),
            shown,
            span,
            conc_sum: 0.0,
            conc_n: 0,
        }
    }

    fn sample_concurrency(&mut self, live: &Live) {
        self.conc_sum += live.in_flight.load(Ordering::Relaxed).max(0) as f64;
        self.conc_n += 1;
    }

    /// One progress line: rates, concurrency, recent latency, errors.
    fn line(&mut self, live: &Live) -> String {
        let done = live.completed.load(Ordering::Relaxed);
        let tokens = live.output_tokens.load(Ordering::Relaxed);
        let dt = self.last.0.elapsed().as_secs_f64().max(1e-9);
        let req_s = (done - self.last.1) as f64 / dt;
        let tok_s = (tokens - self.last.2) as f64 / dt;
        self.last = (Instant::now(), done, tokens);
        let failed = live.failed.load(Ordering::Relaxed) - self.base.1;
        let (e2e, ttft) = live.take_recent();
        let (mut v, what) = match self.shown {
            Shown::E2e => (e2e, "latency"),
            Shown::Ttft => (ttft, "TTFT"),
        };
        v.sort_by(f64::total_cmp);
        let lat = if v.is_empty() {
            format!("{what} -")
        } else {
            format!(
                "{what} p50/p95/p99 {:.0}/{:.0}/{:.0} ms",
                percentile(&v, 50.0),
                percentile(&v, 95.0),
                percentile(&v, 99.0)
            )
        };
        let rate = match self.target_rate {
            Some(t) => format!("req/s {req_s:.1} / {t:.1} target"),
            None => format!("req/s {req_s:.1}"),
        };
        let total = done - self.base.0 + failed;
        let of = match self.span {
            Span::Requests(n) => format!("{total}/{n} requests | "),
            Span::Duration(_) => String::new(),
        };
        let warm = live
            .warmup
            .load(Ordering::Relaxed)
            .saturating_sub(self.base.2);
        let warm = if warm > 0 {
            format!(" (incl. {warm} warmup)")
        } else {
            String::new()
        };
        let err_pct = if total > 0 {
            failed as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        format!(
            "{of}{rate} | tok/s {tok_s:.1} | concurrency {} (peak {}, avg {:.1}) | {lat} | errors {err_pct:.1}% ({failed}/{total}){warm}",
            live.in_flight.load(Ordering::Relaxed).max(0),
            live.peak_in_flight.load(Ordering::Relaxed),
            self.conc_sum / self.conc_n.max(1) as f64,
        )
    }
}

/// Client and server CPU and memory from the latest monitor sample.
fn resources(last: &Sample) -> String {
    let mut msg = format!(
        " | client CPU {:.0}% {:.0} MB",
        last.client_cpu_pct, last.client_rss_mb
    );
    if let (Some(c), Some(m)) = (last.server_cpu_pct, last.server_rss_mb) {
        msg.push_str(&format!(" | server CPU {c:.0}% {m:.0} MB"));
    }
    msg
}
