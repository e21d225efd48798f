//! `--goodput`: requests that met every SLO, against a server whose timing is fixed (TTFT 50 ms,
//! a token every 10 ms), with limits far from it on either side so that a busy machine cannot
//! move a request across them.

mod common;

use llmbench::commands::{run, sweep};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goodput_counts_the_requests_that_met_every_slo() {
    let sim = common::start_sim(common::timed(50.0, 10.0)).await;
    let url = sim.url();
    let run_with = |slos: &str| {
        common::run_args(
            &url,
            &[
                "--runs",
                "6",
                "--concurrency",
                "2",
                "--max-tokens",
                "8",
                "--goodput",
                slos,
            ],
        )
    };
    // Every request meets generous limits...
    let r = run::execute(&run_with("ttft:2s,tpot:500ms")).await.unwrap();
    let g = r.summary.goodput.clone().expect("goodput in the summary");
    assert_eq!((g.met, g.judged), (6, 6));
    assert_eq!(g.fraction, 1.0);
    assert!((g.req_s - 6.0 / r.summary.throughput.window_s).abs() < 1e-9);
    assert_eq!(r.config["goodput"][0]["metric"], "ttft");
    // ...none a TTFT limit below the server's fixed 50 ms; an E2E limit alone is judged alone.
    let r = run::execute(&run_with("ttft:5ms,tpot:500ms"))
        .await
        .unwrap();
    assert_eq!(r.summary.goodput.unwrap().met, 0);
    let r = run::execute(&run_with("e2el:10s")).await.unwrap();
    assert_eq!(r.summary.goodput.unwrap().met, 6);
    // A target on it.
    let args = common::run_args(
        &url,
        &[
            "--runs",
            "2",
            "--goodput",
            "ttft:5ms",
            "--target",
            "goodput_ratio>=50%",
        ],
    );
    let r = run::execute(&args).await.unwrap();
    assert!(!r.targets_passed());
    assert_eq!(r.targets[0].actual, Some(0.0));
    // Each level of a sweep has its own.
    let args = common::sweep_args(
        &url,
        &[
            "--concurrency",
            "1,2",
            "--runs",
            "4",
            "--max-tokens",
            "4",
            "--goodput",
            "ttft:2s",
        ],
    );
    let r = sweep::execute(&args).await.unwrap();
    for l in &r.levels {
        let g = l.summary.goodput.as_ref().expect("per level");
        assert_eq!((g.met, g.judged), (4, 4), "{}", l.name);
    }
    sim.stop().await;
}

#[test]
fn goodput_on_ttft_without_streaming_is_refused_before_the_run() {
    let args = common::run_args(
        "http://127.0.0.1:9",
        &["--no-stream", "--goodput", "ttft:500ms"],
    );
    let e = llmbench::plan::RunPlan::from_args(&args).unwrap_err();
    assert!(format!("{e}").contains("drop --no-stream"), "{e}");
    let args = common::run_args("http://127.0.0.1:9", &["--goodput", "itl:5ms"]);
    let e = llmbench::plan::RunPlan::from_args(&args).unwrap_err();
    assert!(format!("{e}").contains("unknown key"), "{e}");
    // A goodput target without the SLOs it counts against.
    let args = common::run_args("http://127.0.0.1:9", &["--target", "goodput_ratio>=50%"]);
    let e = llmbench::plan::RunPlan::from_args(&args).unwrap_err();
    assert!(format!("{e}").contains("add --goodput"), "{e}");
}
