//! One file per subcommand: glue only (arguments → plan → engine → report → exit code).

pub mod capacity;
pub mod check;
pub mod cluster;
pub mod compare;
pub mod dataset;
pub mod merge;
pub mod report;
pub mod run;
pub mod sim;
pub mod stress;
pub mod suite;
pub mod sweep;
pub mod throughput;
pub mod ttft;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::plan::OutputPlan;
use crate::record::FailureKind;
use crate::report::{console, BenchResult};
use crate::session::EXIT_INTERRUPTED;

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(a) => run::run(a).await,
        Command::Throughput(a) => throughput::throughput(a).await,
        Command::Sweep(a) => sweep::sweep(a).await,
        Command::Suite(a) => suite::suite(a).await,
        Command::Stress(a) => stress::stress(a).await,
        Command::Ttft(a) => ttft::ttft(a).await,
        Command::Capacity(a) => capacity::capacity(a).await,
        Command::Compare(a) => compare::compare(a).await,
        Command::Check(a) => check::check_command(a).await,
        Command::Report(a) => report::report(a),
        Command::Dataset(a) => dataset::dataset(a),
        Command::Merge(a) => merge::run(a).await,
        Command::Cluster(a) => cluster::cluster(a),
        Command::Schema => {
            println!("{}", crate::result::json_schema());
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim(a) => sim::sim(a).await,
    }
}

/// Exit 2 when a level could not run (an A/B command failed): what was measured is kept and
/// written, and the error is named.
pub fn level_failed(result: &BenchResult) -> Option<ExitCode> {
    let l = result.levels.iter().find(|l| l.error.is_some())?;
    eprintln!(
        "error: {}: {}; the levels before it are kept",
        l.name,
        l.error.as_deref().unwrap_or_default()
    );
    Some(ExitCode::from(2))
}

/// Print the console text, write `--output`, and choose the exit code.
pub fn conclude(result: &BenchResult, text: String, out: &OutputPlan) -> anyhow::Result<ExitCode> {
    print!("{text}");
    print!("{}", console::sessions_block(result));
    print!("{}", console::failover_block(result));
    print!("{}", console::goodput_block(result));
    print!("{}", console::client_block(result));
    if !result.targets.is_empty() {
        print!("{}", console::targets_table(&result.targets));
        if result.is_ab() {
            println!("  (an A/B: targets are judged on the treatment arm's requests)");
        }
        let streamed = result.config["stream"].as_bool().unwrap_or(true);
        let unmeasured = result.targets.iter().any(|t| {
            t.actual.is_none()
                && crate::metrics::metric::Metric::lookup(&t.metric)
                    .is_some_and(|m| m.needs_stream())
        });
        if unmeasured && !streamed {
            eprintln!("note: TTFT, ITL and TPOT are measured on streamed responses only: drop --no-stream");
        }
    }
    // Every output is attempted; one that fails does not stop the others.
    let mut unwritten = Vec::new();
    for p in &out.outputs {
        let written = if result.live_outputs.contains(p) {
            Ok(())
        } else {
            crate::report::write(p, result)
        };
        match written {
            Ok(()) if !out.quiet => eprintln!("result written to {}", p.display()),
            Ok(()) => {}
            Err(e) => {
                eprintln!("error: {e:#}");
                unwritten.push(p.display().to_string());
            }
        }
    }
    if !unwritten.is_empty() {
        eprintln!("error: not written: {}", unwritten.join(", "));
        return Ok(ExitCode::from(2));
    }
    let s = &result.summary;
    let connect = s
        .errors
        .get(FailureKind::Connect.name())
        .copied()
        .unwrap_or(0);
    if s.requests.total > 0 && connect == s.requests.total {
        eprintln!(
            "error: cannot connect to {}: every request failed to connect",
            result.target.url
        );
        return Ok(ExitCode::from(2));
    }
    if result.interrupted {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if s.requests.ok == 0 {
        let kinds: Vec<String> = s.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
        eprintln!(
            "error: no request succeeded ({} of {} failed{}{})",
            s.requests.failed,
            s.requests.total,
            if kinds.is_empty() { "" } else { ": " },
            kinds.join(", ")
        );
        return Ok(ExitCode::from(1));
    }
    if !result.targets_passed() {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
