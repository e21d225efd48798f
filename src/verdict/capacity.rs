//! `capacity`: the search for the highest load that meets every SLO, and what is said of it.
//! Data in, data out: the [`Search`] proposes the next level from the verdicts so far (bracket
//! by doubling, then bisect to the precision); [`conclude`] turns the probes into the report,
//! with a distribution-free 95 % interval on each percentile SLO at the chosen level.

use serde::{Deserialize, Serialize};

use crate::metrics::metric::{Metric, Unit};
pub use crate::metrics::stats::quantile_interval;
use crate::metrics::targets::{Target, TargetOutcome};

/// What is varied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// Open-loop arrivals per second.
    Rate,
    /// Closed-loop users.
    Concurrency,
}

impl crate::units::Named for By {
    const ALL: &'static [By] = &[By::Rate, By::Concurrency];
    fn name(self) -> &'static str {
        match self {
            By::Rate => "rate",
            By::Concurrency => "concurrency",
        }
    }
}

/// Bracket, then bisect.
#[derive(Debug, Clone)]
pub struct Search {
    pub by: By,
    pub min: f64,
    pub max: f64,
    /// Stop when (fail − pass) / pass is at most this.
    pub precision: f64,
    pub max_probes: usize,
    /// The highest level that passed, the lowest that failed.
    pub pass: Option<f64>,
    pub fail: Option<f64>,
    probes: usize,
}

impl Search {
    pub fn new(by: By, min: f64, max: f64, precision: f64, max_probes: usize) -> Search {
        Search {
            by,
            min,
            max,
            precision,
            max_probes,
            pass: None,
            fail: None,
            probes: 0,
        }
    }

    fn round(&self, v: f64) -> f64 {
        match self.by {
            By::Rate => v,
            By::Concurrency => v.round().max(1.0),
        }
    }

    /// The next level to probe; None when the search is done.
    pub fn next(&self) -> Option<f64> {
        if self.probes >= self.max_probes {
            return None;
        }
        match (self.pass, self.fail) {
            (None, None) => Some(self.min),
            // Even the lowest level failed.
            (None, Some(_)) => None,
            (Some(p), None) if p >= self.max => None,
            (Some(p), None) => Some(self.round((p * 2.0).min(self.max))),
            (Some(p), Some(f)) => {
                if (f - p) / p <= self.precision {
                    return None;
                }
                let mid = self.round((p + f) / 2.0);
                (mid > p && mid < f).then_some(mid)
            }
        }
    }

    /// Both sides of the boundary are known: the probes now decide the answer (and are
    /// lengthened for their percentiles' samples).
    pub fn bisecting(&self) -> bool {
        self.pass.is_some() && self.fail.is_some()
    }

    pub fn record(&mut self, level: f64, passed: bool) {
        self.probes += 1;
        if passed {
            self.pass = Some(self.pass.map_or(level, |p| p.max(level)));
        } else {
            self.fail = Some(self.fail.map_or(level, |f| f.min(level)));
        }
    }
}

/// One probe: a level and what it measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Probe {
    /// The offered rate (req/s) or the number of users.
    pub level: f64,
    pub passed: bool,
    /// Each SLO at this level.
    pub slos: Vec<TargetOutcome>,
    /// Measured requests.
    pub requests: u64,
    /// Completed requests per second.
    pub req_s: f64,
    pub avg_concurrency: f64,
    /// TTFT and TPOT p95 at this level (ms), to tell a queue from slower decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p95_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_p95_ms: Option<f64>,
    /// Why its figures are weak, if they are (too few samples for a percentile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CapacityReport {
    pub by: By,
    /// The highest rate that met every SLO (by rate: the offered rate; by concurrency: the
    /// completed req/s at the chosen concurrency). None: even the lowest level failed.
    pub rate_req_s: Option<f64>,
    /// The highest concurrency that met every SLO (by concurrency only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<f64>,
    /// The SLO that failed first beyond the capacity.
    pub limiting_slo: Option<String>,
    /// The SLOs, as given.
    pub slos: Vec<String>,
    pub probes: Vec<Probe>,
    /// At the chosen level, each percentile SLO with its 95 % interval.
    pub confidence: Vec<String>,
    /// Cliffs, a curve that is not monotonic, weak probes.
    pub notes: Vec<String>,
    /// The answer in plain words.
    pub statement: String,
}

/// The fewest samples for which the interval of the `q` quantile exists.
pub fn samples_needed(q: f64) -> usize {
    let mut n = 1;
    while quantile_interval(n, q).is_none() && n < 1_000_000 {
        n = (n as f64 * 1.25).ceil() as usize;
    }
    // Step back to the smallest.
    let mut lo = (n as f64 / 1.25) as usize;
    while lo < n && quantile_interval(lo, q).is_none() {
        lo += 1;
    }
    lo
}

/// The quantile a percentile SLO names (`ttft.p95` → 0.95).
pub fn quantile_of(t: &Target) -> Option<f64> {
    let (_, stat) = t.metric.split_once('.')?;
    let p: f64 = stat.strip_prefix('p')?.parse().ok()?;
    Some(p / 100.0)
}

/// `ttft.p95<=500ms` in words: `TTFT p95 <= 500 ms`.
pub fn words(t: &Target) -> String {
    let name = match t.metric.split_once('.') {
        Some((d, stat)) => format!("{} {stat}", d.to_uppercase().replace('_', " ")),
        None => t.metric.clone(),
    };
    let op = match t.op {
        crate::metrics::targets::Op::Lt => "<",
        crate::metrics::targets::Op::Le => "<=",
        crate::metrics::targets::Op::Gt => ">",
        crate::metrics::targets::Op::Ge => ">=",
    };
    format!("{name} {op} {}", shown(t, t.threshold))
}

fn shown(t: &Target, v: f64) -> String {
    match Metric::lookup(&t.metric).map(|m| m.unit()) {
        Some(Unit::Ms) => format!("{} ms", trim(v)),
        Some(Unit::Fraction) => format!("{}%", trim(v * 100.0)),
        Some(u) => format!("{}{}", trim(v), u.suffix()),
        None => trim(v),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The unit of the searched level.
pub fn level_text(by: By, v: f64) -> String {
    match by {
        By::Rate => format!("{} req/s", trim(v)),
        By::Concurrency => format!("{} users", v.round()),
    }
}

/// Everything measured at the chosen level, for the confidence statement: each percentile
/// SLO's sorted values.
pub struct AtChoice<'a> {
    pub slo: &'a Target,
    pub sorted: Vec<f64>,
}

/// The report from the search and its probes.
pub fn conclude(
    search: &Search,
    slos: &[Target],
    mut probes: Vec<Probe>,
    at: &[AtChoice],
) -> CapacityReport {
    let by = search.by;
    let chosen = search
        .pass
        .and_then(|p| probes.iter().find(|x| x.level == p && x.passed));
    let first_fail = search
        .fail
        .and_then(|f| probes.iter().find(|x| x.level == f && !x.passed));
    let limiting = first_fail.and_then(|f| {
        // The SLO missed by the widest margin.
        f.slos
            .iter()
            .zip(slos)
            .filter(|(o, _)| !o.passed)
            .max_by(|(a, ta), (b, tb)| margin(a, ta).total_cmp(&margin(b, tb)))
            .map(|(_, t)| t)
    });
    // Weak figures matter where they decide: at the chosen level and the first one missed.
    let deciding = |p: &&Probe| Some(p.level) == search.pass || Some(p.level) == search.fail;
    let mut notes: Vec<String> = probes
        .iter()
        .filter(deciding)
        .filter_map(|p| p.note.clone())
        .collect();
    notes.extend(shape_notes(by, &probes, slos));
    let confidence: Vec<String> = at.iter().filter_map(|a| confidence(a)).collect();
    let statement = statement(by, search, chosen, first_fail, slos, limiting);
    let report = CapacityReport {
        by,
        rate_req_s: chosen.map(|c| match by {
            By::Rate => c.level,
            By::Concurrency => c.req_s,
        }),
        concurrency: chosen.filter(|_| by == By::Concurrency).map(|c| c.level),
        limiting_slo: limiting.map(|t| t.text.clone()),
        slos: slos.iter().map(|t| t.text.clone()).collect(),
        probes: Vec::new(),
        confidence,
        notes,
        statement,
    };
    probes.sort_by(|a, b| a.level.total_cmp(&b.level));
    CapacityReport { probes, ..report }
}

/// How far past its limit an outcome is (its ratio).
fn margin(o: &TargetOutcome, t: &Target) -> f64 {
    use crate::metrics::targets::Op;
    let upper = matches!(t.op, Op::Le | Op::Lt);
    match o.actual {
        None => f64::INFINITY,
        Some(a) if upper && t.threshold != 0.0 => (a / t.threshold).abs(),
        // A lower bound (`req_s>=30`) missed: how far below it.
        Some(a) if !upper && a != 0.0 => (t.threshold / a).abs(),
        Some(_) => f64::INFINITY,
    }
}

fn confidence(a: &AtChoice) -> Option<String> {
    let q = quantile_of(a.slo)?;
    let n = a.sorted.len();
    let Some((lo, hi)) = quantile_interval(n, q) else {
        return Some(format!(
            "{}: {n} samples are too few for a 95% interval of p{} (at least {} are needed)",
            words(a.slo),
            trim(q * 100.0),
            samples_needed(q)
        ));
    };
    let (l, h) = (a.sorted[lo], a.sorted[hi]);
    use crate::metrics::targets::Op;
    let t = a.slo.threshold;
    let sure = match a.slo.op {
        Op::Le => h <= t,
        Op::Lt => h < t,
        Op::Ge => l >= t,
        Op::Gt => l > t,
    };
    Some(format!(
        "{}: 95% interval {} to {} ({n} samples): {}",
        words(a.slo),
        shown(a.slo, l),
        shown(a.slo, h),
        if sure {
            "met with 95% confidence"
        } else {
            "met as measured, but not with 95% confidence"
        }
    ))
}

/// A curve that is not monotonic, and cliffs (a small step in load, a large one in an SLO).
fn shape_notes(by: By, probes: &[Probe], slos: &[Target]) -> Vec<String> {
    let mut sorted: Vec<&Probe> = probes.iter().collect();
    sorted.sort_by(|a, b| a.level.total_cmp(&b.level));
    let mut out = Vec::new();
    if let Some(low_fail) = sorted.iter().find(|p| !p.passed) {
        if let Some(high_pass) = sorted
            .iter()
            .rev()
            .find(|p| p.passed && p.level > low_fail.level)
        {
            out.push(format!(
                "not monotonic: {} met every SLO but {} did not (noise, or a server whose behaviour changes with load: probe again with a longer --probe-duration)",
                level_text(by, high_pass.level),
                level_text(by, low_fail.level)
            ));
        }
    }
    for w in sorted.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b.level > a.level * 1.5 {
            continue;
        }
        for (i, t) in slos.iter().enumerate() {
            let (Some(x), Some(y)) = (
                a.slos.get(i).and_then(|o| o.actual),
                b.slos.get(i).and_then(|o| o.actual),
            ) else {
                continue;
            };
            if x > 0.0 && y / x >= 3.0 && !b.slos[i].passed {
                out.push(format!(
                    "a cliff between {} and {}: {} went from {} to {}",
                    level_text(by, a.level),
                    level_text(by, b.level),
                    t.metric,
                    shown(t, x),
                    shown(t, y)
                ));
            }
        }
    }
    out
}

fn statement(
    by: By,
    search: &Search,
    chosen: Option<&Probe>,
    first_fail: Option<&Probe>,
    slos: &[Target],
    limiting: Option<&Target>,
) -> String {
    let all: Vec<String> = slos.iter().map(words).collect();
    let all = all.join(" and ");
    let why = |t: &Target, at: &Probe, base: Option<&Probe>| -> String {
        let metric = words(t);
        let metric = metric
            .split(" <")
            .next()
            .unwrap_or(&metric)
            .split(" >")
            .next()
            .unwrap_or("")
            .to_string();
        use crate::metrics::metric::names;
        // A queue: more requests in flight, or a first token that came much later while
        // decoding kept its pace.
        let grew = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if a > 0.0 => b / a >= 1.5,
            _ => false,
        };
        let queued = base.is_some_and(|b| {
            at.avg_concurrency > 1.5 * b.avg_concurrency.max(0.1)
                || (grew(b.ttft_p95_ms, at.ttft_p95_ms) && !grew(b.tpot_p95_ms, at.tpot_p95_ms))
        });
        let cause = match t.metric.split('.').next().unwrap_or("") {
            names::TTFT | names::TTFT_FROM_SCHEDULED | names::E2E | names::E2E_FROM_SCHEDULED
                if queued =>
            {
                ": requests queue"
            }
            names::ERROR_RATE => ": requests fail",
            names::TPOT | names::ITL => ": decoding slows as the batch grows",
            _ => "",
        };
        let past = match t.op {
            crate::metrics::targets::Op::Le | crate::metrics::targets::Op::Lt => "exceeds",
            _ => "falls below",
        };
        format!("{metric} {past} {}{cause}", shown(t, t.threshold))
    };
    match (chosen, first_fail) {
        (Some(c), Some(f)) => {
            let inflight = format!("about {:.0} requests in flight", c.avg_concurrency);
            let head = match by {
                By::Rate => format!(
                    "About {} offered ({} completed over the probe, {inflight})",
                    level_text(by, c.level),
                    level_text(by, c.req_s)
                ),
                By::Concurrency => format!(
                    "About {} ({} req/s completed)",
                    level_text(by, c.level),
                    trim(c.req_s)
                ),
            };
            let beyond = limiting.map_or(String::new(), |t| {
                format!(" At {} {}.", level_text(by, f.level), why(t, f, Some(c)))
            });
            format!("{head} with {all}.{beyond}")
        }
        (Some(c), None) => format!(
            "Every SLO ({all}) held up to the highest level tried, {}: the capacity is above it (raise --max-{}).",
            level_text(by, c.level),
            match by {
                By::Rate => "rate",
                By::Concurrency => "concurrency",
            }
        ),
        (None, Some(f)) => format!(
            "Even at {}, the lowest level tried, {}: the capacity is below it (lower --min-{}).",
            level_text(by, f.level),
            limiting.map_or("an SLO is missed".to_string(), |t| why(t, f, None)),
            match by {
                By::Rate => "rate",
                By::Concurrency => "concurrency",
            }
        ),
        (None, None) => format!(
            "No probe finished (after {} probes): no capacity can be stated.",
            search.probes
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_brackets_then_bisects_to_the_precision() {
        // A server whose true capacity is 37 req/s.
        let mut s = Search::new(By::Rate, 1.0, 1000.0, 0.05, 30);
        let mut levels = Vec::new();
        while let Some(l) = s.next() {
            levels.push(l);
            s.record(l, l <= 37.0);
        }
        assert_eq!(&levels[..7], &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]);
        let (p, f) = (s.pass.unwrap(), s.fail.unwrap());
        assert!(p <= 37.0 && f > 37.0 && (f - p) / p <= 0.05, "{p} {f}");
        // By concurrency the levels are whole users, and it ends next to the boundary.
        let mut s = Search::new(By::Concurrency, 1.0, 256.0, 0.05, 30);
        while let Some(l) = s.next() {
            assert_eq!(l, l.round());
            s.record(l, l <= 12.0);
        }
        assert_eq!((s.pass, s.fail), (Some(12.0), Some(13.0)));
        // Bounded by the range.
        let mut s = Search::new(By::Rate, 1.0, 10.0, 0.05, 30);
        while let Some(l) = s.next() {
            s.record(l, true);
        }
        assert_eq!(s.pass, Some(10.0));
        let mut s = Search::new(By::Rate, 5.0, 10.0, 0.05, 30);
        let l = s.next().unwrap();
        s.record(l, false);
        assert_eq!(s.next(), None);
    }

    #[test]
    fn the_order_statistic_interval_covers_the_quantile() {
        // Known values: n = 100, median: ranks 40..61 (1-based), 0-based 39..60.
        assert_eq!(quantile_interval(100, 0.5), Some((39, 60)));
        // Too few samples for p95 and p99.
        assert_eq!(quantile_interval(20, 0.95), None);
        assert!(samples_needed(0.95) > 50 && samples_needed(0.95) < 100);
        assert!(samples_needed(0.99) > samples_needed(0.95));
        let n = samples_needed(0.99);
        assert!(quantile_interval(n, 0.99).is_some() && quantile_interval(n - 1, 0.99).is_none());
        // Coverage, by simulation: uniform samples, the true p90 is 0.9.
        let mut x: u64 = 1;
        let mut covered = 0;
        for _ in 0..400 {
            let mut v: Vec<f64> = (0..200)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (x >> 11) as f64 / (1u64 << 53) as f64
                })
                .collect();
            v.sort_by(f64::total_cmp);
            let (lo, hi) = quantile_interval(200, 0.9).unwrap();
            covered += (v[lo] <= 0.9 && 0.9 <= v[hi]) as u32;
        }
        assert!(covered >= 372, "{covered} of 400 (95% is 380)");
    }

    #[test]
    fn slos_in_words() {
        let t = Target::parse("ttft.p95<=500ms").unwrap();
        assert_eq!(words(&t), "TTFT p95 <= 500 ms");
        assert_eq!(quantile_of(&t), Some(0.95));
        let t = Target::parse("error_rate<1%").unwrap();
        assert_eq!(words(&t), "error_rate < 1%");
        assert_eq!(quantile_of(&t), None);
    }
}
