//! The metric registry: every figure a target, a check, a comparison or a report can name, with
//! its unit, the direction in which it gets better, and how to read it from a summary (and,
//! for distributions, from one record). Metric names are spelled here and nowhere else.
//!
//! Names: scalars (`req_s`, `error_rate`, ...) and distribution statistics
//! (`ttft.p95`, `itl.mean`, ...; `median` is `p50`, `avg` is `mean`).

use crate::metrics::{Distribution, Summary};
use crate::monitor::MonitorReport;
use crate::record::RequestRecord;

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
    /// Neither: judged only when asked for, and then a change either way counts.
    Neutral,
}

/// The unit of a metric's canonical value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Ms,
    TokPerS,
    ReqPerS,
    Count,
    /// 0..1 (`1%` means 0.01); tolerances on it are percentage points.
    Fraction,
    /// A percentage (`80%` means 80).
    Percent,
    Mb,
    MbPerMin,
    /// Embeddings inputs per second.
    InputsPerS,
}

impl Unit {
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Ms => " ms",
            Unit::TokPerS => " tok/s",
            Unit::ReqPerS => " req/s",
            Unit::Count => "",
            Unit::Fraction | Unit::Percent => "%",
            Unit::Mb => " MB",
            Unit::MbPerMin => " MB/min",
            Unit::InputsPerS => " inputs/s",
        }
    }
}

type ScalarFn = fn(&Summary, Option<&MonitorReport>) -> Option<f64>;

/// A single figure of a run.
pub struct Scalar {
    pub name: &'static str,
    pub unit: Unit,
    pub better: Better,
    pub get: ScalarFn,
}

/// A per-request distribution (`name.stat`).
pub struct Dist {
    pub name: &'static str,
    pub unit: Unit,
    pub better: Better,
    /// Label in tables.
    pub label: &'static str,
    pub summary: fn(&Summary) -> Option<&Distribution>,
    /// Values of one successful record (ITL has many; most have one or none).
    pub values: fn(&RequestRecord, &mut Vec<f64>),
    /// Values come from records that failed as well (send lag).
    pub includes_failed: bool,
}

fn one(v: &mut Vec<f64>, x: Option<f64>) {
    v.extend(x);
}

#[rustfmt::skip]
/// Names other modules refer to (no metric name is spelled outside this file).
pub mod names {
    pub const TTFT: &str = "ttft";
    pub const ITL: &str = "itl";
    pub const E2E: &str = "e2e";
    pub const TPOT: &str = "tpot";
    pub const OUTPUT_TOK_S_P50: &str = "output_tok_s.p50";
    pub const TTFT_FROM_SCHEDULED: &str = "ttft_from_scheduled";
    pub const E2E_FROM_SCHEDULED: &str = "e2e_from_scheduled";
    pub const ERROR_RATE: &str = "error_rate";
    pub const GOODPUT: &str = "goodput";
    pub const GOODPUT_RATIO: &str = "goodput_ratio";
}

pub const SCALARS: &[Scalar] = &[
    Scalar {
        name: "req_s",
        unit: Unit::ReqPerS,
        better: Better::Higher,
        get: |s, _| Some(s.throughput.req_s),
    },
    Scalar {
        name: "sent_req_s",
        unit: Unit::ReqPerS,
        better: Better::Higher,
        get: |s, _| s.throughput.sent_req_s,
    },
    Scalar {
        name: "tok_s",
        unit: Unit::TokPerS,
        better: Better::Higher,
        get: |s, _| Some(s.throughput.output_tok_s),
    },
    Scalar {
        name: "input_tok_s",
        unit: Unit::TokPerS,
        better: Better::Higher,
        get: |s, _| Some(s.throughput.input_tok_s),
    },
    Scalar {
        name: "inputs_s",
        unit: Unit::InputsPerS,
        better: Better::Higher,
        get: |s, _| s.throughput.inputs_s,
    },
    Scalar {
        name: "reasoning_output_tokens",
        unit: Unit::Count,
        better: Better::Neutral,
        get: |s, _| (s.tokens.reasoned > 0).then_some(s.tokens.reasoning as f64),
    },
    Scalar {
        name: names::GOODPUT,
        unit: Unit::ReqPerS,
        better: Better::Higher,
        get: |s, _| s.goodput.as_ref().map(|g| g.req_s),
    },
    Scalar {
        name: names::GOODPUT_RATIO,
        unit: Unit::Fraction,
        better: Better::Higher,
        get: |s, _| s.goodput.as_ref().map(|g| g.fraction),
    },
    Scalar {
        name: "error_rate",
        unit: Unit::Fraction,
        better: Better::Lower,
        get: |s, _| Some(s.error_rate),
    },
    Scalar {
        name: "requests",
        unit: Unit::Count,
        better: Better::Higher,
        get: |s, _| Some(s.requests.total as f64),
    },
    Scalar {
        name: "ok",
        unit: Unit::Count,
        better: Better::Higher,
        get: |s, _| Some(s.requests.ok as f64),
    },
    Scalar {
        name: "failed",
        unit: Unit::Count,
        better: Better::Lower,
        get: |s, _| Some(s.requests.failed as f64),
    },
    Scalar {
        name: "peak_concurrency",
        unit: Unit::Count,
        better: Better::Neutral,
        get: |s, _| Some(s.concurrency.peak as f64),
    },
    Scalar {
        name: "avg_concurrency",
        unit: Unit::Count,
        better: Better::Neutral,
        get: |s, _| Some(s.concurrency.avg),
    },
    Scalar {
        name: "server_cpu",
        unit: Unit::Percent,
        better: Better::Lower,
        get: |_, m| m?.server_cpu_avg_pct,
    },
    Scalar {
        name: "server_cpu_max",
        unit: Unit::Percent,
        better: Better::Lower,
        get: |_, m| m?.server_cpu_max_pct,
    },
    Scalar {
        name: "server_rss_mb",
        unit: Unit::Mb,
        better: Better::Lower,
        get: |_, m| m?.server_rss_peak_mb,
    },
    Scalar {
        name: "client_cpu",
        unit: Unit::Percent,
        better: Better::Lower,
        get: |_, m| m?.client_cpu_avg_pct,
    },
    Scalar {
        name: "client_rss_mb",
        unit: Unit::Mb,
        better: Better::Lower,
        get: |_, m| m?.client_rss_peak_mb,
    },
    Scalar {
        name: "memory_slope_mb_min",
        unit: Unit::MbPerMin,
        better: Better::Lower,
        get: |_, m| m?.rss_slope_mb_per_min,
    },
];

#[rustfmt::skip]
pub const DISTRIBUTIONS: &[Dist] = &[
    Dist { name: "ttft", unit: Unit::Ms, better: Better::Lower, label: "TTFT", summary: |s| s.ttft_ms.as_ref(), values: |r, v| one(v, r.ttft_ms()), includes_failed: false },
    Dist { name: "itl", unit: Unit::Ms, better: Better::Lower, label: "ITL", summary: |s| s.itl_ms.as_ref(), values: |r, v| v.extend(r.itl_ms()), includes_failed: false },
    Dist { name: "ttfo", unit: Unit::Ms, better: Better::Lower, label: "TTFO", summary: |s| s.ttfo_ms.as_ref(), values: |r, v| one(v, r.ttfo_ms()), includes_failed: false },
    Dist { name: "reasoning_time", unit: Unit::Ms, better: Better::Lower, label: "Reasoning", summary: |s| s.reasoning_ms.as_ref(), values: |r, v| one(v, r.reasoning_ms()), includes_failed: false },
    Dist { name: "tpot", unit: Unit::Ms, better: Better::Lower, label: "TPOT", summary: |s| s.tpot_ms.as_ref(), values: |r, v| one(v, r.tpot_ms()), includes_failed: false },
    Dist { name: "e2e", unit: Unit::Ms, better: Better::Lower, label: "E2E", summary: |s| s.e2e_ms.as_ref(), values: |r, v| v.push(r.e2e_ms()), includes_failed: false },
    Dist { name: "output_tok_s", unit: Unit::TokPerS, better: Better::Higher, label: "output tok/s", summary: |s| s.output_tok_s.as_ref(), values: |r, v| one(v, r.output_tok_s()), includes_failed: false },
    Dist { name: "decode_tok_s", unit: Unit::TokPerS, better: Better::Higher, label: "decode tok/s", summary: |s| s.decode_tok_s.as_ref(), values: |r, v| one(v, r.decode_tok_s()), includes_failed: false },
    Dist { name: "tokens_per_event", unit: Unit::Count, better: Better::Neutral, label: "tokens/event", summary: |s| s.tokens_per_event.as_ref(), values: |r, v| one(v, r.tokens_per_event()), includes_failed: false },
    Dist { name: "send_lag", unit: Unit::Ms, better: Better::Lower, label: "Send lag", summary: |s| s.send_lag_ms.as_ref(), values: |r, v| one(v, r.send_lag_ms()), includes_failed: true },
    Dist { name: "ttft_from_scheduled", unit: Unit::Ms, better: Better::Lower, label: "TTFT sched.", summary: |s| s.ttft_from_scheduled_ms.as_ref(), values: |r, v| one(v, r.ttft_from_scheduled_ms()), includes_failed: false },
    Dist { name: "e2e_from_scheduled", unit: Unit::Ms, better: Better::Lower, label: "E2E sched.", summary: |s| s.e2e_from_scheduled_ms.as_ref(), values: |r, v| one(v, r.e2e_from_scheduled_ms()), includes_failed: false },
];

/// Statistics of a distribution, in table order.
pub const STATS: &[&str] = &[
    "count", "mean", "stddev", "min", "p50", "p90", "p95", "p99", "max",
];

/// What `check` judges by default (when both results hold them).
pub const CHECK_DEFAULT: &[&str] = &[
    "ttft.p50",
    "ttft.p95",
    "ttft.p99",
    "ttft.mean",
    "ttfo.p50",
    "ttfo.p95",
    "itl.p50",
    "itl.p95",
    "tpot.p50",
    "e2e.p50",
    "e2e.p95",
    "tok_s",
    "req_s",
    "ok",
    "error_rate",
];

/// What `compare` shows: these statistics of every distribution, then these scalars.
pub const COMPARE_STATS: &[&str] = &["mean", "p50", "p90", "p95", "p99"];
pub const COMPARE_DISTRIBUTIONS: &[&str] = &[
    "ttft",
    "ttfo",
    "itl",
    "tpot",
    "e2e",
    "output_tok_s",
    "decode_tok_s",
];
/// The latency table's rows, in order (reports show those a result holds).
pub const LATENCY: &[&str] = &[
    "ttft",
    "ttfo",
    "reasoning_time",
    "itl",
    "tpot",
    "e2e",
    "ttft_from_scheduled",
    "e2e_from_scheduled",
    "send_lag",
];
pub const COMPARE_SCALARS: &[&str] = &["tok_s", "req_s", "ok", "error_rate"];

/// A resolved metric name.
#[derive(Clone, Copy)]
pub enum Metric {
    Scalar(&'static Scalar),
    Stat(&'static Dist, &'static str),
    /// A percentile beyond the named statistics (`ttft.p99.9`, `e2e.p75`).
    Quantile(&'static Dist, f64),
}

impl Metric {
    /// Look a name up (`ttft.median` is `ttft.p50`, `.avg` is `.mean`).
    pub fn lookup(name: &str) -> Option<Metric> {
        let name = name.trim().to_ascii_lowercase();
        if let Some((d, stat)) = name.split_once('.') {
            let stat = match stat {
                "median" => "p50",
                "avg" => "mean",
                s => s,
            };
            let dist = DISTRIBUTIONS.iter().find(|x| x.name == d)?;
            return match STATS.iter().find(|s| **s == stat) {
                Some(stat) => Some(Metric::Stat(dist, stat)),
                None => super::parse_percentile(stat).map(|p| Metric::Quantile(dist, p)),
            };
        }
        SCALARS.iter().find(|s| s.name == name).map(Metric::Scalar)
    }

    /// Measured only on streamed responses (from content events).
    pub fn needs_stream(&self) -> bool {
        let streamed = [
            names::TTFT,
            names::ITL,
            "ttfo",
            "reasoning_time",
            "tokens_per_event",
            "tpot",
            "decode_tok_s",
            "ttft_from_scheduled",
        ];
        match self {
            Metric::Stat(d, _) | Metric::Quantile(d, _) => streamed.contains(&d.name),
            Metric::Scalar(_) => false,
        }
    }

    pub fn dist(name: &str) -> Option<&'static Dist> {
        DISTRIBUTIONS.iter().find(|d| d.name == name)
    }

    /// The canonical name (`ttft.p50`, `req_s`).
    pub fn name(&self) -> String {
        match self {
            Metric::Scalar(s) => s.name.to_string(),
            Metric::Stat(d, stat) => format!("{}.{stat}", d.name),
            Metric::Quantile(d, p) => format!("{}.{}", d.name, super::percentile_name(*p)),
        }
    }

    pub fn unit(&self) -> Unit {
        match self {
            Metric::Scalar(s) => s.unit,
            Metric::Stat(_, "count") => Unit::Count,
            Metric::Stat(d, _) | Metric::Quantile(d, _) => d.unit,
        }
    }

    pub fn better(&self) -> Better {
        match self {
            Metric::Scalar(s) => s.better,
            Metric::Stat(_, "count" | "stddev") => Better::Neutral,
            Metric::Stat(d, _) | Metric::Quantile(d, _) => d.better,
        }
    }

    /// Its value in a summary (and the run's monitor report); None when not measured.
    pub fn value(&self, s: &Summary, monitor: Option<&MonitorReport>) -> Option<f64> {
        match self {
            Metric::Scalar(m) => (m.get)(s, monitor),
            Metric::Stat(d, stat) => (d.summary)(s).and_then(|d| d.stat(stat)),
            Metric::Quantile(d, p) => (d.summary)(s).and_then(|d| d.quantile(*p)),
        }
    }

    /// A percentile (`ttft.p95`, `e2e.p99.9`), which has an interval.
    pub fn is_percentile(&self) -> bool {
        match self {
            Metric::Quantile(..) => true,
            Metric::Stat(_, stat) => super::parse_percentile(stat).is_some(),
            Metric::Scalar(_) => false,
        }
    }

    /// A percentile's 95% interval in a summary (None for other metrics, or too few values).
    pub fn interval(&self, s: &Summary) -> Option<[f64; 2]> {
        let (d, p) = match self {
            Metric::Quantile(d, p) => (d, *p),
            Metric::Stat(d, stat) => (d, super::parse_percentile(stat)?),
            Metric::Scalar(_) => return None,
        };
        (d.summary)(s)?.quantile_ci(p)
    }
}

impl Dist {
    /// Per-request values over the measured records (successful ones unless the distribution
    /// includes failures).
    pub fn values_of<'a>(&self, records: impl IntoIterator<Item = &'a RequestRecord>) -> Vec<f64> {
        let mut v = Vec::new();
        for r in records {
            if !r.warmup && (self.includes_failed || r.is_ok()) {
                (self.values)(r, &mut v);
            }
        }
        v
    }
}

/// Every name a target or check accepts, for error messages.
pub fn known() -> String {
    let mut v: Vec<String> = SCALARS.iter().map(|s| s.name.to_string()).collect();
    v.extend(
        DISTRIBUTIONS
            .iter()
            .map(|d| format!("{}.<p50|p90|p95|p99|mean|min|max>", d.name)),
    );
    v.join(", ")
        + " (or any percentile above 0 and below 100, e.g. ttft.p99.9; p0 is min, p100 max)"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_with_their_direction() {
        let m = Metric::lookup("ttft.median").unwrap();
        assert_eq!(m.name(), "ttft.p50");
        assert_eq!(m.better(), Better::Lower);
        assert_eq!(Metric::lookup("ok").unwrap().better(), Better::Higher);
        assert_eq!(Metric::lookup("requests").unwrap().better(), Better::Higher);
        assert_eq!(
            Metric::lookup("output_tok_s.p50").unwrap().better(),
            Better::Higher
        );
        assert_eq!(Metric::lookup("error_rate").unwrap().unit(), Unit::Fraction);
        assert_eq!(
            Metric::lookup("peak_concurrency").unwrap().better(),
            Better::Neutral
        );
        assert!(Metric::lookup("ttft.p100").is_none());
        assert_eq!(Metric::lookup("ttft.p99.9").unwrap().name(), "ttft.p99.9");
        assert_eq!(Metric::lookup("e2e.p75").unwrap().unit(), Unit::Ms);
        assert!(Metric::lookup("latency").is_none());
    }

    #[test]
    fn every_default_list_names_registered_metrics() {
        for n in CHECK_DEFAULT.iter().chain(COMPARE_SCALARS) {
            assert!(Metric::lookup(n).is_some(), "{n}");
        }
        for d in COMPARE_DISTRIBUTIONS {
            assert!(Metric::dist(d).is_some(), "{d}");
        }
    }
}
