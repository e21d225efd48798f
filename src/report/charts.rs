//! SVG charts drawn with plotters: CDFs, histograms and line charts. Data in, an SVG string out.

use plotters::prelude::*;

const W: u32 = 760;
const H: u32 = 360;

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {e}")
}

fn bounds(series: &[(String, Vec<(f64, f64)>)], y_from_zero: bool) -> (f64, f64, f64, f64) {
    let pts = series.iter().flat_map(|s| s.1.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    if y_from_zero {
        y0 = y0.min(0.0);
    }
    let pad = |a: f64, b: f64| {
        if (b - a).abs() < 1e-9 {
            (a - 1.0, b + 1.0)
        } else {
            (a, b + (b - a) * 0.05)
        }
    };
    let (x0, x1) = pad(x0, x1);
    let (y0, y1) = pad(y0, y1);
    (x0, x1, y0, y1)
}

/// Lines (or points when a series has one point) over a shared axis.
pub fn lines(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (x0, x1, y0, y1) = bounds(series, true);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            if pts.len() <= 40 {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(err)?;
            }
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Empirical CDFs of one or more samples (x: value, y: fraction ≤ x).
pub fn cdf(title: &str, x_desc: &str, samples: &[(String, Vec<f64>)]) -> anyhow::Result<String> {
    let series: Vec<(String, Vec<(f64, f64)>)> = samples
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(name, v)| {
            let mut s = v.clone();
            s.sort_by(f64::total_cmp);
            let n = s.len() as f64;
            // At most ~400 points: the curve, not every sample.
            let step = (s.len() / 400).max(1);
            let pts = s
                .iter()
                .enumerate()
                .filter(|(i, _)| i % step == 0 || *i == s.len() - 1)
                .map(|(i, &x)| (x, (i + 1) as f64 / n))
                .collect();
            (name.clone(), pts)
        })
        .collect();
    lines(title, x_desc, "fraction of requests", &series)
}

/// A histogram of values in `bins` equal bins.
pub fn histogram(title: &str, x_desc: &str, values: &[f64], bins: usize) -> anyhow::Result<String> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        // Clip the far tail (beyond p99.5) into the last bin, so that one stall does not flatten
        // the picture; the tail is still counted.
        let (lo, hi) = match (v.first(), v.last()) {
            (Some(&a), Some(_)) => (
                a.min(0.0),
                crate::metrics::percentile(&v, 99.5).max(a + 1e-6),
            ),
            _ => (0.0, 1.0),
        };
        let width = (hi - lo) / bins as f64;
        let mut counts = vec![0u64; bins];
        for x in &v {
            let i = (((x - lo) / width) as usize).min(bins - 1);
            counts[i] += 1;
        }
        let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(lo..hi, 0.0..top * 1.05)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("count")
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        let color = Palette99::pick(0).to_rgba();
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let x0 = lo + i as f64 * width;
                Rectangle::new([(x0, 0.0), (x0 + width * 0.92, c as f64)], color.filled())
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}
