//! Results and their writers. A command produces one [`BenchResult`]; writers turn it into
//! bytes (console text, JSON). Writers compute nothing: every figure comes from the summary.

pub mod console;
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

#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    pub requests: Vec<RequestRecord>,
}

impl BenchResult {
    /// True when every target passed (or none was given).
    pub fn targets_passed(&self) -> bool {
        self.targets.iter().all(|t| t.passed)
    }
}

/// One level of a sweep or stress ramp, or one tier of a suite.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// Output formats known by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
}

/// Check an `--output` path before the run starts.
pub fn format_for(path: &Path) -> anyhow::Result<Format> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => Ok(Format::Json),
        other => bail!(
            "--output {}: unsupported extension {:?}; use .json",
            path.display(),
            other.unwrap_or("")
        ),
    }
}

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
    }
    Ok(())
}

pub fn read(path: &Path) -> anyhow::Result<BenchResult> {
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
