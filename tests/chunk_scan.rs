//! The chunk scanner (the client's fast reading of an OpenAI stream chunk) agrees with serde:
//! on every chunk of every recorded stream, on hand-made edge cases, and on 40,000 seeded
//! mutations of real chunks. Wherever it answers, serde accepts the chunk and makes the same
//! observation of it; where serde refuses a chunk, the scanner leaves it to serde.

use llmbench::protocol::openai::{on_chunk_serde, on_event, scan};
use llmbench::protocol::{Observation, SseDecoder, SseEvent};
use rand::{Rng, SeedableRng};

const STREAMS: [&str; 6] = [
    "llamacpp_chat_stream.sse",
    "llamacpp_completions_stream.sse",
    "llamacpp_tiny_chat_stream.sse",
    "vllm_chat_stream.sse",
    "openai_chat_stream_crlf.sse",
    "llama_cpp_python_interrupted.sse",
];

fn fresh() -> Observation {
    Observation {
        text: Some(String::new()),
        reasoning_text: Some(String::new()),
        ..Default::default()
    }
}

/// The data of every event of a recorded stream, but `[DONE]`.
fn chunks(file: &str) -> Vec<String> {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap();
    let mut out = Vec::new();
    let mut d = SseDecoder::new();
    let mut take = |ev: SseEvent<'_>| {
        let data = ev.data.trim();
        if !data.is_empty() && data != "[DONE]" {
            out.push(data.to_string());
        }
        true
    };
    d.feed(&bytes, &mut take);
    d.finish(&mut take);
    out
}

/// One random edit of `b`: a byte of `alphabet` removed, inserted or written over.
fn mutate(rng: &mut rand::rngs::StdRng, b: &mut Vec<u8>, alphabet: &[u8]) {
    let c = alphabet[rng.gen_range(0..alphabet.len())];
    let op = rng.gen_range(0..3);
    if b.is_empty() {
        return b.push(c);
    }
    let at = rng.gen_range(0..b.len());
    match op {
        0 => drop(b.remove(at)),
        1 => b.insert(at, c),
        _ => b[at] = c,
    }
}

/// The bytes as a chunk's data: valid UTF-8, neither blank nor `[DONE]`.
fn chunk_text(b: Vec<u8>) -> Option<String> {
    let text = String::from_utf8(b).ok()?;
    let data = text.trim();
    (!data.is_empty() && data != "[DONE]").then_some(text)
}

/// Where the scanner answers, serde accepts the chunk and observes the same; returns whether
/// the scanner answered.
fn agree(data: &str) -> bool {
    let mut by_serde = fresh();
    let serde = on_chunk_serde(data, &mut by_serde);
    let mut by_client = fresh();
    let client = on_event(SseEvent { event: "", data }, &mut by_client);
    assert_eq!(client, serde, "{data}");
    assert_eq!(by_client, by_serde, "{data}");
    let scanned = scan::chunk(data).is_some();
    assert!(
        !scanned || serde.is_ok(),
        "scanned what serde refuses: {data}"
    );
    scanned
}

#[test]
fn every_recorded_chunk_reads_the_same() {
    for file in STREAMS {
        let all = chunks(file);
        assert!(all.len() >= 3, "{file}");
        // A whole stream, chunk after chunk, into one observation.
        let (mut a, mut b) = (fresh(), fresh());
        let mut scanned = 0;
        for data in &all {
            scanned += agree(data) as usize;
            let pa = on_event(SseEvent { event: "", data }, &mut a);
            let pb = on_chunk_serde(data, &mut b);
            assert_eq!(pa, pb);
        }
        assert_eq!(a, b, "{file}");
        // The text chunks (all but the usage and finish chunks that carry figures) scanned.
        assert!(
            scanned * 10 >= all.len() * 6,
            "{file}: {scanned} of {}",
            all.len()
        );
    }
}

#[test]
fn edge_cases_are_read_as_serde_reads_them_or_left_to_it() {
    let scanned = [
        r#"{"choices":[]}"#,
        r#"{}"#,
        r#"{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"choices":[{"delta":{"content":"a\nb \"q\" \u00e9 \ud83d\ude00"}}]}"#,
        r#"{"choices":[{"delta":{"reasoning_content":"think","content":null}}],"usage":null}"#,
        r#"{"choices":[{"delta":{"reasoning":"r","tool_calls":null}}],"timings":null,"error":null}"#,
        r#"{"choices":[{"text":"done","finish_reason":"length"}]}"#,
        r#"{"choices":[{"delta":null,"finish_reason":"stop"}]}"#,
        r#" { "choices" : [ { "delta" : { "content" : "x" } } ] } "#,
        r#"{"x":[1,-0,0.5,-1.25e+3,2E-2,true,false,null,{"a":[[]]},"\/\b\f\r\t\u0041"],"choices":[{"delta":{"content":"k"}}]}"#,
        r#"{"x":1,"x":2,"choices":[{"delta":{"content":"dup unknown keys are fine"}}]}"#,
    ];
    for c in scanned {
        assert!(agree(c.trim()), "not scanned: {c}");
    }
    let left = [
        // Figures, errors and tool calls: serde reads them.
        r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
        r#"{"choices":[{"delta":{}}],"timings":{"predicted_n":4}}"#,
        r#"{"error":{"message":"boom"}}"#,
        r#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":"f"}}]}}]}"#,
        r#"{"choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}"#,
        // A field named twice, a key with an escape, a value of another type.
        r#"{"choices":[],"choices":[]}"#,
        r#"{"choices":[{"delta":{"content":"a","content":"b"}}]}"#,
        r#"{"choices":[{"delta":{"con\u0074ent":"a"}}]}"#,
        r#"{"choices":[{"delta":{"content":5}}]}"#,
        r#"{"choices":null}"#,
        r#"{"choices":[{"delta":"x"}]}"#,
        r#"[[],null,null,null]"#,
        // Invalid JSON.
        r#"{"choices":[{"delta":{"content":"a"}}]"#,
        r#"{"choices":[],}"#,
        r#"{"x":[1,],"choices":[]}"#,
        r#"{"x":01,"choices":[]}"#,
        r#"{"x":1.,"choices":[]}"#,
        r#"{"x":-,"choices":[]}"#,
        r#"{"x":1e,"choices":[]}"#,
        r#"{"x":nul,"choices":[]}"#,
        r#"{"x":"\q","choices":[]}"#,
        r#"{"x":"\u12G4","choices":[]}"#,
        "{\"x\":\"a\tb\",\"choices\":[]}",
        r#"{"choices":[{"delta":{"content":"\ud800"}}]}"#,
        r#"{"choices":[]} x"#,
        r#"{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"choices":[]}"#,
    ];
    for c in left {
        assert!(!agree(c), "scanned: {c}");
    }
}

#[test]
fn mutated_real_chunks_never_read_otherwise_than_serde() {
    let mut all: Vec<String> = STREAMS.iter().flat_map(|f| chunks(f)).collect();
    all.sort();
    all.dedup();
    const SIGNIFICANT: &[u8] = b"{}[]\",:\\0123456789-+.eEtrufalsn \t\r\nu";
    let mut rng = rand::rngs::StdRng::seed_from_u64(18);
    let (mut scanned, mut refused) = (0, 0);
    for _ in 0..40_000 {
        let mut b = all[rng.gen_range(0..all.len())].clone().into_bytes();
        for _ in 0..rng.gen_range(1..4) {
            mutate(&mut rng, &mut b, SIGNIFICANT);
        }
        let Some(text) = chunk_text(b) else {
            continue;
        };
        let data = text.trim();
        if agree(data) {
            scanned += 1;
        } else if on_chunk_serde(data, &mut fresh()).is_err() {
            refused += 1;
        }
    }
    // Both kinds were met: mutations the scanner reads, and invalid ones serde refuses.
    assert!(scanned > 1_000 && refused > 1_000, "{scanned} {refused}");
}

#[test]
fn a_stream_read_by_its_shape_reads_as_serde_reads_it() {
    // One observation per stream, as the client keeps: real chunks teach it their shape, and
    // mutated chunks of the same shape (a text with a quote, a cut, another field) must not
    // be read as that shape.
    let mut rng = rand::rngs::StdRng::seed_from_u64(19);
    const SIGNIFICANT: &[u8] = b"{}[]\",:\\0n \nx";
    for file in STREAMS {
        let all = chunks(file);
        let (mut client, mut serde) = (fresh(), fresh());
        for _ in 0..4_000 {
            let mut data = all[rng.gen_range(0..all.len())].clone().into_bytes();
            if rng.gen_bool(0.5) {
                mutate(&mut rng, &mut data, SIGNIFICANT);
            }
            let Some(text) = chunk_text(data) else {
                continue;
            };
            let data = text.trim();
            let a = on_event(SseEvent { event: "", data }, &mut client);
            let b = on_chunk_serde(data, &mut serde);
            assert_eq!(a, b, "{file}: {data}");
            assert_eq!(client, serde, "{file}: {data}");
        }
    }
}
