//! Every fault the simulator injects is recorded by the client with the right kind, and the
//! run completes with the requests already measured kept.

mod common;

use common::{run_args, start_sim, timed, zero};
use llmbench::commands::run::execute;
use llmbench::record::{FailureKind, RequestRecord};
use llmbench::sim::SimConfig;

fn measured(r: &llmbench::report::BenchResult) -> Vec<&RequestRecord> {
    r.requests.iter().filter(|r| !r.warmup).collect()
}

fn kind(r: &RequestRecord) -> Option<FailureKind> {
    r.error.as_ref().map(|e| e.kind)
}

async fn run_with(cfg: SimConfig, extra: &[&str]) -> llmbench::report::BenchResult {
    let sim = start_sim(cfg).await;
    let r = execute(&run_args(&sim.url(), extra)).await.unwrap();
    sim.stop().await;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_500_keeps_status_and_body() {
    let mut cfg = zero();
    cfg.faults.error_rate = 1.0;
    let r = run_with(cfg, &["--stream", "--runs", "3", "--warmup", "0"]).await;
    for rec in measured(&r) {
        let e = rec.error.as_ref().unwrap();
        assert_eq!(e.kind, FailureKind::Http);
        assert_eq!(e.http_status, Some(500));
        assert!(e.detail.contains("injected error"), "{}", e.detail);
        assert!(e.detail.len() <= 200);
    }
    assert_eq!(r.summary.errors.get("http"), Some(&3));
    assert_eq!(r.summary.error_rate, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_rate_fails_about_that_share_and_keeps_the_rest() {
    let mut cfg = zero();
    cfg.faults.error_rate = 0.3;
    cfg.faults.error_status = 503;
    let r = run_with(cfg, &["--runs", "200", "-c", "8", "--max-tokens", "4"]).await;
    let failed = r.summary.requests.failed;
    assert!(
        (30..=90).contains(&failed),
        "{failed} of 200 failed at rate 0.3"
    );
    assert_eq!(r.summary.requests.ok + failed, 200);
    assert!(measured(&r)
        .iter()
        .filter_map(|r| r.error.as_ref())
        .all(|e| e.http_status == Some(503)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_answers_429() {
    let mut cfg = timed(20.0, 10.0);
    cfg.max_num_seqs = 1;
    cfg.queue_limit = 1;
    let r = run_with(
        cfg,
        &[
            "--stream",
            "--runs",
            "6",
            "-c",
            "6",
            "--warmup",
            "0",
            "--max-tokens",
            "10",
        ],
    )
    .await;
    let rejected: Vec<_> = measured(&r)
        .into_iter()
        .filter(|r| r.error.as_ref().and_then(|e| e.http_status) == Some(429))
        .collect();
    assert!(!rejected.is_empty(), "{:?}", r.summary.errors);
    assert!(r.summary.requests.ok >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_past_request_timeout_is_an_error() {
    let mut cfg = timed(10.0, 10.0);
    cfg.max_num_seqs = 1;
    cfg.request_timeout_ms = Some(100);
    let r = run_with(
        cfg,
        &[
            "--stream",
            "--runs",
            "3",
            "-c",
            "3",
            "--warmup",
            "0",
            "--max-tokens",
            "30",
        ],
    )
    .await;
    let timed_out = measured(&r)
        .into_iter()
        .filter(|r| r.error.as_ref().and_then(|e| e.http_status) == Some(504))
        .count();
    assert_eq!(timed_out, 2, "{:?}", r.summary.errors);
    assert_eq!(r.summary.requests.ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_start_past_the_client_timeout_is_a_timeout() {
    let mut cfg = zero();
    cfg.faults.slow_start_ms = 600;
    let r = run_with(
        cfg,
        &[
            "--stream",
            "--runs",
            "2",
            "--warmup",
            "0",
            "--timeout",
            "200ms",
        ],
    )
    .await;
    for rec in measured(&r) {
        assert_eq!(kind(rec), Some(FailureKind::Timeout));
        let e2e = rec.e2e_ms();
        assert!((195.0..400.0).contains(&e2e), "gave up after {e2e} ms");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_mid_stream_shows_in_itl_or_times_out_keeping_partial_tokens() {
    let mut cfg = timed(10.0, 5.0);
    cfg.faults.stall_ms = 300;
    let r = run_with(
        cfg.clone(),
        &[
            "--stream",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--max-tokens",
            "20",
        ],
    )
    .await;
    let itl_max = r.summary.itl_ms.as_ref().unwrap().max;
    assert!(itl_max >= 295.0, "max ITL {itl_max} ms with a 300 ms stall");
    assert_eq!(r.summary.requests.ok, 1);

    let r = run_with(
        cfg,
        &[
            "--stream",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--max-tokens",
            "20",
            "--timeout",
            "200ms",
        ],
    )
    .await;
    let rec = measured(&r)[0];
    assert_eq!(kind(rec), Some(FailureKind::Timeout));
    assert_eq!(
        rec.content_ns.len(),
        10,
        "the tokens before the stall are kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_mid_stream_is_stream_broken() {
    for api in ["chat", "messages"] {
        let mut cfg = zero();
        cfg.faults.drop_after_tokens = Some(5);
        let r = run_with(
            cfg,
            &[
                "--api",
                api,
                "--stream",
                "--runs",
                "3",
                "--max-tokens",
                "20",
            ],
        )
        .await;
        for rec in measured(&r) {
            assert_eq!(
                kind(rec),
                Some(FailureKind::StreamBroken),
                "{api}: {:?}",
                rec.error
            );
            assert_eq!(rec.content_ns.len(), 5, "{api}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_chunk_is_bad_response() {
    for api in ["chat", "completions", "messages"] {
        let mut cfg = zero();
        cfg.faults.malformed_rate = 1.0;
        let r = run_with(
            cfg,
            &[
                "--api",
                api,
                "--stream",
                "--runs",
                "2",
                "--max-tokens",
                "10",
            ],
        )
        .await;
        for rec in measured(&r) {
            assert_eq!(
                kind(rec),
                Some(FailureKind::BadResponse),
                "{api}: {:?}",
                rec.error
            );
            assert!(
                rec.error.as_ref().unwrap().detail.contains("invalid"),
                "{api}"
            );
        }
        let r = {
            let mut cfg = zero();
            cfg.faults.malformed_rate = 1.0;
            run_with(cfg, &["--api", api, "--runs", "1", "--max-tokens", "10"]).await
        };
        assert_eq!(
            kind(measured(&r)[0]),
            Some(FailureKind::BadResponse),
            "{api} whole"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_is_recorded_and_the_run_completes() {
    let mut cfg = zero();
    cfg.faults.crash_after = Some(3);
    let r = run_with(
        cfg,
        &[
            "--stream",
            "--runs",
            "6",
            "--warmup",
            "0",
            "--max-tokens",
            "5",
        ],
    )
    .await;
    let recs = measured(&r);
    assert_eq!(recs.len(), 6);
    assert!(recs[..3].iter().all(|r| r.is_ok()));
    for rec in &recs[3..] {
        let k = kind(rec).unwrap();
        assert!(
            matches!(k, FailureKind::Connect | FailureKind::StreamBroken),
            "after the crash: {k:?}"
        );
    }
    assert_eq!(kind(recs[5]), Some(FailureKind::Connect));
}
