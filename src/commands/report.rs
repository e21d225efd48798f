//! `llmbench report RESULT`: render a saved result (or a JSONL record file) again.

use std::process::ExitCode;

use anyhow::{bail, Context};

use crate::cli::ReportArgs;
use crate::report;

pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let mut outputs = args.output.clone();
    outputs.extend(args.html.clone());
    outputs.extend(args.md.clone());
    outputs.extend(args.json.clone());
    for p in &outputs {
        report::format_for(p)?;
    }
    if outputs.is_empty() && args.csv.is_none() {
        bail!("nothing to write: give --html FILE, --md FILE, --csv DIR, --json FILE or --output FILE");
    }
    let result = report::read(&args.input)?;
    for p in &outputs {
        report::write(p, &result)?;
        eprintln!("written: {}", p.display());
    }
    if let Some(dir) = &args.csv {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--csv {}: cannot create the directory", dir.display()))?;
        let req = dir.join("requests.csv");
        std::fs::write(&req, report::csv::requests(&result))
            .with_context(|| format!("--csv: cannot write {}", req.display()))?;
        let ts = dir.join("timeseries.csv");
        std::fs::write(&ts, report::csv::timeseries(&result))
            .with_context(|| format!("--csv: cannot write {}", ts.display()))?;
        eprintln!("written: {} and {}", req.display(), ts.display());
    }
    Ok(ExitCode::SUCCESS)
}
