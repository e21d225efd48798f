//! Every writer fed from one real result; the JSONL record file survives a killed run and
//! renders again; the committed JSON Schema is current.

mod common;

use std::process::Command;

use common::{run_args, start_sim, timed};
use llmbench::commands::run;

fn bin(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_llmbench"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_is_written_from_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let sim = start_sim(timed(20.0, 5.0)).await;
    let args = run_args(
        &sim.url(),
        &[
            "--stream",
            "--runs",
            "6",
            "--max-tokens",
            "10",
            "-o",
            &p("r.json"),
            "-o",
            &p("r.md"),
            "-o",
            &p("r.csv"),
            "-o",
            &p("r.html"),
            "-o",
            &p("r.jsonl"),
        ],
    );
    let r = run::execute(&args).await.unwrap();
    let out = llmbench::plan::RunPlan::from_args(&args)
        .unwrap()
        .common
        .output;
    llmbench::commands::conclude(&r, String::new(), &out).unwrap();
    sim.stop().await;

    let md = std::fs::read_to_string(p("r.md")).unwrap();
    assert!(
        md.contains("## Latency") && md.contains("| TTFT | 6 |"),
        "{md}"
    );
    let csv = std::fs::read_to_string(p("r.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 7, "header + 6 requests + 1 warmup");
    assert!(csv.lines().nth(2).unwrap().contains(",usage,length,"));
    let ts = std::fs::read_to_string(p("r.timeseries.csv")).unwrap();
    assert!(ts.starts_with("t_s,started,completed"));
    let html = std::fs::read_to_string(p("r.html")).unwrap();
    assert!(html.contains("data-chart=\"ttft-cdf\"") && html.contains("<svg"));
    let jsonl = std::fs::read_to_string(p("r.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 1 + 7, "header + every record");

    // The JSONL renders to the same figures as the JSON result.
    let from_jsonl = llmbench::report::read(std::path::Path::new(&p("r.jsonl"))).unwrap();
    assert_eq!(from_jsonl.summary, r.summary);

    // `report` renders a saved result again.
    let o = bin(&[
        "report",
        &p("r.json"),
        "--html",
        &p("again.html"),
        "--md",
        &p("again.md"),
        "--csv",
        &p("csvdir"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(p("again.md")).unwrap(), md);
    assert!(dir.path().join("csvdir/requests.csv").is_file());
    assert!(dir.path().join("csvdir/timeseries.csv").is_file());
}

#[test]
fn a_killed_run_keeps_its_records_in_the_jsonl_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmbench"))
        .args([
            "throughput",
            "--rate",
            "20",
            "--duration",
            "60s",
            "--max-tokens",
            "10",
            "-q",
            "-o",
            out.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let json = dir.path().join("rebuilt.json");
    let o = bin(&[
        "report",
        out.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let n = v["summary"]["requests"]["ok"].as_u64().unwrap();
    assert!(n >= 25, "{n} requests survived the kill");
    assert_eq!(v["command"], "throughput");
}

#[test]
fn a_broken_record_file_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.jsonl");
    std::fs::write(&f, "{\"schema\":\"llmbench.records.v1\"}\n{\"id\":1,\"sent_ns\":0,\"done_ns\":5,\"token_source\":\"usage\"}\nnot json\n{\"id\":2,\"sent_ns\":0,\"done_ns\":5,\"token_source\":\"usage\"}\n").unwrap();
    let o = bin(&[
        "report",
        f.to_str().unwrap(),
        "--md",
        dir.path().join("x.md").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bad.jsonl:3"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn the_committed_json_schema_is_current() {
    let o = bin(&["schema"]);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/result.schema.json"
    ))
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        committed.trim(),
        "docs/result.schema.json is stale: run `llmbench schema > docs/result.schema.json`"
    );
}
