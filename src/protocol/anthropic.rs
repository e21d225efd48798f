//! Anthropic Messages API (`/v1/messages`): the wire types, the client's reading of them, and
//! what a server sends (the simulator's encoder, at the end).
//! Events: message_start, content_block_start, content_block_delta, content_block_stop,
//! message_delta, message_stop, ping, error.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{lenient_count, ErrorKind, Observation, Part, SseEvent};

pub const VERSION: &str = "2023-06-01";

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_count"
    )]
    pub input_tokens: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_count"
    )]
    pub output_tokens: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_count"
    )]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_count"
    )]
    pub cache_creation_input_tokens: Option<u64>,
}

/// Every streamed event, read without copying text.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent<'a> {
    MessageStart {
        message: MessageStart,
    },
    ContentBlockStart {
        #[serde(default)]
        content_block: Option<serde_json::Value>,
    },
    ContentBlockDelta {
        #[serde(borrow)]
        delta: BlockDelta<'a>,
    },
    ContentBlockStop {},
    MessageDelta {
        #[serde(default)]
        delta: Option<MessageDeltaBody>,
        #[serde(default)]
        usage: Option<Usage>,
    },
    MessageStop {},
    Ping {},
    Error {
        error: ErrorBody,
    },
    /// Event types added after this client was written are ignored, as Anthropic asks.
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
pub struct MessageStart {
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
pub struct BlockDelta<'a> {
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub partial_json: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct MessageDeltaBody {
    #[serde(default)]
    pub stop_reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ErrorBody {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub message: String,
}

/// A whole (non-streaming) message.
#[derive(Debug, Deserialize)]
pub struct FullMessage {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub content: Vec<serde_json::Value>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<Usage>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

fn apply_usage(u: &Usage, obs: &mut Observation) {
    // The prompt is the uncached input, plus what was read from and written to the cache.
    if let Some(i) = u.input_tokens {
        obs.prompt_tokens = Some(
            i + u.cache_read_input_tokens.unwrap_or(0) + u.cache_creation_input_tokens.unwrap_or(0),
        );
    }
    if let Some(o) = u.output_tokens {
        obs.output_tokens = Some(o);
    }
    if let Some(c) = u.cache_read_input_tokens {
        obs.cached_tokens = Some(c);
    }
}

pub fn on_event(ev: SseEvent<'_>, obs: &mut Observation) -> Result<Part, String> {
    let data = ev.data.trim();
    if data.is_empty() {
        return Ok(Part::Nothing);
    }
    let parsed: StreamEvent<'_> = serde_json::from_str(data).map_err(|e| {
        let mut end = data.len().min(120);
        while !data.is_char_boundary(end) {
            end -= 1;
        }
        format!("invalid {} event ({e}): {}", ev.event, &data[..end])
    })?;
    match parsed {
        StreamEvent::MessageStart { message } => {
            if let Some(u) = &message.usage {
                apply_usage(u, obs);
            }
        }
        StreamEvent::ContentBlockDelta { delta } => {
            let mut part = Part::Nothing;
            for (kind, s) in [
                (Part::Reasoning, delta.thinking.as_deref()),
                (Part::Answer, delta.text.as_deref()),
                (Part::ToolCall, delta.partial_json.as_deref()),
            ] {
                if let Some(s) = s.filter(|s| !s.is_empty()) {
                    obs.push(kind, s);
                    part = part.max(kind);
                }
            }
            return Ok(part);
        }
        StreamEvent::MessageDelta { delta, usage } => {
            if let Some(u) = &usage {
                apply_usage(u, obs);
            }
            if let Some(r) = delta.and_then(|d| d.stop_reason) {
                obs.finish_reason = Some(r);
            }
        }
        StreamEvent::MessageStop {} => obs.done_marker = true,
        StreamEvent::Error { error } => {
            obs.server_error = Some(format!("{}: {}", error.kind, error.message));
        }
        StreamEvent::ContentBlockStart { content_block } => {
            // A tool call's name comes in its block's start; its input follows in pieces.
            let block = content_block.as_ref();
            if block.and_then(|b| b.get("type")).and_then(Value::as_str) == Some("tool_use") {
                obs.tool_call = true;
            }
        }
        StreamEvent::ContentBlockStop {} => {}
        StreamEvent::Ping {} | StreamEvent::Other => {}
    }
    Ok(Part::Nothing)
}

pub fn on_body(body: &[u8], obs: &mut Observation) -> Result<(), String> {
    let m: FullMessage = serde_json::from_slice(body)
        .map_err(|e| format!("invalid JSON response ({e}): {}", super::snippet(body, 200)))?;
    if let Some(err) = m.error {
        obs.server_error = Some(format!("{}: {}", err.kind, err.message));
        return Ok(());
    }
    if m.kind != "message" {
        return Err(format!(
            "expected a message, got type {:?}: {}",
            m.kind,
            super::snippet(body, 200)
        ));
    }
    if let Some(u) = &m.usage {
        apply_usage(u, obs);
    }
    for block in &m.content {
        if let Some(t) = block.get("thinking").and_then(Value::as_str) {
            obs.push(Part::Reasoning, t);
        }
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            obs.push(Part::Answer, t);
        }
        if block.get("type").and_then(Value::as_str) == Some("tool_use") {
            let input = block.get("input").map(Value::to_string).unwrap_or_default();
            obs.push(Part::ToolCall, &input);
            obs.tool_call = true;
        }
    }
    obs.finish_reason = m.stop_reason;
    obs.done_marker = true;
    Ok(())
}

// The server side: what the Messages API sends (the simulator speaks it).

pub fn response_id(n: u64) -> String {
    format!("msg_sim{n}")
}

/// The delta type and text key of a part's `content_block_delta`.
pub fn delta_keys(part: Part) -> (&'static str, &'static str) {
    match part {
        Part::Reasoning => ("thinking_delta", "thinking"),
        Part::ToolCall => ("input_json_delta", "partial_json"),
        _ => ("text_delta", "text"),
    }
}

/// The `content_block_start` of block `k`, a part of the answer.
pub fn block_start(k: u32, part: Part, tool_id: &str, tool: Option<&str>) -> Value {
    let block = match part {
        Part::Reasoning => json!({"type": "thinking", "thinking": ""}),
        Part::ToolCall => {
            json!({"type": "tool_use", "id": tool_id, "name": tool.unwrap_or("tool"), "input": {}})
        }
        _ => json!({"type": "text", "text": ""}),
    };
    json!({"type": "content_block_start", "index": k, "content_block": block})
}

/// The content blocks of a whole message: thinking, then text or a tool call.
pub fn blocks(reasoning: &str, text: &str, tool_id: &str, tool: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    if !reasoning.is_empty() {
        out.push(json!({"type": "thinking", "thinking": reasoning, "signature": ""}));
    }
    out.push(match tool {
        Some(name) => {
            json!({"type": "tool_use", "id": tool_id, "name": name, "input": {"text": text}})
        }
        None => json!({"type": "text", "text": text}),
    });
    out
}

/// `usage` of a message: uncached input, cache reads, output.
pub fn usage_json(prompt: u32, output: u32, cached: u32) -> Value {
    json!({"input_tokens": prompt - cached, "cache_read_input_tokens": cached, "output_tokens": output})
}

/// The event that opens a stream (the first block's start and a ping follow).
pub fn stream_start(id: &str, model: &Value, usage: Value) -> (&'static str, Value) {
    (
        "message_start",
        json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant",
        "content": [], "model": model, "stop_reason": null, "stop_sequence": null, "usage": usage}}),
    )
}

/// A delta event cut inside its JSON (a malformed-stream fault).
pub const MALFORMED_EVENT: &[u8] = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\n\n";

pub fn finish_reason(length: bool) -> &'static str {
    if length {
        "max_tokens"
    } else {
        "end_turn"
    }
}

/// The events that end a stream (after the last block's stop): message_delta, message_stop.
pub fn stream_end(reason: &str, output: u32) -> Vec<(&'static str, Value)> {
    vec![
        (
            "message_delta",
            json!({"type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": null}, "usage": {"output_tokens": output}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]
}

/// A whole (non-streamed) message.
pub fn whole(id: &str, model: &Value, content: Vec<Value>, reason: &str, usage: Value) -> Value {
    json!({"id": id, "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": reason, "stop_sequence": null,
        "usage": usage})
}

/// The error body: `{"type": "error", "error": {type, message}}`.
pub fn error_body(kind: ErrorKind, message: &str) -> Value {
    let kind = match kind {
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::Timeout => "overloaded_error",
        ErrorKind::Server => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Api;

    #[test]
    fn prompt_tokens_count_cache_reads_and_writes() {
        let mut obs = Observation::default();
        let start = r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"c","usage":{"input_tokens":5,"cache_read_input_tokens":100,"cache_creation_input_tokens":"20","output_tokens":null}}}"#;
        on_event(
            SseEvent {
                event: "message_start",
                data: start,
            },
            &mut obs,
        )
        .unwrap();
        assert_eq!(obs.prompt_tokens, Some(125));
        assert_eq!(obs.cached_tokens, Some(100));
    }

    /// Recorded from the documented Messages streaming format.
    const STREAM: &[(&str, &str)] = &[
        (
            "message_start",
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
        ),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
        ),
        ("ping", r#"{"type": "ping"}"#),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}"#,
        ),
        (
            "content_block_stop",
            r#"{"type":"content_block_stop","index":0}"#,
        ),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
        ),
        ("message_stop", r#"{"type":"message_stop"}"#),
    ];

    #[test]
    fn documented_stream_is_read() {
        let mut obs = Observation::default();
        let mut content = 0;
        for (e, d) in STREAM {
            if on_event(SseEvent { event: e, data: d }, &mut obs)
                .unwrap()
                .is_generated()
            {
                content += 1;
            }
        }
        assert_eq!(content, 2);
        assert_eq!(obs.prompt_tokens, Some(25));
        assert_eq!(obs.output_tokens, Some(15));
        assert_eq!(obs.finish_reason.as_deref(), Some("end_turn"));
        assert!(obs.is_complete(Api::Messages));
    }

    #[test]
    fn thinking_and_tool_use_blocks_are_told_apart() {
        let mut obs = Observation::default();
        let events = [
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me see"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"get","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\": 1}"}}"#,
            ),
        ];
        let parts: Vec<Part> = events
            .iter()
            .map(|(e, d)| on_event(SseEvent { event: e, data: d }, &mut obs).unwrap())
            .collect();
        use Part::*;
        assert_eq!(parts, [Nothing, Reasoning, Nothing, Nothing, ToolCall]);
        assert!(obs.tool_call);
        assert_eq!(obs.reasoning_parts, 1);
    }

    #[test]
    fn error_event_mid_stream_is_kept() {
        let mut obs = Observation::default();
        on_event(
            SseEvent {
                event: "error",
                data: r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            },
            &mut obs,
        )
        .unwrap();
        assert_eq!(
            obs.server_error.as_deref(),
            Some("overloaded_error: Overloaded")
        );
        assert!(!obs.is_complete(Api::Messages));
    }

    #[test]
    fn full_message_is_read() {
        let mut obs = Observation::default();
        on_body(
            br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hi there"}],"model":"m","stop_reason":"max_tokens","usage":{"input_tokens":4,"output_tokens":2}}"#,
            &mut obs,
        )
        .unwrap();
        assert_eq!(obs.output_tokens, Some(2));
        assert_eq!(obs.output_chars, 8);
        assert_eq!(obs.finish_reason.as_deref(), Some("max_tokens"));
    }

    #[test]
    fn unknown_event_type_is_ignored_but_broken_json_is_bad() {
        let mut obs = Observation::default();
        let weird = SseEvent {
            event: "x",
            data: r#"{"type":"weird"}"#,
        };
        assert_eq!(on_event(weird, &mut obs), Ok(Part::Nothing));
        let broken = SseEvent {
            event: "content_block_delta",
            data: r#"{"type":"content_block_delta","delta":{"#,
        };
        assert!(on_event(broken, &mut obs).is_err());
    }
}
