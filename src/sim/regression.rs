//! The small numerics of `sim fit`: medians, weighted least squares, and how many intervals
//! are active at an instant (with the sum of their weights).

/// Active intervals at any instant: how many, and the sum of their weights.
pub struct Active {
    starts: Vec<u64>,
    ends: Vec<u64>,
    /// Running sums of the weights, in the order of `starts` and of `ends`.
    start_sums: Vec<f64>,
    end_sums: Vec<f64>,
}

impl Active {
    pub fn new(intervals: impl Iterator<Item = (u64, u64)>) -> Active {
        Active::weighted(intervals.map(|(s, e)| (s, e, 0.0)))
    }

    pub fn weighted(intervals: impl Iterator<Item = (u64, u64, f64)>) -> Active {
        let all: Vec<(u64, u64, f64)> = intervals.collect();
        let sorted = |key: fn(&(u64, u64, f64)) -> u64| {
            let mut v: Vec<(u64, f64)> = all.iter().map(|i| (key(i), i.2)).collect();
            v.sort_by_key(|x| x.0);
            let sums = v
                .iter()
                .scan(0.0, |acc, x| {
                    *acc += x.1;
                    Some(*acc)
                })
                .collect::<Vec<f64>>();
            (v.into_iter().map(|x| x.0).collect::<Vec<u64>>(), sums)
        };
        let (starts, start_sums) = sorted(|i| i.0);
        let (ends, end_sums) = sorted(|i| i.1);
        Active {
            starts,
            ends,
            start_sums,
            end_sums,
        }
    }

    /// Intervals with start <= t < end.
    pub fn at(&self, t: u64) -> usize {
        let s = self.starts.partition_point(|&x| x <= t);
        let e = self.ends.partition_point(|&x| x <= t);
        s.saturating_sub(e)
    }

    /// Intervals that start in (a, b].
    pub fn starts_within(&self, a: u64, b: u64) -> usize {
        let upto = |t: u64| self.starts.partition_point(|&x| x <= t);
        upto(b).saturating_sub(upto(a))
    }

    /// The sum of the weights of the intervals active at t.
    pub fn weight_at(&self, t: u64) -> f64 {
        let sum = |v: &[f64], n: usize| if n == 0 { 0.0 } else { v[n - 1] };
        let s = self.starts.partition_point(|&x| x <= t);
        let e = self.ends.partition_point(|&x| x <= t);
        (sum(&self.start_sums, s) - sum(&self.end_sums, e)).max(0.0)
    }
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    crate::metrics::percentile(v, 50.0)
}

/// Weighted least squares of y on the columns of x (each row: regressors, y, weight); None when
/// the normal equations are singular.
pub fn least_squares(rows: &[(Vec<f64>, f64, f64)]) -> Option<Vec<f64>> {
    let k = rows.first()?.0.len();
    let mut a = vec![vec![0.0; k + 1]; k];
    for (x, y, w) in rows {
        for i in 0..k {
            for j in 0..k {
                a[i][j] += w * x[i] * x[j];
            }
            a[i][k] += w * x[i] * y;
        }
    }
    // Gaussian elimination with partial pivoting.
    for c in 0..k {
        let p = (c..k).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-12 * (1.0 + a[c][c].abs()) {
            return None;
        }
        a.swap(c, p);
        let pivot = a[c].clone();
        for (i, row) in a.iter_mut().enumerate() {
            if i != c {
                let f = row[c] / pivot[c];
                for (x, p) in row.iter_mut().zip(&pivot).skip(c) {
                    *x -= f * p;
                }
            }
        }
    }
    Some((0..k).map(|i| a[i][k] / a[i][i]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_a_plane() {
        let rows: Vec<_> = [(1.0, 2.0), (2.0, 1.0), (4.0, 7.0), (8.0, 3.0)]
            .iter()
            .map(|&(a, b)| (vec![1.0, a, b], 3.0 + 0.5 * a + 2.0 * b, 1.0))
            .collect();
        let c = least_squares(&rows).unwrap();
        for (got, want) in c.iter().zip([3.0, 0.5, 2.0]) {
            assert!((got - want).abs() < 1e-9, "{c:?}");
        }
        assert!(least_squares(&[(vec![1.0, 1.0], 1.0, 1.0)]).is_none());
    }

    #[test]
    fn active_counts_half_open_intervals() {
        let a = Active::new([(0, 10), (5, 15), (10, 20)].into_iter());
        assert_eq!(
            (a.at(0), a.at(5), a.at(10), a.at(15), a.at(20)),
            (1, 2, 2, 1, 0)
        );
        let w = Active::weighted([(0, 10, 1.0), (5, 15, 2.0), (10, 20, 4.0)].into_iter());
        assert_eq!(
            (w.weight_at(5), w.weight_at(10), w.weight_at(20)),
            (3.0, 6.0, 0.0)
        );
    }
}
