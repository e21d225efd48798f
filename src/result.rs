//! The result of a command: [`BenchResult`] (the `.json` file), its levels, the header of a
//! `.jsonl` record file, and reading both back. [`BenchResult::build`] is the one place a
//! result is assembled; every figure in it is computed from the records there.

use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::metrics::accumulate::{Keeper, KEEP_RECORDS};
use crate::metrics::targets::TargetOutcome;
use crate::metrics::timeseries::Second;
use crate::metrics::Summary;
use crate::monitor::MonitorReport;
use crate::protocol::Api;
use crate::record::RequestRecord;
use crate::shard::ShardInfo;
use crate::target::TargetInfo;
use crate::verdict::compare::Comparison;
use crate::verdict::stress::StressReport;
use crate::verdict::ttft::Intervals;

pub const SCHEMA: &str = "llmbench.result.v1";
/// Schema of the header line of a `.jsonl` record file.
pub const RECORDS_SCHEMA: &str = "llmbench.records.v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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

/// What identifies a run: written first in a `.jsonl` file, and the head of every result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    #[serde(default)]
    pub command: String,
    /// UTC, RFC 3339.
    #[serde(default)]
    pub started_at: String,
    #[serde(default)]
    pub tool: Tool,
    #[serde(default)]
    pub target: TargetInfo,
    /// The serialised plan of the command (no secrets).
    #[serde(default)]
    pub config: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
}

/// The `.jsonl` header line: the header and the records schema.
#[derive(Serialize, Deserialize)]
struct HeaderLine {
    schema: String,
    #[serde(flatten)]
    header: Header,
}

impl Header {
    /// The header line of a `.jsonl` file (one JSON object, no newline).
    pub fn to_line(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string(&HeaderLine {
            schema: RECORDS_SCHEMA.into(),
            header: self.clone(),
        })?)
    }

    pub fn from_line(line: &str, what: &str) -> anyhow::Result<Header> {
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{what}:1: not a JSON header line"))?;
        if v["schema"] != RECORDS_SCHEMA {
            bail!(
                "{what}:1: schema {}, expected {RECORDS_SCHEMA:?}",
                v["schema"]
            );
        }
        let h: HeaderLine = serde_json::from_value(v)
            .with_context(|| format!("{what}:1: not an llmbench records header"))?;
        Ok(h.header)
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
    /// The serialised plan of the command (no secrets).
    pub config: serde_json::Value,
    pub target: TargetInfo,
    /// Every measured record of the result (all arms, levels and tiers).
    pub summary: Summary,
    /// Target checks (`--target`), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetOutcome>,
    /// Sweep levels, suite tiers, stress levels or A/B arms, each with its own summary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<Level>,
    /// Per-second series computed from the records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeseries: Vec<Second>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<MonitorReport>,
    /// The verdict of `stress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress: Option<StressReport>,
    /// The search of `capacity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<crate::verdict::capacity::CapacityReport>,
    /// The A/B comparison of `ttft`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// Bootstrap intervals of TTFT statistics (`ttft`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervals: Option<Intervals>,
    /// This result is one shard of a plan (`--shard`); `merge` joins the shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    /// Records counted in every figure but not kept in `requests` (a long run keeps its first
    /// `--keep-records`, and the first failure of each kind; the .jsonl output has them all).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub requests_omitted: u64,
    /// The client's self-check: its cost, its lateness, and whether it set the pace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<crate::selfcheck::ClientCheck>,
    /// `--fallback-url`: requests by endpoint, failovers, the time lost and the recovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<crate::metrics::failover::FailoverReport>,
    /// Multi-turn sessions: conversations, and TTFT and cached prompt tokens by turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<crate::metrics::sessions::SessionsReport>,
    pub requests: Vec<RequestRecord>,
    /// Outputs already written during the run (live JSONL); not serialized.
    #[serde(skip)]
    pub live_outputs: Vec<std::path::PathBuf>,
}

/// The settings of one level, tier or arm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LevelParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<u64>,
    /// Target arrival rate, req/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The A/B arm: `baseline` or `treatment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    /// The shell command run before the arm (`--baseline-cmd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
}

/// One level of a sweep or stress ramp, one tier of a suite, or one arm of an A/B.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Level {
    pub name: String,
    pub params: LevelParams,
    pub summary: Summary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetInfo>,
    /// Why the level could not run, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Level {
    /// A level of the records tagged `index` (records carry their level).
    pub fn of(index: u32, name: String, params: LevelParams, records: &[RequestRecord]) -> Level {
        let mine: Vec<RequestRecord> = records
            .iter()
            .filter(|r| r.level == Some(index))
            .cloned()
            .collect();
        Level {
            name,
            params,
            summary: Summary::from_records(&mine),
            target: None,
            error: None,
        }
    }

    /// A level that could not run, and why.
    pub fn not_run(name: String, params: LevelParams, error: String) -> Level {
        Level {
            error: Some(error),
            ..Level::of(0, name, params, &[])
        }
    }
}

impl BenchResult {
    /// The one construction site of a result: the summary and the series from the records.
    pub fn build(head: Header, requests: Vec<RequestRecord>, levels: Vec<Level>) -> BenchResult {
        let mut acc = crate::metrics::accumulate::Accumulator::default();
        requests.iter().for_each(|r| acc.push(r));
        BenchResult::build_from(head, acc, requests, levels)
    }

    /// A result whose figures come from `acc` (every record of the run), keeping `requests`
    /// (all of them, or a long run's first ones).
    pub fn build_from(
        head: Header,
        acc: crate::metrics::accumulate::Accumulator,
        requests: Vec<RequestRecord>,
        levels: Vec<Level>,
    ) -> BenchResult {
        // `--goodput` and `--percentiles`, from the plan: of the whole and of each level.
        let extras = crate::metrics::Extras::of_config(&head.config);
        let mut acc = acc;
        acc.percentiles = extras.percentiles.clone();
        let done = acc.finish();
        let (mut summary, timeseries) = (done.summary, done.seconds);
        let mut levels = levels;
        let t = &head.target;
        let endpoints: Vec<String> = std::iter::once(t.url.clone())
            .chain(t.fallbacks.iter().chain(&t.replicas).cloned())
            .collect();
        let failover =
            crate::metrics::failover::report(&requests, &endpoints, !t.replicas.is_empty());
        if !extras.slos.is_empty() {
            use crate::metrics::goodput::of;
            summary.goodput = Some(of(&done.rows, &extras.slos, summary.throughput.window_s));
        }
        if !extras.is_empty() {
            for (i, l) in levels.iter_mut().enumerate() {
                let mine: Vec<RequestRecord> = requests
                    .iter()
                    .filter(|r| r.level == Some(i as u32))
                    .cloned()
                    .collect();
                if !mine.is_empty() {
                    l.summary = crate::metrics::Summary::from_records_with(&mine, &extras);
                }
            }
        }
        let planned_turns = head
            .config
            .pointer("/dataset/params/turns")
            .and_then(|t| t.as_u64());
        BenchResult {
            schema: SCHEMA.to_string(),
            tool: head.tool,
            command: head.command,
            started_at: head.started_at,
            interrupted: false,
            config: head.config,
            target: head.target,
            summary,
            targets: Vec::new(),
            levels,
            timeseries,
            monitor: None,
            stress: None,
            capacity: None,
            comparison: None,
            intervals: None,
            shard: head.shard,
            client: None,
            sessions: crate::metrics::sessions::report(&requests, planned_turns),
            failover,
            requests_omitted: 0,
            requests,
            live_outputs: Vec::new(),
        }
    }

    pub fn header(&self) -> Header {
        Header {
            command: self.command.clone(),
            started_at: self.started_at.clone(),
            tool: self.tool.clone(),
            target: self.target.clone(),
            config: self.config.clone(),
            shard: self.shard.clone(),
        }
    }

    /// Whether the result is an A/B by level (`sweep`, `throughput`), or `ttft`'s A/B.
    pub fn is_ab(&self) -> bool {
        self.levels.iter().any(|l| l.params.arm.is_some())
    }

    /// What targets judge: the summary, or in an A/B the treatment arm's requests over every
    /// level (pooling both arms would judge neither).
    pub fn judged_summary(&self) -> std::borrow::Cow<'_, Summary> {
        if !self.is_ab() {
            return std::borrow::Cow::Borrowed(&self.summary);
        }
        let treatment: Vec<RequestRecord> = self
            .requests
            .iter()
            .filter(|r| {
                r.level
                    .and_then(|l| self.levels.get(l as usize))
                    .is_some_and(|l| l.params.arm.as_deref() == Some(crate::arms::NAMES[1]))
            })
            .cloned()
            .collect();
        let extras = crate::metrics::Extras::of_config(&self.config);
        std::borrow::Cow::Owned(Summary::from_records_with(&treatment, &extras))
    }

    /// True when every target passed (or none was given).
    pub fn targets_passed(&self) -> bool {
        self.targets.iter().all(|t| t.passed)
    }

    /// Records of level `i` (all records when the result has no levels).
    pub fn level_records(&self, i: Option<u32>) -> impl Iterator<Item = &RequestRecord> {
        self.requests
            .iter()
            .filter(move |r| i.is_none() || r.level == i)
    }
}

/// Read a result: a `.json` result, or a `.jsonl` record file (every figure recomputed).
pub fn read(path: &Path) -> anyhow::Result<BenchResult> {
    if path.extension().and_then(|e| e.to_str()) == Some("jsonl") {
        // Bounded however long the run: every record into the figures, the first ones kept.
        let mut keeper = Keeper::new(KEEP_RECORDS);
        let mut kept = Vec::new();
        let (header, _) = crate::sink::read_each(path, |r| {
            if keeper.offer(&r) {
                kept.push(r);
            }
        })?;
        kept.sort_by_key(|r| r.id);
        let omitted = keeper.omitted;
        let mut result = BenchResult::build_from(header, keeper.acc, kept, Vec::new());
        result.requests_omitted = omitted;
        return Ok(result);
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the file", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    if v["schema"] != SCHEMA {
        bail!(
            "{}: schema {}, expected {SCHEMA:?} (is it an llmbench result?)",
            path.display(),
            v["schema"]
        );
    }
    serde_json::from_value(v).with_context(|| format!("{}: not an llmbench result", path.display()))
}

/// The JSON Schema of `llmbench.result.v1` files (committed as docs/result.schema.json).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(BenchResult);
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}
