//! `llmbench check --baseline BASE.json CURRENT.json`: glue for the regression check
//! ([`crate::verdict::check`]). Tolerances are read before the results; setting differences
//! are warned about (`--strict`: exit 2). Exit 0 all pass, 1 a regression, 2 bad input.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::cli::CheckArgs;
use crate::metrics::metric::{Metric, Unit};
use crate::report;
use crate::units::{parse_fraction, parse_points};
use crate::verdict::check::{check, Tolerance, Tolerances};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToleranceFile {
    #[serde(default)]
    tolerance: Option<toml::Value>,
    #[serde(default)]
    error_rate_tolerance: Option<toml::Value>,
    #[serde(default)]
    metrics: BTreeMap<String, toml::Value>,
}

fn text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `--tolerance`, `--error-rate-tolerance` and the `--tolerances` file, checked.
fn tolerances(args: &CheckArgs) -> anyhow::Result<Tolerances> {
    let file = match &args.tolerances {
        None => ToleranceFile::default(),
        Some(p) => read_file(p)?,
    };
    let what = |k: &str| format!("--tolerances: {k}");
    let relative = match &file.tolerance {
        Some(v) => {
            parse_fraction(&text(v)).map_err(|e| anyhow::anyhow!("{}: {e}", what("tolerance")))?
        }
        None => args.tolerance,
    };
    let points = match &file.error_rate_tolerance {
        Some(v) => parse_points(&text(v))
            .map_err(|e| anyhow::anyhow!("{}: {e}", what("error_rate_tolerance")))?,
        None => args.error_rate_tolerance,
    };
    let mut per_metric = BTreeMap::new();
    for (name, v) in &file.metrics {
        let m = Metric::lookup(name).with_context(|| {
            format!(
                "{}: unknown metric; known: {}",
                what(name),
                crate::metrics::metric::known()
            )
        })?;
        let t = if m.unit() == Unit::Fraction {
            Tolerance::Points(
                parse_points(&text(v)).map_err(|e| anyhow::anyhow!("{}: {e}", what(name)))?,
            )
        } else {
            Tolerance::Relative(
                parse_fraction(&text(v)).map_err(|e| anyhow::anyhow!("{}: {e}", what(name)))?,
            )
        };
        per_metric.insert(m.name(), t);
    }
    Ok(Tolerances {
        relative,
        points,
        per_metric,
    })
}

fn read_file(p: &Path) -> anyhow::Result<ToleranceFile> {
    let text = std::fs::read_to_string(p)
        .with_context(|| format!("--tolerances {}: cannot read the file", p.display()))?;
    toml::from_str(&text).with_context(|| format!("--tolerances {}: invalid TOML", p.display()))
}

pub async fn check_command(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let tol = tolerances(&args)?;
    if let Some(p) = &args.output {
        if p.extension().and_then(|e| e.to_str()) != Some("json") {
            bail!("--output {}: use a .json file", p.display());
        }
    }
    let base = report::read(&args.baseline).with_context(|| "--baseline")?;
    let cur = report::read(&args.current)?;
    let result = check(&base, &cur, &args.metrics, &tol)?;
    super::compare::warn_differences(&result.differences, args.strict)?;
    print!("{}", crate::report::console::check_table(&result.rows));
    if let Some(p) = &args.output {
        std::fs::write(p, serde_json::to_string_pretty(&result)?)
            .with_context(|| format!("--output {}: cannot write", p.display()))?;
    }
    if args.update_baseline {
        std::fs::copy(&args.current, &args.baseline).with_context(|| {
            format!(
                "--update-baseline: cannot write {}",
                args.baseline.display()
            )
        })?;
        println!(
            "\nBaseline updated: {} now holds {}",
            args.baseline.display(),
            args.current.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    Ok(if result.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
