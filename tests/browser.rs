//! The HTML report, checked as a person would see it: rendered in headless Chromium, with a
//! screenshot, no console errors, and every chart the page lists present.
//!
//! Needs Chromium (Debian's `chromium`; `.ci/run` installs it). Without it the test says so and
//! passes on a developer machine, but fails when `CI` is set.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{start_sim, sweep_args, timed};
use llmbench::commands::sweep;

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("LLMBENCH_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

/// Load a page headless: (DOM, console messages, screenshot bytes).
fn render(chrome: &Path, page: &Path, dir: &Path) -> (String, Vec<String>, Vec<u8>) {
    let shot = dir.join("shot.png");
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1400,2200",
    ];
    let url = format!("file://{}", page.display());
    let profile = |n: &str| format!("--user-data-dir={}", dir.join(n).display());
    let o = Command::new(chrome)
        .args(base)
        .arg(profile("p1"))
        .args(["--dump-dom", &url])
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    let console: Vec<String> = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_string)
        .collect();
    let s = Command::new(chrome)
        .args(base)
        .arg(profile("p2"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .expect("run chromium");
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    (dom, console, std::fs::read(&shot).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_report_renders_with_every_chart_and_no_console_error() {
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have Chromium (install Debian's chromium)"
        );
        eprintln!("SKIPPED: Chromium not found (set LLMBENCH_CHROMIUM or install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();

    // The console capture works: a page with an error is caught.
    let bad = dir.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><script>console.error('probe-error')</script></body></html>",
    )
    .unwrap();
    let (_, console, _) = render(&chrome, &bad, dir.path());
    assert!(
        console.iter().any(|l| l.contains("probe-error")),
        "console capture: {console:?}"
    );

    // A real run's report.
    let sim = start_sim(timed(20.0, 5.0)).await;
    let page = dir.path().join("sweep.html");
    let args = sweep_args(
        &sim.url(),
        &[
            "--concurrency",
            "1,2,4",
            "--max-tokens",
            "12",
            "--output",
            page.to_str().unwrap(),
        ],
    );
    let r = sweep::execute(&args).await.unwrap();
    let out = llmbench::plan::SweepPlan::from_args(&args)
        .unwrap()
        .common
        .output;
    llmbench::commands::conclude(&r, String::new(), &out).unwrap();
    sim.stop().await;

    let html = std::fs::read_to_string(&page).unwrap();
    for external in ["<script", "<link", "src=\"http", "@import"] {
        assert!(!html.contains(external), "self-contained: found {external}");
    }
    let listed = html
        .split("name=\"llmbench-charts\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let charts: Vec<&str> = listed.split(',').collect();
    for want in [
        "ttft-cdf",
        "e2e-cdf",
        "itl-histogram",
        "throughput-over-time",
        "concurrency-over-time",
        "sweep-aggregate",
        "sweep-per-request",
    ] {
        assert!(charts.contains(&want), "{want} not in {charts:?}");
    }

    let (dom, console, png) = render(&chrome, &page, dir.path());
    assert!(console.is_empty(), "console messages: {console:?}");
    for c in &charts {
        let at = dom
            .find(&format!("data-chart=\"{c}\""))
            .unwrap_or_else(|| panic!("chart {c} missing in the DOM"));
        let figure = &dom[at..dom[at..].find("</figure>").map_or(dom.len(), |e| at + e)];
        assert!(
            figure.contains("<svg") && figure.contains("<text"),
            "chart {c} has no drawing"
        );
    }
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "screenshot of {} bytes",
        png.len()
    );
    let keep = std::env::var_os("LLMBENCH_SCREENSHOT");
    if let Some(path) = keep {
        std::fs::write(path, &png).unwrap();
    }
}
