//! Sessions in a closed loop (`--dataset multi-turn`): each user holds one conversation at a
//! time. Turn k+1 is sent only after turn k's answer has arrived and the user's think time has
//! passed, and its history carries the server's real answers (unless the history is
//! synthetic). A failed turn ends its conversation: the next one would have no answer to carry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Live, Stop};
use crate::client::Client;
use crate::record::{Clock, RequestRecord};
use crate::shard::Shard;
use crate::workload::{History, Think};

/// A trace's conversation: each turn's (request id, due offset s).
pub type TimedTurns = Vec<(u64, f64)>;

/// One phase of sessions: requests `first_id .. first_id + count`, conversation j holding
/// requests `first_id + j·turns ..` (the last one cut at `count`).
#[derive(Clone)]
pub struct SessionLoop {
    pub first_id: u64,
    pub count: u64,
    pub users: usize,
    pub turns: u64,
    pub think: Think,
    /// Seeds the think times.
    pub seed: u64,
    /// Carry the server's answers in the history (else the workload's generated text).
    pub real_history: bool,
    pub warmup: bool,
    pub level: Option<u32>,
    /// Keep only this shard's conversations (j mod N = index) and its share of the users.
    pub shard: Option<Shard>,
    /// In the open loop: when the conversation's first turn was due.
    pub scheduled_ns: Option<u64>,
    /// A trace's conversations: conversation j's turns as (request id, due offset in
    /// seconds from the run's start). Each turn waits for its time (not a think time) and
    /// for the previous answer.
    pub timed: Option<Arc<Vec<TimedTurns>>>,
}

impl SessionLoop {
    /// A conversation's id: unique across the phases of a run (their request ranges are
    /// disjoint), so no two phases share a conversation's prompts.
    fn conversation(&self, j: u64) -> u64 {
        self.first_id + j
    }
}

/// Run the sessions. `body(conversation, turn, history)` renders a turn (the history holds
/// the server's answers to the earlier turns, with real history); `on_record` sees each
/// record.
pub async fn session_loop<B, F>(
    plan: SessionLoop,
    client: &Client,
    clock: Clock,
    stop: &Stop,
    live: &Arc<Live>,
    body: B,
    mut on_record: F,
) -> Vec<RequestRecord>
where
    B: Fn(u64, u64, &mut History) -> Bytes + Send + Sync + 'static,
    F: FnMut(&RequestRecord) -> bool + Send,
{
    let turns = plan.turns.max(1);
    let conversations = plan.count.div_ceil(turns);
    let (stride, offset) = plan
        .shard
        .map_or((1, 0), |s| (s.count as u64, s.index as u64));
    let owned = conversations.saturating_sub(offset).div_ceil(stride);
    let users = plan.shard.map_or(plan.users, |s| s.users(plan.users));
    let workers = users.clamp(1, owned.max(1) as usize);
    let client = if plan.real_history {
        client.keeping_answers()
    } else {
        client.clone()
    };
    let (plan, body, next) = (Arc::new(plan), Arc::new(body), Arc::new(AtomicU64::new(0)));
    let (tx, rx) = mpsc::unbounded_channel();
    for _ in 0..workers {
        let (client, plan, body, next) = (client.clone(), plan.clone(), body.clone(), next.clone());
        let (tx, stop, live) = (tx.clone(), stop.clone(), live.clone());
        tokio::spawn(async move {
            loop {
                let j = next.fetch_add(1, Ordering::Relaxed) * stride + offset;
                if j >= conversations || stop.is_stopping() {
                    break;
                }
                let user = User {
                    plan: &plan,
                    client: &client,
                    clock,
                    stop: &stop,
                    live: &live,
                };
                if !user.converse(j, turns, &*body, &tx).await {
                    break;
                }
            }
        });
    }
    drop(tx);
    super::collect(rx, 0, &mut on_record).await
}

/// One user's view of the phase.
struct User<'a> {
    plan: &'a SessionLoop,
    client: &'a Client,
    clock: Clock,
    stop: &'a Stop,
    live: &'a Arc<Live>,
}

impl User<'_> {
    /// Conversation `j`, turn by turn; false when the run stops (or nobody collects).
    async fn converse<B>(
        &self,
        j: u64,
        turns: u64,
        body: &B,
        tx: &mpsc::UnboundedSender<RequestRecord>,
    ) -> bool
    where
        B: Fn(u64, u64, &mut History) -> Bytes,
    {
        let p = self.plan;
        let conv = p.conversation(j);
        let timed = p.timed.as_ref().and_then(|t| t.get(j as usize));
        let turns = timed.map_or(turns, |t| t.len() as u64);
        let mut history = History::default();
        for turn in 0..turns {
            let local = j * turns + turn;
            if timed.is_none() && local >= p.count {
                break;
            }
            let mut due = if turn == 0 { p.scheduled_ns } else { None };
            if let Some(&(_, off)) = timed.and_then(|t| t.get(turn as usize)) {
                // A trace's turn: at its time, or when the previous answer came if later.
                let mut at = (off * 1e9) as u64;
                if turn > 0 {
                    at = at.max(self.clock.now_ns());
                }
                due = Some(at);
                if !self.wait_until(at).await {
                    return false;
                }
            } else if turn > 0 {
                let pause = p.think.draw(p.seed, conv, turn);
                if !pause.is_zero()
                    && !self
                        .wait_until(self.clock.now_ns() + pause.as_nanos() as u64)
                        .await
                {
                    return false;
                }
            }
            if self.stop.is_stopping() {
                return false;
            }
            let b = body(conv, turn, &mut history);
            if let Some(due) = due {
                let late = self.clock.now_ns().saturating_sub(due);
                self.live.send_lag.add_ns(late);
            }
            self.live.on_send();
            let id = timed.map_or(p.first_id + local, |t| t[turn as usize].0);
            let mut rec = self
                .client
                .send(id, b, &self.clock, &self.stop.in_flight)
                .await;
            rec.warmup = p.warmup;
            rec.level = p.level;
            rec.conversation = Some(conv);
            rec.turn = Some(turn as u32);
            rec.scheduled_ns = due;
            let ok = rec.is_ok();
            if let Some(a) = rec.answer.take() {
                history.answers.push(a);
            }
            self.live.on_done(&rec);
            if tx.send(rec).is_err() {
                return false;
            }
            if !ok {
                break;
            }
        }
        true
    }

    /// Sleep until `at_ns` on the run's clock; false when the run stops scheduling first.
    async fn wait_until(&self, at_ns: u64) -> bool {
        if at_ns <= self.clock.now_ns() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(self.clock.instant_at(at_ns)) => true,
            _ = self.stop.scheduling.cancelled() => false,
        }
    }
}

/// Sessions in the open loop (`throughput --dataset multi-turn`): each arrival of `arrivals`
/// starts a conversation (the rate is new sessions per second), which then runs turn after
/// answered turn like a closed-loop user. Turn 0 keeps the arrival's schedule (its send lag
/// is the client's); later turns follow their answers. Waits for every conversation to end.
#[allow(clippy::too_many_arguments)] // the open loop's inputs, as `session_loop`'s
pub async fn session_arrivals<B, F>(
    plan: SessionLoop,
    arrivals: Vec<(u64, f64, bool)>,
    start_s: f64,
    client: &Client,
    clock: Clock,
    stop: &Stop,
    live: &Arc<Live>,
    body: B,
    mut on_record: F,
) -> Vec<RequestRecord>
where
    B: Fn(u64, u64, &mut History) -> Bytes + Send + Sync + 'static,
    F: FnMut(&RequestRecord) -> bool + Send,
{
    let turns = plan.turns.max(1);
    let client = if plan.real_history {
        client.keeping_answers()
    } else {
        client.clone()
    };
    let body = Arc::new(body);
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop2, live2) = (stop.clone(), live.clone());
    let dispatch = tokio::spawn(async move {
        for (j, off, warmup) in arrivals {
            let due = clock.instant_at(((start_s + off) * 1e9) as u64);
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = stop2.scheduling.cancelled() => break,
            }
            let mut p = plan.clone();
            p.warmup = warmup;
            p.count = u64::MAX;
            p.scheduled_ns = Some(((start_s + off) * 1e9) as u64);
            let (client, body, tx) = (client.clone(), body.clone(), tx.clone());
            let (stop, live) = (stop2.clone(), live2.clone());
            tokio::spawn(async move {
                let user = User {
                    plan: &p,
                    client: &client,
                    clock,
                    stop: &stop,
                    live: &live,
                };
                user.converse(j, turns, &*body, &tx).await;
            });
        }
    });
    let records = super::collect(rx, 0, &mut on_record).await;
    let _ = dispatch.await;
    records
}
