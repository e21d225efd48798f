//! Inference statistics: bootstrap confidence intervals (fixed seed, ≥ 1,000 resamples) and the
//! Mann-Whitney U test. Data in, numbers out; rendering happens elsewhere.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::percentile;

pub const RESAMPLES: usize = 2000;
/// Quantile intervals are computed from the binomial exactly up to this many values.
const EXACT_UP_TO: usize = 5000;
/// A difference smaller than this (percent of the baseline) is noise, even when its interval
/// excludes zero (criterion's rule: significance and a change beyond the noise threshold).
pub const NOISE_PCT: f64 = 2.0;
pub const SEED: u64 = 0x11b_e7c4;

/// A statistic of a sample: the mean or a percentile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Stat {
    Mean,
    Percentile(f64),
}

impl Stat {
    pub fn parse(name: &str) -> Option<Stat> {
        match name {
            "mean" | "avg" => Some(Stat::Mean),
            "p50" | "median" => Some(Stat::Percentile(50.0)),
            "p90" => Some(Stat::Percentile(90.0)),
            "p95" => Some(Stat::Percentile(95.0)),
            "p99" => Some(Stat::Percentile(99.0)),
            "min" => Some(Stat::Percentile(0.0)),
            "max" => Some(Stat::Percentile(100.0)),
            _ => None,
        }
    }

    /// The statistic of sorted values.
    pub fn of_sorted(self, sorted: &[f64]) -> f64 {
        match self {
            Stat::Mean => sorted.iter().sum::<f64>() / sorted.len() as f64,
            Stat::Percentile(p) => percentile(sorted, p),
        }
    }
}

/// The 95 % distribution-free interval of the `q` quantile (0..1) of `n` sorted values, as
/// 0-based ranks: P(x[lo] ≤ true quantile ≤ x[hi]) ≥ 95 % (binomial order statistics). None
/// when `n` is too small for the interval to exist.
pub fn quantile_interval(n: usize, q: f64) -> Option<(usize, usize)> {
    if n == 0 || !(0.0..1.0).contains(&q) || q == 0.0 {
        return None;
    }
    if n > EXACT_UP_TO {
        return normal_interval(n, q);
    }
    // The binomial(n, q) cumulative distribution, term by term in logs.
    let (lq, lp) = (q.ln(), (1.0 - q).ln());
    let mut log_c = 0.0f64; // ln C(n, k)
    let mut cdf = 0.0;
    let (mut lo, mut hi) = (None, None);
    for k in 0..=n {
        if k > 0 {
            log_c += ((n - k + 1) as f64).ln() - (k as f64).ln();
        }
        let pk = (log_c + k as f64 * lq + (n - k) as f64 * lp).exp();
        // P(B ≤ k−1) = cdf before adding pk.
        if cdf <= 0.025 {
            lo = Some(k); // x_(k+1) in 1-based order statistics is x[k]
        }
        cdf += pk;
        if hi.is_none() && cdf >= 0.975 {
            hi = Some(k + 1);
        }
    }
    let (lo, hi) = (lo?, hi?);
    // Ranks 1-based j = lo, k = hi: the interval is [x_(j), x_(k)].
    (lo >= 1 && hi <= n).then(|| (lo - 1, hi - 1))
}

/// [`quantile_interval`] by the normal approximation of the binomial (continuity-corrected):
/// the same ranks to within one past [`EXACT_UP_TO`] values, without a pass over every k.
pub fn normal_interval(n: usize, q: f64) -> Option<(usize, usize)> {
    let (mean, sd) = (n as f64 * q, (n as f64 * q * (1.0 - q)).sqrt());
    let lo = (mean - 1.96 * sd + 0.5).floor() as i64;
    let hi = (mean + 1.96 * sd + 0.5).ceil() as i64;
    (lo >= 1 && hi <= n as i64).then(|| (lo as usize - 1, hi as usize - 1))
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    s
}

fn resample(rng: &mut SmallRng, from: &[f64], into: &mut Vec<f64>) {
    into.clear();
    into.extend((0..from.len()).map(|_| from[rng.gen_range(0..from.len())]));
    into.sort_by(f64::total_cmp);
}

/// 95% percentile-bootstrap interval of `stat` over `values`. None for fewer than 2 values.
pub fn bootstrap_ci(values: &[f64], stat: Stat) -> Option<(f64, f64)> {
    let v = sorted(values);
    if v.len() < 2 {
        return None;
    }
    let mut rng = SmallRng::seed_from_u64(SEED);
    let mut buf = Vec::with_capacity(v.len());
    let mut stats: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            resample(&mut rng, &v, &mut buf);
            stat.of_sorted(&buf)
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    Some((percentile(&stats, 2.5), percentile(&stats, 97.5)))
}

/// A difference between a treatment and a baseline, with its 95% bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub baseline: f64,
    pub treatment: f64,
    /// treatment − baseline
    pub delta: f64,
    pub delta_pct: Option<f64>,
    pub ci_low: f64,
    pub ci_high: f64,
    /// The interval excludes zero and the change exceeds [`NOISE_PCT`].
    pub significant: bool,
}

/// stat(treatment) − stat(baseline), with a 95% interval from resampling both independently.
pub fn difference(baseline: &[f64], treatment: &[f64], stat: Stat) -> Option<Difference> {
    let (a, b) = (sorted(baseline), sorted(treatment));
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (sa, sb) = (stat.of_sorted(&a), stat.of_sorted(&b));
    let mut rng = SmallRng::seed_from_u64(SEED);
    let (mut ba, mut bb) = (Vec::with_capacity(a.len()), Vec::with_capacity(b.len()));
    let mut diffs: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            resample(&mut rng, &a, &mut ba);
            resample(&mut rng, &b, &mut bb);
            stat.of_sorted(&bb) - stat.of_sorted(&ba)
        })
        .collect();
    diffs.sort_by(f64::total_cmp);
    let (lo, hi) = (percentile(&diffs, 2.5), percentile(&diffs, 97.5));
    let delta_pct = (sa != 0.0).then(|| (sb - sa) / sa * 100.0);
    let beyond_noise = delta_pct.is_none_or(|p| p.abs() >= NOISE_PCT);
    Some(Difference {
        baseline: sa,
        treatment: sb,
        delta: sb - sa,
        delta_pct,
        ci_low: lo,
        ci_high: hi,
        significant: (lo > 0.0 || hi < 0.0) && beyond_noise,
    })
}

/// Mann-Whitney U test, two-sided, normal approximation with tie and continuity corrections
/// (scipy's `mannwhitneyu(method="asymptotic")`). Returns (U of `a`, p-value).
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> Option<(f64, f64)> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&x| (x, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut ranks = vec![0.0; n];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for rank in &mut ranks[i..=j] {
            *rank = r;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let r1: f64 = all
        .iter()
        .zip(&ranks)
        .filter(|(x, _)| x.1)
        .map(|(_, r)| r)
        .sum();
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u1 = r1 - n1f * (n1f + 1.0) / 2.0;
    let mu = n1f * n2f / 2.0;
    let sigma = (n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)))).sqrt();
    if sigma == 0.0 {
        return Some((u1, 1.0));
    }
    let u = u1.max(n1f * n2f - u1);
    let z = (u - mu - 0.5) / sigma;
    let p = (2.0 * normal_sf(z)).min(1.0);
    Some((u1, p))
}

/// Survival function of the standard normal, 1 − Φ(z).
fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' erfc, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_equal_numpy_on_fixed_data() {
        // numpy.percentile([3,1,4,1,5,9,2,6,5,3,5], [50,90,95,99]) = [4, 6, 7.5, 8.7]
        let v = sorted(&[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0]);
        let got: Vec<f64> = [50.0, 90.0, 95.0, 99.0]
            .iter()
            .map(|p| percentile(&v, *p))
            .collect();
        for (g, w) in got.iter().zip([4.0, 6.0, 7.5, 8.7]) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn mann_whitney_matches_scipy() {
        // scipy.stats.mannwhitneyu(a, b, method="asymptotic") -> U=17, p=0.11134688653314041
        let (u, p) =
            mann_whitney_u(&[19.0, 22.0, 16.0, 29.0, 24.0], &[20.0, 11.0, 17.0, 12.0]).unwrap();
        assert_eq!(u, 17.0);
        assert!((p - 0.111_346_886_533_140_41).abs() < 1e-6, "{p}");
        // with ties: U=14, p=0.03844229728788797
        let (u, p) = mann_whitney_u(
            &[1.1, 2.2, 3.3, 4.4, 5.5, 6.6, 7.7, 8.8],
            &[3.0, 5.0, 5.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0],
        )
        .unwrap();
        assert_eq!(u, 14.0);
        assert!((p - 0.038_442_297_287_887_97).abs() < 1e-6, "{p}");
    }

    #[test]
    fn bootstrap_interval_covers_the_statistic_and_is_reproducible() {
        let v: Vec<f64> = (0..500).map(|i| ((i * 7919) % 1000) as f64).collect();
        let (lo, hi) = bootstrap_ci(&v, Stat::Mean).unwrap();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!(lo < mean && mean < hi, "{lo} {mean} {hi}");
        // Standard error of the mean of a uniform 0..1000 sample of 500: ~12.9; 95% CI ±25.
        assert!((hi - lo) > 35.0 && (hi - lo) < 65.0, "{lo}..{hi}");
        assert_eq!(bootstrap_ci(&v, Stat::Mean), bootstrap_ci(&v, Stat::Mean));
        let (plo, phi) = bootstrap_ci(&v, Stat::Percentile(95.0)).unwrap();
        assert!(plo < 950.0 && 950.0 < phi + 10.0);
    }

    #[test]
    fn difference_of_shifted_samples_is_significant_and_of_equal_ones_is_not() {
        let base: Vec<f64> = (0..300).map(|i| 100.0 + ((i * 37) % 50) as f64).collect();
        let faster: Vec<f64> = base.iter().map(|x| x * 0.8).collect();
        let d = difference(&base, &faster, Stat::Percentile(95.0)).unwrap();
        assert!(d.significant && d.delta < 0.0 && d.ci_high < 0.0);
        assert!((d.delta_pct.unwrap() + 20.0).abs() < 1.0);
        let same = difference(&base, &base, Stat::Mean).unwrap();
        assert!(!same.significant, "{same:?}");
    }
}
