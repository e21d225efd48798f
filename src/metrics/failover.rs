//! Several endpoints: failover (`--fallback-url`) or replicas (several `--url`). Which endpoint
//! answered each request; for failover, how many requests failed over, the time lost before the
//! fallback was tried, TTFT by endpoint (from the first attempt's send: what the user waited),
//! and how long answers stopped when the primary failed.

use serde::{Deserialize, Serialize};

use super::Distribution;
use crate::record::RequestRecord;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FailoverReport {
    /// Replicas sharing the load (several `--url`), not a primary and its fallbacks.
    #[serde(default)]
    pub replicas: bool,
    /// Measured requests answered (or last tried) by each endpoint: the primary first.
    pub endpoints: Vec<EndpointStats>,
    /// Requests sent to at least one fallback.
    pub failed_over: u64,
    /// Of those, the ones a fallback answered.
    pub failed_over_ok: u64,
    /// First attempt's send to the answering fallback's send, ms.
    pub lost_ms: Option<Distribution>,
    /// From the first failover (when the primary's failure sent a request on) to the next
    /// first token of any request, ms: how long answers stopped.
    pub recovery_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EndpointStats {
    pub url: String,
    pub ok: u64,
    pub failed: u64,
    /// From the first attempt's send.
    pub ttft_ms: Option<Distribution>,
    /// Failed attempts here by kind (`http`, `connect`, `timeout`...): the requests that
    /// ended failed here, and for the primary the first attempts that failed over.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub failures: std::collections::BTreeMap<String, u64>,
}

/// The report of measured records that carry an endpoint; `urls`: the primary, then the
/// fallbacks or the other replicas. None with one endpoint.
pub fn report(
    records: &[RequestRecord],
    urls: &[String],
    replicas: bool,
) -> Option<FailoverReport> {
    let measured: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| !r.warmup && r.endpoint.is_some())
        .collect();
    if measured.is_empty() || urls.len() < 2 {
        return None;
    }
    let endpoints = urls
        .iter()
        .enumerate()
        .map(|(k, url)| {
            let mine: Vec<&&RequestRecord> = measured
                .iter()
                .filter(|r| r.endpoint == Some(k as u32))
                .collect();
            let ok: Vec<&&&RequestRecord> = mine.iter().filter(|r| r.is_ok()).collect();
            let mut failures = std::collections::BTreeMap::new();
            for f in mine.iter().filter_map(|r| r.error.as_ref()) {
                *failures.entry(f.kind.name().to_string()).or_insert(0) += 1;
            }
            if k == 0 && !replicas {
                for r in measured.iter().filter(|r| r.attempts.unwrap_or(1) > 1) {
                    let name = r.first_failure.map_or("unknown", |f| f.name());
                    *failures.entry(name.to_string()).or_insert(0) += 1;
                }
            }
            EndpointStats {
                failures,
                url: url.clone(),
                ok: ok.len() as u64,
                failed: (mine.len() - ok.len()) as u64,
                ttft_ms: Distribution::from_values(ok.iter().filter_map(|r| r.ttft_ms()).collect()),
            }
        })
        .collect();
    let over: Vec<&&RequestRecord> = measured
        .iter()
        .filter(|r| r.attempts.unwrap_or(1) > 1)
        .collect();
    let lost = over
        .iter()
        .filter_map(|r| Some((r.failover_sent_ns? - r.sent_ns) as f64 / 1e6))
        .collect();
    let first_failover = over.iter().filter_map(|r| r.failover_sent_ns).min();
    let recovery_ms = first_failover.and_then(|t| {
        measured
            .iter()
            .filter(|r| r.is_ok())
            .filter_map(|r| r.content_ns.first().copied())
            .filter(|&c| c >= t)
            .min()
            .map(|c| (c - t) as f64 / 1e6)
    });
    Some(FailoverReport {
        replicas,
        endpoints,
        failed_over: over.len() as u64,
        failed_over_ok: over.iter().filter(|r| r.is_ok()).count() as u64,
        lost_ms: Distribution::from_values(lost),
        recovery_ms,
    })
}
