//! Parse, hand to the library, map the outcome to an exit code (0 ok, 1 failed check, 2 bad
//! input or unreachable server).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let given: Vec<String> = std::env::args().collect();
    let args = match llmbench::cli::expand_config(given.clone()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let cli = match llmbench::cli::Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            if let Some(key) = llmbench::cli::config_key_of(&e, &given, &args) {
                eprintln!(
                    "error: --config: unknown key {key:?} (keys are the command's long flags, e.g. max_tokens = 64)"
                );
                return ExitCode::from(2);
            }
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    llmbench::raise_fd_limit();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // The command runs as a task on the runtime's workers, not on this thread: the records
    // its requests hand to it then never wake a parked thread (one futex wake and two context
    // switches per request when it ran here).
    let done = rt.block_on(async { tokio::spawn(llmbench::commands::dispatch(cli)).await });
    let outcome = match done {
        Ok(outcome) => outcome,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(anyhow::anyhow!("the command's task ended: {e}")),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
