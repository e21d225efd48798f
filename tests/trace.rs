//! Trace replay (`throughput --trace`): arrivals at the trace's offsets (scaled), one request
//! per entry, prompt lengths as the trace says (counted by the server with its own tokenizer),
//! answer lengths exact, and Mooncake's shared blocks served from the server's prefix cache.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use llmbench::commands::throughput;
use llmbench::sim::SimConfig;

const MOONCAKE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/mooncake.jsonl");
const BURSTGPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/burstgpt.csv");
const PLAIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/trace.jsonl");

/// The file's own (timestamp s, input, output) rows, sorted by time.
fn mooncake_rows() -> Vec<(f64, u64, u64)> {
    let mut rows: Vec<(f64, u64, u64)> = std::fs::read_to_string(MOONCAKE)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["timestamp"].as_f64().unwrap() / 1e3,
                v["input_length"].as_u64().unwrap(),
                v["output_length"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    rows
}

fn server() -> SimConfig {
    SimConfig {
        prefix_caching: true,
        tokenizer: Some("cl100k_base".into()),
        ..timed(5.0, 0.5)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mooncake_trace_is_replayed_as_written() {
    let sim = start_sim(server()).await;
    let args = throughput_args(
        &sim.url(),
        &["--trace", MOONCAKE, "--ignore-eos", "--time-scale", "0.5"],
    );
    let r = throughput::execute(&args).await.unwrap();
    let rows = mooncake_rows();
    assert_eq!(r.summary.requests.ok as usize, rows.len());
    assert_eq!(
        sim.stats.requests_received.load(Ordering::Relaxed) as usize,
        rows.len()
    );
    let mut recs = r.requests.clone();
    recs.sort_by_key(|q| q.id);
    let t0 = recs[0].scheduled_ns.unwrap();
    for (q, (ts, input, output)) in recs.iter().zip(&rows) {
        // Due at the trace's offset, twice as fast.
        let due_s = (q.scheduled_ns.unwrap() - t0) as f64 / 1e9;
        assert!(
            (due_s - (ts - rows[0].0) * 0.5).abs() < 1e-6,
            "{due_s} vs {ts}"
        );
        assert_eq!(q.output_tokens, Some(*output), "request {}", q.id);
        // The server counted the prompt with its own cl100k tokenizer: the trace's length,
        // give or take the joins between blocks and the chat framing.
        let got = q.prompt_tokens.unwrap() as i64;
        assert!((got - *input as i64).abs() <= 8, "{got} vs {input}");
    }
    // Requests naming the same leading blocks got them from the server's cache.
    let p = &r.config["dataset"]["params"];
    let reuse = p["prefix_reuse"].as_f64().unwrap();
    assert!(reuse > 0.3, "{reuse}");
    let t = &r.summary.tokens;
    assert!(
        t.cached as f64 > 0.8 * reuse * t.prompt as f64,
        "{t:?} vs {reuse}"
    );
    assert_eq!(p["format"], "mooncake");
    let text = llmbench::report::console::throughput_summary(&r, r.summary.throughput.req_s);
    assert!(text.contains("mooncake trace, 24 requests"), "{text}");
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burstgpt_and_plain_traces_and_their_cuts() {
    let sim = start_sim(server()).await;
    let args = throughput_args(
        &sim.url(),
        &["--trace", BURSTGPT, "--ignore-eos", "--trace-start", "1s"],
    );
    let r = throughput::execute(&args).await.unwrap();
    let text = std::fs::read_to_string(BURSTGPT).unwrap();
    let rows: Vec<(f64, u64)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[0].parse().unwrap(), c[3].parse().unwrap())
        })
        .collect();
    let kept: Vec<&(f64, u64)> = rows.iter().filter(|(t, _)| *t >= rows[0].0 + 1.0).collect();
    assert_eq!(r.summary.requests.ok as usize, kept.len());
    let mut outs: Vec<u64> = r
        .requests
        .iter()
        .map(|q| q.output_tokens.unwrap())
        .collect();
    let mut want: Vec<u64> = kept.iter().map(|(_, o)| *o).collect();
    outs.sort();
    want.sort();
    assert_eq!(outs, want);

    let args = throughput_args(&sim.url(), &["--trace", PLAIN, "--max-requests", "5"]);
    let r = throughput::execute(&args).await.unwrap();
    assert_eq!(r.summary.requests.total, 5);
    assert_eq!(r.config["dataset"]["params"]["format"], "jsonl");
    sim.stop().await;
}

#[test]
fn trace_flags_are_checked_before_the_run() {
    use clap::Parser;
    let parse = |extra: &[&str]| {
        let mut argv = vec!["llmbench", "throughput", "--url", "http://127.0.0.1:9"];
        argv.extend_from_slice(extra);
        llmbench::cli::Cli::try_parse_from(argv).map(|c| c.command)
    };
    assert!(
        parse(&["--trace", MOONCAKE, "--rate", "5"]).is_err(),
        "a trace sets the rate"
    );
    assert!(parse(&[]).is_err(), "--rate or --trace is needed");
    let Ok(llmbench::cli::Command::Throughput(a)) = parse(&["--trace", "/nonexistent.jsonl"])
    else {
        panic!()
    };
    let e = llmbench::plan::ThroughputPlan::from_args(&a).unwrap_err();
    assert!(format!("{e:#}").contains("cannot read"), "{e:#}");
}

const SESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/docs/examples/burstgpt-sessions.csv"
);

/// A BurstGPT trace with Session IDs replays each session as a conversation: turn k+1 at its
/// time but never before turn k's answer, with the history so far (the same text each turn,
/// so the server's prefix cache serves it) and the prompt the trace's length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burstgpt_trace_with_sessions_replays_conversations() {
    let sim = start_sim(server()).await;
    let args = throughput_args(&sim.url(), &["--trace", SESSIONS, "--ignore-eos"]);
    let r = throughput::execute(&args).await.unwrap();
    // (timestamp, session, request tokens, response tokens), in time order.
    let rows: Vec<(f64, String, u64, u64)> = std::fs::read_to_string(SESSIONS)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            let n = |i: usize| c[i].parse::<u64>().unwrap();
            (c[0].parse().unwrap(), c[1].to_string(), n(3), n(4))
        })
        .collect();
    assert_eq!(r.summary.requests.ok as usize, rows.len());
    assert_eq!(
        sim.stats.requests_received.load(Ordering::Relaxed) as usize,
        rows.len()
    );
    assert_eq!(
        r.config["dataset"]["params"]["sessions"], 6,
        "4 sessions, 2 alone"
    );
    let mut by_id = r.requests.clone();
    by_id.sort_by_key(|q| q.id);
    let t0 = by_id[0].scheduled_ns.unwrap();
    for (q, (ts, _, _, out)) in by_id.iter().zip(&rows) {
        assert_eq!(q.output_tokens, Some(*out), "request {}", q.id);
        let sent_s = (q.sent_ns - t0) as f64 / 1e9;
        assert!(
            sent_s >= ts - 1e-3,
            "request {} sent at {sent_s}, due {ts}",
            q.id
        );
    }
    let mut convs: std::collections::BTreeMap<u64, Vec<_>> = Default::default();
    for q in &by_id {
        convs.entry(q.conversation.unwrap()).or_default().push(q);
    }
    assert_eq!(convs.len(), 6);
    let mut waited = 0;
    for turns in convs.values() {
        let sid = &rows[turns[0].id as usize].1;
        assert!(turns.iter().all(|q| rows[q.id as usize].1 == *sid));
        for (k, pair) in turns.windows(2).enumerate() {
            let (prev, next) = (pair[0], pair[1]);
            assert_eq!(next.turn, Some(k as u32 + 1));
            assert!(
                next.sent_ns >= prev.done_ns,
                "a turn waits for the answer before it"
            );
            let due = t0 + (rows[next.id as usize].0 * 1e9) as u64;
            if prev.done_ns > due {
                waited += 1;
            }
            // The whole prompt is the trace's length (history + the new message), and the
            // history is what the server saw before: its cache serves at least the
            // previous prompt.
            let (want, got) = (
                rows[next.id as usize].2 as i64,
                next.prompt_tokens.unwrap() as i64,
            );
            assert!((got - want).abs() <= 16, "turn {}: {got} vs {want}", k + 1);
            // Less at most a 64-byte block (16 tokens) and the simulator's 3 framing tokens per
            // message of the previous prompt (turn t holds 2t + 1 messages), which no cache holds.
            let cached = next.cached_tokens.unwrap_or(0) as i64;
            let framing = 3 * (2 * prev.turn.unwrap_or(0) as i64 + 1);
            assert!(
                cached >= prev.prompt_tokens.unwrap() as i64 - 16 - framing,
                "turn {}: cached {cached}, previous prompt {:?}, this prompt {got}: {next:?} after {prev:?}",
                k + 1,
                prev.prompt_tokens
            );
        }
    }
    assert_eq!(
        waited, 1,
        "s4's last turn is due 1 ms after its previous one"
    );
    sim.stop().await;
}
