//! Merge the shards of one plan into one result. Checks that every part belongs to the same
//! plan and that each shard index appears exactly once; then recomputes every figure from the
//! union of the records (never an average of percentiles). Data in, data out.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::bail;
use serde_json::json;

use crate::result::{BenchResult, Header, Level};
use crate::shard::ShardInfo;

/// One shard's file, read.
pub struct Part {
    pub path: PathBuf,
    pub result: BenchResult,
    /// A `.jsonl` whose last line was cut.
    pub truncated: bool,
}

/// Merge shard results (already read) into one.
pub fn merge(parts: Vec<Part>) -> anyhow::Result<(BenchResult, Vec<String>)> {
    if parts.is_empty() {
        bail!("no shard files given");
    }
    let mut infos: Vec<(PathBuf, ShardInfo)> = Vec::new();
    for Part {
        path: p, result: r, ..
    } in &parts
    {
        let Some(s) = &r.shard else {
            bail!("{}: not a shard result (run with --shard i/N)", p.display());
        };
        infos.push((p.clone(), s.clone()));
    }
    let (first_path, first) = &infos[0];
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

    let mut warnings = Vec::new();
    let lags: Vec<f64> = infos.iter().filter_map(|(_, s)| s.start_lag_ms).collect();
    if let (Some(lo), Some(hi)) = (
        lags.iter().copied().reduce(f64::min),
        lags.iter().copied().reduce(f64::max),
    ) {
        warnings.push(format!(
            "shard start lag: {lo:.1} to {hi:.1} ms (spread {:.1} ms)",
            hi - lo
        ));
    }
    let mut records = Vec::new();
    for Part {
        path: p,
        result: r,
        truncated,
    } in &parts
    {
        if *truncated {
            warnings.push(format!(
                "{}: the last line was cut (a killed shard?); {} complete records kept",
                p.display(),
                r.requests.len()
            ));
        }
        let lag_ns = r.shard.as_ref().and_then(|s| s.start_lag_ms).unwrap_or(0.0) * 1e6;
        if let Some(first_due) = r.requests.iter().filter_map(|q| q.scheduled_ns).min() {
            if lag_ns > first_due as f64 {
                warnings.push(format!(
                    "{}: started {:.1} ms late, after its first scheduled arrival ({:.1} ms): its first sends are late",
                    p.display(),
                    lag_ns / 1e6,
                    first_due as f64 / 1e6
                ));
            }
        }
        records.extend(r.requests.iter().cloned());
    }
    records.sort_by_key(|r| r.id);
    if let Some(w) = records.windows(2).find(|w| w[0].id == w[1].id) {
        bail!(
            "request {} appears in two shards: not one plan's parts",
            w[0].id
        );
    }
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
    let mut config = base.config.clone();
    config["merged_shards"] = json!(parts
        .iter()
        .map(|p| json!({
            "file": p.path.display().to_string(),
            "shard": p.result.shard,
            "records": p.result.requests.len(),
            "truncated": p.truncated,
        }))
        .collect::<Vec<_>>());
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
    Ok((result, warnings))
}
