//! A request in each dialect: the body (`messages` for chat and Anthropic, `prompt` for
//! completions, and the sampling options) and the authentication header.

use anyhow::Context;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{anthropic, Api};

/// What a request asks: a prompt, or chat messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Prompt(String),
    /// `{"role", "content"}` objects, in order.
    Messages(Vec<Value>),
}

/// Everything about a request body except its content. Fixed for a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BodyOptions {
    pub api: Api,
    pub model: String,
    /// Default output length (a dataset may set its own per request).
    pub max_tokens: u32,
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    pub ignore_eos: bool,
    /// Send `stream_options.include_usage` on OpenAI streams.
    pub include_usage: bool,
    #[serde(default)]
    pub options: RequestOptions,
}

/// The request options beyond the basics, each sent only when given, under the dialect's
/// name for it (`stop` is Anthropic's `stop_sequences`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// The sampling seed (`seed` in the body; not the dataset's seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tokens: Option<u32>,
    /// A JSON tools list, in the dialect's own format (`--tools FILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Value>,
    /// `auto`, `none`, `required`, or a tool's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<String>,
    /// Ask for usage on every chunk (`stream_options.continuous_usage_stats`, vLLM).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continuous_usage: bool,
    /// Embeddings: inputs per request (0 or 1: one).
    #[serde(default, skip_serializing_if = "is_one")]
    pub batch: u32,
    /// Fields merged into every body last (`--extra-body`): they win over the tool's own.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra_body: Map<String, Value>,
}

fn is_one(v: &u32) -> bool {
    *v <= 1
}

impl RequestOptions {
    /// Inputs per request (embeddings).
    pub fn batch(&self) -> u32 {
        self.batch.max(1)
    }
}

/// The text of a content, as one string (a prompt; messages' contents joined).
fn joined(content: &Content) -> String {
    match content {
        Content::Prompt(p) => p.clone(),
        Content::Messages(msgs) => {
            let text: Vec<&str> = msgs
                .iter()
                .filter_map(|v| v.get("content").and_then(Value::as_str))
                .collect();
            text.join("\n\n")
        }
    }
}

/// `tool_choice` in the dialect's shape.
fn tool_choice(api: Api, choice: &str) -> Value {
    match (api, choice) {
        (Api::Messages, "auto" | "none") => json!({"type": choice}),
        (Api::Messages, "required" | "any") => json!({"type": "any"}),
        (Api::Messages, name) => json!({"type": "tool", "name": name}),
        (_, "auto" | "none" | "required") => json!(choice),
        (_, "any") => json!("required"), // Anthropic's word for it
        (Api::Responses, name) => json!({"type": "function", "name": name}),
        (_, name) => json!({"type": "function", "function": {"name": name}}),
    }
}

/// Render one request body.
pub fn render_body(opts: &BodyOptions, content: &Content, max_tokens: u32) -> Bytes {
    render_batch(opts, std::slice::from_ref(content), max_tokens)
}

/// Render one request body of several contents (embeddings take a batch of inputs; every
/// other API takes the first).
pub fn render_batch(opts: &BodyOptions, contents: &[Content], max_tokens: u32) -> Bytes {
    let mut m = Map::new();
    m.insert("model".into(), Value::String(opts.model.clone()));
    let api = opts.api;
    let content = &contents[0];
    match (api, content) {
        (Api::Embeddings, _) => {
            let inputs: Vec<Value> = contents.iter().map(|c| Value::String(joined(c))).collect();
            m.insert("input".into(), Value::Array(inputs));
            m.insert("encoding_format".into(), json!("float"));
            m.extend(opts.options.extra_body.clone());
            return Bytes::from(Value::Object(m).to_string());
        }
        (Api::Chat | Api::Messages, Content::Prompt(p)) => {
            m.insert("messages".into(), json!([{"role": "user", "content": p}]));
        }
        (Api::Chat | Api::Messages, Content::Messages(msgs)) => {
            m.insert("messages".into(), Value::Array(msgs.clone()));
        }
        (Api::Responses, Content::Prompt(p)) => {
            m.insert("input".into(), Value::String(p.clone()));
        }
        (Api::Responses, Content::Messages(msgs)) => {
            m.insert("input".into(), Value::Array(msgs.clone()));
        }
        (Api::Completions, c) => {
            m.insert("prompt".into(), Value::String(joined(c)));
        }
    }
    let length_key = match api {
        Api::Responses => "max_output_tokens",
        _ => "max_tokens",
    };
    m.insert(length_key.into(), json!(max_tokens));
    m.insert("stream".into(), Value::Bool(opts.stream));
    if let Some(t) = opts.temperature {
        m.insert("temperature".into(), json!(t));
    }
    if opts.ignore_eos {
        m.insert("ignore_eos".into(), Value::Bool(true));
    }
    let o = &opts.options;
    if opts.stream && matches!(api, Api::Chat | Api::Completions) {
        let mut so = Map::new();
        if opts.include_usage {
            so.insert("include_usage".into(), Value::Bool(true));
        }
        if o.continuous_usage {
            so.insert("continuous_usage_stats".into(), Value::Bool(true));
        }
        if !so.is_empty() {
            m.insert("stream_options".into(), Value::Object(so));
        }
    }
    if let Some(v) = o.top_p {
        m.insert("top_p".into(), json!(v));
    }
    if let Some(v) = o.top_k {
        m.insert("top_k".into(), json!(v));
    }
    if let Some(v) = o.sampling_seed {
        m.insert("seed".into(), json!(v));
    }
    if !o.stop.is_empty() {
        let key = if api == Api::Messages {
            "stop_sequences"
        } else {
            "stop"
        };
        m.insert(key.into(), json!(o.stop));
    }
    if let Some(v) = o.min_tokens {
        m.insert("min_tokens".into(), json!(v));
    }
    if let Some(tools) = &o.tools {
        m.insert("tools".into(), tools.clone());
    }
    if let Some(c) = &o.tool_choice {
        m.insert("tool_choice".into(), tool_choice(api, c));
    }
    m.extend(o.extra_body.clone());
    Bytes::from(Value::Object(m).to_string())
}

/// The header map: authentication for the dialect (`Authorization: Bearer` for OpenAI,
/// `x-api-key` and `anthropic-version` for Anthropic, the key marked sensitive) plus
/// `--header 'K: V'` entries.
pub fn build_headers(
    api: Api,
    api_key: Option<&str>,
    extra: &[String],
) -> anyhow::Result<HeaderMap> {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        let mut v = match api {
            Api::Messages => HeaderValue::from_str(key),
            _ => HeaderValue::from_str(&format!("Bearer {key}")),
        }
        .map_err(|_| anyhow::anyhow!("the API key contains characters not allowed in a header"))?;
        v.set_sensitive(true);
        let name = match api {
            Api::Messages => HeaderName::from_static("x-api-key"),
            _ => reqwest::header::AUTHORIZATION,
        };
        h.insert(name, v);
    }
    if api == Api::Messages {
        h.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(anthropic::VERSION),
        );
    }
    for raw in extra {
        let (k, v) = raw
            .split_once(':')
            .with_context(|| format!("--header {raw:?}: expected 'Name: value'"))?;
        let name = HeaderName::from_bytes(k.trim().as_bytes())
            .with_context(|| format!("--header {raw:?}: invalid header name"))?;
        let mut value = HeaderValue::from_str(v.trim())
            .with_context(|| format!("--header {raw:?}: invalid header value"))?;
        value.set_sensitive(true);
        h.insert(name, value);
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(api: Api, stream: bool) -> BodyOptions {
        BodyOptions {
            api,
            model: "m".into(),
            max_tokens: 9,
            stream,
            temperature: Some(0.7),
            ignore_eos: false,
            include_usage: true,
            options: RequestOptions::default(),
        }
    }

    fn body(o: &BodyOptions, c: &Content, n: u32) -> Value {
        serde_json::from_slice(&render_body(o, c, n)).unwrap()
    }

    #[test]
    fn bodies_follow_each_dialect() {
        let p = Content::Prompt("hi".into());
        let v = body(&opts(Api::Chat, true), &p, 9);
        assert_eq!(v["messages"][0]["content"], "hi");
        assert_eq!(v["stream_options"]["include_usage"], true);
        let v = body(&opts(Api::Completions, false), &p, 9);
        assert_eq!(v["prompt"], "hi");
        assert!(v.get("stream_options").is_none());
        let v = body(&opts(Api::Messages, true), &p, 3);
        assert_eq!(v["max_tokens"], 3);
        assert!(v.get("stream_options").is_none());
        let v = body(&opts(Api::Responses, true), &p, 5);
        assert_eq!(
            (v["input"].as_str(), v["max_output_tokens"].as_u64()),
            (Some("hi"), Some(5))
        );
        assert!(v.get("max_tokens").is_none() && v.get("stream_options").is_none());
        let two = [p.clone(), Content::Prompt("there".into())];
        let v: Value =
            serde_json::from_slice(&render_batch(&opts(Api::Embeddings, false), &two, 1)).unwrap();
        assert_eq!(v["input"], json!(["hi", "there"]));
        assert!(v.get("max_tokens").is_none() && v.get("stream").is_none());
    }

    #[test]
    fn options_go_under_each_dialects_name_and_extra_body_wins() {
        let mut o = opts(Api::Chat, true);
        o.options = RequestOptions {
            top_p: Some(0.9),
            top_k: Some(20),
            sampling_seed: Some(7),
            stop: vec!["END".into()],
            min_tokens: Some(4),
            tools: Some(json!([{"type": "function", "function": {"name": "get"}}])),
            tool_choice: Some("get".into()),
            continuous_usage: true,
            extra_body: serde_json::from_str(r#"{"top_k": 5, "chat_template_kwargs": {"x": 1}}"#)
                .unwrap(),
            ..Default::default()
        };
        let p = Content::Prompt("hi".into());
        let v = body(&o, &p, 9);
        assert_eq!(v["top_p"], 0.9);
        assert_eq!(v["top_k"], 5, "--extra-body is merged last");
        assert_eq!(v["seed"], 7);
        assert_eq!(v["stop"], json!(["END"]));
        assert_eq!(v["min_tokens"], 4);
        assert_eq!(v["tool_choice"]["function"]["name"], "get");
        assert_eq!(v["stream_options"]["continuous_usage_stats"], true);
        assert_eq!(v["chat_template_kwargs"]["x"], 1);
        o.api = Api::Messages;
        o.options.tool_choice = Some("required".into());
        let v = body(&o, &p, 9);
        assert_eq!(v["stop_sequences"], json!(["END"]));
        assert_eq!(v["tool_choice"], json!({"type": "any"}));
        o.api = Api::Responses;
        o.options.tool_choice = Some("get".into());
        let v = body(&o, &p, 9);
        assert_eq!(v["tool_choice"], json!({"type": "function", "name": "get"}));
    }
}
