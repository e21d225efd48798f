//! Live counters of a run in progress: what the request drivers update and the progress view
//! reads, while the records themselves are still being collected.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::record::RequestRecord;

/// Latencies kept between two looks of the progress view, at most.
const RECENT_MAX: usize = 65_536;

/// Counters shared by the drivers and the live progress view.
#[derive(Default)]
pub struct Live {
    pub sent: AtomicU64,
    pub completed: AtomicU64,
    pub failed: AtomicU64,
    pub output_tokens: AtomicU64,
    pub in_flight: AtomicI64,
    /// Scheduled, waiting for a concurrency slot.
    pub queued: AtomicI64,
    /// Warmup requests done (included in `completed` and `failed`).
    pub warmup: AtomicU64,
    pub peak_in_flight: AtomicI64,
    /// How late open-loop arrivals were handed on against their schedule (the client's own
    /// lateness: the wait for a concurrency slot comes after).
    pub send_lag: crate::selfcheck::LagHistogram,
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
        if rec.warmup {
            self.warmup.fetch_add(1, Ordering::Relaxed);
        }
        if rec.is_ok() {
            self.completed.fetch_add(1, Ordering::Relaxed);
            self.output_tokens
                .fetch_add(rec.output_tokens.unwrap_or(0), Ordering::Relaxed);
            if !rec.warmup {
                let mut r = self.recent.lock().unwrap_or_else(|e| e.into_inner());
                // Drained by the progress view each refresh; bounded when nobody looks (--quiet).
                if r.0.len() >= RECENT_MAX {
                    return;
                }
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
