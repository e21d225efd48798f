//! CSV: one row per request, and the per-second time series (a second file).

use std::fmt::Write;

use crate::report::BenchResult;

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn ms(ns: Option<u64>) -> String {
    ns.map(|v| format!("{:.3}", v as f64 / 1e6))
        .unwrap_or_default()
}

pub fn requests(result: &BenchResult) -> String {
    let mut out = String::from(
        "id,warmup,level,scheduled_ms,sent_ms,headers_ms,first_content_ms,done_ms,ttft_ms,e2e_ms,tpot_ms,itl_mean_ms,content_events,output_tokens,prompt_tokens,cached_tokens,token_source,finish_reason,error_kind,http_status,error_detail,ttfo_ms,reasoning_tokens,tool_call,inputs\n",
    );
    for r in &result.requests {
        let itl: Vec<f64> = r.itl_ms().collect();
        let itl_mean = (!itl.is_empty()).then(|| itl.iter().sum::<f64>() / itl.len() as f64);
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.id,
            r.warmup,
            opt(r.level),
            ms(r.scheduled_ns),
            ms(Some(r.sent_ns)),
            ms(r.headers_ns),
            ms(r.content_ns.first().copied()),
            ms(Some(r.done_ns)),
            r.ttft_ms().map(|v| format!("{v:.3}")).unwrap_or_default(),
            r.e2e_ms(),
            r.tpot_ms().map(|v| format!("{v:.3}")).unwrap_or_default(),
            itl_mean.map(|v| format!("{v:.3}")).unwrap_or_default(),
            r.content_ns.len(),
            opt(r.output_tokens),
            opt(r.prompt_tokens),
            opt(r.cached_tokens),
            r.token_source.name(),
            field(r.finish_reason.as_deref().unwrap_or("")),
            r.error.as_ref().map(|e| e.kind.name()).unwrap_or(""),
            opt(r.error.as_ref().and_then(|e| e.http_status)),
            field(r.error.as_ref().map(|e| e.detail.as_str()).unwrap_or("")),
            r.ttfo_ms().map(|v| format!("{v:.3}")).unwrap_or_default(),
            opt(r.reasoning_tokens),
            r.tool_call,
            opt(r.inputs),
        );
    }
    out
}

pub fn timeseries(result: &BenchResult) -> String {
    let mut out = String::from(
        "t_s,started,completed,failed,output_tokens,concurrency_avg,concurrency_max\n",
    );
    for s in &result.timeseries {
        let _ = writeln!(
            out,
            "{},{},{},{},{:.1},{:.3},{}",
            s.t_s,
            s.started,
            s.completed,
            s.failed,
            s.output_tokens,
            s.concurrency_avg,
            s.concurrency_max
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_with_commas_quotes_or_newlines_are_quoted() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
    }
}
