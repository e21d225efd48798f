//! Scale-out: shards of one plan, as separate processes, merge into what one client would have
//! measured; merge refuses parts of different plans; the Slurm and Kubernetes generators.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{run_args, start_sim, zero};
use llmbench::commands::run;
use llmbench::report::{self, BenchResult};
use llmbench::shard::ShardInfo;
use llmbench::verdict::merge;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_llmbench"))
}

/// A simulator in its own process, shared by every shard.
fn sim_process(args: &[&str]) -> (Child, String) {
    llmbench::sim::spawn_child(Path::new(env!("CARGO_BIN_EXE_llmbench")), args).unwrap()
}

fn split(r: &BenchResult, n: u32) -> Vec<(PathBuf, BenchResult)> {
    (0..n)
        .map(|i| {
            let mut part = r.clone();
            part.requests.retain(|q| q.id % n as u64 == i as u64);
            part.shard = Some(ShardInfo {
                index: i,
                count: n,
                source: "test".into(),
                plan_id: "plan:1".into(),
                start_at: None,
                start_lag_ms: Some(i as f64),
            });
            (PathBuf::from(format!("shard-{i}.json")), part)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merging_shards_gives_the_single_process_statistics_and_refuses_foreign_parts() {
    let sim = start_sim(zero()).await;
    let r = run::execute(&run_args(
        &sim.url(),
        &["--stream", "--runs", "30", "-c", "3", "--max-tokens", "6"],
    ))
    .await
    .unwrap();
    sim.stop().await;

    let (merged, warnings) = merge::merge(parts(split(&r, 3))).unwrap();
    assert_eq!(
        merged.summary, r.summary,
        "recomputed from the union, never averaged"
    );
    assert_eq!(merged.requests, r.requests);
    assert!(
        warnings.iter().any(|w| w.contains("spread 2.0 ms")),
        "{warnings:?}"
    );

    let mut mixed = split(&r, 3);
    mixed[1].1.shard.as_mut().unwrap().plan_id = "plan:2".into();
    let e = merge::merge(parts(mixed)).unwrap_err().to_string();
    assert!(e.contains("shard-1.json") && e.contains("plan:2"), "{e}");

    let mut dup = split(&r, 3);
    dup[2].1.shard.as_mut().unwrap().index = 0;
    let e = merge::merge(parts(dup)).unwrap_err().to_string();
    assert!(e.contains("shard-2.json") && e.contains("shard 0"), "{e}");

    let mut missing = split(&r, 3);
    missing.pop();
    let e = merge::merge(parts(missing)).unwrap_err().to_string();
    assert!(e.contains("[2]") && e.contains("missing"), "{e}");

    let mut plain = split(&r, 3);
    plain[0].1.shard = None;
    assert!(merge::merge(parts(plain))
        .unwrap_err()
        .to_string()
        .contains("not a shard result"));
}

fn read(p: &Path) -> BenchResult {
    report::read(p).unwrap()
}

#[test]
fn four_shard_processes_measure_what_one_process_measures() {
    let dir = tempfile::tempdir().unwrap();
    // No prefix cache: the single-process rerun of the same seeded plan must meet a cold server.
    let (mut sim, url) = sim_process(&[
        "--profile",
        "small",
        "--decode-base-ms",
        "5",
        "--no-prefix-caching",
    ]);
    let plan = [
        "throughput",
        "--url",
        &url,
        "--rate",
        "40",
        "--duration",
        "3s",
        "--seed",
        "9",
        "--max-tokens",
        "16",
        "--arrival",
        "poisson",
        "-q",
    ];
    // The shards, started at once, all wait for the same instant.
    let shards: Vec<Child> = (0..4)
        .map(|i| {
            let out = dir.path().join(format!("shard-{i}.jsonl"));
            bin()
                .args(plan)
                .args([
                    "--shard",
                    &format!("{i}/4"),
                    "--start-at",
                    "+3s",
                    "--output",
                    out.to_str().unwrap(),
                ])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in shards {
        assert!(c.wait().unwrap().success());
    }
    let files: Vec<String> = (0..4)
        .map(|i| {
            dir.path()
                .join(format!("shard-{i}.jsonl"))
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let merged_path = dir.path().join("merged.json");
    let mut margs = vec!["merge".to_string()];
    margs.extend(files.iter().cloned());
    margs.extend([
        "--output".into(),
        merged_path.to_str().unwrap().into(),
        "--target".into(),
        "error_rate<1%".into(),
    ]);
    let o = bin().args(&margs).output().unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let merged = read(&merged_path);

    // The same plan in one process.
    let single_path = dir.path().join("single.json");
    let o = bin()
        .args(plan)
        .args(["--output", single_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    let single = read(&single_path);
    let _ = sim.kill();
    let _ = sim.wait();

    let sched = |r: &BenchResult| {
        r.requests
            .iter()
            .map(|q| (q.id, q.scheduled_ns))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sched(&merged),
        sched(&single),
        "the union of the parts is the plan, exactly"
    );
    let (m, s) = (&merged.summary, &single.summary);
    assert_eq!(m.requests.total, s.requests.total);
    assert_eq!(m.requests.ok, s.requests.ok);
    let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol * b;
    assert!(close(
        m.throughput.sent_req_s.unwrap(),
        s.throughput.sent_req_s.unwrap(),
        0.05
    ));
    assert!(close(
        m.throughput.output_tok_s,
        s.throughput.output_tok_s,
        0.10
    ));
    let (mt, st) = (m.ttft_ms.as_ref().unwrap(), s.ttft_ms.as_ref().unwrap());
    assert!(
        close(mt.p50, st.p50, 0.25),
        "TTFT p50 merged {} vs single {}",
        mt.p50,
        st.p50
    );
    assert!(close(
        m.e2e_ms.as_ref().unwrap().p50,
        s.e2e_ms.as_ref().unwrap().p50,
        0.25
    ));
    let shards = merged.config["merged_shards"].as_array().unwrap();
    assert_eq!(shards.len(), 4);
    for s in shards {
        let lag = s["shard"]["start_lag_ms"].as_f64().unwrap();
        assert!(lag < 100.0, "a shard woke up {lag} ms late");
    }
}

#[test]
fn a_sharded_closed_loop_run_splits_requests_and_users() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sim, url) = sim_process(&["--profile", "zero"]);
    let mut ids = Vec::new();
    for i in 0..3 {
        let out = dir.path().join(format!("r{i}.json"));
        let o = bin()
            .args([
                "run",
                "--url",
                &url,
                "--runs",
                "10",
                "--warmup",
                "2",
                "-c",
                "4",
                "--seed",
                "1",
                "--max-tokens",
                "3",
                "-q",
            ])
            .args([
                "--shard",
                &format!("{i}/3"),
                "--output",
                out.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r = read(&out);
        assert_eq!(r.shard.as_ref().unwrap().source, "--shard");
        ids.extend(r.requests.iter().map(|q| q.id));
    }
    let _ = sim.kill();
    let _ = sim.wait();
    ids.sort();
    assert_eq!(ids, (0..12).collect::<Vec<u64>>());
    let o = bin().args(["run", "--stress-nope"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = bin()
        .args(["stress", "--shard", "0/2", "--sim-profile", "zero", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("single-process"));
    let o = bin()
        .args(["run", "--shard", "0/2", "--sim-profile", "zero", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--seed"));
}

#[test]
fn the_index_comes_from_the_engines_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sim, url) = sim_process(&["--profile", "zero"]);
    for (vars, source) in [
        (
            vec![
                ("SLURM_ARRAY_TASK_ID", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "2"),
            ],
            "SLURM_ARRAY_TASK_ID",
        ),
        (
            vec![("JOB_COMPLETION_INDEX", "1"), ("LLMBENCH_SHARDS", "2")],
            "JOB_COMPLETION_INDEX",
        ),
        (
            vec![("SLURM_PROCID", "1"), ("SLURM_NTASKS", "2")],
            "SLURM_PROCID",
        ),
    ] {
        let out = dir.path().join("e.json");
        let o = bin()
            .args([
                "run",
                "--url",
                &url,
                "--runs",
                "4",
                "--warmup",
                "0",
                "--seed",
                "1",
                "--max-tokens",
                "2",
                "-q",
                "--output",
                out.to_str().unwrap(),
            ])
            .envs(vars)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r = read(&out);
        let s = r.shard.unwrap();
        assert_eq!((s.index, s.count, s.source.as_str()), (1, 2, source));
        assert_eq!(
            r.requests.iter().map(|q| q.id).collect::<Vec<_>>(),
            vec![1, 3]
        );
    }
    let _ = sim.kill();
    let _ = sim.wait();
}

#[test]
fn cluster_generators_print_a_slurm_script_and_a_kubernetes_job() {
    let o = bin()
        .args([
            "cluster",
            "slurm",
            "--shards",
            "4",
            "--results",
            "/shared/bench",
            "--",
            "throughput",
            "--url",
            "http://10.0.0.5:8000",
            "--rate",
            "200",
            "--duration",
            "60s",
            "--seed",
            "7",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let script = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        script.contains("--array=0-3")
            && script.contains("--dependency=afterok:$ARRAY")
            && script.contains("merge")
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("submit.sh");
    std::fs::write(&f, &script).unwrap();
    let syntax = Command::new("bash")
        .args(["-n", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        syntax.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );

    let o = bin()
        .args([
            "cluster",
            "k8s",
            "--shards",
            "4",
            "--image",
            "ghcr.io/example/llmbench:0.1",
            "--start-at",
            "2030-01-01T00:00:00Z",
            "--",
            "throughput",
            "--url",
            "http://vllm:8000",
            "--rate",
            "200",
            "--duration",
            "60s",
            "--seed",
            "7",
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    let yaml = String::from_utf8_lossy(&o.stdout).to_string();
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/k8s-job.yaml");
    if std::env::var_os("LLMBENCH_BLESS").is_some() {
        std::fs::write(&golden, &yaml).unwrap();
    }
    assert_eq!(
        yaml,
        std::fs::read_to_string(&golden).unwrap(),
        "tests/golden/k8s-job.yaml (LLMBENCH_BLESS=1 rewrites it)"
    );
    for must in [
        "completionMode: Indexed",
        "backoffLimitPerIndex: 0",
        "action: FailJob",
        "operator: NotIn",
        "restartPolicy: Never",
        "$(JOB_COMPLETION_INDEX)",
    ] {
        assert!(yaml.contains(must), "{must}");
    }

    for bad in [
        vec!["stress", "--url", "u", "--seed", "1"],
        vec!["throughput", "--url", "u"],
        vec!["run", "--seed", "1"],
        vec!["run", "--url", "u", "--seed", "1", "--output", "x.json"],
    ] {
        let o = bin()
            .args(["cluster", "slurm", "--shards", "2", "--"])
            .args(&bad)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
}

fn parts(v: Vec<(std::path::PathBuf, BenchResult)>) -> Vec<merge::Part> {
    v.into_iter()
        .map(|(path, result)| merge::Part {
            path,
            result,
            truncated: false,
        })
        .collect()
}
