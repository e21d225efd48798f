//! OpenAI chat/completions and completions: the wire types, the client's reading of them, and
//! what a server sends (the simulator's encoder, at the end).
//! vLLM, SGLang, TGI, llama.cpp, Ollama and LM Studio all speak this dialect, each with quirks
//! (role-only first chunks, usage only on request, `timings`, empty finish deltas).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{lenient_count, Observation, Part, ServerTimings, SseEvent};

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default, deserialize_with = "lenient_count")]
    pub prompt_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub completion_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient_count")]
    pub total_tokens: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_details"
    )]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_details"
    )]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default, deserialize_with = "lenient_count")]
    pub cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    #[serde(default, deserialize_with = "lenient_count")]
    pub reasoning_tokens: Option<u64>,
}

/// `usage` of another shape than an object reads as absent (the answer is kept).
fn lenient_usage<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Usage>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

fn lenient_timings<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<ServerTimings>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// A `*_tokens_details` of another shape than an object reads as absent.
fn lenient_details<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// A streamed chunk (`chat.completion.chunk` or `text_completion`), read without copying text.
#[derive(Debug, Deserialize)]
pub struct StreamChunk<'a> {
    #[serde(default, borrow)]
    pub choices: Vec<ChunkChoice<'a>>,
    #[serde(default, deserialize_with = "lenient_usage")]
    pub usage: Option<Usage>,
    #[serde(default, deserialize_with = "lenient_timings")]
    pub timings: Option<ServerTimings>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct ChunkChoice<'a> {
    #[serde(default, borrow)]
    pub delta: Option<Delta<'a>>,
    /// `/v1/completions` streams put the text here.
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub struct Delta<'a> {
    #[serde(default, borrow)]
    pub content: Option<Cow<'a, str>>,
    /// vLLM / llama.cpp / DeepSeek reasoning text.
    #[serde(default, borrow)]
    pub reasoning_content: Option<Cow<'a, str>>,
    /// Ollama / OpenRouter reasoning text.
    #[serde(default, borrow)]
    pub reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub tool_calls: Option<Vec<ToolCallDelta<'a>>>,
}

/// A piece of a streamed tool call: its name comes first, its arguments in pieces.
#[derive(Debug, Deserialize)]
pub struct ToolCallDelta<'a> {
    #[serde(default, borrow)]
    pub function: Option<FunctionDelta<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct FunctionDelta<'a> {
    #[serde(default, borrow)]
    pub name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub arguments: Option<Cow<'a, str>>,
}

/// A whole (non-streaming) response of either endpoint.
#[derive(Debug, Deserialize)]
pub struct FullResponse {
    #[serde(default)]
    pub choices: Vec<FullChoice>,
    #[serde(default, deserialize_with = "lenient_usage")]
    pub usage: Option<Usage>,
    #[serde(default, deserialize_with = "lenient_timings")]
    pub timings: Option<ServerTimings>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct FullChoice {
    #[serde(default)]
    pub message: Option<FullMessage>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct FullMessage {
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub reasoning_content: Option<String>,
    #[serde(default)]
    pub reasoning: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<Vec<Value>>,
}

/// Error body as OpenAI-compatible servers send it: `{"error": {"message", "type", "code"}}`.
pub fn error_message(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => m
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn apply_usage(u: &Usage, obs: &mut Observation) {
    if u.prompt_tokens.is_some() {
        obs.prompt_tokens = u.prompt_tokens;
    }
    if u.completion_tokens.is_some() {
        obs.output_tokens = u.completion_tokens;
    }
    if let Some(c) = u
        .prompt_tokens_details
        .as_ref()
        .and_then(|d| d.cached_tokens)
    {
        obs.cached_tokens = Some(c);
    }
    if let Some(r) = u
        .completion_tokens_details
        .as_ref()
        .and_then(|d| d.reasoning_tokens)
    {
        obs.reasoning_tokens = Some(r);
    }
}

pub fn on_event(ev: SseEvent<'_>, obs: &mut Observation) -> Result<Part, String> {
    let data = ev.data.trim();
    if data == "[DONE]" {
        obs.done_marker = true;
        return Ok(Part::Nothing);
    }
    if data.is_empty() {
        return Ok(Part::Nothing);
    }
    match scan::chunk_shaped(data, &mut obs.shape) {
        Some(c) => Ok(take_choice(&c, obs)),
        None => on_chunk_serde(data, obs),
    }
}

/// What the scanner read of a chunk's one choice, taken as [`on_chunk_serde`] takes it.
fn take_choice(c: &scan::Choice<'_>, obs: &mut Observation) -> Part {
    let mut part = Part::Nothing;
    let mut take = |kind: Part, s: Option<&str>| {
        if let Some(s) = s.filter(|s| !s.is_empty()) {
            obs.push(kind, s);
            part = part.max(kind);
        }
    };
    let reasoning = c.reasoning_content.as_deref().filter(|s| !s.is_empty());
    take(Part::Reasoning, reasoning.or(c.reasoning.as_deref()));
    take(Part::Answer, c.content.as_deref());
    take(Part::Answer, c.text.as_deref());
    if let Some(f) = &c.finish_reason {
        obs.finish_reason = Some(f.to_string());
    }
    part
}

/// A chunk read by serde: every field, every shape, and the error of invalid JSON.
pub fn on_chunk_serde(data: &str, obs: &mut Observation) -> Result<Part, String> {
    let chunk: StreamChunk<'_> = serde_json::from_str(data)
        .map_err(|e| format!("invalid JSON in stream chunk ({e}): {}", clip(data)))?;
    if let Some(err) = &chunk.error {
        obs.server_error = Some(error_message(err));
        return Ok(Part::Nothing);
    }
    if let Some(u) = &chunk.usage {
        apply_usage(u, obs);
    }
    if chunk.timings.is_some() {
        obs.server_timings = chunk.timings;
    }
    let mut part = Part::Nothing;
    for c in &chunk.choices {
        let mut take = |kind: Part, s: Option<&str>| {
            if let Some(s) = s.filter(|s| !s.is_empty()) {
                obs.push(kind, s);
                part = part.max(kind);
            }
        };
        if let Some(d) = &c.delta {
            // Some servers send the same text under both names (vLLM while it renamed the
            // field): one of them, `reasoning_content` first.
            let reasoning = d.reasoning_content.as_deref().filter(|s| !s.is_empty());
            take(Part::Reasoning, reasoning.or(d.reasoning.as_deref()));
            take(Part::Answer, d.content.as_deref());
            for call in d.tool_calls.iter().flatten() {
                let f = call.function.as_ref();
                take(Part::ToolCall, f.and_then(|f| f.name.as_deref()));
                take(Part::ToolCall, f.and_then(|f| f.arguments.as_deref()));
            }
        }
        take(Part::Answer, c.text.as_deref());
        if let Some(f) = &c.finish_reason {
            obs.finish_reason = Some(f.to_string());
        }
    }
    Ok(part)
}

pub fn on_body(body: &[u8], obs: &mut Observation) -> Result<(), String> {
    let r: FullResponse = serde_json::from_slice(body)
        .map_err(|e| format!("invalid JSON response ({e}): {}", super::snippet(body, 200)))?;
    if let Some(err) = &r.error {
        obs.server_error = Some(error_message(err));
        return Ok(());
    }
    if r.choices.is_empty() {
        return Err(format!(
            "response has no choices: {}",
            super::snippet(body, 200)
        ));
    }
    if let Some(u) = &r.usage {
        apply_usage(u, obs);
    }
    obs.server_timings = r.timings;
    for c in &r.choices {
        if let Some(m) = &c.message {
            let reasoning = m.reasoning_content.as_deref().filter(|s| !s.is_empty());
            if let Some(s) = reasoning.or(m.reasoning.as_deref()) {
                obs.push(Part::Reasoning, s);
            }
            if let Some(s) = &m.content {
                obs.push(Part::Answer, s);
            }
            for call in m.tool_calls.iter().flatten() {
                let f = call.get("function");
                for key in ["name", "arguments"] {
                    if let Some(s) = f.and_then(|f| f.get(key)).and_then(Value::as_str) {
                        obs.push(Part::ToolCall, s);
                    }
                }
            }
        }
        if let Some(s) = &c.text {
            obs.push(Part::Answer, s);
        }
        if let Some(f) = &c.finish_reason {
            obs.finish_reason = Some(f.clone());
        }
    }
    Ok(())
}

fn clip(s: &str) -> &str {
    let mut end = s.len().min(120);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub mod scan;
mod server;
pub use server::*;

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(events: &[&str]) -> (Observation, usize) {
        let mut obs = Observation::default();
        let mut content = 0;
        for d in events {
            if on_event(SseEvent { event: "", data: d }, &mut obs)
                .unwrap()
                .is_generated()
            {
                content += 1;
            }
        }
        (obs, content)
    }

    #[test]
    fn odd_optional_counters_never_discard_an_answer() {
        let (obs, content) = feed(&[
            r#"{"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":null,"completion_tokens":"7","total_tokens":1.5,"prompt_tokens_details":null},"timings":{"predicted_n":"7","prompt_ms":null}}"#,
        ]);
        assert_eq!(content, 1);
        assert_eq!(obs.output_tokens, Some(7));
        assert_eq!(obs.prompt_tokens, None);
        assert_eq!(obs.server_timings.unwrap().predicted_n, Some(7.0));
        let (obs, _) = feed(&[r#"{"choices":[],"usage":"n/a","timings":[1]}"#]);
        assert_eq!(obs.output_tokens, None);
    }

    #[test]
    fn role_only_and_empty_finish_deltas_are_not_content() {
        let (obs, n) = feed(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":""},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":4}}}"#,
            "[DONE]",
        ]);
        assert_eq!(n, 1);
        assert_eq!(obs.output_tokens, Some(2));
        assert_eq!(obs.prompt_tokens, Some(9));
        assert_eq!(obs.cached_tokens, Some(4));
        assert_eq!(obs.finish_reason.as_deref(), Some("stop"));
        assert!(obs.done_marker);
        assert!(obs.is_complete(super::super::Api::Chat));
    }

    #[test]
    fn reasoning_sent_under_both_names_counts_once() {
        let mut obs = Observation {
            reasoning_text: Some(String::new()),
            ..Default::default()
        };
        let ev = r#"{"choices":[{"delta":{"reasoning_content":"hm","reasoning":"hm"}}]}"#;
        on_event(
            SseEvent {
                event: "",
                data: ev,
            },
            &mut obs,
        )
        .unwrap();
        assert_eq!(obs.reasoning_parts, 1);
        assert_eq!(obs.reasoning_text.as_deref(), Some("hm"));
        let body = br#"{"choices":[{"message":{"content":"a","reasoning_content":"xy","reasoning":"xy"},"finish_reason":"stop"}]}"#;
        let mut whole = Observation::default();
        on_body(body, &mut whole).unwrap();
        assert_eq!((whole.reasoning_parts, whole.output_chars), (1, 3));
    }

    #[test]
    fn reasoning_text_counts_as_content() {
        let (_, n) = feed(&[
            r#"{"choices":[{"delta":{"reasoning_content":"think"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning":"more"}}]}"#,
        ]);
        assert_eq!(n, 2);
    }

    #[test]
    fn reasoning_answer_and_tool_calls_are_told_apart() {
        let mut obs = Observation {
            text: Some(String::new()),
            reasoning_text: Some(String::new()),
            ..Default::default()
        };
        let parts: Vec<Part> = [
            r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"choices":[{"delta":{"reasoning_content":"let me"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning":" think"}}]}"#,
            r#"{"choices":[{"delta":{"content":"Call:"}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"get","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":4}}}"#,
        ]
        .iter()
        .map(|d| on_event(SseEvent { event: "", data: d }, &mut obs).unwrap())
        .collect();
        use Part::*;
        assert_eq!(
            parts,
            [Nothing, Reasoning, Reasoning, Answer, ToolCall, ToolCall, Nothing]
        );
        assert!(obs.tool_call);
        assert_eq!(obs.reasoning_parts, 2);
        assert_eq!(obs.reasoning_tokens, Some(4));
        assert_eq!(obs.reasoning_text.as_deref(), Some("let me think"));
        assert_eq!(obs.text.as_deref(), Some("Call:get{\"a\":1}"));
        assert_eq!(obs.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn whole_response_reasoning_and_tool_calls_are_read() {
        let mut obs = Observation::default();
        on_body(
            br#"{"choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"hmm","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":5,"completion_tokens_details":{"reasoning_tokens":2}}}"#,
            &mut obs,
        )
        .unwrap();
        assert!(obs.tool_call);
        assert_eq!((obs.reasoning_parts, obs.reasoning_tokens), (1, Some(2)));
        assert_eq!(obs.output_chars, 3 + 1 + 2);
    }

    #[test]
    fn escaped_text_is_read() {
        let (obs, n) = feed(&[r#"{"choices":[{"delta":{"content":"a\"\n\u00e9"}}]}"#]);
        assert_eq!(n, 1);
        assert_eq!(obs.output_chars, 5);
    }

    #[test]
    fn done_without_finish_reason_is_incomplete() {
        let (obs, _) = feed(&[r#"{"choices":[{"delta":{"content":"x"}}]}"#, "[DONE]"]);
        assert!(obs.done_marker);
        assert!(!obs.is_complete(super::super::Api::Chat));
    }

    #[test]
    fn invalid_json_chunk_is_an_error_naming_the_payload() {
        let mut obs = Observation::default();
        let e = on_event(
            SseEvent {
                event: "",
                data: "{\"choices\": [",
            },
            &mut obs,
        )
        .unwrap_err();
        assert!(e.contains("invalid JSON"), "{e}");
        assert!(e.contains("choices"), "{e}");
    }

    #[test]
    fn error_field_mid_stream_is_a_server_error() {
        let (obs, _) = feed(&[r#"{"error":{"message":"out of memory","type":"server_error"}}"#]);
        assert_eq!(obs.server_error.as_deref(), Some("out of memory"));
    }

    #[test]
    fn llama_cpp_timings_are_kept() {
        let (obs, _) = feed(&[
            r#"{"choices":[],"usage":{"completion_tokens":3,"prompt_tokens":5,"total_tokens":8},"timings":{"prompt_n":5,"prompt_ms":12.5,"predicted_n":3,"predicted_ms":30.1,"cache_n":0}}"#,
        ]);
        let t = obs.server_timings.unwrap();
        assert_eq!(t.prompt_ms, Some(12.5));
        assert_eq!(t.predicted_n, Some(3.0));
    }

    #[test]
    fn full_chat_response_is_read() {
        let mut obs = Observation::default();
        on_body(
            br#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":7,"total_tokens":10}}"#,
            &mut obs,
        )
        .unwrap();
        assert_eq!(obs.output_tokens, Some(7));
        assert_eq!(obs.output_chars, 5);
        assert_eq!(obs.finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn full_response_without_choices_is_bad() {
        let mut obs = Observation::default();
        assert!(on_body(br#"{"foo":1}"#, &mut obs).is_err());
        assert!(on_body(b"not json", &mut obs).is_err());
    }
}
