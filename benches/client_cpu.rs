//! CPU cost of the client per streamed token, and of the simulator per served token.
//!
//! Starts `llmbench sim --profile zero` as a child process (no delays: the server is never the
//! bottleneck), then streams STREAMS requests of TOKENS tokens at CONCURRENCY from this process
//! on a single-threaded runtime (one core), twice, side by side:
//!   * `llmbench client`: the real client (SSE decoding, JSON reading, per-event timestamps);
//!   * `floor`: the same HTTP stack reading and discarding the bytes (what any client pays).
//!
//! Prints CPU µs per token for each, their ratio, and the simulator's own CPU per token.
//!
//!   cargo bench --bench client_cpu
//!   STREAMS=200 valgrind --tool=callgrind target/release/deps/client_cpu-*   (instruction counts;
//!   build with `--profile profiling` for symbols)

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use llmbench::client::{build_headers, Client, Endpoint};
use llmbench::protocol::Api;
use llmbench::record::Clock;
use llmbench::scheduler::{closed_loop, ClosedLoop, Live, Stop};
use llmbench::workload::{render_body, BodyOptions, Content};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_s(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let streams = env("STREAMS", 2000);
    let tokens = env("TOKENS", 128) as u32;
    let concurrency = env("CONCURRENCY", 64) as usize;
    println!("client CPU per streamed token: {streams} streams x {tokens} tokens, concurrency {concurrency}, one core\n");
    println!("== zero-delay server (tokens arrive as fast as the server can write them) ==");
    scenario(streams, tokens, concurrency, &[]);
    if env("PACED", 1) == 1 {
        println!("\n== paced server, 1 ms per decode step (about one SSE event per read) ==");
        scenario(streams / 4, tokens, concurrency, &["--decode-base-ms", "1"]);
    }
}

fn scenario(streams: u64, tokens: u32, concurrency: usize, sim_args: &[&str]) {
    let mut sim = vec!["--profile", "zero"];
    sim.extend_from_slice(sim_args);
    let (mut child, url) =
        llmbench::sim::spawn_child(std::path::Path::new(env!("CARGO_BIN_EXE_llmbench")), &sim)
            .expect("start llmbench sim");
    let sim_pid = child.id().to_string();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let endpoint = Endpoint {
        base: url.clone(),
        api: Api::Chat,
        stream: true,
        timeout: Some(Duration::from_secs(60)),
        headers: build_headers(Api::Chat, None, &[]).unwrap(),
        path: None,
    };
    let opts = BodyOptions {
        api: Api::Chat,
        model: "bench".into(),
        max_tokens: tokens,
        stream: true,
        temperature: None,
        ignore_eos: true,
        include_usage: true,
        options: Default::default(),
    };
    let body = render_body(
        &opts,
        &Content::Prompt("Measure the client, not the server.".into()),
        tokens,
    );

    println!(
        "{:<18} {:>10} {:>10} {:>12} {:>14}",
        "client", "wall s", "CPU s", "tokens", "CPU us/token"
    );
    let mut results = Vec::new();
    // MODE=client or MODE=floor: one round of one side only (for valgrind --tool=callgrind).
    let only = std::env::var("MODE").ok();
    let modes: Vec<&str> = match only.as_deref() {
        Some("client") => vec!["llmbench client"],
        Some("floor") => vec!["floor"],
        _ => vec!["llmbench client", "floor"],
    };
    let rounds = if only.is_some() { 1 } else { 2 };
    for round in 0..rounds {
        for &mode in &modes {
            let client = Client::new(endpoint.clone(), concurrency).unwrap();
            let sim_cpu0 = cpu_s(&sim_pid);
            let cpu0 = cpu_s("self");
            let t0 = Instant::now();
            let toks = rt.block_on(async {
                if mode == "floor" {
                    floor(&url, &body, streams, tokens as u64, concurrency).await
                } else {
                    let b = body.clone();
                    let recs = closed_loop(
                        ClosedLoop {
                            first_id: 0,
                            count: streams,
                            concurrency,
                            warmup: false,
                            level: None,
                            shard: None,
                        },
                        &client,
                        Clock::start(),
                        &Stop::new(),
                        &Arc::new(Live::default()),
                        move |_| b.clone(),
                        |_| true,
                    )
                    .await;
                    let failed = recs.iter().filter(|r| !r.is_ok()).count();
                    assert_eq!(
                        failed,
                        0,
                        "{:?}",
                        recs.iter().find(|r| !r.is_ok()).map(|r| &r.error)
                    );
                    recs.iter().filter_map(|r| r.output_tokens).sum::<u64>()
                }
            });
            let wall = t0.elapsed().as_secs_f64();
            let cpu = cpu_s("self") - cpu0;
            let sim_cpu = cpu_s(&sim_pid) - sim_cpu0;
            let per_tok = cpu / toks as f64 * 1e6;
            println!("{mode:<18} {wall:>10.2} {cpu:>10.2} {toks:>12} {per_tok:>14.3}");
            if round + 1 == rounds {
                results.push((
                    mode,
                    per_tok,
                    sim_cpu / toks as f64 * 1e6,
                    toks as f64 / wall,
                ));
            }
        }
    }
    if results.len() < 2 {
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    let (_, ours, sim_per_tok, rate) = results[0];
    let (_, floor_cost, _, _) = results[1];
    println!("ratio llmbench client / floor: {:.2}", ours / floor_cost);
    println!(
        "simulator: {sim_per_tok:.3} CPU us per served token ({:.0} tokens per sim CPU-second); {rate:.0} tok/s end to end",
        1e6 / sim_per_tok.max(1e-9)
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// The same HTTP stack, reading and discarding the body: the floor every client pays.
async fn floor(url: &str, body: &Bytes, streams: u64, tokens: u64, concurrency: usize) -> u64 {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, next, body) = (http.clone(), next.clone(), body.clone());
        let url = format!("{url}/chat/completions");
        tasks.push(tokio::spawn(async move {
            let mut bytes = 0u64;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < streams {
                let mut r = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                while let Some(c) = r.chunk().await.unwrap() {
                    bytes += c.len() as u64;
                }
            }
            bytes
        }));
    }
    let mut bytes_total = 0;
    for t in tasks {
        bytes_total += t.await.unwrap();
    }
    // Same token count as the client (the server sends exactly max_tokens each).
    let _ = bytes_total;
    streams * tokens
}
