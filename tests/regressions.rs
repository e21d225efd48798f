//! One test per wrong behaviour found by trying the tool as a new user would (issue 13's
//! numbered list): each failed before the redesign of results, verdicts and the metric registry.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn llmbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_llmbench"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A zero-delay simulator in its own process (shards of one plan share one target URL).
struct Sim(std::process::Child, String);

impl Sim {
    fn start() -> Sim {
        let (c, url) = llmbench::sim::spawn_child(
            Path::new(env!("CARGO_BIN_EXE_llmbench")),
            &["--profile", "zero"],
        )
        .unwrap();
        Sim(c, url)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `llmbench run` against the zero-delay embedded simulator, written to `dir/name`.
fn run_result(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let mut args = vec!["run", "--sim-profile", "zero", "-q", "--max-tokens", "8"];
    args.extend_from_slice(extra);
    args.extend(["-o", out.to_str().unwrap()]);
    let o = llmbench(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    out
}

#[test]
fn check_fails_when_half_the_requests_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let base = run_result(dir.path(), "base.json", &["--runs", "8"]);
    let cur = run_result(dir.path(), "cur.json", &["--runs", "4"]);
    let o = llmbench(&[
        "check",
        "--baseline",
        base.to_str().unwrap(),
        cur.to_str().unwrap(),
    ]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let ok_row = out
        .lines()
        .find(|l| l.trim_start().starts_with("ok "))
        .unwrap();
    assert!(ok_row.contains(" FAIL "), "{ok_row}");
}

#[test]
fn check_fails_when_the_current_result_lacks_a_metric_of_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let base = run_result(dir.path(), "base.json", &["--runs", "4", "--stream"]);
    let cur = run_result(dir.path(), "cur.json", &["--runs", "4", "--no-stream"]);
    let o = llmbench(&[
        "check",
        "--baseline",
        base.to_str().unwrap(),
        cur.to_str().unwrap(),
    ]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("ttft.p95") && out.contains("missing"), "{out}");
    assert!(
        text(&o.stderr).contains("stream: true vs false"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn check_tolerates_error_rate_in_points_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let base = run_result(dir.path(), "base.json", &["--runs", "4"]);
    let o = llmbench(&[
        "check",
        "--baseline",
        base.to_str().unwrap(),
        base.to_str().unwrap(),
        "--metric",
        "error_rate",
        "--error-rate-tolerance",
        "2pp",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("2.0 pp"), "{}", text(&o.stdout));
    let tol = dir.path().join("t.toml");
    std::fs::write(&tol, "[metrics]\nerror_rate = \"2%\"\n").unwrap();
    let o = llmbench(&[
        "check",
        "--baseline",
        base.to_str().unwrap(),
        base.to_str().unwrap(),
        "--tolerances",
        tol.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("percentage points"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn compare_warns_about_different_settings_and_strict_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let a = run_result(dir.path(), "a.json", &["--runs", "4"]);
    let b = run_result(dir.path(), "b.json", &["--runs", "4", "--max-tokens", "12"]);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let o = llmbench(&["compare", a, b]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("max_tokens: 8 vs 12"),
        "{}",
        text(&o.stderr)
    );
    let o = llmbench(&["compare", a, b, "--strict"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let o = llmbench(&["check", "--baseline", a, b, "--strict"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}

#[test]
fn compare_of_sweeps_goes_level_by_level() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.json");
    let o = llmbench(&[
        "sweep",
        "--sim-profile",
        "zero",
        "-q",
        "--concurrency",
        "1,2",
        "--max-tokens",
        "8",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let s = out.to_str().unwrap();
    let o = llmbench(&["compare", s, s]);
    let table = text(&o.stdout);
    assert!(table.contains("concurrency 1: ttft.p50"), "{table}");
    assert!(table.contains("concurrency 2: tok_s"), "{table}");
    assert!(
        !table.lines().any(|l| l.trim_start().starts_with("ttft.")),
        "pooled rows: {table}"
    );
}

#[test]
fn a_shard_result_rendered_as_jsonl_keeps_its_identity_for_merge() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start();
    let mut jsonl = Vec::new();
    for i in 0..2 {
        let shard = format!("{i}/2");
        let json = run_result(
            dir.path(),
            &format!("shard{i}.json"),
            &[
                "--runs", "4", "--seed", "3", "--shard", &shard, "--url", &sim.1,
            ],
        );
        let l = dir.path().join(format!("shard{i}.jsonl"));
        let o = llmbench(&["report", json.to_str().unwrap(), "-o", l.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        jsonl.push(l.to_str().unwrap().to_string());
    }
    let o = llmbench(&["merge", &jsonl[0], &jsonl[1]]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("4 requests"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn merge_says_a_shard_file_was_cut() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::start();
    let mut files = Vec::new();
    for i in 0..2 {
        let shard = format!("{i}/2");
        let l = dir.path().join(format!("s{i}.jsonl"));
        let o = llmbench(&[
            "run",
            "--url",
            &sim.1,
            "-q",
            "--max-tokens",
            "8",
            "--runs",
            "6",
            "--seed",
            "3",
            "--shard",
            &shard,
            "-o",
            l.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        files.push(l);
    }
    let cut = std::fs::read_to_string(&files[1]).unwrap();
    std::fs::write(&files[1], &cut[..cut.len() - 20]).unwrap();
    let o = llmbench(&[
        "merge",
        files[0].to_str().unwrap(),
        files[1].to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("s1.jsonl: shard 1/2, 2 records (truncated)"),
        "{err}"
    );
    assert!(err.contains("the last line was cut"), "{err}");
}

#[test]
fn a_missing_dataset_is_reported_before_an_unreachable_server() {
    let o = llmbench(&[
        "run",
        "--url",
        "http://127.0.0.1:9",
        "--dataset",
        "/nonexistent/missing.jsonl",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("missing.jsonl"), "{err}");
    assert!(!err.contains("cannot reach"), "{err}");
}

#[test]
fn config_after_double_dash_belongs_to_the_sharded_command() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.toml");
    std::fs::write(&c, "rate = 5\n").unwrap();
    let o = llmbench(&[
        "cluster",
        "slurm",
        "--shards",
        "2",
        "--",
        "throughput",
        "--url",
        "http://127.0.0.1:8000",
        "--seed",
        "1",
        "--config",
        c.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("--config"), "{}", text(&o.stdout));
}

#[test]
fn absurd_inputs_are_refused() {
    let o = llmbench(&["run", "--temperature", "nan"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--temperature"),
        "{}",
        text(&o.stderr)
    );
    let o = llmbench(&["stress", "--start-rate", "50", "--max-rate", "10"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--max-rate"),
        "{}",
        text(&o.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.toml");
    std::fs::write(&c, "[oops]\nx = 1\n").unwrap();
    let o = llmbench(&["run", "--config", c.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("unknown table [oops]"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn ctrl_c_during_a_suite_stops_the_remaining_tiers_and_exits_130() {
    let child = Command::new(env!("CARGO_BIN_EXE_llmbench"))
        .args([
            "suite",
            "--max-tokens",
            "200",
            "--runs",
            "3",
            "--warmup",
            "0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let o = child.wait_with_output().unwrap();
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(130), "{out}\n{}", text(&o.stderr));
    assert!(!out.contains("Tier: large"), "a later tier ran: {out}");
}

#[test]
fn a_ttft_ab_result_rendered_again_has_the_same_summary() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let o = llmbench(&[
        "ttft",
        "--sim-profile",
        "zero",
        "-q",
        "--samples",
        "5",
        "--warmup",
        "0",
        "--max-tokens",
        "4",
        "--baseline-cmd",
        "true",
        "--treatment-cmd",
        "true",
        "-o",
        &p("t.json"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = llmbench(&["report", &p("t.json"), "-o", &p("t.jsonl")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o = llmbench(&["report", &p("t.jsonl"), "-o", &p("again.json")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let read = |n: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p(n)).unwrap()).unwrap()
    };
    let (first, again) = (read("t.json"), read("again.json"));
    assert_eq!(first["summary"]["requests"]["total"], 10, "both arms");
    assert_eq!(first["summary"], again["summary"]);
    assert_eq!(first["levels"][1]["summary"]["requests"]["total"], 5);
    assert!(first["intervals"]["rows"]
        .as_array()
        .is_some_and(|r| r.len() == 4));
}
