//! `llmbench sim`: serve the simulated LLM server until Ctrl-C (or a simulated crash).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::cli::{SimAction, SimArgs, SimFitArgs};
use crate::sim::profile_file::ProfileFile;
use crate::sim::{self, CrashMode, SimConfig};

pub fn config_from_args(a: &SimArgs) -> anyhow::Result<SimConfig> {
    let mut c = match &a.profile_file {
        Some(p) => ProfileFile::load(p)
            .map_err(|e| anyhow::anyhow!("--profile-file {e:#}"))?
            .config(p),
        None => SimConfig::profile(a.profile),
    };
    if let Some(m) = &a.model {
        c.model = m.clone();
    }
    macro_rules! set {
        ($field:ident) => {
            if let Some(v) = a.$field {
                c.$field = v;
            }
        };
    }
    set!(max_num_seqs);
    set!(queue_limit);
    set!(kv_tokens);
    set!(prefill_tok_s);
    set!(prefill_base_ms);
    set!(max_batched_tokens);
    set!(decode_base_ms);
    set!(decode_per_seq_ms);
    set!(decode_per_ktok_ms);
    c.request_timeout_ms = a.request_timeout.map(|d: Duration| d.as_millis() as u64);
    // A profile file's figures stand unless a flag is given.
    set!(eos_prob);
    set!(reasoning_tokens);
    set!(tokens_per_chunk);
    c.tokens_per_chunk = c.tokens_per_chunk.max(1);
    c.embedding_dim = a.embedding_dim;
    c.seed = a.seed;
    if a.tokenizer.is_some() {
        c.tokenizer = a.tokenizer.clone();
    }
    c.prefix_caching = (c.prefix_caching || a.prefix_caching) && !a.no_prefix_caching;
    c.faults.error_rate = a.error_rate;
    c.faults.error_status = a.error_status;
    c.faults.stall_ms = a.stall_ms;
    c.faults.drop_after_tokens = a.drop_after_tokens;
    c.faults.malformed_rate = a.malformed_rate;
    c.faults.crash_after = a.crash_after;
    c.faults.slow_start_ms = a.slow_start_ms;
    c.timings |= a.timings;
    Ok(c)
}

pub async fn sim(a: SimArgs) -> anyhow::Result<ExitCode> {
    if let Some(SimAction::Fit(f)) = &a.action {
        return fit(f);
    }
    let cfg = config_from_args(&a)?;
    let addr: SocketAddr = format!("{}:{}", a.host, a.port).parse().with_context(|| {
        format!(
            "--host {:?} --port {}: not an IP address and port",
            a.host, a.port
        )
    })?;
    let (ttft, itl) = cfg.predicted_single_stream(0);
    let handle = sim::start(cfg, addr, CrashMode::ExitProcess).await?;
    println!(
        "llmbench sim: {} serving model {:?} at {} (single stream: ITL {:.2} ms, {:.0} tok/s; TTFT from {:.1} ms + prefill)",
        match &handle.config.profile_file {
            Some(p) => format!("profile file {p}"),
            None => format!("profile {}", handle.config.profile.name()),
        },
        handle.config.model,
        handle.url(),
        itl,
        1e3 / itl.max(1e-9),
        ttft,
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = handle.stopped() => {}
    }
    handle.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// `llmbench sim fit RESULT... [-o FILE]`.
fn fit(a: &SimFitArgs) -> anyhow::Result<ExitCode> {
    if let Some(o) = &a.output {
        crate::plan::check_writable(o)?;
    }
    let results = a
        .results
        .iter()
        .map(|p| crate::result::read(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut fitted = sim::fit::fit(&results, a.max_num_seqs.map(|n| n as usize))?;
    if let Some(t) = &a.tokenizer {
        crate::workload::Tokenizer::load(t).map_err(|e| anyhow::anyhow!("--tokenizer: {e:#}"))?;
        // A file by its absolute path: the profile may be read from elsewhere.
        let file = std::path::Path::new(t);
        fitted.profile.tokenizer = Some(match file.exists() {
            true => std::fs::canonicalize(file)?.display().to_string(),
            false => t.clone(),
        });
    }
    let sources: Vec<String> = a.results.iter().map(|p| p.display().to_string()).collect();
    let text = fitted.to_toml(&sources)?;
    if !a.quiet {
        eprint!("{}", fitted.describe());
    }
    match &a.output {
        Some(o) => {
            std::fs::write(o, &text)
                .with_context(|| format!("--output {}: cannot write the file", o.display()))?;
            if !a.quiet {
                eprintln!("profile written to {}", o.display());
            }
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
