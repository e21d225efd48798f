//! Every dialect's event and body parsers take any input without panicking: the first line is
//! the SSE event name, the rest its data (and the whole input a response body). The OpenAI
//! chunk scanner reads nothing serde would not read the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmbench::protocol::openai::{on_chunk_serde, on_event, scan};
use llmbench::protocol::{Api, Observation, SseEvent};
use llmbench::units::Named;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (event, payload) = text.split_once('\n').unwrap_or(("", &text));
    for api in Api::ALL {
        let mut obs = Observation {
            text: Some(String::new()),
            reasoning_text: Some(String::new()),
            ..Default::default()
        };
        for line in payload.split("\n\n") {
            let _ = api.on_event(SseEvent { event, data: line }, &mut obs);
        }
        let _ = obs.is_complete(*api);
        let _ = api.on_body(data, &mut Observation::default());
    }
    // The scanner and the shapes it learns over a stream read every chunk as serde does.
    let (mut a, mut b) = (Observation::default(), Observation::default());
    for line in payload.split("\n\n") {
        let chunk = line.trim();
        if chunk.is_empty() || chunk == "[DONE]" {
            continue;
        }
        let fast = on_event(SseEvent { event: "", data: chunk }, &mut a);
        let serde = on_chunk_serde(chunk, &mut b);
        assert!(
            scan::chunk(chunk).is_none() || serde.is_ok(),
            "scanned what serde refuses: {chunk:?}"
        );
        assert_eq!(fast, serde, "{chunk:?}");
        assert_eq!(a, b, "{chunk:?}");
    }
});
