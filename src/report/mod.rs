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
use serde::{Deserialize, Serialize};

use crate::metrics::targets::TargetOutcome;
use crate::metrics::timeseries::Second;
use crate::metrics::Summary;
use crate::monitor::MonitorReport;
use crate::record::RequestRecord;
use crate::target::TargetInfo;

pub const SCHEMA: &str = "llmbench.result.v1";

#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: env!("CARGO_PKG_NAME").to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// A command's whole result: enough to rerun it, every figure, and every record.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BenchResult {
    pub schema: String,
    pub tool: Tool,
    pub command: String,
    /// UTC, RFC 3339: when the run started.
    pub started_at: String,
    /// Stopped by the user before the plan completed.
    #[serde(default)]
    pub interrupted: bool,
    /// The resolved settings of the command (no secrets).
    pub config: serde_json::Value,
    pub target: TargetInfo,
    pub summary: Summary,
    /// Target checks (`--target`), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetOutcome>,
    /// Sweep levels, suite tiers or stress levels, each with its own summary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<Level>,
    /// Per-second series computed from the records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeseries: Vec<Second>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<MonitorReport>,
    /// The verdict of `stress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress: Option<crate::commands::stress::StressReport>,
    /// The A/B comparison of `ttft`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<crate::commands::compare::Comparison>,
    /// This result is one shard of a plan (`--shard`); `merge` joins the shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::shard::ShardInfo>,
    pub requests: Vec<RequestRecord>,
    /// Outputs already written during the run (live JSONL); not serialized.
    #[serde(skip)]
    pub live_outputs: Vec<std::path::PathBuf>,
}

impl BenchResult {
    /// True when every target passed (or none was given).
    pub fn targets_passed(&self) -> bool {
        self.targets.iter().all(|t| t.passed)
    }
}

/// One level of a sweep or stress ramp, or one tier of a suite.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Level {
    pub name: String,
    /// The level's settings (concurrency, rate, tier model...).
    pub params: serde_json::Value,
    pub summary: Summary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetInfo>,
    /// Why the level could not run, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

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

/// The header line of a JSONL file for this result.
pub fn jsonl_header(r: &BenchResult) -> serde_json::Value {
    serde_json::json!({
        "command": r.command, "started_at": r.started_at, "tool": r.tool, "config": r.config, "target": r.target,
    })
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
            let sink = crate::sink::Sink::create(path, jsonl_header(result))?;
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

/// Read a result: a `.json` result, or a `.jsonl` record file (the summary is recomputed).
pub fn read(path: &Path) -> anyhow::Result<BenchResult> {
    if path.extension().and_then(|e| e.to_str()) == Some("jsonl") {
        let (header, records) = crate::sink::read(path)?;
        return Ok(from_records(header, records));
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the file", path.display()))?;
    let r: BenchResult = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an llmbench result", path.display()))?;
    if r.schema != SCHEMA {
        bail!(
            "{}: schema {:?}, expected {SCHEMA:?}",
            path.display(),
            r.schema
        );
    }
    Ok(r)
}

/// Rebuild a result from a JSONL header and records: every figure recomputed from the records.
pub fn from_records(header: serde_json::Value, records: Vec<RequestRecord>) -> BenchResult {
    let target: TargetInfo =
        serde_json::from_value(header["target"].clone()).unwrap_or(TargetInfo {
            url: String::new(),
            api: crate::protocol::Api::Chat,
            model: String::new(),
            backend: String::new(),
            simulator: None,
            header_names: Vec::new(),
        });
    BenchResult {
        schema: SCHEMA.to_string(),
        tool: serde_json::from_value(header["tool"].clone()).unwrap_or_default(),
        command: header["command"].as_str().unwrap_or("run").to_string(),
        started_at: header["started_at"].as_str().unwrap_or("").to_string(),
        interrupted: false,
        config: header["config"].clone(),
        target,
        summary: Summary::from_records(&records),
        targets: Vec::new(),
        levels: Vec::new(),
        timeseries: crate::metrics::timeseries::per_second(&records),
        monitor: None,
        stress: None,
        comparison: None,
        shard: serde_json::from_value(header["shard"].clone()).ok(),
        requests: records,
        live_outputs: Vec::new(),
    }
}

/// The JSON Schema of `llmbench.result.v1` files (committed as docs/result.schema.json).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(BenchResult);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
