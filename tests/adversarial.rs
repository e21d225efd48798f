//! Adversarial servers: one small raw-TCP server per misbehaviour, each test stating the record
//! the client must make of it (ok or the failure's kind, events, tokens) and that no secret (the
//! API key, a header's value) appears in the record. The servers write exact bytes, so nothing
//! here depends on a real server's leniency.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use llmbench::client::{build_headers, Client, Endpoint};
use llmbench::protocol::Api;
use llmbench::record::{Clock, FailureKind, RequestRecord, TokenSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

const KEY: &str = "sk-adv-SECRET-4242";
const HEADER_VALUE: &str = "tok-SECRET-77";

/// What a server does on one connection, in order.
#[derive(Clone, Debug)]
enum Step {
    Write(Vec<u8>),
    /// Write these bytes one per write.
    Bytewise(Vec<u8>),
    Pause(Duration),
    /// Close with a TCP reset (SO_LINGER 0).
    Reset,
    /// Accept more requests on this connection (HTTP keep-alive).
    NextRequest,
    /// Stay silent.
    Hang,
    /// Close, unread, as soon as the next request arrives (a close that raced it).
    CloseWhenWritten,
}

/// Requests a server received: their heads, lowercase.
type Seen = Arc<Mutex<Vec<String>>>;

async fn read_head(sock: &mut TcpStream) -> Option<String> {
    let (mut buf, mut tmp) = (Vec::new(), [0u8; 8192]);
    loop {
        let n = sock.read(&mut tmp).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut tmp).await.ok().filter(|n| *n > 0)?;
                buf.extend_from_slice(&tmp[..n]);
            }
            return Some(head);
        }
    }
}

/// A server playing `script` on every connection (the first request read before it starts).
async fn serve(script: Vec<Step>) -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (script, log) = (script.clone(), log.clone());
            tokio::spawn(async move {
                sock.set_nodelay(true).unwrap();
                let Some(head) = read_head(&mut sock).await else {
                    return;
                };
                log.lock().unwrap().push(head);
                for step in script {
                    match step {
                        Step::Write(b) => {
                            if sock.write_all(&b).await.is_err() {
                                return;
                            }
                        }
                        Step::Bytewise(b) => {
                            for byte in b {
                                if sock.write_all(&[byte]).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Step::Pause(d) => tokio::time::sleep(d).await,
                        Step::Reset => {
                            #[allow(deprecated)]
                            sock.set_linger(Some(Duration::ZERO)).unwrap();
                            drop(sock);
                            return;
                        }
                        Step::NextRequest => match read_head(&mut sock).await {
                            Some(h) => log.lock().unwrap().push(h),
                            None => return,
                        },
                        Step::Hang => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                        Step::CloseWhenWritten => {
                            let _ = sock.readable().await;
                            return; // dropped with the request unread: a reset
                        }
                    }
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    (addr, seen)
}

fn endpoint(addr: SocketAddr, api: Api, stream: bool, timeout: Duration) -> Endpoint {
    let extra = [format!("X-Token: {HEADER_VALUE}")];
    Endpoint {
        base: format!("http://{addr}/v1"),
        api,
        stream,
        timeout: Some(timeout),
        headers: build_headers(api, Some(KEY), &extra).unwrap(),
        path: None,
    }
}

/// One request to `addr`; the record must hold no secret.
async fn send_to(addr: SocketAddr, api: Api, stream: bool, timeout: Duration) -> RequestRecord {
    let client = Client::new(endpoint(addr, api, stream, timeout), 1).unwrap();
    let body = Bytes::from_static(b"{\"model\":\"m\",\"messages\":[]}");
    let rec = client
        .send(0, body, &Clock::start(), &CancellationToken::new())
        .await;
    let json = serde_json::to_string(&rec).unwrap();
    for part in ["sk-adv", "SECRET", "tok-SEC"] {
        assert!(
            !json.contains(part),
            "a secret (or part of one) in the record: {json}"
        );
    }
    rec
}

async fn play(script: Vec<Step>) -> RequestRecord {
    let (addr, _) = serve(script).await;
    send_to(addr, Api::Chat, true, Duration::from_secs(10)).await
}

fn kind(r: &RequestRecord) -> Option<FailureKind> {
    r.error.as_ref().map(|e| e.kind)
}

/// A response head: `status`, `content-type`, then `extra` header lines.
fn head(status: &str, content_type: &str, extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n{extra}\r\n").into_bytes()
}

fn sse_head() -> Vec<u8> {
    head("200 OK", "text/event-stream", "connection: close\r\n")
}

fn chunk(content: &str) -> String {
    let text = serde_json::to_string(content).unwrap();
    format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{text}}},\"finish_reason\":null}}]}}\n\n")
}

const FINISH: &str =
    "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";

fn usage(n: u64) -> String {
    format!("data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":{n},\"total_tokens\":{}}}}}\n\n", n + 5)
}

const DONE: &str = "data: [DONE]\n\n";

/// Four content chunks, the finish chunk, usage 4, `[DONE]`: a complete chat stream.
fn stream_body() -> String {
    ["He", "llo", " wor", "ld"].map(chunk).concat() + FINISH + &usage(4) + DONE
}

fn ok_four(r: &RequestRecord) {
    assert!(r.is_ok(), "{:?}", r.error);
    assert_eq!(r.content_ns.len(), 4);
    assert_eq!(r.output_tokens, Some(4));
    assert_eq!(r.token_source, TokenSource::Usage);
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
}

#[tokio::test]
async fn one_byte_per_write() {
    ok_four(
        &play(vec![
            Step::Write(sse_head()),
            Step::Bytewise(stream_body().into_bytes()),
        ])
        .await,
    );
}

#[tokio::test]
async fn crlf_and_lone_cr_line_ends() {
    for sep in ["\r\n", "\r"] {
        let body = stream_body().replace('\n', sep);
        // Split inside a CRLF pair too.
        let (a, b) = body.as_bytes().split_at(body.find('\r').unwrap() + 1);
        let r = play(vec![
            Step::Write(sse_head()),
            Step::Write(a.to_vec()),
            Step::Pause(Duration::from_millis(5)),
            Step::Write(b.to_vec()),
        ])
        .await;
        ok_four(&r);
    }
}

#[tokio::test]
async fn comments_ids_retries_and_unknown_fields_are_ignored() {
    let body = format!(
        ": keep-alive\n\nid: 7\nretry: 100\nevent: message\n{}: another comment\n{}{}{}{}{}{DONE}",
        chunk("He").replace(
            "\"index\":0",
            "\"index\":0,\"logprobs\":{\"x\":[1,2]},\"new_field\":true"
        ),
        chunk("llo"),
        chunk(" wor"),
        chunk("ld").replace(
            "data: {",
            "data: {\"system_fingerprint\":\"fp\",\"obfuscation\":\"zz\","
        ),
        FINISH,
        usage(4),
    );
    ok_four(
        &play(vec![
            Step::Write(sse_head()),
            Step::Write(body.into_bytes()),
        ])
        .await,
    );
}

#[tokio::test]
async fn a_ten_megabyte_event_is_one_content_event() {
    let big = "a".repeat(10 << 20);
    let body = chunk(&big) + FINISH + &usage(1) + DONE;
    let r = play(vec![
        Step::Write(sse_head()),
        Step::Write(body.into_bytes()),
    ])
    .await;
    assert!(r.is_ok(), "{:?}", r.error);
    assert_eq!((r.content_ns.len(), r.output_tokens), (1, Some(1)));
}

#[tokio::test]
async fn split_and_invalid_utf8_keeps_every_event() {
    let mut body = chunk("caf\u{e9}").into_bytes();
    let cut = body.iter().position(|&b| b == 0xC3).unwrap() + 1; // inside the two-byte é
    let rest = body.split_off(cut);
    let mut invalid = chunk("XY").into_bytes();
    let x = invalid.iter().position(|&b| b == b'X').unwrap();
    invalid[x] = 0xFF; // not UTF-8 at all: read as U+FFFD
    let tail = chunk("!") + &chunk("?") + FINISH + &usage(4) + DONE;
    let r = play(vec![
        Step::Write(sse_head()),
        Step::Write(body),
        Step::Pause(Duration::from_millis(5)),
        Step::Write(rest),
        Step::Write(invalid),
        Step::Write(tail.into_bytes()),
    ])
    .await;
    ok_four(&r);
}

#[tokio::test]
async fn a_byte_order_mark_before_the_stream_is_skipped() {
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(stream_body().as_bytes());
    ok_four(&play(vec![Step::Write(sse_head()), Step::Write(body)]).await);
}

#[tokio::test]
async fn the_end_marker_and_the_finish_reason() {
    // No [DONE], but a finish reason and usage: complete.
    let body = ["He", "llo", " wor", "ld"].map(chunk).concat() + FINISH + &usage(4);
    ok_four(
        &play(vec![
            Step::Write(sse_head()),
            Step::Write(body.into_bytes()),
        ])
        .await,
    );
    // Neither: the answer was cut.
    let body = ["He", "llo"].map(chunk).concat();
    let r = play(vec![
        Step::Write(sse_head()),
        Step::Write(body.into_bytes()),
    ])
    .await;
    assert_eq!(kind(&r), Some(FailureKind::StreamBroken));
    assert_eq!(r.content_ns.len(), 2, "what came is kept");
    // [DONE] without a finish reason: cut too (llama-cpp-python's interrupted stream).
    let body = ["He", "llo"].map(chunk).concat() + DONE;
    let r = play(vec![
        Step::Write(sse_head()),
        Step::Write(body.into_bytes()),
    ])
    .await;
    assert_eq!(kind(&r), Some(FailureKind::StreamBroken));
    // [DONE], then more bytes (even broken ones): the answer ended at [DONE].
    let body = stream_body() + &chunk("late") + "data: {\"choices\": [";
    ok_four(
        &play(vec![
            Step::Write(sse_head()),
            Step::Write(body.into_bytes()),
        ])
        .await,
    );
}

#[tokio::test]
async fn empty_choices_chunks_are_not_content() {
    let empty = "data: {\"choices\":[]}\n\n";
    let body = [
        chunk("He"),
        empty.into(),
        chunk("llo"),
        empty.into(),
        chunk(" wor"),
        chunk("ld"),
    ]
    .concat()
        + FINISH
        + &usage(4)
        + DONE;
    ok_four(
        &play(vec![
            Step::Write(sse_head()),
            Step::Write(body.into_bytes()),
        ])
        .await,
    );
}

#[tokio::test]
async fn an_html_page_with_status_200_is_a_bad_response() {
    let page = "<html><body>502 Bad Gateway (nginx)</body></html>";
    let r = play(vec![
        Step::Write(head(
            "200 OK",
            "text/html",
            &format!("content-length: {}\r\n", page.len()),
        )),
        Step::Write(page.into()),
    ])
    .await;
    assert_eq!(kind(&r), Some(FailureKind::BadResponse));
    assert!(r.error.unwrap().detail.contains("Bad Gateway"));
}

#[tokio::test]
async fn a_body_shorter_than_its_content_length_is_a_broken_stream() {
    let body = r#"{"choices":[{"index":0,"message":{"content":"hi"},"finish_reason":"stop"}]}"#;
    let (addr, _) = serve(vec![
        Step::Write(head(
            "200 OK",
            "application/json",
            "content-length: 500\r\n",
        )),
        Step::Write(body.into()),
    ])
    .await;
    let r = send_to(addr, Api::Chat, false, Duration::from_secs(10)).await;
    assert_eq!(kind(&r), Some(FailureKind::StreamBroken), "{:?}", r.error);
}

#[tokio::test]
async fn a_reset_mid_stream_keeps_the_events_before_it() {
    let r = play(vec![
        Step::Write(sse_head()),
        Step::Write((chunk("He") + &chunk("llo")).into_bytes()),
        Step::Pause(Duration::from_millis(20)),
        Step::Reset,
    ])
    .await;
    assert_eq!(kind(&r), Some(FailureKind::StreamBroken), "{:?}", r.error);
    assert_eq!(r.content_ns.len(), 2);
    assert_eq!(
        r.output_tokens,
        Some(2),
        "counted from the events, marked so"
    );
    assert_eq!(r.token_source, TokenSource::Events);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let (addr, _) = serve(vec![Step::Hang]).await;
    let r = send_to(addr, Api::Chat, true, Duration::from_millis(300)).await;
    assert_eq!(kind(&r), Some(FailureKind::Timeout));
    assert!(r.headers_ns.is_none());
    let e2e = r.e2e_ms();
    assert!((300.0..2000.0).contains(&e2e), "gave up after {e2e} ms");
}

#[tokio::test]
async fn a_trickle_times_out_mid_stream_keeping_what_came() {
    let mut steps = vec![
        Step::Write(sse_head()),
        Step::Write(chunk("He").into_bytes()),
    ];
    for b in chunk("llo").into_bytes() {
        steps.push(Step::Pause(Duration::from_millis(50)));
        steps.push(Step::Write(vec![b]));
    }
    let (addr, _) = serve(steps).await;
    let r = send_to(addr, Api::Chat, true, Duration::from_millis(600)).await;
    assert_eq!(kind(&r), Some(FailureKind::Timeout), "{:?}", r.error);
    assert_eq!(r.content_ns.len(), 1);
}

#[tokio::test]
async fn too_many_requests_is_recorded_once_without_a_retry() {
    let body = r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#;
    let (addr, seen) = serve(vec![
        Step::Write(head(
            "429 Too Many Requests",
            "application/json",
            &format!("retry-after: 7\r\ncontent-length: {}\r\n", body.len()),
        )),
        Step::Write(body.into()),
    ])
    .await;
    let r = send_to(addr, Api::Chat, true, Duration::from_secs(5)).await;
    let e = r.error.as_ref().unwrap();
    assert_eq!((e.kind, e.http_status), (FailureKind::Http, Some(429)));
    assert!(e.detail.contains("Rate limit reached"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(seen.lock().unwrap().len(), 1, "never sent twice");
}

#[tokio::test]
async fn redirects_within_the_origin_are_followed_and_others_refused() {
    // Same origin: the first request is redirected, the second answered.
    let (addr, seen) = serve(vec![
        Step::Write(head(
            "307 Temporary Redirect",
            "text/plain",
            "location: /v2/chat\r\ncontent-length: 0\r\n",
        )),
        Step::NextRequest,
        Step::Write(sse_head()),
        Step::Write(stream_body().into_bytes()),
    ])
    .await;
    ok_four(&send_to(addr, Api::Chat, true, Duration::from_secs(5)).await);
    let heads = seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 2);
    assert!(
        heads[1].starts_with("post /v2/chat") && heads[1].contains(KEY.to_lowercase().as_str())
    );
    // Another origin: not followed, and the other server sees nothing.
    let (other, other_seen) = serve(vec![
        Step::Write(sse_head()),
        Step::Write(stream_body().into()),
    ])
    .await;
    let (addr, _) = serve(vec![Step::Write(head(
        "302 Found",
        "text/plain",
        &format!("location: http://{other}/v1/chat/completions\r\ncontent-length: 0\r\n"),
    ))])
    .await;
    let r = send_to(addr, Api::Chat, true, Duration::from_secs(5)).await;
    assert_eq!(kind(&r), Some(FailureKind::Http));
    assert!(r.error.unwrap().detail.contains("another origin"));
    assert!(
        other_seen.lock().unwrap().is_empty(),
        "credentials never left"
    );
}

#[tokio::test]
async fn a_compressed_body_nobody_asked_for_is_a_bad_response_naming_it() {
    let (addr, seen) = serve(vec![
        Step::Write(head(
            "200 OK",
            "text/event-stream",
            "content-encoding: gzip\r\nconnection: close\r\n",
        )),
        Step::Write(vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]),
    ])
    .await;
    let r = send_to(addr, Api::Chat, true, Duration::from_secs(5)).await;
    assert_eq!(kind(&r), Some(FailureKind::BadResponse), "{:?}", r.error);
    assert!(r.error.unwrap().detail.contains("gzip"));
    assert!(
        !seen.lock().unwrap()[0].contains("accept-encoding: gzip"),
        "never asked for"
    );
}

/// [`stream_body`] as one HTTP chunk, then the last chunk.
fn chunked_stream_body() -> Vec<u8> {
    let b = stream_body();
    let mut v = format!("{:x}\r\n", b.len()).into_bytes();
    v.extend_from_slice(b.as_bytes());
    v.extend_from_slice(b"\r\n0\r\n\r\n");
    v
}

#[tokio::test]
async fn keep_alive_closed_between_requests_gives_no_false_failure() {
    // The server announces keep-alive, answers, then closes: every later request is fine.
    let (addr, seen) = serve(vec![
        Step::Write(head(
            "200 OK",
            "text/event-stream",
            "connection: keep-alive\r\ntransfer-encoding: chunked\r\n",
        )),
        Step::Write(chunked_stream_body()),
        Step::Pause(Duration::from_millis(5)),
    ])
    .await;
    let client = Client::new(endpoint(addr, Api::Chat, true, Duration::from_secs(5)), 1).unwrap();
    for i in 0..4 {
        let body = Bytes::from_static(b"{}");
        let r = client
            .send(i, body, &Clock::start(), &CancellationToken::new())
            .await;
        ok_four(&r);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        seen.lock().unwrap().len(),
        4,
        "one request each, none resent"
    );
}

#[tokio::test]
async fn a_close_still_on_its_way_resends_once_and_never_twice() {
    // llama.cpp under load: keep-alive announced, the answer ends, the close comes later, so
    // the next request is written to a connection the server closes without reading it.
    let (addr, seen) = serve(vec![
        Step::Write(head(
            "200 OK",
            "text/event-stream",
            "connection: keep-alive\r\ntransfer-encoding: chunked\r\n",
        )),
        Step::Write(chunked_stream_body()),
        Step::CloseWhenWritten,
    ])
    .await;
    let client = Client::new(endpoint(addr, Api::Chat, true, Duration::from_secs(5)), 1).unwrap();
    let clock = Clock::start();
    let mut resent = 0;
    for i in 0..4 {
        let r = client
            .send(
                i,
                Bytes::from_static(b"{}"),
                &clock,
                &CancellationToken::new(),
            )
            .await;
        ok_four(&r);
        resent += r.resent as u32;
    }
    assert_eq!(resent, 3, "each later request met the closing connection");
    assert_eq!(seen.lock().unwrap().len(), 4, "each read once");
}

#[tokio::test]
async fn an_http_1_0_answer_read_to_the_close() {
    let r = play(vec![
        Step::Write(b"HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\n\r\n".to_vec()),
        Step::Write(stream_body().into_bytes()),
    ])
    .await;
    ok_four(&r);
}

#[tokio::test]
async fn anthropic_pings_between_deltas_and_an_error_event() {
    let ev = |name: &str, data: &str| format!("event: {name}\ndata: {data}\n\n");
    let delta = |t: &str| {
        ev(
            "content_block_delta",
            &format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{t}"}}}}"#
            ),
        )
    };
    let ping = ev("ping", r#"{"type": "ping"}"#);
    let start = ev(
        "message_start",
        r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}"#,
    );
    let end = ev(
        "message_delta",
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}"#,
    ) + &ev("message_stop", r#"{"type":"message_stop"}"#);
    let body = [
        start.clone(),
        ping.clone(),
        delta("a"),
        ping.clone(),
        delta("b"),
        ping.clone(),
        delta("c"),
        end,
    ]
    .concat();
    let (addr, seen) = serve(vec![
        Step::Write(sse_head()),
        Step::Write(body.into_bytes()),
    ])
    .await;
    let r = send_to(addr, Api::Messages, true, Duration::from_secs(5)).await;
    assert!(r.is_ok(), "{:?}", r.error);
    assert_eq!(
        (r.content_ns.len(), r.output_tokens, r.prompt_tokens),
        (3, Some(3), Some(5))
    );
    assert!(
        seen.lock().unwrap()[0].contains("x-api-key"),
        "Anthropic's header"
    );
    let err = ev(
        "error",
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    );
    let body = [start, delta("a"), err].concat();
    let (addr, _) = serve(vec![
        Step::Write(sse_head()),
        Step::Write(body.into_bytes()),
    ])
    .await;
    let r = send_to(addr, Api::Messages, true, Duration::from_secs(5)).await;
    assert_eq!(kind(&r), Some(FailureKind::ServerError));
    assert_eq!(r.content_ns.len(), 1);
    assert!(r.error.unwrap().detail.contains("Overloaded"));
}

#[tokio::test]
async fn usage_that_disagrees_with_the_events_is_kept_and_flagged() {
    let body = ["He", "llo", " wor", "ld"].map(chunk).concat() + FINISH + &usage(2) + DONE;
    let r = play(vec![
        Step::Write(sse_head()),
        Step::Write(body.into_bytes()),
    ])
    .await;
    assert!(r.is_ok());
    assert_eq!(
        (r.content_ns.len(), r.output_tokens),
        (4, Some(2)),
        "the server's count, as it said"
    );
    let s = llmbench::metrics::Summary::from_records(std::slice::from_ref(&r));
    assert_eq!(s.tokens.usage_below_events, 1, "and flagged");
}

#[tokio::test]
async fn an_error_body_echoing_the_request_headers_is_redacted_before_it_is_cut() {
    // The echo puts the key across the 200th byte of the body, where the detail is cut: it must
    // be redacted whole first, never leave a prefix.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 8192];
        let n = sock.read(&mut buf).await.unwrap();
        let echoed = String::from_utf8_lossy(&buf[..n])
            .replace('\r', "")
            .replace('\n', " | ");
        let at = echoed.find(KEY).unwrap();
        let lead = "{\"error\":{\"message\":\"bad request; you sent: ";
        let pad = "x".repeat(188usize.saturating_sub(lead.len() + at));
        let body = format!("{lead}{pad}{}\"}}}}", echoed.replace('"', "'"));
        let reply = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(reply.as_bytes()).await.unwrap();
    });
    let r = send_to(addr, Api::Chat, true, Duration::from_secs(5)).await;
    let e = r.error.unwrap();
    assert_eq!(e.http_status, Some(400));
    assert!(
        e.detail.contains("authorization: [redacted]"),
        "{}",
        e.detail
    );
    assert!(
        e.detail.len() <= 200 + "[redacted]".len(),
        "{}",
        e.detail.len()
    );
}
