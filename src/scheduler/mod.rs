//! WHEN to send. Two drivers over the same client: the closed loop (N workers, each sends its
//! next request when its last one ends) and the open loop (arrivals at absolute offsets from
//! the run's start, at a target rate, optionally capped in concurrency).
//!
//! Both show each record to a callback as it completes (progress, incremental output, the
//! statistics of a long run), which says whether to keep it, and return the kept records in
//! plan order. Neither computes statistics.

mod closed;
mod open;
mod sessions;

use tokio_util::sync::CancellationToken;

pub use closed::{closed_loop, ClosedLoop};
pub use open::{arrival_offsets, open_loop, Arrival, OpenLoop, Warmup};
pub use sessions::{session_arrivals, session_loop, SessionLoop};

pub use crate::metrics::live::Live;
use crate::record::RequestRecord;

/// Gather the records the request tasks send, showing each to `on_record` as it arrives, until
/// every sender is gone; return those it kept (`true`), in plan order.
async fn collect(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<RequestRecord>,
    capacity: usize,
    on_record: &mut (dyn FnMut(&RequestRecord) -> bool + Send),
) -> Vec<RequestRecord> {
    let mut records = Vec::with_capacity(capacity);
    while let Some(rec) = rx.recv().await {
        if on_record(&rec) {
            records.push(rec);
        }
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
