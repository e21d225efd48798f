//! A set of records summarized: counts, throughput over the measured window, the per-request
//! distributions and token totals ([`Summary`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{accumulate, goodput, timeseries, Distribution, Extras, FIXED_PERCENTILES};
use crate::record::{RequestRecord, Row, TokenSource};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RequestCounts {
    /// Measured requests: ok + failed + stopped.
    pub total: u64,
    pub ok: u64,
    /// Failed on their own account (counted in the error rate).
    pub failed: u64,
    /// Cut by the user (Ctrl-C) or never sent because the run stopped: kept as records, out of
    /// the error rate.
    #[serde(default)]
    pub stopped: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Throughput {
    /// Σ output tokens of requests completed in the window / window.
    pub output_tok_s: f64,
    /// Completed requests / window.
    pub req_s: f64,
    /// First measured send to last measured completion.
    pub window_s: f64,
    /// Open loop: measured requests sent per second, (n − 1) / (last send − first send). The
    /// achieved offered load, to set against the target rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_req_s: Option<f64>,
    /// Σ E2E of the successful measured requests, s (the seed's "Total time").
    #[serde(default)]
    pub request_time_s: f64,
    /// Output tokens / `request_time_s`: the seed's "Avg throughput", a per-request speed
    /// weighted by request time (not the aggregate `output_tok_s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_request_tok_s: Option<f64>,
    /// Σ prompt tokens of the successful requests / window.
    #[serde(default)]
    pub input_tok_s: f64,
    /// Embeddings: Σ inputs of the successful requests / window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tokens {
    pub prompt: u64,
    pub output: u64,
    /// Prompt tokens served from the server's prefix cache, where usage reported them.
    pub cached: u64,
    /// `usage`, `server_timings`, `tokenizer`, `events` or `mixed` (see the records for each).
    pub source: String,
    /// Reasoning tokens (part of `output`) of the responses that reasoned.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reasoning: u64,
    /// Successful responses that reasoned.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reasoned: u64,
    /// Successful responses whose answer was a tool call.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tool_calls: u64,
    /// Embeddings: inputs of the successful requests.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inputs: u64,
    /// Successful responses whose `usage` counted fewer output tokens than the content events
    /// received: the server's count is suspect.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage_below_events: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Everything a report needs about one set of records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Summary {
    pub requests: RequestCounts,
    /// failed / (ok + failed).
    pub error_rate: f64,
    pub ttft_ms: Option<Distribution>,
    pub itl_ms: Option<Distribution>,
    pub tpot_ms: Option<Distribution>,
    pub e2e_ms: Option<Distribution>,
    pub output_tok_s: Option<Distribution>,
    pub decode_tok_s: Option<Distribution>,
    /// Time to the first answer token (TTFO, after any reasoning), of responses that reasoned
    /// (only when some did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfo_ms: Option<Distribution>,
    /// TTFO − TTFT of responses that reasoned: how long reasoning held the answer back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_ms: Option<Distribution>,
    /// Output tokens per content event, per request (only when the server bundled tokens:
    /// some request's above 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_event: Option<Distribution>,
    /// sent − scheduled (open loop only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lag_ms: Option<Distribution>,
    /// TTFT and E2E from the scheduled time (open loop only): a late client cannot hide a
    /// slow server (coordinated omission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_from_scheduled_ms: Option<Distribution>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_from_scheduled_ms: Option<Distribution>,
    pub throughput: Throughput,
    pub concurrency: timeseries::Concurrency,
    pub tokens: Tokens,
    /// Failed requests by kind.
    pub errors: BTreeMap<String, u64>,
    /// Requests that met every `--goodput` SLO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<goodput::Goodput>,
    /// The percentiles reported, in order (`--percentiles`; empty: p50, p90, p95, p99).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percentiles: Vec<f64>,
}

impl Summary {
    /// Summarize the measured (non-warmup) records.
    pub fn from_records(records: &[RequestRecord]) -> Summary {
        let mut a = accumulate::Accumulator::default();
        records.iter().for_each(|r| a.push(r));
        a.finish().summary
    }

    /// [`Summary::from_records`] with `--goodput`'s SLOs judged and the asked-for percentiles
    /// (a level judged on its own).
    pub fn from_records_with(records: &[RequestRecord], extras: &Extras) -> Summary {
        let mut a = accumulate::Accumulator::default();
        a.percentiles = extras.percentiles.clone();
        records.iter().for_each(|r| a.push(r));
        let done = a.finish();
        let mut s = done.summary;
        if !extras.slos.is_empty() {
            s.goodput = Some(goodput::of(&done.rows, &extras.slos, s.throughput.window_s));
        }
        s
    }

    /// Summarize the measured rows (in plan order); `gaps` holds their inter-token gaps;
    /// `percentiles` as [`Extras::percentiles`].
    pub fn from_rows(rows: &[Row], gaps: accumulate::Gaps, percentiles: &[f64]) -> Summary {
        let measured: Vec<&Row> = rows.iter().filter(|r| !r.warmup).collect();
        let ok: Vec<&Row> = measured.iter().copied().filter(|r| r.is_ok()).collect();
        let stopped = measured.iter().filter(|r| r.stopped_by_user()).count();
        let failed = measured.len() - ok.len() - stopped;

        let errors = errors_by_kind(&measured);

        let window_start = measured
            .iter()
            .map(|r| r.scheduled_ns().unwrap_or(r.sent_ns).min(r.sent_ns))
            .min();
        let window_end = measured.iter().map(|r| r.done_ns).max();
        let window_s = match (window_start, window_end) {
            (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
            _ => 0.0,
        };
        let tokens = tokens_of(&ok);
        let (output, prompt, inputs) = (tokens.output, tokens.prompt, tokens.inputs);
        // Only runs that reasoned, or whose server bundled tokens, show those figures.
        let reasoned = ok.iter().any(|r| r.reasoned());
        let bundled = ok
            .iter()
            .any(|r| r.tokens_per_event().is_some_and(|x| x > 1.0));
        let per_sec = |x: f64| if window_s > 0.0 { x / window_s } else { 0.0 };
        // `+ 0.0`: an empty sum is -0.0, printed "-0.00".
        let request_time_s: f64 = ok.iter().map(|r| r.e2e_ms()).sum::<f64>() / 1e3 + 0.0;
        let more: Vec<f64> = percentiles
            .iter()
            .copied()
            .filter(|p| !FIXED_PERCENTILES.contains(p))
            .collect();
        let dist = |rows: &[&Row], f: fn(&Row) -> Option<f64>| {
            let mut v: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
            v.retain(|x| x.is_finite());
            v.sort_by(f64::total_cmp);
            Distribution::from_sorted(v.len(), |i| v[i])
                .map(|d| d.with_percentiles(v.len(), |i| v[i], &more))
        };

        Summary {
            requests: RequestCounts {
                total: measured.len() as u64,
                ok: ok.len() as u64,
                failed: failed as u64,
                stopped: stopped as u64,
            },
            error_rate: if ok.len() + failed == 0 {
                0.0
            } else {
                failed as f64 / (ok.len() + failed) as f64
            },
            ttft_ms: dist(&ok, Row::ttft_ms),
            ttfo_ms: reasoned.then(|| dist(&ok, Row::ttfo_ms)).flatten(),
            reasoning_ms: reasoned.then(|| dist(&ok, Row::reasoning_ms)).flatten(),
            tokens_per_event: bundled.then(|| dist(&ok, Row::tokens_per_event)).flatten(),
            itl_ms: gaps.distribution(&more),
            tpot_ms: dist(&ok, Row::tpot_ms),
            e2e_ms: dist(&ok, |r| Some(r.e2e_ms())),
            output_tok_s: dist(&ok, Row::output_tok_s),
            decode_tok_s: dist(&ok, Row::decode_tok_s),
            send_lag_ms: dist(&measured, Row::send_lag_ms),
            ttft_from_scheduled_ms: dist(&ok, Row::ttft_from_scheduled_ms),
            e2e_from_scheduled_ms: dist(&ok, Row::e2e_from_scheduled_ms),
            concurrency: match (window_start, window_end) {
                (Some(a), Some(b)) => timeseries::concurrency(measured.iter().copied(), a, b),
                _ => timeseries::Concurrency::default(),
            },
            throughput: Throughput {
                output_tok_s: per_sec(output as f64),
                input_tok_s: per_sec(prompt as f64),
                inputs_s: (inputs > 0).then(|| per_sec(inputs as f64)),
                req_s: per_sec(ok.len() as f64),
                window_s,
                sent_req_s: send_rate(&measured),
                request_time_s,
                avg_request_tok_s: (request_time_s > 0.0).then(|| output as f64 / request_time_s),
            },
            tokens,
            errors,
            goodput: None,
            percentiles: percentiles.to_vec(),
        }
    }
}

/// The token totals of the successful rows.
fn tokens_of(ok: &[&Row]) -> Tokens {
    Tokens {
        prompt: ok.iter().map(|r| r.prompt_tokens as u64).sum(),
        output: ok.iter().filter_map(|r| r.output_tokens()).sum(),
        cached: ok.iter().map(|r| r.cached_tokens as u64).sum(),
        source: token_source(ok),
        usage_below_events: ok.iter().filter(|r| usage_below_events(r)).count() as u64,
        reasoning: ok.iter().filter_map(|r| r.reasoning_tokens()).sum(),
        reasoned: ok.iter().filter(|r| r.reasoned()).count() as u64,
        tool_calls: ok.iter().filter(|r| r.tool_call).count() as u64,
        inputs: ok.iter().map(|r| r.inputs as u64).sum(),
    }
}

/// Failures by kind, apart from requests the user stopped.
fn errors_by_kind(measured: &[&Row]) -> BTreeMap<String, u64> {
    let mut errors = BTreeMap::new();
    for r in measured.iter().filter(|r| !r.stopped_by_user()) {
        if let Some(kind) = r.kind {
            *errors.entry(kind.name().to_string()).or_insert(0) += 1;
        }
    }
    errors
}

/// `usage` counted fewer output tokens than the content events received.
fn usage_below_events(r: &Row) -> bool {
    r.token_source == TokenSource::Usage && r.output_tokens().unwrap_or(0) < r.events as u64
}

/// Where the output counts came from: one source, `mixed`, or `none`.
fn token_source(ok: &[&Row]) -> String {
    let mut sources: Vec<TokenSource> = ok.iter().map(|r| r.token_source).collect();
    sources.sort_by_key(|s| s.name());
    sources.dedup();
    match sources.as_slice() {
        [] => "none".to_string(),
        [one] => one.name().to_string(),
        _ => "mixed".to_string(),
    }
}

/// (n − 1) / (last send − first send) over open-loop records that were sent.
fn send_rate(measured: &[&Row]) -> Option<f64> {
    let sent: Vec<u64> = measured
        .iter()
        .filter(|r| r.scheduled_ns().is_some())
        .filter(|r| r.kind != Some(crate::record::FailureKind::Dropped))
        .map(|r| r.sent_ns)
        .collect();
    let (first, last) = (sent.iter().min()?, sent.iter().max()?);
    (sent.len() > 1 && last > first)
        .then(|| (sent.len() - 1) as f64 / ((last - first) as f64 / 1e9))
}
