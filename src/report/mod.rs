//! Results and their writers. A command produces one [`BenchResult`]; `views` lays its figures
//! out in one table model (`table`), which console text, Markdown and HTML render; JSON, JSONL
//! and CSV serialise it. Writers compute nothing: every figure comes from the result.

pub mod charts;
pub mod console;
pub mod csv;
pub mod curves;
pub mod html;
pub mod markdown;
pub mod progress;
pub mod sections;
pub mod table;
pub mod views;

use std::io::Write;
use std::path::{Path, PathBuf};

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

/// One file an export writes.
pub struct File {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// The exporter contract: a format renders a result to the bytes of its file(s); it computes
/// nothing (every figure comes from the result) and touches no disk. Each format is one module.
pub type Render = fn(&BenchResult) -> anyhow::Result<Vec<u8>>;

impl Format {
    /// The renderers of this format for `path`: one file, or for CSV the requests and the
    /// time series beside them.
    pub fn files(self, path: &Path) -> Vec<(PathBuf, Render)> {
        let at = |f: Render| vec![(path.to_path_buf(), f)];
        match self {
            Format::Json => at(|r| {
                let mut b = serde_json::to_vec_pretty(r)?;
                b.push(b'\n');
                Ok(b)
            }),
            Format::Jsonl => at(jsonl),
            Format::Markdown => at(|r| Ok(markdown::render(r).into_bytes())),
            Format::Html => at(|r| Ok(html::render(r)?.into_bytes())),
            Format::Csv => vec![
                (path.to_path_buf(), |r| Ok(csv::requests(r).into_bytes())),
                (timeseries_path(path), |r| {
                    Ok(csv::timeseries(r).into_bytes())
                }),
            ],
        }
    }
}

/// A record file: the header line, then one record per line (what `--output x.jsonl` streams).
fn jsonl(r: &BenchResult) -> anyhow::Result<Vec<u8>> {
    if r.requests_omitted > 0 {
        anyhow::bail!(
            "a .jsonl holds every record, but {} of this run's {} were not kept (--keep-records): write the .jsonl during the run (--output run.jsonl)",
            r.requests_omitted,
            r.requests.len() as u64 + r.requests_omitted
        );
    }
    let mut b = r.header().to_line()?.into_bytes();
    b.push(b'\n');
    for rec in &r.requests {
        serde_json::to_writer(&mut b, rec)?;
        b.push(b'\n');
    }
    Ok(b)
}

/// Render `result` in the format `path`'s extension names.
pub fn render(path: &Path, result: &BenchResult) -> anyhow::Result<Vec<File>> {
    format_for(path)?
        .files(path)
        .into_iter()
        .map(|(path, f)| {
            Ok(File {
                bytes: f(result)?,
                path,
            })
        })
        .collect()
}

/// Write `result` to `path` in the format its extension names. Each file is written whole
/// beside its destination, then renamed over it: a failed write never leaves half a report.
pub fn write(path: &Path, result: &BenchResult) -> anyhow::Result<()> {
    for f in render(path, result)? {
        write_atomic(&f.path, &f.bytes)?;
    }
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let tmp = path.with_file_name(format!(".{name}.llmbench-tmp"));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|_| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e)
            .with_context(|| format!("--output {}: cannot write the file", path.display()));
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
