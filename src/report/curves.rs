//! Tables of a result's levels as curves: a load curve by rate, an A/B by level, capacity's
//! probes, sessions by turn. Data in, tables out, like [`super::views`].

use super::table::{Table, Text};
use super::views::{opt, stat};
use crate::result::BenchResult;

/// `throughput --rate A,B,...`: offered vs achieved load and latency, one row per rate.
pub fn load_curve(r: &BenchResult) -> Table {
    let mut t = Table::new(&[
        "<rate",
        "sent req/s",
        "done req/s",
        "TTFT p50 ms",
        "TTFT p95 ms",
        "TPOT p50 ms",
        "TPOT p95 ms",
        "goodput req/s",
        "errors",
    ]);
    for l in &r.levels {
        let s = &l.summary;
        t.row(vec![
            l.name.clone().into(),
            s.throughput
                .sent_req_s
                .map_or("-".to_string(), |v| format!("{v:.1}"))
                .into(),
            format!("{:.1}", s.throughput.req_s).into(),
            stat(&s.ttft_ms, |d| d.p50),
            stat(&s.ttft_ms, |d| d.p95),
            stat(&s.tpot_ms, |d| d.p50),
            stat(&s.tpot_ms, |d| d.p95),
            s.goodput
                .as_ref()
                .map_or("-".to_string(), |g| format!("{:.1}", g.req_s))
                .into(),
            format!("{:.1}%", s.error_rate * 100.0).into(),
        ]);
    }
    t
}

/// An A/B by level (seed 003's off-vs-on table): per-request tok/s p50 of each arm, the
/// speedup, whether it is significant, and each arm's aggregate tok/s and TTFT p50.
pub fn ab_levels(r: &BenchResult) -> Table {
    let mut t = Table::new(&[
        "<level",
        "baseline tok/s/req",
        "treatment tok/s/req",
        "speedup",
        "<significant",
        "baseline aggr. tok/s",
        "treatment aggr. tok/s",
        "baseline TTFT p50",
        "treatment TTFT p50",
    ]);
    let rows = r.comparison.as_ref().map_or(&[][..], |c| &c.rows[..]);
    for pair in r.levels.chunks(2) {
        let [a, b] = pair else { continue };
        let label = a.name.rsplit_once(" / ").map_or(a.name.as_str(), |x| x.0);
        let (sa, sb) = (&a.summary, &b.summary);
        let (pa, pb) = (
            sa.output_tok_s.as_ref().map(|d| d.p50),
            sb.output_tok_s.as_ref().map(|d| d.p50),
        );
        let speedup = match (pa, pb) {
            (Some(x), Some(y)) if x > 0.0 => format!("{:.2}x", y / x),
            _ => "-".into(),
        };
        let significant = rows
            .iter()
            .find(|row| {
                row.level.as_deref() == Some(label)
                    && row.metric == crate::metrics::metric::names::OUTPUT_TOK_S_P50
            })
            .and_then(|row| row.significant)
            .map_or("-", |s| if s { "yes" } else { "no" });
        let not_run = a.error.is_some() || b.error.is_some();
        let aggr = |l: &crate::result::Level| match l.error {
            Some(_) => "-".to_string(),
            None => format!("{:.1}", l.summary.throughput.output_tok_s),
        };
        t.row(vec![
            label.to_string().into(),
            opt(pa, 1),
            opt(pb, 1),
            speedup.into(),
            if not_run { "not run" } else { significant }.into(),
            aggr(a).into(),
            aggr(b).into(),
            stat(&sa.ttft_ms, |d| d.p50),
            stat(&sb.ttft_ms, |d| d.p50),
        ]);
    }
    t
}

/// Why each level of an A/B that could not run did not (printed under its table).
pub fn not_run(r: &BenchResult) -> Vec<String> {
    r.levels
        .iter()
        .filter_map(|l| Some(format!("{}: not run: {}", l.name, l.error.as_ref()?)))
        .collect()
}

/// `capacity`'s probes: level, requests, completed req/s, in flight, each SLO, verdict.
pub fn capacity_probes(c: &crate::verdict::capacity::CapacityReport) -> Table {
    let mut head: Vec<String> = vec![
        format!("<{}", crate::units::Named::name(c.by)),
        "requests".into(),
        "req/s".into(),
        "in flight".into(),
    ];
    head.extend(c.slos.iter().cloned());
    head.push("<verdict".into());
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut t = Table::new(&head);
    for p in &c.probes {
        let mut row: Vec<Text> = vec![
            crate::verdict::capacity::level_text(c.by, p.level).into(),
            p.requests.to_string().into(),
            format!("{:.1}", p.req_s).into(),
            format!("{:.1}", p.avg_concurrency).into(),
        ];
        row.extend(p.slos.iter().map(|o| {
            if o.passed {
                Text::plain(o.shown.clone())
            } else {
                Text::strong(format!("{} MISSED", o.shown))
            }
        }));
        row.push(if p.passed {
            "met".into()
        } else {
            Text::strong("not met")
        });
        t.row(row);
    }
    t
}

/// `capacity`'s answer: the statement, the intervals, the notes.
pub fn capacity_text(c: &crate::verdict::capacity::CapacityReport) -> Vec<Text> {
    let mut out = vec![Text::strong(c.statement.clone())];
    out.extend(c.confidence.iter().map(|s| Text::plain(s.clone())));
    out.extend(c.notes.iter().map(|s| Text::plain(format!("Note: {s}"))));
    out
}

/// Sessions by turn: requests, TTFT, and how much of the prompt the server had cached.
pub fn sessions(r: &crate::metrics::sessions::SessionsReport) -> Table {
    let mut t = Table::new(&[
        "turn",
        "requests",
        "ok",
        "TTFT p50 ms",
        "TTFT p95 ms",
        "prompt tokens",
        "cached tokens",
        "cached",
    ]);
    for s in &r.turns {
        t.row(vec![
            (s.turn + 1).to_string().into(),
            s.requests.to_string().into(),
            s.ok.to_string().into(),
            stat(&s.ttft_ms, |d| d.p50),
            stat(&s.ttft_ms, |d| d.p95),
            opt(s.prompt_tokens_mean, 1),
            opt(s.cached_tokens_mean, 1),
            s.cached_fraction
                .map_or("-".to_string(), |f| format!("{:.1}%", f * 100.0))
                .into(),
        ]);
    }
    t
}

/// The sessions in one sentence.
pub fn sessions_text(r: &crate::metrics::sessions::SessionsReport) -> Text {
    Text::plain(format!(
        "{} conversations: {} whole, {} ended early by a failed turn; turns counted from 1, prompt and cached tokens are means over successful requests.",
        r.conversations, r.completed, r.cut_short
    ))
}

/// Failover by endpoint: who answered, TTFT from the first attempt's send.
pub fn failover(f: &crate::metrics::failover::FailoverReport) -> Table {
    let mut t = Table::new(&[
        "<endpoint",
        "<url",
        "ok",
        "failed",
        "TTFT p50 ms",
        "TTFT p95 ms",
        "<failed attempts",
    ]);
    for (k, e) in f.endpoints.iter().enumerate() {
        let kinds: Vec<String> = e.failures.iter().map(|(k, n)| format!("{k} {n}")).collect();
        t.row(vec![
            if k == 0 {
                "primary".to_string()
            } else {
                format!("fallback {k}")
            }
            .into(),
            e.url.clone().into(),
            e.ok.to_string().into(),
            e.failed.to_string().into(),
            stat(&e.ttft_ms, |d| d.p50),
            stat(&e.ttft_ms, |d| d.p95),
            if kinds.is_empty() {
                "-".to_string()
            } else {
                kinds.join(", ")
            }
            .into(),
        ]);
    }
    t
}

/// Failover in one sentence: how many requests failed over, the time lost, the recovery.
pub fn failover_text(f: &crate::metrics::failover::FailoverReport) -> Text {
    if f.replicas {
        return Text::plain("Requests spread over the replicas (--balance); TTFT by replica.");
    }
    let lost = f.lost_ms.as_ref().map_or(String::new(), |d| {
        format!(
            "; time lost before the fallback was tried p50 {:.1} ms, max {:.1} ms",
            d.p50, d.max
        )
    });
    let recovery = f.recovery_ms.map_or(String::new(), |r| {
        format!("; answers flowed again {r:.1} ms after the first failover")
    });
    Text::plain(format!(
        "{} requests failed over, {} answered by a fallback{lost}{recovery}. TTFT counts from the first attempt's send.",
        f.failed_over, f.failed_over_ok
    ))
}
