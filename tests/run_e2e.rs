//! `llmbench run` end to end against the in-process simulator with known timings.

mod common;

use common::{run_args, start_sim, timed, zero};
use llmbench::commands::run::execute;
use llmbench::record::TokenSource;

fn within(measured: f64, expected: f64, tolerance: f64) -> bool {
    (measured - expected).abs() <= expected * tolerance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measured_ttft_and_itl_are_what_the_server_did() {
    let sim = start_sim(llmbench::sim::SimConfig {
        log_timings: true,
        ..timed(100.0, 20.0)
    })
    .await;
    let args = run_args(
        &sim.url(),
        &["--stream", "--runs", "10", "--max-tokens", "32"],
    );
    let r = execute(&args).await.unwrap();
    let s = &r.summary;
    assert_eq!(s.requests.ok, 10, "{:?}", s.errors);
    let ttft = s.ttft_ms.as_ref().unwrap().p50;
    let itl = s.itl_ms.as_ref().unwrap().p50;
    // Against the server's own log of its tokens (a busy machine makes both late alike); the
    // imposed timing is only a floor.
    let (server_ttft, server_itl) = {
        let log = sim.stats.log.lock().unwrap();
        let p50 = |v: &[u64]| {
            let mut v: Vec<f64> = v.iter().map(|&n| n as f64 / 1e6).collect();
            v.sort_by(f64::total_cmp);
            llmbench::metrics::percentile(&v, 50.0)
        };
        (p50(&log.ttft_ns), p50(&log.itl_ns))
    };
    assert!(
        ttft >= server_ttft && ttft - server_ttft < 5.0,
        "TTFT p50 {ttft} ms, the server's {server_ttft} ms"
    );
    assert!(
        within(itl, server_itl, 0.02),
        "ITL p50 {itl} ms, the server's {server_itl} ms"
    );
    assert!(
        server_ttft >= 99.0 && server_itl >= 19.8,
        "never faster than imposed"
    );
    let tpot = s.tpot_ms.as_ref().unwrap().p50;
    assert!(within(tpot, server_itl, 0.02), "TPOT p50 {tpot} ms");
    for rec in r.requests.iter().filter(|r| !r.warmup) {
        assert_eq!(rec.output_tokens, Some(32));
        assert_eq!(rec.token_source, TokenSource::Usage);
        assert_eq!(rec.content_ns.len(), 32);
        assert_eq!(rec.finish_reason.as_deref(), Some("length"));
    }
    assert_eq!(s.tokens.output, 320);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_own_timings_of_each_request_sit_under_the_clients() {
    // `llmbench sim --timings`: each stream's last chunk says when the server wrote its first
    // token (llama.cpp's `timings`), request by request: the truth a client's TTFT is checked
    // against (benches/timing.rs).
    let sim = start_sim(llmbench::sim::SimConfig {
        timings: true,
        ..timed(100.0, 20.0)
    })
    .await;
    let args = run_args(
        &sim.url(),
        &["--stream", "--runs", "8", "-c", "4", "--max-tokens", "8"],
    );
    let r = execute(&args).await.unwrap();
    assert_eq!(r.summary.requests.ok, 8, "{:?}", r.summary.errors);
    for rec in r.requests.iter().filter(|r| !r.warmup) {
        let t = rec
            .server_timings
            .as_ref()
            .expect("timings in the last chunk");
        let (prompt_ms, ttft) = (t.prompt_ms.unwrap(), rec.ttft_ms().unwrap());
        assert!(
            prompt_ms >= 99.0,
            "the imposed TTFT is a floor: {prompt_ms}"
        );
        assert!(
            ttft >= prompt_ms,
            "the client cannot see a token before it is written"
        );
        assert_eq!(t.predicted_n, Some(8.0));
        let e2e_after_first = rec.e2e_ms() - ttft;
        assert!(t.predicted_ms.unwrap() <= e2e_after_first + 1.0);
        // Usage, not the timings, counts the tokens when both are there.
        assert_eq!(rec.token_source, TokenSource::Usage);
    }
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dialect_streamed_and_whole_counts_tokens_from_usage() {
    let sim = start_sim(zero()).await;
    for api in ["chat", "completions", "messages"] {
        for stream in [true, false] {
            let mut extra = vec!["--api", api, "--runs", "4", "--max-tokens", "17", "-c", "2"];
            if !stream {
                extra.push("--no-stream");
            }
            let r = execute(&run_args(&sim.url(), &extra)).await.unwrap();
            let s = &r.summary;
            assert_eq!(s.requests.ok, 4, "{api} stream={stream}: {:?}", s.errors);
            assert_eq!(s.tokens.output, 4 * 17, "{api} stream={stream}");
            assert_eq!(s.tokens.source, "usage", "{api} stream={stream}");
            assert!(s.tokens.prompt > 0);
            assert_eq!(
                s.ttft_ms.is_some(),
                stream,
                "{api}: TTFT only when streaming"
            );
        }
    }
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_include_usage_tokens_are_counted_from_events_and_marked() {
    let sim = start_sim(zero()).await;
    let args = run_args(
        &sim.url(),
        &[
            "--stream",
            "--no-include-usage",
            "--runs",
            "2",
            "--max-tokens",
            "9",
        ],
    );
    let r = execute(&args).await.unwrap();
    assert_eq!(r.summary.tokens.output, 18);
    assert_eq!(r.summary.tokens.source, "events");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_keeps_requests_in_flight_together() {
    // 4 at once against a server that runs 4 sequences: the wall window is about one
    // request's time, not four.
    let sim = start_sim(timed(30.0, 10.0)).await;
    let args = run_args(
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
            "20",
        ],
    );
    let r = execute(&args).await.unwrap();
    let e2e = r.summary.e2e_ms.as_ref().unwrap().max;
    assert!(
        r.summary.throughput.window_s * 1e3 < e2e * 1.5,
        "window {} vs e2e {e2e}",
        r.summary.throughput.window_s
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_prefix_by_default_repeated_prompts_with_warm_cache() {
    let sim = start_sim(zero()).await;
    let r = execute(&run_args(&sim.url(), &["--runs", "2"]))
        .await
        .unwrap();
    assert!(r.config["prompt_prefix_nonce"].is_string());
    let r = execute(&run_args(&sim.url(), &["--runs", "2", "--warm-cache"]))
        .await
        .unwrap();
    assert!(r.config["prompt_prefix_nonce"].is_null());
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_one_clear_error_naming_the_url() {
    // Bind then drop a listener: the port is free and nothing answers on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let err = execute(&run_args(&url, &["--runs", "1"]))
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(
        msg.to_lowercase().contains("refused") || msg.contains("cannot reach"),
        "{msg}"
    );
}
