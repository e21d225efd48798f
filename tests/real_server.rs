//! Proof against real inference servers: llama.cpp's server (xllamacpp, continuous batching over
//! `--parallel` slots) and llama-cpp-python's server (one request at a time, cuts a running
//! stream when another arrives), both from tests/real-server (PyPI only, cached under
//! ~/.cache/real-llm).
//!
//! Runs when LLMBENCH_REAL_SERVER_DIR names a directory set up by tests/real-server/setup.sh
//! (`.ci/run` does that). Without it the tests say so and pass on a developer machine, but fail
//! when `CI` is set; a developer skips them explicitly with LLMBENCH_SKIP_REAL_SERVER=1. Tests here run one at a time: two servers would share the 2 cores.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::{capacity_args, run_args, stress_args, sweep_args, throughput_args};
use llmbench::client::{build_headers, Client, Endpoint};
use llmbench::commands::{capacity, run, stress, sweep, throughput};
use llmbench::protocol::Api;
use llmbench::record::{Clock, FailureKind, TokenSource};
use llmbench::verdict::stress::FailureMode;
use tokio_util::sync::CancellationToken;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn setup_dir() -> Option<PathBuf> {
    if std::env::var_os("LLMBENCH_SKIP_REAL_SERVER").is_some() {
        eprintln!("SKIPPED: LLMBENCH_SKIP_REAL_SERVER is set");
        return None;
    }
    match std::env::var_os("LLMBENCH_REAL_SERVER_DIR") {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the real-server tests: set LLMBENCH_REAL_SERVER_DIR (see .ci/run)"
            );
            eprintln!("SKIPPED: set LLMBENCH_REAL_SERVER_DIR to a directory prepared by tests/real-server/setup.sh");
            None
        }
    }
}

struct Server {
    pid: i32,
    url: String,
}

impl Server {
    fn start(dir: &Path, engine: &str, model: &str, parallel: u32, ctx_per_slot: u32) -> Server {
        Server::start_with(dir, engine, model, parallel, ctx_per_slot, None)
    }

    /// xllamacpp with more serve.py flags (`--embeddings`).
    fn serving(dir: &Path, model: &str, parallel: u32, serve_args: &str) -> Server {
        std::env::set_var("SERVE_ARGS", serve_args);
        let s = Server::start(dir, "xllamacpp", model, parallel, 2048);
        std::env::remove_var("SERVE_ARGS");
        s
    }

    /// `threads`: the server's compute threads (default: all cores).
    fn start_with(
        dir: &Path,
        engine: &str,
        model: &str,
        parallel: u32,
        ctx_per_slot: u32,
        threads: Option<u32>,
    ) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/real-server/start.sh");
        let o = Command::new(script)
            .args([
                dir.to_str().unwrap(),
                &port.to_string(),
                &parallel.to_string(),
            ])
            .env("ENGINE", engine)
            .env("MODEL", model)
            .env("CTX_PER_SLOT", ctx_per_slot.to_string())
            .envs(threads.map(|t| ("THREADS", t.to_string())))
            .output()
            .expect("start.sh runs");
        assert!(
            o.status.success(),
            "server did not start: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let pid: i32 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
        Server {
            pid,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.pid, libc::SIGTERM);
        }
        for _ in 0..50 {
            if unsafe { libc::kill(self.pid, 0) } != 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
        }
    }
}

/// Bound every run: a real server must never hang the suite.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(240), f)
        .await
        .expect("finished within 240 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_stream_counts_and_timings_agree_with_the_server() {
    let Some(dir) = setup_dir() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let srv = Server::start(&dir, "xllamacpp", "smollm2", 1, 2048);
    let r = bounded(run::execute(&run_args(
        &srv.url,
        &[
            "--stream",
            "--runs",
            "5",
            "--max-tokens",
            "32",
            "--prompt",
            "long",
        ],
    )))
    .await
    .unwrap();
    assert_eq!(r.summary.requests.ok, 5, "{:?}", r.summary.errors);
    for rec in r.requests.iter().filter(|r| !r.warmup) {
        let t = rec
            .server_timings
            .as_ref()
            .expect("llama.cpp reports timings");
        assert_eq!(rec.token_source, TokenSource::Usage);
        assert_eq!(
            rec.output_tokens,
            t.predicted_n.map(|n| n as u64),
            "usage = the server's own count"
        );
        let (ttft, prompt_ms) = (rec.ttft_ms().unwrap(), t.prompt_ms.unwrap());
        assert!(
            ttft >= prompt_ms * 0.9,
            "TTFT {ttft} ms < server prefill {prompt_ms} ms"
        );
        assert!(
            ttft <= prompt_ms + 250.0,
            "TTFT {ttft} ms vs server prefill {prompt_ms} ms"
        );
        let decode = rec.e2e_ms() - ttft;
        let predicted = t.predicted_ms.unwrap();
        assert!(
            (decode - predicted).abs() <= 0.3 * predicted + 50.0,
            "client decode {decode} ms vs server {predicted} ms"
        );
    }
}

/// `llamacpp:tokens_predicted_total` from the server's own /metrics.
async fn tokens_predicted(url: &str) -> f64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let want = ["llamacpp:tokens_predicted_total".to_string()];
    llmbench::monitor::parse_prometheus(&text, &want)[&want[0]]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_without_usage_counts_come_from_its_timings() {
    // Without stream_options.include_usage llama.cpp sends no usage, but its finish chunk holds
    // `timings.predicted_n`: the client uses it, labelled, and it agrees with the server's
    // own Prometheus counter (a second, independent reading).
    let Some(dir) = setup_dir() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let srv = Server::start(&dir, "xllamacpp", "smollm2", 1, 2048);
    let before = tokens_predicted(&srv.url).await;
    let cpu_before = own_cpu_s();
    let r = bounded(run::execute(&run_args(
        &srv.url,
        &[
            "--no-include-usage",
            "--runs",
            "4",
            "--warmup",
            "1",
            "--max-tokens",
            "24",
            "--ignore-eos",
        ],
    )))
    .await
    .unwrap();
    let cpu_used = own_cpu_s() - cpu_before;
    let after = tokens_predicted(&srv.url).await;
    assert_eq!(r.summary.requests.ok, 4, "{:?}", r.summary.errors);
    // The client's self-check against the server's counter and this process's own rusage.
    let c = r.client.as_ref().expect("the self-check");
    assert_eq!(
        c.tokens as f64,
        after - before,
        "tokens the client saw vs the server's counter"
    );
    assert!(
        c.cpu_s <= cpu_used + 0.011,
        "session CPU {} s vs process {} s",
        c.cpu_s,
        cpu_used
    );
    for rec in &r.requests {
        assert_eq!(
            rec.token_source,
            TokenSource::ServerTimings,
            "record {}",
            rec.id
        );
        assert_eq!(rec.output_tokens, Some(24));
    }
    let counted: u64 = r.requests.iter().filter_map(|q| q.output_tokens).sum();
    assert_eq!(counted as f64, after - before, "the server's own counter");
    assert_eq!(r.summary.tokens.source, "server_timings");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_chunks_are_not_tokens_and_counts_stay_right() {
    let Some(dir) = setup_dir() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let srv = Server::start(&dir, "xllamacpp", "tiny", 1, 1024);
    let r = bounded(run::execute(&run_args(
        &srv.url,
        &[
            "--stream",
            "--runs",
            "6",
            "--max-tokens",
            "96",
            "--ignore-eos",
        ],
    )))
    .await
    .unwrap();
    assert_eq!(r.summary.requests.ok, 6, "{:?}", r.summary.errors);
    for rec in r.requests.iter().filter(|r| !r.warmup) {
        assert_eq!(
            rec.output_tokens,
            Some(96),
            "usage counts tokens, not chunks"
        );
        assert!(rec.content_ns.len() <= 96);
        let tpot = rec.tpot_ms().unwrap();
        let expect = (rec.e2e_ms() - rec.ttft_ms().unwrap()) / 95.0;
        assert!(
            (tpot - expect).abs() < 1e-9,
            "TPOT divides by tokens, not chunks"
        );
        assert_eq!(
            rec.itl_ms().count(),
            rec.content_ns.len() - 1,
            "ITL stays per chunk"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_sweep_grows_to_its_slots_and_no_further() {
    let Some(dir) = setup_dir() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    // SmolLM2 (a real model): its decode steps are memory-bound, so batching pays.
    let srv = Server::start(&dir, "xllamacpp", "smollm2", 4, 512);
    // The server closes the connection after every streamed answer while announcing
    // keep-alive: the pool must drop those connections, and no request is sent twice.
    let r = bounded(sweep::execute(&sweep_args(
        &srv.url,
        &[
            "--concurrency",
            "1,2,4,8",
            "--runs",
            "8",
            "--warmup",
            "2",
            "--max-tokens",
            "64",
            "--ignore-eos",
            "--prompt",
            "short",
        ],
    )))
    .await
    .unwrap();
    let ttft95: Vec<f64> = r
        .levels
        .iter()
        .map(|l| l.summary.ttft_ms.as_ref().unwrap().p95)
        .collect();
    print!("{}", llmbench::report::console::sweep_table(&r));
    assert_eq!(r.summary.requests.failed, 0, "{:?}", r.summary.errors);
    // Judged on what the server did, not on how fast this busy machine let it go: how many
    // answers were streaming at once (first token to last token), level by level.
    let decoding: Vec<usize> = (0..r.levels.len() as u32)
        .map(|i| most_streaming_at_once(r.level_records(Some(i)).filter(|x| !x.warmup)))
        .collect();
    assert_eq!(decoding[2], 4, "4 users: its 4 slots decode together");
    assert_eq!(decoding[3], 4, "8 users: never more than its 4 slots");
    assert!(
        ttft95[3] > ttft95[2] * 2.0,
        "queued requests wait for a slot: TTFT p95 {ttft95:?}"
    );
}

/// The most answers that were streaming at the same moment (first to last content event).
fn most_streaming_at_once<'a>(
    recs: impl Iterator<Item = &'a llmbench::record::RequestRecord>,
) -> usize {
    let mut edges: Vec<(u64, i32)> = Vec::new();
    for r in recs {
        if let (Some(&a), Some(&b)) = (r.content_ns.first(), r.content_ns.last()) {
            edges.push((a, 1));
            edges.push((b, -1));
        }
    }
    // An answer that ends at the instant another starts does not overlap it.
    edges.sort_by_key(|&(t, d)| (t, d));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    most as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_capacity_by_users_is_its_slot_count() {
    let Some(dir) = setup_dir() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    // Two slots: a third user always waits for one (about half an answer's time), so TTFT jumps
    // from ~60-140 ms to ~650 ms there (measured here); the search must end on 2 users.
    let srv = Server::start(&dir, "xllamacpp", "smollm2", 2, 512);
    let r = bounded(capacity::execute(&capacity_args(
        &srv.url,
        &[
            "--by",
            "concurrency",
            "--min-concurrency",
            "1",
            "--max-concurrency",
            "6",
            "--slo",
            "ttft.p90<=300ms",
            "--probe-duration",
            "5s",
            "--max-tokens",
            "32",
            "--ignore-eos",
            "--prompt",
            "short",
        ],
    )))
    .await
    .unwrap();
    let c = r.capacity.as_ref().unwrap();
    print!("{}", llmbench::report::console::capacity_summary(&r));
    // The one failure this server causes on a busy machine: it closes a kept-alive connection
    // as the next request is written (about 1 in 150 requests here, never sent twice).
    let other: Vec<_> = r
        .requests
        .iter()
        .filter_map(|q| q.error.as_ref())
        .filter(|e| {
            e.kind != FailureKind::StreamBroken
                || !e
                    .detail
                    .contains("connection closed before message completed")
        })
        .collect();
    assert!(other.is_empty(), "{other:?}");
    assert!(r.summary.requests.failed * 50 <= r.summary.requests.total);
    assert_eq!(c.concurrency, Some(2.0), "{}", c.statement);
    assert!(c.statement.starts_with("About 2 users"), "{}", c.statement);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_sessions_carry_real_answers_and_its_cache_grows_by_turn() {
    let Some(dir) = setup_dir() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let srv = Server::start(&dir, "xllamacpp", "smollm2", 2, 2048);
    let r = bounded(run::execute(&run_args(
        &srv.url,
        &[
            "--dataset",
            "multi-turn",
            "--turns",
            "3",
            "--runs",
            "12",
            "-c",
            "2",
            "--warmup",
            "0",
            "--max-tokens",
            "24",
            "--input-tokens",
            "48",
            "--ignore-eos",
        ],
    )))
    .await
    .unwrap();
    assert_eq!(r.summary.requests.ok, 12, "{:?}", r.summary.errors);
    print!("{}", llmbench::report::console::sessions_block(&r));
    let s = r.sessions.unwrap();
    // The server's own counts: each turn's prompt holds the last one and its 24-token answer,
    // and llama.cpp serves a growing share of it from its prompt cache (measured here: about
    // 20%, 64%, 76%).
    let prompt: Vec<f64> = s
        .turns
        .iter()
        .map(|t| t.prompt_tokens_mean.unwrap())
        .collect();
    let cached: Vec<f64> = s.turns.iter().map(|t| t.cached_fraction.unwrap()).collect();
    for k in 1..3 {
        assert!(prompt[k] > prompt[k - 1] + 24.0 + 40.0, "{prompt:?}");
        assert!(cached[k] > cached[k - 1], "{cached:?}");
    }
    assert!(cached[2] > 0.5, "{cached:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_gauges_are_scraped_and_overload_shows_as_queueing() {
    let Some(dir) = setup_dir() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    // One compute thread: the other core stays with the client, which must keep the schedule.
    let srv = Server::start_with(&dir, "xllamacpp", "tiny", 2, 512, Some(1));
    let metrics = format!("{}/metrics", srv.url);
    // Far beyond capacity: requests queue in the server.
    let args = throughput_args(
        &srv.url,
        &[
            "--rate",
            "30",
            "--duration",
            "4s",
            "--arrival",
            "constant",
            "--max-tokens",
            "64",
            "--ignore-eos",
            "--prompt",
            "short",
            "--metrics-url",
            &metrics,
        ],
    );
    let r = bounded(throughput::execute(&args)).await.unwrap();
    let m = r.monitor.as_ref().unwrap();
    let deferred = m
        .samples
        .iter()
        .filter_map(|s| s.gauges.get("llamacpp:requests_deferred"))
        .fold(0.0f64, |a, b| a.max(*b));
    let processing = m
        .samples
        .iter()
        .filter_map(|s| s.gauges.get("llamacpp:requests_processing"))
        .fold(0.0f64, |a, b| a.max(*b));
    assert!(
        processing >= 2.0,
        "llamacpp:requests_processing scraped: {processing}"
    );
    assert!(
        deferred >= 5.0,
        "llamacpp:requests_deferred shows the queue: {deferred}"
    );
    let s = &r.summary;
    let lag = s.send_lag_ms.as_ref().unwrap();
    assert!(
        lag.p95 < 50.0,
        "the client kept the schedule: send lag {lag:?}"
    );
    let ttft = s.ttft_from_scheduled_ms.as_ref().unwrap();
    assert!(
        ttft.p95 > 5.0 * ttft.min,
        "queueing shows in TTFT from the scheduled time: {ttft:?}"
    );
    assert!(ttft.p95 > 1000.0, "queued requests wait seconds: {ttft:?}");

    // A stress ramp finds the break (requests time out while queued).
    let args = stress_args(
        &srv.url,
        &[
            "--start-rate",
            "2",
            "--step",
            "8",
            "--step-duration",
            "3s",
            "--max-rate",
            "50",
            "--max-tokens",
            "64",
            "--ignore-eos",
            "--prompt",
            "short",
            "--timeout",
            "2s",
        ],
    );
    let r = bounded(stress::execute(&args)).await.unwrap();
    let st = r.stress.unwrap();
    assert!(st.breaking_level.is_some(), "{st:?}");
    assert_eq!(st.failure_mode, FailureMode::Timeout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_errors_and_the_context_limit_are_recorded_right() {
    let Some(dir) = setup_dir() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let srv = Server::start(&dir, "xllamacpp", "smollm2", 1, 256);
    // A malformed body: the server's status and message are kept.
    let endpoint = Endpoint {
        base: format!("{}/v1", srv.url),
        api: Api::Chat,
        stream: true,
        timeout: Some(Duration::from_secs(30)),
        headers: build_headers(Api::Chat, None, &[]).unwrap(),
        path: None,
    };
    let client = Client::new(endpoint, 1).unwrap();
    let rec = client
        .send(
            0,
            Bytes::from_static(b"{\"model\": \"x\", \"messages\": [{"),
            &Clock::start(),
            &CancellationToken::new(),
        )
        .await;
    let e = rec.error.expect("a malformed body fails");
    assert_eq!(e.kind, FailureKind::Http);
    assert!(matches!(e.http_status, Some(400 | 500)), "{e:?}");
    assert!(
        e.detail.contains("error") && e.detail.contains("parse"),
        "{}",
        e.detail
    );
    // More tokens than the context holds: ends with `length`, counted as the server counts.
    let r = bounded(run::execute(&run_args(
        &srv.url,
        &[
            "--stream",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--max-tokens",
            "4000",
            "--ignore-eos",
            "--prompt",
            "short",
        ],
    )))
    .await
    .unwrap();
    let rec = &r.requests[0];
    assert!(rec.is_ok(), "{:?}", rec.error);
    assert_eq!(rec.finish_reason.as_deref(), Some("length"));
    let n = rec.output_tokens.unwrap();
    assert!(n < 256 && n > 100, "{n} tokens fit the 256-token context");
    assert_eq!(
        rec.output_tokens,
        rec.server_timings
            .as_ref()
            .unwrap()
            .predicted_n
            .map(|v| v as u64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_python_interrupted_streams_are_stream_broken() {
    let Some(dir) = setup_dir() else { return };
    let ready = Command::new(dir.join("lcp/bin/python"))
        .args(["-c", "import llama_cpp.server"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI sets up llama-cpp-python (LLAMA_CPP_PYTHON=1)"
        );
        eprintln!("SKIPPED: llama-cpp-python not set up in {}", dir.display());
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let srv = Server::start(&dir, "llama-cpp-python", "tiny", 1, 1024);
    let args = run_args(
        &srv.url,
        &[
            "--stream",
            "--runs",
            "8",
            "-c",
            "2",
            "--warmup",
            "0",
            "--max-tokens",
            "64",
            "--ignore-eos",
            "--timeout",
            "60s",
        ],
    );
    let r = bounded(run::execute(&args)).await.unwrap();
    let s = &r.summary;
    assert_eq!(s.requests.total, 8, "the run completes");
    let broken = s.errors.get("stream_broken").copied().unwrap_or(0);
    assert!(
        broken >= 1,
        "interrupted streams are recorded: {:?}",
        s.errors
    );
    assert_eq!(
        broken, s.requests.failed,
        "and nothing else fails: {:?}",
        s.errors
    );
    for rec in r.requests.iter().filter(|r| r.is_ok()) {
        assert_eq!(
            rec.token_source,
            TokenSource::Events,
            "this server sends no usage"
        );
    }
}

/// CPU seconds this test process used so far (getrusage).
fn own_cpu_s() -> f64 {
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        s(u.ru_utime) + s(u.ru_stime)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_embeddings_count_every_input_as_its_tokenizer_does() {
    let Some(dir) = setup_dir() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let srv = Server::serving(&dir, "smollm2", 2, "--embeddings");
    let flags = [
        "--api",
        "embeddings",
        "--batch-size",
        "4",
        "--runs",
        "6",
        "--warmup",
        "0",
        "--dataset",
        "random",
        "--input-tokens",
        "40",
        "--seed",
        "5",
        "--warm-cache",
    ];
    let args = run_args(&srv.url, &flags);
    let r = bounded(run::execute(&args)).await.unwrap();
    assert_eq!(r.summary.requests.ok, 6, "{:?}", r.summary.errors);
    // The same seeded plan rebuilt, each input counted by the server's own /tokenize.
    let plan = llmbench::plan::RunPlan::from_args(&args).unwrap();
    let http = reqwest::Client::new();
    for rec in &r.requests {
        assert_eq!(rec.inputs, Some(4), "request {}", rec.id);
        let body: serde_json::Value =
            serde_json::from_slice(&plan.requests.workload.body(rec.id)).unwrap();
        let mut tokens = 0;
        for input in body["input"].as_array().unwrap() {
            let t: serde_json::Value = http
                .post(format!("{}/tokenize", srv.url))
                .json(&serde_json::json!({ "content": input }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            tokens += t["tokens"].as_array().unwrap().len() as u64;
        }
        assert_eq!(rec.prompt_tokens, Some(tokens), "request {}", rec.id);
    }
    let s = &r.summary;
    assert_eq!(s.tokens.inputs, 24);
    assert!(s.throughput.inputs_s.unwrap() > 0.0);
    print!("{}", llmbench::report::console::run_summary(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_takes_extra_body_fields_and_sampling_options() {
    let Some(dir) = setup_dir() else { return };
    let _one = ONE_AT_A_TIME.lock().await;
    let srv = Server::start(&dir, "xllamacpp", "smollm2", 1, 2048);
    let flags = [
        "--runs",
        "4",
        "--warmup",
        "0",
        "-c",
        "1",
        "--max-tokens",
        "16",
        "--warm-cache",
        "--prompt",
        "short",
        "--top-p",
        "0.9",
        "--top-k",
        "20",
        "--sampling-seed",
        "1",
    ];
    // The same prompt four times: llama.cpp serves the repeats from its prompt cache...
    let warm = bounded(run::execute(&run_args(&srv.url, &flags)))
        .await
        .unwrap();
    assert_eq!(warm.summary.requests.ok, 4, "{:?}", warm.summary.errors);
    assert!(warm.summary.tokens.cached > 0, "{:?}", warm.summary.tokens);
    // ...unless --extra-body turns its cache off for each request (its own field).
    let mut cold_flags = flags.to_vec();
    cold_flags.extend(["--extra-body", r#"{"cache_prompt": false}"#]);
    let cold = bounded(run::execute(&run_args(&srv.url, &cold_flags)))
        .await
        .unwrap();
    assert_eq!(cold.summary.requests.ok, 4, "{:?}", cold.summary.errors);
    assert_eq!(cold.summary.tokens.cached, 0, "{:?}", cold.summary.tokens);
    // A stop sequence the model emits at once ends every answer early, as the server says.
    let args = run_args(
        &srv.url,
        &[
            "--runs",
            "2",
            "--warmup",
            "0",
            "--max-tokens",
            "64",
            "--stop",
            " ",
        ],
    );
    let r = bounded(run::execute(&args)).await.unwrap();
    for rec in &r.requests {
        assert_eq!(rec.finish_reason.as_deref(), Some("stop"), "{rec:?}");
        assert!(rec.output_tokens.unwrap() < 64);
    }
}
