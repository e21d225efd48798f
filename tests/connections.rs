//! The client against servers that misbehave at the connection level, each judged against what
//! the server itself counted: no request answered twice, no false failure from a stale pooled
//! connection, no waiting on a server that lingers after the end of an answer, and a clear
//! `bad_response` for a body that is not an event stream.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{run_args, start_sim, zero};
use llmbench::client::{build_headers, Client, Endpoint};
use llmbench::protocol::Api;
use llmbench::record::{Clock, FailureKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const CHAT_BODY: &str = r#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

/// Read one HTTP/1.1 request (headers and a Content-Length body); `None` at EOF.
async fn read_request(s: &mut TcpStream) -> Option<()> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut byte).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&byte[..n]);
            }
            return Some(());
        }
        let n = s.read(&mut byte).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    }
}

fn endpoint(addr: std::net::SocketAddr, stream: bool) -> Endpoint {
    Endpoint {
        base: format!("http://{addr}/v1"),
        api: Api::Chat,
        stream,
        timeout: Some(Duration::from_secs(10)),
        headers: build_headers(Api::Chat, None, &[]).unwrap(),
        path: None,
    }
}

/// A keep-alive server that treats a connection idle for `idle` as closed: a request arriving
/// on it later is dropped unanswered, as a request written to a socket the server had just
/// closed is. Counts the requests it answered and those it dropped.
async fn stale_keepalive_server(idle: Duration) -> (std::net::SocketAddr, Arc<[AtomicU64; 2]>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let c = counts.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let c = c.clone();
            tokio::spawn(async move {
                let mut last = Instant::now();
                while read_request(&mut s).await.is_some() {
                    if last.elapsed() >= idle {
                        c[1].fetch_add(1, Ordering::Relaxed);
                        return; // closed while idle: the request is never answered
                    }
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{CHAT_BODY}",
                        CHAT_BODY.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                    c[0].fetch_add(1, Ordering::Relaxed);
                    last = Instant::now();
                }
            });
        }
    });
    (addr, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_pooled_connections_are_evicted_before_the_server_closes_them() {
    let (addr, counts) = stale_keepalive_server(Duration::from_millis(400)).await;
    // The pool lets idle connections go after 150 ms, well before the server's 400 ms.
    let client =
        Client::with_pool_idle(endpoint(addr, false), 1, Duration::from_millis(150)).unwrap();
    let clock = Clock::start();
    let cancel = CancellationToken::new();
    let gaps = [0, 50, 600, 20, 700, 10, 500, 30, 450, 0];
    let mut failures = Vec::new();
    for (i, gap) in gaps.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(*gap)).await;
        let rec = client.send(i as u64, "{}".into(), &clock, &cancel).await;
        if let Some(e) = rec.error {
            failures.push(format!(
                "request {i} after {gap} ms: {:?} {}",
                e.kind, e.detail
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(counts[0].load(Ordering::Relaxed), gaps.len() as u64);
    assert_eq!(
        counts[1].load(Ordering::Relaxed),
        0,
        "no request met a stale connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_connection_the_pool_keeps_costs_one_resend_not_a_failure() {
    // The control of the test above: with a pool that keeps idle connections longer than the
    // server does, the request after a long gap meets the stale connection, closed before one
    // byte of an answer. It is sent again once, on a new connection, and says so.
    let (addr, counts) = stale_keepalive_server(Duration::from_millis(300)).await;
    let client = Client::with_pool_idle(endpoint(addr, false), 1, Duration::from_secs(60)).unwrap();
    let clock = Clock::start();
    let cancel = CancellationToken::new();
    let first = client.send(0, "{}".into(), &clock, &cancel).await;
    assert!(first.is_ok(), "{:?}", first.error);
    assert!(!first.resent);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = clock.now_ns();
    let second = client.send(1, "{}".into(), &clock, &cancel).await;
    assert!(second.is_ok(), "{:?}", second.error);
    assert!(second.resent);
    assert!(second.sent_ns > before, "timed from the second send");
    assert_eq!(
        counts[1].load(Ordering::Relaxed),
        1,
        "met the stale connection once"
    );
    assert_eq!(
        counts[0].load(Ordering::Relaxed),
        2,
        "then answered on a new one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_server_received_is_never_sent_twice() {
    // The simulator drops each connection after 5 tokens, before a whole answer is sent.
    let mut cfg = zero();
    cfg.faults.drop_after_tokens = Some(5);
    let sim = start_sim(cfg).await;
    let r = llmbench::commands::run::execute(&run_args(
        &sim.url(),
        &[
            "--runs",
            "40",
            "-c",
            "4",
            "--warmup",
            "0",
            "--max-tokens",
            "16",
        ],
    ))
    .await
    .unwrap();
    let received = sim.stats.requests_received.load(Ordering::Relaxed);
    sim.stop().await;
    assert_eq!(r.summary.requests.total, 40);
    assert_eq!(r.summary.requests.failed, 40);
    assert_eq!(received, 40, "the server received each request once");
}

/// A server that answers with `body` (a stream), then keeps the connection open `linger`.
async fn one_shot_server(
    content_type: &'static str,
    body: &'static str,
    linger: Duration,
) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                if read_request(&mut s).await.is_none() {
                    return;
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                tokio::time::sleep(linger).await;
                let _ = s.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_ends_at_done_not_when_the_server_closes() {
    const STREAM: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    let linger = Duration::from_secs(3);
    let addr = one_shot_server("text/event-stream", STREAM, linger).await;
    let client = Client::new(endpoint(addr, true), 1).unwrap();
    let clock = Clock::start();
    let started = Instant::now();
    let rec = client
        .send(0, "{}".into(), &clock, &CancellationToken::new())
        .await;
    assert!(rec.is_ok(), "{:?}", rec.error);
    assert_eq!(rec.content_ns.len(), 1);
    // The server holds the body open for 3 s after [DONE]; the client is done well before.
    assert!(started.elapsed() < linger, "waited {:?}", started.elapsed());
    assert!(rec.e2e_ms() < linger.as_secs_f64() * 1e3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_body_on_a_stream_is_a_bad_response_naming_it() {
    let addr = one_shot_server("application/json", CHAT_BODY, Duration::ZERO).await;
    let client = Client::new(endpoint(addr, true), 1).unwrap();
    let rec = client
        .send(0, "{}".into(), &Clock::start(), &CancellationToken::new())
        .await;
    let e = rec.error.expect("a failure");
    assert_eq!(e.kind, FailureKind::BadResponse, "{}", e.detail);
    assert!(e.detail.contains("not an event stream"), "{}", e.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_usage_the_servers_own_count_is_used_and_labelled() {
    // llama.cpp without usage: two content events carrying three tokens, and `timings`.
    const STREAM: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a b\"},\"finish_reason\":null}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" c\"},\"finish_reason\":null}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"timings\":{\"predicted_n\":3,\"prompt_n\":4}}\n\ndata: [DONE]\n\n";
    let addr = one_shot_server("text/event-stream", STREAM, Duration::ZERO).await;
    let client = Client::new(endpoint(addr, true), 1).unwrap();
    let rec = client
        .send(0, "{}".into(), &Clock::start(), &CancellationToken::new())
        .await;
    assert!(rec.is_ok(), "{:?}", rec.error);
    assert_eq!(rec.content_ns.len(), 2);
    assert_eq!(rec.output_tokens, Some(3));
    assert_eq!(
        rec.token_source,
        llmbench::record::TokenSource::ServerTimings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_below_the_content_events_is_flagged() {
    const STREAM: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
    let addr = one_shot_server("text/event-stream", STREAM, Duration::ZERO).await;
    let client = Client::new(endpoint(addr, true), 1).unwrap();
    let rec = client
        .send(0, "{}".into(), &Clock::start(), &CancellationToken::new())
        .await;
    assert_eq!(rec.output_tokens, Some(1));
    let s = llmbench::metrics::Summary::from_records(&[rec]);
    assert_eq!(s.tokens.usage_below_events, 1);
}

/// Answers every request with `status` and a body echoing the request's headers, as debugging
/// proxies and some gateways do; or, with `location`, a redirect there.
async fn echo_server(
    status: u16,
    location: Option<String>,
) -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let h = h.clone();
            let location = location.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                h.fetch_add(1, Ordering::Relaxed);
                let echoed = String::from_utf8_lossy(&buf[..n]).replace(['\r', '\n'], " ");
                let body = format!("{{\"error\":\"denied\",\"request\":{echoed:?}}}");
                let extra = location
                    .map(|l| format!("location: {l}\r\n"))
                    .unwrap_or_default();
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (addr, hits)
}

fn secret_endpoint(addr: std::net::SocketAddr, api: Api) -> Endpoint {
    Endpoint {
        headers: build_headers(
            api,
            Some("sk-live-SECRET-0123"),
            &["X-Team-Token: tt-9876-SECRET".into()],
        )
        .unwrap(),
        api,
        ..endpoint(addr, false)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_echoed_in_an_error_body_are_redacted() {
    let (addr, _) = echo_server(401, None).await;
    for api in [Api::Chat, Api::Messages] {
        let client = Client::new(secret_endpoint(addr, api), 1).unwrap();
        let rec = client
            .send(0, "{}".into(), &Clock::start(), &CancellationToken::new())
            .await;
        let e = rec.error.expect("a failure");
        assert_eq!(e.http_status, Some(401));
        assert!(!e.detail.contains("SECRET"), "{api:?}: {}", e.detail);
        assert!(e.detail.contains("[redacted]"), "{api:?}: {}", e.detail);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_another_origin_is_not_followed_with_credentials() {
    let (other, other_hits) = echo_server(200, None).await;
    let (addr, _) = echo_server(307, Some(format!("http://{other}/v1/chat/completions"))).await;
    let client = Client::new(secret_endpoint(addr, Api::Chat), 1).unwrap();
    let rec = client
        .send(0, "{}".into(), &Clock::start(), &CancellationToken::new())
        .await;
    let e = rec.error.expect("a failure");
    assert!(e.detail.contains("another origin"), "{}", e.detail);
    assert_eq!(
        other_hits.load(Ordering::Relaxed),
        0,
        "nothing reached the other host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_closes_after_each_answer_gives_no_false_failure() {
    // llama.cpp's server closes the connection after every streamed answer while its headers
    // announce keep-alive. The pool must drop such a connection, not hand it to the next request.
    const STREAM: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answered = Arc::new(AtomicU64::new(0));
    let a = answered.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let a = a.clone();
            tokio::spawn(async move {
                if read_request(&mut s).await.is_none() {
                    return;
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nkeep-alive: timeout=5, max=100\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{STREAM}\r\n0\r\n\r\n",
                    STREAM.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                a.fetch_add(1, Ordering::Relaxed);
                // and close, despite the keep-alive header (the real server's quirk; that the
                // settle is needed against it is shown by tests/real_server.rs's sweep)
            });
        }
    });
    let client = Client::new(endpoint(addr, true), 1).unwrap();
    let clock = Clock::start();
    let cancel = CancellationToken::new();
    let mut failures = Vec::new();
    for i in 0..60 {
        let rec = client.send(i, "{}".into(), &clock, &cancel).await;
        if let Some(e) = rec.error {
            failures.push(format!("request {i}: {}", e.detail));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(answered.load(Ordering::Relaxed), 60);
}
