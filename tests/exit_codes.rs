//! Exit codes and error accounting: a run where nothing succeeded fails; `--max-error-rate` is a
//! requirement; requests stopped by the user are kept but are not errors.

mod common;

use std::process::ExitCode;

use common::{run_args, start_sim, zero};
use llmbench::metrics::Summary;
use llmbench::plan::RunPlan;
use llmbench::record::{Failure, FailureKind, RequestRecord};

fn failed(id: u64, kind: FailureKind) -> RequestRecord {
    RequestRecord {
        id,
        sent_ns: 1,
        done_ns: 2,
        error: Some(Failure {
            kind,
            http_status: None,
            detail: String::new(),
        }),
        ..Default::default()
    }
}

#[test]
fn stopped_requests_are_kept_but_are_not_errors() {
    let ok = RequestRecord {
        id: 0,
        sent_ns: 1,
        done_ns: 5,
        ..Default::default()
    };
    let records = vec![
        ok,
        failed(1, FailureKind::Http),
        failed(2, FailureKind::Cancelled),
        failed(3, FailureKind::Dropped),
    ];
    let s = Summary::from_records(&records);
    assert_eq!(
        (
            s.requests.total,
            s.requests.ok,
            s.requests.failed,
            s.requests.stopped
        ),
        (4, 1, 1, 2)
    );
    assert_eq!(s.error_rate, 0.5);
    assert_eq!(s.errors.len(), 1, "{:?}", s.errors);
}

async fn exit_of(cfg: llmbench::sim::SimConfig, extra: &[&str]) -> ExitCode {
    let sim = start_sim(cfg).await;
    let args = run_args(&sim.url(), extra);
    let plan = RunPlan::from_args(&args).unwrap();
    let r = llmbench::commands::run::execute(&args).await.unwrap();
    sim.stop().await;
    llmbench::commands::conclude(&r, String::new(), &plan.common.output).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_in_which_no_request_succeeded_exits_1() {
    let mut cfg = zero();
    cfg.faults.error_rate = 1.0;
    assert_eq!(exit_of(cfg, &["--runs", "3"]).await, ExitCode::from(1));
    assert_eq!(exit_of(zero(), &["--runs", "3"]).await, ExitCode::SUCCESS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_error_rate_is_a_requirement() {
    let mut cfg = zero();
    cfg.faults.error_rate = 0.5;
    cfg.seed = 7;
    let extra = ["--runs", "40", "-c", "4", "--max-error-rate", "5%"];
    assert_eq!(exit_of(cfg.clone(), &extra).await, ExitCode::from(1));
    let lenient = ["--runs", "40", "-c", "4", "--max-error-rate", "0.9"];
    assert_eq!(exit_of(cfg, &lenient).await, ExitCode::SUCCESS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_url_that_is_not_prometheus_is_refused_before_the_run() {
    let sim = start_sim(zero()).await;
    let url = sim.url();
    let root = url.trim_end_matches("/v1").to_string();
    for (metrics, why) in [
        ("http://127.0.0.1:1/metrics".to_string(), "cannot reach"),
        (format!("{root}/v1/models"), "not Prometheus"),
    ] {
        let args = common::throughput_args(
            &url,
            &["--rate", "5", "--duration", "1s", "--metrics-url", &metrics],
        );
        let err = llmbench::commands::throughput::execute(&args)
            .await
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("--metrics-url") && msg.contains(why), "{msg}");
    }
    assert_eq!(
        sim.stats
            .requests_received
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no request was sent"
    );
    let ok = common::throughput_args(
        &url,
        &[
            "--rate",
            "5",
            "--duration",
            "1s",
            "--metrics-url",
            &format!("{root}/metrics"),
        ],
    );
    llmbench::commands::throughput::execute(&ok).await.unwrap();
    sim.stop().await;
}

#[test]
fn absurd_values_are_refused_with_exit_2_before_anything_runs() {
    let cases: &[&[&str]] = &[
        &["throughput", "--rate", "1e9"],
        &["throughput", "--rate", "100000", "--duration", "7d"],
        &["run", "--max-tokens", "4000000000"],
        &["run", "-c", "1000000"],
        &["run", "--input-tokens", "1e12", "--dataset", "random"],
        &["sweep", "--concurrency", "8", "--runs", "4"],
        &["stress", "--step", "0.0001"],
        &["ttft", "--samples", "1000000000000"],
    ];
    for args in cases {
        let started = std::time::Instant::now();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_llmbench"))
            .args(*args)
            .arg("-q")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("error"), "{args:?}: {err}");
        assert!(
            started.elapsed().as_secs() < 20,
            "{args:?} ran instead of being refused"
        );
    }
}

#[test]
fn an_output_in_a_missing_directory_is_refused_before_the_run() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_llmbench"))
        .args([
            "run",
            "-q",
            "--sim-profile",
            "zero",
            "-o",
            "/nonexistent-dir/r.json",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("/nonexistent-dir") && err.contains("does not exist"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_that_fails_at_the_end_does_not_skip_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone");
    std::fs::create_dir(&gone).unwrap();
    let (bad, good) = (gone.join("r.md"), dir.path().join("r.json"));
    let sim = start_sim(zero()).await;
    let args = run_args(
        &sim.url(),
        &[
            "--runs",
            "2",
            "-o",
            bad.to_str().unwrap(),
            "-o",
            good.to_str().unwrap(),
        ],
    );
    let plan = RunPlan::from_args(&args).unwrap();
    let r = llmbench::commands::run::execute(&args).await.unwrap();
    sim.stop().await;
    std::fs::remove_dir(&gone).unwrap(); // the directory went away during the run
    let code = llmbench::commands::conclude(&r, String::new(), &plan.common.output).unwrap();
    assert_eq!(code, ExitCode::from(2));
    assert!(good.exists(), "the other output is written");
    assert!(!bad.exists());
}
