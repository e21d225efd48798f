//! The server side of the OpenAI dialect: what an OpenAI-compatible server sends (the
//! simulator speaks it).

use serde_json::{json, Value};

use super::super::{ErrorKind, Part};

/// A response id: `chatcmpl-…` for chat, `cmpl-…` for completions.
pub fn response_id(chat: bool, n: u64) -> String {
    if chat {
        format!("chatcmpl-sim{n}")
    } else {
        format!("cmpl-sim{n}")
    }
}

/// A streamed answer chunk, before and after the JSON string of its text (the chunk's closing
/// brace, after any `usage`, is the caller's).
pub fn token_frame(chat: bool, id: &str, created: u64, model_json: &str) -> (String, &'static str) {
    if chat {
        (
            format!("data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":{model_json},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":"),
            "},\"logprobs\":null,\"finish_reason\":null}]",
        )
    } else {
        (
            format!("data: {{\"id\":\"{id}\",\"object\":\"text_completion\",\"created\":{created},\"model\":{model_json},\"choices\":[{{\"index\":0,\"text\":"),
            ",\"logprobs\":null,\"finish_reason\":null}]",
        )
    }
}

/// A chat delta's opening for a part other than the answer's text, up to the JSON string of
/// its text: reasoning (`reasoning_content`, as vLLM and DeepSeek send it) or a tool call's
/// arguments (its first chunk names the call and the tool). A tool call's delta closes with
/// `}}]` after the text.
pub fn part_head(part: Part, first: bool, id: &str, tool: Option<&str>) -> String {
    match (part, first) {
        (Part::Reasoning, _) => "\"reasoning_content\":".into(),
        (Part::ToolCall, true) => {
            let name = serde_json::to_string(tool.unwrap_or("tool")).expect("a string serialises");
            format!("\"tool_calls\":[{{\"index\":0,\"id\":\"call_{id}\",\"type\":\"function\",\"function\":{{\"name\":{name},\"arguments\":")
        }
        (Part::ToolCall, false) => {
            "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":".into()
        }
        _ => "\"content\":".into(),
    }
}

/// Chat streams open with a role-only chunk (as vLLM's and llama.cpp's do).
pub fn stream_start(chat: bool, id: &str, created: u64, model: &Value) -> Option<Value> {
    chat.then(|| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]})
    })
}

/// A chunk cut inside its JSON (a malformed-stream fault).
pub const MALFORMED_CHUNK: &[u8] = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\n\n";

pub fn finish_reason(length: bool) -> &'static str {
    if length {
        "length"
    } else {
        "stop"
    }
}

pub fn usage_json(prompt: u32, output: u32, cached: u32) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": cached}})
}

/// The events that end a stream: the finish chunk, the usage chunk when asked for
/// (`stream_options.include_usage`), then `[DONE]`.
pub fn stream_end(
    chat: bool,
    id: &str,
    created: u64,
    model: &Value,
    reason: &str,
    usage: Option<Value>,
) -> Vec<Value> {
    let (object, choice) = if chat {
        (
            "chat.completion.chunk",
            json!({"index": 0, "delta": {}, "logprobs": null, "finish_reason": reason}),
        )
    } else {
        (
            "text_completion",
            json!({"index": 0, "text": "", "logprobs": null, "finish_reason": reason}),
        )
    };
    let mut out = vec![
        json!({"id": id, "object": object, "created": created, "model": model, "choices": [choice]}),
    ];
    if let Some(u) = usage {
        out.push(json!({"id": id, "object": object, "created": created, "model": model, "choices": [], "usage": u}));
    }
    out
}

/// The stream's last line.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// What a whole answer holds: reasoning, text, or a tool call's arguments.
pub struct Message<'a> {
    pub reasoning: &'a str,
    pub text: &'a str,
    pub tool: Option<&'a str>,
    pub call_id: &'a str,
}

/// A whole (non-streamed) response.
pub fn whole(
    chat: bool,
    id: &str,
    created: u64,
    model: &Value,
    m: Message<'_>,
    reason: &str,
    usage: Value,
) -> Value {
    if chat {
        let mut message = json!({"role": "assistant", "content": m.text});
        if !m.reasoning.is_empty() {
            message["reasoning_content"] = json!(m.reasoning);
        }
        if let Some(tool) = m.tool {
            message["content"] = Value::Null;
            message["tool_calls"] = json!([{"id": m.call_id, "type": "function",
                "function": {"name": tool, "arguments": m.text}}]);
        }
        json!({"id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": reason}],
            "usage": usage})
    } else {
        json!({"id": id, "object": "text_completion", "created": created, "model": model,
            "choices": [{"index": 0, "text": m.text, "logprobs": null, "finish_reason": reason}], "usage": usage})
    }
}

/// The error body: `{"error": {message, type, param, code}}`.
pub fn error_body(status: u16, kind: ErrorKind, message: &str) -> Value {
    let kind = match kind {
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::RateLimited => "rate_limit_exceeded",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Server => "server_error",
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": status}})
}
