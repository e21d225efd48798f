//! Units on the command line and in config files: durations (`30s`, `500ms`), fractions
//! (`10%`, `0.1`) and percentage points (`1pp`). Parsing only; every flag uses these.

use std::time::Duration;

/// Longest duration any flag takes (a week): beyond it a typo, not a benchmark.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// `10%` or `0.1`, between 0 and 10 (1000%).
/// A request rate: a positive number, or `inf` (every request at once).
pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim() {
        "inf" | "infinity" => Ok(f64::INFINITY),
        t => t
            .parse::<f64>()
            .map_err(|_| format!("{t:?} is not a rate (a number of req/s, or inf)")),
    }
}

pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("{s:?} is not a fraction (examples: 10%, 0.1)"))?;
    if !(0.0..=10.0).contains(&v) {
        return Err(format!("{s:?} is out of range (0% to 1000%)"));
    }
    Ok(v)
}

/// Percentage points: `1pp`, `1 pp` or a bare `1` (not `1%`, which reads as relative).
pub fn parse_points(s: &str) -> Result<f64, String> {
    let t = s.trim();
    if t.ends_with('%') {
        return Err(format!(
            "{s:?}: an error-rate tolerance is in percentage points; write e.g. \"1pp\" (+1 point)"
        ));
    }
    let num = t.strip_suffix("pp").unwrap_or(t).trim();
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a number of percentage points (e.g. 1pp)"))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(format!("{s:?} is out of range (0 to 100 points)"));
    }
    Ok(v)
}

/// `30s`, `500ms`, `2m`, `1h`, or a bare number of seconds; at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (examples: 30s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => v / 1e3,
        "s" | "sec" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?} must be a duration >= 0"));
    }
    if secs > MAX_DURATION.as_secs_f64() {
        return Err(format!("{s:?} is longer than a week"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A library enum chosen by name on the command line (`--api chat`): its names, in order. The
/// CLI builds its value parsers from this, so library types carry no clap derives.
pub trait Named: Sized + Copy + Send + Sync + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    fn from_name(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert_eq!(parse_duration("1.5").unwrap().as_millis(), 1500);
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("1e30s").is_err());
    }

    #[test]
    fn fractions_and_points() {
        assert_eq!(parse_fraction("10%").unwrap(), 0.1);
        assert_eq!(parse_fraction("0.25").unwrap(), 0.25);
        assert!(parse_fraction("nan").is_err());
        assert_eq!(parse_points("1pp").unwrap(), 1.0);
        assert_eq!(parse_points("2.5").unwrap(), 2.5);
        assert!(parse_points("10%")
            .unwrap_err()
            .contains("percentage points"));
    }
}
