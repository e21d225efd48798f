//! A/B by level (`sweep` and `throughput` with `--compare-url` or `--baseline-cmd` /
//! `--treatment-cmd`): each level runs on both arms, each server receives exactly its arm's
//! requests (its own counter), the order alternates by level, and seed 003's table follows:
//! a server without batching against one with it.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use llmbench::commands::{sweep, throughput};
use llmbench::result::BenchResult;
use llmbench::sim::SimConfig;

fn received(s: &llmbench::sim::SimHandle) -> u64 {
    s.stats.requests_received.load(Ordering::Relaxed)
}

/// Records (warmup included) of one arm, over every level.
fn arm_records(r: &BenchResult, arm: &str) -> usize {
    r.requests
        .iter()
        .filter(|x| {
            x.level
                .and_then(|l| r.levels.get(l as usize))
                .and_then(|l| l.params.arm.as_deref())
                == Some(arm)
        })
        .count()
}

fn first_sent(r: &BenchResult, level: u32) -> u64 {
    r.requests
        .iter()
        .filter(|x| x.level == Some(level))
        .map(|x| x.sent_ns)
        .min()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_ab_runs_each_level_on_both_servers_and_finds_what_batching_buys() {
    let unbatched = start_sim(SimConfig {
        max_num_seqs: 1,
        ..timed(20.0, 4.0)
    })
    .await;
    let batched = start_sim(timed(20.0, 4.0)).await;
    let args = sweep_args(
        &unbatched.url(),
        &[
            "--concurrency",
            "1,4",
            "--runs",
            "24",
            "--warmup",
            "1",
            "--max-tokens",
            "8",
            "--compare-url",
            &batched.url(),
        ],
    );
    let r = sweep::execute(&args).await.unwrap();
    let names: Vec<&str> = r.levels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "concurrency 1 / baseline",
            "concurrency 1 / treatment",
            "concurrency 4 / baseline",
            "concurrency 4 / treatment"
        ]
    );
    for (i, l) in r.levels.iter().enumerate() {
        let server = if i % 2 == 0 { &unbatched } else { &batched };
        assert_eq!(l.params.url.as_deref(), Some(&*server.url()));
        assert_eq!(l.summary.requests.ok, 24, "{}", l.name);
    }
    // Each server received exactly its arm's requests: 2 levels × (1 warmup + 24).
    assert_eq!(arm_records(&r, "baseline"), 50);
    assert_eq!(arm_records(&r, "treatment"), 50);
    assert_eq!(received(&unbatched), 50);
    assert_eq!(received(&batched), 50);
    // Baseline first at the first level, treatment first at the second.
    assert!(first_sent(&r, 0) < first_sent(&r, 1));
    assert!(first_sent(&r, 3) < first_sent(&r, 2));

    let rows = &r.comparison.as_ref().unwrap().rows;
    let row = |level: &str, metric: &str| {
        rows.iter()
            .find(|x| x.level.as_deref() == Some(level) && x.metric == metric)
            .unwrap_or_else(|| panic!("{level} {metric}"))
    };
    // Four requests in flight on a server that serves one at a time: each waits for the
    // others, so batching makes each request several times faster.
    let c4 = row("concurrency 4", "output_tok_s.p50");
    assert!(c4.significant == Some(true) && c4.improved, "{c4:?}");
    assert!(c4.treatment / c4.baseline > 1.5, "{c4:?}");
    let agg = row("concurrency 4", "tok_s");
    assert!(agg.treatment / agg.baseline > 1.5, "{agg:?}");
    assert!(rows
        .iter()
        .any(|x| x.level.as_deref() == Some("concurrency 1")));

    let text = llmbench::report::console::ab_table(&r);
    assert!(
        text.contains("concurrency 4") && text.contains("speedup"),
        "{text}"
    );
    let md = llmbench::report::markdown::render(&r);
    assert!(md.contains("A/B by level"), "{md}");
    unbatched.stop().await;
    batched.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_run_only_when_the_arm_changes_and_a_failing_one_keeps_what_was_measured() {
    let sim = start_sim(zero()).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("arms.log");
    let (b, t) = (
        format!("echo b >> {}", log.display()),
        format!("echo t >> {}", log.display()),
    );
    let args = sweep_args(
        &sim.url(),
        &[
            "--concurrency",
            "1,2,3",
            "--runs",
            "3",
            "--warmup",
            "0",
            "--max-tokens",
            "2",
            "--baseline-cmd",
            &b,
            "--treatment-cmd",
            &t,
        ],
    );
    let r = sweep::execute(&args).await.unwrap();
    // Orders AB, BA, AB: a command before each switch only.
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "b\nt\nb\nt\n");
    assert_eq!(r.levels.len(), 6);
    assert_eq!(received(&sim), 18);
    assert_eq!(r.levels[1].params.cmd.as_deref(), Some(&*t));

    let args = sweep_args(
        &sim.url(),
        &[
            "--concurrency",
            "1,2",
            "--runs",
            "3",
            "--warmup",
            "0",
            "--max-tokens",
            "2",
            "--baseline-cmd",
            "true",
            "--treatment-cmd",
            "exit 3",
        ],
    );
    let r = sweep::execute(&args).await.unwrap();
    assert_eq!(r.levels.len(), 2);
    assert_eq!(r.levels[0].summary.requests.ok, 3);
    let e = r.levels[1].error.as_deref().unwrap();
    assert!(e.contains("--treatment-cmd") && e.contains("exit 3"), "{e}");
    assert_eq!(r.requests.len(), 3);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throughput_ab_sends_both_arms_the_same_arrivals() {
    let a = start_sim(zero()).await;
    let b = start_sim(zero()).await;
    let args = throughput_args(
        &a.url(),
        &[
            "--rate",
            "40,80",
            "--duration",
            "1s",
            "--max-tokens",
            "2",
            "--compare-url",
            &b.url(),
            "--target",
            "ok>=1",
        ],
    );
    let r = throughput::execute(&args).await.unwrap();
    assert_eq!(r.levels.len(), 4);
    let n: Vec<u64> = r.levels.iter().map(|l| l.summary.requests.total).collect();
    // One seed per rate: the two arms of a level see the same arrivals, exactly.
    assert_eq!((n[0], n[2]), (n[1], n[3]), "{n:?}");
    assert!(n[0] > 20 && n[2] > n[0], "{n:?}");
    assert_eq!(received(&a), n[0] + n[2]);
    assert_eq!(received(&b), n[1] + n[3]);
    // Targets judge the treatment arm alone: its successes, not both arms'.
    assert_eq!(r.targets[0].actual, Some((n[1] + n[3]) as f64));
    assert_eq!(r.levels[3].params.rate, Some(80.0));
    let rows = &r.comparison.as_ref().unwrap().rows;
    assert!(rows.iter().any(|x| x.level.as_deref() == Some("80 req/s")));
    a.stop().await;
    b.stop().await;
}
