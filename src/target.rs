//! Resolve `--url` (or start the built-in simulator), check that the server answers, and find
//! the model name. Everything here happens before the first measured request, so that a typo
//! or a dead server costs one clear line, not a wasted run.

use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::client::{error_chain, normalize_base_url, Client, Endpoint};
use crate::plan::TargetPlan;
use crate::protocol::Api;
use crate::sim::{self, CrashMode, SimConfig, SimHandle};

/// What a result records about the target (no secrets).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TargetInfo {
    pub url: String,
    pub api: Api,
    pub model: String,
    pub backend: String,
    /// The built-in simulator was the target (its profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulator: Option<String>,
    /// Names of extra headers sent (values are never recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub header_names: Vec<String>,
    /// `--fallback-url` endpoints, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<String>,
    /// The other replicas (several `--url`), after `url`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<String>,
}

pub struct Target {
    pub client: Client,
    pub info: TargetInfo,
    pub sim: Option<SimHandle>,
    /// `--virtual-time`: the simulator in simulated time, in place of any server.
    pub virtual_server: Option<std::sync::Mutex<crate::sim::virtual_time::VirtualServer>>,
}

impl Default for TargetInfo {
    fn default() -> Self {
        TargetInfo {
            url: String::new(),
            api: Api::Chat,
            model: String::new(),
            backend: String::new(),
            simulator: None,
            header_names: Vec::new(),
            fallbacks: Vec::new(),
            replicas: Vec::new(),
        }
    }
}

impl Target {
    pub fn describe(&self) -> String {
        match &self.info.simulator {
            Some(p) if self.virtual_server.is_some() => format!("built-in simulator ({p})"),
            Some(p) => format!("built-in simulator (profile {p}) at {}", self.info.url),
            None => self.info.url.clone(),
        }
    }

    pub async fn shutdown(self) {
        if let Some(s) = self.sim {
            s.stop().await;
        }
    }
}

/// The seed's rule: gpt / o1 → openai, claude → anthropic, else local.
pub fn detect_backend(model: &str) -> &'static str {
    let m = model.to_lowercase();
    if m.contains("gpt") || m.contains("o1") {
        "openai"
    } else if m.contains("claude") {
        "anthropic"
    } else {
        "local"
    }
}

pub async fn resolve(
    args: &TargetPlan,
    stream: bool,
    max_connections: usize,
) -> anyhow::Result<Target> {
    if args.virtual_time {
        return virtual_target(args, stream, max_connections);
    }
    let (base, sim) = match &args.url {
        Some(u) => (normalize_base_url(u)?, None),
        None => {
            let cfg = match &args.sim_file {
                Some((path, file)) => file.config(path),
                None => SimConfig::profile(args.sim_profile),
            };
            let handle = sim::start_apart(cfg, ([127, 0, 0, 1], 0).into(), CrashMode::StopServing)
                .await
                .context("starting the built-in simulator")?;
            (handle.url(), Some(handle))
        }
    };
    let headers = args.headers.clone();
    let endpoint = Endpoint {
        base: base.clone(),
        api: args.api,
        stream,
        timeout: (!args.timeout.is_zero()).then_some(args.timeout),
        headers: headers.clone(),
        path: args.path.clone(),
    };
    // The model from the primary, or (when it is down and there are fallbacks) the first
    // fallback that answers.
    let discovered = match preflight(&base, &headers, args.timeout).await {
        Ok(m) => m,
        Err(e) if args.fallbacks.is_empty() => return Err(e),
        Err(e) => {
            eprintln!("warning: {e:#}; trying the fallbacks");
            let mut found = None;
            for fb in &args.fallbacks {
                if let Ok(m) = preflight(fb, &headers, args.timeout).await {
                    found = Some(m);
                    break;
                }
            }
            found.ok_or(e)?
        }
    };
    let model = match (&args.model, discovered) {
        (Some(m), _) => m.clone(),
        (None, Some(m)) => m,
        (None, None) => bail!(
            "--model is required: {base}/models did not list a model (example: --model llama-3.1-8b)"
        ),
    };
    let backend = args
        .backend
        .clone()
        .unwrap_or_else(|| detect_backend(&model).to_string());
    let header_names = args.header_names.clone();
    Ok(Target {
        virtual_server: None,
        client: client_of(args, &endpoint, max_connections)?,
        info: TargetInfo {
            url: base,
            api: args.api,
            model,
            backend,
            simulator: sim.as_ref().map(|s| s.config.label()),
            header_names,
            fallbacks: args.fallbacks.clone(),
            replicas: args.replicas.clone(),
        },
        sim,
    })
}

/// The simulator in simulated time (`--virtual-time`): no server starts, nothing connects (the
/// client is made but never sends).
fn virtual_target(
    args: &TargetPlan,
    stream: bool,
    max_connections: usize,
) -> anyhow::Result<Target> {
    let cfg = match &args.sim_file {
        Some((path, file)) => file.config(path),
        None => SimConfig::profile(args.sim_profile),
    };
    let endpoint = Endpoint {
        base: "http://virtual.invalid/v1".to_string(),
        api: args.api,
        stream,
        timeout: None,
        headers: args.headers.clone(),
        path: None,
    };
    let timeout = (!args.timeout.is_zero()).then_some(args.timeout);
    let server = crate::sim::virtual_time::VirtualServer::new(cfg, args.api, stream, timeout)?;
    let cfg = server.config();
    Ok(Target {
        client: Client::new(endpoint, max_connections)?,
        info: TargetInfo {
            url: "virtual time".to_string(),
            api: args.api,
            model: args.model.clone().unwrap_or_else(|| cfg.model.clone()),
            backend: "local".to_string(),
            simulator: Some(format!("{}, virtual time", cfg.label())),
            ..TargetInfo::default()
        },
        sim: None,
        virtual_server: Some(std::sync::Mutex::new(server)),
    })
}

/// The client of a target: one server, with its fallbacks, or its replicas behind a balance.
fn client_of(
    args: &TargetPlan,
    endpoint: &Endpoint,
    max_connections: usize,
) -> anyhow::Result<Client> {
    let other = |base: &String| {
        let e = Endpoint {
            base: base.clone(),
            ..endpoint.clone()
        };
        Client::new(e, max_connections)
    };
    let primary = Client::new(endpoint.clone(), max_connections)?;
    if !args.replicas.is_empty() {
        let mut all = vec![primary];
        for r in &args.replicas {
            all.push(other(r)?);
        }
        return Ok(Client::balanced(all, args.balance));
    }
    let fallbacks = args
        .fallbacks
        .iter()
        .map(other)
        .collect::<anyhow::Result<_>>()?;
    Ok(primary.with_fallbacks(fallbacks))
}

/// GET /v1/models: fails only when the server cannot be reached at all; returns the first
/// model listed, if any.
async fn preflight(
    base: &str,
    headers: &reqwest::header::HeaderMap,
    timeout: Duration,
) -> anyhow::Result<Option<String>> {
    // At most `--timeout`, and at most 30 s: the server must answer a listing quickly.
    let limit = if timeout.is_zero() {
        Duration::from_secs(30)
    } else {
        timeout.min(Duration::from_secs(30))
    };
    let http = reqwest::Client::builder()
        .connect_timeout(limit.min(Duration::from_secs(10)))
        .timeout(limit)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let url = format!("{base}/models");
    let resp = match http.get(&url).headers(headers.clone()).send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() || e.is_timeout() => {
            bail!("cannot reach {base}: {}", error_chain(&e))
        }
        Err(e) => bail!("cannot reach {base}: {}", error_chain(&e)),
    };
    if !resp.status().is_success() {
        return Ok(None);
    }
    let Ok(body) = resp.bytes().await else {
        return Ok(None);
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Ok(None);
    };
    Ok(v.get("data")
        .and_then(|d| d.get(0))
        .and_then(|m| m.get("id"))
        .and_then(|id| id.as_str())
        .map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_detection_follows_the_seed() {
        assert_eq!(detect_backend("gpt-4o-mini"), "openai");
        assert_eq!(detect_backend("o1-preview"), "openai");
        assert_eq!(detect_backend("claude-3-5-sonnet"), "anthropic");
        assert_eq!(detect_backend("Llama-3.1-8B"), "local");
    }
}
