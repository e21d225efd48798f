//! Console blocks of a result's optional parts: an A/B by level, failover, sessions. Printed
//! by the commands after their main table (see [`super::console`]).

use std::fmt::Write;

use super::console::errors_block;
use super::curves;
use crate::report::BenchResult;

/// Failover by endpoint (with `--fallback-url`).
pub fn failover_block(result: &BenchResult) -> String {
    let Some(f) = &result.failover else {
        return String::new();
    };
    format!(
        "\n=== {} ===\n\n{}\n  {}\n",
        if f.replicas { "Replicas" } else { "Failover" },
        curves::failover(f).to_text(2),
        curves::failover_text(f).flat()
    )
}

/// Multi-turn sessions: the by-turn table (every measuring command, when the run had them).
pub fn sessions_block(result: &BenchResult) -> String {
    let Some(r) = &result.sessions else {
        return String::new();
    };
    format!(
        "\n=== Sessions by turn ===\n\n{}\n  {}\n",
        curves::sessions(r).to_text(2),
        curves::sessions_text(r).flat()
    )
}

/// A sweep or load curve run on both arms of an A/B: one row per level.
pub fn ab_table(result: &BenchResult) -> String {
    let mut out = String::new();
    let arm_url = |k: usize| {
        result
            .levels
            .get(k)
            .and_then(|l| l.params.url.clone())
            .unwrap_or_default()
    };
    let _ = writeln!(
        out,
        "\n=== A/B by level: baseline {} vs treatment {} ===\n",
        arm_url(0),
        arm_url(1)
    );
    out.push_str(&curves::ab_levels(result).to_text(2));
    for line in curves::not_run(result) {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(
        out,
        "\n  tok/s/req: per-request output tok/s p50; speedup: treatment vs baseline; significant: the 95% interval of the p50 difference excludes 0 and the change exceeds 2%; aggr.: all output tokens / the arm's wall window; each level ran on both arms, one after the other, the order alternating by level"
    );
    let failed: u64 = result
        .levels
        .iter()
        .map(|l| l.summary.requests.failed)
        .sum();
    if failed > 0 {
        out.push_str(&errors_block(&result.summary, result));
    }
    out
}

/// What the answers were, beyond text: reasoning, tool calls, bundled tokens, embeddings
/// inputs. One sentence each, only for what the run had (console and documents alike).
pub fn output_notes(s: &crate::metrics::Summary) -> Vec<String> {
    let t = &s.tokens;
    let mut out = Vec::new();
    if t.reasoned > 0 {
        let share = t.reasoning as f64 / t.output.max(1) as f64 * 100.0;
        let p50 = |d: &Option<crate::metrics::Distribution>| {
            d.as_ref()
                .map_or("-".to_string(), |d| format!("{:.1} ms", d.p50))
        };
        let timing = match &s.ttfo_ms {
            Some(_) => format!(
                "; TTFO p50 {} after TTFT p50 {} (reasoning p50 {})",
                p50(&s.ttfo_ms),
                p50(&s.ttft_ms),
                p50(&s.reasoning_ms)
            ),
            None => String::new(),
        };
        out.push(format!(
            "Reasoning: {} of {} responses reasoned, {} reasoning tokens ({share:.1}% of output){timing}.",
            t.reasoned, s.requests.ok, t.reasoning,
        ));
    }
    if t.source == "events" {
        out.push(
            "Output tokens counted as content events: the server sent no usage and no --tokenizer was given, so a server that puts several tokens in one event is undercounted (pass --tokenizer NAME, or let the server send usage).".to_string(),
        );
    }
    if t.tool_calls > 0 {
        out.push(format!(
            "Tool calls: {} of {} answers called a tool.",
            t.tool_calls, s.requests.ok
        ));
    }
    if let Some(d) = &s.tokens_per_event {
        out.push(format!(
            "Bundled tokens: {:.2} tokens per event (mean of requests; max {:.0}): ITL is the gap between events, TPOT the time per token.",
            d.mean, d.max
        ));
    }
    if let Some(x) = s.throughput.inputs_s {
        out.push(format!(
            "Embeddings: {x:.1} inputs/s, {:.1} input tok/s, {:.1} inputs per request.",
            s.throughput.input_tok_s,
            t.inputs as f64 / s.requests.ok.max(1) as f64
        ));
    }
    out
}
