//! Workloads: exact prompt lengths the server agrees with, reproducible requests, shared
//! prefixes that a prefix cache rewards, multi-turn histories, dataset files, and tokenizer
//! counts when a server reports no usage.

mod common;

use common::{run_args, start_sim, timed, zero};
use llmbench::commands::run;
use llmbench::protocol::Api;
use llmbench::record::TokenSource;
use llmbench::sim::{Profile, SimConfig};
use llmbench::workload::{BodyOptions, DatasetSpec, Workload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_prompts_have_the_asked_length_and_the_server_agrees() {
    let mut cfg = zero();
    cfg.tokenizer = Some("cl100k_base".into());
    let sim = start_sim(cfg).await;
    let args = run_args(
        &sim.url(),
        &[
            "--api",
            "completions",
            "--dataset",
            "random",
            "--input-tokens",
            "200",
            "--input-stddev",
            "30",
            "--seed",
            "3",
            "--runs",
            "40",
            "--max-tokens",
            "4",
        ],
    );
    let r = run::execute(&args).await.unwrap();
    let spec = DatasetSpec {
        dataset: "random".into(),
        input_tokens: 200.0,
        input_stddev: 30.0,
        seed: Some(3),
        ..Default::default()
    };
    let opts = BodyOptions {
        api: Api::Completions,
        model: String::new(),
        max_tokens: 4,
        stream: false,
        temperature: None,
        ignore_eos: false,
        include_usage: true,
        options: Default::default(),
    };
    let w = Workload::build(&spec, opts).unwrap();
    let tok = w.tokenizer.clone().unwrap();
    let mut distinct = std::collections::BTreeSet::new();
    for rec in &r.requests {
        let want = tok.count(&w.prompt(rec.id)) as u64;
        assert_eq!(rec.prompt_tokens, Some(want), "request {}", rec.id);
        distinct.insert(want);
    }
    assert!(
        distinct.len() > 10,
        "lengths vary with --input-stddev: {distinct:?}"
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_sends_the_same_bytes_and_another_seed_others() {
    let sim = start_sim(zero()).await;
    let hash = |seed: &'static str| {
        let url = sim.url();
        async move {
            let a = run_args(
                &url,
                &[
                    "--dataset",
                    "random",
                    "--input-tokens",
                    "50",
                    "--seed",
                    seed,
                    "--runs",
                    "5",
                    "--max-tokens",
                    "2",
                ],
            );
            let r = run::execute(&a).await.unwrap();
            r.config["dataset"]["requests_hash"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (a, b, c) = (hash("11").await, hash("11").await, hash("12").await);
    assert_eq!(a, b);
    assert_ne!(a, c);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_prefixes_are_faster_with_prefix_caching() {
    let mut ttft = Vec::new();
    for caching in [false, true] {
        let mut cfg = SimConfig::profile(Profile::Small);
        cfg.prefix_caching = caching;
        let sim = start_sim(cfg).await;
        let args = run_args(
            &sim.url(),
            &[
                "--stream",
                "--dataset",
                "shared-prefix",
                "--prefix-tokens",
                "1000",
                "--prefix-groups",
                "2",
                "--input-tokens",
                "32",
                "--runs",
                "10",
                "--warmup",
                "2",
                "--max-tokens",
                "4",
                "--seed",
                "1",
            ],
        );
        let r = run::execute(&args).await.unwrap();
        assert_eq!(r.summary.requests.ok, 10);
        if caching {
            assert!(
                r.summary.tokens.cached > 5_000,
                "cached prompt tokens reported: {}",
                r.summary.tokens.cached
            );
        } else {
            assert_eq!(r.summary.tokens.cached, 0);
        }
        ttft.push(r.summary.ttft_ms.unwrap().p50);
        sim.stop().await;
    }
    assert!(
        ttft[1] < ttft[0] / 3.0,
        "TTFT p50 without caching {} ms, with {} ms",
        ttft[0],
        ttft[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_turn_requests_carry_the_growing_history() {
    let sim = start_sim(zero()).await;
    let args = run_args(
        &sim.url(),
        &[
            "--dataset",
            "multi-turn",
            "--turns",
            "3",
            "--input-tokens",
            "40",
            "--output-tokens",
            "20",
            "--runs",
            "6",
            "--warmup",
            "0",
            "--max-tokens",
            "5",
        ],
    );
    let r = run::execute(&args).await.unwrap();
    let p: Vec<u64> = r
        .requests
        .iter()
        .map(|x| x.prompt_tokens.unwrap())
        .collect();
    assert!(p[0] < p[1] && p[1] < p[2], "{p:?}");
    assert!(p[3] < p[2], "a new conversation starts short: {p:?}");
    assert!(
        r.requests.iter().all(|x| x.output_tokens == Some(20)),
        "--output-tokens sets max_tokens"
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dataset_files_set_prompts_and_output_lengths() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("reqs.jsonl");
    std::fs::write(&f, "{\"prompt\": \"Say hi\", \"max_tokens\": 3}\n{\"messages\": [{\"role\": \"user\", \"content\": \"Count to five\"}], \"max_tokens\": 7}\n{\"prompt\": \"Default length\"}\n").unwrap();
    let sim = start_sim(zero()).await;
    let args = run_args(
        &sim.url(),
        &[
            "--dataset",
            f.to_str().unwrap(),
            "--runs",
            "3",
            "--warmup",
            "0",
            "--max-tokens",
            "11",
        ],
    );
    let r = run::execute(&args).await.unwrap();
    let out: Vec<u64> = r
        .requests
        .iter()
        .map(|x| x.output_tokens.unwrap())
        .collect();
    assert_eq!(out, vec![3, 7, 11]);
    assert_eq!(r.config["dataset"]["params"]["entries"], 3);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_usage_a_tokenizer_counts_the_output() {
    let sim = start_sim(timed(5.0, 1.0)).await;
    let args = run_args(
        &sim.url(),
        &[
            "--stream",
            "--no-include-usage",
            "--tokenizer",
            "cl100k_base",
            "--runs",
            "3",
            "--max-tokens",
            "40",
        ],
    );
    let r = run::execute(&args).await.unwrap();
    for rec in r.requests.iter().filter(|x| !x.warmup) {
        assert_eq!(rec.token_source, TokenSource::Tokenizer);
        let n = rec.output_tokens.unwrap();
        assert!(
            (30..=45).contains(&n),
            "{n} tokens counted for 40 generated"
        );
    }
    assert_eq!(r.summary.tokens.source, "tokenizer");
    sim.stop().await;
}

#[test]
fn a_broken_dataset_file_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.jsonl");
    std::fs::write(&f, "{\"prompt\": \"ok\"}\n{\"prompt\": 42}\n").unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_llmbench"))
        .args([
            "run",
            "--sim-profile",
            "zero",
            "--dataset",
            f.to_str().unwrap(),
            "-q",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.jsonl:2") && err.contains("prompt must be a string"),
        "{err}"
    );
}
