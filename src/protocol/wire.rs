//! One response as a server writes it, in any dialect: the pieces of a streamed token chunk are
//! rendered once per response, so that a token costs one buffer append of pre-escaped text. The
//! dialects' own shapes are in `openai.rs`, `anthropic.rs` and `responses.rs`; this is what the
//! simulator sends. A response is a run of parts (reasoning, then the answer's text or a tool
//! call); the wire opens and closes each dialect's blocks or items between them.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use serde_json::{json, Value};

use super::{anthropic, openai, responses, Api, ErrorKind, Part};

/// What a response says about its request.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub model: String,
    pub prompt_tokens: u32,
    /// Prompt tokens served from the prefix cache.
    pub cached_tokens: u32,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
    /// vLLM's `stream_options.continuous_usage_stats`: usage on every chunk.
    pub continuous_usage: bool,
    /// The answer's first tokens that are reasoning.
    pub reasoning: u32,
    /// Answer with a call of this tool (the request offered tools).
    pub tool: Option<String>,
}

impl Reply {
    /// The part of token `i` (0-based).
    pub fn part_of(&self, i: u32) -> Part {
        if i < self.reasoning {
            Part::Reasoning
        } else if self.tool.is_some() {
            Part::ToolCall
        } else {
            Part::Answer
        }
    }
}

/// Pre-rendered pieces of one response, and where its stream is.
pub struct Wire {
    api: Api,
    id: String,
    created: u64,
    model: Value,
    reply: Reply,
    /// Everything of an answer chunk before the JSON string of its text (chat, completions).
    head: String,
    /// Everything after it, before the chunk's closing brace.
    tail: &'static str,
    /// The part now being written (`Nothing` before the first token).
    phase: Part,
    /// Blocks (Messages) or output items (Responses) opened so far.
    blocks: u32,
    /// Tokens written so far.
    sent: u32,
    /// The Responses API's event counter.
    seq: u32,
    /// The Responses API's finished items, and the text of the open one.
    items: Vec<Value>,
    text: String,
    /// llama.cpp's `timings`, put in the last chunk (chat, completions).
    timings: Option<Value>,
}

/// One SSE event: `event:` (if any) and `data:` lines, then a blank line.
pub fn sse(buf: &mut BytesMut, event: Option<&str>, v: &Value) {
    if let Some(e) = event {
        buf.put_slice(b"event: ");
        buf.put_slice(e.as_bytes());
        buf.put_slice(b"\n");
    }
    buf.put_slice(b"data: ");
    buf.put_slice(v.to_string().as_bytes());
    buf.put_slice(b"\n\n");
}

/// The error body of a dialect.
pub fn error_body(api: Api, status: u16, kind: ErrorKind, message: &str) -> Value {
    match api {
        Api::Messages => anthropic::error_body(kind, message),
        _ => openai::error_body(status, kind, message),
    }
}

impl Wire {
    /// Response number `n` of a server started at `created` (Unix seconds).
    pub fn new(api: Api, n: u64, created: u64, reply: Reply) -> Wire {
        let model_json = serde_json::to_string(&reply.model).expect("a string serialises");
        let chat = api == Api::Chat;
        let (id, (head, tail)) = match api {
            Api::Chat | Api::Completions | Api::Embeddings => {
                let id = openai::response_id(chat, n);
                let frame = openai::token_frame(chat, &id, created, &model_json);
                (id, frame)
            }
            Api::Messages => (anthropic::response_id(n), (String::new(), "")),
            Api::Responses => (responses::response_id(n), (String::new(), "")),
        };
        Wire {
            api,
            id,
            created,
            model: Value::String(reply.model.clone()),
            reply,
            head,
            tail,
            phase: Part::Nothing,
            blocks: 0,
            sent: 0,
            seq: 0,
            items: Vec::new(),
            text: String::new(),
            timings: None,
        }
    }

    pub fn api(&self) -> Api {
        self.api
    }

    /// The part of token `i` (0-based) of this response.
    pub fn part_of(&self, i: u32) -> Part {
        self.reply.part_of(i)
    }

    /// The reasoning tokens among `output`.
    fn reasoning_of(&self, output: u32) -> u32 {
        self.reply.reasoning.min(output)
    }

    fn usage(&self, output: u32) -> Value {
        let r = &self.reply;
        let reasoning = self.reasoning_of(output);
        match self.api {
            Api::Messages => anthropic::usage_json(r.prompt_tokens, output, r.cached_tokens),
            Api::Responses => {
                responses::usage_json(r.prompt_tokens, output, r.cached_tokens, reasoning)
            }
            _ => {
                let mut u = openai::usage_json(r.prompt_tokens, output, r.cached_tokens);
                if r.reasoning > 0 {
                    u["completion_tokens_details"] = json!({"reasoning_tokens": reasoning});
                }
                u
            }
        }
    }

    fn finish_reason(&self, length: bool) -> &'static str {
        match (self.api, length, self.reply.tool.is_some()) {
            (Api::Messages, false, true) => "tool_use",
            (Api::Messages, ..) => anthropic::finish_reason(length),
            (_, false, true) => "tool_calls",
            _ => openai::finish_reason(length),
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.seq += 1;
        self.seq - 1
    }

    /// A Responses API event, numbered.
    fn event(&mut self, buf: &mut BytesMut, kind: &str, mut v: Value) {
        v["type"] = json!(kind);
        v["sequence_number"] = json!(self.next_seq());
        sse(buf, Some(kind), &v);
    }

    fn item_id(&self) -> String {
        responses::item_id(&self.id, self.blocks.saturating_sub(1))
    }

    /// What a stream sends before its first token.
    pub fn start(&mut self, buf: &mut BytesMut) {
        match self.api {
            Api::Messages => {
                let (event, v) = anthropic::stream_start(&self.id, &self.model, self.usage(1));
                sse(buf, Some(event), &v);
                self.open(buf, self.reply.part_of(0));
                sse(buf, Some("ping"), &json!({"type": "ping"}));
            }
            Api::Responses => {
                for kind in ["response.created", "response.in_progress"] {
                    let r =
                        responses::object(&self.id, self.created, &self.model, "in_progress", None);
                    self.event(buf, kind, json!({ "response": r }));
                }
                self.open(buf, self.reply.part_of(0));
            }
            api => {
                let start =
                    openai::stream_start(api == Api::Chat, &self.id, self.created, &self.model);
                if let Some(v) = start {
                    sse(buf, None, &v);
                }
                self.phase = self.reply.part_of(0);
            }
        }
    }

    /// Open a block (Messages) or an output item (Responses) for `part`.
    fn open(&mut self, buf: &mut BytesMut, part: Part) {
        self.phase = part;
        self.blocks += 1;
        let k = self.blocks - 1;
        match self.api {
            Api::Messages => {
                let tool = self.reply.tool.as_deref();
                let v = anthropic::block_start(k, part, &format!("toolu_{}", self.id), tool);
                sse(buf, Some("content_block_start"), &v);
            }
            Api::Responses => {
                let id = self.item_id();
                let tool = self.reply.tool.as_deref();
                let mut item = responses::item(part, &id, tool, "");
                item["status"] = json!("in_progress");
                self.event(
                    buf,
                    "response.output_item.added",
                    json!({"output_index": k, "item": item}),
                );
                if part == Part::Answer {
                    let p = json!({"type": "output_text", "text": "", "annotations": []});
                    let v =
                        json!({"item_id": id, "output_index": k, "content_index": 0, "part": p});
                    self.event(buf, "response.content_part.added", v);
                }
            }
            _ => {}
        }
    }

    /// Close the open block or item.
    fn close(&mut self, buf: &mut BytesMut) {
        let k = self.blocks.saturating_sub(1);
        match self.api {
            Api::Messages => sse(
                buf,
                Some("content_block_stop"),
                &json!({"type": "content_block_stop", "index": k}),
            ),
            Api::Responses => {
                let (id, part) = (self.item_id(), self.phase);
                let text = std::mem::take(&mut self.text);
                let done = match part {
                    Part::Reasoning => Some(("response.reasoning_text.done", "text")),
                    Part::ToolCall => Some(("response.function_call_arguments.done", "arguments")),
                    Part::Answer => Some(("response.output_text.done", "text")),
                    Part::Nothing => None,
                };
                if let Some((kind, key)) = done {
                    let mut v = json!({"item_id": id, "output_index": k, "content_index": 0});
                    v[key] = json!(text);
                    self.event(buf, kind, v);
                }
                let item = responses::item(part, &id, self.reply.tool.as_deref(), &text);
                self.event(
                    buf,
                    "response.output_item.done",
                    json!({"output_index": k, "item": item.clone()}),
                );
                self.items.push(item);
            }
            _ => {}
        }
    }

    /// One event of `n` tokens of one part: `text_json` is their text as one JSON string
    /// (quoted, escaped).
    pub fn token(&mut self, buf: &mut BytesMut, text_json: &str, n: u32) {
        let part = self.reply.part_of(self.sent);
        if part != self.phase && matches!(self.api, Api::Messages | Api::Responses) {
            self.close(buf);
            self.open(buf, part);
        }
        let first_of_part = part != self.phase || self.sent == 0;
        self.phase = part;
        self.sent += n;
        match self.api {
            Api::Messages => {
                let k = self.blocks - 1;
                let (kind, key) = anthropic::delta_keys(part);
                let _ = write!(
                    buf,
                    "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{k},\"delta\":{{\"type\":\"{kind}\",\"{key}\":"
                );
                buf.put_slice(text_json.as_bytes());
                buf.put_slice(b"}}\n\n");
            }
            Api::Responses => {
                let (kind, id, k) = (responses::delta_type(part), self.item_id(), self.blocks - 1);
                let seq = self.next_seq();
                let _ = write!(
                    buf,
                    "event: {kind}\ndata: {{\"type\":\"{kind}\",\"item_id\":\"{id}\",\"output_index\":{k},\"content_index\":0,\"delta\":"
                );
                buf.put_slice(text_json.as_bytes());
                let _ = write!(buf, ",\"logprobs\":[],\"sequence_number\":{seq}}}\n\n");
                if let Ok(s) = serde_json::from_str::<String>(text_json) {
                    self.text.push_str(&s);
                }
            }
            _ => {
                if part == Part::Answer || self.api == Api::Completions {
                    buf.put_slice(self.head.as_bytes());
                } else {
                    let delta = openai::part_head(
                        part,
                        first_of_part,
                        &self.id,
                        self.reply.tool.as_deref(),
                    );
                    buf.put_slice(
                        self.head
                            .as_bytes()
                            .strip_suffix(b"\"content\":")
                            .unwrap_or_default(),
                    );
                    buf.put_slice(delta.as_bytes());
                }
                buf.put_slice(text_json.as_bytes());
                if part == Part::ToolCall && self.api == Api::Chat {
                    buf.put_slice(b"}}]");
                }
                buf.put_slice(self.tail.as_bytes());
                if self.reply.continuous_usage {
                    let u = self.usage(self.sent);
                    let _ = write!(buf, ",\"usage\":{u}");
                }
                buf.put_slice(b"}\n\n");
            }
        }
    }

    /// A chunk cut inside its JSON (a fault).
    pub fn malformed(&self, buf: &mut BytesMut) {
        buf.put_slice(match self.api {
            Api::Messages => anthropic::MALFORMED_EVENT,
            Api::Responses => responses::MALFORMED_EVENT,
            _ => openai::MALFORMED_CHUNK,
        });
    }

    pub fn prompt_tokens(&self) -> u32 {
        self.reply.prompt_tokens
    }

    /// Send llama.cpp's `timings` in the stream's last chunk (chat and completions only).
    pub fn set_timings(&mut self, timings: Value) {
        self.timings = Some(timings);
    }

    /// The end of a stream after `output` tokens; `length`: stopped by max_tokens.
    pub fn finish(&mut self, buf: &mut BytesMut, length: bool, output: u32) {
        let reason = self.finish_reason(length);
        match self.api {
            Api::Messages => {
                self.close(buf);
                for (event, v) in anthropic::stream_end(reason, output) {
                    sse(buf, Some(event), &v);
                }
            }
            Api::Responses => {
                self.close(buf);
                let status = if length { "incomplete" } else { "completed" };
                let mut r = responses::object(
                    &self.id,
                    self.created,
                    &self.model,
                    status,
                    Some(self.usage(output)),
                );
                r["output"] = Value::Array(std::mem::take(&mut self.items));
                self.event(buf, &format!("response.{status}"), json!({ "response": r }));
            }
            api => {
                let usage = self.reply.include_usage.then(|| self.usage(output));
                let chat = api == Api::Chat;
                let mut end =
                    openai::stream_end(chat, &self.id, self.created, &self.model, reason, usage);
                if let (Some(t), Some(last)) = (self.timings.take(), end.last_mut()) {
                    last["timings"] = t;
                }
                for v in end {
                    sse(buf, None, &v);
                }
                buf.put_slice(openai::DONE);
            }
        }
    }

    /// A whole (non-streamed) response: its reasoning and its answer (text or tool arguments).
    pub fn whole(&self, reasoning: &str, text: &str, length: bool, output: u32) -> Value {
        let reason = self.finish_reason(length);
        let usage = self.usage(output);
        let tool = self.reply.tool.as_deref();
        match self.api {
            Api::Messages => {
                let blocks =
                    anthropic::blocks(reasoning, text, &format!("toolu_{}", self.id), tool);
                anthropic::whole(&self.id, &self.model, blocks, reason, usage)
            }
            Api::Responses => {
                let mut items = Vec::new();
                if !reasoning.is_empty() {
                    items.push(responses::item(
                        Part::Reasoning,
                        &responses::item_id(&self.id, 0),
                        None,
                        reasoning,
                    ));
                }
                let part = if tool.is_some() {
                    Part::ToolCall
                } else {
                    Part::Answer
                };
                let k = items.len() as u32;
                items.push(responses::item(
                    part,
                    &responses::item_id(&self.id, k),
                    tool,
                    text,
                ));
                let status = if length { "incomplete" } else { "completed" };
                let mut r =
                    responses::object(&self.id, self.created, &self.model, status, Some(usage));
                r["output"] = Value::Array(items);
                r
            }
            api => openai::whole(
                api == Api::Chat,
                &self.id,
                self.created,
                &self.model,
                openai::Message {
                    reasoning,
                    text,
                    tool,
                    call_id: &format!("call_{}", self.id),
                },
                reason,
                usage,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Observation, SseDecoder};

    const GENERATING: [Api; 4] = [Api::Chat, Api::Completions, Api::Messages, Api::Responses];

    /// Stream `words` (`n` tokens per event) and read it back with the client's parser: the
    /// parts of the events, and the observation.
    fn round_trip(api: Api, reply: Reply, words: &[&str], n: usize) -> (Vec<Part>, Observation) {
        let mut w = Wire::new(api, 1, 0, reply);
        let mut buf = BytesMut::new();
        w.start(&mut buf);
        for group in words.chunks(n) {
            let text = serde_json::to_string(&group.concat()).unwrap();
            w.token(&mut buf, &text, group.len() as u32);
        }
        w.finish(&mut buf, true, words.len() as u32);
        let mut obs = Observation {
            text: Some(String::new()),
            reasoning_text: Some(String::new()),
            ..Default::default()
        };
        let mut parts = Vec::new();
        SseDecoder::new().feed(&buf, &mut |ev| {
            let p = api.on_event(ev, &mut obs).expect("valid event");
            if p.is_generated() {
                parts.push(p);
            }
            true
        });
        (parts, obs)
    }

    fn reply(include_usage: bool) -> Reply {
        Reply {
            model: "m\"q".into(),
            prompt_tokens: 5,
            cached_tokens: 2,
            include_usage,
            ..Default::default()
        }
    }

    #[test]
    fn streamed_token_chunks_parse_with_the_clients_reader() {
        let words = ["hello", " \"quoted\"", " back\\slash", " naïve", "\n"];
        for api in GENERATING {
            let (parts, obs) = round_trip(api, reply(true), &words, 1);
            assert_eq!(parts, vec![Part::Answer; words.len()], "{api:?}");
            assert!(obs.is_complete(api), "{api:?}");
            assert_eq!(
                obs.text.as_deref(),
                Some(words.concat().as_str()),
                "{api:?}"
            );
            assert_eq!(obs.output_tokens, Some(words.len() as u64), "{api:?}");
            assert_eq!(obs.cached_tokens, Some(2), "{api:?}");
        }
    }

    #[test]
    fn reasoning_then_a_tool_call_in_every_dialect() {
        let words = ["a", "b", "c", "d", "e"];
        for api in [Api::Chat, Api::Messages, Api::Responses] {
            let r = Reply {
                reasoning: 2,
                tool: Some("lookup".into()),
                ..reply(true)
            };
            let (parts, obs) = round_trip(api, r, &words, 1);
            use Part::*;
            assert_eq!(
                parts,
                [Reasoning, Reasoning, ToolCall, ToolCall, ToolCall],
                "{api:?}"
            );
            assert!(obs.tool_call && obs.is_complete(api), "{api:?}");
            assert_eq!(obs.reasoning_text.as_deref(), Some("ab"), "{api:?}");
            assert!(obs.text.as_deref().unwrap().ends_with("cde"), "{api:?}");
            if api != Api::Messages {
                assert_eq!(obs.reasoning_tokens, Some(2), "{api:?}");
            }
        }
    }

    #[test]
    fn bundled_events_carry_usage_so_far() {
        let words = ["a", "b", "c", "d", "e"];
        let r = Reply {
            continuous_usage: true,
            ..reply(false)
        };
        let mut w = Wire::new(Api::Chat, 1, 0, r);
        let mut buf = BytesMut::new();
        w.start(&mut buf);
        w.token(&mut buf, "\"ab\"", 2);
        let mut obs = Observation::default();
        SseDecoder::new().feed(&buf, &mut |ev| {
            Api::Chat.on_event(ev, &mut obs).unwrap();
            true
        });
        assert_eq!(
            obs.output_tokens,
            Some(2),
            "usage counts the tokens sent so far"
        );
        let (parts, obs) = round_trip(
            Api::Chat,
            Reply {
                continuous_usage: true,
                ..reply(false)
            },
            &words,
            2,
        );
        assert_eq!(parts.len(), 3);
        assert_eq!(obs.output_tokens, Some(5));
    }

    #[test]
    fn whole_responses_parse_with_the_clients_reader() {
        for api in GENERATING {
            for (reasoning, tool) in [(0, None), (1, Some("t".to_string()))] {
                let r = Reply {
                    reasoning,
                    tool: tool.clone(),
                    ..reply(false)
                };
                let think = if reasoning > 0 { "hm" } else { "" };
                let body = Wire::new(api, 1, 0, r)
                    .whole(think, "hi there", false, 2)
                    .to_string();
                let mut obs = Observation::default();
                api.on_body(body.as_bytes(), &mut obs).unwrap();
                assert_eq!(obs.output_tokens, Some(2), "{api:?}");
                assert_eq!(obs.prompt_tokens, Some(5), "{api:?}");
                assert!(obs.is_complete(api), "{api:?}");
                if api != Api::Completions {
                    assert_eq!(obs.tool_call, tool.is_some(), "{api:?} {body}");
                    assert_eq!(obs.reasoning_parts, reasoning as u64, "{api:?} {body}");
                }
            }
        }
    }
}
