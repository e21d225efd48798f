//! `--virtual-time`: the engine, the load and an ideal client in simulated time. Its figures are
//! the model's exactly (so verdicts can be tested against known truth on any machine), the same
//! plan gives the same records, and it agrees with the real-time simulator's own account.

mod common;

use common::parse;
use llmbench::cli::Command;
use llmbench::commands::{capacity, run, stress, sweep, throughput};
use llmbench::result::BenchResult;
use llmbench::sim::{Profile, SimConfig};

async fn execute(argv: &[&str]) -> BenchResult {
    let mut all = vec!["llmbench"];
    all.extend_from_slice(argv);
    all.extend_from_slice(&["--quiet", "--virtual-time"]);
    match parse(&all) {
        Command::Run(a) => run::execute(&a).await,
        Command::Sweep(a) => sweep::execute(&a).await,
        Command::Throughput(a) => throughput::execute(&a).await,
        Command::Capacity(a) => capacity::execute(&a).await,
        Command::Stress(a) => stress::execute(&a).await,
        _ => unreachable!(),
    }
    .unwrap()
}

/// A profile file with exactly these figures.
fn profile(dir: &std::path::Path, text: &str) -> String {
    let p = dir.join("p.toml");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[tokio::test]
async fn figures_are_the_models_exactly_and_the_same_plan_gives_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    // One stream: TTFT = step + prefill base; ITL = one step of 10 + 1 ms.
    let p = profile(
        dir.path(),
        "decode_base_ms = 10.0\ndecode_per_seq_ms = 1.0\nprefill_base_ms = 5.0\nprefill_tok_s = 0.0\nprefix_caching = false\n",
    );
    let argv = [
        "run",
        "--runs",
        "5",
        "--max-tokens",
        "16",
        "--ignore-eos",
        "--sim-profile-file",
        &p,
    ];
    let r = execute(&argv).await;
    let s = &r.summary;
    assert_eq!(s.requests.ok, 5);
    assert!(
        (s.ttft_ms.as_ref().unwrap().p50 - 16.0).abs() < 1e-6,
        "{s:?}"
    );
    let itl = s.itl_ms.as_ref().unwrap();
    assert!((itl.min - 11.0).abs() < 1e-6 && (itl.max - 11.0).abs() < 1e-6);
    assert!(r
        .target
        .simulator
        .as_deref()
        .unwrap()
        .contains("virtual time"));
    assert!(r.client.is_none(), "no client self-check in virtual time");
    let again = execute(&argv).await;
    let times = |r: &BenchResult| {
        r.requests
            .iter()
            .map(|q| (q.sent_ns, q.content_ns.clone(), q.done_ns))
            .collect::<Vec<_>>()
    };
    assert_eq!(times(&r), times(&again));
}

#[tokio::test]
async fn capacity_in_virtual_time_finds_slots_over_service_time() {
    let dir = tempfile::tempdir().unwrap();
    // 4 slots; a request of 8 tokens holds its slot 8 steps of 10 ms: 4 / 80 ms = 50 req/s.
    let p = profile(
        dir.path(),
        "max_num_seqs = 4\ndecode_base_ms = 10.0\ndecode_per_seq_ms = 0.0\nprefill_base_ms = 0.0\nprefill_tok_s = 0.0\n",
    );
    let r = execute(&[
        "capacity",
        "--slo",
        "ttft.p90<=40ms",
        "--arrival",
        "constant",
        "--probe-duration",
        "20s",
        "--min-rate",
        "20",
        "--max-rate",
        "200",
        "--max-tokens",
        "8",
        "--ignore-eos",
        "--sim-profile-file",
        &p,
    ])
    .await;
    let c = r.capacity.as_ref().unwrap();
    let found = c.rate_req_s.unwrap();
    assert!(
        (found - 50.0).abs() <= 50.0 * 0.06,
        "{found} req/s: {}",
        c.statement
    );
    let by_users = execute(&[
        "capacity",
        "--slo",
        "ttft.p90<=40ms",
        "--by",
        "concurrency",
        "--min-concurrency",
        "1",
        "--max-concurrency",
        "16",
        "--probe-duration",
        "20s",
        "--max-tokens",
        "8",
        "--ignore-eos",
        "--sim-profile-file",
        &p,
    ])
    .await;
    assert_eq!(by_users.capacity.unwrap().concurrency, Some(4.0));
}

#[tokio::test]
async fn stress_in_virtual_time_breaks_where_the_queue_overflows() {
    let dir = tempfile::tempdir().unwrap();
    // 50 req/s served (4 slots / 80 ms); beyond it the queue of 8 overflows into 429s.
    let p = profile(
        dir.path(),
        "max_num_seqs = 4\nqueue_limit = 8\ndecode_base_ms = 10.0\ndecode_per_seq_ms = 0.0\nprefill_base_ms = 0.0\nprefill_tok_s = 0.0\n",
    );
    let mut all = vec![
        "stress",
        "--start-rate",
        "20",
        "--step",
        "20",
        "--max-rate",
        "100",
    ];
    all.extend_from_slice(&[
        "--step-duration",
        "10s",
        "--arrival",
        "constant",
        "--max-tokens",
        "8",
    ]);
    all.extend_from_slice(&["--ignore-eos", "--sim-profile-file", &p]);
    let r = execute(&all).await;
    let st = r.stress.as_ref().unwrap();
    assert_eq!(st.max_sustainable_rate, Some(40.0), "{st:?}");
    assert_eq!(st.breaking_rate, Some(60.0), "{st:?}");
    let l = &st.levels[1];
    assert_eq!(l.requests, 400, "40 req/s for 10 s, all served");
    assert_eq!(l.error_rate, 0.0);
}

#[tokio::test]
async fn a_ten_minute_open_loop_run_is_simulated_whole() {
    let r = execute(&[
        "throughput",
        "--rate",
        "10",
        "--arrival",
        "constant",
        "--duration",
        "10m",
        "--warmup",
        "0s",
        "--max-tokens",
        "32",
        "--ignore-eos",
        "--sim-profile",
        "small",
    ])
    .await;
    let s = &r.summary;
    assert_eq!(s.requests.total, 6000, "one arrival every 100 ms for 600 s");
    assert_eq!(s.requests.ok, 6000);
    let last = r.requests.iter().map(|q| q.sent_ns).max().unwrap();
    assert_eq!(
        last, 599_900_000_000,
        "the last arrival's due time, in simulated time"
    );
    assert!(r.requests.iter().all(|q| q.scheduled_ns == Some(q.sent_ns)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_time_agrees_with_the_real_time_simulators_own_account() {
    let cfg = SimConfig {
        log_timings: true,
        prefix_caching: false,
        ..SimConfig::profile(Profile::Small)
    };
    let sim = common::start_sim(cfg).await;
    let args = [
        "--concurrency",
        "4",
        "--runs",
        "12",
        "--max-tokens",
        "24",
        "--ignore-eos",
        "--prompt",
        "short",
    ];
    sweep::execute(&common::sweep_args(&sim.url(), &args))
        .await
        .unwrap();
    let log = std::mem::take(&mut *sim.stats.log.lock().unwrap());
    sim.stop().await;
    // Each request's prompt starts with a unique prefix: no cache hit either way.
    let mut argv = vec!["sweep", "--sim-profile", "small"];
    argv.extend_from_slice(&args);
    let v = execute(&argv).await;
    let median = |mut x: Vec<f64>| {
        x.sort_by(f64::total_cmp);
        x[x.len() / 2]
    };
    let ms = |v: &[u64]| v.iter().map(|&n| n as f64 / 1e6).collect::<Vec<_>>();
    // The server's own account against the virtual client's (no transport: its TTFT starts
    // where the server's does, at the request's arrival).
    let (real_itl, real_ttft) = (median(ms(&log.itl_ns)), median(ms(&log.ttft_ns)));
    let s = &v.summary;
    let (virt_itl, virt_ttft) = (
        s.itl_ms.as_ref().unwrap().p50,
        s.ttft_ms.as_ref().unwrap().p50,
    );
    assert!(
        (virt_itl - real_itl).abs() <= 0.05 * real_itl,
        "ITL p50: virtual {virt_itl:.2} ms, server {real_itl:.2} ms"
    );
    assert!(
        (virt_ttft - real_ttft).abs() <= 0.15 * real_ttft + 1.0,
        "TTFT p50: virtual {virt_ttft:.2} ms, server {real_ttft:.2} ms"
    );
}

#[test]
fn what_virtual_time_cannot_simulate_is_refused_before_the_run() {
    let exe = env!("CARGO_BIN_EXE_llmbench");
    for (args, says) in [
        (&["run", "--url", "http://127.0.0.1:9"][..], "drop --url"),
        (&["run", "--dataset", "multi-turn"][..], "conversations"),
        (&["run", "--api", "embeddings"][..], "embeddings"),
        (&["ttft", "--compare-url", "http://127.0.0.1:9"][..], "A/B"),
    ] {
        let o = std::process::Command::new(exe)
            .args(args)
            .args(["--virtual-time", "-q"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
