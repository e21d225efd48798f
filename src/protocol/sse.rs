//! Incremental Server-Sent Events decoder (the WHATWG event-stream format).
//!
//! Sits between the client's byte reads and the dialect parsers: it turns arbitrary byte chunks
//! into complete events without ever waiting for more input than an event needs. It does no JSON
//! and no timing: the caller timestamps the read, then feeds the bytes here.

/// One decoded event. `event` is empty when the stream gave no `event:` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    pub event: &'a str,
    pub data: &'a str,
}

/// Reusable decoder state: partial line, the event being assembled.
#[derive(Debug, Default)]
pub struct SseDecoder {
    line: Vec<u8>,
    data: String,
    event: String,
    has_data: bool,
    skip_lf: bool,
    /// The start of the stream is behind us (a UTF-8 BOM is skipped only at the very start).
    started: bool,
    /// Bytes of a BOM matched so far at the start, held back: a BOM may come split over reads.
    bom: usize,
}

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one chunk of bytes; `on_event` is called for every event completed by it, in order.
    /// Returning `false` from `on_event` stops decoding the rest of this chunk.
    pub fn feed(&mut self, mut chunk: &[u8], on_event: &mut dyn FnMut(SseEvent<'_>) -> bool) {
        if !self.started {
            while self.bom < BOM.len() && chunk.first() == Some(&BOM[self.bom]) {
                self.bom += 1;
                chunk = &chunk[1..];
            }
            if chunk.is_empty() && self.bom < BOM.len() {
                return; // undecided: wait for the next read
            }
            self.started = true;
            self.release_partial_bom();
        }
        while !chunk.is_empty() {
            if self.skip_lf {
                self.skip_lf = false;
                if chunk[0] == b'\n' {
                    chunk = &chunk[1..];
                    continue;
                }
            }
            match memchr::memchr2(b'\n', b'\r', chunk) {
                None => {
                    self.line.extend_from_slice(chunk);
                    return;
                }
                Some(pos) => {
                    let terminator = chunk[pos];
                    let keep_going = if self.line.is_empty() {
                        self.process_line(&chunk[..pos], on_event)
                    } else {
                        self.line.extend_from_slice(&chunk[..pos]);
                        let line = std::mem::take(&mut self.line);
                        let go = self.process_line(&line, on_event);
                        self.line = line;
                        self.line.clear();
                        go
                    };
                    chunk = &chunk[pos + 1..];
                    if terminator == b'\r' {
                        self.skip_lf = true;
                    }
                    if !keep_going {
                        return;
                    }
                }
            }
        }
    }

    /// The stream ended. A last event without its blank line is still delivered (servers that
    /// close right after the final `data:` line exist); a partial line is treated as complete.
    pub fn finish(&mut self, on_event: &mut dyn FnMut(SseEvent<'_>) -> bool) {
        if !self.started {
            self.started = true;
            self.release_partial_bom();
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            if !self.process_line(&line, on_event) {
                return;
            }
        }
        self.dispatch(on_event);
    }

    /// The first bytes of a BOM that did not complete it were data: they start the first line
    /// (none of them ends a line).
    fn release_partial_bom(&mut self) {
        if self.bom < BOM.len() {
            self.line.extend_from_slice(&BOM[..self.bom]);
        }
        self.bom = 0;
    }

    /// True when bytes of an unfinished event are buffered.
    pub fn has_pending(&self) -> bool {
        !self.line.is_empty() || self.has_data
    }

    fn process_line(
        &mut self,
        line: &[u8],
        on_event: &mut dyn FnMut(SseEvent<'_>) -> bool,
    ) -> bool {
        if line.is_empty() {
            return self.dispatch(on_event);
        }
        if line[0] == b':' {
            return true; // comment / keep-alive
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                push_utf8(&mut self.data, value);
                self.has_data = true;
            }
            b"event" => {
                self.event.clear();
                push_utf8(&mut self.event, value);
            }
            _ => {} // id, retry and unknown fields carry nothing we measure
        }
        true
    }

    fn dispatch(&mut self, on_event: &mut dyn FnMut(SseEvent<'_>) -> bool) -> bool {
        let go = if self.has_data {
            on_event(SseEvent {
                event: &self.event,
                data: &self.data,
            })
        } else {
            true
        };
        self.data.clear();
        self.event.clear();
        self.has_data = false;
        go
    }
}

fn push_utf8(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => out.push_str(s),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_chunks(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        let mut push = |e: SseEvent<'_>| {
            out.push((e.event.to_string(), e.data.to_string()));
            true
        };
        for c in chunks {
            d.feed(c, &mut push);
        }
        d.finish(&mut push);
        out
    }

    fn ev(e: &str, d: &str) -> (String, String) {
        (e.to_string(), d.to_string())
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_skipped() {
        let mut d = SseDecoder::new();
        let mut got = Vec::new();
        d.feed(b"\xEF\xBB\xBFdata: one\n\ndata: two\n\n", &mut |e| {
            got.push(e.data.to_string());
            true
        });
        assert_eq!(got, ["one", "two"]);
    }

    #[test]
    fn a_byte_order_mark_split_over_reads_is_skipped_and_a_partial_one_kept() {
        // Found by the fuzz target (chunking invariance): a BOM cut by the first read.
        let split = decode_chunks(&[b"\xEF", b"\xBB", b"\xBFdata: one\n\n"]);
        assert_eq!(split, vec![ev("", "one")]);
        // Two bytes of a BOM then a field name: data, the line is not a known field.
        let partial = decode_chunks(&[b"\xEF\xBB", b"data: x\n\ndata: y\n\n"]);
        assert_eq!(partial, vec![ev("", "y")]);
        assert_eq!(partial, decode_chunks(&[b"\xEF\xBBdata: x\n\ndata: y\n\n"]));
        // A stream of nothing but a BOM's first byte ends with nothing.
        assert!(decode_chunks(&[b"\xEF"]).is_empty());
    }

    #[test]
    fn one_event_split_across_reads() {
        let out = decode_chunks(&[b"da", b"ta: {\"a\"", b":1}\n", b"\n"]);
        assert_eq!(out, vec![ev("", "{\"a\":1}")]);
    }

    #[test]
    fn several_events_in_one_read() {
        let out = decode_chunks(&[b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"]);
        assert_eq!(out, vec![ev("", "1"), ev("", "2"), ev("", "[DONE]")]);
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let out = decode_chunks(&[b"data: a\r\n\r\ndata: b\r", b"\n\r\n", b"data: c\r\r"]);
        assert_eq!(out, vec![ev("", "a"), ev("", "b"), ev("", "c")]);
    }

    #[test]
    fn comments_are_ignored() {
        let out = decode_chunks(&[b": keep-alive\n\n: ping\ndata: x\n\n"]);
        assert_eq!(out, vec![ev("", "x")]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newline() {
        let out = decode_chunks(&[b"data: line1\ndata: line2\ndata:line3\n\n"]);
        assert_eq!(out, vec![ev("", "line1\nline2\nline3")]);
    }

    #[test]
    fn named_events_carry_their_name() {
        let out = decode_chunks(&[
            b"event: message_start\ndata: {}\n\nevent: error\ndata: {\"type\":\"error\"}\n\n",
        ]);
        assert_eq!(
            out,
            vec![
                ev("message_start", "{}"),
                ev("error", "{\"type\":\"error\"}")
            ]
        );
    }

    #[test]
    fn stream_ending_without_blank_line_still_delivers_last_event() {
        let out = decode_chunks(&[b"data: 1\n\ndata: 2"]);
        assert_eq!(out, vec![ev("", "1"), ev("", "2")]);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_character() {
        let out = decode_chunks(&[b"data: a\xffb\n\n"]);
        assert_eq!(out, vec![ev("", "a\u{fffd}b")]);
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let stream: &[u8] =
            b"event: e1\r\ndata: {\"x\": 1}\r\n\r\n: c\n\ndata: a\ndata: b\n\ndata: [DONE]\n\n";
        let whole = decode_chunks(&[stream]);
        assert_eq!(whole.len(), 3);
        for i in 0..stream.len() {
            for j in i..stream.len() {
                let parts = [&stream[..i], &stream[i..j], &stream[j..]];
                assert_eq!(decode_chunks(&parts), whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn byte_at_a_time_matches_whole() {
        let stream: &[u8] = b"data: hello\r\n\r\nevent: x\ndata: y\n\n";
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(decode_chunks(&bytes), decode_chunks(&[stream]));
    }

    #[test]
    fn callback_can_stop_decoding() {
        let mut d = SseDecoder::new();
        let mut n = 0;
        d.feed(b"data: 1\n\ndata: 2\n\n", &mut |_| {
            n += 1;
            false
        });
        assert_eq!(n, 1);
    }
}
