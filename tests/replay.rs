//! Recorded and documented wire payloads (tests/fixtures) replayed through the client by a raw
//! HTTP/1.1 server that splits them at arbitrary points, cuts them, or stalls.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use llmbench::client::{build_headers, Client, Endpoint};
use llmbench::protocol::Api;
use llmbench::record::{Clock, FailureKind, RequestRecord, TokenSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    /// Write the body in pieces of this many bytes, each its own HTTP chunk.
    piece: usize,
    /// Close the connection after this many body bytes, without ending the chunked body.
    cut_after: Option<usize>,
    /// Send the headers, then nothing.
    hang: bool,
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn sse(name: &str) -> Reply {
    Reply {
        status: 200,
        content_type: "text/event-stream",
        body: fixture(name),
        piece: 97,
        cut_after: None,
        hang: false,
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut tmp).await.unwrap_or(0);
                if n == 0 {
                    return false;
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            return true;
        }
    }
}

async fn serve(reply: Reply) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let r = reply.clone();
            tokio::spawn(async move {
                if !read_request(&mut sock).await {
                    return;
                }
                let head = format!(
                    "HTTP/1.1 {} X\r\ncontent-type: {}\r\ntransfer-encoding: chunked\r\n\r\n",
                    r.status, r.content_type
                );
                sock.write_all(head.as_bytes()).await.unwrap();
                if r.hang {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                }
                let limit = r.cut_after.unwrap_or(r.body.len());
                for piece in r.body[..limit].chunks(r.piece.max(1)) {
                    let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
                    frame.extend_from_slice(piece);
                    frame.extend_from_slice(b"\r\n");
                    if sock.write_all(&frame).await.is_err() {
                        return;
                    }
                    if r.piece >= 16 {
                        tokio::time::sleep(Duration::from_micros(200)).await;
                    }
                }
                if r.cut_after.is_none() {
                    let _ = sock.write_all(b"0\r\n\r\n").await;
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    addr
}

async fn replay(reply: Reply, api: Api, stream: bool, timeout: Option<Duration>) -> RequestRecord {
    let addr = serve(reply).await;
    let endpoint = Endpoint {
        base: format!("http://{addr}/v1"),
        api,
        stream,
        timeout,
        headers: build_headers(api, None, &[]).unwrap(),
        path: None,
    };
    let client = Client::new(endpoint, 1).unwrap();
    client
        .send(
            0,
            Bytes::from_static(b"{}"),
            &Clock::start(),
            &CancellationToken::new(),
        )
        .await
}

fn kind(r: &RequestRecord) -> Option<FailureKind> {
    r.error.as_ref().map(|e| e.kind)
}

#[tokio::test]
async fn llama_cpp_chat_stream_with_usage_and_timings() {
    let r = replay(sse("llamacpp_chat_stream.sse"), Api::Chat, true, None).await;
    assert!(r.is_ok(), "{:?}", r.error);
    assert_eq!(r.output_tokens, Some(12));
    assert_eq!(r.prompt_tokens, Some(36));
    assert_eq!(r.token_source, TokenSource::Usage);
    assert_eq!(r.finish_reason.as_deref(), Some("length"));
    assert_eq!(
        r.content_ns.len(),
        12,
        "role-only and finish chunks are not content"
    );
    let t = r.server_timings.unwrap();
    assert_eq!(t.prompt_ms, Some(107.61));
    assert_eq!(t.predicted_n, Some(12.0));
}

#[tokio::test]
async fn llama_cpp_random_model_stream_with_invalid_utf8_chunks() {
    let r = replay(sse("llamacpp_tiny_chat_stream.sse"), Api::Chat, true, None).await;
    assert!(r.is_ok(), "{:?}", r.error);
    assert_eq!(r.output_tokens, Some(64));
    assert_eq!(r.content_ns.len(), 64);
}

#[tokio::test]
async fn llama_cpp_completions_stream_has_usage_in_the_finish_chunk() {
    let r = replay(
        sse("llamacpp_completions_stream.sse"),
        Api::Completions,
        true,
        None,
    )
    .await;
    assert!(r.is_ok(), "{:?}", r.error);
    assert_eq!(r.output_tokens, Some(8));
    assert_eq!(r.prompt_tokens, Some(5));
}

#[tokio::test]
async fn llama_cpp_whole_response_reports_cached_prompt_tokens() {
    let mut reply = sse("llamacpp_chat_whole.json");
    reply.content_type = "application/json";
    let r = replay(reply, Api::Chat, false, None).await;
    assert!(r.is_ok(), "{:?}", r.error);
    assert_eq!(r.output_tokens, Some(6));
    assert_eq!(r.cached_tokens, Some(24));
    assert!(r.content_ns.is_empty());
}

#[tokio::test]
async fn vllm_stream_counts_reasoning_as_content() {
    let r = replay(sse("vllm_chat_stream.sse"), Api::Chat, true, None).await;
    assert!(r.is_ok(), "{:?}", r.error);
    assert_eq!(r.content_ns.len(), 4);
    assert_eq!(r.output_tokens, Some(8));
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    // Two reasoning chunks, then the answer: its usage has no reasoning count and no tokenizer
    // is given, so the reasoning's share of the text's bytes (19 of 31) of usage's 8 tokens:
    // 5 (its 2 events would have said 2; "The user greets me." is about 5 words).
    assert_eq!(r.reasoning_tokens, Some(5));
    assert_eq!(r.first_answer_ns, Some(r.content_ns[2]));
}

/// A Responses stream as OpenAI documents it, up to (and without) its terminal event.
const RESPONSES_HEAD: &str = concat!(
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":1,\"output_index\":0,\"item\":{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":[]}}\n\n",
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":2,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\n",
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":3,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\" there\"}\n\n",
);

#[tokio::test]
async fn a_responses_stream_ends_only_at_its_terminal_event() {
    let mut reply = sse("vllm_chat_stream.sse");
    let done = "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":4,\"response\":{\"status\":\"completed\",\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}}\n\n";
    reply.body = format!("{RESPONSES_HEAD}{done}").into_bytes();
    let r = replay(reply.clone(), Api::Responses, true, None).await;
    assert!(r.is_ok(), "{:?}", r.error);
    assert_eq!((r.content_ns.len(), r.output_tokens), (2, Some(2)));
    reply.body = RESPONSES_HEAD.as_bytes().to_vec();
    let r = replay(reply.clone(), Api::Responses, true, None).await;
    assert_eq!(
        kind(&r),
        Some(FailureKind::StreamBroken),
        "no terminal event"
    );
    assert_eq!(r.content_ns.len(), 2, "what came is kept");
    let failed = "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"overloaded\"}}}\n\n";
    reply.body = format!("{RESPONSES_HEAD}{failed}").into_bytes();
    let r = replay(reply, Api::Responses, true, None).await;
    assert_eq!(kind(&r), Some(FailureKind::ServerError));
    assert!(r.error.unwrap().detail.contains("overloaded"));
}

#[tokio::test]
async fn openai_stream_with_crlf_and_comments() {
    for piece in [1, 3, 50, 10_000] {
        let mut reply = sse("openai_chat_stream_crlf.sse");
        reply.piece = piece;
        let r = replay(reply, Api::Chat, true, None).await;
        assert!(r.is_ok(), "piece {piece}: {:?}", r.error);
        assert_eq!(r.content_ns.len(), 2, "piece {piece}");
        assert_eq!(r.output_tokens, Some(4));
    }
}

#[tokio::test]
async fn anthropic_stream_with_ping_and_cache_usage() {
    let r = replay(
        sse("anthropic_messages_stream.sse"),
        Api::Messages,
        true,
        None,
    )
    .await;
    assert!(r.is_ok(), "{:?}", r.error);
    assert_eq!(r.content_ns.len(), 3);
    assert_eq!(r.output_tokens, Some(5));
    assert_eq!(r.prompt_tokens, Some(35));
    assert_eq!(r.cached_tokens, Some(10));
    assert_eq!(r.finish_reason.as_deref(), Some("end_turn"));
}

#[tokio::test]
async fn anthropic_error_event_mid_stream_is_a_server_error_keeping_tokens() {
    let r = replay(
        sse("anthropic_error_midstream.sse"),
        Api::Messages,
        true,
        None,
    )
    .await;
    assert_eq!(kind(&r), Some(FailureKind::ServerError));
    assert!(r.error.unwrap().detail.contains("overloaded_error"));
    assert_eq!(r.content_ns.len(), 1);
}

#[tokio::test]
async fn stream_cut_short_with_done_but_no_finish_reason_is_stream_broken() {
    let r = replay(
        sse("llama_cpp_python_interrupted.sse"),
        Api::Chat,
        true,
        None,
    )
    .await;
    assert_eq!(kind(&r), Some(FailureKind::StreamBroken));
    assert!(r.error.unwrap().detail.contains("finish reason"));
    assert_eq!(r.content_ns.len(), 2);
}

#[tokio::test]
async fn http_errors_keep_status_and_body() {
    for (status, body) in [
        (400, fixture("llamacpp_error_400.json")),
        (500, b"Internal Server Error: CUDA out of memory".to_vec()),
        (
            429,
            br#"{"error":{"message":"Rate limit reached","type":"requests"}}"#.to_vec(),
        ),
    ] {
        let reply = Reply {
            status,
            content_type: "application/json",
            body: body.clone(),
            piece: 10_000,
            cut_after: None,
            hang: false,
        };
        let r = replay(reply, Api::Chat, true, None).await;
        let e = r.error.unwrap();
        assert_eq!(e.kind, FailureKind::Http);
        assert_eq!(e.http_status, Some(status));
        let expect = String::from_utf8_lossy(&body[..body.len().min(40)]).to_string();
        assert!(e.detail.starts_with(&expect), "{status}: {}", e.detail);
        assert!(e.detail.len() <= 200);
    }
}

#[tokio::test]
async fn invalid_json_chunk_is_bad_response() {
    let mut reply = sse("llamacpp_chat_stream.sse");
    reply.body = b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":\n\n".to_vec();
    let r = replay(reply, Api::Chat, true, None).await;
    assert_eq!(kind(&r), Some(FailureKind::BadResponse));
    assert_eq!(r.content_ns.len(), 1);
}

#[tokio::test]
async fn mid_stream_disconnect_is_stream_broken_keeping_tokens() {
    let mut reply = sse("llamacpp_chat_stream.sse");
    reply.cut_after = Some(reply.body.len() / 2);
    let r = replay(reply, Api::Chat, true, None).await;
    assert_eq!(kind(&r), Some(FailureKind::StreamBroken), "{:?}", r.error);
    assert!(!r.content_ns.is_empty());
}

#[tokio::test]
async fn a_server_that_stops_sending_times_out() {
    let mut reply = sse("llamacpp_chat_stream.sse");
    reply.hang = true;
    let r = replay(reply, Api::Chat, true, Some(Duration::from_millis(200))).await;
    assert_eq!(kind(&r), Some(FailureKind::Timeout));
    let e2e = r.e2e_ms();
    assert!((195.0..500.0).contains(&e2e), "{e2e}");
}

#[tokio::test]
async fn every_split_gives_the_same_record() {
    for name in [
        "llamacpp_chat_stream.sse",
        "anthropic_messages_stream.sse",
        "vllm_chat_stream.sse",
    ] {
        let api = if name.starts_with("anthropic") {
            Api::Messages
        } else {
            Api::Chat
        };
        let mut seen = None;
        for piece in [1, 2, 5, 13, 64, 256, 100_000] {
            let mut reply = sse(name);
            reply.piece = piece;
            let r = replay(reply, api, true, None).await;
            assert!(r.is_ok(), "{name} piece {piece}: {:?}", r.error);
            let key = (
                r.content_ns.len(),
                r.output_tokens,
                r.prompt_tokens,
                r.finish_reason.clone(),
            );
            if let Some(prev) = &seen {
                assert_eq!(&key, prev, "{name} piece {piece}");
            }
            seen = Some(key);
        }
    }
}
