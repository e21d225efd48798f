//! `llmbench compare BASE.json TREAT.json`: glue. Reads both results, warns about differing
//! settings (`--strict`: exit 2), prints the comparison (level by level for results with
//! levels), judges `--require`, writes `--output`.

use std::process::ExitCode;

use anyhow::{bail, Context};

use crate::cli::CompareArgs;
use crate::report;
use crate::verdict::compare::{
    check_requirements, compare_results, parse_requirement, settings_differences, Comparison,
};

/// Print the setting differences of two results; with `strict`, they are an error (exit 2).
pub fn warn_differences(differences: &[String], strict: bool) -> anyhow::Result<()> {
    for d in differences {
        eprintln!("warning: the results differ in {d}");
    }
    if strict && !differences.is_empty() {
        bail!("--strict: the two results were not measured with the same settings");
    }
    Ok(())
}

pub async fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    if let Some(p) = &args.output {
        if p.extension().and_then(|e| e.to_str()) != Some("json") {
            bail!("--output {}: use a .json file", p.display());
        }
    }
    for r in &args.require {
        parse_requirement(r)?;
    }
    let base = report::read(&args.baseline)?;
    let treat = report::read(&args.treatment)?;
    for (r, p) in [(&base, &args.baseline), (&treat, &args.treatment)] {
        if r.requests_omitted > 0 {
            anyhow::bail!(
                "{}: holds {} of its {} requests in full: a per-request comparison would see part of the run (compare its summary with `llmbench check`)",
                p.display(),
                r.requests.len(),
                r.requests.len() as u64 + r.requests_omitted
            );
        }
    }
    let differences = settings_differences(&base, &treat);
    warn_differences(&differences, args.strict)?;
    let rows = compare_results(&base, &treat);
    if rows.is_empty() {
        bail!(
            "{} and {} share no metric to compare",
            args.baseline.display(),
            args.treatment.display()
        );
    }
    let requirements = check_requirements(&rows, &args.require)?;
    let cmp = Comparison {
        rows,
        requirements,
        differences,
    };
    print!(
        "{}",
        crate::report::console::comparison_table(
            &cmp,
            &args.baseline.display().to_string(),
            &args.treatment.display().to_string()
        )
    );
    if let Some(p) = &args.output {
        let text = serde_json::to_string_pretty(&cmp)?;
        std::fs::write(p, text)
            .with_context(|| format!("--output {}: cannot write", p.display()))?;
    }
    Ok(if cmp.requirements.iter().all(|r| r.passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
