//! Targets: `--target 'ttft.p95<=550ms'`, `--target 'error_rate<1%'`, `--target 'req_s>=130'`.
//! Parsed and checked against the known metric names before the run starts; evaluated against
//! a result's facts after it. The same syntax serves every command.

use serde::{Deserialize, Serialize};

use crate::metrics::metric::{self, Metric, Unit};
use crate::metrics::Summary;
use crate::monitor::MonitorReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Kind {
    /// Milliseconds; accepts `ms`, `s`, `us` suffixes.
    Ms,
    /// A fraction 0..1; `1%` means 0.01.
    Fraction,
    /// A percentage; `80%` means 80.
    Percent,
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    fn holds(self, actual: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => actual < threshold,
            Op::Le => actual <= threshold,
            Op::Gt => actual > threshold,
            Op::Ge => actual >= threshold,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Target {
    /// As the user wrote it.
    pub text: String,
    pub metric: String,
    pub op: Op,
    /// In the metric's canonical unit (ms, fraction, percent, plain).
    pub threshold: f64,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TargetOutcome {
    pub target: String,
    pub metric: String,
    /// Null when the run did not measure it (then the target fails).
    pub actual: Option<f64>,
    pub passed: bool,
    /// Actual value in the target's unit, for display.
    pub shown: String,
    /// A percentile's 95% interval, where there are values enough for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci95: Option<[f64; 2]>,
    /// For a percentile: whether its 95% interval lies wholly on one side of the threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
}

/// How sure a percentile target's verdict is, from the percentile's 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// The whole interval meets the target.
    Met,
    /// The whole interval misses it.
    Missed,
    /// The interval straddles the threshold.
    Inconclusive,
    /// Too few values for an interval of this percentile (e.g. 72 for p95).
    TooFewValues,
}

impl Confidence {
    pub fn text(self) -> &'static str {
        match self {
            Confidence::Met => "met with 95% confidence",
            Confidence::Missed => "missed with 95% confidence",
            Confidence::Inconclusive => "inconclusive: the 95% interval straddles the threshold",
            Confidence::TooFewValues => "too few values for a 95% interval",
        }
    }
}

fn kind_of(metric: &Metric) -> Kind {
    match metric.unit() {
        Unit::Ms => Kind::Ms,
        Unit::Fraction => Kind::Fraction,
        Unit::Percent => Kind::Percent,
        _ => Kind::Plain,
    }
}

impl Target {
    pub fn parse(text: &str) -> Result<Target, String> {
        let t = text.trim();
        let (pos, op, len) = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
            .iter()
            .find_map(|(s, op)| t.find(s).map(|p| (p, *op, s.len())))
            .ok_or_else(|| format!("{text:?}: expected METRIC<=VALUE (operators: < <= > >=), e.g. 'ttft.p95<=550ms'"))?;
        let name = t[..pos].trim().to_lowercase();
        let value = t[pos + len..].trim().to_lowercase();
        let m = Metric::lookup(&name).ok_or_else(|| {
            format!(
                "{text:?}: unknown metric {name:?}; known: {}",
                metric::known()
            )
        })?;
        let (metric, kind) = (m.name(), kind_of(&m));
        let num_end = value
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
            .unwrap_or(value.len());
        let (num, unit) = (&value[..num_end], value[num_end..].trim());
        let v: f64 = num
            .parse()
            .map_err(|_| format!("{text:?}: {value:?} is not a number"))?;
        let threshold = match (kind, unit) {
            (Kind::Ms, "" | "ms") => v,
            (Kind::Ms, "s") => v * 1e3,
            (Kind::Ms, "us" | "µs") => v / 1e3,
            (Kind::Fraction, "") => v,
            (Kind::Fraction, "%") => v / 100.0,
            (Kind::Percent, "" | "%") => v,
            (Kind::Plain, "" | "tok/s" | "req/s" | "mb") => v,
            _ => return Err(format!("{text:?}: unit {unit:?} does not fit {metric}")),
        };
        Ok(Target {
            text: t.to_string(),
            metric,
            op,
            threshold,
            kind,
        })
    }

    /// Judge a summary (and the run's monitor report, for server and client figures).
    pub fn evaluate(&self, s: &Summary, monitor: Option<&MonitorReport>) -> TargetOutcome {
        let metric = Metric::lookup(&self.metric);
        let actual = metric.and_then(|m| m.value(s, monitor));
        let passed = actual.is_some_and(|a| self.op.holds(a, self.threshold));
        let ci95 = metric.and_then(|m| m.interval(s));
        let confidence = match (ci95, metric.is_some_and(|m| m.is_percentile())) {
            (_, false) => None,
            (None, true) => actual.map(|_| Confidence::TooFewValues),
            (Some([lo, hi]), true) => Some(
                match (
                    self.op.holds(lo, self.threshold),
                    self.op.holds(hi, self.threshold),
                ) {
                    (true, true) => Confidence::Met,
                    (false, false) => Confidence::Missed,
                    _ => Confidence::Inconclusive,
                },
            ),
        };
        let shown = match actual {
            None => "not measured".to_string(),
            Some(a) => match self.kind {
                Kind::Ms => format!("{a:.2} ms"),
                Kind::Fraction => format!("{:.3}%", a * 100.0),
                Kind::Percent => format!("{a:.1}%"),
                Kind::Plain => format!("{a:.2}"),
            },
        };
        TargetOutcome {
            target: format!(
                "{} {} {}",
                self.metric,
                self.op.symbol(),
                self.threshold_shown()
            ),
            metric: self.metric.clone(),
            actual,
            passed,
            shown,
            ci95,
            confidence,
        }
    }

    fn threshold_shown(&self) -> String {
        match self.kind {
            Kind::Ms => format!("{} ms", self.threshold),
            Kind::Fraction => format!("{}%", self.threshold * 100.0),
            Kind::Percent => format!("{}%", self.threshold),
            Kind::Plain => format!("{}", self.threshold),
        }
    }
}

pub fn parse_all(texts: &[String]) -> anyhow::Result<Vec<Target>> {
    texts
        .iter()
        .map(|t| Target::parse(t).map_err(|e| anyhow::anyhow!("--target {e}")))
        .collect()
}

/// `--percentiles`: each strictly between 0 and 100, no repeats.
pub fn check_percentiles(ps: &[f64]) -> anyhow::Result<Vec<f64>> {
    let mut out: Vec<f64> = Vec::new();
    for &p in ps {
        if !(p > 0.0 && p < 100.0) {
            anyhow::bail!(
                "--percentiles {p}: each percentile is above 0 and below 100 (e.g. 50,90,99,99.9)"
            );
        }
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

/// Add the percentiles `targets` name that `ps` does not report (keeping the default four
/// when `ps` is empty).
pub fn ask_percentiles(ps: &mut Vec<f64>, targets: &[Target]) {
    let asked: Vec<f64> = targets
        .iter()
        .filter_map(|t| crate::metrics::parse_percentile(t.metric.split_once('.')?.1))
        .collect();
    let shown = |ps: &Vec<f64>, p: f64| {
        ps.contains(&p) || (ps.is_empty() && crate::metrics::FIXED_PERCENTILES.contains(&p))
    };
    for p in asked {
        if !shown(ps, p) {
            if ps.is_empty() {
                ps.extend(crate::metrics::FIXED_PERCENTILES);
            }
            ps.push(p);
        }
    }
    ps.sort_by(f64::total_cmp);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RequestRecord;

    fn summary() -> Summary {
        let rec = |id: u64, ttft_ms: u64| RequestRecord {
            id,
            sent_ns: 0,
            done_ns: 1_000_000_000,
            content_ns: vec![ttft_ms * 1_000_000, 1_000_000_000],
            output_tokens: Some(2),
            ..Default::default()
        };
        Summary::from_records(&[rec(0, 500), rec(1, 520)])
    }

    #[test]
    fn the_seeds_targets_parse_and_evaluate() {
        let s = summary();
        let check = |t: &str| Target::parse(t).unwrap().evaluate(&s, None).passed;
        assert!(!check("req_s>=130"));
        assert!(check("req_s>=1.9"));
        assert!(check("ttft.p95<=550ms"));
        assert!(check("ttft.p95 <= 0.55s"));
        assert!(!check("ttft.p95<=400ms"));
        assert!(check("ttft.median<=510ms"));
        assert!(check("error_rate<1%"));
        assert!(check("ok>=2"));
    }

    #[test]
    fn an_unmeasured_metric_fails_and_says_so() {
        let o = Target::parse("server_cpu<80%")
            .unwrap()
            .evaluate(&summary(), None);
        assert!(!o.passed);
        assert_eq!(o.shown, "not measured");
    }

    #[test]
    fn bad_targets_are_named() {
        assert!(Target::parse("ttft.p95").unwrap_err().contains("expected"));
        assert!(Target::parse("latency<5")
            .unwrap_err()
            .contains("unknown metric"));
        assert!(Target::parse("ttft.p100<5")
            .unwrap_err()
            .contains("unknown metric"));
        assert!(Target::parse("ttft.p95<fast")
            .unwrap_err()
            .contains("not a number"));
        assert!(Target::parse("req_s>5ms").unwrap_err().contains("unit"));
    }
}
