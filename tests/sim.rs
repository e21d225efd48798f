//! The simulator: wire shapes, error shapes, Prometheus metrics, and calibration of its
//! performance model as measured by our client.

mod common;

use common::{run_args, start_sim, zero};
use llmbench::commands::run::execute;
use llmbench::sim::{Profile, SimConfig};
use serde_json::{json, Value};

async fn post(url: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_models_and_unknown_paths() {
    let sim = start_sim(zero()).await;
    let base = format!("http://{}", sim.addr);
    let h: Value = reqwest::get(format!("{base}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    let m: Value = reqwest::get(format!("{base}/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["object"], "list");
    assert_eq!(m["data"][0]["id"], sim.config.model);
    let r = reqwest::get(format!("{base}/v1/nope")).await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"]["message"].as_str().unwrap().contains("/v1/nope"));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_each_apis_error_shape() {
    let sim = start_sim(zero()).await;
    let base = format!("http://{}/v1", sim.addr);
    let (s, e) = post(
        &format!("{base}/chat/completions"),
        json!({"messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert!(e["error"]["message"].as_str().unwrap().contains("model"));
    let (s, e) = post(&format!("{base}/chat/completions"), json!({"model": "m"})).await;
    assert_eq!(s, 400);
    assert!(e["error"]["message"].as_str().unwrap().contains("messages"));
    let (s, e) = post(&format!("{base}/completions"), json!({"model": "m"})).await;
    assert_eq!(s, 400);
    assert!(e["error"]["message"].as_str().unwrap().contains("prompt"));
    let (s, e) = post(
        &format!("{base}/messages"),
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"]["type"], "invalid_request_error");
    let r = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_responses_have_the_documented_shape() {
    let sim = start_sim(zero()).await;
    let base = format!("http://{}/v1", sim.addr);
    let (s, v) = post(&format!("{base}/chat/completions"), json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hello there"}]})).await;
    assert_eq!(s, 200);
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 5);
    let (_, v) = post(
        &format!("{base}/completions"),
        json!({"model": "m", "max_tokens": 3, "prompt": "abc"}),
    )
    .await;
    assert_eq!(v["object"], "text_completion");
    assert!(v["choices"][0]["text"].is_string());
    let (_, v) = post(
        &format!("{base}/messages"),
        json!({"model": "m", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(v["type"], "message");
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["usage"]["output_tokens"], 4);
    assert_eq!(v["content"][0]["type"], "text");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_text_and_eos_prob_ends_early() {
    let mut cfg = zero();
    cfg.seed = 7;
    cfg.eos_prob = 0.2;
    let a = start_sim(cfg.clone()).await;
    let b = start_sim(cfg).await;
    let body =
        json!({"model": "m", "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]});
    let (_, va) = post(&format!("{}/chat/completions", a.url()), body.clone()).await;
    let (_, vb) = post(&format!("{}/chat/completions", b.url()), body.clone()).await;
    assert_eq!(va["choices"][0]["message"], vb["choices"][0]["message"]);
    assert_eq!(va["choices"][0]["finish_reason"], "stop");
    assert!(va["usage"]["completion_tokens"].as_u64().unwrap() < 200);
    let mut ignore = body;
    ignore["ignore_eos"] = json!(true);
    let (_, vi) = post(&format!("{}/chat/completions", a.url()), ignore).await;
    assert_eq!(vi["usage"]["completion_tokens"], 200);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_count_what_was_served() {
    let sim = start_sim(zero()).await;
    let r = execute(&run_args(
        &sim.url(),
        &["--runs", "5", "--warmup", "0", "--max-tokens", "7"],
    ))
    .await
    .unwrap();
    assert_eq!(r.summary.requests.ok, 5);
    let text = reqwest::get(format!("http://{}/metrics", sim.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
    };
    assert_eq!(value("llmbench_sim:generation_tokens_total"), 35.0);
    assert_eq!(
        value("llmbench_sim:prompt_tokens_total"),
        r.summary.tokens.prompt as f64
    );
    assert_eq!(value("llmbench_sim:request_total{status=\"200\"}"), 5.0);
    assert_eq!(value("llmbench_sim:num_requests_running"), 0.0);
    assert_eq!(value("llmbench_sim:num_requests_waiting"), 0.0);
    assert!(text.contains("# TYPE llmbench_sim:kv_cache_usage_perc gauge"));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_budget_makes_sequences_wait() {
    // Budget for one sequence at a time: 4 concurrent requests run one after another.
    let mut cfg = common::timed(10.0, 5.0);
    cfg.kv_tokens = 150;
    let sim = start_sim(cfg).await;
    let r = execute(&run_args(
        &sim.url(),
        &[
            "--stream",
            "--runs",
            "4",
            "-c",
            "4",
            "--warmup",
            "0",
            "--max-tokens",
            "100",
            "--prompt",
            "short",
        ],
    ))
    .await
    .unwrap();
    assert_eq!(r.summary.requests.ok, 4);
    let ttft = r.summary.ttft_ms.as_ref().unwrap();
    // The last one waits for three full requests (~3 × 505 ms).
    assert!(ttft.max > 1400.0, "max TTFT {} ms", ttft.max);
    assert!(ttft.min < 50.0);
    sim.stop().await;
}

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    llmbench::metrics::percentile(&v, 50.0)
}

/// The server's own TTFT and ITL p50 (ms), from its log, and the log cleared.
fn server_p50s(sim: &llmbench::sim::SimHandle) -> (f64, f64) {
    let mut log = sim.stats.log.lock().unwrap();
    let ttft = p50(log.ttft_ns.iter().map(|&n| n as f64 / 1e6).collect());
    let itl = p50(log.itl_ns.iter().map(|&n| n as f64 / 1e6).collect());
    *log = Default::default();
    (ttft, itl)
}

fn logged(p: Profile) -> SimConfig {
    SimConfig {
        log_timings: true,
        ..SimConfig::profile(p)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_stream_and_eight_streams_measure_what_the_server_did() {
    // Judged against the simulator's own log of each token, not against its model: a busy
    // machine makes both late alike. The model is only a floor (a step is never shorter).
    for profile in [Profile::Small, Profile::Medium] {
        let cfg = logged(profile);
        let sim = start_sim(cfg.clone()).await;
        let args = [
            "--stream",
            "--runs",
            "6",
            "--max-tokens",
            "24",
            "--prompt",
            "long",
            "--warmup",
            "0",
        ];
        let r = execute(&run_args(&sim.url(), &args)).await.unwrap();
        let (server_ttft, server_itl) = server_p50s(&sim);
        let itl = r.summary.itl_ms.as_ref().unwrap().p50;
        assert!(
            (itl / server_itl - 1.0).abs() < 0.02,
            "{profile:?}: ITL {itl} ms, the server's {server_itl} ms"
        );
        let ttft = r.summary.ttft_ms.as_ref().unwrap().p50;
        assert!(
            ttft >= server_ttft && ttft - server_ttft < (0.05 * server_ttft).max(5.0),
            "{profile:?}: TTFT {ttft} ms, the server's {server_ttft} ms"
        );
        let (_, model_itl) = cfg.predicted_single_stream(0);
        assert!(
            server_itl >= 0.99 * model_itl,
            "{profile:?}: a step is never shorter"
        );

        // 8 concurrent streams: every step takes base + 8 × per_seq at least.
        let args = [
            "--stream",
            "--runs",
            "8",
            "-c",
            "8",
            "--warmup",
            "0",
            "--max-tokens",
            "40",
        ];
        let r = execute(&run_args(&sim.url(), &args)).await.unwrap();
        let (_, server_itl8) = server_p50s(&sim);
        let itl8 = r.summary.itl_ms.as_ref().unwrap().p50;
        assert!(
            (itl8 / server_itl8 - 1.0).abs() < 0.02,
            "{profile:?}: ITL at 8 streams {itl8} ms, the server's {server_itl8} ms"
        );
        let step8 = cfg.decode_base_ms + 8.0 * cfg.decode_per_seq_ms;
        assert!(
            server_itl8 >= 0.99 * step8,
            "{profile:?}: {server_itl8} vs {step8}"
        );
        sim.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_curve_counts_what_the_server_generated() {
    // Every token the server generated is counted once; throughput never beats the model
    // (steps are never shorter than modelled). How close it comes is a figure, printed here and
    // in `cargo bench --bench load`, never a pass/fail on a shared machine.
    let cfg = SimConfig::profile(Profile::Small);
    let sim = start_sim(cfg.clone()).await;
    let tokens = 32.0;
    println!("| concurrency | model tok/s | measured tok/s | ratio |");
    println!("|---:|---:|---:|---:|");
    for c in [1usize, 2, 4, 8, 16, 32] {
        let before = sim
            .stats
            .generation_tokens_total
            .load(std::sync::atomic::Ordering::Relaxed);
        let runs = (3 * c).to_string();
        let cs = c.to_string();
        let args = [
            "--stream",
            "--runs",
            &runs,
            "-c",
            &cs,
            "--warmup",
            "0",
            "--max-tokens",
            "32",
            "--prompt",
            "short",
        ];
        let r = execute(&run_args(&sim.url(), &args)).await.unwrap();
        assert_eq!(r.summary.requests.ok, 3 * c as u64);
        let generated = sim
            .stats
            .generation_tokens_total
            .load(std::sync::atomic::Ordering::Relaxed)
            - before;
        assert_eq!(r.summary.tokens.output, generated, "c={c}");
        // Steady state: c sequences per step, and c/tokens prefills per step on average.
        let prompt = r.summary.tokens.prompt as f64 / r.summary.requests.ok as f64;
        let prefill_ms = cfg.prefill_base_ms + prompt / cfg.prefill_tok_s * 1e3;
        let step =
            cfg.decode_base_ms + cfg.decode_per_seq_ms * c as f64 + c as f64 / tokens * prefill_ms;
        let model = c as f64 * 1e3 / step;
        let measured = r.summary.throughput.output_tok_s;
        println!(
            "| {c} | {model:.0} | {measured:.0} | {:.3} |",
            measured / model
        );
        assert!(
            measured <= model * 1.05,
            "c={c}: {measured:.0} tok/s beats the model {model:.0}"
        );
    }
    sim.stop().await;
}
