//! The load engine under pressure, against `llmbench sim` in a child process:
//!
//! 1. open loop: constant arrivals at RATE req/s (default 2,000) for SECONDS (default 10) against
//!    a zero-delay server: the achieved send rate against the target, and the send lag
//!    (sent − scheduled) distribution;
//! 2. STREAMS (default 10,000) concurrent streams against a paced server: every one completes,
//!    and the client's peak RSS.
//!
//!   cargo bench --bench load

use std::time::Instant;

use clap::Parser;
use llmbench::cli::{Cli, Command};
use llmbench::commands::{run, throughput};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn start_sim(args: &[&str]) -> (std::process::Child, String) {
    llmbench::sim::spawn_child(std::path::Path::new(env!("CARGO_BIN_EXE_llmbench")), args)
        .expect("start llmbench sim")
}

fn main() {
    llmbench::raise_fd_limit();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rate = env("RATE", 2000);
    let seconds = env("SECONDS", 10);
    let streams = env("STREAMS", 10_000);

    let (mut sim, url) = start_sim(&["--profile", "zero"]);
    let argv = [
        "llmbench",
        "throughput",
        "-q",
        "--url",
        &url,
        "--rate",
        &rate.to_string(),
        "--duration",
        &format!("{seconds}s"),
        "--arrival",
        "constant",
        "--max-tokens",
        "16",
    ];
    let Command::Throughput(args) = Cli::try_parse_from(argv).unwrap().command else {
        unreachable!()
    };
    let r = rt.block_on(throughput::execute(&args)).unwrap();
    let s = &r.summary;
    let lag = s.send_lag_ms.as_ref().unwrap();
    println!("== open loop: {rate} req/s for {seconds} s, constant arrivals, 16-token streams, zero-delay server ==");
    println!(
        "requests {} ok {} failed {}; sent {:.1} req/s = {:.2}% of the target",
        s.requests.total,
        s.requests.ok,
        s.requests.failed,
        s.throughput.sent_req_s.unwrap_or(0.0),
        s.throughput.sent_req_s.unwrap_or(0.0) / rate as f64 * 100.0
    );
    println!(
        "send lag ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
        lag.p50, lag.p90, lag.p99, lag.max
    );
    let _ = sim.kill();
    let _ = sim.wait();

    let (mut sim, url) = start_sim(&[
        "--profile",
        "zero",
        "--decode-base-ms",
        "20",
        "--max-num-seqs",
        "100000",
    ]);
    let n = streams.to_string();
    let argv = [
        "llmbench",
        "run",
        "-q",
        "--url",
        &url,
        "--stream",
        "--runs",
        &n,
        "-c",
        &n,
        "--warmup",
        "0",
        "--max-tokens",
        "32",
        "--prompt",
        "short",
        "--timeout",
        "120s",
    ];
    let Command::Run(args) = Cli::try_parse_from(argv).unwrap().command else {
        unreachable!()
    };
    let t0 = Instant::now();
    let r = rt.block_on(run::execute(&args)).unwrap();
    let s = &r.summary;
    println!("\n== {streams} concurrent streams, 32 tokens each, server step 20 ms ==");
    println!(
        "ok {} failed {} {:?}; peak concurrency {}; wall {:.1} s; client peak RSS {:.0} MB",
        s.requests.ok,
        s.requests.failed,
        s.errors,
        s.concurrency.peak,
        t0.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
    if let (Some(t), Some(i)) = (&s.ttft_ms, &s.itl_ms) {
        println!(
            "TTFT ms p50 {:.1} p99 {:.1}; ITL ms p50 {:.1} p99 {:.1}",
            t.p50, t.p99, i.p50, i.p99
        );
    }
    let _ = sim.kill();
    let _ = sim.wait();

    // What the client adds to TTFT at many streams: the server imposes TTFT = a 50 ms delay
    // (per request, concurrent: --slow-start-ms) + one 1 ms step, plus at most 1 ms of waiting
    // for the step in progress, for every stream at once.
    let streams = env("TTFT_STREAMS", 1024);
    let (mut sim, url) = start_sim(&[
        "--profile",
        "zero",
        "--slow-start-ms",
        "50",
        "--decode-base-ms",
        "1",
        "--max-num-seqs",
        "100000",
    ]);
    let n = streams.to_string();
    let argv = [
        "llmbench",
        "run",
        "-q",
        "--url",
        &url,
        "--stream",
        "--runs",
        &n,
        "-c",
        &n,
        "--warmup",
        "0",
        "--max-tokens",
        "8",
        "--prompt",
        "short",
        "--timeout",
        "120s",
    ];
    let Command::Run(args) = Cli::try_parse_from(argv).unwrap().command else {
        unreachable!()
    };
    let r = rt.block_on(run::execute(&args)).unwrap();
    let t = r.summary.ttft_ms.as_ref().unwrap();
    println!("\n== {streams} concurrent streams against a server whose TTFT is 51-52 ms ==");
    println!(
        "ok {}; measured TTFT p50 {:.1} ms p99 {:.1} ms: at most {:.1} ms (p50) and {:.1} ms (p99) added by client, server HTTP and loopback together",
        r.summary.requests.ok,
        t.p50,
        t.p99,
        (t.p50 - 51.0).max(0.0),
        (t.p99 - 51.0).max(0.0)
    );
    let _ = sim.kill();
    let _ = sim.wait();
}
