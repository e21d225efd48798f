//! The simulator's response bodies: tokens from the engine, written as they come in the
//! request's dialect ([`Wire`]), with the faults of a [`FaultPlan`] (a stall, a dropped
//! connection, a malformed chunk) at their token.

use std::io;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::BytesMut;
use tokio::sync::mpsc;

use super::engine::{Finish, Token, VOCAB};
use super::routes::error_response;
use crate::protocol::wire::Wire;
use crate::protocol::{ErrorKind, Part};

#[derive(Clone, Copy)]
/// Where the faults of one response fall (token indexes).
pub struct FaultPlan {
    pub stall_at: Option<u32>,
    pub stall_ms: u64,
    pub drop_after: Option<u32>,
    pub malformed_at: Option<u32>,
    /// Tokens per streamed event (`--tokens-per-chunk`).
    pub tokens_per_chunk: u32,
}

/// Each vocabulary word as a JSON string, rendered once.
fn vocab_json() -> &'static [String] {
    static V: OnceLock<Vec<String>> = OnceLock::new();
    V.get_or_init(|| {
        VOCAB
            .iter()
            .map(|w| serde_json::to_string(w).expect("string"))
            .collect()
    })
}

fn broken(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, reason.to_string())
}

struct StreamState {
    wire: Wire,
    rx: mpsc::UnboundedReceiver<Token>,
    plan: FaultPlan,
    sent: u32,
    /// Tokens received but not yet written (an event waits for `tokens_per_chunk`): their
    /// text, JSON-escaped without quotes, and how many.
    pending: String,
    pending_n: u32,
    started: bool,
    stalled: bool,
    ended: bool,
    /// With `--timings`: when the request arrived, and when its first token was written.
    timing: Option<(Instant, Option<Instant>)>,
}

/// llama.cpp's `timings` of a stream: prompt_ms from the handler's receipt to its first token
/// written, predicted_ms from the first token to the last.
fn timings_json(arrived: Instant, first: Instant, prompt: u32, output: u32) -> serde_json::Value {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    serde_json::json!({
        "prompt_n": prompt,
        "prompt_ms": ms(first - arrived),
        "predicted_n": output,
        "predicted_ms": ms(first.elapsed()),
    })
}

impl StreamState {
    /// Write one token, and the stream's end after its last; true at the end.
    fn take(&mut self, buf: &mut BytesMut, tok: Token) -> bool {
        self.write(buf, tok);
        self.sent += 1;
        if let Some((_, first @ None)) = &mut self.timing {
            if !buf.is_empty() {
                *first = Some(Instant::now());
            }
        }
        let Some(f) = tok.finish else {
            return false;
        };
        if let Some((arrived, Some(first))) = self.timing {
            let prompt = self.wire.prompt_tokens();
            let t = timings_json(arrived, first, prompt, self.sent);
            self.wire.set_timings(t);
        }
        self.wire.finish(buf, f == Finish::Length, self.sent);
        self.ended = true;
        true
    }

    /// Write one token (into an event of its own, or the pending one), or the malformed
    /// chunk that replaces it.
    fn write(&mut self, buf: &mut BytesMut, tok: Token) {
        let word = &vocab_json()[tok.word as usize];
        if self.plan.malformed_at == Some(self.sent) {
            self.flush(buf);
            self.wire.malformed(buf);
        } else if self.plan.tokens_per_chunk <= 1 {
            self.wire.token(buf, word, 1);
        } else {
            // An event holds tokens of one part only.
            let (part, prev) = (
                self.wire.part_of(self.sent),
                self.wire.part_of(self.sent.saturating_sub(1)),
            );
            if self.pending_n > 0 && part != prev {
                self.flush(buf);
            }
            self.pending.push_str(&word[1..word.len() - 1]);
            self.pending_n += 1;
            if self.pending_n >= self.plan.tokens_per_chunk || tok.finish.is_some() {
                self.flush(buf);
            }
        }
    }

    /// Write the pending tokens as one event.
    fn flush(&mut self, buf: &mut BytesMut) {
        if self.pending_n > 0 {
            let json = format!("\"{}\"", self.pending);
            self.wire.token(buf, &json, self.pending_n);
            self.pending.clear();
            self.pending_n = 0;
        }
    }
}

/// `arrived`: with `--timings`, when the request arrived.
pub fn stream_response(
    wire: Wire,
    rx: mpsc::UnboundedReceiver<Token>,
    plan: FaultPlan,
    arrived: Option<Instant>,
) -> Response {
    let state = StreamState {
        wire,
        rx,
        plan,
        sent: 0,
        pending: String::new(),
        pending_n: 0,
        started: false,
        stalled: false,
        ended: false,
        timing: arrived.map(|a| (a, None)),
    };
    let body = futures_util::stream::unfold(state, |mut st| async move {
        if st.ended {
            return None;
        }
        let mut buf = BytesMut::with_capacity(256);
        if !st.started {
            st.started = true;
            st.wire.start(&mut buf);
            if !buf.is_empty() {
                return Some((Ok(buf.freeze()), st));
            }
        }
        loop {
            // Faults happen before the token with that index; flush what is buffered first.
            if st.plan.drop_after == Some(st.sent) {
                if !buf.is_empty() {
                    break;
                }
                st.ended = true;
                // Let the connection flush what was sent before, as a real server's would.
                tokio::time::sleep(Duration::from_millis(2)).await;
                return Some((Err(broken("injected disconnect (--drop-after-tokens)")), st));
            }
            if st.plan.stall_at == Some(st.sent) && !st.stalled {
                if !buf.is_empty() {
                    break;
                }
                st.stalled = true;
                tokio::time::sleep(Duration::from_millis(st.plan.stall_ms)).await;
            }
            let tok = if buf.is_empty() {
                match st.rx.recv().await {
                    Some(t) => t,
                    None => {
                        st.ended = true;
                        return Some((Err(broken("engine stopped")), st));
                    }
                }
            } else {
                match st.rx.try_recv() {
                    Ok(t) => t,
                    Err(_) => break,
                }
            };
            if st.take(&mut buf, tok) {
                break;
            }
        }
        Some((Ok::<Bytes, io::Error>(buf.freeze()), st))
    });
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

pub async fn whole_response(
    wire: Wire,
    mut rx: mpsc::UnboundedReceiver<Token>,
    plan: FaultPlan,
) -> Response {
    let (mut reasoning, mut text) = (String::new(), String::new());
    let mut n = 0u32;
    let finish = loop {
        if plan.drop_after == Some(n) {
            let body = futures_util::stream::once(async {
                Err::<Bytes, io::Error>(broken("injected disconnect (--drop-after-tokens)"))
            });
            return Response::new(Body::from_stream(body));
        }
        match rx.recv().await {
            Some(t) => {
                let into = match wire.part_of(n) {
                    Part::Reasoning => &mut reasoning,
                    _ => &mut text,
                };
                into.push_str(VOCAB[t.word as usize]);
                n += 1;
                if let Some(f) = t.finish {
                    break f;
                }
            }
            None => {
                return error_response(
                    wire.api(),
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorKind::Server,
                    "engine stopped",
                )
            }
        }
    };
    if plan.stall_ms > 0 {
        tokio::time::sleep(Duration::from_millis(plan.stall_ms)).await;
    }
    let length = finish == Finish::Length;
    let mut body = wire.whole(&reasoning, &text, length, n).to_string();
    if plan.malformed_at.is_some() {
        body.truncate(body.len() / 2);
    }
    let mut resp = Response::new(Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
