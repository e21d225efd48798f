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
}

/// Render one request body.
pub fn render_body(opts: &BodyOptions, content: &Content, max_tokens: u32) -> Bytes {
    let mut m = Map::new();
    m.insert("model".into(), Value::String(opts.model.clone()));
    match (opts.api, content) {
        (Api::Chat | Api::Messages, Content::Prompt(p)) => {
            m.insert("messages".into(), json!([{"role": "user", "content": p}]));
        }
        (Api::Chat | Api::Messages, Content::Messages(msgs)) => {
            m.insert("messages".into(), Value::Array(msgs.clone()));
        }
        (Api::Completions, Content::Prompt(p)) => {
            m.insert("prompt".into(), Value::String(p.clone()));
        }
        (Api::Completions, Content::Messages(msgs)) => {
            let text: Vec<&str> = msgs
                .iter()
                .filter_map(|v| v.get("content").and_then(Value::as_str))
                .collect();
            m.insert("prompt".into(), Value::String(text.join("\n\n")));
        }
    }
    m.insert("max_tokens".into(), json!(max_tokens));
    m.insert("stream".into(), Value::Bool(opts.stream));
    if let Some(t) = opts.temperature {
        m.insert("temperature".into(), json!(t));
    }
    if opts.ignore_eos {
        m.insert("ignore_eos".into(), Value::Bool(true));
    }
    if opts.stream && opts.include_usage && opts.api != Api::Messages {
        m.insert("stream_options".into(), json!({"include_usage": true}));
    }
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
