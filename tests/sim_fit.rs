//! `llmbench sim fit` against known truth: a simulator with known figures is measured by a sweep,
//! the fit must find those figures again, and the profile it writes must serve.

mod common;

use std::process::Command;

use common::{start_sim, sweep_args};
use llmbench::commands::sweep;
use llmbench::sim::fit::{fit, UNREACHED_SEQS};
use llmbench::sim::{Profile, SimConfig};

const EXE: &str = env!("CARGO_BIN_EXE_llmbench");

fn truth() -> SimConfig {
    SimConfig {
        max_num_seqs: 4,
        prefill_base_ms: 4.0,
        prefill_tok_s: 20_000.0,
        max_batched_tokens: 0,
        decode_base_ms: 5.0,
        decode_per_seq_ms: 1.0,
        prefix_caching: false,
        ..SimConfig::profile(Profile::Small)
    }
}

fn near(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want
}

async fn sweep_of(cfg: SimConfig, levels: &str) -> llmbench::result::BenchResult {
    let sim = start_sim(cfg).await;
    let args = sweep_args(
        &sim.url(),
        &[
            "--concurrency",
            levels,
            "--runs",
            "12",
            "--dataset",
            "random",
            "--input-tokens",
            "500",
            "--input-stddev",
            "250",
            "--max-tokens",
            "32",
            "--ignore-eos",
            "--seed",
            "3",
        ],
    );
    let r = sweep::execute(&args).await.unwrap();
    sim.stop().await;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fit_finds_the_figures_of_a_known_server() {
    let r = sweep_of(truth(), "1,2,4,8").await;
    let f = fit(std::slice::from_ref(&r), None).unwrap();
    let p = &f.profile;
    let d = f.describe();
    eprintln!("{d}");
    assert!(f.limit_reached, "level 8 queued behind 4 slots: {d}");
    assert_eq!(p.max_num_seqs, Some(4), "{d}");
    assert!(near(p.decode_base_ms.unwrap(), 5.0, 0.25), "{d}");
    assert!(near(p.decode_per_seq_ms.unwrap(), 1.0, 0.35), "{d}");
    assert!(near(p.prefill_tok_s.unwrap(), 20_000.0, 0.35), "{d}");
    assert!(
        p.prefill_base_ms.unwrap() < 8.0,
        "4 ms and the client's own time: {d}"
    );
    assert_eq!(p.tokens_per_chunk, Some(1));
    assert_eq!(p.prefix_caching, Some(false));
    assert_eq!(p.eos_prob, Some(0.0), "--ignore-eos: no early stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_never_reached_is_said_and_the_written_profile_serves() {
    let r = sweep_of(truth(), "1,2").await;
    let dir = tempfile::tempdir().unwrap();
    let result = dir.path().join("sweep.json");
    std::fs::write(&result, serde_json::to_vec(&r).unwrap()).unwrap();
    let profile = dir.path().join("server.toml");
    let o = Command::new(EXE)
        .args(["sim", "fit", result.to_str().unwrap(), "-o"])
        .arg(&profile)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("was not reached"), "{err}");
    let text = std::fs::read_to_string(&profile).unwrap();
    assert!(text.starts_with("# llmbench simulator profile"), "{text}");
    assert!(
        text.contains(&format!("max_num_seqs = {UNREACHED_SEQS}")),
        "{text}"
    );
    // The profile serves in-process: one request, the simulator named by its file.
    let out = dir.path().join("run.json");
    let o = Command::new(EXE)
        .args(["run", "--runs", "2", "--max-tokens", "8", "-q"])
        .arg("--sim-profile-file")
        .arg(&profile)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = llmbench::result::read(&out).unwrap();
    assert_eq!(run.summary.requests.ok, 2);
    assert!(
        run.target
            .simulator
            .as_deref()
            .is_some_and(|s| s.contains("server.toml")),
        "{:?}",
        run.target.simulator
    );
    // A profile with a wrong key is refused before anything runs, naming the key.
    std::fs::write(&profile, "decode_base = 3\n").unwrap();
    let o = Command::new(EXE)
        .args(["sim", "--port", "0", "--profile-file"])
        .arg(&profile)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("decode_base"), "{err}");
}

#[test]
fn results_without_streamed_records_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.json");
    let o = Command::new(EXE)
        .args([
            "run",
            "--runs",
            "2",
            "--max-tokens",
            "4",
            "--no-stream",
            "-q",
        ])
        .args(["--sim-profile", "zero", "-o"])
        .arg(&whole)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(EXE)
        .args(["sim", "fit"])
        .arg(&whole)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("streamed"), "{err}");
}

/// A server whose steps vary (0.8 to 1.2 times the line, evenly) and which counts prompt tokens
/// with cl100k, measured in virtual time (exact, on any machine): the fit finds the spread and
/// the line again, and the profile it writes with --tokenizer counts prompts as that server did.
#[test]
fn the_fit_finds_a_known_servers_step_spread_and_keeps_its_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let spread: Vec<f64> = (0..=20).map(|i| 0.8 + 0.02 * i as f64).collect();
    let truth = dir.path().join("truth.toml");
    std::fs::write(
        &truth,
        format!(
            "max_num_seqs = 4\ndecode_base_ms = 5.0\ndecode_per_seq_ms = 1.0\n\
             prefill_base_ms = 4.0\nprefill_tok_s = 20000.0\nmax_batched_tokens = 0\n\
             prefix_caching = false\ntokenizer = \"cl100k_base\"\nstep_jitter = {spread:?}\n"
        ),
    )
    .unwrap();
    let measure = |profile: &std::path::Path, name: &str| {
        let out = dir.path().join(name);
        let o = Command::new(EXE)
            .args([
                "sweep",
                "--virtual-time",
                "--concurrency",
                "1,2,4",
                "--runs",
                "12",
            ])
            .args([
                "--dataset",
                "random",
                "--input-tokens",
                "100",
                "--input-stddev",
                "0",
            ])
            .args(["--max-tokens", "32", "--ignore-eos", "--seed", "3", "-q"])
            .arg("--sim-profile-file")
            .arg(profile)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (out.clone(), llmbench::result::read(&out).unwrap())
    };
    let (result, r) = measure(&truth, "truth.json");
    // Prompts of exactly 100 cl100k tokens in one message (3 more): counted as the server does.
    assert!(
        r.requests.iter().all(|q| q.prompt_tokens == Some(103)),
        "{:?}",
        r.requests
            .iter()
            .map(|q| q.prompt_tokens)
            .collect::<Vec<_>>()
    );
    let f = fit(std::slice::from_ref(&r), None).unwrap();
    let d = f.describe();
    let got = f.profile.step_jitter.clone().expect("a spread");
    for (g, want) in got.iter().zip(&spread) {
        assert!((g - want).abs() <= 0.025, "{got:?} against {spread:?}");
    }
    assert!(near(f.profile.decode_base_ms.unwrap(), 5.0, 0.05), "{d}");
    assert!(near(f.profile.decode_per_seq_ms.unwrap(), 1.0, 0.1), "{d}");
    assert!(!f.limit_reached, "4 users never queued behind 4 slots: {d}");
    // A wave's users send at one instant: only concurrency 1's requests were prefilled alone,
    // and their prefill is 4 ms + 103 tokens at 20,000 a second, beyond the median step.
    assert_eq!(f.prefill_samples, 12, "{d}");
    let prefill = f.profile.prefill_base_ms.unwrap();
    assert!((prefill - 9.15).abs() < 0.5, "{prefill}: {d}");

    // Written with --tokenizer, the profile counts prompts as the server did.
    let fitted = dir.path().join("fitted.toml");
    let o = Command::new(EXE)
        .args(["sim", "fit", "--tokenizer", "cl100k_base", "-q", "-o"])
        .arg(&fitted)
        .arg(&result)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&fitted).unwrap();
    assert!(text.contains("tokenizer = \"cl100k_base\""), "{text}");
    let (_, again) = measure(&fitted, "again.json");
    assert!(again.requests.iter().all(|q| q.prompt_tokens == Some(103)));
}
