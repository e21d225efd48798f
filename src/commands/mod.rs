//! One file per subcommand: glue only (arguments → plan → engine → report → exit code).

pub mod run;
pub mod sim;

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command};

/// Exit code of a run stopped with Ctrl-C (partial results are still reported).
pub const EXIT_INTERRUPTED: u8 = 130;

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(a) => run::run(a).await,
        Command::Sim(a) => sim::sim(a).await,
    }
}

/// A token cancelled by the first Ctrl-C. A second Ctrl-C exits at once.
pub fn ctrl_c_token(quiet: bool) -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            if !quiet {
                eprintln!("\ninterrupted: stopping, and reporting what was measured (Ctrl-C again to quit now)");
            }
            t.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(EXIT_INTERRUPTED as i32);
            }
        }
    });
    token
}
