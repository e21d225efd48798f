//! A long run's memory stays bounded: `throughput --keep-records N` keeps N full records, yet
//! every figure counts every request, exactly as a result that kept them all (the .jsonl output,
//! which holds every record, is the second source), and the server's own count agrees.

mod common;

use std::sync::atomic::Ordering;

use llmbench::commands::throughput;
use llmbench::metrics::Summary;
use llmbench::report::BenchResult;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_keeps_few_records_counts_every_one_exactly() {
    let sim = common::start_sim(common::zero()).await;
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("soak.jsonl");
    let args = common::throughput_args(
        &sim.url(),
        &[
            "--rate",
            "200",
            "--duration",
            "1500ms",
            "--warmup",
            "20",
            "--max-tokens",
            "12",
            "--keep-records",
            "25",
            "--output",
            jsonl.to_str().unwrap(),
        ],
    );
    let r = throughput::execute(&args).await.unwrap();
    let file = llmbench::sink::read(&jsonl).unwrap();
    let all = file.records;
    let received = sim.stats.requests_received.load(Ordering::Relaxed);
    // The server's count, the file's, and the result's.
    assert_eq!(all.len() as u64, received);
    assert_eq!(r.requests.len() + r.requests_omitted as usize, all.len());
    assert_eq!(r.requests.len(), 25, "no failures: exactly the cap");
    assert!(r.requests_omitted > 200);
    // Every figure as if every record had been kept: against the raw values first...
    let measured = || all.iter().filter(|q| !q.warmup && q.is_ok());
    let raw = |f: fn(&llmbench::record::RequestRecord) -> Option<f64>| {
        llmbench::metrics::Distribution::from_values(measured().filter_map(f).collect())
    };
    assert_eq!(r.summary.ttft_ms, raw(|q| q.ttft_ms()));
    assert_eq!(r.summary.e2e_ms, raw(|q| Some(q.e2e_ms())));
    let itl =
        llmbench::metrics::Distribution::from_values(measured().flat_map(|q| q.itl_ms()).collect());
    assert_eq!(r.summary.itl_ms, itl);
    // ...then against a summary of them all.
    let full = Summary::from_records(&all);
    assert_eq!(r.summary.requests, full.requests);
    assert_eq!(r.summary.ttft_ms, full.ttft_ms);
    assert_eq!(r.summary.itl_ms, full.itl_ms);
    assert_eq!(r.summary.e2e_ms, full.e2e_ms);
    assert_eq!(r.summary.tpot_ms, full.tpot_ms);
    assert_eq!(r.summary.send_lag_ms, full.send_lag_ms);
    assert_eq!(r.summary.tokens, full.tokens);
    assert_eq!(r.summary.throughput, full.throughput);
    assert_eq!(r.summary.concurrency, full.concurrency);
    assert_eq!(
        r.timeseries.len(),
        BenchResult::build(file.header.clone(), all.clone(), vec![])
            .timeseries
            .len()
    );
    // The client counted every token it received.
    let tokens: u64 = all.iter().filter_map(|q| q.output_tokens).sum();
    assert_eq!(r.client.as_ref().unwrap().tokens, tokens);
    // Re-reading the .jsonl is bounded the same way and gives the same figures.
    let again = llmbench::result::read(&jsonl).unwrap();
    assert_eq!(again.summary, r.summary);
    // A .json that does not hold every record cannot be merged exactly: it says what to use.
    let json = dir.path().join("soak.json");
    llmbench::report::write(&json, &r).unwrap();
    // `report` with no output flag shows the result (Markdown on stdout).
    let shown = std::process::Command::new(env!("CARGO_BIN_EXE_llmbench"))
        .args(["report", json.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(shown.status.success());
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.starts_with("# llmbench throughput") && text.contains("--keep-records"),
        "{text}"
    );
    let mut back = llmbench::result::read(&json).unwrap();
    assert_eq!(back.requests_omitted, r.requests_omitted);
    back.shard = Some(llmbench::shard::ShardInfo {
        index: 0,
        count: 1,
        source: "flag".into(),
        plan_id: "p".into(),
        start_at: None,
        start_lag_ms: None,
    });
    let part = llmbench::verdict::merge::Part {
        path: json.clone(),
        result: back,
        truncated: false,
    };
    let e = llmbench::verdict::merge::merge(vec![part]).unwrap_err();
    assert!(
        format!("{e}").contains("merge the shards' .jsonl files"),
        "{e}"
    );
    // Nor compared request by request, nor written out as a .jsonl (it would lose records).
    let e = llmbench::report::write(&dir.path().join("again.jsonl"), &r).unwrap_err();
    assert!(format!("{e:#}").contains("were not kept"), "{e:#}");
    let args = llmbench::cli::CompareArgs {
        baseline: json.clone(),
        treatment: json.clone(),
        require: Vec::new(),
        output: None,
        strict: false,
    };
    let e = llmbench::commands::compare::compare(args)
        .await
        .unwrap_err();
    assert!(format!("{e}").contains("part of the run"), "{e}");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_failure_of_each_kind_is_kept_beyond_the_cap() {
    let mut cfg = common::zero();
    cfg.faults.error_rate = 0.3;
    let sim = common::start_sim(cfg).await;
    let args = common::throughput_args(
        &sim.url(),
        &[
            "--rate",
            "200",
            "--duration",
            "1s",
            "--max-tokens",
            "4",
            "--keep-records",
            "1",
        ],
    );
    let r = throughput::execute(&args).await.unwrap();
    assert!(r.summary.requests.failed > 0);
    let failures = r.requests.iter().filter(|q| q.error.is_some()).count();
    assert_eq!(failures, r.summary.errors.len(), "one example of each kind");
    assert!(r.requests.len() <= 1 + r.summary.errors.len());
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_rates_make_a_load_curve_and_inf_sends_everything_at_once() {
    let sim = common::start_sim(common::zero()).await;
    let args = common::throughput_args(
        &sim.url(),
        &[
            "--rate",
            "5,10",
            "--arrival",
            "constant",
            "--duration",
            "1s",
            "--max-tokens",
            "4",
        ],
    );
    let r = throughput::execute(&args).await.unwrap();
    // Constant arrivals for 1 s: exactly 5, then 10, each level its own.
    let counts: Vec<u64> = r.levels.iter().map(|l| l.summary.requests.total).collect();
    assert_eq!(counts, vec![5, 10]);
    assert_eq!(r.levels[1].params.rate, Some(10.0));
    assert_eq!(r.summary.requests.total, 15);
    assert_eq!(sim.stats.requests_received.load(Ordering::Relaxed), 15);
    assert_eq!(r.config["rates"], serde_json::json!([5.0, 10.0]));
    let text = llmbench::report::console::load_curve(&r);
    assert!(
        text.contains("Load curve") && text.contains("10 req/s"),
        "{text}"
    );

    let args = common::throughput_args(
        &sim.url(),
        &["--rate", "inf", "--max-requests", "8", "--max-tokens", "4"],
    );
    let r = throughput::execute(&args).await.unwrap();
    assert_eq!(r.requests.len(), 8);
    assert!(r
        .requests
        .iter()
        .all(|q| q.scheduled_ns == r.requests[0].scheduled_ns));
    assert_eq!(r.config["rate"], "inf");
    // A burst keeps no schedule: its dispatch is not the client's lateness.
    assert_eq!(r.client.as_ref().unwrap().send_lag_p99_ms, None);
    assert_eq!(sim.stats.requests_received.load(Ordering::Relaxed), 23);
    // inf needs a count.
    let bad = common::throughput_args(&sim.url(), &["--rate", "inf"]);
    let e = throughput::execute(&bad).await.unwrap_err();
    assert!(format!("{e}").contains("--max-requests"), "{e}");
    sim.stop().await;
}
