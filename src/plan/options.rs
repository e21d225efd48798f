//! The request options beyond the basics (`--top-p`, `--stop`, `--extra-body`, `--tools`, …),
//! checked against the API before any connection: an option the API has no field for is an
//! error that names `--extra-body`, never a request the server rejects a thousand times.

use anyhow::{bail, Context};
use serde_json::Value;

use crate::cli::RequestArgs;
use crate::protocol::{Api, RequestOptions};

/// The options of `req` for `api`, with local files (`--tools`, `--extra-body @FILE`) read.
pub fn request_options(req: &RequestArgs, api: Api) -> anyhow::Result<RequestOptions> {
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
        Api::Chat | Api::Completions => &[],
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
                Value::Array(a) if !a.is_empty() => Some(Value::Array(a)),
                _ => bail!(
                    "--tools {}: expected a non-empty JSON array of tools",
                    path.display()
                ),
            }
        }
        None => None,
    };
    Ok(RequestOptions {
        top_p: req.top_p,
        top_k: req.top_k,
        sampling_seed: req.sampling_seed,
        stop: req.stop.clone(),
        min_tokens: req.min_tokens,
        tools,
        tool_choice: req.tool_choice.clone(),
        continuous_usage: req.continuous_usage,
        batch: req.batch_size,
        extra_body: match &req.extra_body {
            Some(text) => extra_body(text)?,
            None => Default::default(),
        },
    })
}

/// `--extra-body`: a JSON object, inline or `@FILE`.
fn extra_body(text: &str) -> anyhow::Result<serde_json::Map<String, Value>> {
    let (json, from) = match text.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("--extra-body @{path}: cannot read the file"))?,
            format!("@{path}"),
        ),
        None => (text.to_string(), "".to_string()),
    };
    match serde_json::from_str::<Value>(&json) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => bail!("--extra-body {from}: expected a JSON object, got {other}"),
        Err(e) => bail!(
            "--extra-body {from}: not valid JSON ({e}); example: --extra-body '{{\"top_a\": 0.1}}'"
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
