//! One response as a server writes it, in any dialect: the pieces of a streamed token chunk are
//! rendered once per response, so that a token costs one buffer append of pre-escaped text. The
//! dialects' own shapes are in `openai.rs` and `anthropic.rs`; this is what the simulator sends.

use bytes::{BufMut, BytesMut};
use serde_json::Value;

use super::{anthropic, openai, Api, ErrorKind};

/// What a response says about its request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub model: String,
    pub prompt_tokens: u32,
    /// Prompt tokens served from the prefix cache.
    pub cached_tokens: u32,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
}

/// Pre-rendered pieces of one response.
pub struct Wire {
    api: Api,
    id: String,
    created: u64,
    model: Value,
    reply: Reply,
    /// Everything of a token chunk before the JSON string of its text.
    head: String,
    /// Everything after it.
    tail: &'static str,
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
            Api::Chat | Api::Completions => {
                let id = openai::response_id(chat, n);
                let frame = openai::token_frame(chat, &id, created, &model_json);
                (id, frame)
            }
            Api::Messages => (anthropic::response_id(n), anthropic::token_frame()),
        };
        Wire {
            api,
            id,
            created,
            model: Value::String(reply.model.clone()),
            reply,
            head,
            tail,
        }
    }

    pub fn api(&self) -> Api {
        self.api
    }

    fn usage(&self, output: u32) -> Value {
        let r = &self.reply;
        match self.api {
            Api::Messages => anthropic::usage_json(r.prompt_tokens, output, r.cached_tokens),
            _ => openai::usage_json(r.prompt_tokens, output, r.cached_tokens),
        }
    }

    fn finish_reason(&self, length: bool) -> &'static str {
        match self.api {
            Api::Messages => anthropic::finish_reason(length),
            _ => openai::finish_reason(length),
        }
    }

    /// What a stream sends before its first token.
    pub fn start(&self, buf: &mut BytesMut) {
        match self.api {
            Api::Messages => {
                for (event, v) in anthropic::stream_start(&self.id, &self.model, self.usage(1)) {
                    sse(buf, Some(event), &v);
                }
            }
            api => {
                let start =
                    openai::stream_start(api == Api::Chat, &self.id, self.created, &self.model);
                if let Some(v) = start {
                    sse(buf, None, &v);
                }
            }
        }
    }

    /// One token: `text_json` is its text as a JSON string (quoted, escaped).
    pub fn token(&self, buf: &mut BytesMut, text_json: &str) {
        buf.put_slice(self.head.as_bytes());
        buf.put_slice(text_json.as_bytes());
        buf.put_slice(self.tail.as_bytes());
    }

    /// A chunk cut inside its JSON (a fault).
    pub fn malformed(&self, buf: &mut BytesMut) {
        buf.put_slice(match self.api {
            Api::Messages => anthropic::MALFORMED_EVENT,
            _ => openai::MALFORMED_CHUNK,
        });
    }

    /// The end of a stream after `output` tokens; `length`: stopped by max_tokens.
    pub fn finish(&self, buf: &mut BytesMut, length: bool, output: u32) {
        let reason = self.finish_reason(length);
        match self.api {
            Api::Messages => {
                for (event, v) in anthropic::stream_end(reason, output) {
                    sse(buf, Some(event), &v);
                }
            }
            api => {
                let usage = self.reply.include_usage.then(|| self.usage(output));
                let chat = api == Api::Chat;
                for v in
                    openai::stream_end(chat, &self.id, self.created, &self.model, reason, usage)
                {
                    sse(buf, None, &v);
                }
                buf.put_slice(openai::DONE);
            }
        }
    }

    /// A whole (non-streamed) response.
    pub fn whole(&self, text: &str, length: bool, output: u32) -> Value {
        let reason = self.finish_reason(length);
        let usage = self.usage(output);
        match self.api {
            Api::Messages => anthropic::whole(&self.id, &self.model, text, reason, usage),
            api => openai::whole(
                api == Api::Chat,
                &self.id,
                self.created,
                &self.model,
                text,
                reason,
                usage,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_token_chunks_parse_with_the_clients_reader() {
        let words = ["hello", " \"quoted\"", " back\\slash", " naïve", "\n"];
        for api in [Api::Chat, Api::Completions, Api::Messages] {
            let reply = Reply {
                model: "m\"q".into(),
                prompt_tokens: 5,
                cached_tokens: 2,
                include_usage: true,
            };
            let w = Wire::new(api, 1, 0, reply);
            let mut buf = BytesMut::new();
            w.start(&mut buf);
            for word in words {
                w.token(&mut buf, &serde_json::to_string(word).unwrap());
            }
            w.finish(&mut buf, true, words.len() as u32);
            let mut obs = crate::protocol::Observation {
                text: Some(String::new()),
                ..Default::default()
            };
            let mut content = 0;
            let mut dec = crate::protocol::SseDecoder::new();
            dec.feed(&buf, &mut |ev| {
                if api.on_event(ev, &mut obs).expect("valid event") {
                    content += 1;
                }
                true
            });
            assert_eq!(content, words.len(), "{api:?}");
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
    fn whole_responses_parse_with_the_clients_reader() {
        for api in [Api::Chat, Api::Completions, Api::Messages] {
            let reply = Reply {
                model: "m".into(),
                prompt_tokens: 5,
                cached_tokens: 0,
                include_usage: false,
            };
            let body = Wire::new(api, 1, 0, reply)
                .whole("hi there", false, 2)
                .to_string();
            let mut obs = crate::protocol::Observation::default();
            api.on_body(body.as_bytes(), &mut obs).unwrap();
            assert_eq!(obs.output_tokens, Some(2), "{api:?}");
            assert_eq!(obs.prompt_tokens, Some(5), "{api:?}");
            assert!(obs.is_complete(api), "{api:?}");
        }
    }
}
