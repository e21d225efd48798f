//! `llmbench dataset`: write a dataset's requests to a JSONL file (the format `--dataset FILE`
//! reads back), to inspect or share a workload.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use crate::cli::DatasetArgs;
use crate::protocol::Api;
use crate::workload::{BodyOptions, Content, Workload};

use crate::plan::dataset_spec;

pub fn dataset(args: DatasetArgs) -> anyhow::Result<ExitCode> {
    let w = Workload::build(
        &dataset_spec(&args.request),
        BodyOptions {
            api: Api::Chat,
            model: String::new(),
            max_tokens: args.max_tokens,
            stream: false,
            temperature: None,
            ignore_eos: false,
            include_usage: false,
            options: Default::default(),
        },
    )?;
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("--out {}: cannot create the file", args.out.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for i in 0..args.num_prompts {
        let (content, max_tokens) = w.request(i);
        let line = match content {
            Content::Prompt(p) => json!({"prompt": p, "max_tokens": max_tokens}),
            Content::Messages(m) => json!({"messages": m, "max_tokens": max_tokens}),
        };
        writeln!(out, "{line}")?;
    }
    out.flush()
        .with_context(|| format!("--out {}: write failed", args.out.display()))?;
    let d = w.describe(0..args.num_prompts);
    eprintln!(
        "{} requests of dataset {} (seed {}, {}) written to {}",
        args.num_prompts,
        w.name(),
        w.seed,
        d["requests_hash"].as_str().unwrap_or(""),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
