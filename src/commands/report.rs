//! `llmbench report RESULT`: render a saved result (or a JSONL record file) again.

use std::process::ExitCode;

use anyhow::Context;

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
    let result = report::read(&args.input)?;
    if outputs.is_empty() && args.csv.is_none() {
        // Nothing to write: show it (the Markdown reads well in a terminal).
        print!("{}", report::markdown::render(&result));
        eprintln!("(to write it: --html FILE, --md FILE, --csv DIR, --json FILE or --output FILE)");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &outputs {
        report::write(p, &result)?;
        eprintln!("result written to {}", p.display());
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
        eprintln!("result written to {} and {}", req.display(), ts.display());
    }
    Ok(ExitCode::SUCCESS)
}
