//! `llmbench run`: the seed's fixed benchmark. Warmup requests, then `--runs` measured requests
//! at `--concurrency` (closed loop), over the built-in prompts; the seed's summary and, when
//! streaming, the latency table.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;
use serde_json::json;

use crate::cli::RunArgs;
use crate::metrics::Summary;
use crate::record::{Clock, FailureKind, RequestRecord};
use crate::report::{self, console, BenchResult, Tool, SCHEMA};
use crate::scheduler::{closed_loop, ClosedLoop};
use crate::target;
use crate::workload::{run_nonce, BodyOptions, BuiltinWorkload};

use super::{ctrl_c_token, EXIT_INTERRUPTED};

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.max_tokens == 0 {
        bail!("--max-tokens must be at least 1");
    }
    if let Some(p) = &args.output {
        report::format_for(p)?;
    }
    let result = execute(&args).await?;
    println!("{}", console::run_summary(&result));
    if let Some(p) = &args.output {
        report::write(p, &result)?;
        if !args.quiet {
            eprintln!("result written to {}", p.display());
        }
    }
    let measured: Vec<&RequestRecord> = result.requests.iter().filter(|r| !r.warmup).collect();
    if !measured.is_empty()
        && measured.iter().all(|r| {
            r.error
                .as_ref()
                .is_some_and(|e| e.kind == FailureKind::Connect)
        })
    {
        eprintln!(
            "error: cannot connect to {}: every request failed to connect",
            result.target.url
        );
        return Ok(ExitCode::from(2));
    }
    if result.interrupted {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Run the benchmark and return its result (used by the command and by tests).
pub async fn execute(args: &RunArgs) -> anyhow::Result<BenchResult> {
    let target = target::resolve(&args.target, args.stream, args.concurrency).await?;
    let quiet = args.quiet;
    if !quiet {
        eprintln!(
            "llmbench run: {} requests (+{} warmup), concurrency {}, max_tokens {}, {} prompts, {}",
            args.runs,
            args.warmup,
            args.concurrency,
            args.max_tokens,
            format!("{:?}", args.prompt).to_lowercase(),
            if args.stream {
                "streaming"
            } else {
                "not streaming"
            },
        );
        eprintln!(
            "target: {} (model {})",
            target.describe(),
            target.info.model
        );
    }
    let workload = BuiltinWorkload {
        size: args.prompt,
        nonce: (!args.warm_cache).then(run_nonce),
        opts: BodyOptions {
            api: args.target.api,
            model: target.info.model.clone(),
            max_tokens: args.max_tokens,
            stream: args.stream,
            temperature: args.temperature,
            ignore_eos: args.ignore_eos,
            include_usage: !args.target.no_include_usage,
        },
    };
    let config = json!({
        "runs": args.runs,
        "warmup": args.warmup,
        "max_tokens": args.max_tokens,
        "prompt": args.prompt,
        "stream": args.stream,
        "concurrency": args.concurrency,
        "temperature": args.temperature,
        "ignore_eos": args.ignore_eos,
        "warm_cache": args.warm_cache,
        "prompt_prefix_nonce": workload.nonce,
        "include_usage": !args.target.no_include_usage,
        "timeout_s": args.target.timeout.as_secs_f64(),
        "api": args.target.api,
    });

    let cancel = ctrl_c_token(quiet);
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let clock = Clock::start();
    let mut records = Vec::new();
    let w = workload.clone();
    if args.warmup > 0 {
        let phase = ClosedLoop {
            first_id: 0,
            count: args.warmup,
            concurrency: args.concurrency,
            warmup: true,
        };
        let recs = closed_loop(
            phase,
            &target.client,
            clock,
            &cancel,
            move |i| w.body(i),
            |_| {},
        )
        .await;
        if !quiet {
            let failed = recs.iter().filter(|r| !r.is_ok()).count();
            eprintln!("warmup: {} requests, {failed} failed", recs.len());
        }
        records.extend(recs);
    }
    let phase = ClosedLoop {
        first_id: args.warmup,
        count: args.runs,
        concurrency: args.concurrency,
        warmup: false,
    };
    let mut done = 0u64;
    let mut last_print = Instant::now();
    let total = args.runs;
    let w = workload.clone();
    let recs = closed_loop(
        phase,
        &target.client,
        clock,
        &cancel,
        move |i| w.body(i),
        |r| {
            done += 1;
            if quiet || (total > 20 && done < total && last_print.elapsed().as_secs_f64() < 2.0) {
                return;
            }
            last_print = Instant::now();
            match &r.error {
                None => eprintln!(
                    "[{done}/{total}] {} tokens in {:.2}s ({:.1} tok/s){}",
                    r.output_tokens.unwrap_or(0),
                    r.e2e_ms() / 1e3,
                    r.output_tok_s().unwrap_or(0.0),
                    r.ttft_ms()
                        .map(|t| format!(", TTFT {t:.1} ms"))
                        .unwrap_or_default()
                ),
                Some(f) => eprintln!("[{done}/{total}] failed: {}: {}", f.kind.name(), f.detail),
            }
        },
    )
    .await;
    records.extend(recs);

    let summary = Summary::from_records(&records);
    let result = BenchResult {
        schema: SCHEMA.to_string(),
        tool: Tool::default(),
        command: "run".to_string(),
        started_at,
        interrupted: cancel.is_cancelled(),
        config,
        target: target.info.clone(),
        summary,
        requests: records,
    };
    target.shutdown().await;
    Ok(result)
}
