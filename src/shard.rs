//! Scale-out: one plan, many client processes. A shard keeps its part of the single-process
//! plan (every N-th arrival, request and closed-loop user), starts at a shared wall-clock
//! instant, and tags its result with the plan's identity, so that `merge` can check the parts
//! and rebuild exactly what one client would have measured.

use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which part of the plan this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
    pub source: &'static str,
}

/// What a shard's result says about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
    /// `--shard`, or the environment variable the index came from.
    pub source: String,
    /// Hash of everything that defines the plan (not the shard index).
    pub plan_id: String,
    /// The agreed start (`--start-at`), UTC RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// How late this shard really started measuring, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_lag_ms: Option<f64>,
}

fn parse_pair(s: &str, what: &str) -> anyhow::Result<(u32, u32)> {
    let (i, n) = s
        .split_once('/')
        .with_context(|| format!("{what} {s:?}: expected INDEX/COUNT, e.g. 0/4"))?;
    let i: u32 = i
        .trim()
        .parse()
        .with_context(|| format!("{what} {s:?}: index is not a number"))?;
    let n: u32 = n
        .trim()
        .parse()
        .with_context(|| format!("{what} {s:?}: count is not a number"))?;
    if n == 0 || i >= n {
        bail!("{what} {s:?}: need 0 <= index < count");
    }
    Ok((i, n))
}

fn env_u32(name: &str) -> anyhow::Result<Option<u32>> {
    match std::env::var(name) {
        Ok(v) => {
            Ok(Some(v.trim().parse().with_context(|| {
                format!("${name}={v:?} is not a number")
            })?))
        }
        Err(_) => Ok(None),
    }
}

impl Shard {
    /// From `--shard i/N`, else the engine's environment; None when neither says anything.
    pub fn resolve(flag: Option<&str>) -> anyhow::Result<Option<Shard>> {
        if let Some(f) = flag {
            let (index, count) = parse_pair(f, "--shard")?;
            return Ok(Some(Shard {
                index,
                count,
                source: "--shard",
            }));
        }
        let candidates: [(&'static str, &str, &str); 4] = [
            ("LLMBENCH_SHARD", "LLMBENCH_SHARD", "LLMBENCH_SHARDS"),
            (
                "JOB_COMPLETION_INDEX",
                "JOB_COMPLETION_INDEX",
                "LLMBENCH_SHARDS",
            ),
            (
                "SLURM_ARRAY_TASK_ID",
                "SLURM_ARRAY_TASK_ID",
                "SLURM_ARRAY_TASK_COUNT",
            ),
            ("SLURM_PROCID", "SLURM_PROCID", "SLURM_NTASKS"),
        ];
        for (source, index_var, count_var) in candidates {
            let Some(index) = env_u32(index_var)? else {
                continue;
            };
            let count = env_u32(count_var)?.with_context(|| {
                format!("${index_var} is set but ${count_var} (the shard count) is not")
            })?;
            if count == 0 || index >= count {
                bail!("${index_var}={index} and ${count_var}={count}: need 0 <= index < count");
            }
            return Ok(Some(Shard {
                index,
                count,
                source,
            }));
        }
        Ok(None)
    }

    /// Item `idx` of the plan (an arrival, a request) belongs to this shard.
    pub fn owns(&self, idx: u64) -> bool {
        idx % self.count as u64 == self.index as u64
    }

    /// Closed-loop users of `total` that are this shard's (users w with w mod N = index);
    /// at least one, so that the shard's requests are sent.
    pub fn users(&self, total: usize) -> usize {
        let n = self.count as usize;
        let i = self.index as usize;
        (total / n + usize::from(i < total % n)).max(1)
    }
}

/// `2026-11-29T22:00:00Z` or `+10s` (from now) → a UTC instant.
pub fn parse_start_at(s: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Some(rel) = s.strip_prefix('+') {
        let d = crate::units::parse_duration(rel).map_err(|e| anyhow::anyhow!("--start-at {e}"))?;
        return Ok(chrono::Utc::now() + chrono::Duration::from_std(d)?);
    }
    let t = chrono::DateTime::parse_from_rfc3339(s).with_context(|| {
        format!(
            "--start-at {s:?}: not RFC 3339 (e.g. 2026-11-29T22:00:00Z) nor +DURATION (e.g. +10s)"
        )
    })?;
    Ok(t.with_timezone(&chrono::Utc))
}

/// Wait for `at`; returns how late we are after waking (zero if on time).
pub async fn wait_until(at: chrono::DateTime<chrono::Utc>) -> Duration {
    let now = chrono::Utc::now();
    if at > now {
        if let Ok(d) = (at - now).to_std() {
            tokio::time::sleep(d).await;
        }
    }
    (chrono::Utc::now() - at).to_std().unwrap_or_default()
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// The plan's identity: a hash of the command, the target and the config, without what differs
/// between shards (the hash of the requests each one sent).
pub fn plan_id(command: &str, target: &Value, config: &Value, count: u32) -> String {
    let mut c = config.clone();
    if let Some(d) = c.get_mut("dataset").and_then(Value::as_object_mut) {
        d.remove("requests_hash");
        d.remove("requests");
    }
    let key = serde_json::json!({
        "command": command,
        "url": target["url"], "model": target["model"], "api": target["api"],
        "config": c,
        "shards": count,
    });
    format!("plan:{:016x}", fnv(&key.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_items_and_users_exactly() {
        for n in 1..6u32 {
            let shards: Vec<Shard> = (0..n)
                .map(|index| Shard {
                    index,
                    count: n,
                    source: "t",
                })
                .collect();
            for idx in 0..1000u64 {
                assert_eq!(shards.iter().filter(|s| s.owns(idx)).count(), 1);
            }
            for total in n as usize..40 {
                assert_eq!(
                    shards.iter().map(|s| s.users(total)).sum::<usize>(),
                    total,
                    "n={n} total={total}"
                );
            }
        }
    }

    #[test]
    fn flag_and_bad_values() {
        let s = Shard::resolve(Some("2/4")).unwrap().unwrap();
        assert_eq!((s.index, s.count, s.source), (2, 4, "--shard"));
        assert!(Shard::resolve(Some("4/4")).is_err());
        assert!(Shard::resolve(Some("x")).is_err());
    }

    #[test]
    fn start_at_accepts_rfc3339_and_relative() {
        let t = parse_start_at("2026-11-29T22:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-29T22:00:00+00:00");
        let rel = parse_start_at("+10s").unwrap();
        let d = (rel - chrono::Utc::now()).num_milliseconds();
        assert!((9_000..=10_000).contains(&d), "{d}");
        assert!(parse_start_at("tomorrow").is_err());
    }

    #[test]
    fn plan_identity_ignores_what_differs_between_shards() {
        let t = serde_json::json!({"url": "u", "model": "m", "api": "chat"});
        let a = serde_json::json!({"rate": 5, "dataset": {"name": "random", "requests_hash": "x", "requests": 3}});
        let b = serde_json::json!({"rate": 5, "dataset": {"name": "random", "requests_hash": "y", "requests": 4}});
        let c = serde_json::json!({"rate": 6, "dataset": {"name": "random"}});
        assert_eq!(
            plan_id("throughput", &t, &a, 4),
            plan_id("throughput", &t, &b, 4)
        );
        assert_ne!(
            plan_id("throughput", &t, &a, 4),
            plan_id("throughput", &t, &c, 4)
        );
        assert_ne!(
            plan_id("throughput", &t, &a, 4),
            plan_id("throughput", &t, &a, 2)
        );
    }
}
