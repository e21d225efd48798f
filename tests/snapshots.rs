//! Golden-file tests of every console view and of the Markdown report, over results built from
//! fixed records: the README's sample outputs are pinned here. After an intended change of a
//! view, review and accept the new text with `cargo insta review` (or `INSTA_UPDATE=always`).

use llmbench::metrics::targets;
use llmbench::record::{Failure, FailureKind, RequestRecord, TokenSource};
use llmbench::report::{console, markdown};
use llmbench::result::{BenchResult, Header, Level, LevelParams, Tool};
use llmbench::target::TargetInfo;
use llmbench::verdict::{self, check::Tolerances};

const MS: u64 = 1_000_000;

/// Request `id`: sent at `at_ms`, first token after `ttft_ms`, then `tokens − 1` tokens
/// `itl_ms` apart. Every figure follows from these numbers.
fn rec(id: u64, at_ms: u64, ttft_ms: u64, itl_ms: u64, tokens: u64) -> RequestRecord {
    let sent = at_ms * MS;
    let content: Vec<u64> = (0..tokens)
        .map(|i| sent + ttft_ms * MS + i * itl_ms * MS)
        .collect();
    RequestRecord {
        id,
        scheduled_ns: None,
        sent_ns: sent,
        headers_ns: Some(sent + MS),
        done_ns: content.last().copied().unwrap_or(sent) + MS,
        content_ns: content,
        prompt_tokens: Some(100),
        output_tokens: Some(tokens),
        token_source: TokenSource::Usage,
        finish_reason: Some("length".into()),
        ..Default::default()
    }
}

/// `n` requests, one after another, with a little seeded spread in TTFT and ITL.
fn records(n: u64, level: Option<u32>, ttft_ms: u64, itl_ms: u64) -> Vec<RequestRecord> {
    let mut t = 0;
    (0..n)
        .map(|i| {
            let mut r = rec(i, t, ttft_ms + (i * 7) % 5, itl_ms + (i * 3) % 2, 20);
            r.level = level;
            t = r.done_ns / MS + 1;
            r
        })
        .collect()
}

fn head(command: &str) -> Header {
    Header {
        command: command.into(),
        started_at: "2026-12-03T12:00:00.000Z".into(),
        tool: Tool {
            name: "llmbench".into(),
            version: "0.0.0-test".into(),
        },
        target: TargetInfo {
            url: "http://127.0.0.1:8000/v1".into(),
            model: "test-model".into(),
            backend: "local".into(),
            ..Default::default()
        },
        config: serde_json::json!({}),
        shard: None,
    }
}

fn failed(id: u64, at_ms: u64) -> RequestRecord {
    RequestRecord {
        id,
        sent_ns: at_ms * MS,
        done_ns: (at_ms + 3) * MS,
        error: Some(Failure {
            kind: FailureKind::Http,
            http_status: Some(503),
            detail: "HTTP 503: overloaded".into(),
        }),
        ..Default::default()
    }
}

fn run_result() -> BenchResult {
    let mut recs = records(8, None, 40, 10);
    recs.push(failed(8, 10_000));
    let mut r = BenchResult::build(head("run"), recs, Vec::new());
    let reqs = targets::parse_all(&["ttft.p95<=45ms".into(), "tok_s>=500".into()]).unwrap();
    r.targets = reqs.iter().map(|t| t.evaluate(&r.summary, None)).collect();
    r
}

fn sweep_result() -> BenchResult {
    let mut recs = records(6, Some(0), 30, 10);
    let mut more = records(6, Some(1), 50, 12);
    for (i, r) in more.iter_mut().enumerate() {
        r.id = 6 + i as u64;
    }
    recs.extend(more);
    let level = |i: u32, c: usize| {
        let p = LevelParams {
            concurrency: Some(c),
            ..Default::default()
        };
        Level::of(i, format!("c{c}"), p, &recs)
    };
    let levels = vec![level(0, 1), level(1, 4)];
    BenchResult::build(head("sweep"), recs, levels)
}

#[test]
fn run_summary_and_targets() {
    let r = run_result();
    insta::assert_snapshot!(console::run_summary(&r) + &console::targets_table(&r.targets));
}

#[test]
fn throughput_summary() {
    let mut recs = records(10, None, 40, 10);
    for (i, r) in recs.iter_mut().enumerate() {
        r.scheduled_ns = Some(r.sent_ns.saturating_sub(i as u64 * MS / 10));
    }
    let r = BenchResult::build(head("throughput"), recs, Vec::new());
    insta::assert_snapshot!(console::throughput_summary(&r, 2.0));
}

#[test]
fn sweep_table() {
    insta::assert_snapshot!(console::sweep_table(&sweep_result()));
}

#[test]
fn suite_summary() {
    let mut r = sweep_result();
    r.command = "suite".into();
    for (l, name) in r.levels.iter_mut().zip(["small", "large"]) {
        l.name = name.into();
        l.params.model = Some(format!("{name}-model"));
    }
    insta::assert_snapshot!(console::suite_summary(&r));
}

#[test]
fn stress_summary() {
    let recs = records(6, None, 30, 10);
    let rows = vec![
        verdict::stress::level_stats(0, 1.0, &recs[..3], &[], (0.0, 1.0)),
        verdict::stress::level_stats(1, 2.0, &recs[3..], &[], (1.0, 2.0)),
    ];
    let mut r = BenchResult::build(head("stress"), recs, Vec::new());
    r.stress = Some(verdict::stress::conclude(
        rows,
        Some((1, verdict::stress::FailureMode::HighErrorRate)),
        "break".into(),
    ));
    insta::assert_snapshot!(console::stress_summary(&r));
}

#[test]
fn ttft_ab_summary() {
    let mut r = sweep_result();
    r.command = "ttft".into();
    let (a, b): (Vec<&RequestRecord>, Vec<&RequestRecord>) =
        r.requests.iter().partition(|x| x.level == Some(0));
    r.comparison = Some(verdict::compare::Comparison {
        rows: verdict::compare::compare_records(&a, &b),
        ..Default::default()
    });
    r.intervals = verdict::ttft::intervals("treatment", b.iter().copied());
    insta::assert_snapshot!(console::ttft_summary(&r));
}

#[test]
fn compare_and_check_tables() {
    let base = run_result();
    let mut cur = run_result();
    for q in &mut cur.requests {
        if let Some(first) = q.content_ns.first_mut() {
            *first += 5 * MS;
        }
    }
    let cur = BenchResult::build(head("run"), cur.requests, Vec::new());
    let rows = verdict::compare::compare_results(&base, &cur);
    let req = verdict::compare::check_requirements(&rows, &["ttft.p95:-10%".into()]).unwrap();
    let c = verdict::compare::Comparison {
        rows,
        requirements: req,
        differences: Vec::new(),
    };
    let tol = Tolerances {
        relative: 0.1,
        points: 1.0,
        per_metric: Default::default(),
    };
    let check = verdict::check::check(&base, &cur, &[], &tol).unwrap();
    insta::assert_snapshot!(
        console::comparison_table(&c, "base.json", "current.json")
            + &console::check_table(&check.rows)
    );
}

#[test]
fn markdown_reports() {
    let mut stress = BenchResult::build(head("stress"), records(4, None, 30, 10), Vec::new());
    stress.stress = Some(verdict::stress::conclude(
        vec![verdict::stress::level_stats(
            0,
            1.0,
            &stress.requests,
            &[],
            (0.0, 1.0),
        )],
        None,
        "max_rate".into(),
    ));
    insta::assert_snapshot!("markdown_run", markdown::render(&run_result()));
    insta::assert_snapshot!("markdown_sweep", markdown::render(&sweep_result()));
    insta::assert_snapshot!("markdown_stress", markdown::render(&stress));
}
