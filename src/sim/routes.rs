//! The simulator's HTTP side: the router and its handlers. A generation request is parsed
//! (`request.rs`), may meet an injected fault, waits for admission by the engine, then streams or
//! returns its tokens (`respond.rs`) in its dialect's wire format (`protocol::wire`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::engine::{Admission, Submit, Token};
use super::prefix_cache::PrefixCache;
use super::request::{parse_request, Gen};
use super::respond::{stream_response, whole_response, FaultPlan};
use super::{next, CrashMode, SimConfig, SimStats};
use crate::protocol::wire::{self, Reply, Wire};
use crate::protocol::{Api, ErrorKind};
use crate::workload::Tokenizer;

pub struct AppState {
    pub(super) cfg: Arc<SimConfig>,
    pub(super) stats: Arc<SimStats>,
    engine: mpsc::UnboundedSender<Submit>,
    shutdown: CancellationToken,
    crash: CrashMode,
    ids: AtomicU64,
    pub(super) created: u64,
    tokenizer: Option<Arc<Tokenizer>>,
    prefix_cache: Option<std::sync::Mutex<PrefixCache>>,
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

pub(super) type Shared = Arc<AppState>;

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/messages", post(messages))
        .route("/v1/responses", post(responses))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .route("/metrics", get(super::prometheus::metrics))
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

async fn responses(State(s): State<Shared>, body: Bytes) -> Response {
    generate(s, Api::Responses, body).await
}

async fn embeddings(State(s): State<Shared>, body: Bytes) -> Response {
    generate(s, Api::Embeddings, body).await
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
        ErrorKind::InvalidRequest,
        &format!("no route for {}", uri.path()),
    )
}

/// An error in the dialect's shape.
pub(super) fn error_response(
    api: Api,
    status: StatusCode,
    kind: ErrorKind,
    message: &str,
) -> Response {
    let body = wire::error_body(api, status.as_u16(), kind, message);
    (status, axum::Json(body)).into_response()
}

async fn generate(s: Shared, api: Api, body: Bytes) -> Response {
    let arrived = Instant::now();
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
    let resp = handle(&s, api, body, n, arrived).await;
    s.stats.count_status(resp.status().as_u16());
    resp
}

async fn handle(s: &Shared, api: Api, body: Bytes, n: u64, arrived: Instant) -> Response {
    let mut req = match parse_request(api, &body, s.tokenizer.as_deref()) {
        Ok(r) => r,
        Err(msg) => {
            return error_response(
                api,
                StatusCode::BAD_REQUEST,
                ErrorKind::InvalidRequest,
                &msg,
            )
        }
    };
    let cfg = &s.cfg;
    let seed = cfg.request_seed(n);
    let mut rng = SmallRng::seed_from_u64(seed);
    if cfg.faults.slow_start_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cfg.faults.slow_start_ms)).await;
    }
    if cfg.faults.error_rate > 0.0 && rng.gen::<f64>() < cfg.faults.error_rate {
        let status = StatusCode::from_u16(cfg.faults.error_status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error_response(
            api,
            status,
            ErrorKind::Server,
            "injected error (--error-rate)",
        );
    }
    let malformed = cfg.faults.malformed_rate > 0.0 && rng.gen::<f64>() < cfg.faults.malformed_rate;
    if let Some(cache) = &s.prefix_cache {
        req.cached_tokens = cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .cached_tokens(&req);
    }
    if api == Api::Embeddings {
        // An embedding costs its inputs' prefill: a one-token generation, the token unsent.
        req.max_tokens = 1;
    }
    let mut rx = match admit(s, api, &req, seed).await {
        Ok(rx) => rx,
        Err(refused) => return refused,
    };
    if api == Api::Embeddings {
        if rx.recv().await.is_none() {
            let msg = "engine stopped";
            return error_response(api, StatusCode::SERVICE_UNAVAILABLE, ErrorKind::Server, msg);
        }
        let model = serde_json::Value::String(req.model.clone());
        let body = crate::protocol::embeddings::whole(
            &model,
            req.inputs,
            cfg.embedding_dim,
            req.prompt_tokens,
            seed,
        );
        return axum::Json(body).into_response();
    }
    let reply = Reply {
        model: req.model.clone(),
        prompt_tokens: req.prompt_tokens,
        cached_tokens: req.cached_tokens,
        include_usage: req.include_usage,
        continuous_usage: req.continuous_usage,
        reasoning: cfg.reasoning_for(api),
        tool: req.tool.clone(),
    };
    let wire = Wire::new(api, next(&s.ids), s.created, reply);
    let faults = &cfg.faults;
    let plan = FaultPlan {
        stall_at: (faults.stall_ms > 0).then(|| (req.max_tokens / 2).max(1)),
        stall_ms: faults.stall_ms,
        drop_after: faults.drop_after_tokens,
        malformed_at: malformed.then(|| (req.max_tokens / 2).max(1)),
        tokens_per_chunk: cfg.tokens_per_chunk.max(1),
    };
    if req.stream {
        stream_response(wire, rx, plan, cfg.timings.then_some(arrived))
    } else {
        whole_response(wire, rx, plan).await
    }
}

/// Queue the request for the engine and wait for a slot: the token channel, or the refusal
/// (queue full, waited too long, larger than the KV budget, engine gone).
#[allow(clippy::result_large_err)] // the refusal is the response itself, sent at once
async fn admit(
    s: &Shared,
    api: Api,
    req: &Gen,
    seed: u64,
) -> Result<mpsc::UnboundedReceiver<Token>, Response> {
    let refuse = |status, kind, msg: &str| Err(error_response(api, status, kind, msg));
    if s.stats.waiting.fetch_add(1, Ordering::Relaxed) >= s.cfg.queue_limit as u64 {
        s.stats.waiting.fetch_sub(1, Ordering::Relaxed);
        let msg = "the request queue is full (--queue-limit)";
        return refuse(StatusCode::TOO_MANY_REQUESTS, ErrorKind::RateLimited, msg);
    }
    let (reply, admitted) = oneshot::channel();
    let submit = Submit {
        prompt_tokens: req.uncached_tokens(),
        context_tokens: req.prompt_tokens.max(1),
        max_tokens: req.max_tokens,
        ignore_eos: req.ignore_eos,
        seed,
        enqueued: std::time::Instant::now(),
        reply,
    };
    if s.engine.send(submit).is_err() {
        s.stats.waiting.fetch_sub(1, Ordering::Relaxed);
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Server,
            "engine stopped",
        );
    }
    match admitted.await {
        Ok(Admission::Admitted(rx)) => Ok(rx),
        Ok(Admission::TimedOut { waited_ms }) => refuse(
            StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::Timeout,
            &format!("request waited {waited_ms} ms for a slot (--request-timeout)"),
        ),
        Ok(Admission::TooLarge { need, budget }) => refuse(
            StatusCode::BAD_REQUEST,
            ErrorKind::InvalidRequest,
            &format!(
                "prompt + max_tokens = {need} tokens exceeds the KV budget of {budget} tokens"
            ),
        ),
        Err(_) => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Server,
            "engine stopped",
        ),
    }
}
