//! The simulator's reading of a generation request, in each dialect: the fields it needs, with
//! an error message naming the one that is missing or wrong.

use serde_json::Value;

use crate::protocol::Api;
use crate::workload::Tokenizer;

/// A validated generation request.
#[derive(Debug)]
pub struct Gen {
    pub model: String,
    /// The prompt's text (messages joined), for the prefix cache.
    pub prompt_text: String,
    pub prompt_tokens: u32,
    /// Prompt tokens served from the prefix cache.
    pub cached_tokens: u32,
    pub max_tokens: u32,
    pub stream: bool,
    pub include_usage: bool,
    pub ignore_eos: bool,
}

/// Prompt tokens: exact under `--tokenizer`, else one per 4 bytes (at least one).
fn count_tokens(tok: Option<&Tokenizer>, text: &str) -> u32 {
    match tok {
        Some(t) => t.count(text) as u32,
        None => (text.len() as u32).div_ceil(4).max(1),
    }
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str).or_else(|| p.as_str()))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

pub fn parse_request(api: Api, body: &[u8], tok: Option<&Tokenizer>) -> Result<Gen, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("request body is not valid JSON: {e}"))?;
    let obj = v.as_object().ok_or("request body must be a JSON object")?;
    let model = obj
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or("model: field required")?
        .to_string();
    let mut texts: Vec<String> = Vec::new();
    let prompt_tokens = match api {
        Api::Chat | Api::Messages => {
            let msgs = obj
                .get("messages")
                .and_then(Value::as_array)
                .filter(|m| !m.is_empty())
                .ok_or("messages: field required (a non-empty array)")?;
            let mut n = 0;
            for m in msgs {
                let content = m
                    .get("content")
                    .ok_or("messages: every message needs content")?;
                let t = text_of(content);
                n += count_tokens(tok, &t) + 3; // role and template tokens
                texts.push(t);
            }
            if let Some(system) = obj.get("system") {
                let t = text_of(system);
                n += count_tokens(tok, &t);
                texts.insert(0, t);
            }
            n
        }
        Api::Completions => match obj.get("prompt") {
            Some(Value::String(p)) => {
                texts.push(p.clone());
                count_tokens(tok, p)
            }
            Some(Value::Array(ps)) if !ps.is_empty() => ps
                .iter()
                .map(|p| {
                    let t = text_of(p);
                    let n = count_tokens(tok, &t);
                    texts.push(t);
                    n
                })
                .sum(),
            _ => return Err("prompt: field required".into()),
        },
    };
    let max_tokens = obj
        .get("max_tokens")
        .or_else(|| obj.get("max_completion_tokens"))
        .and_then(Value::as_u64);
    let max_tokens = match (api, max_tokens) {
        (_, Some(0)) => return Err("max_tokens must be at least 1".into()),
        (_, Some(n)) => n.min(u32::MAX as u64) as u32,
        (Api::Messages, None) => return Err("max_tokens: field required".into()),
        (_, None) => 256,
    };
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ignore_eos = obj
        .get("ignore_eos")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Gen {
        model,
        prompt_text: texts.join("\n"),
        prompt_tokens,
        cached_tokens: 0,
        max_tokens,
        stream,
        include_usage,
        ignore_eos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(api: Api, body: &[u8]) -> Result<Gen, String> {
        parse_request(api, body, None)
    }

    #[test]
    fn missing_fields_are_named() {
        assert!(parse(
            Api::Chat,
            br#"{"messages":[{"role":"user","content":"x"}]}"#
        )
        .unwrap_err()
        .contains("model"));
        assert!(parse(Api::Chat, br#"{"model":"m"}"#)
            .unwrap_err()
            .contains("messages"));
        assert!(parse(Api::Completions, br#"{"model":"m"}"#)
            .unwrap_err()
            .contains("prompt"));
        assert!(parse(
            Api::Messages,
            br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#
        )
        .unwrap_err()
        .contains("max_tokens"));
        assert!(parse(Api::Chat, b"{nope").unwrap_err().contains("JSON"));
    }

    #[test]
    fn request_options_are_read() {
        let g = parse(
            Api::Chat,
            br#"{"model":"m","messages":[{"role":"user","content":"abcdefgh"}],"max_tokens":7,"stream":true,"stream_options":{"include_usage":true},"ignore_eos":true}"#,
        )
        .unwrap();
        assert_eq!(g.max_tokens, 7);
        assert!(g.stream && g.include_usage && g.ignore_eos);
        assert_eq!(g.prompt_tokens, 2 + 3);
    }
}
