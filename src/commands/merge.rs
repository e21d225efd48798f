//! `llmbench merge SHARD.json... --output RESULT.json`: glue. Reads the shard files (.json
//! results or .jsonl record files), merges them ([`crate::verdict::merge`]), prints how many
//! records each shard held and the merged figures, writes the outputs.

use std::process::ExitCode;

use crate::cli::MergeArgs;
use crate::metrics::targets;
use crate::report::{self, console};
use crate::result::BenchResult;
use crate::verdict::merge::{merge, Part};

fn read_part(p: &std::path::Path) -> anyhow::Result<Part> {
    if p.extension().and_then(|e| e.to_str()) == Some("jsonl") {
        let f = crate::sink::read(p)?;
        return Ok(Part {
            path: p.to_path_buf(),
            truncated: f.truncated,
            result: BenchResult::build(f.header, f.records, Vec::new()),
        });
    }
    Ok(Part {
        path: p.to_path_buf(),
        result: report::read(p)?,
        truncated: false,
    })
}

pub async fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    for p in &args.output {
        report::format_for(p)?;
    }
    let requirements = targets::parse_all(&args.targets)?;
    let mut parts = Vec::new();
    for p in &args.shards {
        let part = read_part(p)?;
        eprintln!(
            "merge: {}: shard {}, {} records{}",
            p.display(),
            part.result
                .shard
                .as_ref()
                .map_or("?".to_string(), |s| format!("{}/{}", s.index, s.count)),
            part.result.requests.len(),
            if part.truncated { " (truncated)" } else { "" }
        );
        parts.push(part);
    }
    let (mut result, warnings) = merge(parts)?;
    result.targets = requirements
        .iter()
        .map(|r| r.evaluate(&result.summary, None))
        .collect();
    for w in &warnings {
        eprintln!("merge: warning: {w}");
    }
    let s = &result.summary;
    println!(
        "merged {} shards: {} requests ({} ok, {} failed), {:.1} output tok/s over {:.1} s",
        args.shards.len(),
        s.requests.total,
        s.requests.ok,
        s.requests.failed,
        s.throughput.output_tok_s,
        s.throughput.window_s
    );
    print!("{}", crate::report::views::latency(s).to_text(2));
    if !result.targets.is_empty() {
        print!("{}", console::targets_table(&result.targets));
    }
    for p in &args.output {
        report::write(p, &result)?;
        eprintln!("merged result written to {}", p.display());
    }
    Ok(if result.targets_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
