//! One file per subcommand: glue only (arguments → plan → engine → report → exit code).

pub mod run;
pub mod session;
pub mod sim;
pub mod suite;
pub mod sweep;
pub mod throughput;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(a) => run::run(a).await,
        Command::Throughput(a) => throughput::throughput(a).await,
        Command::Sweep(a) => sweep::sweep(a).await,
        Command::Suite(a) => suite::suite(a).await,
        Command::Sim(a) => sim::sim(a).await,
    }
}
