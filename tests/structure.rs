//! The house rules of the source tree, checked on every `cargo test` (and so in `.ci/run`):
//! file and function sizes, which modules may import which, one `BenchResult` literal, and
//! metric names spelled only in the metric registry.

use std::path::{Path, PathBuf};

use llmbench::metrics::metric::{DISTRIBUTIONS, SCALARS, STATS};

const MAX_FILE_LINES: usize = 600;
/// "About 80": the signature and closing brace included.
const MAX_FN_LINES: usize = 90;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every file of `src/`, as (path relative to the crate, text).
fn src() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The lines of a file outside its `#[cfg(test)]` module and comments.
fn code_lines(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect()
}

#[test]
fn no_source_file_is_over_600_lines() {
    let long: Vec<String> = src()
        .iter()
        .filter(|(_, t)| t.lines().count() > MAX_FILE_LINES)
        .map(|(p, t)| format!("{p}: {} lines", t.lines().count()))
        .collect();
    assert!(long.is_empty(), "split these files: {long:#?}");
}

#[test]
fn no_function_is_over_about_80_lines() {
    let mut long = Vec::new();
    for (path, text) in src() {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "async fn ",
                "pub async fn ",
                "pub(crate) fn ",
            ]
            .iter()
            .any(|p| t.starts_with(p));
            if !is_fn || t.ends_with(';') {
                continue;
            }
            let indent = line.len() - t.len();
            let close = format!("{}}}", " ".repeat(indent));
            let end = lines[i..]
                .iter()
                .position(|l| l.starts_with(&close) && l.len() - l.trim_start().len() == indent)
                .unwrap_or(0);
            if end + 1 > MAX_FN_LINES {
                long.push(format!("{path}:{}: {} lines", i + 1, end + 1));
            }
        }
    }
    assert!(long.is_empty(), "shorten these functions: {long:#?}");
}

#[test]
fn report_imports_nothing_from_commands_scheduler_or_client() {
    let bad: Vec<String> = src()
        .iter()
        .filter(|(p, _)| p.starts_with("src/report/"))
        .flat_map(|(p, t)| {
            code_lines(t)
                .into_iter()
                .filter(|l| {
                    [
                        "crate::commands",
                        "crate::scheduler",
                        "crate::client",
                        "crate::session",
                    ]
                    .iter()
                    .any(|m| l.contains(m))
                })
                .map(move |l| format!("{p}: {}", l.trim()))
        })
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn only_commands_and_plans_read_the_cli() {
    let allowed = ["src/main.rs", "src/cli/", "src/commands/", "src/plan/"];
    let bad: Vec<String> = src()
        .iter()
        .filter(|(p, _)| !allowed.iter().any(|a| p.starts_with(a)))
        .flat_map(|(p, t)| {
            code_lines(t)
                .into_iter()
                .filter(|l| l.contains("crate::cli::") || l.contains("crate::cli;"))
                .map(move |l| format!("{p}: {}", l.trim()))
        })
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn library_types_carry_no_clap_derives() {
    let bad: Vec<String> = src()
        .iter()
        .filter(|(p, _)| !p.starts_with("src/cli/"))
        .filter(|(_, t)| t.contains("clap::ValueEnum") || t.contains("derive(Parser"))
        .map(|(p, _)| p.clone())
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn one_bench_result_literal() {
    let sites: Vec<String> = src()
        .iter()
        .flat_map(|(p, t)| {
            code_lines(t)
                .into_iter()
                .filter(|l| {
                    let l = l.trim();
                    (l.contains("BenchResult {") || l.ends_with("BenchResult"))
                        && !l.contains("struct BenchResult")
                        && !l.contains("impl")
                        && !l.contains("->")
                        && !l.starts_with("use ")
                        && !l.starts_with("pub use ")
                        && !l.contains(": BenchResult")
                        && !l.contains(": &BenchResult")
                })
                .map(move |l| format!("{p}: {}", l.trim()))
        })
        .collect();
    assert_eq!(
        sites.len(),
        1,
        "one construction site, in result.rs: {sites:#?}"
    );
    assert!(sites[0].starts_with("src/result.rs"), "{sites:#?}");
}

#[test]
fn metric_names_are_spelled_only_in_the_registry() {
    // Scalars named by a plain word (`ok`, `requests`) are also column labels: only the
    // compound names (`tok_s`, `error_rate`) and `dist.stat` are searched for.
    let mut names: Vec<String> = SCALARS
        .iter()
        .filter(|s| s.name.contains('_'))
        .map(|s| format!("\"{}\"", s.name))
        .collect();
    for d in DISTRIBUTIONS {
        for stat in STATS {
            names.push(format!("\"{}.{stat}\"", d.name));
        }
    }
    let mut bad = Vec::new();
    for (path, text) in src() {
        if path == "src/metrics/metric.rs" {
            continue;
        }
        for line in code_lines(&text) {
            let lookup = line.contains("Metric::dist(\"") || line.contains("Metric::lookup(\"");
            if lookup || names.iter().any(|n| line.contains(n.as_str())) {
                bad.push(format!("{path}: {}", line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "use the registry (metrics/metric.rs): {bad:#?}"
    );
}
