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

mod read;

pub use crate::protocol::build_headers;
use crate::protocol::{Api, Observation};
use crate::record::{Clock, FailureKind, RequestRecord};
use crate::workload::Tokenizer;
use read::{
    apply_observation, fail, finish_partial, http_error, read_stream, read_whole, Cut, Guard,
};

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
    /// `--endpoint`: the request path under the base without its `/v1`, instead of the API's.
    pub path: Option<String>,
}

impl Endpoint {
    /// The URL requests are sent to.
    pub fn url(&self) -> String {
        match &self.path {
            Some(p) => format!("{}{p}", self.base.strip_suffix("/v1").unwrap_or(&self.base)),
            None => format!("{}{}", self.base, &self.api.path()["/v1".len()..]),
        }
    }
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

/// Idle pooled connections are closed after this long, before the 5 s keep-alive timeout of
/// uvicorn (vLLM, SGLang) and cpp-httplib (llama.cpp): a connection the server is closing is
/// never picked for a request, which would then fail having been written.
pub const POOL_IDLE: Duration = Duration::from_secs(4);

/// A connection pool plus the endpoint. Cheap to clone (shares the pool).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    url: String,
    /// `url` parsed once (parsing it for every request cost more than reading a token).
    parsed: reqwest::Url,
    endpoint: Endpoint,
    /// Counts output tokens from the text when the server reports no usage.
    tokenizer: Option<Arc<Tokenizer>>,
    /// Values never to record or print (the key, header values, URL credentials).
    secrets: Arc<Vec<String>>,
    /// Keep each answer's text in its record (a session's next turn carries it).
    keep_answers: bool,
    /// `--fallback-url` endpoints, tried in order when a request fails before its first byte.
    fallbacks: Arc<Vec<Client>>,
    /// Several `--url`: each request goes to one of these (the first is this client's own).
    replicas: Option<Arc<Replicas>>,
}

/// How requests are spread over replicas (several `--url`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    #[default]
    RoundRobin,
    LeastInflight,
}

impl crate::units::Named for Balance {
    const ALL: &'static [Balance] = &[Balance::RoundRobin, Balance::LeastInflight];
    fn name(self) -> &'static str {
        match self {
            Balance::RoundRobin => "round-robin",
            Balance::LeastInflight => "least-inflight",
        }
    }
}

/// Replicas of one model: the clients, and what the balance needs.
struct Replicas {
    clients: Vec<Client>,
    balance: Balance,
    next: std::sync::atomic::AtomicUsize,
    in_flight: Vec<std::sync::atomic::AtomicUsize>,
}

impl Replicas {
    fn pick(&self) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        let n = self.clients.len();
        match self.balance {
            Balance::RoundRobin => self.next.fetch_add(1, Relaxed) % n,
            Balance::LeastInflight => {
                // Ties go round robin, so that an idle start spreads evenly.
                let start = self.next.fetch_add(1, Relaxed);
                (0..n)
                    .map(|k| (start + k) % n)
                    .min_by_key(|&k| self.in_flight[k].load(Relaxed))
                    .unwrap_or(0)
            }
        }
    }
}

/// A failure that happened before the server sent a byte of an answer, of a kind a router
/// fails over on: no connection, a timeout or a dropped connection before any response, or
/// HTTP 5xx or 429.
pub fn fails_over(rec: &RequestRecord) -> bool {
    let Some(e) = &rec.error else { return false };
    if !rec.content_ns.is_empty() {
        return false;
    }
    match e.kind {
        FailureKind::Connect => true,
        FailureKind::Timeout | FailureKind::StreamBroken => rec.headers_ns.is_none(),
        FailureKind::Http => e
            .http_status
            .is_some_and(|s| s == 429 || (500..600).contains(&s)),
        _ => false,
    }
}

/// The secret values of a header map: every value marked sensitive (the API key, `-H`
/// values), and the token inside `Bearer …` / `Basic …`.
pub fn secrets_of(headers: &HeaderMap) -> Vec<String> {
    let mut out = Vec::new();
    for v in headers.values().filter(|v| v.is_sensitive()) {
        let Ok(text) = v.to_str() else { continue };
        out.push(text.to_string());
        if let Some((_, token)) = text.split_once(' ') {
            out.push(token.to_string());
        }
    }
    out.retain(|s| s.len() >= 4);
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out
}

/// `text` with every secret value replaced by `[redacted]`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "[redacted]");
        }
    }
    out
}

/// Redirects are followed within the target's origin only: credentials never go to another
/// host, and the request fails naming the redirect.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(|u| u.origin());
        if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else if first.as_ref() != Some(&attempt.url().origin()) {
            let to = attempt.url().origin().ascii_serialization();
            attempt.error(format!(
                "redirect to another origin ({to}) not followed: credentials are not sent to another host"
            ))
        } else {
            attempt.follow()
        }
    })
}

impl Client {
    pub fn new(endpoint: Endpoint, max_connections: usize) -> anyhow::Result<Client> {
        Client::with_pool_idle(endpoint, max_connections, POOL_IDLE)
    }

    /// A client whose idle pooled connections are closed after `idle` (tests use a short one).
    pub fn with_pool_idle(
        endpoint: Endpoint,
        max_connections: usize,
        idle: Duration,
    ) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(max_connections.max(1))
            .pool_idle_timeout(idle)
            .redirect(same_origin_redirects())
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("building the HTTP client")?;
        let url = endpoint.url();
        let parsed = reqwest::Url::parse(&url).context("parsing the endpoint's URL")?;
        let secrets = Arc::new(secrets_of(&endpoint.headers));
        Ok(Client {
            http,
            url,
            parsed,
            endpoint,
            tokenizer: None,
            secrets,
            keep_answers: false,
            fallbacks: Arc::new(Vec::new()),
            replicas: None,
        })
    }

    /// This client with `fallbacks` to try in order (`--fallback-url`), each with this one's
    /// settings.
    pub fn with_fallbacks(mut self, fallbacks: Vec<Client>) -> Client {
        self.fallbacks = Arc::new(fallbacks);
        self
    }

    pub fn fallback_count(&self) -> usize {
        self.fallbacks.len()
    }

    /// A client spreading requests over `clients` (replicas of one model, the first being the
    /// primary) by `balance`; each record names its replica in `endpoint`.
    pub fn balanced(clients: Vec<Client>, balance: Balance) -> Client {
        let mut c = clients[0].clone();
        c.replicas = Some(Arc::new(Replicas {
            in_flight: clients.iter().map(|_| Default::default()).collect(),
            clients,
            balance,
            next: Default::default(),
        }));
        c
    }

    /// This client, keeping each answer's text in its record (`RequestRecord::answer`).
    pub fn keeping_answers(&self) -> Client {
        let mut c = Client {
            keep_answers: true,
            ..self.clone()
        };
        c.each_replica(|r| r.keep_answers = true);
        c
    }

    /// Count output tokens with `t` when a server reports no usage (the text is then kept
    /// until the response ends).
    pub fn set_tokenizer(&mut self, t: Option<Arc<Tokenizer>>) {
        self.tokenizer = t.clone();
        self.each_replica(|r| r.tokenizer = t.clone());
    }

    /// Apply `f` to every replica (a fresh set: settings are made before a run).
    fn each_replica(&mut self, f: impl Fn(&mut Client)) {
        let Some(r) = self.replicas.take() else {
            return;
        };
        let clients = r
            .clients
            .iter()
            .map(|c| {
                let mut c = c.clone();
                f(&mut c);
                c
            })
            .collect();
        *self = Client::balanced(clients, r.balance);
    }

    /// Open up to `n` connections before measuring (a `GET /models` on each), so that a burst
    /// of first requests does not time TCP handshakes and connection setup. Best effort.
    pub async fn prewarm(&self, n: usize) {
        if let Some(r) = &self.replicas {
            for c in &r.clients {
                Box::pin(c.prewarm(n.div_ceil(r.clients.len()))).await;
            }
            return;
        }
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

    /// Send one prepared body and time it. Never fails: failures are in the record, with every
    /// secret value redacted from their details (servers and proxies echo headers).
    pub async fn send(
        &self,
        id: u64,
        body: Bytes,
        clock: &Clock,
        cancel: &CancellationToken,
    ) -> RequestRecord {
        if let Some(r) = &self.replicas {
            use std::sync::atomic::Ordering::Relaxed;
            let k = r.pick();
            r.in_flight[k].fetch_add(1, Relaxed);
            let mut rec = Box::pin(r.clients[k].send(id, body, clock, cancel)).await;
            r.in_flight[k].fetch_sub(1, Relaxed);
            rec.endpoint = Some(k as u32);
            return rec;
        }
        let mut rec = self.exchange(id, body.clone(), clock, cancel).await;
        if !self.fallbacks.is_empty() {
            rec = self.fail_over(rec, id, body, clock, cancel).await;
        }
        // Let the connection's task see a close the server sent right after the response
        // (llama.cpp closes after every streamed answer while announcing keep-alive), so that
        // the pool drops that connection instead of handing it to the next request. The
        // record is complete: this costs the next request's start, never a measured figure.
        tokio::time::sleep(SETTLE).await;
        if let Some(e) = &mut rec.error {
            // Redact the whole text first: a secret cut in two would leave its first part.
            if !self.secrets.is_empty() {
                e.detail = redact(&e.detail, &self.secrets);
            }
            if e.kind == FailureKind::Http && e.detail.len() > read::DETAIL_BYTES {
                let mut end = read::DETAIL_BYTES;
                while !e.detail.is_char_boundary(end) {
                    end -= 1;
                }
                e.detail.truncate(end);
            }
        }
        rec
    }

    /// Try the fallbacks in order while the last attempt failed before its first byte. The
    /// record is the last attempt's, timed from the first attempt's send (what the user
    /// waited), with the endpoint that answered, the attempts, and when the last one was sent.
    async fn fail_over(
        &self,
        first: RequestRecord,
        id: u64,
        body: Bytes,
        clock: &Clock,
        cancel: &CancellationToken,
    ) -> RequestRecord {
        let (sent_ns, mut rec) = (first.sent_ns, first);
        rec.endpoint = Some(0);
        rec.attempts = Some(1);
        for (k, fb) in self.fallbacks.iter().enumerate() {
            if !fails_over(&rec) || cancel.is_cancelled() {
                break;
            }
            let mut next = fb.exchange(id, body.clone(), clock, cancel).await;
            next.failover_sent_ns = Some(next.sent_ns);
            next.sent_ns = sent_ns;
            next.endpoint = Some(k as u32 + 1);
            next.attempts = Some(k as u32 + 2);
            next.first_failure = rec.first_failure.or(rec.error.take().map(|e| e.kind));
            next.resent |= rec.resent;
            rec = next;
        }
        rec
    }

    async fn exchange(
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
        rec.sent_ns = clock.now_ns();
        let mut guard = Guard::new(
            self.endpoint
                .timeout
                .map(|t| clock.instant_at(rec.sent_ns) + t),
            cancel,
        );
        let post = |body: Bytes| {
            self.http
                .post(self.parsed.clone())
                .headers(self.endpoint.headers.clone())
                .body(body)
                .send()
        };
        let mut sent = guard.race(post(body.clone())).await;
        let quick = clock.now_ns().saturating_sub(rec.sent_ns) < RACE_WINDOW.as_nanos() as u64;
        if quick && matches!(&sent, Ok(Err(e)) if closed_unread(e)) {
            // Still timed from the first send (what the user waited). When this one cannot be
            // sent either (a server gone), the first failure stands.
            rec.resent = true;
            let again = guard.race(post(body)).await;
            if !matches!(again, Ok(Err(_))) {
                sent = again;
            }
        }
        let resp = match sent {
            Err(Cut::Cancelled) => {
                let why = "stopped before the response began";
                return fail(rec, clock, FailureKind::Cancelled, None, why.into());
            }
            Err(Cut::Timeout) => {
                let why = "no response headers before the timeout";
                return fail(rec, clock, FailureKind::Timeout, None, why.into());
            }
            // No other retry: the pool resends a request never written (a pooled connection
            // found closed), and a request the server may have read is never sent twice.
            Ok(Err(e)) => return fail(rec, clock, send_failure(&e), None, error_chain(&e)),
            Ok(Ok(r)) => r,
        };
        rec.headers_ns = Some(clock.now_ns());
        if !resp.status().is_success() {
            return http_error(rec, resp, clock, &mut guard).await;
        }
        if let Some(why) = unasked_encoding(&resp) {
            return fail(rec, clock, FailureKind::BadResponse, None, why);
        }
        let api = self.endpoint.api;
        let tok = self.tokenizer.as_deref();
        let mut obs = Observation {
            text: (tok.is_some() || self.keep_answers).then(String::new),
            reasoning_text: tok.is_some().then(String::new),
            ..Observation::default()
        };
        let read = if self.endpoint.stream {
            read_stream(&mut rec, resp, api, &mut obs, clock, &mut guard).await
        } else {
            read_whole(&mut rec, resp, api, &mut obs, clock, &mut guard).await
        };
        if let Err((kind, detail)) = read {
            return finish_partial(rec, obs, tok, kind, detail);
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
        if self.keep_answers {
            rec.answer = obs.text.clone();
        }
        apply_observation(&mut rec, obs, tok);
        rec
    }
}

/// The kind of a failure to send a request or to receive its response headers.
fn send_failure(e: &reqwest::Error) -> FailureKind {
    if e.is_redirect() {
        FailureKind::Http
    } else if e.is_connect() {
        FailureKind::Connect
    } else if e.is_timeout() {
        FailureKind::Timeout
    } else {
        FailureKind::StreamBroken
    }
}

/// How soon after its send a request must meet a closed connection to be sent again.
const RACE_WINDOW: Duration = Duration::from_millis(200);

/// The server closed the connection, or reset it, before one byte of the answer: the
/// keep-alive race of a server that closes after each answer while announcing keep-alive
/// (llama.cpp) and whose close is still on its way when the pool hands the connection to the
/// next request, which the server then never reads. Met within [`RACE_WINDOW`] of the send,
/// the request is sent again once, at once, and its record says so. A server that did read the
/// request and closed within that window without a byte of answer sees it twice; one that
/// closes later (a proxy's timeout, a worker that died mid-request) gets one failure.
fn closed_unread(e: &reqwest::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = src {
        if let Some(h) = cause.downcast_ref::<hyper::Error>() {
            let reset = std::error::Error::source(h)
                .and_then(|c| c.downcast_ref::<std::io::Error>())
                .is_some_and(|io| {
                    use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
                    matches!(io.kind(), ConnectionReset | BrokenPipe)
                });
            return h.is_incomplete_message() || reset;
        }
        src = cause.source();
    }
    false
}

/// No encoding is asked for (no Accept-Encoding): a compressed body cannot be read.
fn unasked_encoding(resp: &reqwest::Response) -> Option<String> {
    let enc = resp
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)?
        .to_str()
        .ok()?;
    (!enc.trim().eq_ignore_ascii_case("identity")).then(|| {
        format!(
            "the server compressed its answer ({enc}, Content-Encoding) though no encoding was asked for: not read"
        )
    })
}

/// The pause after a response before the next request may take its connection.
const SETTLE: Duration = Duration::from_millis(1);

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
