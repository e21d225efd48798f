//! The common stream chunk read without serde: one pass over its bytes that takes the fields the
//! client needs (a choice's text, reasoning and finish reason) and checks and skips the rest
//! (`id`, `model`, `logprobs`...) without building anything. serde_json spends most of the
//! client's CPU per token on such a chunk; this reads it several times cheaper.
//!
//! It answers only what it reads exactly as serde would: `None` for anything else, and serde
//! then reads the chunk (its figures or its error): a `usage`, `timings` or `error` that is
//! not null, tool calls, more than one choice, a value of another type than expected, a field
//! named twice, a key with an escape, JSON nested deeper than 64, and any invalid JSON. Tests
//! compare both readings on every recorded real-server stream and the fuzz target on any input.

use std::borrow::Cow;

/// The fields of a chunk's one choice (all absent when `choices` is empty).
#[derive(Debug, Default, PartialEq)]
pub struct Choice<'a> {
    pub content: Option<Cow<'a, str>>,
    pub reasoning_content: Option<Cow<'a, str>>,
    pub reasoning: Option<Cow<'a, str>>,
    pub text: Option<Cow<'a, str>>,
    pub finish_reason: Option<Cow<'a, str>>,
}

/// The bytes around the one text of the last chunk read in full: a chunk with the same bytes
/// around a plain text (no quote, backslash or control character) reads as that chunk did but
/// for its text, since everything else in it is the same checked JSON. Servers repeat the
/// same `id`, `created`, `model` and field order in every chunk of a stream, so a stream's
/// chunks after its first few are read by two comparisons and one short scan.
#[derive(Debug, Default, Clone)]
pub struct Shape {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    slot: u8,
}

/// A reading aid, not something observed: every shape is equal.
impl PartialEq for Shape {
    fn eq(&self, _: &Shape) -> bool {
        true
    }
}

impl Shape {
    /// A chunk of this shape: its choice.
    fn read<'a>(&self, data: &'a str) -> Option<Choice<'a>> {
        let (b, p, s) = (data.as_bytes(), self.prefix.len(), self.suffix.len());
        if p == 0 || b.len() < p + s || !b.starts_with(&self.prefix) || !b.ends_with(&self.suffix) {
            return None;
        }
        let end = b.len() - s;
        if plain_end(b, p) != end {
            return None;
        }
        // The prefix ends and the suffix starts with a quote: both are character boundaries.
        let text = Some(Cow::Borrowed(&data[p..end]));
        let mut c = Choice::default();
        *c.slot(self.slot) = text;
        Some(c)
    }

    fn learn(&mut self, data: &str, slot: u8, (start, end): (usize, usize)) {
        self.prefix.clear();
        self.prefix.extend_from_slice(&data.as_bytes()[..start]);
        self.suffix.clear();
        self.suffix.extend_from_slice(&data.as_bytes()[end..]);
        self.slot = slot;
    }
}

impl<'a> Choice<'a> {
    fn slot(&mut self, k: u8) -> &mut Option<Cow<'a, str>> {
        match k {
            0 => &mut self.content,
            1 => &mut self.reasoning_content,
            2 => &mut self.reasoning,
            3 => &mut self.text,
            _ => &mut self.finish_reason,
        }
    }

    /// The one text it holds, when it holds exactly one, unescaped.
    fn only_plain(&mut self) -> Option<u8> {
        let mut only = None;
        for k in 0..5 {
            match self.slot(k) {
                None => {}
                Some(Cow::Borrowed(_)) if only.is_none() => only = Some(k),
                Some(_) => return None,
            }
        }
        only
    }
}

/// [`chunk`], reading chunks of the last shape without a full scan, and learning the shape
/// of those it reads in full.
pub fn chunk_shaped<'a>(data: &'a str, shape: &mut Shape) -> Option<Choice<'a>> {
    if let Some(c) = shape.read(data) {
        return Some(c);
    }
    let (mut c, plain) = scan(data)?;
    if let (Some(slot), Some(span)) = (c.only_plain(), plain) {
        shape.learn(data, slot, span);
    }
    Some(c)
}

/// Read a chunk's `data` (trimmed), or `None` when serde must read it.
pub fn chunk(data: &str) -> Option<Choice<'_>> {
    scan(data).map(|(c, _)| c)
}

/// The chunk, and the span of the last plain text read in it (between its quotes).
fn scan(data: &str) -> Option<(Choice<'_>, Option<(usize, usize)>)> {
    let mut s = Scan {
        s: data,
        i: 0,
        plain: None,
    };
    let mut out = Choice::default();
    let mut seen = 0u8;
    s.object(|s, key| {
        let bit = match key {
            b"choices" => 1,
            b"usage" => 2,
            b"timings" => 4,
            b"error" => 8,
            _ => return s.skip(0),
        };
        once(&mut seen, bit)?;
        if bit == 1 {
            s.choices(&mut out)
        } else {
            s.null()
        }
    })?;
    s.ws();
    (s.i == data.len()).then_some((out, s.plain))
}

/// A field named twice is serde's error: leave it to serde.
fn once(seen: &mut u8, bit: u8) -> Option<()> {
    (*seen & bit == 0).then(|| *seen |= bit)
}

const MAX_DEPTH: u32 = 64;

/// The bytes that end the plain run of a JSON string: a quote, a backslash, a control character.
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Where the plain run of a string starting at `i` ends (`b.len()` when it runs to the end):
/// eight bytes at a time, then byte by byte.
fn plain_end(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    // Flags each byte below `n` (exactly at the lowest flagged byte: a false flag is only ever
    // above a true one, where the borrow of a true one carries).
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    while let Some(w) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        let m = below(x ^ (ONES * b'"' as u64), 1)
            | below(x ^ (ONES * b'\\' as u64), 1)
            | below(x, 0x20);
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !STOP[b[i] as usize] {
        i += 1;
    }
    i
}

struct Scan<'a> {
    s: &'a str,
    i: usize,
    /// The span of the last plain text taken (between its quotes).
    plain: Option<(usize, usize)>,
}

impl<'a> Scan<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    #[inline]
    fn ws(&mut self) {
        // Servers write compact JSON: most calls find no space.
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes().get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// After a member or an element: a comma (false: more follow) or the `close` (true).
    fn ended(&mut self, close: u8) -> Option<bool> {
        let c = self.peek()?;
        self.i += 1;
        (c == b',' || c == close).then_some(c == close)
    }

    /// An object: `field` reads each member's value after its key.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.key()?;
            self.eat(b':')?;
            field(self, key)?;
            if self.ended(b'}')? {
                return Some(());
            }
        }
    }

    /// An object key without escapes (a key with one may decode to a known name).
    fn key(&mut self) -> Option<&'a [u8]> {
        self.ws();
        let b = self.bytes();
        if b.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i + 1;
        let end = plain_end(b, start);
        if b.get(end) != Some(&b'"') {
            return None;
        }
        self.i = end + 1;
        Some(&b[start..end])
    }

    /// `null`.
    fn null(&mut self) -> Option<()> {
        self.ws();
        self.literal("null")
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.i + word.len();
        (self.s.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// `choices`: an array of at most one choice object.
    fn choices(&mut self, out: &mut Choice<'a>) -> Option<()> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        let mut seen = 0u8;
        self.object(|s, key| match key {
            b"delta" => {
                once(&mut seen, 1)?;
                if s.peek()? == b'n' {
                    return s.null();
                }
                let mut in_delta = 0u8;
                s.object(|s, key| {
                    let (bit, slot) = match key {
                        b"content" => (1, &mut out.content),
                        b"reasoning_content" => (2, &mut out.reasoning_content),
                        b"reasoning" => (4, &mut out.reasoning),
                        b"tool_calls" => {
                            once(&mut in_delta, 8)?;
                            return s.null();
                        }
                        _ => return s.skip(0),
                    };
                    once(&mut in_delta, bit)?;
                    *slot = s.text()?;
                    Some(())
                })
            }
            b"text" => {
                once(&mut seen, 2)?;
                out.text = s.text()?;
                Some(())
            }
            b"finish_reason" => {
                once(&mut seen, 4)?;
                out.finish_reason = s.text()?;
                Some(())
            }
            _ => s.skip(0),
        })?;
        self.eat(b']') // a second choice: serde's
    }

    /// A string (decoded as serde decodes it when it has escapes) or `null`.
    fn text(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.peek()? == b'n' {
            return self.null().map(|_| None);
        }
        let start = self.i;
        let escaped = self.string()?;
        let raw = &self.s[start..self.i];
        if !escaped {
            self.plain = Some((start + 1, self.i - 1));
            return Some(Some(Cow::Borrowed(&raw[1..raw.len() - 1])));
        }
        serde_json::from_str::<String>(raw)
            .ok()
            .map(|t| Some(Cow::Owned(t)))
    }

    /// A string checked as serde checks one it skips; whether it holds an escape.
    fn string(&mut self) -> Option<bool> {
        self.eat(b'"')?;
        let b = self.bytes();
        // Most strings are plain: one run to the closing quote.
        self.i = plain_end(b, self.i);
        if b.get(self.i) == Some(&b'"') {
            self.i += 1;
            return Some(false);
        }
        let mut escaped = false;
        loop {
            self.i = plain_end(b, self.i);
            match *b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    let e = *b.get(self.i + 1)?;
                    self.i += 2;
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let hex = b.get(self.i..self.i + 4)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i += 4;
                        }
                        _ => return None,
                    }
                }
                _ => return None, // a control character
            }
        }
    }

    /// Any value, checked and skipped.
    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => self.object(|s, _| s.skip(depth + 1)),
            b'[' => {
                self.i += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    if self.ended(b']')? {
                        return Some(());
                    }
                }
            }
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            _ => self.number(),
        }
    }

    /// A number as JSON writes one: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    fn number(&mut self) -> Option<()> {
        let b = self.bytes();
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            (*i > from).then_some(())
        };
        let mut i = self.i;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        if b.get(i) == Some(&b'0') {
            i += 1;
            if b.get(i).is_some_and(u8::is_ascii_digit) {
                return None;
            }
        } else {
            digits(&mut i)?;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i)?;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            digits(&mut i)?;
        }
        self.i = i;
        Some(())
    }
}
