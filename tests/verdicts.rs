//! Verdicts: stress finds the break and names the mode; ttft A/B tells a real difference from
//! none; compare and check turn results into exit codes.

mod common;

use std::process::Command as Proc;

use common::{run_args, start_sim, stress_args, timed, ttft_args, zero};
use llmbench::commands::{run, stress, ttft};
use llmbench::verdict::stress::FailureMode;

async fn mode_of(
    args: &llmbench::cli::StressArgs,
) -> (FailureMode, llmbench::verdict::stress::StressReport) {
    let r = stress::execute(args).await.unwrap();
    let s = r.stress.unwrap();
    (s.failure_mode, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_finds_the_capacity_limit_as_high_error_rate() {
    let mut cfg = timed(20.0, 10.0);
    cfg.max_num_seqs = 2;
    cfg.queue_limit = 2;
    let sim = start_sim(cfg).await;
    let args = stress_args(
        &sim.url(),
        &[
            "--start-rate",
            "4",
            "--step",
            "8",
            "--step-duration",
            "1s",
            "--max-rate",
            "60",
            "--max-tokens",
            "15",
        ],
    );
    let (mode, s) = mode_of(&args).await;
    assert_eq!(mode, FailureMode::HighErrorRate, "{s:?}");
    let b = s.breaking_level.unwrap();
    assert!(b >= 1, "level 0 (4 req/s) is within capacity");
    assert!(s.error_rate_at_break.unwrap() > 0.1);
    assert_eq!(s.max_sustainable_rate, Some(s.levels[b - 1].target_rate));
    assert!((s.safe_target_rate.unwrap() - 0.8 * s.max_sustainable_rate.unwrap()).abs() < 1e-9);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_names_a_crash() {
    let mut cfg = zero();
    cfg.faults.crash_after = Some(15);
    let sim = start_sim(cfg).await;
    let args = stress_args(
        &sim.url(),
        &[
            "--start-rate",
            "10",
            "--step",
            "10",
            "--step-duration",
            "1s",
            "--max-rate",
            "50",
            "--max-tokens",
            "5",
        ],
    );
    let (mode, s) = mode_of(&args).await;
    assert_eq!(mode, FailureMode::Crash, "{s:?}");
    assert_eq!(s.breaking_level, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_names_timeouts_when_requests_wait_longer_than_the_server_allows() {
    let mut cfg = timed(20.0, 10.0);
    cfg.max_num_seqs = 2;
    cfg.request_timeout_ms = Some(150);
    let sim = start_sim(cfg).await;
    let args = stress_args(
        &sim.url(),
        &[
            "--start-rate",
            "4",
            "--step",
            "10",
            "--step-duration",
            "1s",
            "--max-rate",
            "60",
            "--max-tokens",
            "20",
        ],
    );
    let (mode, s) = mode_of(&args).await;
    assert_eq!(mode, FailureMode::Timeout, "{s:?}");

    // The client's own timeout below the queueing delay: the same verdict.
    let mut cfg = timed(20.0, 10.0);
    cfg.max_num_seqs = 2;
    let sim2 = start_sim(cfg).await;
    let args = stress_args(
        &sim2.url(),
        &[
            "--start-rate",
            "4",
            "--step",
            "10",
            "--step-duration",
            "1s",
            "--max-rate",
            "60",
            "--max-tokens",
            "20",
            "--timeout",
            "400ms",
        ],
    );
    let (mode, s) = mode_of(&args).await;
    assert_eq!(mode, FailureMode::Timeout, "{s:?}");
    sim.stop().await;
    sim2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_names_oom_against_a_memory_limit() {
    // This process serves the simulator; a 5 MB limit is far below its RSS.
    let sim = start_sim(zero()).await;
    let pid = std::process::id().to_string();
    let args = stress_args(
        &sim.url(),
        &[
            "--start-rate",
            "10",
            "--step",
            "10",
            "--step-duration",
            "2500ms",
            "--max-rate",
            "30",
            "--max-tokens",
            "5",
            "--server-pid",
            &pid,
            "--memory-limit-mb",
            "5",
        ],
    );
    let (mode, s) = mode_of(&args).await;
    assert_eq!(mode, FailureMode::Oom, "{s:?}");
    assert_eq!(s.breaking_level, Some(0));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_names_resource_exhaustion_when_errors_come_with_a_saturated_cpu() {
    let mut cfg = zero();
    cfg.faults.error_rate = 0.5;
    let sim = start_sim(cfg).await;
    let pid = std::process::id().to_string();
    let args = stress_args(
        &sim.url(),
        &[
            "--start-rate",
            "50",
            "--step",
            "10",
            "--step-duration",
            "2500ms",
            "--max-rate",
            "60",
            "--max-tokens",
            "50",
            "--server-pid",
            &pid,
            "--cpu-limit-cores",
            "0.0001",
        ],
    );
    let (mode, s) = mode_of(&args).await;
    assert_eq!(mode, FailureMode::ResourceExhaustion, "{s:?}");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_reaching_the_max_rate_unbroken_is_none() {
    let sim = start_sim(zero()).await;
    let args = stress_args(
        &sim.url(),
        &[
            "--start-rate",
            "10",
            "--step",
            "10",
            "--step-duration",
            "500ms",
            "--max-rate",
            "30",
            "--max-tokens",
            "3",
        ],
    );
    let (mode, s) = mode_of(&args).await;
    assert_eq!(mode, FailureMode::None);
    assert_eq!(s.levels.len(), 3);
    assert_eq!(s.max_sustainable_rate, Some(30.0));
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_ab_finds_a_real_difference_and_no_difference_between_twins() {
    let slow = start_sim(timed(50.0, 5.0)).await;
    let fast = start_sim(timed(40.0, 5.0)).await;
    let twin = start_sim(timed(50.0, 5.0)).await;
    let args = ttft_args(
        &slow.url(),
        &[
            "--samples",
            "30",
            "--warmup",
            "2",
            "--max-tokens",
            "3",
            "--compare-url",
            &fast.url(),
        ],
    );
    let r = ttft::execute(&args).await.unwrap();
    let c = r.comparison.unwrap();
    let mean = c.rows.iter().find(|r| r.metric == "ttft.mean").unwrap();
    assert!(mean.significant == Some(true) && mean.improved, "{mean:?}");
    assert!((mean.delta_pct.unwrap() + 20.0).abs() < 4.0, "{mean:?}");
    assert!(mean.mann_whitney_p.unwrap() < 0.001);
    assert_eq!(r.levels.len(), 2);

    let args = ttft_args(
        &slow.url(),
        &[
            "--samples",
            "30",
            "--warmup",
            "2",
            "--max-tokens",
            "3",
            "--compare-url",
            &twin.url(),
        ],
    );
    let r = ttft::execute(&args).await.unwrap();
    let c = r.comparison.unwrap();
    for stat in ["mean", "p50"] {
        let row = c
            .rows
            .iter()
            .find(|r| r.metric == format!("ttft.{stat}"))
            .unwrap();
        assert_eq!(row.significant, Some(false), "{row:?}");
    }
    for s in [slow, fast, twin] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_targets_and_confidence_intervals() {
    let sim = start_sim(timed(30.0, 5.0)).await;
    let args = ttft_args(
        &sim.url(),
        &[
            "--quick",
            "--warmup",
            "1",
            "--max-tokens",
            "2",
            "--target",
            "p95<=100ms",
            "--target",
            "p50<=20ms",
        ],
    );
    let r = ttft::execute(&args).await.unwrap();
    assert_eq!(r.summary.ttft_ms.as_ref().unwrap().count, 20);
    assert_eq!(
        r.targets.iter().map(|t| t.passed).collect::<Vec<_>>(),
        vec![true, false]
    );
    sim.stop().await;
}

fn bin(args: &[&str]) -> std::process::Output {
    Proc::new(env!("CARGO_BIN_EXE_llmbench"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_and_check_turn_results_into_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let fast = start_sim(timed(40.0, 4.0)).await;
    let slow = start_sim(timed(50.0, 5.0)).await;
    for (sim, name) in [(&fast, "fast.json"), (&slow, "slow.json")] {
        let r = run::execute(&run_args(
            &sim.url(),
            &["--stream", "--runs", "20", "--max-tokens", "8"],
        ))
        .await
        .unwrap();
        llmbench::report::write(std::path::Path::new(&path(name)), &r).unwrap();
    }
    fast.stop().await;
    slow.stop().await;

    // compare: the slow treatment is significantly worse; a required improvement fails.
    let o = bin(&[
        "compare",
        &path("fast.json"),
        &path("slow.json"),
        "--require",
        "ttft.p50:-10%",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("ttft.p50") && text.contains("worse"),
        "{text}"
    );
    let o = bin(&[
        "compare",
        &path("slow.json"),
        &path("fast.json"),
        "--require",
        "ttft.p50:-10%",
        "--output",
        &path("cmp.json"),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let cmp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path("cmp.json")).unwrap()).unwrap();
    assert!(cmp["rows"].as_array().unwrap().len() > 10);

    // check: a run against itself passes; against a 20% faster baseline it fails and names metrics.
    let o = bin(&[
        "check",
        "--baseline",
        &path("slow.json"),
        &path("slow.json"),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("PASSED"));
    let o = bin(&[
        "check",
        "--baseline",
        &path("fast.json"),
        &path("slow.json"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("FAILED") && text.contains("- ttft.p50") && text.contains("- itl.p50"),
        "{text}"
    );
    // A per-metric tolerance file can allow it.
    std::fs::write(
        path("tol.toml"),
        "tolerance = \"50%\"\n[metrics]\n\"ttft.p99\" = \"40%\"\n",
    )
    .unwrap();
    let o = bin(&[
        "check",
        "--baseline",
        &path("fast.json"),
        &path("slow.json"),
        "--tolerances",
        &path("tol.toml"),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // --update-baseline replaces it.
    std::fs::copy(path("fast.json"), path("base.json")).unwrap();
    let o = bin(&[
        "check",
        "--baseline",
        &path("base.json"),
        &path("slow.json"),
        "--update-baseline",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        std::fs::read(path("base.json")).unwrap(),
        std::fs::read(path("slow.json")).unwrap()
    );

    // Bad input: exit 2 with a message naming the file.
    let o = bin(&[
        "check",
        "--baseline",
        &path("missing.json"),
        &path("slow.json"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.json"));
    std::fs::write(path("other.json"), "{\"schema\": \"something.else\"}").unwrap();
    let o = bin(&[
        "check",
        "--baseline",
        &path("other.json"),
        &path("slow.json"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("other.json"));
}
