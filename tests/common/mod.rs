//! Helpers for the end-to-end tests: an in-process simulator on a free loopback port, and
//! command arguments parsed exactly as the CLI parses them.
#![allow(dead_code)]

use clap::Parser;
use llmbench::cli::{Cli, Command, RunArgs};
use llmbench::sim::{self, CrashMode, Profile, SimConfig, SimHandle};

pub async fn start_sim(cfg: SimConfig) -> SimHandle {
    sim::start(cfg, ([127, 0, 0, 1], 0).into(), CrashMode::StopServing)
        .await
        .expect("simulator starts")
}

/// A server with exactly this single-stream timing: TTFT `ttft_ms`, then one token every
/// `itl_ms` (prefill is a fixed cost, independent of the prompt).
pub fn timed(ttft_ms: f64, itl_ms: f64) -> SimConfig {
    SimConfig {
        prefill_tok_s: 0.0,
        prefill_base_ms: ttft_ms - itl_ms,
        decode_base_ms: itl_ms,
        decode_per_seq_ms: 0.0,
        ..SimConfig::profile(Profile::Small)
    }
}

pub fn zero() -> SimConfig {
    SimConfig::profile(Profile::Zero)
}

pub fn run_args(url: &str, extra: &[&str]) -> RunArgs {
    let mut argv = vec!["llmbench", "run", "--quiet", "--url", url];
    argv.extend_from_slice(extra);
    match Cli::try_parse_from(argv).expect("valid arguments").command {
        Command::Run(a) => a,
        _ => unreachable!(),
    }
}

pub fn parse(argv: &[&str]) -> Command {
    Cli::try_parse_from(argv).expect("valid arguments").command
}

pub fn throughput_args(url: &str, extra: &[&str]) -> llmbench::cli::ThroughputArgs {
    let mut argv = vec!["llmbench", "throughput", "--quiet", "--url", url];
    argv.extend_from_slice(extra);
    match parse(&argv) {
        Command::Throughput(a) => a,
        _ => unreachable!(),
    }
}

pub fn sweep_args(url: &str, extra: &[&str]) -> llmbench::cli::SweepArgs {
    let mut argv = vec!["llmbench", "sweep", "--quiet", "--url", url];
    argv.extend_from_slice(extra);
    match parse(&argv) {
        Command::Sweep(a) => a,
        _ => unreachable!(),
    }
}

pub fn stress_args(url: &str, extra: &[&str]) -> llmbench::cli::StressArgs {
    let mut argv = vec!["llmbench", "stress", "--quiet", "--url", url];
    argv.extend_from_slice(extra);
    match parse(&argv) {
        Command::Stress(a) => a,
        _ => unreachable!(),
    }
}

pub fn ttft_args(url: &str, extra: &[&str]) -> llmbench::cli::TtftArgs {
    let mut argv = vec!["llmbench", "ttft", "--quiet", "--url", url];
    argv.extend_from_slice(extra);
    match parse(&argv) {
        Command::Ttft(a) => a,
        _ => unreachable!(),
    }
}

pub fn capacity_args(url: &str, extra: &[&str]) -> llmbench::cli::CapacityArgs {
    let mut argv = vec!["llmbench", "capacity", "--quiet", "--url", url];
    argv.extend_from_slice(extra);
    match parse(&argv) {
        Command::Capacity(a) => a,
        _ => unreachable!(),
    }
}
