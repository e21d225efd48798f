//! One file per subcommand: glue only (arguments → plan → engine → report → exit code).

pub mod check;
pub mod cluster;
pub mod compare;
pub mod dataset;
pub mod merge;
pub mod report;
pub mod run;
pub mod session;
pub mod sim;
pub mod stress;
pub mod suite;
pub mod sweep;
pub mod throughput;
pub mod ttft;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(a) => run::run(a).await,
        Command::Throughput(a) => throughput::throughput(a).await,
        Command::Sweep(a) => sweep::sweep(a).await,
        Command::Suite(a) => suite::suite(a).await,
        Command::Stress(a) => stress::stress(a).await,
        Command::Ttft(a) => ttft::ttft(a).await,
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
