//! The plan of `throughput`: open-loop arrivals at one rate (or one level per rate: a load
//! curve), after a warmup.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use serde::Serialize;

use super::{
    above_zero, at_most, common, Command, Plan, Requests, MAX_CONCURRENCY, MAX_COUNT, MAX_RATE,
};
use crate::cli::ThroughputArgs;
use crate::scheduler::{Arrival, OpenLoop, Warmup};

/// `throughput`: open-loop arrivals at `rate` for `duration` after the warmup.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputPlan {
    /// The first (or only) rate; `inf`: every request at once.
    #[serde(serialize_with = "rate_text")]
    pub rate: f64,
    /// Several rates: one level each (a load curve).
    #[serde(skip_serializing_if = "one_rate", serialize_with = "rates_text")]
    pub rates: Vec<f64>,
    pub arrival: Arrival,
    pub burstiness: f64,
    pub duration_s: f64,
    /// `"30s"` or a request count.
    #[serde(serialize_with = "warmup_text")]
    pub warmup: Warmup,
    pub max_concurrency: Option<usize>,
    pub max_requests: Option<u64>,
    pub drain_timeout_s: f64,
    pub keep_records: usize,
    #[serde(flatten)]
    pub ab: super::AbPlan,
    #[serde(skip)]
    pub open_loop: OpenLoop,
}

fn one_rate(r: &[f64]) -> bool {
    r.len() <= 1
}

/// A rate for the config: a number, or `"inf"` (JSON has no infinity).
fn rate_value(r: f64) -> serde_json::Value {
    if r.is_finite() {
        serde_json::json!(r)
    } else {
        serde_json::json!("inf")
    }
}

fn rate_text<S: serde::Serializer>(r: &f64, s: S) -> Result<S::Ok, S::Error> {
    rate_value(*r).serialize(s)
}

fn rates_text<S: serde::Serializer>(r: &[f64], s: S) -> Result<S::Ok, S::Error> {
    r.iter()
        .map(|r| rate_value(*r))
        .collect::<Vec<_>>()
        .serialize(s)
}

fn warmup_text<S: serde::Serializer>(w: &Warmup, s: S) -> Result<S::Ok, S::Error> {
    match w {
        Warmup::Duration(d) => s.serialize_str(&format!("{}s", d.as_secs_f64())),
        Warmup::Count(n) => s.serialize_u64(*n),
    }
}

impl ThroughputPlan {
    pub fn from_args(a: &ThroughputArgs) -> anyhow::Result<Plan<ThroughputPlan>> {
        let (rate, warmup) = check_rates(a)?;
        let stream = !a.no_stream && a.target.api.generates();
        let fastest = a.rate.iter().copied().fold(0.0, f64::max);
        let pool = a
            .max_concurrency
            .or(a
                .max_requests
                .filter(|_| fastest.is_infinite())
                .map(|m| m as usize))
            .unwrap_or_else(|| match a.request.trace {
                Some(_) => 64,
                None => (fastest * 4.0).clamp(16.0, 4096.0) as usize,
            })
            .min(MAX_CONCURRENCY);
        let common = common(
            Command::Throughput,
            &a.target,
            &a.monitor,
            &a.out,
            Some(&a.request),
            stream,
            pool,
        )?;
        let requests = Requests::load(&a.request, &common.target, a.max_tokens, stream)?;
        // A trace sets the arrivals: its offsets, its span, its mean rate.
        let offsets = requests.workload.trace_offsets().map(Arc::new);
        let (rate, rates, duration) = match &offsets {
            Some(o) => {
                let span = o.last().copied().unwrap_or(0.0);
                let mean = if span > 0.0 {
                    (o.len() - 1) as f64 / span
                } else {
                    f64::INFINITY
                };
                (mean, vec![mean], Duration::from_secs_f64(span + 1e-3))
            }
            None => (rate, a.rate.clone(), a.duration),
        };
        let open_loop = OpenLoop {
            rate,
            arrival: a.arrival,
            burstiness: a.burstiness,
            seed: requests.seed,
            max_concurrency: a.max_concurrency,
            duration,
            warmup,
            max_requests: a.max_requests,
            start_s: 0.0,
            first_id: 0,
            level: None,
            shard: common.output.shard,
            drain: Some(a.drain_timeout),
            offsets,
        };
        Ok(Plan {
            common,
            requests,
            kind: ThroughputPlan {
                rate,
                rates,
                arrival: a.arrival,
                burstiness: a.burstiness,
                duration_s: duration.as_secs_f64(),
                warmup,
                max_concurrency: a.max_concurrency,
                max_requests: a.max_requests,
                drain_timeout_s: a.drain_timeout.as_secs_f64(),
                keep_records: a.keep_records,
                ab: super::AbPlan::from_args(&a.ab)?,
                open_loop,
            },
        })
    }

    /// One level per rate and arm (a load curve, or an A/B), rather than one run.
    pub fn levels(&self) -> bool {
        self.rates.len() > 1 || self.ab.on()
    }

    /// Seconds of warmup before the measured duration.
    pub fn warmup_s(&self) -> f64 {
        match self.warmup {
            Warmup::Duration(d) => d.as_secs_f64(),
            Warmup::Count(n) => n as f64 / self.rate,
        }
    }
}

/// The rates and the warmup, checked: each rate positive and bounded (or `inf`, with a count),
/// and no plan beyond what a benchmark can run.
fn check_rates(a: &ThroughputArgs) -> anyhow::Result<(f64, Warmup)> {
    let rate = a.rate.first().copied().unwrap_or(0.0);
    above_zero("--time-scale", a.request.time_scale, "2")?;
    for &r in &a.rate {
        if r == f64::INFINITY {
            if a.max_requests.is_none() {
                bail!(
                    "--rate inf sends every request at once: give their number with --max-requests"
                );
            }
            continue;
        }
        above_zero("--rate", r, "20")?;
        at_most("--rate", r, MAX_RATE)?;
    }
    if let Some(c) = a.max_concurrency {
        at_most("--max-concurrency", c as f64, MAX_CONCURRENCY as f64)?;
    }
    if a.duration.is_zero() {
        bail!("--duration must be longer than 0 (e.g. --duration 60s)");
    }
    if a.max_concurrency == Some(0) {
        bail!("--max-concurrency must be at least 1");
    }
    above_zero("--burstiness", a.burstiness, "0.5")?;
    let warmup = Warmup::parse(&a.warmup).map_err(|e| anyhow::anyhow!("--warmup {e}"))?;
    if a.rate.iter().any(|r| r.is_infinite())
        && matches!(warmup, Warmup::Duration(d) if !d.is_zero())
    {
        bail!("--rate inf sends every request at once: --warmup takes a request count");
    }
    for &r in &a.rate {
        let warm_s = match warmup {
            Warmup::Duration(d) => d.as_secs_f64(),
            Warmup::Count(n) => n as f64 / r,
        };
        let arrivals = r * (a.duration.as_secs_f64() + warm_s);
        if arrivals > MAX_COUNT as f64 && a.max_requests.is_none_or(|m| m > MAX_COUNT) {
            bail!(
                    "--rate {r} for {:.0} s is {arrivals:.0} arrivals, beyond what a benchmark can run (at most {MAX_COUNT}); lower --rate or --duration, or set --max-requests",
                    a.duration.as_secs_f64() + warm_s
                );
        }
    }
    Ok((rate, warmup))
}
