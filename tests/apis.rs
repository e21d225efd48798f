//! Every API and answer kind end to end against the simulator, which knows what it sent:
//! reasoning before the answer (TTFT vs TTFO), tool calls, bundled tokens with continuous
//! usage, the Responses API, embeddings, request options and `--endpoint`.

mod common;

use common::{run_args, start_sim, timed, zero};
use llmbench::commands::run::execute;
use llmbench::record::{FailureKind, RequestRecord, TokenSource};
use llmbench::sim::SimConfig;

fn measured(r: &llmbench::report::BenchResult) -> Vec<&RequestRecord> {
    r.requests.iter().filter(|r| !r.warmup).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_comes_first_and_ttfo_is_the_first_answer_token() {
    let sim = start_sim(SimConfig {
        reasoning_tokens: 4,
        ..timed(60.0, 10.0)
    })
    .await;
    for api in ["chat", "messages", "responses"] {
        let args = run_args(
            &sim.url(),
            &[
                "--api",
                api,
                "--runs",
                "3",
                "--max-tokens",
                "12",
                "--concurrency",
                "1",
            ],
        );
        let r = execute(&args).await.unwrap();
        let s = &r.summary;
        assert_eq!(s.requests.ok, 3, "{api}: {:?}", s.errors);
        for rec in measured(&r) {
            assert_eq!(rec.content_ns.len(), 12, "{api}: every token an event");
            assert_eq!(rec.output_tokens, Some(12), "{api}");
            // Chat and Responses report reasoning in usage; Anthropic's usage does not, so the
            // reasoning events count (one token each here).
            assert_eq!(rec.reasoning_tokens, Some(4), "{api}");
            assert_eq!(
                rec.first_answer_ns,
                Some(rec.content_ns[4]),
                "{api}: the answer starts at the 5th event"
            );
            let row = rec.row();
            let gap = (rec.content_ns[4] - rec.content_ns[0]) as f64 / 1e6;
            assert_eq!(row.reasoning_ms(), Some(gap), "{api}");
            assert!(
                row.ttfo_ms().unwrap() > row.ttft_ms().unwrap() + 30.0,
                "{api}"
            );
        }
        assert_eq!((s.tokens.reasoned, s.tokens.reasoning), (3, 12), "{api}");
        assert_eq!(s.ttfo_ms.as_ref().unwrap().count, 3, "{api}");
        assert_eq!(
            s.itl_ms.as_ref().unwrap().count,
            3 * 11,
            "{api}: ITL over all tokens"
        );
        let text = llmbench::report::console::run_summary(&r);
        assert!(
            text.contains("TTFO") && text.contains("Reasoning: 3 of 3"),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_are_timed_and_counted_as_output() {
    let sim = start_sim(zero()).await;
    let dir = tempfile::tempdir().unwrap();
    let tools = dir.path().join("tools.json");
    std::fs::write(
        &tools,
        r#"[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]"#,
    )
    .unwrap();
    let tools = tools.to_str().unwrap();
    let args = run_args(
        &sim.url(),
        &["--runs", "3", "--max-tokens", "6", "--tools", tools],
    );
    let r = execute(&args).await.unwrap();
    assert_eq!(r.summary.requests.ok, 3, "{:?}", r.summary.errors);
    for rec in measured(&r) {
        assert!(rec.tool_call, "the simulator calls the first tool offered");
        assert_eq!(rec.content_ns.len(), 6);
        assert_eq!(rec.output_tokens, Some(6));
        assert_eq!(rec.finish_reason.as_deref(), Some("length"));
    }
    assert_eq!(r.summary.tokens.tool_calls, 3);
    // `none`: the same tools offered, a text answer.
    let args = run_args(
        &sim.url(),
        &[
            "--runs",
            "2",
            "--max-tokens",
            "6",
            "--tools",
            tools,
            "--tool-choice",
            "none",
        ],
    );
    let r = execute(&args).await.unwrap();
    assert!(measured(&r).iter().all(|rec| !rec.tool_call && rec.is_ok()));
    assert_eq!(r.summary.tokens.tool_calls, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundled_tokens_keep_itl_per_event_and_tpot_per_token() {
    let sim = start_sim(SimConfig {
        tokens_per_chunk: 3,
        ..timed(40.0, 5.0)
    })
    .await;
    let args = run_args(
        &sim.url(),
        &[
            "--runs",
            "3",
            "--max-tokens",
            "12",
            "--continuous-usage",
            "--concurrency",
            "1",
        ],
    );
    let r = execute(&args).await.unwrap();
    let s = &r.summary;
    assert_eq!(s.requests.ok, 3, "{:?}", s.errors);
    for rec in measured(&r) {
        assert_eq!(rec.content_ns.len(), 4, "12 tokens in events of 3");
        assert_eq!(rec.output_tokens, Some(12));
        assert_eq!(rec.token_source, TokenSource::Usage);
        // TPOT divides by the 11 token intervals, not the 3 event gaps: well under one gap.
        let tpot = rec.tpot_ms().unwrap();
        let gap: f64 = rec.itl_ms().sum::<f64>() / 3.0;
        assert!(tpot < gap / 2.0, "TPOT {tpot} ms, event gap {gap} ms");
    }
    let tpe = s.tokens_per_event.as_ref().expect("bundling is reported");
    assert_eq!((tpe.mean, tpe.max), (3.0, 3.0));
    assert_eq!(s.itl_ms.as_ref().unwrap().count, 9);

    // A stream cut mid-way keeps the exact count of what it received (continuous usage).
    let cut = start_sim(SimConfig {
        tokens_per_chunk: 3,
        faults: llmbench::sim::Faults {
            drop_after_tokens: Some(6),
            ..zero().faults
        },
        ..zero()
    })
    .await;
    let args = run_args(
        &cut.url(),
        &["--runs", "2", "--max-tokens", "12", "--continuous-usage"],
    );
    let r = execute(&args).await.unwrap();
    for rec in measured(&r) {
        assert_eq!(
            rec.error.as_ref().map(|e| e.kind),
            Some(FailureKind::StreamBroken)
        );
        assert_eq!(rec.content_ns.len(), 2);
        assert_eq!(
            rec.output_tokens,
            Some(6),
            "usage so far, from the last chunk"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_api_streamed_and_whole() {
    let sim = start_sim(zero()).await;
    for stream in [true, false] {
        let mut flags = vec!["--api", "responses", "--runs", "3", "--max-tokens", "7"];
        if !stream {
            flags.push("--no-stream");
        }
        let r = execute(&run_args(&sim.url(), &flags)).await.unwrap();
        assert_eq!(r.summary.requests.ok, 3, "{:?}", r.summary.errors);
        for rec in measured(&r) {
            assert_eq!(rec.output_tokens, Some(7));
            assert_eq!(rec.token_source, TokenSource::Usage);
            assert!(rec.prompt_tokens.unwrap() > 0);
            assert_eq!(rec.finish_reason.as_deref(), Some("max_output_tokens"));
            assert_eq!(rec.content_ns.len(), if stream { 7 } else { 0 });
        }
    }
    assert_eq!(
        sim.stats
            .requests_received
            .load(std::sync::atomic::Ordering::Relaxed),
        6 + 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_count_inputs_and_prompt_tokens() {
    let sim = start_sim(zero()).await;
    let args = run_args(
        &sim.url(),
        &[
            "--api",
            "embeddings",
            "--runs",
            "5",
            "--batch-size",
            "4",
            "--dataset",
            "random",
            "--input-tokens",
            "32",
            "--seed",
            "1",
        ],
    );
    let r = execute(&args).await.unwrap();
    let s = &r.summary;
    assert_eq!(s.requests.ok, 5, "{:?}", s.errors);
    for rec in measured(&r) {
        assert_eq!(rec.inputs, Some(4));
        assert!(rec.content_ns.is_empty() && rec.ttft_ms().is_none());
        // The simulator counts a byte-per-4 token estimate of the same four texts.
        assert!(
            rec.prompt_tokens.unwrap() >= 4 * 16,
            "{:?}",
            rec.prompt_tokens
        );
    }
    assert_eq!(s.tokens.inputs, 20);
    assert!(s.throughput.inputs_s.unwrap() > 0.0 && s.throughput.input_tok_s > 0.0);
    assert!(s.ttft_ms.is_none());
    let text = llmbench::report::console::run_summary(&r);
    assert!(text.contains("Embeddings:"), "{text}");
    // The reports' results row counts inputs, not the output tokens embeddings never make.
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("e.md");
    llmbench::report::write(&md, &r).unwrap();
    let md = std::fs::read_to_string(md).unwrap();
    assert!(
        md.contains("| inputs/s |") && !md.contains("output tok/s"),
        "{md}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_body_and_endpoint_reach_the_server() {
    let sim = start_sim(zero()).await;
    // --extra-body is merged last: its max_tokens wins over --max-tokens.
    let args = run_args(
        &sim.url(),
        &[
            "--runs",
            "2",
            "--max-tokens",
            "9",
            "--extra-body",
            r#"{"max_tokens": 3}"#,
        ],
    );
    let r = execute(&args).await.unwrap();
    assert!(measured(&r).iter().all(|rec| rec.output_tokens == Some(3)));
    let args = run_args(
        &sim.url(),
        &[
            "--runs",
            "2",
            "--api",
            "completions",
            "--endpoint",
            "/v1/completions",
        ],
    );
    assert_eq!(execute(&args).await.unwrap().summary.requests.ok, 2);
    let args = run_args(&sim.url(), &["--runs", "2", "--endpoint", "/v2/generate"]);
    let r = execute(&args).await.unwrap();
    for rec in measured(&r) {
        let e = rec.error.as_ref().expect("no such route");
        assert_eq!(e.http_status, Some(404), "{}", e.detail);
        assert!(e.detail.contains("/v2/generate"));
    }
}
