//! The simulator's HTTP side: request validation, faults, and the exact wire formats of
//! OpenAI chat/completions, completions and Anthropic messages (streamed and whole). Tokens
//! come from the engine over a channel; formatting a streamed token is one buffer append of
//! pre-escaped text.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::{BufMut, BytesMut};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::engine::{Admission, Finish, Submit, Token, VOCAB};
use super::{next, CrashMode, SimConfig, SimStats};
use crate::protocol::Api;
use crate::workload::Tokenizer;

pub struct AppState {
    cfg: Arc<SimConfig>,
    stats: Arc<SimStats>,
    engine: mpsc::UnboundedSender<Submit>,
    shutdown: CancellationToken,
    crash: CrashMode,
    ids: AtomicU64,
    created: u64,
    tokenizer: Option<Arc<Tokenizer>>,
    prefix_cache: Option<std::sync::Mutex<PrefixCache>>,
}

/// Prompt prefixes seen, as chained hashes of 64-byte blocks: a request's cached part is its
/// longest run of leading blocks seen before (vLLM's automatic prefix caching, by bytes).
#[derive(Default)]
pub struct PrefixCache {
    blocks: std::collections::HashSet<u64>,
}

impl PrefixCache {
    const BLOCK: usize = 64;
    const MAX_BLOCKS: usize = 1 << 21;

    /// Bytes of `text` served from the cache; then remember all of its blocks.
    pub fn lookup_insert(&mut self, text: &str) -> usize {
        if self.blocks.len() > Self::MAX_BLOCKS {
            self.blocks.clear();
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut hit = 0;
        let mut missed = false;
        for block in text.as_bytes().chunks(Self::BLOCK) {
            if block.len() < Self::BLOCK {
                break; // only full blocks are cached
            }
            for b in block {
                h ^= *b as u64;
                h = h.wrapping_mul(0x100_0000_01b3);
            }
            if !missed && self.blocks.contains(&h) {
                hit += Self::BLOCK;
            } else {
                missed = true;
                self.blocks.insert(h);
            }
        }
        hit
    }
}

impl AppState {
    /// Count prompt tokens with this tokenizer (the sim's `--tokenizer`).
    pub fn with_tokenizer(mut self, t: Option<Arc<Tokenizer>>) -> AppState {
        self.tokenizer = t;
        self
    }

    pub fn new(
        cfg: Arc<SimConfig>,
        stats: Arc<SimStats>,
        engine: mpsc::UnboundedSender<Submit>,
        shutdown: CancellationToken,
        crash: CrashMode,
    ) -> AppState {
        let cfg_prefix = cfg.prefix_caching;
        AppState {
            cfg,
            stats,
            engine,
            shutdown,
            crash,
            ids: AtomicU64::new(1),
            created: chrono::Utc::now().timestamp().max(0) as u64,
            tokenizer: None,
            prefix_cache: cfg_prefix.then(|| std::sync::Mutex::new(PrefixCache::default())),
        }
    }
}

type Shared = Arc<AppState>;

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/messages", post(messages))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn chat(State(s): State<Shared>, body: Bytes) -> Response {
    generate(s, Api::Chat, body).await
}

async fn completions(State(s): State<Shared>, body: Bytes) -> Response {
    generate(s, Api::Completions, body).await
}

async fn messages(State(s): State<Shared>, body: Bytes) -> Response {
    generate(s, Api::Messages, body).await
}

async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn models(State(s): State<Shared>) -> Response {
    axum::Json(json!({
        "object": "list",
        "data": [{"id": s.cfg.model, "object": "model", "created": s.created, "owned_by": "llmbench-sim"}]
    }))
    .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error_response(
        Api::Chat,
        StatusCode::NOT_FOUND,
        "not_found_error",
        &format!("no route for {}", uri.path()),
    )
}

async fn metrics(State(s): State<Shared>) -> Response {
    use std::fmt::Write;
    let st = &s.stats;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = write!(
            out,
            "# HELP llmbench_sim:{name} {help}\n# TYPE llmbench_sim:{name} {kind}\nllmbench_sim:{name} {value}\n"
        );
    };
    let kv = st.kv_used.load(Ordering::Relaxed) as f64 / s.cfg.kv_tokens.max(1) as f64;
    metric(
        "num_requests_running",
        "gauge",
        "Sequences in the running batch.",
        st.running.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "num_requests_waiting",
        "gauge",
        "Requests waiting for a slot.",
        st.waiting.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "kv_cache_usage_perc",
        "gauge",
        "Fraction of the KV token budget reserved (0-1).",
        format!("{kv:.6}"),
    );
    metric(
        "prompt_tokens_total",
        "counter",
        "Prompt tokens prefilled.",
        st.prompt_tokens_total.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "generation_tokens_total",
        "counter",
        "Tokens generated.",
        st.generation_tokens_total
            .load(Ordering::Relaxed)
            .to_string(),
    );
    out.push_str("# HELP llmbench_sim:request_total Requests answered, by HTTP status.\n# TYPE llmbench_sim:request_total counter\n");
    let by_status = st
        .requests_by_status
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for (status, n) in by_status {
        let _ = writeln!(out, "llmbench_sim:request_total{{status=\"{status}\"}} {n}");
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// The error body each API uses.
fn error_response(api: Api, status: StatusCode, kind: &str, message: &str) -> Response {
    let body = match api {
        Api::Messages => json!({"type": "error", "error": {"type": kind, "message": message}}),
        _ => {
            json!({"error": {"message": message, "type": kind, "param": null, "code": status.as_u16()}})
        }
    };
    (status, axum::Json(body)).into_response()
}

/// A validated generation request.
#[derive(Debug)]
struct Gen {
    model: String,
    /// The prompt's text (messages joined), for the prefix cache.
    prompt_text: String,
    prompt_tokens: u32,
    /// Prompt tokens served from the prefix cache.
    cached_tokens: u32,
    max_tokens: u32,
    stream: bool,
    include_usage: bool,
    ignore_eos: bool,
}

/// Prompt tokens: exact under `--tokenizer`, else one per 4 bytes (at least one).
fn count_tokens(tok: Option<&Tokenizer>, text: &str) -> u32 {
    match tok {
        Some(t) => t.count(text) as u32,
        None => (text.len() as u32).div_ceil(4).max(1),
    }
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str).or_else(|| p.as_str()))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn parse_request(api: Api, body: &[u8], tok: Option<&Tokenizer>) -> Result<Gen, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("request body is not valid JSON: {e}"))?;
    let obj = v.as_object().ok_or("request body must be a JSON object")?;
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or("model: field required")?
        .to_string();
    let mut texts: Vec<String> = Vec::new();
    let prompt_tokens = match api {
        Api::Chat | Api::Messages => {
            let msgs = obj
                .get("messages")
                .and_then(Value::as_array)
                .filter(|m| !m.is_empty())
                .ok_or("messages: field required (a non-empty array)")?;
            let mut n = 0;
            for m in msgs {
                let content = m
                    .get("content")
                    .ok_or("messages: every message needs content")?;
                let t = text_of(content);
                n += count_tokens(tok, &t) + 3; // role and template tokens
                texts.push(t);
            }
            if let Some(system) = obj.get("system") {
                let t = text_of(system);
                n += count_tokens(tok, &t);
                texts.insert(0, t);
            }
            n
        }
        Api::Completions => match obj.get("prompt") {
            Some(Value::String(p)) => {
                texts.push(p.clone());
                count_tokens(tok, p)
            }
            Some(Value::Array(ps)) if !ps.is_empty() => ps
                .iter()
                .map(|p| {
                    let t = text_of(p);
                    let n = count_tokens(tok, &t);
                    texts.push(t);
                    n
                })
                .sum(),
            _ => return Err("prompt: field required".into()),
        },
    };
    let max_tokens = obj
        .get("max_tokens")
        .or_else(|| obj.get("max_completion_tokens"))
        .and_then(Value::as_u64);
    let max_tokens = match (api, max_tokens) {
        (_, Some(0)) => return Err("max_tokens must be at least 1".into()),
        (_, Some(n)) => n.min(u32::MAX as u64) as u32,
        (Api::Messages, None) => return Err("max_tokens: field required".into()),
        (_, None) => 256,
    };
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ignore_eos = obj
        .get("ignore_eos")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Gen {
        model,
        prompt_text: texts.join("\n"),
        prompt_tokens,
        cached_tokens: 0,
        max_tokens,
        stream,
        include_usage,
        ignore_eos,
    })
}

async fn generate(s: Shared, api: Api, body: Bytes) -> Response {
    let n = s.stats.requests_received.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(limit) = s.cfg.faults.crash_after {
        if n > limit {
            match s.crash {
                CrashMode::ExitProcess => {
                    eprintln!(
                        "llmbench sim: simulated crash after {limit} requests (--crash-after)"
                    );
                    std::process::exit(70);
                }
                CrashMode::StopServing => {
                    s.shutdown.cancel();
                    // The connection task drops this response with the connection.
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    let resp = handle(&s, api, body, n).await;
    s.stats.count_status(resp.status().as_u16());
    resp
}

async fn handle(s: &Shared, api: Api, body: Bytes, n: u64) -> Response {
    let mut req = match parse_request(api, &body, s.tokenizer.as_deref()) {
        Ok(r) => r,
        Err(msg) => {
            return error_response(api, StatusCode::BAD_REQUEST, "invalid_request_error", &msg)
        }
    };
    let cfg = &s.cfg;
    let seed = cfg.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = SmallRng::seed_from_u64(seed);
    if cfg.faults.slow_start_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cfg.faults.slow_start_ms)).await;
    }
    if cfg.faults.error_rate > 0.0 && rng.gen::<f64>() < cfg.faults.error_rate {
        let status = StatusCode::from_u16(cfg.faults.error_status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error_response(api, status, "server_error", "injected error (--error-rate)");
    }
    let malformed = cfg.faults.malformed_rate > 0.0 && rng.gen::<f64>() < cfg.faults.malformed_rate;

    if let Some(cache) = &s.prefix_cache {
        let total = req.prompt_text.len().max(1) as u64;
        let hit = cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .lookup_insert(&req.prompt_text) as u64;
        req.cached_tokens = (req.prompt_tokens as u64 * hit / total) as u32;
    }
    if s.stats.waiting.fetch_add(1, Ordering::Relaxed) >= cfg.queue_limit as u64 {
        s.stats.waiting.fetch_sub(1, Ordering::Relaxed);
        let kind = if api == Api::Messages {
            "rate_limit_error"
        } else {
            "rate_limit_exceeded"
        };
        return error_response(
            api,
            StatusCode::TOO_MANY_REQUESTS,
            kind,
            "the request queue is full (--queue-limit)",
        );
    }
    let (reply, admitted) = oneshot::channel();
    let submit = Submit {
        // Cached prompt tokens need no prefill; the last one is always computed.
        prompt_tokens: (req.prompt_tokens - req.cached_tokens).max(1),
        max_tokens: req.max_tokens,
        ignore_eos: req.ignore_eos,
        seed,
        enqueued: std::time::Instant::now(),
        reply,
    };
    if s.engine.send(submit).is_err() {
        s.stats.waiting.fetch_sub(1, Ordering::Relaxed);
        return error_response(
            api,
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "engine stopped",
        );
    }
    let rx = match admitted.await {
        Ok(Admission::Admitted(rx)) => rx,
        Ok(Admission::TimedOut { waited_ms }) => {
            let kind = if api == Api::Messages {
                "overloaded_error"
            } else {
                "timeout"
            };
            return error_response(
                api,
                StatusCode::GATEWAY_TIMEOUT,
                kind,
                &format!("request waited {waited_ms} ms for a slot (--request-timeout)"),
            );
        }
        Ok(Admission::TooLarge { need, budget }) => {
            return error_response(
                api,
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!(
                    "prompt + max_tokens = {need} tokens exceeds the KV budget of {budget} tokens"
                ),
            )
        }
        Err(_) => {
            return error_response(
                api,
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "engine stopped",
            )
        }
    };

    let id = next(&s.ids);
    let wire = Wire::new(api, id, s.created, &req);
    let faults = &cfg.faults;
    let plan = FaultPlan {
        stall_at: (faults.stall_ms > 0).then(|| (req.max_tokens / 2).max(1)),
        stall_ms: faults.stall_ms,
        drop_after: faults.drop_after_tokens,
        malformed_at: malformed.then(|| (req.max_tokens / 2).max(1)),
    };
    if req.stream {
        stream_response(wire, rx, plan)
    } else {
        whole_response(wire, rx, plan).await
    }
}

#[derive(Clone, Copy)]
struct FaultPlan {
    stall_at: Option<u32>,
    stall_ms: u64,
    drop_after: Option<u32>,
    malformed_at: Option<u32>,
}

/// Pre-rendered pieces of one response's wire format.
struct Wire {
    api: Api,
    id: String,
    created: u64,
    model_json: String,
    prompt_tokens: u32,
    cached_tokens: u32,
    include_usage: bool,
    /// Everything of a token chunk before the JSON string of its text.
    head: String,
    /// Everything after it.
    tail: &'static str,
}

fn vocab_json() -> &'static [String] {
    static V: OnceLock<Vec<String>> = OnceLock::new();
    V.get_or_init(|| {
        VOCAB
            .iter()
            .map(|w| serde_json::to_string(w).expect("string"))
            .collect()
    })
}

fn finish_name(api: Api, f: Finish) -> &'static str {
    match (api, f) {
        (Api::Messages, Finish::Length) => "max_tokens",
        (Api::Messages, Finish::Stop) => "end_turn",
        (_, Finish::Length) => "length",
        (_, Finish::Stop) => "stop",
    }
}

impl Wire {
    fn new(api: Api, n: u64, created: u64, req: &Gen) -> Wire {
        let model_json = serde_json::to_string(&req.model).expect("string");
        let (id, head, tail) = match api {
            Api::Chat => {
                let id = format!("chatcmpl-sim{n}");
                let head = format!(
                    "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":{model_json},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":"
                );
                (
                    id,
                    head,
                    "},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
                )
            }
            Api::Completions => {
                let id = format!("cmpl-sim{n}");
                let head = format!(
                    "data: {{\"id\":\"{id}\",\"object\":\"text_completion\",\"created\":{created},\"model\":{model_json},\"choices\":[{{\"index\":0,\"text\":"
                );
                (id, head, ",\"logprobs\":null,\"finish_reason\":null}]}\n\n")
            }
            Api::Messages => {
                let id = format!("msg_sim{n}");
                let head = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":".to_string();
                (id, head, "}}\n\n")
            }
        };
        Wire {
            api,
            id,
            created,
            model_json,
            prompt_tokens: req.prompt_tokens,
            cached_tokens: req.cached_tokens,
            include_usage: req.include_usage,
            head,
            tail,
        }
    }

    fn start(&self, buf: &mut BytesMut) {
        match self.api {
            Api::Chat => {
                let v = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                    "model": serde_json::from_str::<Value>(&self.model_json).unwrap_or(Value::Null),
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]});
                sse(buf, None, &v);
            }
            Api::Completions => {}
            Api::Messages => {
                let v = json!({"type": "message_start", "message": {"id": self.id, "type": "message", "role": "assistant",
                    "content": [], "model": serde_json::from_str::<Value>(&self.model_json).unwrap_or(Value::Null),
                    "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": self.prompt_tokens - self.cached_tokens, "cache_read_input_tokens": self.cached_tokens, "output_tokens": 1}}});
                sse(buf, Some("message_start"), &v);
                sse(
                    buf,
                    Some("content_block_start"),
                    &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                );
                sse(buf, Some("ping"), &json!({"type": "ping"}));
            }
        }
    }

    fn token(&self, buf: &mut BytesMut, word: u16) {
        buf.put_slice(self.head.as_bytes());
        buf.put_slice(vocab_json()[word as usize].as_bytes());
        buf.put_slice(self.tail.as_bytes());
    }

    fn malformed(&self, buf: &mut BytesMut) {
        match self.api {
            Api::Messages => buf.put_slice(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\n\n"),
            _ => buf.put_slice(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\n\n"),
        }
    }

    fn finish(&self, buf: &mut BytesMut, f: Finish, output: u32) {
        let model: Value = serde_json::from_str(&self.model_json).unwrap_or(Value::Null);
        let reason = finish_name(self.api, f);
        let usage = json!({"prompt_tokens": self.prompt_tokens, "completion_tokens": output,
            "total_tokens": self.prompt_tokens + output, "prompt_tokens_details": {"cached_tokens": self.cached_tokens}});
        match self.api {
            Api::Chat | Api::Completions => {
                let (object, choice) = if self.api == Api::Chat {
                    (
                        "chat.completion.chunk",
                        json!({"index": 0, "delta": {}, "logprobs": null, "finish_reason": reason}),
                    )
                } else {
                    (
                        "text_completion",
                        json!({"index": 0, "text": "", "logprobs": null, "finish_reason": reason}),
                    )
                };
                sse(
                    buf,
                    None,
                    &json!({"id": self.id, "object": object, "created": self.created, "model": model, "choices": [choice]}),
                );
                if self.include_usage {
                    sse(
                        buf,
                        None,
                        &json!({"id": self.id, "object": object, "created": self.created, "model": model, "choices": [], "usage": usage}),
                    );
                }
                buf.put_slice(b"data: [DONE]\n\n");
            }
            Api::Messages => {
                sse(
                    buf,
                    Some("content_block_stop"),
                    &json!({"type": "content_block_stop", "index": 0}),
                );
                sse(
                    buf,
                    Some("message_delta"),
                    &json!({"type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": null}, "usage": {"output_tokens": output}}),
                );
                sse(buf, Some("message_stop"), &json!({"type": "message_stop"}));
            }
        }
    }

    fn whole(&self, text: &str, f: Finish, output: u32) -> Value {
        let model: Value = serde_json::from_str(&self.model_json).unwrap_or(Value::Null);
        let reason = finish_name(self.api, f);
        let usage = json!({"prompt_tokens": self.prompt_tokens, "completion_tokens": output,
            "total_tokens": self.prompt_tokens + output, "prompt_tokens_details": {"cached_tokens": self.cached_tokens}});
        match self.api {
            Api::Chat => {
                json!({"id": self.id, "object": "chat.completion", "created": self.created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": null, "finish_reason": reason}],
                "usage": usage})
            }
            Api::Completions => {
                json!({"id": self.id, "object": "text_completion", "created": self.created, "model": model,
                "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": reason}], "usage": usage})
            }
            Api::Messages => {
                json!({"id": self.id, "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": text}], "stop_reason": reason, "stop_sequence": null,
                "usage": {"input_tokens": self.prompt_tokens - self.cached_tokens, "cache_read_input_tokens": self.cached_tokens, "output_tokens": output}})
            }
        }
    }
}

fn sse(buf: &mut BytesMut, event: Option<&str>, v: &Value) {
    if let Some(e) = event {
        buf.put_slice(b"event: ");
        buf.put_slice(e.as_bytes());
        buf.put_slice(b"\n");
    }
    buf.put_slice(b"data: ");
    buf.put_slice(v.to_string().as_bytes());
    buf.put_slice(b"\n\n");
}

fn broken(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, reason.to_string())
}

struct StreamState {
    wire: Wire,
    rx: mpsc::UnboundedReceiver<Token>,
    plan: FaultPlan,
    sent: u32,
    started: bool,
    stalled: bool,
    ended: bool,
}

fn stream_response(wire: Wire, rx: mpsc::UnboundedReceiver<Token>, plan: FaultPlan) -> Response {
    let state = StreamState {
        wire,
        rx,
        plan,
        sent: 0,
        started: false,
        stalled: false,
        ended: false,
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
            if st.plan.malformed_at == Some(st.sent) {
                st.wire.malformed(&mut buf);
            } else {
                st.wire.token(&mut buf, tok.word);
            }
            st.sent += 1;
            if let Some(f) = tok.finish {
                st.wire.finish(&mut buf, f, st.sent);
                st.ended = true;
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

async fn whole_response(
    wire: Wire,
    mut rx: mpsc::UnboundedReceiver<Token>,
    plan: FaultPlan,
) -> Response {
    let mut text = String::new();
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
                text.push_str(VOCAB[t.word as usize]);
                n += 1;
                if let Some(f) = t.finish {
                    break f;
                }
            }
            None => {
                return error_response(
                    wire.api,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "engine stopped",
                )
            }
        }
    };
    if plan.stall_ms > 0 {
        tokio::time::sleep(Duration::from_millis(plan.stall_ms)).await;
    }
    let mut body = wire.whole(&text, finish, n).to_string();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(api: Api, body: &[u8]) -> Result<Gen, String> {
        parse_request(api, body, None)
    }

    #[test]
    fn missing_fields_are_named() {
        assert!(parse(
            Api::Chat,
            br#"{"messages":[{"role":"user","content":"x"}]}"#
        )
        .unwrap_err()
        .contains("model"));
        assert!(parse(Api::Chat, br#"{"model":"m"}"#)
            .unwrap_err()
            .contains("messages"));
        assert!(parse(Api::Completions, br#"{"model":"m"}"#)
            .unwrap_err()
            .contains("prompt"));
        assert!(parse(
            Api::Messages,
            br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#
        )
        .unwrap_err()
        .contains("max_tokens"));
        assert!(parse(Api::Chat, b"{nope").unwrap_err().contains("JSON"));
    }

    #[test]
    fn request_options_are_read() {
        let g = parse(
            Api::Chat,
            br#"{"model":"m","messages":[{"role":"user","content":"abcdefgh"}],"max_tokens":7,"stream":true,"stream_options":{"include_usage":true},"ignore_eos":true}"#,
        )
        .unwrap();
        assert_eq!(g.max_tokens, 7);
        assert!(g.stream && g.include_usage && g.ignore_eos);
        assert_eq!(g.prompt_tokens, 2 + 3);
    }

    #[test]
    fn streamed_token_chunks_parse_with_the_clients_reader() {
        let g = parse(
            Api::Chat,
            br#"{"model":"m\"q","messages":[{"role":"user","content":"x"}]}"#,
        )
        .unwrap();
        for api in [Api::Chat, Api::Completions, Api::Messages] {
            let w = Wire::new(api, 1, 0, &g);
            let mut buf = BytesMut::new();
            w.start(&mut buf);
            for word in 0..VOCAB.len() as u16 {
                w.token(&mut buf, word);
            }
            w.finish(&mut buf, Finish::Length, VOCAB.len() as u32);
            let mut obs = crate::protocol::Observation::default();
            let mut content = 0;
            let mut dec = crate::protocol::SseDecoder::new();
            dec.feed(&buf, &mut |ev| {
                if api.on_event(ev, &mut obs).expect("valid event") {
                    content += 1;
                }
                true
            });
            assert_eq!(content, VOCAB.len(), "{api:?}");
            assert!(obs.is_complete(api), "{api:?}");
        }
    }
}
