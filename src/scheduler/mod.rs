//! WHEN to send. Two drivers over the same client: the closed loop (N workers, each sends its
//! next request when its last one ends) and the open loop (arrivals at absolute offsets from
//! the run's start, at a target rate, optionally capped in concurrency).
//!
//! Both return every record in plan order and show each one to a callback as it completes
//! (progress, incremental output). Neither computes statistics.

mod closed;
mod open;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

pub use closed::{closed_loop, ClosedLoop};
pub use open::{arrival_offsets, open_loop, Arrival, OpenLoop, Warmup};

use crate::record::RequestRecord;

/// Gather the records the request tasks send, showing each to `on_record` as it arrives, until
/// every sender is gone; return them in plan order.
async fn collect(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<RequestRecord>,
    capacity: usize,
    on_record: &mut dyn FnMut(&RequestRecord),
) -> Vec<RequestRecord> {
    let mut records = Vec::with_capacity(capacity);
    while let Some(rec) = rx.recv().await {
        on_record(&rec);
        records.push(rec);
    }
    records.sort_by_key(|r| r.id);
    records
}

/// How a run is stopped early: first scheduling stops, then (after a grace period) the requests
/// still in flight are cut and recorded as `cancelled`.
#[derive(Clone, Default)]
pub struct Stop {
    pub scheduling: CancellationToken,
    pub in_flight: CancellationToken,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    pub fn is_stopping(&self) -> bool {
        self.scheduling.is_cancelled()
    }
}

/// Counters shared by the drivers and the live progress view.
#[derive(Default)]
pub struct Live {
    pub sent: AtomicU64,
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub output_tokens: AtomicU64,
    pub in_flight: AtomicI64,
    pub peak_in_flight: AtomicI64,
    /// E2E and TTFT (ms) of measured requests completed since the progress view last looked.
    recent: Mutex<(Vec<f64>, Vec<f64>)>,
}

impl Live {
    pub fn on_send(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::Relaxed);
    }

    pub fn on_done(&self, rec: &RequestRecord) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if rec.is_ok() {
            self.completed.fetch_add(1, Ordering::Relaxed);
            self.output_tokens
                .fetch_add(rec.output_tokens.unwrap_or(0), Ordering::Relaxed);
            if !rec.warmup {
                let mut r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
                r.0.push(rec.e2e_ms());
                if let Some(t) = rec.ttft_ms() {
                    r.1.push(t);
                }
            }
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Take the latencies recorded since the last call: (E2E ms, TTFT ms).
    pub fn take_recent(&self) -> (Vec<f64>, Vec<f64>) {
        std::mem::take(&mut *self.recent.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
