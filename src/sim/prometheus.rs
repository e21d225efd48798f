//! `/metrics` in the Prometheus text format: what a monitor scrapes from the simulator, named as
//! vLLM names its gauges (`num_requests_running`, `num_requests_waiting`, `kv_cache_usage_perc`).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::routes::Shared;

/// `/metrics`: the running batch, the queue, KV use and token counters, vLLM-style names
/// under the `llmbench_sim:` prefix.
pub async fn metrics(State(s): State<Shared>) -> Response {
    use std::fmt::Write;
    let st = &s.stats;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = write!(
            out,
            "# HELP llmbench_sim:{name} {help}\n# TYPE llmbench_sim:{name} {kind}\nllmbench_sim:{name} {value}\n"
        );
    };
    let kv = st.kv_used.load(Ordering::Relaxed) as f64 / s.cfg.kv_tokens.max(1) as f64;
    metric(
        "num_requests_running",
        "gauge",
        "Sequences in the running batch.",
        st.running.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "num_requests_waiting",
        "gauge",
        "Requests waiting for a slot.",
        st.waiting.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "kv_cache_usage_perc",
        "gauge",
        "Fraction of the KV token budget reserved (0-1).",
        format!("{kv:.6}"),
    );
    metric(
        "prompt_tokens_total",
        "counter",
        "Prompt tokens prefilled.",
        st.prompt_tokens_total.load(Ordering::Relaxed).to_string(),
    );
    metric(
        "generation_tokens_total",
        "counter",
        "Tokens generated.",
        st.generation_tokens_total
            .load(Ordering::Relaxed)
            .to_string(),
    );
    out.push_str("# HELP llmbench_sim:request_total Requests answered, by HTTP status.\n# TYPE llmbench_sim:request_total counter\n");
    let by_status = st
        .requests_by_status
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for (status, n) in by_status {
        let _ = writeln!(out, "llmbench_sim:request_total{{status=\"{status}\"}} {n}");
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
