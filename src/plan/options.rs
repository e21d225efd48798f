//! The request options beyond the basics (`--top-p`, `--stop`, `--extra-body`, `--tools`, …),
//! checked against the API before any connection: an option the API has no field for is an
//! error that names `--extra-body`, never a request the server rejects a thousand times.

use anyhow::{bail, Context};
use serde_json::Value;

use crate::cli::RequestArgs;
use crate::protocol::{Api, RequestOptions};

/// The options of `req` for `api`, with local files (`--tools`, `--extra-body @FILE`) read.
pub fn request_options(req: &RequestArgs, api: Api) -> anyhow::Result<RequestOptions> {
    check_fields(req, api)?;
    if req.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if req.batch_size > 1 && api != Api::Embeddings {
        bail!("--batch-size is for --api embeddings (inputs per request)");
    }
    if let Some(p) = req.top_p {
        if !(p > 0.0 && p <= 1.0) {
            bail!("--top-p must be above 0 and at most 1, not {p}");
        }
    }
    Ok(RequestOptions {
        top_p: req.top_p,
        top_k: req.top_k,
        sampling_seed: req.sampling_seed,
        stop: req.stop.clone(),
        min_tokens: req.min_tokens,
        tools: tools(req, api)?,
        tool_choice: req.tool_choice.clone(),
        continuous_usage: req.continuous_usage,
        batch: req.batch_size,
        extra_body: match &req.extra_body {
            Some(text) => extra_body(text)?,
            None => Default::default(),
        },
    })
}

/// An option the API has no field for is refused, naming `--extra-body`.
fn check_fields(req: &RequestArgs, api: Api) -> anyhow::Result<()> {
    let unsupported: &[(&str, bool)] = &[
        ("--top-p", req.top_p.is_some()),
        ("--top-k", req.top_k.is_some()),
        ("--sampling-seed", req.sampling_seed.is_some()),
        ("--stop", !req.stop.is_empty()),
        ("--min-tokens", req.min_tokens.is_some()),
        ("--tools", req.tools.is_some()),
        ("--continuous-usage", req.continuous_usage),
    ];
    // What each API has no field for.
    let missing: &[&str] = match api {
        Api::Chat => &[],
        Api::Completions => &["--tools"],
        Api::Messages => &["--sampling-seed", "--min-tokens", "--continuous-usage"],
        Api::Responses => &[
            "--top-k",
            "--sampling-seed",
            "--stop",
            "--min-tokens",
            "--continuous-usage",
        ],
        Api::Embeddings => &[
            "--top-p",
            "--top-k",
            "--sampling-seed",
            "--stop",
            "--min-tokens",
            "--tools",
            "--continuous-usage",
        ],
    };
    for (flag, given) in unsupported {
        if *given && missing.contains(flag) {
            bail!(
                "{flag}: the {} API has no such field; send a server-specific one with --extra-body '{{\"name\": value}}'",
                api.name()
            );
        }
    }
    Ok(())
}

/// `--tools FILE` read and shaped for the API; `--tool-choice` checked against it.
fn tools(req: &RequestArgs, api: Api) -> anyhow::Result<Option<Value>> {
    if req.tool_choice.is_some() && req.tools.is_none() {
        bail!("--tool-choice needs --tools FILE (the tools to choose from)");
    }
    let tools = match &req.tools {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--tools {}: cannot read the file", path.display()))?;
            let v: Value = serde_json::from_str(&text)
                .with_context(|| format!("--tools {}: not valid JSON", path.display()))?;
            match v {
                Value::Array(a) if !a.is_empty() => {
                    Some(a.iter().map(|t| tool_for(api, t)).collect())
                }
                _ => bail!(
                    "--tools {}: expected a non-empty JSON array of tools",
                    path.display()
                ),
            }
        }
        None => None,
    };
    if let (Some(choice), Some(Value::Array(list))) = (&req.tool_choice, &tools) {
        let names: Vec<&str> = list.iter().filter_map(tool_name).collect();
        if !["auto", "none", "required", "any"].contains(&choice.as_str())
            && !names.contains(&choice.as_str())
        {
            bail!(
                "--tool-choice {choice:?}: not auto, none, required or a tool of --tools ({})",
                names.join(", ")
            );
        }
    }
    Ok(tools)
}

/// A tool's name, in any dialect's shape.
fn tool_name(t: &Value) -> Option<&str> {
    t.pointer("/function/name")
        .or_else(|| t.get("name"))
        .and_then(Value::as_str)
}

/// A tool of the chat format (`{"type": "function", "function": {name, description,
/// parameters}}`) in `api`'s own shape: Anthropic's `{name, description, input_schema}`, the
/// Responses API's flat `{"type": "function", name, description, parameters}`. A tool already
/// in another shape is sent as it is.
fn tool_for(api: Api, t: &Value) -> Value {
    let Some(f) = t
        .get("function")
        .filter(|_| t.get("type") == Some(&"function".into()))
    else {
        return t.clone();
    };
    let mut out = serde_json::Map::new();
    match api {
        Api::Messages => {
            for (from, to) in [("name", "name"), ("description", "description")] {
                if let Some(v) = f.get(from) {
                    out.insert(to.into(), v.clone());
                }
            }
            let schema = f
                .get("parameters")
                .cloned()
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
            out.insert("input_schema".into(), schema);
        }
        Api::Responses => {
            out.insert("type".into(), "function".into());
            if let Some(m) = f.as_object() {
                out.extend(m.clone());
            }
        }
        _ => return t.clone(),
    }
    Value::Object(out)
}

/// `--extra-body`: a JSON object, inline or `@FILE`.
fn extra_body(text: &str) -> anyhow::Result<serde_json::Map<String, Value>> {
    let (json, from) = match text.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("--extra-body @{path}: cannot read the file"))?,
            format!("@{path}"),
        ),
        None => (text.to_string(), String::new()),
    };
    let from = if from.is_empty() {
        from
    } else {
        format!(" {from}")
    };
    match serde_json::from_str::<Value>(&json) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => bail!("--extra-body{from}: expected a JSON object, got {other}"),
        Err(e) => bail!(
            "--extra-body{from}: not valid JSON ({e}); example: --extra-body '{{\"top_a\": 0.1}}'"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::PromptSize;

    fn args() -> RequestArgs {
        RequestArgs::builtin(PromptSize::Short)
    }

    #[test]
    fn options_the_api_lacks_are_refused_naming_extra_body() {
        let mut a = args();
        a.min_tokens = Some(4);
        assert!(request_options(&a, Api::Chat).is_ok());
        let e = request_options(&a, Api::Messages).unwrap_err().to_string();
        assert!(
            e.contains("--min-tokens") && e.contains("--extra-body"),
            "{e}"
        );
        let mut a = args();
        a.top_k = Some(3);
        assert!(request_options(&a, Api::Responses).is_err());
        assert!(request_options(&a, Api::Messages).is_ok());
    }

    #[test]
    fn chat_tools_take_each_api_shape_and_tool_choice_must_name_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tools.json");
        let chat = serde_json::json!([{"type": "function", "function": {
            "name": "get_weather", "description": "d",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
        std::fs::write(&path, chat.to_string()).unwrap();
        let mut a = args();
        a.tools = Some(path.clone());
        let tools = |a: &RequestArgs, api| request_options(a, api).unwrap().tools.unwrap();
        assert_eq!(tools(&a, Api::Chat), chat);
        let m = tools(&a, Api::Messages);
        assert_eq!(m[0]["name"], "get_weather");
        assert_eq!(m[0]["input_schema"], chat[0]["function"]["parameters"]);
        assert!(m[0].get("function").is_none());
        let r = tools(&a, Api::Responses);
        assert_eq!(
            (r[0]["type"].as_str(), r[0]["name"].as_str()),
            (Some("function"), Some("get_weather"))
        );
        let e = request_options(&a, Api::Completions)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--tools"), "{e}");
        a.tool_choice = Some("get_weather".into());
        assert!(request_options(&a, Api::Chat).is_ok());
        a.tool_choice = Some("nosuch".into());
        let e = request_options(&a, Api::Chat).unwrap_err().to_string();
        assert!(e.contains("get_weather"), "{e}");
    }

    #[test]
    fn extra_body_must_be_an_object() {
        let mut a = args();
        a.extra_body = Some(r#"{"repetition_penalty": 1.1}"#.into());
        let o = request_options(&a, Api::Chat).unwrap();
        assert_eq!(o.extra_body["repetition_penalty"], 1.1);
        a.extra_body = Some("[1]".into());
        assert!(request_options(&a, Api::Chat).is_err());
        a.extra_body = Some("{nope".into());
        let e = request_options(&a, Api::Chat).unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
        a.extra_body = Some("@/nonexistent/x.json".into());
        assert!(request_options(&a, Api::Chat).is_err());
    }

    #[test]
    fn tool_choice_needs_tools_and_batches_need_embeddings() {
        let mut a = args();
        a.tool_choice = Some("auto".into());
        assert!(request_options(&a, Api::Chat).is_err());
        let mut a = args();
        a.batch_size = 4;
        assert!(request_options(&a, Api::Chat).is_err());
        assert_eq!(request_options(&a, Api::Embeddings).unwrap().batch(), 4);
    }
}
