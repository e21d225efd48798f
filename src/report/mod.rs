//! Results and their writers. A command produces one [`BenchResult`]; writers turn it into
//! bytes (console text, JSON). Writers compute nothing: every figure comes from the summary.

pub mod charts;
pub mod console;
pub mod csv;
pub mod html;
pub mod markdown;
pub mod progress;

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};

pub use crate::result::{json_schema, read, BenchResult, Level, Tool, SCHEMA};

/// Output formats, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    /// Records as they complete (written live during a run).
    Jsonl,
    Markdown,
    /// Requests; the time series goes beside it in `NAME.timeseries.csv`.
    Csv,
    Html,
}

/// Check an `--output` path before the run starts.
pub fn format_for(path: &Path) -> anyhow::Result<Format> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => Ok(Format::Json),
        Some("jsonl") => Ok(Format::Jsonl),
        Some("md") => Ok(Format::Markdown),
        Some("csv") => Ok(Format::Csv),
        Some("html" | "htm") => Ok(Format::Html),
        other => bail!(
            "--output {}: unsupported extension {:?}; use .json, .jsonl, .md, .csv or .html",
            path.display(),
            other.unwrap_or("")
        ),
    }
}

fn create(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes)
        .with_context(|| format!("--output {}: cannot write the file", path.display()))
}

/// Write `result` to `path` in the format its extension names.
pub fn write(path: &Path, result: &BenchResult) -> anyhow::Result<()> {
    match format_for(path)? {
        Format::Json => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("--output {}: cannot create the file", path.display()))?;
            let mut w = std::io::BufWriter::new(file);
            serde_json::to_writer_pretty(&mut w, result)?;
            w.write_all(b"\n")?;
            w.flush()
                .with_context(|| format!("--output {}: write failed", path.display()))?;
        }
        Format::Jsonl => {
            let sink = crate::sink::Sink::create(path, &result.header())?;
            for r in &result.requests {
                sink.write(r);
            }
        }
        Format::Markdown => create(path, markdown::render(result).as_bytes())?,
        Format::Html => create(path, html::render(result)?.as_bytes())?,
        Format::Csv => {
            create(path, csv::requests(result).as_bytes())?;
            create(&timeseries_path(path), csv::timeseries(result).as_bytes())?;
        }
    }
    Ok(())
}

/// `dir/run.csv` → `dir/run.timeseries.csv`.
pub fn timeseries_path(path: &Path) -> std::path::PathBuf {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("result");
    path.with_file_name(format!("{stem}.timeseries.csv"))
}
