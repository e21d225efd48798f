//! `llmbench merge SHARD.json... --output RESULT.json`: one result from the shards of one plan.
//! Checks that every file belongs to the same plan and that each shard index appears exactly
//! once; then recomputes every figure from the union of the records (never an average of
//! percentiles). Reads results (.json) and record files (.jsonl).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use serde_json::json;

use crate::cli::MergeArgs;
use crate::metrics::targets;
use crate::metrics::timeseries::per_second;
use crate::metrics::Summary;
use crate::report::{self, console, BenchResult, Level};
use crate::shard::ShardInfo;

/// Merge shard results (already read) into one.
pub fn merge(parts: Vec<(PathBuf, BenchResult)>) -> anyhow::Result<(BenchResult, Vec<String>)> {
    if parts.is_empty() {
        bail!("no shard files given");
    }
    let mut infos: Vec<(PathBuf, ShardInfo)> = Vec::new();
    for (p, r) in &parts {
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
    for (p, r) in &parts {
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
    let base = &parts[0].1;
    let levels: Vec<Level> = base
        .levels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let recs: Vec<_> = records
                .iter()
                .filter(|r| r.level == Some(i as u32))
                .cloned()
                .collect();
            Level {
                summary: Summary::from_records(&recs),
                ..l.clone()
            }
        })
        .collect();
    let mut config = base.config.clone();
    config["merged_shards"] = json!(infos
        .iter()
        .map(|(p, s)| json!({"file": p.display().to_string(), "shard": s}))
        .collect::<Vec<_>>());
    let result = BenchResult {
        schema: report::SCHEMA.to_string(),
        tool: report::Tool::default(),
        command: base.command.clone(),
        started_at: parts
            .iter()
            .map(|(_, r)| r.started_at.clone())
            .min()
            .unwrap_or_default(),
        interrupted: parts.iter().any(|(_, r)| r.interrupted),
        config,
        target: base.target.clone(),
        summary: Summary::from_records(&records),
        targets: Vec::new(),
        levels,
        timeseries: per_second(&records),
        monitor: None,
        stress: None,
        comparison: None,
        shard: None,
        requests: records,
        live_outputs: Vec::new(),
    };
    Ok((result, warnings))
}

pub async fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    for p in &args.output {
        report::format_for(p)?;
    }
    let requirements = targets::parse_all(&args.targets)?;
    let mut parts = Vec::new();
    for p in &args.shards {
        parts.push((p.clone(), report::read(p)?));
    }
    let (mut result, warnings) = merge(parts)?;
    result.targets = requirements
        .iter()
        .map(|r| r.evaluate(&result.summary.facts()))
        .collect();
    for w in &warnings {
        eprintln!("merge: {w}");
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
    print!(
        "{}",
        console::distribution_table(
            "Latency (ms)",
            &[
                ("TTFT", s.ttft_ms.as_ref()),
                ("ITL", s.itl_ms.as_ref()),
                ("E2E", s.e2e_ms.as_ref()),
                ("Send lag", s.send_lag_ms.as_ref())
            ]
        )
    );
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
