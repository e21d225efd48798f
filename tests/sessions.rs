//! Multi-turn sessions: a conversation is one user; turn k+1 is sent after turn k's answer and
//! the think time, and its history holds the answers the server actually gave (a recording
//! server checks the bodies it received); a failed turn ends its conversation; the report's
//! cached prompt tokens grow with the turn on a server with a prefix cache.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::*;
use llmbench::commands::run;
use llmbench::sim::SimConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A chat server that answers request n with the text `reply-n` (streamed) and keeps every
/// request body it received.
async fn recording_server() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let b = bodies.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let b = b.clone();
            tokio::spawn(async move {
                while let Some((path, body)) = read_request(&mut s).await {
                    let reply = if path.ends_with("/models") {
                        let j = r#"{"object":"list","data":[{"id":"rec","object":"model"}]}"#;
                        format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{j}", j.len())
                    } else {
                        let n = {
                            let mut v = b.lock().unwrap();
                            v.push(serde_json::from_slice(&body).unwrap());
                            v.len() - 1
                        };
                        let sse = format!(
                            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"reply-{n}\"}},\"finish_reason\":null}}]}}\n\ndata: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":1}}}}\n\ndata: [DONE]\n\n"
                        );
                        format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{sse}", sse.len())
                    };
                    if s.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, bodies)
}

/// One HTTP/1.1 request: its path and body.
async fn read_request(s: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some((path, buf[end + 4..end + 4 + len].to_vec()));
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn assistant_texts(body: &serde_json::Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

const ARGS: &[&str] = &[
    "--dataset",
    "multi-turn",
    "--turns",
    "3",
    "--input-tokens",
    "16",
    "--max-tokens",
    "4",
    "--runs",
    "12",
    "-c",
    "2",
    "--warmup",
    "0",
    "--think-time",
    "30ms",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_turn_follows_the_answer_and_carries_it() {
    let (url, bodies) = recording_server().await;
    let r = run::execute(&run_args(&url, ARGS)).await.unwrap();
    assert_eq!(r.summary.requests.ok, 12);
    // The server's n-th answer was `reply-n`: every history holds answers it gave, each in the
    // conversation it was given in.
    let got = bodies.lock().unwrap().clone();
    assert_eq!(got.len(), 12);
    let mut by_conv: BTreeMap<u64, Vec<&llmbench::record::RequestRecord>> = BTreeMap::new();
    for q in &r.requests {
        by_conv.entry(q.conversation.unwrap()).or_default().push(q);
    }
    assert_eq!(by_conv.len(), 4);
    let firsts: Vec<String> = got
        .iter()
        .map(|b| b["messages"][0]["content"].as_str().unwrap().to_string())
        .collect();
    for (i, b) in got.iter().enumerate() {
        let history = assistant_texts(b);
        // Turn t carries t answers, each one the server gave to an earlier request of the
        // same conversation (same first message).
        for a in &history {
            let n: usize = a
                .strip_prefix("reply-")
                .expect("a real answer")
                .parse()
                .unwrap();
            assert!(n < i, "answer {n} used by request {i} before it existed");
            assert_eq!(firsts[n], firsts[i], "answer {n} from another conversation");
        }
    }
    let mut turns_seen: Vec<usize> = got.iter().map(|b| assistant_texts(b).len()).collect();
    turns_seen.sort();
    assert_eq!(turns_seen, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    // Turn t+1 leaves at least the think time after turn t's answer ended.
    for recs in by_conv.values() {
        let mut recs = recs.clone();
        recs.sort_by_key(|q| q.turn);
        assert_eq!(
            recs.iter().map(|q| q.turn.unwrap()).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        for w in recs.windows(2) {
            assert!(w[1].sent_ns >= w[0].done_ns + 30_000_000, "{w:?}");
        }
    }
    let s = r.sessions.unwrap();
    assert_eq!((s.conversations, s.completed, s.cut_short), (4, 4, 0));
    assert_eq!(s.turns.len(), 3);

    // --synthetic-history: the server's answers are never in a history.
    let (url, bodies) = recording_server().await;
    let mut args = ARGS.to_vec();
    args.push("--synthetic-history");
    run::execute(&run_args(&url, &args)).await.unwrap();
    for b in bodies.lock().unwrap().iter() {
        assert!(assistant_texts(b).iter().all(|a| !a.contains("reply-")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_turn_ends_its_conversation_and_caching_grows_by_turn() {
    let mut cfg = SimConfig {
        prefix_caching: true,
        ..timed(10.0, 1.0)
    };
    cfg.faults.error_rate = 0.2;
    cfg.seed = 7;
    let sim = start_sim(cfg).await;
    let mut args = ARGS.to_vec();
    args[9] = "60"; // --runs: 20 conversations
    args[5] = "64"; // --input-tokens: prompts of several of the cache's 64-byte blocks
    let r = run::execute(&run_args(&sim.url(), &args)).await.unwrap();
    let s = r.sessions.clone().unwrap();
    let mut by_conv: BTreeMap<u64, Vec<&llmbench::record::RequestRecord>> = BTreeMap::new();
    for q in &r.requests {
        by_conv.entry(q.conversation.unwrap()).or_default().push(q);
    }
    let mut cut = 0;
    for recs in by_conv.values() {
        let mut recs = recs.clone();
        recs.sort_by_key(|q| q.turn);
        // Nothing follows a failure; the turns are consecutive from 0.
        if let Some(k) = recs.iter().position(|q| !q.is_ok()) {
            assert_eq!(k + 1, recs.len(), "{recs:?}");
            cut += 1;
        }
        for (t, q) in recs.iter().enumerate() {
            assert_eq!(q.turn, Some(t as u32));
        }
    }
    assert!(
        cut > 0,
        "a 20% error rate over 20 conversations fails some turn"
    );
    assert_eq!(s.cut_short, cut);
    assert_eq!(s.conversations, 20);
    assert_eq!(
        r.summary.requests.total,
        sim.stats
            .requests_received
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    // Each later turn repeats the previous prompt: the server had more of it cached.
    let cached: Vec<f64> = s
        .turns
        .iter()
        .map(|t| t.cached_tokens_mean.unwrap())
        .collect();
    assert_eq!(cached[0], 0.0, "{cached:?}");
    assert!(cached[1] > 0.0 && cached[2] > cached[1], "{cached:?}");
    let text = llmbench::report::console::sessions_block(&r);
    assert!(
        text.contains("Sessions by turn") && text.contains("ended early"),
        "{text}"
    );
    sim.stop().await;
}

/// 10 sessions of 3 turns, one arrival each 100 ms for 1 s (the think time last).
const OPEN_SESSIONS: &[&str] = &[
    "--dataset",
    "multi-turn",
    "--turns",
    "3",
    "--input-tokens",
    "16",
    "--max-tokens",
    "4",
    "--rate",
    "10",
    "--arrival",
    "constant",
    "--duration",
    "1s",
    "--think-time",
    "50ms",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_open_loop_each_arrival_starts_a_session() {
    let sim = start_sim(timed(10.0, 1.0)).await;
    let args = throughput_args(&sim.url(), OPEN_SESSIONS);
    let r = llmbench::commands::throughput::execute(&args)
        .await
        .unwrap();
    // 10 sessions arrive, 100 ms apart; each runs its 3 turns.
    assert_eq!(r.summary.requests.ok, 30);
    assert_eq!(
        sim.stats
            .requests_received
            .load(std::sync::atomic::Ordering::Relaxed),
        30
    );
    let s = r.sessions.unwrap();
    assert_eq!((s.conversations, s.completed), (10, 10));
    let mut firsts: Vec<u64> = r
        .requests
        .iter()
        .filter(|q| q.turn == Some(0))
        .map(|q| q.scheduled_ns.unwrap())
        .collect();
    firsts.sort();
    for (k, w) in firsts.windows(2).enumerate() {
        assert_eq!(w[1] - w[0], 100_000_000, "session {k}");
    }
    let mut by_conv: BTreeMap<u64, Vec<&llmbench::record::RequestRecord>> = BTreeMap::new();
    for q in &r.requests {
        by_conv.entry(q.conversation.unwrap()).or_default().push(q);
    }
    for recs in by_conv.values_mut() {
        recs.sort_by_key(|q| q.turn);
        for w in recs.windows(2) {
            assert!(w[1].sent_ns >= w[0].done_ns + 50_000_000);
            assert_eq!(w[1].scheduled_ns, None, "later turns follow their answers");
        }
    }
    // Sharded, each session runs on exactly one shard, whole.
    let mut convs = Vec::new();
    for i in 0..2 {
        let mut argv = vec![
            "--dataset",
            "multi-turn",
            "--turns",
            "3",
            "--input-tokens",
            "16",
            "--max-tokens",
            "4",
            "--rate",
            "10",
            "--arrival",
            "constant",
            "--duration",
            "1s",
            "--seed",
            "5",
        ];
        let shard = format!("{i}/2");
        argv.extend(["--shard", shard.as_str()]);
        let r = llmbench::commands::throughput::execute(&throughput_args(&sim.url(), &argv))
            .await
            .unwrap();
        assert_eq!(r.summary.requests.ok, 15, "shard {i}");
        convs.extend(
            r.requests
                .iter()
                .filter(|q| q.turn == Some(0))
                .map(|q| q.conversation),
        );
    }
    convs.sort();
    convs.dedup();
    assert_eq!(convs.len(), 10, "{convs:?}");
    sim.stop().await;
}
