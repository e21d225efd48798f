//! SSE framing: decoding a stream in arbitrary pieces gives exactly the events of decoding it
//! whole (chunking invariance), and never panics. The first two bytes seed the piece sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmbench::protocol::SseDecoder;

fn decode<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut d = SseDecoder::new();
    let mut take = |e: llmbench::protocol::SseEvent<'_>| {
        out.push((e.event.to_string(), e.data.to_string()));
        true
    };
    for p in pieces {
        d.feed(p, &mut take);
    }
    d.finish(&mut take);
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (seed, stream) = (u16::from_le_bytes([data[0], data[1]]), &data[2..]);
    let whole = decode(std::iter::once(stream));
    // Pieces of 1..=16 bytes, sized by a small generator from the seed.
    let mut x = seed as u32 | 1;
    let mut pieces = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let n = (x % 16 + 1) as usize;
        let (a, b) = rest.split_at(n.min(rest.len()));
        pieces.push(a);
        rest = b;
    }
    assert_eq!(
        whole,
        decode(pieces.into_iter()),
        "chunking changed the events"
    );
});
