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
    match rt.block_on(llmbench::commands::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
