//! The two lines `sim fit` draws: the decode step against the streams decoding at once (and
//! their context), and the prefill against uncached prompt tokens.

use super::fit::DecodeBucket;
use super::regression::{least_squares, median};

/// [`fit_decode`], leaving out one at a time the batch size it misses most, by over 25%, while
/// at least three remain: a bucket of steps mostly slowed by prefills is not the decode step.
pub fn robust_decode(buckets: &mut Vec<DecodeBucket>, notes: &mut Vec<String>) -> (f64, f64, f64) {
    let at = |b: &DecodeBucket, (base, seq, ktok): (f64, f64, f64)| {
        base + seq * b.batch as f64 + ktok * b.context_tokens / 1e3
    };
    let mut off = Vec::new();
    let mut fit = fit_decode(buckets, &mut Vec::new());
    while buckets.len() > 3 {
        let miss = |b: &DecodeBucket| (b.step_ms - at(b, fit)).abs() / at(b, fit).max(1e-9);
        let (worst, by) = buckets
            .iter()
            .enumerate()
            .map(|(i, b)| (i, miss(b)))
            .max_by(|x, y| x.1.total_cmp(&y.1))
            .expect("buckets");
        if by <= 0.25 {
            break;
        }
        off.push(buckets.remove(worst));
        fit = fit_decode(buckets, &mut Vec::new());
    }
    if !off.is_empty() {
        off.sort_by_key(|b| b.batch);
        notes.push(format!(
            "left out of the decode fit, as off the line of the others by over 25%: batch {}",
            off.iter()
                .map(|b| b.batch.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let fit = fit_decode(buckets, notes);
    buckets.extend(off);
    buckets.sort_by_key(|b| b.batch);
    fit
}

/// (base, per sequence, per thousand context tokens) of the decode step.
fn fit_decode(buckets: &[DecodeBucket], notes: &mut Vec<String>) -> (f64, f64, f64) {
    let weight = |b: &DecodeBucket| (b.gaps as f64).sqrt();
    // The context term only where context per stream varies apart from the batch size.
    let per_stream: Vec<f64> = buckets
        .iter()
        .map(|b| b.context_tokens / b.batch as f64)
        .collect();
    let (lo, hi) = per_stream
        .iter()
        .fold((f64::MAX, 0.0f64), |(l, h), &v| (l.min(v), h.max(v)));
    if buckets.len() >= 3 && hi > 1.5 * lo {
        let rows: Vec<_> = buckets
            .iter()
            .map(|b| {
                (
                    vec![1.0, b.batch as f64, b.context_tokens / 1e3],
                    b.step_ms,
                    weight(b),
                )
            })
            .collect();
        if let Some(c) = least_squares(&rows) {
            if c.iter().all(|&v| v >= 0.0) {
                return (c[0], c[1], c[2]);
            }
        }
    }
    if buckets.len() >= 2 {
        let rows: Vec<_> = buckets
            .iter()
            .map(|b| (vec![1.0, b.batch as f64], b.step_ms, weight(b)))
            .collect();
        if let Some(c) = least_squares(&rows) {
            if c[0] >= 0.0 && c[1] >= 0.0 {
                return (c[0], c[1], 0.0);
            }
            if c[1] > 0.0 {
                // No fixed part (a server whose step is all per-stream work, as a CPU-bound
                // one's): the line through the origin.
                let (xy, xx) = buckets.iter().fold((0.0, 0.0), |(xy, xx), b| {
                    let (x, w) = (b.batch as f64, weight(b));
                    (xy + w * x * b.step_ms, xx + w * x * x)
                });
                return (0.0, xy / xx, 0.0);
            }
        }
        notes.push(
            "the decode step did not grow with the batch: fitted as one fixed step".to_string(),
        );
    } else {
        notes.push(format!(
            "every gap came at one batch size ({}): the step's growth with the batch is unknown \
             (0); run a sweep over several concurrency levels",
            buckets[0].batch
        ));
    }
    let total: f64 = buckets.iter().map(weight).sum();
    let mean = buckets.iter().map(|b| b.step_ms * weight(b)).sum::<f64>() / total;
    (mean, 0.0, 0.0)
}

/// How steps vary about the line: quantiles of every gap over its batch size's median step, at
/// 21 evenly spaced probabilities (the ends read at 0.5% and 99.5%). Gaps of twice the median
/// or more (a prefill in the step: the engine models those) are left out. None under 200 gaps.
pub fn step_jitter(gaps: &[(usize, f64, f64)], buckets: &[DecodeBucket]) -> Option<Vec<f64>> {
    let mut ratios: Vec<f64> = gaps
        .iter()
        .filter_map(|&(b, _, step)| {
            let median = buckets.iter().find(|k| k.batch == b)?.step_ms;
            Some(step / median).filter(|r| median > 0.0 && *r < 2.0)
        })
        .collect();
    if ratios.len() < 200 {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    Some(
        (0..=20)
            .map(|i| {
                let p = (i as f64 * 5.0).clamp(0.5, 99.5);
                (crate::metrics::percentile(&ratios, p) * 1e3).round() / 1e3
            })
            .collect(),
    )
}

/// (base ms, tokens per second (0: not modelled), median absolute error ms) of the prefill, from
/// (uncached prompt tokens, TTFT less its step) samples.
pub fn fit_prefill(samples: &mut [(f64, f64)], notes: &mut Vec<String>) -> (f64, f64, f64) {
    if samples.is_empty() {
        notes.push("no request found a free slot: the prefill is not fitted".to_string());
        return (0.0, 0.0, 0.0);
    }
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Medians of up to 10 groups by prompt length.
    let groups = samples.len().clamp(1, 10);
    let size = samples.len().div_ceil(groups);
    let rows: Vec<(Vec<f64>, f64, f64)> = samples
        .chunks(size)
        .map(|c| {
            let mut x: Vec<f64> = c.iter().map(|s| s.0).collect();
            let mut y: Vec<f64> = c.iter().map(|s| s.1).collect();
            (vec![1.0, median(&mut x)], median(&mut y), c.len() as f64)
        })
        .collect();
    let (x_lo, x_hi) = (rows[0].0[1], rows[rows.len() - 1].0[1]);
    let fitted = (x_hi > 1.5 * x_lo.max(1.0))
        .then(|| least_squares(&rows))
        .flatten()
        .filter(|c| c[1] > 0.0);
    let (base, per_token) = match fitted {
        Some(c) if c[0] >= 0.0 => (c[0], c[1]),
        Some(_) => {
            // No fixed part: the line through the origin.
            let (xy, xx) = rows.iter().fold((0.0, 0.0), |(xy, xx), (x, y, w)| {
                (xy + w * x[1] * y, xx + w * x[1] * x[1])
            });
            (0.0, xy / xx)
        }
        None => {
            notes.push(format!(
                "prompts of about one length ({x_lo:.0}-{x_hi:.0} uncached tokens): the prefill is \
                 a fixed cost; vary --dataset random lengths to fit its speed"
            ));
            let mut y: Vec<f64> = samples.iter().map(|s| s.1).collect();
            (median(&mut y).max(0.0), 0.0)
        }
    };
    let mut err: Vec<f64> = samples
        .iter()
        .map(|(x, y)| (base + per_token * x - y).abs())
        .collect();
    let rate = if per_token > 0.0 {
        1e3 / per_token
    } else {
        0.0
    };
    (base, rate, median(&mut err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::fit::DecodeBucket;

    fn bucket(batch: usize, step_ms: f64) -> DecodeBucket {
        DecodeBucket {
            batch,
            step_ms,
            context_tokens: 300.0 * batch as f64,
            gaps: 1000,
            fitted_ms: 0.0,
        }
    }

    #[test]
    fn a_step_all_per_stream_work_is_fitted_through_the_origin() {
        // What llama.cpp on 2 CPU cores did (scripts/sim-validate.sh): no gain from batching.
        let mut b = vec![bucket(1, 9.60), bucket(2, 19.83), bucket(4, 39.76)];
        let (base, per_seq, per_ktok) = robust_decode(&mut b, &mut Vec::new());
        assert_eq!((base, per_ktok), (0.0, 0.0));
        assert!((per_seq - 9.92).abs() < 0.01, "{per_seq}");
    }

    #[test]
    fn a_batch_size_off_the_line_is_left_out_and_said() {
        let mut b = vec![
            bucket(1, 6.0),
            bucket(2, 7.0),
            bucket(3, 26.4),
            bucket(4, 9.0),
            bucket(6, 11.0),
        ];
        let mut notes = Vec::new();
        let (base, per_seq, _) = robust_decode(&mut b, &mut notes);
        assert!(
            (base - 5.0).abs() < 1e-6 && (per_seq - 1.0).abs() < 1e-6,
            "{base} {per_seq}"
        );
        assert!(notes.iter().any(|n| n.contains("batch 3")), "{notes:?}");
        assert_eq!(b.len(), 5, "every bucket is still reported");
    }

    #[test]
    fn step_jitter_is_the_spread_of_gaps_about_their_batch_median() {
        let b = vec![bucket(1, 10.0), bucket(2, 20.0)];
        // Batch 1: 8..12 ms evenly; batch 2: twice that; and prefill-slowed gaps left out.
        let mut gaps: Vec<(usize, f64, f64)> = (0..=400)
            .flat_map(|i| {
                let f = 0.8 + 0.4 * i as f64 / 400.0;
                [(1, 0.0, 10.0 * f), (2, 0.0, 20.0 * f)]
            })
            .collect();
        gaps.extend((0..50).map(|_| (1, 0.0, 500.0)));
        gaps.push((3, 0.0, 30.0)); // no bucket
        let q = step_jitter(&gaps, &b).expect("enough gaps");
        assert_eq!(q.len(), 21);
        assert!((q[10] - 1.0).abs() < 1e-9, "{q:?}");
        assert!(
            (q[0] - 0.802).abs() < 1e-3 && (q[20] - 1.198).abs() < 1e-3,
            "{q:?}"
        );
        assert!(q.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(step_jitter(&gaps[..150], &b), None);
    }

    #[test]
    fn prefill_is_a_line_of_uncached_tokens_or_a_fixed_cost() {
        let mut line: Vec<(f64, f64)> = (1..=40)
            .map(|i| (i as f64 * 10.0, 4.0 + i as f64 * 10.0 / 2.0))
            .collect();
        let (base, rate, err) = fit_prefill(&mut line, &mut Vec::new());
        assert!((base - 4.0).abs() < 1e-6 && (rate - 2000.0).abs() < 1e-3 && err < 1e-6);
        let mut flat: Vec<(f64, f64)> = (0..20).map(|i| (100.0 + (i % 2) as f64, 30.0)).collect();
        let mut notes = Vec::new();
        let (base, rate, _) = fit_prefill(&mut flat, &mut notes);
        assert_eq!((base, rate), (30.0, 0.0));
        assert!(notes[0].contains("fixed cost"), "{notes:?}");
    }
}
