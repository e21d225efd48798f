//! How far the client's TTFT is from the server's own account, request by request.
//!
//! Starts `llmbench sim --timings` as a child process on core 0 (when there are two cores) and
//! runs `llmbench run` on core 1. The server writes into each stream's last chunk when the
//! request arrived and when its first token was written (llama.cpp's `timings.prompt_ms`); the
//! client's TTFT of the same request minus that is what the client, both HTTP stacks and the
//! loopback add. Prints its distribution at 16 and at 1,024 concurrent streams.
//!
//!   cargo bench --bench timing
//!   STREAMS=16,1024 RUNS=4 TOKENS=32 cargo bench --bench timing     (RUNS: requests per stream)

use clap::Parser;
use llmbench::cli::{Cli, Command};
use llmbench::commands::run;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// Pin the calling thread (and what it spawns from now on) to one core.
fn pin(core: usize) {
    // SAFETY: a zeroed cpu_set_t is valid; the mask is read by the kernel only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i]
}

fn main() {
    llmbench::raise_fd_limit();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let streams: Vec<u64> = env("STREAMS", "16,1024")
        .split(',')
        .map(|s| s.trim().parse().expect("STREAMS: numbers"))
        .collect();
    let runs: u64 = env("RUNS", "4").parse().expect("RUNS: a number");
    let tokens = env("TOKENS", "32");
    println!(
        "TTFT error: the client's TTFT minus the server's own (arrival to first token written)"
    );
    println!("server: TTFT 100-120 ms (80 ms before its headers, then the next 20 ms step), ITL 20 ms; {tokens} tokens");
    println!(
        "{}\n",
        if cores >= 2 {
            "server on core 0, client on core 1"
        } else {
            "one core: server and client share it"
        }
    );
    println!("| streams | requests | client TTFT p50 ms | error p50 ms | p90 | p99 | max |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for c in streams {
        if cores >= 2 {
            pin(0);
        }
        let (mut sim, url) = llmbench::sim::spawn_child(
            std::path::Path::new(env!("CARGO_BIN_EXE_llmbench")),
            &[
                "--profile",
                "zero",
                "--timings",
                "--slow-start-ms",
                "80",
                "--decode-base-ms",
                "20",
                "--max-num-seqs",
                "100000",
            ],
        )
        .expect("start llmbench sim");
        if cores >= 2 {
            pin(1);
        }
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (n, c_s) = ((c * runs).to_string(), c.to_string());
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
            &c_s,
            "--warmup",
            "0",
            "--max-tokens",
            &tokens,
            "--prompt",
            "short",
            "--timeout",
            "120s",
        ];
        let Command::Run(args) = Cli::try_parse_from(argv).unwrap().command else {
            unreachable!()
        };
        let r = rt.block_on(run::execute(&args)).unwrap();
        let _ = sim.kill();
        let _ = sim.wait();
        let mut err: Vec<f64> = r
            .requests
            .iter()
            .filter(|q| q.is_ok())
            .filter_map(|q| {
                let server = q.server_timings.as_ref()?.prompt_ms?;
                Some(q.ttft_ms()? - server)
            })
            .collect();
        err.sort_by(f64::total_cmp);
        let ttft = r.summary.ttft_ms.as_ref().map_or(f64::NAN, |t| t.p50);
        if err.is_empty() {
            println!("| {c} | 0 | - | - | - | - | - |");
            continue;
        }
        println!(
            "| {c} | {} | {ttft:.1} | {:.3} | {:.3} | {:.3} | {:.3} |",
            err.len(),
            pct(&err, 50.0),
            pct(&err, 90.0),
            pct(&err, 99.0),
            err[err.len() - 1],
        );
    }
}
