//! HOW a request is sent and timed: one request in, one [`RequestRecord`] out.
//!
//! The hot path: one clock read per network read, taken before any parsing; SSE decoding and
//! JSON reading borrow from the read buffer. A failure of any kind becomes a record with its
//! kind; nothing here returns an error that would stop a run, and nothing here knows about load
//! plans or statistics.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use reqwest::header::HeaderMap;
use tokio_util::sync::CancellationToken;

pub use crate::protocol::build_headers;
use crate::protocol::{snippet, Api, Observation, SseDecoder};
use crate::record::{Clock, Failure, FailureKind, RequestRecord, TokenSource};
use crate::workload::Tokenizer;

/// How to reach the server. Built once per run, validated before the first request.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL ending in `/v1`, without a trailing slash.
    pub base: String,
    pub api: Api,
    pub stream: bool,
    pub timeout: Option<Duration>,
    /// Extra headers, including authentication. Never printed.
    pub headers: HeaderMap,
}

/// Accept `http://host:port`, `http://host:port/`, `http://host:port/v1`, `.../v1/`.
pub fn normalize_base_url(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed).with_context(|| {
        format!("--url {url:?} is not a valid URL (example: http://127.0.0.1:8000)")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("--url {url:?}: scheme must be http or https");
    }
    if parsed.host_str().is_none() {
        bail!("--url {url:?} has no host");
    }
    Ok(if trimmed.ends_with("/v1") {
        trimmed.to_string()
    } else {
        format!("{trimmed}/v1")
    })
}

/// A connection pool plus the endpoint. Cheap to clone (shares the pool).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    url: String,
    endpoint: Endpoint,
    /// Counts output tokens from the text when the server reports no usage.
    tokenizer: Option<Arc<Tokenizer>>,
}

impl Client {
    pub fn new(endpoint: Endpoint, max_connections: usize) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(max_connections.max(1))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        let url = format!("{}{}", endpoint.base, &endpoint.api.path()["/v1".len()..]);
        Ok(Client {
            http,
            url,
            endpoint,
            tokenizer: None,
        })
    }

    /// Count output tokens with `t` when a server reports no usage (the text is then kept
    /// until the response ends).
    pub fn set_tokenizer(&mut self, t: Option<Arc<Tokenizer>>) {
        self.tokenizer = t;
    }

    /// Open up to `n` connections before measuring (a `GET /models` on each), so that a burst
    /// of first requests does not time TCP handshakes and connection setup. Best effort.
    pub async fn prewarm(&self, n: usize) {
        let url = format!("{}/models", self.endpoint.base);
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let req = self.http.get(&url).headers(self.endpoint.headers.clone());
                tokio::spawn(async move {
                    if let Ok(r) = req.timeout(Duration::from_secs(10)).send().await {
                        let _ = r.bytes().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Send one prepared body and time it. Never fails: failures are in the record.
    pub async fn send(
        &self,
        id: u64,
        body: Bytes,
        clock: &Clock,
        cancel: &CancellationToken,
    ) -> RequestRecord {
        let mut rec = RequestRecord {
            id,
            ..Default::default()
        };
        let request = || {
            self.http
                .post(&self.url)
                .headers(self.endpoint.headers.clone())
                .body(body.clone())
        };
        rec.sent_ns = clock.now_ns();
        let deadline = self
            .endpoint
            .timeout
            .map(|t| clock.instant_at(rec.sent_ns) + t);
        let timeout = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(timeout);
        let cancelled = cancel.cancelled();
        tokio::pin!(cancelled);

        let mut resp = loop {
            let r = tokio::select! {
                biased;
                _ = &mut cancelled => return fail(rec, clock, FailureKind::Cancelled, None, "stopped before the response began".into()),
                _ = &mut timeout => return fail(rec, clock, FailureKind::Timeout, None, "no response headers before the timeout".into()),
                r = request().send() => r,
            };
            let e = match r {
                Ok(r) => break r,
                Err(e) => e,
            };
            // A pooled keep-alive connection the server had just closed fails at once, before
            // the server saw the request: send again, once, on another connection. The record
            // keeps the first send time (the user waited through it) and says it retried.
            let stale = clock.now_ns().saturating_sub(rec.sent_ns) < 250_000_000
                && !e.is_connect()
                && !e.is_timeout()
                && error_chain(&e).contains("connection closed before message completed");
            if stale && rec.retries == 0 {
                rec.retries = 1;
                continue;
            }
            let kind = if e.is_connect() {
                FailureKind::Connect
            } else if e.is_timeout() {
                FailureKind::Timeout
            } else {
                FailureKind::StreamBroken
            };
            return fail(rec, clock, kind, None, error_chain(&e));
        };
        rec.headers_ns = Some(clock.now_ns());
        let status = resp.status();

        if !status.is_success() {
            let mut body = Vec::new();
            loop {
                let next = tokio::select! {
                    biased;
                    _ = &mut cancelled => break,
                    _ = &mut timeout => break,
                    c = resp.chunk() => c,
                };
                match next {
                    Ok(Some(c)) if body.len() < 4096 => body.extend_from_slice(&c),
                    _ => break,
                }
            }
            let detail = snippet(&body, 200);
            return fail(rec, clock, FailureKind::Http, Some(status.as_u16()), detail);
        }

        let api = self.endpoint.api;
        let mut obs = Observation {
            text: self.tokenizer.as_ref().map(|_| String::new()),
            ..Observation::default()
        };
        let tok = self.tokenizer.as_deref();
        if self.endpoint.stream {
            let mut decoder = SseDecoder::new();
            let mut bad: Option<String> = None;
            let mut done_at: Option<u64> = None;
            loop {
                let next = tokio::select! {
                    biased;
                    _ = &mut cancelled => {
                        rec.done_ns = clock.now_ns();
                        return finish_partial(rec, obs, tok, FailureKind::Cancelled, "stopped by the user mid-stream".into());
                    }
                    _ = &mut timeout => {
                        rec.done_ns = clock.now_ns();
                        let n = rec.content_ns.len();
                        return finish_partial(rec, obs, tok, FailureKind::Timeout, format!("timed out mid-stream after {n} content events"));
                    }
                    c = resp.chunk() => c,
                };
                let t = clock.now_ns();
                match next {
                    Ok(Some(bytes)) => {
                        let content_ns = &mut rec.content_ns;
                        decoder.feed(&bytes, &mut |ev| match api.on_event(ev, &mut obs) {
                            Ok(content) => {
                                if content {
                                    content_ns.push(t);
                                }
                                true
                            }
                            Err(e) => {
                                bad = Some(e);
                                false
                            }
                        });
                        if done_at.is_none() && obs.done_marker {
                            done_at = Some(t);
                        }
                        if bad.is_some() || obs.server_error.is_some() {
                            rec.done_ns = t;
                            break;
                        }
                    }
                    Ok(None) => {
                        decoder.finish(&mut |ev| match api.on_event(ev, &mut obs) {
                            Ok(content) => {
                                if content {
                                    rec.content_ns.push(t);
                                }
                                true
                            }
                            Err(e) => {
                                bad = Some(e);
                                false
                            }
                        });
                        rec.done_ns = done_at.unwrap_or(t);
                        break;
                    }
                    Err(e) => {
                        rec.done_ns = t;
                        let n = rec.content_ns.len();
                        return finish_partial(
                            rec,
                            obs,
                            tok,
                            FailureKind::StreamBroken,
                            format!(
                                "connection lost after {n} content events: {}",
                                error_chain(&e)
                            ),
                        );
                    }
                }
            }
            if let Some(e) = bad {
                return finish_partial(rec, obs, tok, FailureKind::BadResponse, e);
            }
        } else {
            let body = tokio::select! {
                biased;
                _ = &mut cancelled => {
                    rec.done_ns = clock.now_ns();
                    return finish_partial(rec, obs, tok, FailureKind::Cancelled, "stopped by the user".into());
                }
                _ = &mut timeout => {
                    rec.done_ns = clock.now_ns();
                    return finish_partial(rec, obs, tok, FailureKind::Timeout, "timed out reading the response body".into());
                }
                b = resp.bytes() => b,
            };
            rec.done_ns = clock.now_ns();
            match body {
                Ok(b) => {
                    if let Err(e) = api.on_body(&b, &mut obs) {
                        return finish_partial(rec, obs, tok, FailureKind::BadResponse, e);
                    }
                }
                Err(e) => {
                    return finish_partial(
                        rec,
                        obs,
                        tok,
                        FailureKind::StreamBroken,
                        format!("connection lost reading the body: {}", error_chain(&e)),
                    )
                }
            }
        }

        if let Some(msg) = obs.server_error.clone() {
            return finish_partial(rec, obs, tok, FailureKind::ServerError, msg);
        }
        if !obs.is_complete(api) {
            let detail = if obs.done_marker {
                "stream ended without a finish reason (the server cut the answer short)"
            } else {
                "stream ended before the response was complete"
            };
            return finish_partial(rec, obs, tok, FailureKind::StreamBroken, detail.into());
        }
        apply_observation(&mut rec, obs, tok);
        rec
    }
}

/// Copy counts from what the server said into the record and choose the token source.
fn apply_observation(rec: &mut RequestRecord, obs: Observation, tok: Option<&Tokenizer>) {
    rec.prompt_tokens = obs.prompt_tokens;
    rec.cached_tokens = obs.cached_tokens;
    rec.finish_reason = obs.finish_reason;
    rec.server_timings = obs.server_timings;
    match obs.output_tokens {
        Some(n) => {
            rec.output_tokens = Some(n);
            rec.token_source = TokenSource::Usage;
        }
        None if tok.is_some() && obs.text.as_deref().is_some_and(|t| !t.is_empty()) => {
            let text = obs.text.as_deref().unwrap_or_default();
            rec.output_tokens = tok.map(|t| t.count(text) as u64);
            rec.token_source = TokenSource::Tokenizer;
        }
        None if !rec.content_ns.is_empty() => {
            rec.output_tokens = Some(rec.content_ns.len() as u64);
            rec.token_source = TokenSource::Events;
        }
        None => rec.token_source = TokenSource::None,
    }
}

fn finish_partial(
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

fn fail(
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

/// An error with its causes, e.g. "error sending request: connection refused".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_with_or_without_v1() {
        for u in [
            "http://127.0.0.1:8000",
            "http://127.0.0.1:8000/",
            "http://127.0.0.1:8000/v1",
            "http://127.0.0.1:8000/v1/",
        ] {
            assert_eq!(normalize_base_url(u).unwrap(), "http://127.0.0.1:8000/v1");
        }
        assert!(normalize_base_url("127.0.0.1:8000").is_err());
        assert!(normalize_base_url("ftp://x").is_err());
    }

    #[test]
    fn api_key_goes_in_the_dialects_header_and_is_sensitive() {
        let h = build_headers(Api::Chat, Some("sk-1"), &[]).unwrap();
        assert_eq!(h["authorization"], "Bearer sk-1");
        assert!(h["authorization"].is_sensitive());
        let h = build_headers(Api::Messages, Some("ak"), &["X-Trace: 1".into()]).unwrap();
        assert_eq!(h["x-api-key"], "ak");
        assert_eq!(h["anthropic-version"], crate::protocol::anthropic::VERSION);
        assert_eq!(h["x-trace"], "1");
        assert!(build_headers(Api::Chat, None, &["nocolon".into()]).is_err());
    }
}
