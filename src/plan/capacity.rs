//! The plan of `capacity`: the SLOs, what is raised and between which bounds, and how long each
//! probe runs.

use anyhow::bail;
use serde::Serialize;

use super::{above_zero, at_most, common, Command, Plan, Requests, MAX_CONCURRENCY, MAX_RATE};
use crate::cli::CapacityArgs;
use crate::metrics::metric::Metric;
use crate::metrics::targets::{self, Target};
use crate::scheduler::Arrival;
use crate::verdict::capacity::{quantile_of, samples_needed, By};

#[derive(Debug, Clone, Serialize)]
pub struct CapacityPlan {
    pub by: By,
    pub slos: Vec<String>,
    #[serde(skip)]
    pub targets: Vec<Target>,
    pub arrival: Arrival,
    pub probe_duration_s: f64,
    /// The searched range: req/s (by rate) or users (by concurrency).
    pub min: f64,
    pub max: f64,
    pub precision: f64,
    pub max_probes: usize,
    /// Samples the highest percentile SLO needs for its 95 % interval.
    pub samples_needed: usize,
}

impl CapacityPlan {
    pub fn from_args(a: &CapacityArgs) -> anyhow::Result<Plan<CapacityPlan>> {
        let slos = targets::parse_all(&a.slos)
            .map_err(|e| anyhow::anyhow!("{}", e.to_string().replacen("--target", "--slo", 1)))?;
        let stream = !a.no_stream && a.target.api.generates();
        if let Some(t) = slos
            .iter()
            .find(|t| !stream && Metric::lookup(&t.metric).is_some_and(|m| m.needs_stream()))
        {
            bail!(
                "--slo {}: TTFT, ITL and TPOT are measured on streamed responses only: drop --no-stream",
                t.text
            );
        }
        if a.probe_duration.is_zero() || a.probe_duration.as_secs() > 3600 {
            bail!("--probe-duration must be above 0 and at most 1h (e.g. 20s)");
        }
        if !(a.precision > 0.0 && a.precision < 1.0) {
            bail!("--precision must be above 0 and below 100% (e.g. 5%)");
        }
        if a.max_probes == 0 || a.max_probes > 100 {
            bail!("--max-probes must be between 1 and 100");
        }
        let (min, max, pool) = match a.by {
            By::Rate => {
                above_zero("--min-rate", a.min_rate, "1")?;
                at_most("--max-rate", a.max_rate, MAX_RATE)?;
                let pool = (a.max_rate * 4.0).clamp(16.0, 4096.0) as usize;
                (a.min_rate, a.max_rate, pool)
            }
            By::Concurrency => {
                if a.min_concurrency == 0 {
                    bail!("--min-concurrency must be at least 1");
                }
                at_most(
                    "--max-concurrency",
                    a.max_concurrency as f64,
                    MAX_CONCURRENCY as f64,
                )?;
                (
                    a.min_concurrency as f64,
                    a.max_concurrency as f64,
                    a.max_concurrency,
                )
            }
        };
        if max < min {
            let flag = match a.by {
                By::Rate => "rate",
                By::Concurrency => "concurrency",
            };
            bail!("--max-{flag} ({max}) is below --min-{flag} ({min})");
        }
        let samples = slos
            .iter()
            .filter_map(quantile_of)
            .map(samples_needed)
            .max()
            .unwrap_or(1);
        let mut common = common(
            Command::Capacity,
            &a.target,
            &a.monitor,
            &a.out,
            Some(&a.request),
            stream,
            pool,
        )?;
        crate::metrics::goodput::check_asked(&slos, &common.output.goodput)
            .map_err(|e| anyhow::anyhow!("--slo {e}"))?;
        super::ask_percentiles(&mut common.output.percentiles, &slos);
        let requests = Requests::load(&a.request, &common.target, a.max_tokens, stream)?;
        Ok(Plan {
            common,
            requests,
            kind: CapacityPlan {
                by: a.by,
                slos: slos.iter().map(|t| t.text.clone()).collect(),
                targets: slos,
                arrival: a.arrival,
                probe_duration_s: a.probe_duration.as_secs_f64(),
                min,
                max,
                precision: a.precision,
                max_probes: a.max_probes,
                samples_needed: samples,
            },
        })
    }
}
