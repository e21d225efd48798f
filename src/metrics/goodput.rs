//! Goodput: the requests that met every latency SLO, per second and as a fraction.
//! `--goodput 'ttft:500ms,tpot:50ms'` (vLLM's keys: `ttft`, `tpot`, `e2el`; values in ms unless
//! a unit is given).

use serde::{Deserialize, Serialize};

use crate::record::Row;

/// One per-request latency limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Slo {
    pub metric: SloMetric,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SloMetric {
    Ttft,
    Tpot,
    E2el,
}

impl SloMetric {
    pub fn name(self) -> &'static str {
        match self {
            SloMetric::Ttft => "ttft",
            SloMetric::Tpot => "tpot",
            SloMetric::E2el => "e2el",
        }
    }

    /// Needs streamed responses to be measured.
    pub fn needs_stream(self) -> bool {
        !matches!(self, SloMetric::E2el)
    }
}

impl Slo {
    /// `ttft:500ms`, `ttft:500`, `e2el:2s`.
    pub fn text(&self) -> String {
        format!("{}<={}ms", self.metric.name(), self.max_ms)
    }

    /// The request met this SLO. A request with one output token has no TPOT: it meets a TPOT
    /// limit (it had no decode to be slow in).
    fn met(&self, r: &Row) -> bool {
        let v = match self.metric {
            SloMetric::Ttft => r.ttft_ms(),
            SloMetric::Tpot => match r.tpot_ms() {
                None if r.ttft_ms().is_some() && r.output_tokens().is_some_and(|n| n <= 1) => {
                    return true
                }
                v => v,
            },
            SloMetric::E2el => Some(r.e2e_ms()),
        };
        v.is_some_and(|v| v <= self.max_ms)
    }
}

/// A target or SLO on goodput needs `--goodput`'s SLOs.
pub fn check_asked(
    targets: &[crate::metrics::targets::Target],
    slos: &[Slo],
) -> Result<(), String> {
    use crate::metrics::metric::names;
    match targets
        .iter()
        .find(|t| t.metric == names::GOODPUT || t.metric == names::GOODPUT_RATIO)
    {
        Some(t) if slos.is_empty() => Err(format!(
            "{}: goodput counts the requests that met --goodput's SLOs: add --goodput, e.g. --goodput 'ttft:500ms,tpot:50ms'",
            t.text
        )),
        _ => Ok(()),
    }
}

/// Parse `--goodput`: `KEY:VALUE` pairs separated by commas or spaces.
pub fn parse(text: &str) -> Result<Vec<Slo>, String> {
    let mut out: Vec<Slo> = Vec::new();
    for part in text
        .split([',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (key, value) = part.split_once(':').ok_or_else(|| {
            format!("--goodput {part:?}: expected KEY:VALUE, e.g. 'ttft:500ms,tpot:50ms'")
        })?;
        let metric = match key.trim().to_lowercase().as_str() {
            "ttft" => SloMetric::Ttft,
            "tpot" => SloMetric::Tpot,
            "e2el" | "e2e" => SloMetric::E2el,
            k => {
                return Err(format!(
                    "--goodput: unknown key {k:?} (keys: ttft, tpot, e2el)"
                ))
            }
        };
        let v = value.trim().to_lowercase();
        let num_end = v
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(v.len());
        let n: f64 = v[..num_end]
            .parse()
            .map_err(|_| format!("--goodput {part:?}: {value:?} is not a number"))?;
        let max_ms = match v[num_end..].trim() {
            "" | "ms" => n,
            "s" => n * 1e3,
            "us" | "µs" => n / 1e3,
            u => return Err(format!("--goodput {part:?}: unit {u:?} (use ms, s or us)")),
        };
        if !(max_ms > 0.0 && max_ms.is_finite()) {
            return Err(format!("--goodput {part:?}: the limit must be above zero"));
        }
        if out.iter().any(|s| s.metric == metric) {
            return Err(format!("--goodput: {} given twice", metric.name()));
        }
        out.push(Slo { metric, max_ms });
    }
    if out.is_empty() {
        return Err("--goodput: no SLO given, e.g. 'ttft:500ms,tpot:50ms'".into());
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Goodput {
    /// The SLOs, as `ttft<=500ms`.
    pub slos: Vec<String>,
    /// Successful measured requests that met every SLO.
    pub met: u64,
    /// Measured requests judged (ok + failed; stopped ones are not).
    pub judged: u64,
    /// met / judged.
    pub fraction: f64,
    /// met / the measured window.
    pub req_s: f64,
}

/// Goodput of the measured rows over a window of `window_s`.
pub fn of<'a>(rows: impl IntoIterator<Item = &'a Row>, slos: &[Slo], window_s: f64) -> Goodput {
    let (mut met, mut judged) = (0u64, 0u64);
    for r in rows
        .into_iter()
        .filter(|r| !r.warmup && !r.stopped_by_user())
    {
        judged += 1;
        if r.is_ok() && slos.iter().all(|s| s.met(r)) {
            met += 1;
        }
    }
    Goodput {
        slos: slos.iter().map(Slo::text).collect(),
        met,
        judged,
        fraction: if judged > 0 {
            met as f64 / judged as f64
        } else {
            0.0
        },
        req_s: if window_s > 0.0 {
            met as f64 / window_s
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Failure, FailureKind, RequestRecord};

    #[test]
    fn vllm_syntax_and_units() {
        let s = parse("ttft:500ms,tpot:50").unwrap();
        assert_eq!(
            s[0],
            Slo {
                metric: SloMetric::Ttft,
                max_ms: 500.0
            }
        );
        assert_eq!(
            s[1],
            Slo {
                metric: SloMetric::Tpot,
                max_ms: 50.0
            }
        );
        assert_eq!(parse("e2el:2s").unwrap()[0].max_ms, 2000.0);
        assert_eq!(parse("ttft:500 tpot:50").unwrap().len(), 2);
        for bad in [
            "",
            "ttft",
            "ttft:abc",
            "itl:5",
            "ttft:0",
            "ttft:5h",
            "ttft:5,ttft:6",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_request_counts_when_it_met_every_slo() {
        let rec = |id, ttft_ms: u64, done_ms: u64, tokens| RequestRecord {
            id,
            sent_ns: 0,
            content_ns: vec![ttft_ms * 1_000_000, done_ms * 1_000_000],
            done_ns: done_ms * 1_000_000,
            output_tokens: Some(tokens),
            ..Default::default()
        };
        let mut failed = rec(4, 10, 20, 2);
        failed.error = Some(Failure {
            kind: FailureKind::Http,
            http_status: Some(500),
            detail: String::new(),
        });
        let mut stopped = rec(5, 10, 20, 2);
        stopped.error = Some(Failure {
            kind: FailureKind::Cancelled,
            http_status: None,
            detail: String::new(),
        });
        let recs = [
            rec(0, 100, 1100, 21), // TTFT 100, TPOT 50: meets both
            rec(1, 600, 1100, 21), // TTFT too slow
            rec(2, 100, 2100, 21), // TPOT 100: too slow
            rec(3, 100, 100, 1),   // one token: no TPOT, meets it
            failed,
            stopped,
        ];
        let rows: Vec<Row> = recs.iter().map(RequestRecord::row).collect();
        let g = of(&rows, &parse("ttft:500ms,tpot:50ms").unwrap(), 2.0);
        assert_eq!((g.met, g.judged), (2, 5));
        assert_eq!(g.fraction, 0.4);
        assert_eq!(g.req_s, 1.0);
        assert_eq!(g.slos, vec!["ttft<=500ms", "tpot<=50ms"]);
    }
}
