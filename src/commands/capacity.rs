//! `llmbench capacity`: the highest load that meets every SLO. Probes at rising levels (open
//! loop by rate, or closed loop by users), bracketed by doubling and then bisected to
//! `--precision`; each probe long enough for its percentiles; the answer in plain words, with a
//! 95 % interval on each percentile SLO at the chosen level.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::CapacityArgs;
use crate::metrics::metric::Metric;
use crate::metrics::Summary;
use crate::plan::{CapacityPlan, Plan};
use crate::record::RequestRecord;
use crate::report::progress::{Progress, Span};
use crate::result::{BenchResult, Level, LevelParams};
use crate::scheduler::{ClosedLoop, OpenLoop, Warmup};
use crate::session::Session;
use crate::verdict::capacity::{self, level_text, AtChoice, By, Probe, Search};
use crate::workload::Workload;

use super::conclude;

pub async fn capacity(args: CapacityArgs) -> anyhow::Result<ExitCode> {
    let plan = CapacityPlan::from_args(&args)?;
    let result = execute_plan(&plan).await?;
    let text = crate::report::console::capacity_summary(&result);
    let code = conclude(&result, text, &plan.common.output)?;
    // No level met every SLO: the requirement the command was asked about failed.
    let none = result
        .capacity
        .as_ref()
        .is_none_or(|c| c.rate_req_s.is_none());
    Ok(if none && code == ExitCode::SUCCESS {
        ExitCode::from(1)
    } else {
        code
    })
}

/// Run the search and return its result (used by tests).
pub async fn execute(args: &CapacityArgs) -> anyhow::Result<BenchResult> {
    execute_plan(&CapacityPlan::from_args(args)?).await
}

async fn execute_plan(plan: &Plan<CapacityPlan>) -> anyhow::Result<BenchResult> {
    let (p, req) = (&plan.kind, &plan.requests);
    let quiet = plan.common.output.quiet;
    let mut s = Session::open(&plan.common).await?;
    let workload = s.bind(&req.workload, req.count_with_tokenizer);
    if !quiet {
        eprintln!(
            "llmbench capacity: by {} from {} to {}, SLOs {}, probes of {:.0}s, precision {:.0}%",
            crate::units::Named::name(p.by),
            level_text(p.by, p.min),
            level_text(p.by, p.max),
            p.slos.join(", "),
            p.probe_duration_s,
            p.precision * 100.0
        );
    }
    s.begin(plan.config()).await?;
    let mut search = Search::new(p.by, p.min, p.max, p.precision, p.max_probes);
    let (mut records, mut probes, mut levels) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(level) = search.next() {
        if s.stop.is_stopping() {
            break;
        }
        let idx = probes.len() as u32;
        let first_id = records.len() as u64;
        let mine = match p.by {
            By::Rate => {
                let lengthen = search.bisecting();
                probe_rate(&s, p, &workload, idx, level, first_id, lengthen).await
            }
            By::Concurrency => {
                let pace = Pace {
                    per_user_s: per_user_rate(&probes),
                    lengthen: search.bisecting(),
                };
                probe_users(&s, p, &workload, (idx, first_id), level, pace).await
            }
        };
        let summary = Summary::from_records_with(&mine, &plan.common.output.extras());
        let probe = judge(p, level, &summary);
        if !quiet {
            eprintln!("{}", probe_line(p.by, idx, &probe));
        }
        search.record(level, probe.passed);
        levels.push(Level {
            name: format!("probe {idx}: {}", level_text(p.by, level)),
            params: match p.by {
                By::Rate => LevelParams {
                    rate: Some(level),
                    ..Default::default()
                },
                By::Concurrency => LevelParams {
                    concurrency: Some(level as usize),
                    ..Default::default()
                },
            },
            summary,
            target: None,
            error: None,
        });
        probes.push(probe);
        records.extend(mine);
    }
    let at = at_choice(p, &search, &probes, &records);
    let report = capacity::conclude(&search, &p.targets, probes, &at);
    let mut result = s.finish(&workload, records, levels).await;
    result.capacity = Some(report);
    Ok(result)
}

/// A probe's verdict: each SLO on its summary, and whether its percentiles rest on enough
/// samples.
fn judge(p: &CapacityPlan, level: f64, summary: &Summary) -> Probe {
    let slos: Vec<_> = p
        .targets
        .iter()
        .map(|t| t.evaluate(summary, None))
        .collect();
    let weak: Vec<String> = p
        .targets
        .iter()
        .filter_map(|t| {
            let q = capacity::quantile_of(t)?;
            let (Some(Metric::Stat(d, _)) | Some(Metric::Quantile(d, _))) =
                Metric::lookup(&t.metric)
            else {
                return None;
            };
            let n = (d.summary)(summary).map_or(0, |d| d.count) as usize;
            let needed = capacity::samples_needed(q);
            (n < needed).then(|| format!("{} rests on {n} samples ({needed} needed)", t.metric))
        })
        .collect();
    // Nothing measured is nothing met.
    let measured = summary.requests.total > 0;
    Probe {
        level,
        passed: measured && slos.iter().all(|o| o.passed),
        slos,
        requests: summary.requests.total,
        req_s: summary.throughput.req_s,
        avg_concurrency: summary.concurrency.avg,
        ttft_p95_ms: summary.ttft_ms.as_ref().map(|d| d.p95),
        tpot_p95_ms: summary.tpot_ms.as_ref().map(|d| d.p95),
        note: if !measured {
            Some(format!(
                "at {}: no request was measured; lengthen --probe-duration",
                level_text(p.by, level)
            ))
        } else {
            (!weak.is_empty()).then(|| {
                format!(
                    "at {}: {}; lengthen --probe-duration",
                    level_text(p.by, level),
                    weak.join(", ")
                )
            })
        },
    }
}

fn probe_line(by: By, idx: u32, p: &Probe) -> String {
    let slos: Vec<String> = p
        .slos
        .iter()
        .map(|o| {
            format!(
                "{} {} {}",
                o.metric,
                o.shown,
                if o.passed { "ok" } else { "MISSED" }
            )
        })
        .collect();
    format!(
        "probe {idx}: {}: {} requests, {:.1} req/s, {:.1} in flight; {} → {}",
        level_text(by, p.level),
        p.requests,
        p.req_s,
        p.avg_concurrency,
        slos.join(", "),
        if p.passed { "met" } else { "not met" }
    )
}

/// Open-loop arrivals at `rate` for the probe's duration (after a warmup of a fifth of it),
/// lengthened (`lengthen`, once the boundary is bracketed) up to four times for enough
/// samples; cut at one more duration after the last.
async fn probe_rate(
    s: &Session,
    p: &CapacityPlan,
    w: &Workload,
    idx: u32,
    rate: f64,
    first_id: u64,
    lengthen: bool,
) -> Vec<RequestRecord> {
    // At least 20 arrivals; near the boundary, enough for the percentiles' intervals.
    let wanted = if lengthen {
        p.samples_needed.max(20) as f64 * 1.2 / rate
    } else {
        20.0 / rate
    };
    let secs = wanted.clamp(p.probe_duration_s, 4.0 * p.probe_duration_s);
    let duration = Duration::from_secs_f64(secs);
    let plan = OpenLoop {
        rate,
        arrival: p.arrival,
        burstiness: 1.0,
        seed: w.seed.wrapping_add(idx as u64),
        max_concurrency: None,
        duration,
        warmup: Warmup::Duration(duration / 5),
        max_requests: None,
        start_s: s.clock.now_ns() as f64 / 1e9,
        first_id,
        level: Some(idx),
        shard: None,
        drain: Some(duration),
        offsets: None,
    };
    let progress = Progress::start(
        s.quiet,
        Span::Duration(duration + duration / 5),
        Some(rate),
        s.live.clone(),
        Some(s.samples()),
    );
    let records = s.run_open(&plan, w).await;
    progress.finish().await;
    records
}

/// Completed requests per second per user, from the last probe by concurrency.
fn per_user_rate(probes: &[Probe]) -> Option<f64> {
    probes
        .last()
        .filter(|p| p.req_s > 0.0)
        .map(|p| p.req_s / p.level)
}

/// `users` closed-loop users: a warmup of one request each, then enough requests for the
/// probe's duration at the last probe's pace per user (and for the percentiles' samples).
/// How long a probe by concurrency runs: the last probe's pace per user, and whether it is near
/// the boundary (then long enough for the percentiles' intervals).
struct Pace {
    per_user_s: Option<f64>,
    lengthen: bool,
}

async fn probe_users(
    s: &Session,
    p: &CapacityPlan,
    w: &Workload,
    (idx, first_id): (u32, u64),
    users: f64,
    Pace {
        per_user_s,
        lengthen,
    }: Pace,
) -> Vec<RequestRecord> {
    let users = users as usize;
    // Several requests per user; near the boundary, enough for the percentiles' intervals.
    let samples = if lengthen {
        (p.samples_needed as f64 * 1.2) as u64
    } else {
        20
    };
    let floor = samples.max(4 * users as u64);
    let count = per_user_s.map_or(floor, |r| {
        ((r * users as f64 * p.probe_duration_s) as u64).clamp(floor, 4 * floor.max(1000))
    });
    let progress = Progress::start(
        s.quiet,
        Span::Requests(count + users as u64),
        None,
        s.live.clone(),
        Some(s.samples()),
    );
    let mut out = Vec::new();
    for (first, n, warmup) in [
        (first_id, users as u64, true),
        (first_id + users as u64, count, false),
    ] {
        let phase = ClosedLoop {
            first_id: first,
            count: n,
            concurrency: users,
            warmup,
            level: Some(idx),
            shard: None,
        };
        out.extend(s.run_closed(phase, w).await);
    }
    progress.finish().await;
    out
}

/// The chosen probe's values of each percentile SLO, sorted.
fn at_choice<'a>(
    p: &'a CapacityPlan,
    search: &Search,
    probes: &[Probe],
    records: &[RequestRecord],
) -> Vec<AtChoice<'a>> {
    let Some(idx) = search
        .pass
        .and_then(|l| probes.iter().position(|x| x.level == l && x.passed))
    else {
        return Vec::new();
    };
    let mine: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| r.level == Some(idx as u32))
        .collect();
    p.targets
        .iter()
        .filter(|t| capacity::quantile_of(t).is_some())
        .filter_map(|t| match Metric::lookup(&t.metric)? {
            Metric::Stat(d, _) | Metric::Quantile(d, _) => {
                let mut sorted = d.values_of(mine.iter().copied());
                sorted.sort_by(f64::total_cmp);
                Some(AtChoice { slo: t, sorted })
            }
            Metric::Scalar(_) => None,
        })
        .collect()
}
