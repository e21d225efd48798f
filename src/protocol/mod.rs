//! Wire formats shared by the client and the simulator: SSE framing and the OpenAI and Anthropic
//! dialects. A misread format here would fool both sides alike, so the client's parsers are also
//! tested against recorded payloads of real servers (tests/fixtures).
//!
//! The client feeds every decoded event to [`Api::on_event`], which updates an [`Observation`]
//! and says whether the event carried generated text. Nothing here reads a clock.

pub mod anthropic;
pub mod embeddings;
pub mod openai;
pub mod request;
pub mod responses;
pub mod sse;
pub mod wire;

use serde::{Deserialize, Serialize};

pub use request::{build_headers, render_batch, render_body, BodyOptions, Content, RequestOptions};
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
    /// OpenAI `/v1/responses` (the Responses API)
    Responses,
    /// OpenAI `/v1/embeddings` (not generated: latency and inputs per second)
    Embeddings,
}

impl crate::units::Named for Api {
    const ALL: &'static [Api] = &[
        Api::Chat,
        Api::Completions,
        Api::Messages,
        Api::Responses,
        Api::Embeddings,
    ];
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
            Api::Responses => "/v1/responses",
            Api::Embeddings => "/v1/embeddings",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Api::Chat => "chat",
            Api::Completions => "completions",
            Api::Messages => "messages",
            Api::Responses => "responses",
            Api::Embeddings => "embeddings",
        }
    }

    /// It generates text (and so can stream); embeddings do not.
    pub fn generates(self) -> bool {
        self != Api::Embeddings
    }

    /// Interpret one SSE event: what generated output it carried, if any.
    pub fn on_event(self, ev: SseEvent<'_>, obs: &mut Observation) -> Result<Part, String> {
        match self {
            Api::Chat | Api::Completions => openai::on_event(ev, obs),
            Api::Messages => anthropic::on_event(ev, obs),
            Api::Responses => responses::on_event(ev, obs),
            Api::Embeddings => Err("an embeddings response is not an event stream".into()),
        }
    }

    /// Interpret a whole non-streaming response body.
    pub fn on_body(self, body: &[u8], obs: &mut Observation) -> Result<(), String> {
        match self {
            Api::Chat | Api::Completions => openai::on_body(body, obs),
            Api::Messages => anthropic::on_body(body, obs),
            Api::Responses => responses::on_body(body, obs),
            Api::Embeddings => embeddings::on_body(body, obs),
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

/// What a streamed event carried: nothing generated, reasoning text, answer text, or a piece
/// of a tool call. An event with several parts reads as the most answer-like one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Nothing,
    Reasoning,
    Answer,
    ToolCall,
}

impl Part {
    /// Generated output of any kind (a content event: timed, counted in ITL).
    pub fn is_generated(self) -> bool {
        self != Part::Nothing
    }

    /// Part of the answer proper (text or a tool call), as opposed to reasoning.
    pub fn is_answer(self) -> bool {
        matches!(self, Part::Answer | Part::ToolCall)
    }
}

/// What the client learned from a response, apart from timing.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Observation {
    pub prompt_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cached_tokens: Option<u64>,
    /// Reasoning tokens as usage reports them (`completion_tokens_details.reasoning_tokens`,
    /// `output_tokens_details.reasoning_tokens`); part of `output_tokens`.
    pub reasoning_tokens: Option<u64>,
    pub finish_reason: Option<String>,
    /// `[DONE]` (OpenAI), `message_stop` (Anthropic) or a terminal `response.*` event was seen.
    pub done_marker: bool,
    /// Characters of generated text (answer, reasoning and tool-call arguments).
    pub output_chars: u64,
    /// Events (or whole-body parts) that carried reasoning text, and its characters.
    pub reasoning_parts: u64,
    pub reasoning_chars: u64,
    /// The answer was (or held) a tool call.
    pub tool_call: bool,
    /// Embeddings: the vectors returned.
    pub inputs: Option<u64>,
    /// An error the server reported inside a 2xx response (an `error` event or field).
    pub server_error: Option<String>,
    pub server_timings: Option<ServerTimings>,
    /// The answer's text (and tool-call arguments), collected only when `Some` (a tokenizer
    /// will count it, or a session's next turn carries it).
    pub text: Option<String>,
    /// The reasoning text, collected only when `Some` (a tokenizer will count it).
    pub reasoning_text: Option<String>,
    /// The shape of the stream's chunks, which reads most of them without a full scan.
    pub shape: openai::scan::Shape,
}

impl Observation {
    /// Take one piece of generated text of kind `part`.
    pub fn push(&mut self, part: Part, s: &str) {
        if s.is_empty() {
            return;
        }
        self.output_chars += s.len() as u64;
        let into = match part {
            Part::Nothing => return,
            Part::Reasoning => {
                self.reasoning_parts += 1;
                self.reasoning_chars += s.len() as u64;
                &mut self.reasoning_text
            }
            Part::Answer => &mut self.text,
            Part::ToolCall => {
                self.tool_call = true;
                &mut self.text
            }
        };
        if let Some(t) = into {
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
            // Only a terminal event (`response.completed`, `.incomplete`) ends a response.
            Api::Responses => self.done_marker,
            Api::Embeddings => self.inputs.is_some(),
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
