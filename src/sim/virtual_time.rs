//! `--virtual-time`: the simulator's engine, the load scheduler and an ideal client run in
//! simulated time: no sockets, no sleeping. A step of the engine moves the clock by its
//! duration; arrivals are placed at their due times; each request's record is what a client
//! with no cost of its own would have measured (sent when due, each event read the instant the
//! step that made it ended). A 10-minute open-loop run or a whole `capacity` search takes
//! seconds, and a test of scheduling, metrics and verdicts gives the same figures on any
//! machine, however busy.
//!
//! The engine is the one the real-time simulator runs ([`super::engine::Core`]); requests are
//! read by the simulator's own parser (prompt tokens, prefix cache) from the bodies the workload
//! renders, so the two agree but for the transport: loopback HTTP and the client's own time,
//! about a millisecond of TTFT on the development machine (docs/simulator.md).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::engine::{Core, Finish, Pending, Token};
use super::prefix_cache::PrefixCache;
use super::request::parse_request;
use super::SimConfig;
use crate::protocol::{anthropic, openai, Api};
use crate::record::{Failure, FailureKind, RequestRecord, TokenSource};
use crate::scheduler::{ClosedLoop, OpenLoop};
use crate::workload::Tokenizer;

/// A request in the engine, and its record as it grows.
struct Flight {
    rec: RequestRecord,
    /// Reasoning tokens at the start of the answer.
    reasoning: u32,
    generated: u32,
    /// Tokens since the last event (a chunk holds `tokens_per_chunk`).
    unsent: u32,
}

/// The simulated server and its clock, kept across the phases of one command (a sweep's levels
/// follow each other in simulated time).
pub struct VirtualServer {
    cfg: Arc<SimConfig>,
    core: Core<Flight>,
    /// Simulated time since the start, ns.
    now: u64,
    cache: Option<PrefixCache>,
    tokenizer: Option<Arc<Tokenizer>>,
    api: Api,
    stream: bool,
    /// The client's `--timeout`, ns (None: none).
    timeout: Option<u64>,
    received: u64,
}

impl VirtualServer {
    pub fn new(
        cfg: SimConfig,
        api: Api,
        stream: bool,
        timeout: Option<std::time::Duration>,
    ) -> anyhow::Result<VirtualServer> {
        cfg.validate()?;
        anyhow::ensure!(
            api != Api::Embeddings,
            "--virtual-time simulates generation: --api embeddings is not supported"
        );
        let tokenizer = match &cfg.tokenizer {
            Some(t) => Some(Tokenizer::load(t)?),
            None => None,
        };
        let cfg = Arc::new(cfg);
        Ok(VirtualServer {
            core: Core::new(cfg.clone()),
            cache: cfg.prefix_caching.then(PrefixCache::default),
            cfg,
            now: 0,
            tokenizer,
            api,
            stream,
            timeout: timeout.map(|t| t.as_nanos() as u64),
            received: 0,
        })
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Requests the server received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Take a request at the current time: into the engine's queue, or failed at once (a body
    /// the simulator refuses).
    fn submit(&mut self, mut rec: RequestRecord, body: &[u8]) -> Option<RequestRecord> {
        self.received += 1;
        if self.core.waiting.len() >= self.cfg.queue_limit {
            let why = "the request queue is full (--queue-limit)".to_string();
            return Some(failed(rec, self.now, 429, why));
        }
        let mut req = match parse_request(self.api, body, self.tokenizer.as_deref()) {
            Ok(r) => r,
            Err(msg) => return Some(failed(rec, self.now, 400, msg)),
        };
        if let Some(cache) = &mut self.cache {
            req.cached_tokens = cache.cached_tokens(&req);
        }
        rec.prompt_tokens = Some(req.prompt_tokens as u64);
        rec.cached_tokens = Some(req.cached_tokens as u64);
        let seed = self.cfg.request_seed(self.received);
        self.core.waiting.push_back(Pending {
            prompt_tokens: req.uncached_tokens(),
            context_tokens: req.prompt_tokens.max(1),
            max_tokens: req.max_tokens,
            ignore_eos: req.ignore_eos,
            seed,
            item: Flight {
                rec,
                reasoning: self.cfg.reasoning_for(self.api),
                generated: 0,
                unsent: 0,
            },
        });
        None
    }

    /// Requests in the engine: running or waiting (a refused one never enters).
    fn in_flight(&self) -> usize {
        self.core.running() + self.core.waiting.len()
    }

    fn busy(&self) -> bool {
        self.in_flight() > 0
    }

    /// Send a request now; one refused at once is a record already.
    fn send(
        &mut self,
        rec: RequestRecord,
        body: &[u8],
        out: &mut Vec<RequestRecord>,
        on_record: &mut impl FnMut(&RequestRecord) -> bool,
    ) {
        if let Some(r) = self.submit(rec, body) {
            keep(out, r, on_record);
        }
    }

    /// One engine step from now: admissions, the step's duration, its tokens. Returns the
    /// requests that ended.
    fn step(&mut self) -> Vec<RequestRecord> {
        let now = self.now;
        let mut ended = Vec::new();
        // The client gives up on a request waiting past its timeout (and the server forgets it).
        if let Some(t) = self.timeout {
            let mut kept = VecDeque::with_capacity(self.core.waiting.len());
            for p in self.core.waiting.drain(..) {
                if p.item.rec.sent_ns.saturating_add(t) <= now {
                    ended.push(timed_out(p.item.rec, t));
                } else {
                    kept.push_back(p);
                }
            }
            self.core.waiting = kept;
        }
        let stream = self.stream;
        self.core.admit(
            |f| {
                // A stream's headers go out when it starts; a whole answer's with its body.
                if stream {
                    f.rec.headers_ns = Some(now);
                }
                true
            },
            |f, need, budget| {
                let why = format!("request needs {need} KV tokens, the budget is {budget}");
                ended.push(failed(f.rec, now, 400, why));
            },
        );
        if self.core.running() == 0 {
            return ended;
        }
        self.now += self.core.plan_step().as_nanos() as u64;
        let (now, per_chunk, stream, api) = (
            self.now,
            self.cfg.tokens_per_chunk.max(1),
            self.stream,
            self.api,
        );
        let timeout = self.timeout.unwrap_or(u64::MAX);
        let mut done = Vec::new();
        self.core.emit(|f, token: Token| {
            if now > f.rec.sent_ns.saturating_add(timeout) {
                // Cut at its timeout: what came before is kept; the slot is freed.
                done.push(timed_out(std::mem::take(&mut f.rec), timeout));
                return false;
            }
            f.generated += 1;
            f.unsent += 1;
            if stream && f.generated == f.reasoning + 1 && f.unsent > 1 {
                // The reasoning's last chunk goes out before the answer's first token, as the
                // simulator sends it.
                f.rec.content_ns.push(now);
                f.unsent = 1;
            }
            if stream && (f.unsent >= per_chunk || token.finish.is_some()) {
                f.unsent = 0;
                f.rec.content_ns.push(now);
                if f.rec.first_answer_ns.is_none() && f.generated > f.reasoning {
                    f.rec.first_answer_ns = Some(now);
                }
            }
            if let Some(finish) = token.finish {
                done.push(finished(f, now, finish, api));
            }
            true
        });
        ended.extend(done);
        ended
    }

    /// A closed-loop phase: `concurrency` users, each sending its next request the instant its
    /// last one ended.
    pub fn closed(
        &mut self,
        phase: &ClosedLoop,
        body: impl Fn(u64) -> Bytes,
        mut on_record: impl FnMut(&RequestRecord) -> bool,
    ) -> Vec<RequestRecord> {
        let mut out = Vec::new();
        let mut next = 0u64;
        loop {
            while next < phase.count && self.in_flight() < phase.concurrency.max(1) {
                let id = phase.first_id + next;
                next += 1;
                let rec = self.record(id, phase.warmup, phase.level, None, self.now);
                self.send(rec, &body(id), &mut out, &mut on_record);
            }
            if !self.busy() {
                break;
            }
            for r in self.step() {
                keep(&mut out, r, &mut on_record);
            }
        }
        out
    }

    /// An open-loop phase: arrivals at their due times from now on (later ones wait for a slot
    /// when `max_concurrency` caps the requests in flight, and their wait is recorded).
    pub fn open(
        &mut self,
        plan: &OpenLoop,
        body: impl Fn(u64) -> Bytes,
        mut on_record: impl FnMut(&RequestRecord) -> bool,
    ) -> Vec<RequestRecord> {
        let base = self.now;
        let cap = plan.max_concurrency.unwrap_or(usize::MAX).max(1);
        let mut arrivals = plan.arrivals().enumerate().peekable();
        let mut held: VecDeque<(u64, u64, bool)> = VecDeque::new(); // (id, due, warmup)
        let mut out = Vec::new();
        loop {
            // Requests held for a slot are sent as one frees; arrivals due by now are sent at
            // their time (one within the step just taken waited for its end in the server's
            // queue), or held when every slot is taken.
            while self.in_flight() < cap {
                let Some((id, due, warm)) = held.pop_front() else {
                    break;
                };
                let rec = self.record(id, warm, plan.level, Some(due), self.now);
                self.send(rec, &body(id), &mut out, &mut on_record);
            }
            while let Some(&(i, (offset, warm))) = arrivals.peek() {
                let due = base + (offset * 1e9) as u64;
                if due > self.now {
                    break;
                }
                arrivals.next();
                let id = plan.first_id + i as u64;
                if self.in_flight() >= cap {
                    held.push_back((id, due, warm));
                    continue;
                }
                let rec = self.record(id, warm, plan.level, Some(due), due);
                self.send(rec, &body(id), &mut out, &mut on_record);
            }
            if !self.busy() {
                match arrivals.peek() {
                    Some(&(_, (offset, _))) => {
                        self.now = self.now.max(base + (offset * 1e9) as u64);
                        continue;
                    }
                    None if held.is_empty() => break,
                    None => continue,
                }
            }
            for r in self.step() {
                keep(&mut out, r, &mut on_record);
            }
        }
        out
    }

    fn record(
        &self,
        id: u64,
        warmup: bool,
        level: Option<u32>,
        scheduled: Option<u64>,
        sent: u64,
    ) -> RequestRecord {
        RequestRecord {
            id,
            warmup,
            level,
            scheduled_ns: scheduled,
            sent_ns: sent,
            ..Default::default()
        }
    }
}

/// Show a record to the session (live outputs, a long run's statistics); keep it in full
/// when the session says so.
fn keep(
    out: &mut Vec<RequestRecord>,
    r: RequestRecord,
    on_record: &mut impl FnMut(&RequestRecord) -> bool,
) {
    if on_record(&r) {
        out.push(r);
    }
}

fn failed(mut rec: RequestRecord, now: u64, status: u16, detail: String) -> RequestRecord {
    rec.done_ns = now;
    rec.headers_ns = Some(now);
    rec.error = Some(Failure {
        kind: FailureKind::Http,
        http_status: Some(status),
        detail,
    });
    rec
}

fn timed_out(mut rec: RequestRecord, timeout: u64) -> RequestRecord {
    rec.done_ns = rec.sent_ns.saturating_add(timeout);
    rec.error = Some(Failure {
        kind: FailureKind::Timeout,
        http_status: None,
        detail: "no complete response before the timeout".to_string(),
    });
    rec
}

fn finished(f: &mut Flight, now: u64, finish: Finish, api: Api) -> RequestRecord {
    let mut rec = std::mem::take(&mut f.rec);
    let length = finish == Finish::Length;
    rec.done_ns = now;
    rec.headers_ns.get_or_insert(now);
    rec.output_tokens = Some(f.generated as u64);
    rec.token_source = TokenSource::Usage;
    if f.reasoning > 0 {
        rec.reasoning_tokens = Some(f.reasoning.min(f.generated) as u64);
    }
    rec.finish_reason = Some(
        match (api, length) {
            (Api::Messages, _) => anthropic::finish_reason(length),
            // What the client reads from a Responses stream's terminal event.
            (Api::Responses, true) => "max_output_tokens",
            (Api::Responses, false) => "completed",
            _ => openai::finish_reason(length),
        }
        .to_string(),
    );
    rec
}
