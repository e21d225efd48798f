//! The binary as a user runs it: exit codes, error messages, output files, the embedded
//! simulator as the default target.

use std::process::Command;

fn llmbench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_llmbench"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn plain_run_benchmarks_the_embedded_simulator_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let o = llmbench(&[
        "run",
        "--sim-profile",
        "zero",
        "--runs",
        "3",
        "--max-tokens",
        "8",
        "--stream",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stderr = text(&o.stderr);
    assert!(stderr.contains("built-in simulator"), "{stderr}");
    let stdout = text(&o.stdout);
    assert!(stdout.contains("Runs: 3/3 successful"), "{stdout}");
    assert!(stdout.contains("TTFT"), "{stdout}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["schema"], "llmbench.result.v1");
    assert_eq!(v["tool"]["name"], "llmbench");
    assert_eq!(v["summary"]["requests"]["ok"], 3);
    assert_eq!(v["summary"]["tokens"]["output"], 24);
    assert!(v["summary"]["ttft_ms"]["p50"].is_number());
    assert_eq!(
        v["requests"].as_array().unwrap().len(),
        4,
        "warmup record kept, flagged"
    );
    assert_eq!(v["requests"][0]["warmup"], true);
}

#[test]
fn unreachable_server_exits_2_with_one_line_naming_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let o = llmbench(&["run", "--url", &url, "--model", "m", "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_wrong_flag_exits_2_and_names_it() {
    let o = llmbench(&["run", "--runz", "3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--runz"));
    let o = llmbench(&["run", "--runs", "0", "--sim-profile", "zero"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--runs"));
    let o = llmbench(&["run", "--output", "result.xlsx", "--sim-profile", "zero"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--output"));
}

#[test]
fn help_lists_every_command() {
    let o = llmbench(&["--help"]);
    assert!(o.status.success());
    let h = text(&o.stdout);
    for cmd in ["run", "sim"] {
        assert!(h.contains(cmd), "{h}");
    }
}

#[test]
fn api_key_never_appears_in_output_or_result() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let secret = "sk-secret-do-not-print-1234";
    let o = llmbench(&[
        "run",
        "--sim-profile",
        "zero",
        "--runs",
        "1",
        "--api-key",
        secret,
        "--header",
        "X-Team: bench",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let all = format!(
        "{}{}{}",
        text(&o.stdout),
        text(&o.stderr),
        std::fs::read_to_string(&out).unwrap()
    );
    assert!(!all.contains(secret));
    assert!(all.contains("X-Team"), "header names are recorded");
}

#[test]
fn config_file_supplies_flags() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bench.toml");
    std::fs::write(
        &cfg,
        "runs = 2\nmax_tokens = 5\nsim_profile = \"zero\"\nquiet = true\n",
    )
    .unwrap();
    let o = llmbench(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("Runs: 2/2 successful"));
    assert!(text(&o.stdout).contains("Total tokens: 10"));
}

#[test]
fn sim_serves_on_a_printed_port_and_exits_on_crash() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmbench"))
        .args([
            "sim",
            "--port",
            "0",
            "--profile",
            "zero",
            "--crash-after",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    assert!(!url.ends_with(":0/v1"), "a real port is printed: {url}");
    for _ in 0..2 {
        let _ = llmbench(&[
            "run", "--url", &url, "--runs", "1", "--warmup", "0", "--quiet",
        ]);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(70), "the crash fault exits the process");
}

#[test]
fn the_cli_definition_is_consistent() {
    use clap::CommandFactory;
    llmbench::cli::Cli::command().debug_assert();
}

#[test]
fn cluster_scripts_never_hold_the_api_key() {
    for engine in [&["slurm"][..], &["k8s", "--image", "llmbench:1"][..]] {
        let mut args = vec!["cluster"];
        args.extend_from_slice(engine);
        args.extend([
            "--shards",
            "2",
            "--",
            "throughput",
            "--url",
            "http://127.0.0.1:8000",
            "--seed",
            "1",
            "--api-key",
            "sk-SECRET-123",
        ]);
        let o = llmbench(&args);
        assert_eq!(o.status.code(), Some(2), "{engine:?}");
        assert!(!text(&o.stdout).contains("sk-SECRET-123"));
        assert!(!text(&o.stderr).contains("sk-SECRET-123"));
        assert!(
            text(&o.stderr).contains("leave --api-key out"),
            "{}",
            text(&o.stderr)
        );
    }
    let o = llmbench(&[
        "cluster",
        "k8s",
        "--image",
        "llmbench:1",
        "--api-key-secret",
        "llm-key",
        "--shards",
        "2",
        "--",
        "throughput",
        "--url",
        "http://127.0.0.1:8000",
        "--seed",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let yaml = text(&o.stdout);
    assert!(
        yaml.contains("secretKeyRef:") && yaml.contains("name: \"llm-key\""),
        "{yaml}"
    );
    assert!(yaml.contains("- name: OPENAI_API_KEY"), "{yaml}");
}

#[test]
fn an_unknown_config_key_is_named_as_a_key_not_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "runz = 3\n").unwrap();
    let o = llmbench(&["run", "--config", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("unknown key \"runz\""), "{err}");
}
