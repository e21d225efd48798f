//! The simulated server's scheduler: a continuous-batching step loop, as vLLM and llama.cpp
//! run one. One task owns all sequences; HTTP handlers submit work and receive tokens over
//! channels. The model (docs/simulator.md):
//!
//! * each step takes `decode_base_ms + decode_per_seq_ms × running
//!   + decode_per_ktok_ms × (context tokens held by the running sequences) / 1000
//!   + prefill_base_ms × (sequences starting prefill) + prefill_tokens / prefill_tok_s`;
//! * a step decodes one token for every running sequence whose prompt is prefilled; a sequence
//!   whose prefill completes in a step emits its first token at the end of that step;
//! * prefill is chunked: at most `max_batched_tokens` prompt tokens per step;
//! * at most `max_num_seqs` run at once; each reserves prompt + max_tokens of the KV budget;
//!   the others wait in FIFO order, and expire after `request_timeout_ms`.
//!
//! The model itself is [`Core`], generic over what its caller keeps per request: the real-time
//! [`Engine`] below (channels to the HTTP handlers) and the virtual-time server of
//! `--virtual-time` (`sim::virtual_time`, records in simulated time) drive the same one.
//!
//! The loop runs on its own OS thread and sleeps with the OS timer (tens of microseconds of
//! precision, where the async runtime's timer has a millisecond grain). Steps are chained at
//! absolute deadlines (`next = previous deadline`), so no sleep overshoot accumulates into the
//! measured inter-token latency.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

use super::{SimConfig, SimStats};

/// A token handed to the HTTP side: an index into the vocabulary, and whether it is the last.
#[derive(Debug, Clone, Copy)]
pub struct Token {
    pub word: u16,
    pub finish: Option<Finish>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Ran into `max_tokens`.
    Length,
    /// The model chose to stop (`--eos-prob`).
    Stop,
}

pub enum Admission {
    Admitted(mpsc::UnboundedReceiver<Token>),
    TimedOut { waited_ms: u64 },
    TooLarge { need: u64, budget: u64 },
}

pub struct Submit {
    /// Prompt tokens to prefill (the uncached ones).
    pub prompt_tokens: u32,
    /// Prompt tokens held in the KV cache (cached ones included).
    pub context_tokens: u32,
    pub max_tokens: u32,
    pub ignore_eos: bool,
    pub seed: u64,
    pub enqueued: Instant,
    pub reply: oneshot::Sender<Admission>,
}

/// A request waiting for a slot, with what its driver keeps (`item`).
pub struct Pending<T> {
    pub prompt_tokens: u32,
    pub context_tokens: u32,
    pub max_tokens: u32,
    pub ignore_eos: bool,
    pub seed: u64,
    pub item: T,
}

struct Seq<T> {
    prompt_left: u32,
    started_prefill: bool,
    step_prefill: u32,
    generated: u32,
    max_tokens: u32,
    ignore_eos: bool,
    kv: u64,
    /// Prompt + generated tokens: the context this sequence holds.
    context: u64,
    rng: SmallRng,
    done: bool,
    item: T,
}

/// A step's factor: `quantiles` (of step time over the modelled step, at evenly spaced
/// probabilities from 0 to 1) read at `u` in [0, 1), linearly between them; 1 when there are
/// none.
pub fn step_factor(quantiles: &[f64], u: f64) -> f64 {
    match quantiles {
        [] => 1.0,
        [only] => *only,
        q => {
            let x = u.clamp(0.0, 1.0) * (q.len() - 1) as f64;
            let i = (x as usize).min(q.len() - 2);
            q[i] + (q[i + 1] - q[i]) * (x - i as f64)
        }
    }
}

/// The scheduling model: a FIFO queue, admission by slots and KV memory, chunked prefill, one
/// token per running sequence per step. It keeps no time: its driver sleeps (or jumps) for the
/// duration [`Core::plan_step`] returns, then calls [`Core::emit`].
pub struct Core<T> {
    cfg: Arc<SimConfig>,
    pub waiting: VecDeque<Pending<T>>,
    running: Vec<Seq<T>>,
    kv_used: u64,
    /// Draws each step's factor from `step_jitter`.
    jitter: SmallRng,
}

impl<T> Core<T> {
    pub fn new(cfg: Arc<SimConfig>) -> Core<T> {
        Core {
            jitter: SmallRng::seed_from_u64(cfg.seed ^ 0x6a09_e667_f3bc_c908),
            cfg,
            waiting: VecDeque::new(),
            running: Vec::new(),
            kv_used: 0,
        }
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    pub fn kv_used(&self) -> u64 {
        self.kv_used
    }

    /// Admit from the head of the queue while slots and memory allow. `start` is told of each
    /// admitted request (false: its client is gone, and it is dropped); `too_large` gets a
    /// request that could never fit, with (need, budget).
    pub fn admit(
        &mut self,
        mut start: impl FnMut(&mut T) -> bool,
        mut too_large: impl FnMut(T, u64, u64),
    ) {
        while self.running.len() < self.cfg.max_num_seqs {
            let Some(front) = self.waiting.front() else {
                break;
            };
            // Cached prompt blocks are shared, not reserved again: the uncached prompt.
            let need = front.prompt_tokens as u64 + front.max_tokens as u64;
            if need > self.cfg.kv_tokens {
                let p = self.waiting.pop_front().expect("front exists");
                too_large(p.item, need, self.cfg.kv_tokens);
                continue;
            }
            if self.kv_used + need > self.cfg.kv_tokens {
                break; // FIFO: the head waits for memory, and so does everyone behind it
            }
            let mut p = self.waiting.pop_front().expect("front exists");
            if !start(&mut p.item) {
                continue; // the client went away while waiting
            }
            self.kv_used += need;
            self.running.push(Seq {
                prompt_left: p.prompt_tokens,
                started_prefill: false,
                step_prefill: 0,
                generated: 0,
                max_tokens: p.max_tokens.max(1),
                ignore_eos: p.ignore_eos,
                kv: need,
                context: p.context_tokens as u64,
                rng: SmallRng::seed_from_u64(p.seed),
                done: false,
                item: p.item,
            });
        }
    }

    /// Decide this step's prefill chunks and return its duration.
    pub fn plan_step(&mut self) -> Duration {
        let cfg = &self.cfg;
        let mut budget = if cfg.max_batched_tokens == 0 {
            u64::MAX
        } else {
            cfg.max_batched_tokens
        };
        let mut prefill_tokens = 0u64;
        let mut new_prefills = 0u32;
        for s in &mut self.running {
            s.step_prefill = 0;
            if s.prompt_left > 0 && budget > 0 {
                let take = (s.prompt_left as u64).min(budget) as u32;
                s.step_prefill = take;
                budget -= take as u64;
                prefill_tokens += take as u64;
                if !s.started_prefill {
                    s.started_prefill = true;
                    new_prefills += 1;
                }
            }
        }
        let mut ms = cfg.decode_base_ms + cfg.decode_per_seq_ms * self.running.len() as f64;
        if cfg.decode_per_ktok_ms > 0.0 {
            let context: u64 = self.running.iter().map(|s| s.context).sum();
            ms += cfg.decode_per_ktok_ms * context as f64 / 1e3;
        }
        // The spread is fitted on decode steps: the prefill keeps its fitted (median) cost.
        if !cfg.step_jitter.is_empty() {
            ms *= step_factor(&cfg.step_jitter, self.jitter.gen());
        }
        ms += cfg.prefill_base_ms * new_prefills as f64;
        if cfg.prefill_tok_s > 0.0 {
            ms += prefill_tokens as f64 / cfg.prefill_tok_s * 1e3;
        }
        Duration::from_secs_f64(ms.max(0.0) / 1e3)
    }

    /// The step's end: every prefilled sequence emits a token to `on_token` (false: its client
    /// is gone); finished ones free their slot. Returns (tokens generated, prompt tokens
    /// prefilled).
    pub fn emit(&mut self, mut on_token: impl FnMut(&mut T, Token) -> bool) -> (u64, u64) {
        let eos_prob = self.cfg.eos_prob;
        let (mut generated, mut prefilled) = (0u64, 0u64);
        for s in &mut self.running {
            if s.step_prefill > 0 {
                s.prompt_left -= s.step_prefill;
                prefilled += s.step_prefill as u64;
                if s.prompt_left > 0 {
                    continue;
                }
            } else if s.prompt_left > 0 {
                continue; // waiting for prefill budget
            }
            s.generated += 1;
            s.context += 1;
            generated += 1;
            let finish = if s.generated >= s.max_tokens {
                Some(Finish::Length)
            } else if !s.ignore_eos && eos_prob > 0.0 && s.rng.gen::<f64>() < eos_prob {
                Some(Finish::Stop)
            } else {
                None
            };
            let word = s.rng.gen_range(0..VOCAB.len()) as u16;
            if !on_token(&mut s.item, Token { word, finish }) || finish.is_some() {
                s.done = true; // finished, or the client disconnected: free the slot at once
            }
        }
        let mut freed = 0;
        self.running.retain(|s| {
            if s.done {
                freed += s.kv;
            }
            !s.done
        });
        self.kv_used -= freed;
        (generated, prefilled)
    }
}

/// What the real-time engine keeps per request: how to answer it, and its timing for the log.
struct Live {
    reply: Option<oneshot::Sender<Admission>>,
    tx: Option<mpsc::UnboundedSender<Token>>,
    /// When the handler submitted it (the server's own TTFT starts there).
    enqueued: Instant,
    last_token: Option<Instant>,
}

pub struct Engine {
    stats: Arc<SimStats>,
    rx: mpsc::UnboundedReceiver<Submit>,
    core: Core<Live>,
    log_timings: bool,
    request_timeout_ms: Option<u64>,
}

pub const VOCAB: &[&str] = &[
    " the", " model", " answer", " token", " server", " batch", " latency", " request", " stream",
    " a", " of", " and", " to", " in", " is", " that", " for", " it", " with", " as", " on", " by",
    " this", " value", " time", " first", " next", " data", " cache", " prompt", " queue", " step",
    " decode", " prefill", " memory", " rate", " load", " test", " result", " measure", " fast",
    " slow", " small", " large", " number", " output", " input", " point", ".", ",", " we", " can",
    " will", " each", " more", " less", " than", " when", " one", " two", " three", " four",
    " five", "\n",
];

impl Engine {
    pub fn new(
        cfg: Arc<SimConfig>,
        stats: Arc<SimStats>,
        rx: mpsc::UnboundedReceiver<Submit>,
    ) -> Engine {
        Engine {
            stats,
            rx,
            log_timings: cfg.log_timings,
            request_timeout_ms: cfg.request_timeout_ms,
            core: Core::new(cfg),
        }
    }

    fn enqueue(&mut self, s: Submit) {
        self.core.waiting.push_back(Pending {
            prompt_tokens: s.prompt_tokens,
            context_tokens: s.context_tokens,
            max_tokens: s.max_tokens,
            ignore_eos: s.ignore_eos,
            seed: s.seed,
            item: Live {
                reply: Some(s.reply),
                tx: None,
                enqueued: s.enqueued,
                last_token: None,
            },
        });
    }

    /// Run on the current thread until every submitter is gone (call from a dedicated thread).
    pub fn run(mut self) {
        let mut step_start = Instant::now();
        loop {
            loop {
                match self.rx.try_recv() {
                    Ok(s) => self.enqueue(s),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            }
            if self.core.running() == 0 && self.core.waiting.is_empty() {
                self.publish();
                match self.rx.blocking_recv() {
                    Some(s) => self.enqueue(s),
                    None => return,
                }
                step_start = Instant::now();
                continue;
            }
            self.expire_waiting();
            self.admit();
            self.publish();
            if self.core.running() == 0 {
                // Everything waiting is blocked (or just expired): look again shortly.
                std::thread::sleep(Duration::from_millis(1));
                step_start = Instant::now();
                continue;
            }

            let step = self.core.plan_step();
            let deadline = step_start + step;
            let now = Instant::now();
            if deadline > now {
                std::thread::sleep(deadline - now);
            }
            self.emit();
            self.publish();
            let now = Instant::now();
            // Chain steps at their deadlines; if the loop fell far behind (a starved CPU),
            // restart from now rather than bursting to catch up.
            step_start = if now > deadline + Duration::from_millis(5) {
                now
            } else {
                deadline
            };
        }
    }

    fn expire_waiting(&mut self) {
        let Some(limit) = self.request_timeout_ms.filter(|&t| t > 0) else {
            return;
        };
        let limit = Duration::from_millis(limit);
        let now = Instant::now();
        let stats = &self.stats;
        self.core.waiting.retain_mut(|p| {
            let waited = now.saturating_duration_since(p.item.enqueued);
            if waited < limit {
                return true;
            }
            stats.waiting.fetch_sub(1, Ordering::Relaxed);
            if let Some(reply) = p.item.reply.take() {
                let _ = reply.send(Admission::TimedOut {
                    waited_ms: waited.as_millis() as u64,
                });
            }
            false
        });
    }

    fn admit(&mut self) {
        let stats = &self.stats;
        self.core.admit(
            |item| {
                stats.waiting.fetch_sub(1, Ordering::Relaxed);
                let (tx, rx) = mpsc::unbounded_channel();
                item.tx = Some(tx);
                let reply = item.reply.take().expect("answered once");
                reply.send(Admission::Admitted(rx)).is_ok()
            },
            |mut item, need, budget| {
                stats.waiting.fetch_sub(1, Ordering::Relaxed);
                if let Some(reply) = item.reply.take() {
                    let _ = reply.send(Admission::TooLarge { need, budget });
                }
            },
        );
    }

    fn emit(&mut self) {
        let now = Instant::now();
        let mut log = self
            .log_timings
            .then(|| self.stats.log.lock().unwrap_or_else(|e| e.into_inner()));
        let (generated, prefilled) = self.core.emit(|item, token| {
            if let Some(log) = log.as_mut() {
                match item.last_token {
                    None => log.ttft_ns.push((now - item.enqueued).as_nanos() as u64),
                    Some(t) => log.itl_ns.push((now - t).as_nanos() as u64),
                }
            }
            item.last_token = Some(now);
            item.tx.as_ref().is_some_and(|tx| tx.send(token).is_ok())
        });
        drop(log);
        self.stats
            .generation_tokens_total
            .fetch_add(generated, Ordering::Relaxed);
        self.stats
            .prompt_tokens_total
            .fetch_add(prefilled, Ordering::Relaxed);
    }

    fn publish(&self) {
        self.stats
            .running
            .store(self.core.running() as u64, Ordering::Relaxed);
        self.stats
            .kv_used
            .store(self.core.kv_used(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::step_factor;

    #[test]
    fn a_steps_factor_is_read_between_its_quantiles() {
        assert_eq!(step_factor(&[], 0.7), 1.0);
        let q = [0.5, 1.0, 2.0];
        assert_eq!(step_factor(&q, 0.0), 0.5);
        assert_eq!(step_factor(&q, 0.25), 0.75);
        assert_eq!(step_factor(&q, 0.5), 1.0);
        assert_eq!(step_factor(&q, 0.75), 1.5);
        assert_eq!(step_factor(&q, 1.0), 2.0);
    }
}
