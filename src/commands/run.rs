//! `llmbench run`: the seed's fixed benchmark. Warmup requests, then `--runs` measured requests
//! at `--concurrency` (closed loop), over the built-in prompts; the seed's summary and, when
//! streaming, the latency table.

use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;

use crate::cli::{MonitorArgs, RunArgs};
use crate::report::{console, BenchResult};
use crate::scheduler::{closed_loop, ClosedLoop};

use super::session::{conclude, positive, validate_output, Session};

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let result = execute(&args).await?;
    conclude(&result, console::run_summary(&result), &args.out)
}

/// Run the benchmark and return its result (used by the command and by tests).
pub async fn execute(args: &RunArgs) -> anyhow::Result<BenchResult> {
    positive("--runs", args.runs)?;
    positive("--concurrency", args.concurrency as u64)?;
    positive("--max-tokens", args.max_tokens as u64)?;
    let requirements = validate_output(&args.out)?;
    let quiet = args.out.quiet;
    // Local inputs (dataset file, tokenizer) are loaded before any connection.
    let prepared =
        super::session::prepare(&args.request, &args.target, args.max_tokens, args.stream)?;
    let mut s = Session::open(
        &args.target,
        &MonitorArgs::default(),
        args.stream,
        args.concurrency,
        quiet,
    )
    .await?
    .with_sink(&args.out, "run")?;
    if !quiet {
        eprintln!(
            "llmbench run: {} requests (+{} warmup), concurrency {}, max_tokens {}, {} prompts, {}",
            args.runs,
            args.warmup,
            args.concurrency,
            args.max_tokens,
            format!("{:?}", args.request.prompt).to_lowercase(),
            if args.stream {
                "streaming"
            } else {
                "not streaming"
            },
        );
    }
    let workload = s.bind(prepared, &args.request)?;
    let mut config = json!({
        "runs": args.runs,
        "warmup": args.warmup,
        "max_tokens": args.max_tokens,
        "prompt": args.request.prompt,
        "stream": args.stream,
        "concurrency": args.concurrency,
        "temperature": args.request.temperature,
        "ignore_eos": args.request.ignore_eos,
        "warm_cache": args.request.warm_cache,
        "prompt_prefix_nonce": workload.nonce,
        "include_usage": !args.target.no_include_usage,
        "timeout_s": args.target.timeout.as_secs_f64(),
        "api": args.target.api,
    });

    s.begin(&config).await?;
    let mut records = Vec::new();
    if args.warmup > 0 {
        let phase = ClosedLoop {
            first_id: 0,
            count: args.warmup,
            concurrency: args.concurrency,
            warmup: true,
            level: None,
            shard: s.shard,
        };
        let recs = s.run_closed(phase, &workload).await;
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
        level: None,
        shard: s.shard,
    };
    let mut done = 0u64;
    let mut last_print = Instant::now();
    let total = args.runs;
    let w = workload.clone();
    let recs = closed_loop(
        phase,
        &s.target.client,
        s.clock,
        &s.stop,
        &s.live,
        move |i| w.body(i),
        |r| {
            s.record(r);
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
    super::session::annotate(&mut config, &workload, &records);
    Ok(s.finish("run", config, records, &requirements, Vec::new())
        .await)
}
