//! The load engine: open loop, concurrency caps, warmup, time series, monitoring, sweep, suite,
//! targets and Ctrl-C.

mod common;

use common::{start_sim, sweep_args, throughput_args, timed, zero};
use llmbench::commands::{suite, sweep, throughput};
use llmbench::record::FailureKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_at_the_target_rate_and_keeps_scheduled_times() {
    let sim = start_sim(zero()).await;
    let args = throughput_args(
        &sim.url(),
        &[
            "--rate",
            "200",
            "--duration",
            "2s",
            "--arrival",
            "constant",
            "--max-tokens",
            "4",
        ],
    );
    let r = throughput::execute(&args).await.unwrap();
    let s = &r.summary;
    assert_eq!(s.requests.total, 400);
    assert_eq!(s.requests.ok, 400);
    let sent = s.throughput.sent_req_s.unwrap();
    assert!((sent / 200.0 - 1.0).abs() < 0.01, "sent {sent} req/s");
    for (i, rec) in r.requests.iter().enumerate() {
        assert_eq!(rec.scheduled_ns, Some((i as f64 / 200.0 * 1e9) as u64));
        assert!(rec.sent_ns >= rec.scheduled_ns.unwrap());
    }
    let lag = s.send_lag_ms.as_ref().unwrap();
    assert!(lag.p50 < 5.0, "send lag p50 {} ms", lag.p50);
    assert!(s.ttft_from_scheduled_ms.as_ref().unwrap().p50 >= s.ttft_ms.as_ref().unwrap().p50);
    assert!(!r.timeseries.is_empty());
    assert_eq!(r.timeseries.iter().map(|t| t.started).sum::<u64>(), 400);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_by_duration_or_count_is_excluded() {
    let sim = start_sim(zero()).await;
    let args = throughput_args(
        &sim.url(),
        &[
            "--rate",
            "100",
            "--duration",
            "1s",
            "--warmup",
            "500ms",
            "--arrival",
            "constant",
            "--max-tokens",
            "2",
        ],
    );
    let r = throughput::execute(&args).await.unwrap();
    assert_eq!(r.requests.iter().filter(|r| r.warmup).count(), 50);
    assert_eq!(r.summary.requests.total, 100);
    let args = throughput_args(
        &sim.url(),
        &[
            "--rate",
            "100",
            "--duration",
            "1s",
            "--warmup",
            "7",
            "--arrival",
            "constant",
            "--max-tokens",
            "2",
        ],
    );
    let r = throughput::execute(&args).await.unwrap();
    assert_eq!(r.requests.iter().filter(|r| r.warmup).count(), 7);
    assert_eq!(r.summary.requests.total, 100);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_is_never_exceeded_and_waiting_shows_as_send_lag() {
    // Each request takes ~200 ms; 50 req/s would need ~10 in flight, the cap allows 3.
    let sim = start_sim(timed(20.0, 20.0)).await;
    let args = throughput_args(
        &sim.url(),
        &[
            "--rate",
            "50",
            "--duration",
            "1s",
            "--max-concurrency",
            "3",
            "--max-tokens",
            "10",
            "--arrival",
            "constant",
        ],
    );
    let r = throughput::execute(&args).await.unwrap();
    assert_eq!(r.summary.requests.ok, 50);
    assert!(
        r.summary.concurrency.peak <= 3,
        "peak {}",
        r.summary.concurrency.peak
    );
    assert_eq!(r.summary.concurrency.peak, 3);
    assert!(r.timeseries.iter().all(|t| t.concurrency_max <= 3));
    let lag = r.summary.send_lag_ms.as_ref().unwrap();
    assert!(
        lag.max > 1000.0,
        "the last arrivals waited for a slot: max lag {} ms",
        lag.max
    );
    let from_sched = r.summary.e2e_from_scheduled_ms.as_ref().unwrap().p99;
    let from_sent = r.summary.e2e_ms.as_ref().unwrap().p99;
    assert!(
        from_sched > from_sent + 1000.0,
        "{from_sched} vs {from_sent}"
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_fail_the_result_and_unknown_targets_are_rejected_before_the_run() {
    let sim = start_sim(zero()).await;
    let args = throughput_args(
        &sim.url(),
        &[
            "--rate",
            "50",
            "--duration",
            "500ms",
            "--max-tokens",
            "2",
            "--target",
            "error_rate<1%",
            "--target",
            "req_s>=100000",
            "--target",
            "ttft.p95<=10s",
        ],
    );
    let r = throughput::execute(&args).await.unwrap();
    let passed: Vec<bool> = r.targets.iter().map(|t| t.passed).collect();
    assert_eq!(passed, vec![true, false, true]);
    assert!(!r.targets_passed());
    let bad = throughput_args(&sim.url(), &["--rate", "5", "--target", "ttft.p100<1s"]);
    let e = throughput::execute(&bad).await.unwrap_err();
    assert!(format!("{e:#}").contains("unknown metric"), "{e:#}");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_gauges_are_scraped_into_the_result() {
    let sim = start_sim(timed(20.0, 10.0)).await;
    let metrics = format!("http://{}/metrics", sim.addr);
    let args = throughput_args(
        &sim.url(),
        &[
            "--rate",
            "20",
            "--duration",
            "2500ms",
            "--max-tokens",
            "50",
            "--metrics-url",
            &metrics,
        ],
    );
    let r = throughput::execute(&args).await.unwrap();
    let m = r.monitor.unwrap();
    assert!(!m.samples.is_empty());
    let running = m
        .samples
        .iter()
        .filter_map(|s| s.gauges.get("llmbench_sim:num_requests_running"))
        .fold(0.0, |a: f64, b| a.max(*b));
    assert!(
        running >= 3.0,
        "the sim ran several sequences at once: {running}"
    );
    assert!(m.client_rss_peak_mb.unwrap() > 1.0);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_pid_monitoring_reads_cpu_and_memory() {
    // Our own process serves the simulator, so it is a server with CPU and memory to read.
    let sim = start_sim(zero()).await;
    let pid = std::process::id().to_string();
    let args = throughput_args(
        &sim.url(),
        &[
            "--rate",
            "200",
            "--duration",
            "2500ms",
            "--max-tokens",
            "64",
            "--server-pid",
            &pid,
            "--target",
            "server_cpu<1000%",
        ],
    );
    let r = throughput::execute(&args).await.unwrap();
    let m = r.monitor.as_ref().unwrap();
    assert!(m.server_rss_peak_mb.unwrap() > 1.0);
    assert!(m.server_cpu_avg_pct.is_some());
    assert!(!m.server_exited);
    assert!(r.targets[0].actual.is_some());
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_shows_throughput_flattening_beyond_max_num_seqs() {
    let mut cfg = timed(15.0, 10.0);
    cfg.max_num_seqs = 4;
    cfg.decode_per_seq_ms = 0.5;
    let sim = start_sim(cfg).await;
    let args = sweep_args(
        &sim.url(),
        &[
            "--concurrency",
            "1,2,4,8",
            "--max-tokens",
            "20",
            "--runs",
            "16",
            "--warmup",
            "0",
        ],
    );
    let r = sweep::execute(&args).await.unwrap();
    let agg: Vec<f64> = r
        .levels
        .iter()
        .map(|l| l.summary.throughput.output_tok_s)
        .collect();
    assert_eq!(agg.len(), 4);
    assert!(
        agg[1] > agg[0] * 1.7 && agg[2] > agg[1] * 1.6,
        "grows up to 4: {agg:?}"
    );
    assert!(agg[3] < agg[2] * 1.1, "flat beyond 4: {agg:?}");
    let ttft8 = r.levels[3].summary.ttft_ms.as_ref().unwrap().p95;
    let ttft4 = r.levels[2].summary.ttft_ms.as_ref().unwrap().p95;
    assert!(
        ttft8 > ttft4 * 3.0,
        "queued requests wait: TTFT p95 {ttft4} -> {ttft8}"
    );
    assert!(r.requests.iter().all(|rec| rec.level.is_some()));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite_records_a_failing_tier_and_goes_on() {
    let sim = start_sim(zero()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("suite.toml");
    std::fs::write(&cfg, format!(
        "[[tier]]\nname = \"up\"\nmodel = \"a\"\nurl = \"{}\"\n\n[[tier]]\nname = \"down\"\nmodel = \"b\"\nurl = \"http://127.0.0.1:9\"\n\n[[tier]]\nname = \"sim-large\"\nmodel = \"c\"\nprofile = \"large\"\nmax_tokens = 4\n",
        sim.url()
    )).unwrap();
    let args = match common::parse(&[
        "llmbench",
        "suite",
        "-q",
        "--runs",
        "2",
        "--max-tokens",
        "8",
        "--config",
        cfg.to_str().unwrap(),
    ]) {
        llmbench::cli::Command::Suite(a) => a,
        _ => unreachable!(),
    };
    let r = suite::execute(&args).await.unwrap();
    assert_eq!(r.levels.len(), 3);
    assert_eq!(r.levels[0].summary.requests.ok, 2);
    assert!(r.levels[1].error.as_ref().unwrap().contains("127.0.0.1:9"));
    assert_eq!(r.levels[2].summary.requests.ok, 2);
    assert_eq!(
        r.levels[2].target.as_ref().unwrap().simulator.as_deref(),
        Some("large")
    );
    sim.stop().await;
}

#[test]
fn ctrl_c_stops_scheduling_and_writes_what_was_measured() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_llmbench"))
        .args([
            "throughput",
            "--rate",
            "20",
            "--duration",
            "60s",
            "--max-tokens",
            "20",
            "-q",
            "--output",
            out.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["interrupted"], true);
    let n = v["requests"].as_array().unwrap().len();
    assert!(
        (20..=80).contains(&n),
        "{n} requests measured before Ctrl-C"
    );
    let cancelled = v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["error"]["kind"] == FailureKind::Cancelled.name())
        .count();
    assert_eq!(
        cancelled, 0,
        "requests in flight finished within the grace period"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_run_is_cut_at_the_drain_timeout_as_timeouts() {
    // One sequence at a time, 0.5 s each, 10 arrivals in 1 s: most are still queued when the
    // arrivals end. With --drain-timeout 1s they are cut a second later and recorded as timeouts.
    let mut cfg = llmbench::sim::SimConfig::profile(llmbench::sim::Profile::Small);
    cfg.max_num_seqs = 1;
    let sim = common::start_sim(cfg).await;
    let args = common::throughput_args(
        &sim.url(),
        &[
            "--rate",
            "10",
            "--duration",
            "1s",
            "--max-tokens",
            "50",
            "--max-concurrency",
            "2",
            "--arrival",
            "constant",
            "--drain-timeout",
            "1s",
            "--seed",
            "1",
        ],
    );
    let r = llmbench::commands::throughput::execute(&args)
        .await
        .unwrap();
    sim.stop().await;
    let s = &r.summary;
    let cut: Vec<_> = r
        .requests
        .iter()
        .filter(|q| {
            q.error
                .as_ref()
                .is_some_and(|e| e.detail.contains("--drain-timeout"))
        })
        .collect();
    assert!(!cut.is_empty(), "{:?}", s.errors);
    assert!(cut
        .iter()
        .all(|q| q.error.as_ref().unwrap().kind == llmbench::record::FailureKind::Timeout));
    assert_eq!(
        s.requests.ok + s.requests.failed,
        s.requests.total,
        "cut requests are errors"
    );
    let last_due = r
        .requests
        .iter()
        .filter_map(|q| q.scheduled_ns)
        .max()
        .unwrap();
    for q in &cut {
        assert!(
            q.done_ns <= last_due + 3_000_000_000,
            "cut {} ms after the last arrival",
            (q.done_ns - last_due) / 1_000_000
        );
    }
}
