//! `--percentiles` and any percentile in a target: the reported figures are the percentiles of
//! the result's own records (recomputed here, numpy's linear rule), each with its
//! order-statistic interval; a target on a percentile says whether it is met with confidence.

mod common;

use common::*;
use llmbench::commands::{run, stress, sweep};
use llmbench::metrics::stats::quantile_interval;

/// numpy's default percentile of sorted values.
fn numpy(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p / 100.0;
    let (lo, frac) = (h.floor() as usize, h - h.floor());
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + frac * (sorted[hi] - sorted[lo])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asked_percentiles_are_those_of_the_records_with_their_intervals() {
    let sim = start_sim(timed(20.0, 2.0)).await;
    let args = run_args(
        &sim.url(),
        &[
            "--runs",
            "120",
            "--concurrency",
            "6",
            "--max-tokens",
            "4",
            "--percentiles",
            "99.9,50,75",
            "--target",
            "e2e.p99.5<=10s",
            "--target",
            "ttft.p75<=1ms",
        ],
    );
    let r = run::execute(&args).await.unwrap();
    // Sorted, with the target's percentile added; the fixed four not asked for are not shown.
    assert_eq!(r.summary.percentiles, [50.0, 75.0, 99.5, 99.9]);
    let mut ttft: Vec<f64> = r
        .requests
        .iter()
        .filter(|x| !x.warmup)
        .filter_map(|x| x.ttft_ms())
        .collect();
    ttft.sort_by(f64::total_cmp);
    assert_eq!(ttft.len(), 120);
    let d = r.summary.ttft_ms.as_ref().unwrap();
    for p in [75.0, 99.9] {
        let want = numpy(&ttft, p);
        assert!((d.quantile(p).unwrap() - want).abs() < 1e-9, "p{p}");
    }
    let (lo, hi) = quantile_interval(120, 0.75).unwrap();
    assert_eq!(d.quantile_ci(75.0), Some([ttft[lo], ttft[hi]]));
    // 120 values are too few for a 95% interval of p99.9.
    assert_eq!(d.quantile_ci(99.9), None);

    let [e2e, ttft75] = [&r.targets[0], &r.targets[1]];
    assert_eq!(e2e.metric, "e2e.p99.5");
    assert!(e2e.passed && e2e.actual.is_some());
    assert!(!ttft75.passed);
    // Every TTFT is above 1 ms, so the whole interval misses: missed with confidence.
    assert_eq!(
        ttft75.confidence,
        Some(llmbench::metrics::targets::Confidence::Missed)
    );
    assert_eq!(
        e2e.confidence,
        Some(llmbench::metrics::targets::Confidence::TooFewValues)
    );
    assert_eq!(ttft75.ci95, d.quantile_ci(75.0));
    let text = llmbench::report::console::run_summary(&r);
    assert!(text.contains("p99.9") && text.contains("95% CI"), "{text}");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_and_stress_levels_judge_any_percentile() {
    let sim = start_sim(timed(20.0, 2.0)).await;
    let args = sweep_args(
        &sim.url(),
        &[
            "--concurrency",
            "1,2",
            "--runs",
            "8",
            "--max-tokens",
            "3",
            "--percentiles",
            "50,99.9",
        ],
    );
    let r = sweep::execute(&args).await.unwrap();
    for l in &r.levels {
        let d = l.summary.e2e_ms.as_ref().unwrap();
        assert!(d.quantile(99.9).is_some(), "{}", l.name);
        assert_eq!(l.summary.percentiles, [50.0, 99.9]);
    }
    let args = stress_args(
        &sim.url(),
        &[
            "--start-rate",
            "5",
            "--step",
            "5",
            "--max-rate",
            "10",
            "--step-duration",
            "1s",
            "--max-tokens",
            "2",
            "--target",
            "ttft.p99.9<=5s",
        ],
    );
    let r = stress::execute(&args).await.unwrap();
    let st = r.stress.unwrap();
    assert!(!st.levels.is_empty());
    for l in &st.levels {
        let t = &l.targets_met;
        assert_eq!(t, &Some(true), "{l:?}");
    }
    sim.stop().await;
}
