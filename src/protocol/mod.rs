//! Wire formats shared by the client and the simulator: SSE framing and the OpenAI and Anthropic
//! dialects. A misread format here would fool both sides alike, so the client's parsers are also
//! tested against recorded payloads of real servers (tests/fixtures).
//!
//! The client feeds every decoded event to [`Api::on_event`], which updates an [`Observation`]
//! and says whether the event carried generated text. Nothing here reads a clock.

pub mod anthropic;
pub mod openai;
pub mod request;
pub mod sse;
pub mod wire;

use serde::{Deserialize, Serialize};

pub use request::{build_headers, render_body, BodyOptions, Content};
pub use sse::{SseDecoder, SseEvent};

/// Which HTTP API a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// OpenAI `/v1/chat/completions`
    Chat,
    /// OpenAI `/v1/completions`
    Completions,
    /// Anthropic `/v1/messages`
    Messages,
}

impl crate::units::Named for Api {
    const ALL: &'static [Api] = &[Api::Chat, Api::Completions, Api::Messages];
    fn name(self) -> &'static str {
        Api::name(self)
    }
}

impl Api {
    pub fn path(self) -> &'static str {
        match self {
            Api::Chat => "/v1/chat/completions",
            Api::Completions => "/v1/completions",
            Api::Messages => "/v1/messages",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Api::Chat => "chat",
            Api::Completions => "completions",
            Api::Messages => "messages",
        }
    }

    /// Interpret one SSE event. `Ok(true)` when it carried generated text (a content event).
    pub fn on_event(self, ev: SseEvent<'_>, obs: &mut Observation) -> Result<bool, String> {
        match self {
            Api::Chat | Api::Completions => openai::on_event(ev, obs),
            Api::Messages => anthropic::on_event(ev, obs),
        }
    }

    /// Interpret a whole non-streaming response body.
    pub fn on_body(self, body: &[u8], obs: &mut Observation) -> Result<(), String> {
        match self {
            Api::Chat | Api::Completions => openai::on_body(body, obs),
            Api::Messages => anthropic::on_body(body, obs),
        }
    }
}

/// What went wrong, as a server reports it (each dialect names it its own way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    RateLimited,
    Timeout,
    Server,
}

/// What the client learned from a response, apart from timing.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Observation {
    pub prompt_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    pub finish_reason: Option<String>,
    /// `[DONE]` (OpenAI) or `message_stop` (Anthropic) was seen.
    pub done_marker: bool,
    /// Characters of generated text (content and reasoning).
    pub output_chars: u64,
    /// An error the server reported inside a 2xx response (an `error` event or field).
    pub server_error: Option<String>,
    pub server_timings: Option<ServerTimings>,
    /// The generated text, collected only when `Some` (a tokenizer will count it).
    pub text: Option<String>,
}

impl Observation {
    fn push_text(&mut self, s: &str) {
        if let Some(t) = &mut self.text {
            t.push_str(s);
        }
    }

    /// The response ended as the protocol says a finished response ends.
    pub fn is_complete(&self, api: Api) -> bool {
        match api {
            // A stream cut by the server (llama-cpp-python interrupts one that way) ends with
            // `[DONE]` but no finish_reason: that is not a complete answer.
            Api::Chat | Api::Completions => self.finish_reason.is_some(),
            Api::Messages => self.done_marker || self.finish_reason.is_some(),
        }
    }
}

/// An optional counter as servers send it: a number, a float with an integral value, a string of
/// digits, or null. Anything else reads as absent: a malformed optional counter never throws away
/// a complete answer.
pub fn lenient_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                .map(|f| f as u64)
        }),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// An optional figure (ms, a count) as a float, leniently: see [`lenient_count`].
pub fn lenient_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        serde_json::Value::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    })
}

/// The server's own account of a request's time (llama.cpp's `timings`).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServerTimings {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_f64"
    )]
    pub prompt_n: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_f64"
    )]
    pub prompt_ms: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_f64"
    )]
    pub predicted_n: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_f64"
    )]
    pub predicted_ms: Option<f64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_f64"
    )]
    pub cache_n: Option<f64>,
}

/// First `n` bytes of a body as text, for error details.
pub fn snippet(body: &[u8], n: usize) -> String {
    let cut = &body[..body.len().min(n)];
    String::from_utf8_lossy(cut).trim().to_string()
}
