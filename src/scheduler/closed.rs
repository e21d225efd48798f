//! The closed loop: N workers, each sends its next request when its last one ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Live, Stop};
use crate::client::Client;
use crate::record::{Clock, RequestRecord};
use crate::shard::Shard;

/// One phase of a closed-loop run: requests `first_id .. first_id + count`.
pub struct ClosedLoop {
    pub first_id: u64,
    pub count: u64,
    pub concurrency: usize,
    pub warmup: bool,
    /// Level (sweep) or tier (suite) the records belong to.
    pub level: Option<u32>,
    /// Keep only this shard's part: requests i with i mod N = index, and its share of users.
    pub shard: Option<Shard>,
}

/// Run the phase. `body(id)` renders request `id`; `on_record` sees each record as it completes.
pub async fn closed_loop<B, F>(
    phase: ClosedLoop,
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
    let next = Arc::new(AtomicU64::new(0));
    let body = Arc::new(body);
    let (tx, rx) = mpsc::unbounded_channel();
    let (stride, offset) = phase
        .shard
        .map_or((1, 0), |s| (s.count as u64, s.index as u64));
    let owned = phase.count.saturating_sub(offset).div_ceil(stride);
    let users = phase
        .shard
        .map_or(phase.concurrency, |s| s.users(phase.concurrency));
    let workers = users.clamp(1, owned.max(1) as usize);
    for _ in 0..workers {
        let client = client.clone();
        let next = next.clone();
        let body = body.clone();
        let tx = tx.clone();
        let stop = stop.clone();
        let live = live.clone();
        let (first, count, warmup, level) =
            (phase.first_id, phase.count, phase.warmup, phase.level);
        tokio::spawn(async move {
            loop {
                if stop.is_stopping() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed) * stride + offset;
                if i >= count {
                    break;
                }
                let id = first + i;
                let b = body(id);
                live.on_send();
                let mut rec = client.send(id, b, &clock, &stop.in_flight).await;
                rec.warmup = warmup;
                rec.level = level;
                live.on_done(&rec);
                if tx.send(rec).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    super::collect(rx, phase.count as usize, &mut on_record).await
}
