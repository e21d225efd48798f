//! `capacity` against known truth: a server with 4 slots and a fixed service time S sustains
//! 4 / S requests per second under constant arrivals, and 4 users in a closed loop. The
//! simulator's steps of 10 ms each decode one token of every running request, and a new request
//! costs the others nothing (no prefill time): a request of 8 tokens holds its slot for 8 steps,
//! S = 8 × the step time, read from the server's own log of a light run (not assumed, so a busy
//! machine moves the truth and the answer together).

mod common;

use llmbench::commands::{capacity, run};
use llmbench::sim::SimConfig;

fn server() -> SimConfig {
    SimConfig {
        max_num_seqs: 4,
        log_timings: true,
        ..common::timed(10.0, 10.0)
    }
}

const TOKENS: &[&str] = &["--max-tokens", "8", "--ignore-eos"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_finds_slots_over_service_time_and_the_slot_count() {
    let sim = common::start_sim(server()).await;
    let url = sim.url();
    // The step time, from what the server did.
    let mut args = vec!["--runs", "8"];
    args.extend_from_slice(TOKENS);
    run::execute(&common::run_args(&url, &args)).await.unwrap();
    let log = std::mem::take(&mut *sim.stats.log.lock().unwrap());
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len() as f64 / 1e6;
    let service_ms = 8.0 * mean(&log.itl_ns);
    let truth = 4.0 / (service_ms / 1e3);

    let mut args = vec![
        "--slo",
        "ttft.p90<=40ms",
        "--arrival",
        "constant",
        "--probe-duration",
        "1500ms",
        "--min-rate",
        "20",
        "--max-rate",
        "200",
    ];
    args.extend_from_slice(TOKENS);
    let r = capacity::execute(&common::capacity_args(&url, &args))
        .await
        .unwrap();
    let c = r.capacity.as_ref().expect("capacity in the result");
    let found = c.rate_req_s.expect("a capacity was found");
    assert!(
        (found - truth).abs() / truth <= 0.12,
        "found {found:.1} req/s, truth 4 / {service_ms:.1} ms = {truth:.1} req/s; probes {:?}",
        c.probes
            .iter()
            .map(|p| (p.level, p.passed))
            .collect::<Vec<_>>()
    );
    assert_eq!(c.limiting_slo.as_deref(), Some("ttft.p90<=40ms"));
    assert!(c.statement.starts_with("About "), "{}", c.statement);
    assert!(c.statement.contains("requests queue"), "{}", c.statement);
    assert_eq!(r.levels.len(), c.probes.len());
    // The HTML report draws the probes against the SLO's line; Markdown has the table.
    let dir = tempfile::tempdir().unwrap();
    let (html, md) = (dir.path().join("c.html"), dir.path().join("c.md"));
    llmbench::report::write(&html, &r).unwrap();
    llmbench::report::write(&md, &r).unwrap();
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.contains("capacity-slo-1") && html.contains("SLO limit"));
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains("## Capacity") && md.contains(&c.statement),
        "{md}"
    );
    // Every probe's records are in the result, each tagged with its probe.
    let tagged = r.requests.iter().filter(|q| q.level.is_some()).count();
    assert_eq!(tagged, r.requests.len());

    let mut args = vec![
        "--slo",
        "ttft.p90<=40ms",
        "--by",
        "concurrency",
        "--min-concurrency",
        "2",
        "--max-concurrency",
        "32",
        "--probe-duration",
        "1500ms",
    ];
    args.extend_from_slice(TOKENS);
    let r = capacity::execute(&common::capacity_args(&url, &args))
        .await
        .unwrap();
    let c = r.capacity.as_ref().unwrap();
    assert_eq!(c.concurrency, Some(4.0), "{}", c.statement);
    assert!(c.statement.starts_with("About 4 users"), "{}", c.statement);
    sim.stop().await;
}

#[test]
fn capacity_refuses_bad_input_before_the_run() {
    let bad = |extra: &[&str]| {
        let mut argv = vec!["llmbench", "capacity", "--url", "http://127.0.0.1:9"];
        argv.extend_from_slice(extra);
        use clap::Parser;
        match llmbench::cli::Cli::try_parse_from(&argv).map(|c| c.command) {
            Err(_) => "parse".to_string(),
            Ok(llmbench::cli::Command::Capacity(a)) => {
                match llmbench::plan::CapacityPlan::from_args(&a) {
                    Err(e) => format!("{e}"),
                    Ok(_) => "ok".to_string(),
                }
            }
            Ok(_) => unreachable!(),
        }
    };
    assert_eq!(bad(&[]), "parse", "--slo is required");
    assert!(bad(&["--slo", "latency<5"]).contains("--slo"));
    assert!(bad(&["--slo", "ttft.p95<=1s", "--no-stream"]).contains("drop --no-stream"));
    assert!(bad(&[
        "--slo",
        "ttft.p95<=1s",
        "--min-rate",
        "50",
        "--max-rate",
        "10"
    ])
    .contains("below"));
    assert!(bad(&["--slo", "ttft.p95<=1s", "--precision", "0"]).contains("--precision"));
    assert_eq!(bad(&["--slo", "ttft.p95<=1s"]), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_targets_are_judged_per_level() {
    let sim = common::start_sim(server()).await;
    let url = sim.url();
    let ramp = |target: &'static str| {
        let mut args = vec![
            "--start-rate",
            "10",
            "--step",
            "10",
            "--max-rate",
            "30",
            "--step-duration",
            "1s",
            "--target",
            target,
        ];
        args.extend_from_slice(TOKENS);
        common::stress_args(&url, &args)
    };
    // A target no level meets: no rate is sustainable, whatever the ramp's own rule says.
    let r = llmbench::commands::stress::execute(&ramp("e2e.p50<=5ms"))
        .await
        .unwrap();
    let st = r.stress.as_ref().unwrap();
    assert!(st.levels.iter().all(|l| l.targets_met == Some(false)));
    assert_eq!(st.max_sustainable_rate, None);
    assert!(!r.targets_passed());
    assert!(r.targets[0].target.contains("level 0"), "{:?}", r.targets);
    // A target every level meets: judged at the highest, which is the answer.
    let r = llmbench::commands::stress::execute(&ramp("e2e.p50<=10s"))
        .await
        .unwrap();
    let st = r.stress.as_ref().unwrap();
    assert!(st.levels.iter().all(|l| l.targets_met == Some(true)));
    let top = st.levels.last().unwrap();
    assert_eq!(st.max_sustainable_rate, Some(top.target_rate));
    assert!(r.targets_passed());
    assert!(r.targets[0]
        .target
        .contains(&format!("level {}", top.level)));
    // Goodput is judged per level too.
    let mut args = ramp("goodput_ratio>=90%");
    args.out.goodput = Some("e2el:10s".into());
    let r = llmbench::commands::stress::execute(&args).await.unwrap();
    let st = r.stress.as_ref().unwrap();
    assert!(
        st.levels.iter().all(|l| l.targets_met == Some(true)),
        "{:?}",
        r.targets
    );
    sim.stop().await;
}
