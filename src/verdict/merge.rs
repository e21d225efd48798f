//! Merge the shards of one plan into one result. Checks that every part belongs to the same
//! plan and that each shard index appears exactly once; then recomputes every figure from the
//! union of the records (never an average of percentiles). Data in, data out.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::bail;
use serde::Serialize;

use crate::record::RequestRecord;
use crate::result::{BenchResult, Header, Level};
use crate::shard::ShardInfo;

/// One shard's file, read.
pub struct Part {
    pub path: PathBuf,
    pub result: BenchResult,
    /// A `.jsonl` whose last line was cut.
    pub truncated: bool,
}

/// What the merged result records about each shard file.
#[derive(Debug, Serialize)]
struct MergedShard {
    file: String,
    shard: Option<ShardInfo>,
    records: usize,
    truncated: bool,
}

/// Merge shard results (already read) into one; also return warnings for the console.
pub fn merge(parts: Vec<Part>) -> anyhow::Result<(BenchResult, Vec<String>)> {
    check_one_plan(&parts)?;
    let warnings = warnings(&parts);
    let records = union(&parts)?;
    let base = &parts[0].result;
    let levels: Vec<Level> = base
        .levels
        .iter()
        .enumerate()
        .map(|(i, l)| Level {
            target: l.target.clone(),
            error: l.error.clone(),
            ..Level::of(i as u32, l.name.clone(), l.params.clone(), &records)
        })
        .collect();
    let shards: Vec<MergedShard> = parts
        .iter()
        .map(|p| MergedShard {
            file: p.path.display().to_string(),
            shard: p.result.shard.clone(),
            records: p.result.requests.len(),
            truncated: p.truncated,
        })
        .collect();
    let mut config = base.config.clone();
    config["merged_shards"] = serde_json::to_value(shards)?;
    let head = Header {
        started_at: parts
            .iter()
            .map(|p| p.result.started_at.clone())
            .min()
            .unwrap_or_default(),
        config,
        shard: None,
        ..base.header()
    };
    let mut result = BenchResult::build(head, records, levels);
    result.interrupted = parts.iter().any(|p| p.result.interrupted);
    let clients: Vec<(String, &crate::selfcheck::ClientCheck)> = parts
        .iter()
        .filter_map(|p| {
            let index = p.result.shard.as_ref().map_or(0, |s| s.index);
            Some((format!("shard {index}"), p.result.client.as_ref()?))
        })
        .collect();
    result.client = crate::selfcheck::combine(&clients);
    Ok((result, warnings))
}

/// Every part is a shard of the same plan, and each shard index appears exactly once.
fn check_one_plan(parts: &[Part]) -> anyhow::Result<()> {
    if parts.is_empty() {
        bail!("no shard files given");
    }
    let mut infos: Vec<(&PathBuf, &ShardInfo)> = Vec::new();
    for p in parts {
        let Some(s) = &p.result.shard else {
            bail!(
                "{}: not a shard result (run with --shard i/N)",
                p.path.display()
            );
        };
        if p.result.requests_omitted > 0 {
            bail!(
                "{}: keeps {} of its {} records (--keep-records): merge the shards' .jsonl files, which hold every record",
                p.path.display(),
                p.result.requests.len(),
                p.result.requests.len() as u64 + p.result.requests_omitted
            );
        }
        infos.push((&p.path, s));
    }
    let (first_path, first) = infos[0];
    for (p, s) in &infos[1..] {
        if s.plan_id != first.plan_id || s.count != first.count {
            bail!(
                "{}: belongs to plan {} ({} shards), but {} belongs to plan {} ({} shards)",
                p.display(),
                s.plan_id,
                s.count,
                first_path.display(),
                first.plan_id,
                first.count
            );
        }
    }
    let mut by_index: BTreeMap<u32, &PathBuf> = BTreeMap::new();
    for (p, s) in &infos {
        if let Some(other) = by_index.insert(s.index, p) {
            bail!(
                "{}: shard {} is also in {}",
                p.display(),
                s.index,
                other.display()
            );
        }
    }
    let missing: Vec<u32> = (0..first.count)
        .filter(|i| !by_index.contains_key(i))
        .collect();
    if !missing.is_empty() {
        bail!(
            "shards {missing:?} of {} are missing (plan {})",
            first.count,
            first.plan_id
        );
    }
    Ok(())
}

/// The spread of the shards' start lags, cut files, and shards that started after their
/// first arrival was due.
fn warnings(parts: &[Part]) -> Vec<String> {
    let mut out = Vec::new();
    let lags: Vec<f64> = parts
        .iter()
        .filter_map(|p| p.result.shard.as_ref()?.start_lag_ms)
        .collect();
    if let (Some(lo), Some(hi)) = (
        lags.iter().copied().reduce(f64::min),
        lags.iter().copied().reduce(f64::max),
    ) {
        out.push(format!(
            "shard start lag: {lo:.1} to {hi:.1} ms (spread {:.1} ms)",
            hi - lo
        ));
    }
    for Part {
        path: p,
        result: r,
        truncated,
    } in parts
    {
        if *truncated {
            out.push(format!(
                "{}: the last line was cut (a killed shard?); {} complete records kept",
                p.display(),
                r.requests.len()
            ));
        }
        let lag_ns = r.shard.as_ref().and_then(|s| s.start_lag_ms).unwrap_or(0.0) * 1e6;
        if let Some(first_due) = r.requests.iter().filter_map(|q| q.scheduled_ns).min() {
            if lag_ns > first_due as f64 {
                out.push(format!(
                    "{}: started {:.1} ms late, after its first scheduled arrival ({:.1} ms): its first sends are late",
                    p.display(),
                    lag_ns / 1e6,
                    first_due as f64 / 1e6
                ));
            }
        }
    }
    out
}

/// The records of every part, in plan order; a request in two parts is an error.
fn union(parts: &[Part]) -> anyhow::Result<Vec<RequestRecord>> {
    let mut records: Vec<RequestRecord> = parts
        .iter()
        .flat_map(|p| p.result.requests.iter().cloned())
        .collect();
    records.sort_by_key(|r| r.id);
    if let Some(w) = records.windows(2).find(|w| w[0].id == w[1].id) {
        bail!(
            "request {} appears in two shards: not one plan's parts",
            w[0].id
        );
    }
    Ok(records)
}
