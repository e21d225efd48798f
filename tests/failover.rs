//! Failover (`--fallback-url`): the primary dies mid-run and every request is still answered,
//! each server counting exactly the requests it got; 5xx and 429 fail over, other statuses do
//! not; the report says who answered, the time lost and how soon answers flowed again.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use llmbench::commands::throughput;
use llmbench::record::FailureKind;
use llmbench::sim::SimConfig;

fn received(s: &llmbench::sim::SimHandle) -> u64 {
    s.stats.requests_received.load(Ordering::Relaxed)
}

const LOAD: &[&str] = &[
    "--rate",
    "20",
    "--arrival",
    "constant",
    "--duration",
    "2s",
    "--max-tokens",
    "4",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_primary_dies_and_every_request_is_still_answered() {
    let mut cfg = timed(10.0, 1.0);
    cfg.faults.crash_after = Some(15);
    let primary = start_sim(cfg).await;
    let fallback = start_sim(timed(10.0, 1.0)).await;
    let fb = fallback.url();
    let mut args = LOAD.to_vec();
    args.extend(["--fallback-url", &fb]);
    let r = throughput::execute(&throughput_args(&primary.url(), &args))
        .await
        .unwrap();
    let total = r.summary.requests.total;
    assert_eq!(total, 40);
    assert_eq!(r.summary.requests.ok, total, "{:?}", r.summary.errors);
    let mut recs = r.requests.clone();
    recs.sort_by_key(|q| q.id);
    // 15 answered by the primary; the 16th killed it and, like every later one, failed over.
    for q in &recs {
        let on_primary = q.id < 15;
        assert_eq!(q.endpoint, Some(if on_primary { 0 } else { 1 }), "{q:?}");
        assert_eq!(q.attempts, Some(if on_primary { 1 } else { 2 }));
        assert_eq!(q.first_failure.is_some(), !on_primary);
        if !on_primary {
            assert!(q.failover_sent_ns.unwrap() >= q.sent_ns);
        }
    }
    assert_eq!(recs[15].first_failure, Some(FailureKind::StreamBroken));
    assert_eq!(recs[16].first_failure, Some(FailureKind::Connect));
    assert_eq!(received(&primary), 16);
    assert_eq!(received(&fallback), total - 15);
    let f = r.failover.as_ref().unwrap();
    assert_eq!((f.failed_over, f.failed_over_ok), (total - 15, total - 15));
    assert_eq!(f.endpoints[0].ok, 15);
    assert_eq!(f.endpoints[1].ok, total - 15);
    let kinds = |k: usize| {
        f.endpoints[k]
            .failures
            .clone()
            .into_iter()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(0),
        [
            ("connect".to_string(), total - 16),
            ("stream_broken".to_string(), 1)
        ],
        "the primary's failed attempts by kind"
    );
    assert_eq!(kinds(1), []);
    assert!(f.recovery_ms.unwrap() < 1000.0, "{f:?}");
    let text = llmbench::report::console::failover_block(&r);
    assert!(
        text.contains("fallback 1") && text.contains("failed over"),
        "{text}"
    );
    primary.stop().await;
    fallback.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_fail_over_and_client_errors_do_not() {
    let fallback = start_sim(zero()).await;
    for (status, fails_over) in [(503u16, true), (429, true), (400, false)] {
        let mut cfg = SimConfig { ..zero() };
        cfg.faults.error_rate = 1.0;
        cfg.faults.error_status = status;
        let primary = start_sim(cfg).await;
        let before = received(&fallback);
        let fb = fallback.url();
        let mut args = LOAD.to_vec();
        args[5] = "500ms";
        args.extend(["--fallback-url", &fb]);
        let r = throughput::execute(&throughput_args(&primary.url(), &args))
            .await
            .unwrap();
        let n = r.summary.requests.total;
        assert_eq!(received(&primary), n, "{status}");
        if fails_over {
            assert_eq!(r.summary.requests.ok, n, "{status}");
            assert_eq!(received(&fallback) - before, n, "{status}");
            assert!(r
                .requests
                .iter()
                .all(|q| q.first_failure == Some(FailureKind::Http)));
        } else {
            assert_eq!(r.summary.requests.failed, n, "{status}");
            assert_eq!(received(&fallback), before, "{status}: never sent on");
            assert!(r.requests.iter().all(|q| q.attempts == Some(1)));
        }
        primary.stop().await;
    }
    fallback.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_the_load_round_robin_or_by_least_in_flight() {
    let sims = [
        start_sim(timed(5.0, 1.0)).await,
        start_sim(timed(5.0, 1.0)).await,
        start_sim(timed(5.0, 1.0)).await,
    ];
    let urls: Vec<String> = sims.iter().map(|s| s.url()).collect();
    let args = common::run_args(
        &urls[0],
        &[
            "--url",
            &urls[1],
            "--url",
            &urls[2],
            "--runs",
            "30",
            "--warmup",
            "0",
            "-c",
            "3",
            "--max-tokens",
            "3",
        ],
    );
    let r = llmbench::commands::run::execute(&args).await.unwrap();
    assert_eq!(r.summary.requests.ok, 30);
    // Round robin: each replica got exactly a third, by its own count and by the records.
    for (k, s) in sims.iter().enumerate() {
        assert_eq!(received(s), 10, "replica {k}");
        let mine = r
            .requests
            .iter()
            .filter(|q| q.endpoint == Some(k as u32))
            .count();
        assert_eq!(mine, 10);
    }
    let f = r.failover.as_ref().unwrap();
    assert!(f.replicas && f.failed_over == 0);
    assert_eq!(
        f.endpoints.iter().map(|e| e.ok).collect::<Vec<_>>(),
        [10, 10, 10]
    );
    assert_eq!(r.target.replicas.len(), 2);
    for s in sims {
        s.stop().await;
    }

    // Least in flight: a replica ten times slower holds its requests longer, so it gets fewer.
    let slow = start_sim(timed(100.0, 20.0)).await;
    let fast = start_sim(timed(5.0, 1.0)).await;
    let (su, fu) = (slow.url(), fast.url());
    let args = common::run_args(
        &su,
        &[
            "--url",
            &fu,
            "--balance",
            "least-inflight",
            "--runs",
            "40",
            "--warmup",
            "0",
            "-c",
            "2",
            "--max-tokens",
            "3",
        ],
    );
    let r = llmbench::commands::run::execute(&args).await.unwrap();
    assert_eq!(r.summary.requests.ok, 40);
    assert_eq!(received(&slow) + received(&fast), 40);
    assert!(
        received(&slow) * 3 < received(&fast),
        "{} vs {}",
        received(&slow),
        received(&fast)
    );
    slow.stop().await;
    fast.stop().await;
}

/// A real crash: the primary is a simulator process killed with SIGKILL mid-run. Every
/// request is accounted for; those sent after the kill are all answered by the fallback, and
/// a request can fail only if its answer had begun when the primary died.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_process_killed_mid_run_fails_over() {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_llmbench"));
    let (mut child, url) = llmbench::sim::spawn_child(exe, &["--profile", "zero"]).unwrap();
    let pid = child.id();
    let fallback = start_sim(zero()).await;
    let fb = fallback.url();
    let mut args = LOAD.to_vec();
    args.extend(["--fallback-url", &fb]);
    let killer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1000));
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    });
    let r = throughput::execute(&throughput_args(&url, &args))
        .await
        .unwrap();
    killer.join().unwrap();
    let _ = child.wait();
    let s = &r.summary.requests;
    assert_eq!(s.total, 40);
    assert_eq!(s.ok + s.failed, s.total);
    for q in r.requests.iter().filter(|q| !q.is_ok()) {
        assert_eq!(q.endpoint, Some(0), "only the primary can fail: {q:?}");
        assert_eq!(q.error.as_ref().unwrap().kind, FailureKind::StreamBroken);
    }
    assert!(
        s.failed <= 2,
        "at most the requests in flight at the kill: {s:?}"
    );
    let over = r.requests.iter().filter(|q| q.attempts == Some(2)).count() as u64;
    assert!(over >= 15, "the second half went to the fallback: {over}");
    assert_eq!(
        received(&fallback),
        over,
        "the fallback saw exactly the failed-over ones"
    );
    assert!(r
        .requests
        .iter()
        .filter(|q| q.attempts == Some(2))
        .all(|q| q.is_ok()));
    fallback.stop().await;
}

/// A primary that lists its models but closes every generation request without an answer: each
/// request is sent a second time at once (to the client, a keep-alive race), fails again, and
/// fails over; its record keeps the mark that it was resent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_resent_then_failed_over_keeps_its_resent_mark() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let n = sock.read(&mut head).await.unwrap_or(0);
                if head[..n].starts_with(b"GET") {
                    let body = r#"{"data":[{"id":"m"}]}"#;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                }
            });
        }
    });
    let fallback = start_sim(zero()).await;
    let fb = fallback.url();
    let args = [
        "--rate",
        "10",
        "--arrival",
        "constant",
        "--duration",
        "0.5s",
        "--max-tokens",
        "4",
        "--fallback-url",
        &fb,
    ];
    let r = throughput::execute(&throughput_args(&url, &args))
        .await
        .unwrap();
    assert_eq!(r.summary.requests.total, 5);
    for q in &r.requests {
        assert!(q.is_ok(), "{q:?}");
        assert_eq!((q.endpoint, q.attempts), (Some(1), Some(2)), "{q:?}");
        assert!(q.resent, "the primary's resend is kept: {q:?}");
    }
    assert_eq!(received(&fallback), 5);
    fallback.stop().await;
}
