//! OpenAI Responses API (`/v1/responses`): the client's reading of its events and bodies, and
//! what a server sends (the simulator's encoder, at the end).
//!
//! A stream is a sequence of typed events (`response.created`, `response.output_text.delta`,
//! `response.reasoning_text.delta`, `response.function_call_arguments.delta`, …) that ends with
//! exactly one terminal event: `response.completed`, `response.incomplete` (a complete answer
//! cut by `max_output_tokens`) or `response.failed`. A stream without one is not complete.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{lenient_count, ErrorKind, Observation, Part, SseEvent};

#[derive(Debug, Default, Deserialize)]
pub struct Usage {
    #[serde(default, deserialize_with = "lenient_count")]
    pub input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub input_tokens_details: Option<Value>,
    #[serde(default)]
    pub output_tokens_details: Option<Value>,
}

/// Every streamed event, read without copying text. Unknown types are ignored.
#[derive(Debug, Deserialize)]
pub struct StreamEvent<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub delta: Option<Cow<'a, str>>,
    /// The response object of `response.created`, `.completed`, `.incomplete`, `.failed`.
    #[serde(default)]
    pub response: Option<ResponseObject>,
    /// `response.output_item.added`: the item begun (a function call's name is here).
    #[serde(default)]
    pub item: Option<Value>,
    /// The `error` event's fields.
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub code: Option<Value>,
}

/// A response, whole or as a terminal event carries it.
#[derive(Debug, Default, Deserialize)]
pub struct ResponseObject {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub output: Vec<Value>,
    #[serde(default, deserialize_with = "lenient_usage")]
    pub usage: Option<Usage>,
    #[serde(default)]
    pub incomplete_details: Option<Value>,
    #[serde(default)]
    pub error: Option<Value>,
}

fn lenient_usage<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Usage>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

fn count_at(v: &Option<Value>, key: &str) -> Option<u64> {
    let n = v.as_ref()?.get(key)?;
    n.as_u64()
        .or_else(|| n.as_str().and_then(|s| s.trim().parse().ok()))
}

fn apply_usage(u: &Usage, obs: &mut Observation) {
    if u.input_tokens.is_some() {
        obs.prompt_tokens = u.input_tokens;
    }
    if u.output_tokens.is_some() {
        obs.output_tokens = u.output_tokens;
    }
    if let Some(c) = count_at(&u.input_tokens_details, "cached_tokens") {
        obs.cached_tokens = Some(c);
    }
    if let Some(r) = count_at(&u.output_tokens_details, "reasoning_tokens") {
        obs.reasoning_tokens = Some(r);
    }
}

fn error_text(v: &Value) -> String {
    match v.get("message").and_then(Value::as_str) {
        Some(m) => match v.get("code").and_then(Value::as_str) {
            Some(c) => format!("{c}: {m}"),
            None => m.to_string(),
        },
        None => v.to_string(),
    }
}

/// The end of a response: its status as the finish reason (`completed`, or why it is
/// incomplete, e.g. `max_output_tokens`), or the failure.
fn apply_terminal(r: &ResponseObject, obs: &mut Observation) {
    if let Some(u) = &r.usage {
        apply_usage(u, obs);
    }
    let status = r.status.as_deref().unwrap_or("completed");
    if status == "failed" {
        let why = r.error.as_ref().map(error_text);
        obs.server_error = Some(why.unwrap_or_else(|| "response.failed".into()));
        return;
    }
    let reason = r
        .incomplete_details
        .as_ref()
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str);
    obs.finish_reason = Some(reason.unwrap_or(status).to_string());
    obs.done_marker = true;
}

pub fn on_event(ev: SseEvent<'_>, obs: &mut Observation) -> Result<Part, String> {
    let data = ev.data.trim();
    if data.is_empty() || data == "[DONE]" {
        return Ok(Part::Nothing);
    }
    let e: StreamEvent<'_> = serde_json::from_str(data).map_err(|err| {
        let mut end = data.len().min(120);
        while !data.is_char_boundary(end) {
            end -= 1;
        }
        format!("invalid Responses event ({err}): {}", &data[..end])
    })?;
    let delta = e.delta.as_deref().unwrap_or_default();
    let part = match e.kind.as_ref() {
        "response.output_text.delta" | "response.refusal.delta" => Part::Answer,
        "response.reasoning_text.delta"
        | "response.reasoning_summary_text.delta"
        | "response.reasoning.delta"
        | "response.reasoning_summary.delta" => Part::Reasoning,
        "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => {
            obs.tool_call = true;
            Part::ToolCall
        }
        "response.output_item.added" => {
            let kind = e
                .item
                .as_ref()
                .and_then(|i| i.get("type"))
                .and_then(Value::as_str);
            if kind.is_some_and(|k| k.ends_with("_call")) {
                obs.tool_call = true;
            }
            Part::Nothing
        }
        "response.completed" | "response.incomplete" | "response.failed" => {
            apply_terminal(&e.response.unwrap_or_default(), obs);
            Part::Nothing
        }
        "error" => {
            let msg = e.message.unwrap_or_else(|| "error event".into());
            obs.server_error = Some(match e.code.as_ref().and_then(Value::as_str) {
                Some(c) => format!("{c}: {msg}"),
                None => msg,
            });
            Part::Nothing
        }
        _ => Part::Nothing,
    };
    if part.is_generated() && !delta.is_empty() {
        obs.push(part, delta);
        return Ok(part);
    }
    Ok(Part::Nothing)
}

/// A whole response: its output items (reasoning, message, function calls), usage, status.
pub fn on_body(body: &[u8], obs: &mut Observation) -> Result<(), String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("invalid JSON response ({e}): {}", super::snippet(body, 200)))?;
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        if v.get("status").and_then(Value::as_str) != Some("completed") {
            obs.server_error = Some(error_text(err));
            return Ok(());
        }
    }
    if v.get("object").and_then(Value::as_str) != Some("response") {
        return Err(format!(
            "expected a response object: {}",
            super::snippet(body, 200)
        ));
    }
    let r: ResponseObject = serde_json::from_value(v).map_err(|e| e.to_string())?;
    for item in &r.output {
        let texts = |key: &str| -> Vec<String> {
            let parts = item.get(key).and_then(Value::as_array);
            parts
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("text").and_then(Value::as_str).map(str::to_string))
                .collect()
        };
        match item.get("type").and_then(Value::as_str) {
            Some("message") => texts("content")
                .iter()
                .for_each(|t| obs.push(Part::Answer, t)),
            Some("reasoning") => {
                let mut all = texts("content");
                all.extend(texts("summary"));
                all.iter().for_each(|t| obs.push(Part::Reasoning, t));
            }
            Some(k) if k.ends_with("_call") => {
                obs.tool_call = true;
                for key in ["name", "arguments", "input"] {
                    if let Some(t) = item.get(key).and_then(Value::as_str) {
                        obs.push(Part::ToolCall, t);
                    }
                }
            }
            _ => {}
        }
    }
    apply_terminal(&r, obs);
    Ok(())
}

// The server side: what a Responses API server sends (the simulator speaks it).

pub fn response_id(n: u64) -> String {
    format!("resp_sim{n}")
}

/// The id of output item `k` of response `id`.
pub fn item_id(id: &str, k: u32) -> String {
    format!("{}_item{k}", id.replace("resp_", "it_"))
}

/// The delta event type of a part.
pub fn delta_type(part: Part) -> &'static str {
    match part {
        Part::Reasoning => "response.reasoning_text.delta",
        Part::ToolCall => "response.function_call_arguments.delta",
        _ => "response.output_text.delta",
    }
}

/// An output item as `output_item.added` announces it (empty) or `.done` closes it.
pub fn item(part: Part, id: &str, tool: Option<&str>, text: &str) -> Value {
    match part {
        Part::Reasoning => json!({"type": "reasoning", "id": id, "summary": [],
            "content": [{"type": "reasoning_text", "text": text}]}),
        Part::ToolCall => {
            json!({"type": "function_call", "id": id, "call_id": format!("call_{id}"),
            "name": tool.unwrap_or("tool"), "arguments": text, "status": "completed"})
        }
        _ => json!({"type": "message", "id": id, "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}),
    }
}

/// `usage` of a response.
pub fn usage_json(prompt: u32, output: u32, cached: u32, reasoning: u32) -> Value {
    json!({"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output, "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + output})
}

/// The response object: `in_progress` at the start, `completed` or `incomplete` at the end.
pub fn object(id: &str, created: u64, model: &Value, status: &str, usage: Option<Value>) -> Value {
    let incomplete = (status == "incomplete").then(|| json!({"reason": "max_output_tokens"}));
    json!({"id": id, "object": "response", "created_at": created, "status": status,
        "model": model, "output": [], "error": null, "incomplete_details": incomplete,
        "usage": usage})
}

/// The error body of the Responses API (as the chat API's).
pub fn error_body(status: u16, kind: ErrorKind, message: &str) -> Value {
    super::openai::error_body(status, kind, message)
}

/// A delta event cut inside its JSON (a malformed-stream fault).
pub const MALFORMED_EVENT: &[u8] =
    b"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(events: &[&str]) -> (Observation, Vec<Part>) {
        let mut obs = Observation::default();
        let parts = events
            .iter()
            .map(|d| on_event(SseEvent { event: "", data: d }, &mut obs).unwrap())
            .collect();
        (obs, parts)
    }

    /// The documented event sequence of a reasoning model's streamed answer.
    #[test]
    fn documented_stream_is_read() {
        let (obs, parts) = feed(&[
            r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","output":[],"usage":null}}"#,
            r#"{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"type":"reasoning","id":"rs_1","summary":[]}}"#,
            r#"{"type":"response.reasoning_summary_text.delta","sequence_number":2,"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"Thinking"}"#,
            r#"{"type":"response.output_item.added","sequence_number":3,"output_index":1,"item":{"type":"message","id":"msg_1","role":"assistant","content":[]}}"#,
            r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"Hi","logprobs":[]}"#,
            r#"{"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"","logprobs":[]}"#,
            r#"{"type":"response.output_text.done","sequence_number":6,"text":"Hi"}"#,
            r#"{"type":"response.completed","sequence_number":7,"response":{"id":"resp_1","object":"response","status":"completed","output":[],"usage":{"input_tokens":9,"input_tokens_details":{"cached_tokens":4},"output_tokens":12,"output_tokens_details":{"reasoning_tokens":10},"total_tokens":21}}}"#,
        ]);
        use Part::*;
        assert_eq!(
            parts,
            [Nothing, Nothing, Reasoning, Nothing, Answer, Nothing, Nothing, Nothing]
        );
        assert_eq!(
            (
                obs.prompt_tokens,
                obs.cached_tokens,
                obs.output_tokens,
                obs.reasoning_tokens
            ),
            (Some(9), Some(4), Some(12), Some(10))
        );
        assert!(obs.is_complete(super::super::Api::Responses));
        assert_eq!(obs.finish_reason.as_deref(), Some("completed"));
    }

    #[test]
    fn terminal_events_decide_the_outcome() {
        let (obs, _) = feed(&[r#"{"type":"response.output_text.delta","delta":"x"}"#]);
        assert!(
            !obs.is_complete(super::super::Api::Responses),
            "no terminal event"
        );
        let (obs, _) = feed(&[
            r#"{"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"output_tokens":5}}}"#,
        ]);
        assert!(obs.done_marker && obs.server_error.is_none());
        assert_eq!(obs.finish_reason.as_deref(), Some("max_output_tokens"));
        let (obs, _) = feed(&[
            r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"boom"}}}"#,
        ]);
        assert_eq!(obs.server_error.as_deref(), Some("server_error: boom"));
        let (obs, _) =
            feed(&[r#"{"type":"error","code":"rate_limit_exceeded","message":"slow down"}"#]);
        assert_eq!(
            obs.server_error.as_deref(),
            Some("rate_limit_exceeded: slow down")
        );
    }

    #[test]
    fn function_call_arguments_are_a_tool_call() {
        let (obs, parts) = feed(&[
            r#"{"type":"response.output_item.added","item":{"type":"function_call","name":"get","arguments":""}}"#,
            r#"{"type":"response.function_call_arguments.delta","delta":"{\"a\""}"#,
        ]);
        assert_eq!(parts, [Part::Nothing, Part::ToolCall]);
        assert!(obs.tool_call);
    }

    #[test]
    fn whole_response_is_read() {
        let mut obs = Observation::default();
        on_body(
            br#"{"id":"resp_1","object":"response","status":"completed","output":[{"type":"reasoning","summary":[{"type":"summary_text","text":"hm"}]},{"type":"message","content":[{"type":"output_text","text":"Hello"}]}],"usage":{"input_tokens":3,"output_tokens":4,"output_tokens_details":{"reasoning_tokens":1}}}"#,
            &mut obs,
        )
        .unwrap();
        assert_eq!(obs.output_chars, 7);
        assert_eq!((obs.reasoning_parts, obs.reasoning_tokens), (1, Some(1)));
        assert!(obs.is_complete(super::super::Api::Responses));
        assert!(on_body(br#"{"choices":[]}"#, &mut Observation::default()).is_err());
    }
}
