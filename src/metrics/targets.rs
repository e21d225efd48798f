//! Targets: `--target 'ttft.p95<=550ms'`, `--target 'error_rate<1%'`, `--target 'req_s>=130'`.
//! Parsed and checked against the known metric names before the run starts; evaluated against
//! a result's facts after it. The same syntax serves every command.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Distributions a target can name, as `name.stat` (stat: mean, p50, p90, p95, p99, min, max, ...).
pub const DISTRIBUTIONS: &[&str] = &[
    "ttft",
    "itl",
    "tpot",
    "e2e",
    "output_tok_s",
    "decode_tok_s",
    "send_lag",
    "ttft_from_scheduled",
    "e2e_from_scheduled",
];

/// Scalar metrics a target can name, with their kind.
pub const SCALARS: &[(&str, Kind)] = &[
    ("req_s", Kind::Plain),
    ("sent_req_s", Kind::Plain),
    ("tok_s", Kind::Plain),
    ("error_rate", Kind::Fraction),
    ("requests", Kind::Plain),
    ("ok", Kind::Plain),
    ("failed", Kind::Plain),
    ("peak_concurrency", Kind::Plain),
    ("avg_concurrency", Kind::Plain),
    ("server_cpu", Kind::Percent),
    ("server_cpu_max", Kind::Percent),
    ("server_rss_mb", Kind::Plain),
    ("client_cpu", Kind::Percent),
    ("client_rss_mb", Kind::Plain),
    ("memory_slope_mb_min", Kind::Plain),
];

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
}

fn kind_of(metric: &str) -> Option<Kind> {
    if let Some((dist, stat)) = metric.split_once('.') {
        let known_stat = matches!(
            stat,
            "mean"
                | "avg"
                | "stddev"
                | "min"
                | "p50"
                | "median"
                | "p90"
                | "p95"
                | "p99"
                | "max"
                | "count"
        );
        if !DISTRIBUTIONS.contains(&dist) || !known_stat {
            return None;
        }
        return Some(if stat == "count" || dist.ends_with("tok_s") {
            Kind::Plain
        } else {
            Kind::Ms
        });
    }
    SCALARS.iter().find(|(n, _)| *n == metric).map(|(_, k)| *k)
}

pub fn known_metrics() -> String {
    let mut v: Vec<String> = SCALARS.iter().map(|(n, _)| n.to_string()).collect();
    v.extend(
        DISTRIBUTIONS
            .iter()
            .map(|d| format!("{d}.<p50|p90|p95|p99|mean|min|max>")),
    );
    v.join(", ")
}

impl Target {
    pub fn parse(text: &str) -> Result<Target, String> {
        let t = text.trim();
        let (pos, op, len) = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
            .iter()
            .find_map(|(s, op)| t.find(s).map(|p| (p, *op, s.len())))
            .ok_or_else(|| format!("target {text:?}: expected METRIC<=VALUE (operators: < <= > >=), e.g. 'ttft.p95<=550ms'"))?;
        let metric = t[..pos].trim().to_lowercase().replace("median", "p50");
        let value = t[pos + len..].trim().to_lowercase();
        let kind = kind_of(&metric).ok_or_else(|| {
            format!(
                "target {text:?}: unknown metric {metric:?}; known: {}",
                known_metrics()
            )
        })?;
        let num_end = value
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
            .unwrap_or(value.len());
        let (num, unit) = (&value[..num_end], value[num_end..].trim());
        let v: f64 = num
            .parse()
            .map_err(|_| format!("target {text:?}: {value:?} is not a number"))?;
        let threshold = match (kind, unit) {
            (Kind::Ms, "" | "ms") => v,
            (Kind::Ms, "s") => v * 1e3,
            (Kind::Ms, "us" | "µs") => v / 1e3,
            (Kind::Fraction, "") => v,
            (Kind::Fraction, "%") => v / 100.0,
            (Kind::Percent, "" | "%") => v,
            (Kind::Plain, "" | "tok/s" | "req/s" | "mb") => v,
            _ => {
                return Err(format!(
                    "target {text:?}: unit {unit:?} does not fit {metric}"
                ))
            }
        };
        Ok(Target {
            text: t.to_string(),
            metric,
            op,
            threshold,
            kind,
        })
    }

    pub fn evaluate(&self, facts: &BTreeMap<String, f64>) -> TargetOutcome {
        let key = self.metric.replace(".avg", ".mean");
        let actual = facts.get(&key).copied();
        let passed = actual.is_some_and(|a| self.op.holds(a, self.threshold));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> BTreeMap<String, f64> {
        [
            ("req_s", 128.3),
            ("ttft.p95", 523.4),
            ("error_rate", 0.003),
            ("peak_concurrency", 78.0),
            ("server_cpu", 67.2),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect()
    }

    #[test]
    fn the_seeds_targets_parse_and_evaluate() {
        let f = facts();
        let check = |t: &str| Target::parse(t).unwrap().evaluate(&f).passed;
        assert!(!check("req_s>=130"));
        assert!(check("ttft.p95<=550ms"));
        assert!(check("ttft.p95 <= 0.55s"));
        assert!(!check("ttft.p95<=400ms"));
        assert!(check("error_rate<1%"));
        assert!(!check("error_rate<0.1%"));
        assert!(check("peak_concurrency>=75"));
        assert!(check("server_cpu<80%"));
    }

    #[test]
    fn an_unmeasured_metric_fails_and_says_so() {
        let o = Target::parse("itl.p99<50ms").unwrap().evaluate(&facts());
        assert!(!o.passed);
        assert_eq!(o.shown, "not measured");
    }

    #[test]
    fn bad_targets_are_named() {
        assert!(Target::parse("ttft.p95").unwrap_err().contains("expected"));
        assert!(Target::parse("latency<5")
            .unwrap_err()
            .contains("unknown metric"));
        assert!(Target::parse("ttft.p97<5")
            .unwrap_err()
            .contains("unknown metric"));
        assert!(Target::parse("ttft.p95<fast")
            .unwrap_err()
            .contains("not a number"));
        assert!(Target::parse("req_s>5ms").unwrap_err().contains("unit"));
    }
}
