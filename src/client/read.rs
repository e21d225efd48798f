//! Reading a response: the guard (deadline and stop, armed once per request), the error body of
//! a non-2xx answer, an event stream timed at each read, a whole body, and the record's token
//! counts from what the server said.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::error_chain;
use crate::protocol::{snippet, Api, Observation, SseDecoder};
use crate::record::{Clock, Failure, FailureKind, RequestRecord, TokenSource};
use crate::workload::Tokenizer;

/// Why a request was cut short by the client.
pub(super) enum Cut {
    Cancelled,
    Timeout,
}

/// The request's deadline and the run's stop, armed once per request (not per read).
pub(super) struct Guard {
    timeout: Option<Pin<Box<tokio::time::Sleep>>>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Guard {
    pub(super) fn new(deadline: Option<tokio::time::Instant>, cancel: &CancellationToken) -> Guard {
        Guard {
            timeout: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            cancelled: Box::pin(cancel.clone().cancelled_owned()),
        }
    }

    /// `f`, unless the run stops or the deadline passes first.
    pub(super) async fn race<F: std::future::Future>(&mut self, f: F) -> Result<F::Output, Cut> {
        let Guard { timeout, cancelled } = self;
        let deadline = async {
            match timeout {
                Some(t) => t.as_mut().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = cancelled.as_mut() => Err(Cut::Cancelled),
            _ = deadline => Err(Cut::Timeout),
            v = f => Ok(v),
        }
    }
}

/// A non-2xx answer: the status and the start of its body (redacted, then cut to
/// [`DETAIL_BYTES`], by the caller).
pub(super) async fn http_error(
    rec: RequestRecord,
    mut resp: reqwest::Response,
    clock: &Clock,
    guard: &mut Guard,
) -> RequestRecord {
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    while body.len() < 4096 {
        match guard.race(resp.chunk()).await {
            Ok(Ok(Some(c))) => body.extend_from_slice(&c),
            _ => break,
        }
    }
    let detail = snippet(&body, body.len());
    fail(rec, clock, FailureKind::Http, Some(status), detail)
}

/// How much of an error body a record keeps.
pub(super) const DETAIL_BYTES: usize = 200;

/// How long to wait for the end of a body after the stream's end marker (`[DONE]`,
/// `message_stop`) before letting the connection go: the answer is complete at the marker.
const AFTER_DONE: Duration = Duration::from_millis(50);

/// Read an event stream, timing each content event at the read that carried it. The response
/// ends at its end marker (`[DONE]`, `message_stop`) when there is one.
pub(super) async fn read_stream(
    rec: &mut RequestRecord,
    mut resp: reqwest::Response,
    api: Api,
    obs: &mut Observation,
    clock: &Clock,
    guard: &mut Guard,
) -> Result<(), (FailureKind, String)> {
    let mut decoder = SseDecoder::new();
    let mut bad: Option<String> = None;
    let mut events = 0u64;
    let mut bytes_read = 0usize;
    let mut head = Vec::new();
    loop {
        let chunk = next_chunk(&mut resp, obs.done_marker, guard).await;
        let t = clock.now_ns();
        let chunk = match chunk {
            Ok(c) => c,
            Err(_) if obs.done_marker => break, // the connection went after a complete answer
            Err(err) => {
                rec.done_ns = t;
                return Err(err.failure(rec.content_ns.len()));
            }
        };
        let was_done = obs.done_marker;
        let (content_ns, first_answer) = (&mut rec.content_ns, &mut rec.first_answer_ns);
        let mut on_event = |ev: crate::protocol::SseEvent<'_>| {
            if obs.done_marker {
                return false; // the answer ended at its end marker: what follows is not read
            }
            events += 1;
            match api.on_event(ev, obs) {
                Ok(part) => {
                    if part.is_generated() {
                        content_ns.push(t);
                        if part.is_answer() && first_answer.is_none() {
                            *first_answer = Some(t);
                        }
                    }
                    true
                }
                Err(e) => {
                    bad = Some(e);
                    false
                }
            }
        };
        match &chunk {
            Some(bytes) => {
                bytes_read += bytes.len();
                if head.len() < 256 {
                    head.extend_from_slice(&bytes[..bytes.len().min(256 - head.len())]);
                }
                decoder.feed(bytes, &mut on_event);
            }
            None => decoder.finish(&mut on_event),
        }
        if !was_done && obs.done_marker {
            rec.done_ns = t;
        }
        if bad.is_some() || obs.server_error.is_some() {
            rec.done_ns = t;
            break;
        }
        if chunk.is_none() {
            if !obs.done_marker {
                rec.done_ns = t;
            }
            break;
        }
    }
    match bad {
        Some(e) => Err((FailureKind::BadResponse, e)),
        None if events == 0 && bytes_read > 0 => Err((
            FailureKind::BadResponse,
            format!(
                "the server answered a streaming request with a body that is not an event stream: {}",
                snippet(&head, 200)
            ),
        )),
        None => Ok(()),
    }
}

enum ChunkError {
    Cut(Cut),
    Read(String),
}

impl ChunkError {
    /// The failure of a stream cut after `n` content events.
    fn failure(self, n: usize) -> (FailureKind, String) {
        match self {
            ChunkError::Cut(Cut::Cancelled) => (
                FailureKind::Cancelled,
                "stopped by the user mid-stream".into(),
            ),
            ChunkError::Cut(Cut::Timeout) => (
                FailureKind::Timeout,
                format!("timed out mid-stream after {n} content events"),
            ),
            ChunkError::Read(e) => (
                FailureKind::StreamBroken,
                format!("connection lost after {n} content events: {e}"),
            ),
        }
    }
}

/// The next piece of a body. After the end marker the answer is complete: take the body's end
/// if it comes at once ([`AFTER_DONE`]), without waiting on a server that lingers.
async fn next_chunk(
    resp: &mut reqwest::Response,
    done: bool,
    guard: &mut Guard,
) -> Result<Option<Bytes>, ChunkError> {
    let read = if done {
        tokio::time::timeout(AFTER_DONE, resp.chunk())
            .await
            .unwrap_or(Ok(None))
    } else {
        guard.race(resp.chunk()).await.map_err(ChunkError::Cut)?
    };
    read.map_err(|e| ChunkError::Read(error_chain(&e)))
}

/// Read a whole (non-streamed) response body.
pub(super) async fn read_whole(
    rec: &mut RequestRecord,
    resp: reqwest::Response,
    api: Api,
    obs: &mut Observation,
    clock: &Clock,
    guard: &mut Guard,
) -> Result<(), (FailureKind, String)> {
    let body = guard.race(resp.bytes()).await;
    rec.done_ns = clock.now_ns();
    match body {
        Err(Cut::Cancelled) => Err((FailureKind::Cancelled, "stopped by the user".into())),
        Err(Cut::Timeout) => Err((
            FailureKind::Timeout,
            "timed out reading the response body".into(),
        )),
        Ok(Err(e)) => Err((
            FailureKind::StreamBroken,
            format!("connection lost reading the body: {}", error_chain(&e)),
        )),
        Ok(Ok(b)) => api
            .on_body(&b, obs)
            .map_err(|e| (FailureKind::BadResponse, e)),
    }
}

/// Copy counts from what the server said into the record and choose the token source.
pub(super) fn apply_observation(
    rec: &mut RequestRecord,
    obs: Observation,
    tok: Option<&Tokenizer>,
) {
    rec.prompt_tokens = obs.prompt_tokens;
    rec.cached_tokens = obs.cached_tokens;
    rec.finish_reason = obs.finish_reason;
    rec.server_timings = obs.server_timings;
    rec.tool_call = obs.tool_call;
    rec.inputs = obs.inputs;
    let count = |s: &Option<String>| match (tok, s.as_deref()) {
        (Some(t), Some(s)) => t.count(s) as u64,
        _ => 0,
    };
    let predicted = rec
        .server_timings
        .as_ref()
        .and_then(|t| t.predicted_n)
        .filter(|n| *n >= 0.0 && n.fract() == 0.0);
    rec.reasoning_tokens = match obs.reasoning_tokens {
        Some(n) if n > 0 || obs.reasoning_parts > 0 => Some(n),
        _ if obs.reasoning_parts == 0 => None,
        _ if tok.is_some() => Some(count(&obs.reasoning_text)),
        // The server counted the whole output but not its reasoning (Anthropic): the
        // reasoning's share of the generated text's bytes, robust to several tokens per event.
        _ => match obs.output_tokens.or(predicted.map(|n| n as u64)) {
            Some(total) if obs.output_chars > 0 => Some(
                ((total as f64 * obs.reasoning_chars as f64 / obs.output_chars as f64).round()
                    as u64)
                    .max(1),
            ),
            _ => Some(obs.reasoning_parts),
        },
    };
    let has_text = |s: &Option<String>| s.as_deref().is_some_and(|t| !t.is_empty());
    match obs.output_tokens {
        Some(n) => {
            rec.output_tokens = Some(n);
            rec.token_source = TokenSource::Usage;
        }
        None if predicted.is_some() => {
            rec.output_tokens = predicted.map(|n| n as u64);
            rec.token_source = TokenSource::ServerTimings;
        }
        None if tok.is_some() && (has_text(&obs.text) || has_text(&obs.reasoning_text)) => {
            rec.output_tokens = Some(count(&obs.text) + count(&obs.reasoning_text));
            rec.token_source = TokenSource::Tokenizer;
        }
        None if !rec.content_ns.is_empty() => {
            rec.output_tokens = Some(rec.content_ns.len() as u64);
            rec.token_source = TokenSource::Events;
        }
        None => rec.token_source = TokenSource::None,
    }
}

pub(super) fn finish_partial(
    mut rec: RequestRecord,
    obs: Observation,
    tok: Option<&Tokenizer>,
    kind: FailureKind,
    detail: String,
) -> RequestRecord {
    apply_observation(&mut rec, obs, tok);
    rec.error = Some(Failure {
        kind,
        http_status: None,
        detail,
    });
    rec
}

pub(super) fn fail(
    mut rec: RequestRecord,
    clock: &Clock,
    kind: FailureKind,
    http_status: Option<u16>,
    detail: String,
) -> RequestRecord {
    rec.done_ns = clock.now_ns();
    rec.error = Some(Failure {
        kind,
        http_status,
        detail,
    });
    rec
}
