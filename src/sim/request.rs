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
    /// `stream_options.continuous_usage_stats` (vLLM): usage on every chunk.
    pub continuous_usage: bool,
    pub ignore_eos: bool,
    /// The tool the answer calls: the first the request offers, unless `tool_choice` is
    /// `none` (or names another).
    pub tool: Option<String>,
    /// Embeddings: the inputs.
    pub inputs: usize,
}

impl Gen {
    /// Prompt tokens to prefill: the uncached ones (the last is always computed).
    pub fn uncached_tokens(&self) -> u32 {
        (self.prompt_tokens - self.cached_tokens).max(1)
    }
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
    let prompt_tokens = prompt_of(api, obj, tok, &mut texts)?;
    let max_tokens = obj
        .get("max_tokens")
        .or_else(|| obj.get("max_completion_tokens"))
        .or_else(|| obj.get("max_output_tokens"))
        .and_then(Value::as_u64);
    let max_tokens = match (api, max_tokens) {
        (_, Some(0)) => return Err("max_tokens must be at least 1".into()),
        (_, Some(n)) => n.min(u32::MAX as u64) as u32,
        (Api::Messages, None) => return Err("max_tokens: field required".into()),
        (_, None) => 256,
    };
    let stream = obj.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let stream_option = |key: &str| {
        obj.get("stream_options")
            .and_then(|o| o.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let ignore_eos = obj
        .get("ignore_eos")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Gen {
        model,
        inputs: if api == Api::Embeddings {
            texts.len()
        } else {
            0
        },
        prompt_text: texts.join("\n"),
        prompt_tokens,
        cached_tokens: 0,
        max_tokens,
        stream: stream && api != Api::Embeddings,
        include_usage: stream_option("include_usage"),
        continuous_usage: stream_option("continuous_usage_stats"),
        ignore_eos,
        tool: called_tool(obj),
    })
}

/// The prompt's tokens in each dialect's field, its texts pushed to `texts`.
fn prompt_of(
    api: Api,
    obj: &serde_json::Map<String, Value>,
    tok: Option<&Tokenizer>,
    texts: &mut Vec<String>,
) -> Result<u32, String> {
    Ok(match api {
        Api::Chat | Api::Messages => {
            let msgs = obj
                .get("messages")
                .and_then(Value::as_array)
                .filter(|m| !m.is_empty())
                .ok_or("messages: field required (a non-empty array)")?;
            let mut n = messages_tokens(msgs, tok, texts)?;
            if let Some(system) = obj.get("system") {
                let t = text_of(system);
                n += count_tokens(tok, &t);
                texts.insert(0, t);
            }
            n
        }
        Api::Responses => match obj.get("input") {
            Some(Value::String(p)) => {
                texts.push(p.clone());
                count_tokens(tok, p) + 3
            }
            Some(Value::Array(items)) if !items.is_empty() => messages_tokens(items, tok, texts)?,
            _ => return Err("input: field required (a string or a non-empty array)".into()),
        },
        Api::Completions | Api::Embeddings => {
            let key = if api == Api::Embeddings {
                "input"
            } else {
                "prompt"
            };
            match obj.get(key) {
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
                _ => return Err(format!("{key}: field required")),
            }
        }
    })
}

/// Prompt tokens of chat messages (or Responses input items), their texts pushed to `texts`.
fn messages_tokens(
    msgs: &[Value],
    tok: Option<&Tokenizer>,
    texts: &mut Vec<String>,
) -> Result<u32, String> {
    let mut n = 0;
    for m in msgs {
        let content = m
            .get("content")
            .ok_or("messages: every message needs content")?;
        let t = text_of(content);
        n += count_tokens(tok, &t) + 3; // role and template tokens
        texts.push(t);
    }
    Ok(n)
}

/// The tool an answer calls: the first of `tools` (a chat tool's `function.name`, or a
/// Messages or Responses tool's `name`), or the one `tool_choice` names; none with
/// `tool_choice: "none"`.
fn called_tool(obj: &serde_json::Map<String, Value>) -> Option<String> {
    let tools = obj.get("tools")?.as_array()?;
    let name = |t: &Value| {
        t.get("function")
            .and_then(|f| f.get("name"))
            .or_else(|| t.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let choice = obj.get("tool_choice");
    if choice.and_then(Value::as_str) == Some("none")
        || choice.and_then(|c| c.get("type")).and_then(Value::as_str) == Some("none")
    {
        return None;
    }
    let named = choice.and_then(|c| {
        c.get("function")
            .and_then(|f| f.get("name"))
            .or_else(|| c.get("name"))
            .and_then(Value::as_str)
    });
    match named {
        Some(n) => Some(n.to_string()),
        None => tools.first().and_then(name),
    }
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
    fn responses_embeddings_and_tools_are_read() {
        let g = parse(
            Api::Responses,
            br#"{"model":"m","input":"abcdefgh","max_output_tokens":5,"stream":true,"tools":[{"type":"function","name":"get"}]}"#,
        )
        .unwrap();
        assert_eq!((g.max_tokens, g.prompt_tokens), (5, 2 + 3));
        assert_eq!(g.tool.as_deref(), Some("get"));
        let g = parse(
            Api::Chat,
            br#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":"none","stream_options":{"continuous_usage_stats":true}}"#,
        )
        .unwrap();
        assert_eq!(g.tool, None);
        assert!(g.continuous_usage && !g.include_usage);
        let g = parse(
            Api::Embeddings,
            br#"{"model":"m","input":["abcd","efgh","ij"]}"#,
        )
        .unwrap();
        assert_eq!((g.inputs, g.prompt_tokens), (3, 3));
        assert!(parse(Api::Responses, br#"{"model":"m"}"#)
            .unwrap_err()
            .contains("input"));
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
