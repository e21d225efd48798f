//! One record per request: plain data, times as integer nanoseconds from the run's t0.
//!
//! Written by the client, read by metrics and reports, merged across shards. Nothing here
//! computes a statistic; the per-request derived values (TTFT, E2E, ITL, TPOT) are defined once,
//! here, exactly as ../docs/METHODOLOGY.md states them.

use serde::{Deserialize, Serialize};

use crate::protocol::ServerTimings;

/// The run's monotonic clock. All record times are offsets from `t0`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    t0: tokio::time::Instant,
}

impl Clock {
    pub fn start() -> Self {
        Clock {
            t0: tokio::time::Instant::now(),
        }
    }

    /// A clock whose t0 was `ago` before now (a shard that woke up late for its start).
    pub fn started_ago(ago: std::time::Duration) -> Self {
        let now = tokio::time::Instant::now();
        Clock {
            t0: now.checked_sub(ago).unwrap_or(now),
        }
    }

    #[inline]
    pub fn now_ns(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }

    pub fn instant_at(&self, ns: u64) -> tokio::time::Instant {
        self.t0 + std::time::Duration::from_nanos(ns)
    }
}

/// Where a record's output token count came from (best first).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The server's `usage`.
    Usage,
    /// The server's own count outside `usage` (llama.cpp's `timings.predicted_n`).
    ServerTimings,
    /// A tokenizer over the generated text.
    Tokenizer,
    /// The number of content events: approximate, a chunk may carry several tokens.
    Events,
    /// Unknown (no usage, not streamed).
    #[default]
    None,
}

impl TokenSource {
    pub fn name(self) -> &'static str {
        match self {
            TokenSource::Usage => "usage",
            TokenSource::ServerTimings => "server_timings",
            TokenSource::Tokenizer => "tokenizer",
            TokenSource::Events => "events",
            TokenSource::None => "none",
        }
    }
}

/// Why a request failed. A failure is data, never a reason to stop the run.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The server answered with a non-2xx status.
    Http,
    /// The request exceeded `--timeout`.
    Timeout,
    /// No connection could be made (refused, DNS, TLS).
    Connect,
    /// The connection or stream ended before the response was complete.
    StreamBroken,
    /// The response could not be parsed (invalid JSON, wrong shape).
    BadResponse,
    /// The server reported an error inside a 2xx response (an SSE `error` event).
    ServerError,
    /// Stopped by the user (Ctrl-C) while in flight.
    Cancelled,
    /// Scheduled but never sent: the run stopped while it waited for a concurrency slot.
    Dropped,
}

impl FailureKind {
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Http => "http",
            FailureKind::Timeout => "timeout",
            FailureKind::Connect => "connect",
            FailureKind::StreamBroken => "stream_broken",
            FailureKind::BadResponse => "bad_response",
            FailureKind::ServerError => "server_error",
            FailureKind::Cancelled => "cancelled",
            FailureKind::Dropped => "dropped",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Failure {
    pub kind: FailureKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// What went wrong; for HTTP errors, the first 200 bytes of the body.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct RequestRecord {
    /// Position in the run's plan (warmup requests included).
    pub id: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub warmup: bool,
    /// Index of the level (sweep, stress) or tier (suite) the request belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    /// When the load plan wanted it sent (open loop only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_ns: Option<u64>,
    /// Just before the request was written.
    pub sent_ns: u64,
    /// Response status line received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers_ns: Option<u64>,
    /// Stream end or body fully read (or the moment of failure).
    pub done_ns: u64,
    /// One timestamp per content event (a chunk carrying generated text of any kind:
    /// reasoning, answer, tool call).
    #[serde(default)]
    pub content_ns: Vec<u64>,
    /// The first answer event (answer text or a tool call, not reasoning): TTFO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_answer_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Prompt tokens the server served from its prefix cache (usage's `cached_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Reasoning tokens, part of `output_tokens` (usage's details, else the tokenizer over the
    /// reasoning text, else one per reasoning event); present only when the response reasoned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// The answer was (or held) a tool call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tool_call: bool,
    /// Embeddings: the vectors returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<u64>,
    pub token_source: TokenSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_timings: Option<ServerTimings>,
    /// A session's request (`--dataset multi-turn`): its conversation and turn (0-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// With `--fallback-url`: the endpoint that answered (0: the primary, k: the k-th
    /// fallback) and the attempts made; `sent_ns` is then the first attempt's send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Sent a second time at once because the server closed the connection within 200 ms of
    /// the send, before one byte of the answer (a keep-alive race); timed from the first send.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resent: bool,
    /// When the answering fallback was sent, and why the attempt before it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_sent_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<FailureKind>,
    /// The answer's text, kept only while a session needs it for its next turn's history;
    /// never written.
    #[serde(skip)]
    #[schemars(skip)]
    pub answer: Option<String>,
}

const NS_PER_MS: f64 = 1e6;
const NONE: u64 = u64::MAX;
const NONE32: u32 = u32::MAX;

/// What the statistics need of one request, in 80 bytes: its times, counts and outcome, without
/// the per-token timestamps and the texts of the full record. A long run keeps one per request
/// (see `metrics::accumulate`); the per-request metrics are defined here, once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub id: u64,
    pub sent_ns: u64,
    pub done_ns: u64,
    scheduled_ns: u64,
    first_content_ns: u64,
    first_answer_ns: u64,
    output_tokens: u32,
    reasoning_tokens: u32,
    /// Embeddings: inputs of the request (0: not an embeddings request).
    pub inputs: u32,
    pub prompt_tokens: u32,
    pub cached_tokens: u32,
    /// Content events received.
    pub events: u32,
    level: u32,
    pub kind: Option<FailureKind>,
    pub warmup: bool,
    pub token_source: TokenSource,
    pub tool_call: bool,
}

fn small(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(NONE32 - 1)
}

impl Row {
    pub fn of(r: &RequestRecord) -> Row {
        Row {
            id: r.id,
            sent_ns: r.sent_ns,
            done_ns: r.done_ns,
            scheduled_ns: r.scheduled_ns.unwrap_or(NONE),
            first_content_ns: r.content_ns.first().copied().unwrap_or(NONE),
            first_answer_ns: r.first_answer_ns.unwrap_or(NONE),
            output_tokens: r.output_tokens.map_or(NONE32, small),
            reasoning_tokens: r.reasoning_tokens.map_or(NONE32, small),
            inputs: r.inputs.map_or(0, small),
            prompt_tokens: r.prompt_tokens.map_or(0, small),
            cached_tokens: r.cached_tokens.map_or(0, small),
            events: small(r.content_ns.len() as u64),
            level: r.level.unwrap_or(NONE32),
            kind: r.error.as_ref().map(|e| e.kind),
            warmup: r.warmup,
            token_source: r.token_source,
            tool_call: r.tool_call,
        }
    }

    /// The response reasoned (reasoning tokens were counted).
    pub fn reasoned(&self) -> bool {
        self.reasoning_tokens != NONE32
    }

    pub fn reasoning_tokens(&self) -> Option<u64> {
        self.reasoned().then_some(self.reasoning_tokens as u64)
    }

    /// First answer event − sent, of a response that reasoned: time to first output token
    /// (TTFO), the answer's first token after the reasoning (without reasoning it is TTFT).
    pub fn ttfo_ms(&self) -> Option<f64> {
        (self.reasoned() && self.first_answer_ns != NONE)
            .then(|| self.first_answer_ns.saturating_sub(self.sent_ns) as f64 / NS_PER_MS)
    }

    /// TTFO − TTFT of a response that reasoned: how long its reasoning held the answer back.
    pub fn reasoning_ms(&self) -> Option<f64> {
        if !self.reasoned() || self.first_content_ns == NONE || self.first_answer_ns == NONE {
            return None;
        }
        Some(self.first_answer_ns.saturating_sub(self.first_content_ns) as f64 / NS_PER_MS)
    }

    /// Output tokens per content event (above 1: the server bundles tokens into events).
    pub fn tokens_per_event(&self) -> Option<f64> {
        let n = self.output_tokens()?;
        (self.events > 0).then(|| n as f64 / self.events as f64)
    }

    pub fn scheduled_ns(&self) -> Option<u64> {
        (self.scheduled_ns != NONE).then_some(self.scheduled_ns)
    }

    pub fn output_tokens(&self) -> Option<u64> {
        (self.output_tokens != NONE32).then_some(self.output_tokens as u64)
    }

    pub fn level(&self) -> Option<u32> {
        (self.level != NONE32).then_some(self.level)
    }

    pub fn is_ok(&self) -> bool {
        self.kind.is_none()
    }

    /// Cancelled by the user or never sent because the run stopped: not the server's failure.
    pub fn stopped_by_user(&self) -> bool {
        matches!(
            self.kind,
            Some(FailureKind::Cancelled | FailureKind::Dropped)
        )
    }

    /// First content event − sent.
    pub fn ttft_ns(&self) -> Option<u64> {
        (self.first_content_ns != NONE).then(|| self.first_content_ns.saturating_sub(self.sent_ns))
    }

    pub fn ttft_ms(&self) -> Option<f64> {
        self.ttft_ns().map(|v| v as f64 / NS_PER_MS)
    }

    /// done − sent.
    pub fn e2e_ms(&self) -> f64 {
        self.done_ns.saturating_sub(self.sent_ns) as f64 / NS_PER_MS
    }

    /// (E2E − TTFT) / (output_tokens − 1), for at least 2 output tokens.
    pub fn tpot_ms(&self) -> Option<f64> {
        let n = self.output_tokens()?;
        let ttft = self.ttft_ms()?;
        (n >= 2).then(|| (self.e2e_ms() - ttft) / (n - 1) as f64)
    }

    /// output_tokens / E2E.
    pub fn output_tok_s(&self) -> Option<f64> {
        let n = self.output_tokens()?;
        let e2e = self.e2e_ms();
        (n > 0 && e2e > 0.0).then(|| n as f64 / (e2e / 1e3))
    }

    /// (output_tokens − 1) / (E2E − TTFT).
    pub fn decode_tok_s(&self) -> Option<f64> {
        let n = self.output_tokens()?;
        let d = self.e2e_ms() - self.ttft_ms()?;
        (n >= 2 && d > 0.0).then(|| (n - 1) as f64 / (d / 1e3))
    }

    /// TTFT measured from `scheduled` (open loop): what a user arriving on time waited.
    pub fn ttft_from_scheduled_ms(&self) -> Option<f64> {
        let s = self.scheduled_ns()?;
        (self.first_content_ns != NONE)
            .then(|| self.first_content_ns.saturating_sub(s) as f64 / NS_PER_MS)
    }

    /// E2E measured from `scheduled` (open loop).
    pub fn e2e_from_scheduled_ms(&self) -> Option<f64> {
        self.scheduled_ns()
            .map(|s| self.done_ns.saturating_sub(s) as f64 / NS_PER_MS)
    }

    /// sent − scheduled (open loop).
    pub fn send_lag_ms(&self) -> Option<f64> {
        self.scheduled_ns()
            .map(|s| self.sent_ns.saturating_sub(s) as f64 / NS_PER_MS)
    }
}

/// The per-request metrics of a full record are its [`Row`]'s.
impl RequestRecord {
    pub fn row(&self) -> Row {
        Row::of(self)
    }

    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }

    pub fn stopped_by_user(&self) -> bool {
        self.row().stopped_by_user()
    }

    pub fn ttft_ns(&self) -> Option<u64> {
        self.row().ttft_ns()
    }

    pub fn ttft_ms(&self) -> Option<f64> {
        self.row().ttft_ms()
    }

    pub fn e2e_ms(&self) -> f64 {
        self.row().e2e_ms()
    }

    pub fn ttfo_ms(&self) -> Option<f64> {
        self.row().ttfo_ms()
    }

    pub fn reasoning_ms(&self) -> Option<f64> {
        self.row().reasoning_ms()
    }

    pub fn tokens_per_event(&self) -> Option<f64> {
        self.row().tokens_per_event()
    }

    /// Gaps between consecutive content events, ns.
    pub fn itl_ns(&self) -> impl Iterator<Item = u64> + '_ {
        self.content_ns
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]))
    }

    /// Gaps between consecutive content events, in ms.
    pub fn itl_ms(&self) -> impl Iterator<Item = f64> + '_ {
        self.itl_ns().map(|g| g as f64 / NS_PER_MS)
    }

    pub fn tpot_ms(&self) -> Option<f64> {
        self.row().tpot_ms()
    }

    pub fn output_tok_s(&self) -> Option<f64> {
        self.row().output_tok_s()
    }

    pub fn decode_tok_s(&self) -> Option<f64> {
        self.row().decode_tok_s()
    }

    pub fn ttft_from_scheduled_ms(&self) -> Option<f64> {
        self.row().ttft_from_scheduled_ms()
    }

    pub fn e2e_from_scheduled_ms(&self) -> Option<f64> {
        self.row().e2e_from_scheduled_ms()
    }

    pub fn send_lag_ms(&self) -> Option<f64> {
        self.row().send_lag_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> RequestRecord {
        RequestRecord {
            sent_ns: 1_000_000,
            content_ns: vec![101_000_000, 121_000_000, 141_000_000, 161_000_000],
            done_ns: 161_000_000,
            output_tokens: Some(4),
            token_source: TokenSource::Usage,
            ..Default::default()
        }
    }

    #[test]
    fn derived_metrics_follow_the_definitions() {
        let r = rec();
        assert_eq!(r.ttft_ms(), Some(100.0));
        assert_eq!(r.e2e_ms(), 160.0);
        assert_eq!(r.itl_ms().collect::<Vec<_>>(), vec![20.0, 20.0, 20.0]);
        assert_eq!(r.tpot_ms(), Some(20.0));
        assert_eq!(r.output_tok_s(), Some(25.0));
        assert_eq!(r.decode_tok_s(), Some(50.0));
    }

    #[test]
    fn tpot_uses_tokens_not_events_when_a_chunk_holds_several() {
        let mut r = rec();
        r.output_tokens = Some(7); // 4 events carried 7 tokens
        assert_eq!(r.tpot_ms(), Some(10.0));
        assert_eq!(r.itl_ms().count(), 3);
    }

    #[test]
    fn reasoning_holds_the_first_answer_token_back() {
        let mut r = rec();
        r.first_answer_ns = Some(141_000_000); // two reasoning events, then the answer
        r.reasoning_tokens = Some(2);
        let row = r.row();
        assert_eq!((row.ttft_ms(), row.ttfo_ms()), (Some(100.0), Some(140.0)));
        assert_eq!(row.reasoning_ms(), Some(40.0));
        assert_eq!(row.tokens_per_event(), Some(1.0));
        r.reasoning_tokens = None;
        assert_eq!((r.row().reasoning_ms(), r.row().ttfo_ms()), (None, None));
    }

    #[test]
    fn single_token_has_no_tpot() {
        let mut r = rec();
        r.output_tokens = Some(1);
        assert_eq!(r.tpot_ms(), None);
    }

    #[test]
    fn a_row_is_80_bytes_and_keeps_the_metrics() {
        assert_eq!(std::mem::size_of::<Row>(), 80);
        let mut r = rec();
        r.scheduled_ns = Some(500_000);
        r.level = Some(3);
        let row = r.row();
        assert_eq!(row.ttft_ms(), Some(100.0));
        assert_eq!(row.send_lag_ms(), Some(0.5));
        assert_eq!(row.ttft_from_scheduled_ms(), Some(100.5));
        assert_eq!(
            (row.level(), row.output_tokens(), row.events),
            (Some(3), Some(4), 4)
        );
        r.output_tokens = None;
        r.content_ns.clear();
        assert_eq!((r.row().output_tokens(), r.row().ttft_ms()), (None, None));
    }

    #[test]
    fn record_round_trips_through_json() {
        let mut r = rec();
        r.error = Some(Failure {
            kind: FailureKind::Http,
            http_status: Some(500),
            detail: "boom".into(),
        });
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.contains("\"kind\":\"http\""));
        let back: RequestRecord = serde_json::from_str(&s).unwrap();
        assert_eq!(back, r);
    }
}
