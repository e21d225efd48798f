//! Request traces: when each request arrived and how long its prompt and answer were.
//!
//! - Mooncake (JSONL): `timestamp` (ms), `input_length`, `output_length`, `hash_ids` (one per
//!   512-token block: requests with the same leading ids share exactly those blocks).
//! - BurstGPT (CSV): `Timestamp` (s), `Request tokens`, `Response tokens`, and optionally a
//!   `Session ID`.
//! - Plain JSONL: `timestamp` (ms) with a `prompt` (text) or `input_tokens`, and optionally
//!   `output_tokens` and `session_id`.
//!
//! Entries that name a session are the turns of one conversation (in time order): in the
//! open loop each turn is sent at its time, but never before the previous turn's answer, and
//! carries the history so far with the server's real answers.
//!
//! The format is detected from the content unless given. Offsets are from the first request
//! kept; `start_s`/`duration_s` cut the trace (in its own time), `scale` stretches it.

use std::path::Path;

use anyhow::{bail, Context};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Tokens per Mooncake hash block.
pub const BLOCK_TOKENS: usize = 512;

/// The shortest new user message of a trace's conversation turn.
pub const MIN_TURN_TOKENS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceFormat {
    Mooncake,
    Burstgpt,
    Jsonl,
}

impl crate::units::Named for TraceFormat {
    const ALL: &'static [TraceFormat] = &[
        TraceFormat::Mooncake,
        TraceFormat::Burstgpt,
        TraceFormat::Jsonl,
    ];
    fn name(self) -> &'static str {
        match self {
            TraceFormat::Mooncake => "mooncake",
            TraceFormat::Burstgpt => "burstgpt",
            TraceFormat::Jsonl => "jsonl",
        }
    }
}

/// One request of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    /// Seconds from the first request kept, scaled.
    pub offset_s: f64,
    pub input_tokens: usize,
    pub output_tokens: Option<u32>,
    /// Mooncake's block ids (empty otherwise).
    pub hash_ids: Vec<u64>,
    /// The prompt itself (plain JSONL).
    pub prompt: Option<String>,
    /// The conversation it belongs to (BurstGPT's Session ID, JSONL's `session_id`).
    pub session: Option<u64>,
}

/// How to read and cut a trace.
#[derive(Debug, Clone, Default)]
pub struct TraceSpec {
    pub format: Option<TraceFormat>,
    /// Multiplies the offsets (2: twice as slow).
    pub scale: f64,
    /// Skip the trace's first `start_s` seconds.
    pub start_s: f64,
    /// Keep `duration_s` seconds of it (from `start_s`).
    pub duration_s: Option<f64>,
    pub max_requests: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Trace {
    pub format: TraceFormat,
    pub entries: Vec<TraceEntry>,
    /// The `--time-scale` its offsets carry.
    pub scale: f64,
}

impl Trace {
    /// The trace's span in seconds (first to last offset).
    pub fn span_s(&self) -> f64 {
        self.entries.last().map_or(0.0, |e| e.offset_s)
    }

    /// The share of prompt tokens a perfect prefix cache could serve: the blocks whose whole
    /// leading chain of ids came before (Mooncake), over all prompt tokens.
    pub fn prefix_reuse(&self) -> Option<f64> {
        if self.entries.iter().all(|e| e.hash_ids.is_empty()) {
            return None;
        }
        let mut seen = std::collections::HashSet::new();
        let (mut reusable, mut total) = (0usize, 0usize);
        for e in &self.entries {
            total += e.input_tokens;
            let mut chain = 0u64;
            let mut prefix_ok = true;
            for (k, id) in e.hash_ids.iter().enumerate() {
                chain = chain.wrapping_mul(0x100_0000_01b3) ^ id;
                let block = BLOCK_TOKENS.min(e.input_tokens.saturating_sub(k * BLOCK_TOKENS));
                if prefix_ok && seen.contains(&chain) {
                    reusable += block;
                } else {
                    prefix_ok = false;
                }
                seen.insert(chain);
            }
        }
        (total > 0).then(|| reusable as f64 / total as f64)
    }
}

/// A trace as a workload's source: its entries, and the text of each hash block, made once
/// (so that every request naming a block sends exactly the same text).
#[derive(Debug, Clone)]
pub struct Replay {
    pub trace: std::sync::Arc<Trace>,
    /// When the trace names sessions: each conversation's entries, in time order, the
    /// conversations ordered by their first entry (an entry without a session is one alone).
    pub sessions: Option<std::sync::Arc<Vec<Vec<usize>>>>,
    blocks: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u64, std::sync::Arc<str>>>>,
}

impl Replay {
    pub fn new(trace: Trace) -> Replay {
        Replay {
            sessions: group_sessions(&trace.entries).map(std::sync::Arc::new),
            trace: std::sync::Arc::new(trace),
            blocks: Default::default(),
        }
    }

    /// The arrival offsets, in seconds, in request order.
    pub fn offsets(&self) -> Vec<f64> {
        self.trace.entries.iter().map(|e| e.offset_s).collect()
    }

    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "format": crate::units::Named::name(self.trace.format),
            "entries": self.trace.entries.len(),
            "span_s": self.trace.span_s(),
            "time_scale": self.trace.scale,
            "prefix_reuse": self.trace.prefix_reuse(),
            "sessions": self.sessions.as_ref().map(|s| s.len()),
        })
    }
}

/// The conversations of a trace whose entries name sessions (None when none does).
fn group_sessions(entries: &[TraceEntry]) -> Option<Vec<Vec<usize>>> {
    entries.iter().any(|e| e.session.is_some()).then(|| {
        let mut index = std::collections::HashMap::<u64, usize>::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            match e.session.and_then(|s| index.get(&s).copied()) {
                Some(g) => groups[g].push(i),
                None => {
                    if let Some(s) = e.session {
                        index.insert(s, groups.len());
                    }
                    groups.push(vec![i]);
                }
            }
        }
        groups
    })
}

/// A session id as a number: the number itself, else a hash of the text.
fn session_id(text: &str) -> Option<u64> {
    let t = text.trim().trim_matches('"');
    if t.is_empty() {
        return None;
    }
    Some(t.parse().unwrap_or_else(|_| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        t.hash(&mut h);
        h.finish()
    }))
}

impl super::Workload {
    /// Request `i` of a trace: entry i (cycled). A prompt is sent as given (after the run's
    /// tag); Mooncake blocks are each one shared text of 512 tokens (tagged with the run's
    /// nonce, so reruns stay cold while the trace's own sharing is kept), the last one cut to
    /// the entry's length; other entries get unique text of their length.
    pub(super) fn trace_request(&self, r: &Replay, i: u64) -> (super::Content, u32) {
        let e = &r.trace.entries[(i % r.trace.entries.len() as u64) as usize];
        let out = e.output_tokens.unwrap_or(self.opts.max_tokens);
        if let Some(p) = &e.prompt {
            let tag = self.tag(i);
            let text = if tag.is_empty() {
                p.clone()
            } else {
                format!("{tag} {p}")
            };
            return (super::Content::Prompt(text), out);
        }
        let mut parts: Vec<std::sync::Arc<str>> = Vec::new();
        let mut left = e.input_tokens;
        let mut tail_tag = self.tag(i);
        for id in &e.hash_ids {
            if left < BLOCK_TOKENS {
                // The last block, cut to the entry's length: text of its own.
                tail_tag = self.block_tag(*id);
                break;
            }
            parts.push(self.block(r, *id));
            left -= BLOCK_TOKENS;
        }
        let mut head = parts.join("\n");
        if left == 0 {
            return (super::Content::Prompt(head), out);
        }
        if !head.is_empty() {
            head.push('\n');
        }
        // The joins between blocks may merge or add tokens: the tail absorbs the difference,
        // so the whole prompt has exactly the entry's length under the tokenizer.
        let tok = self.tokenizer.as_deref().expect("traces have a tokenizer");
        let mut n = left;
        let mut prompt = String::new();
        for _ in 0..4 {
            prompt = format!("{head}{}", self.text(n, &tail_tag, &mut self.rng(6, i)));
            let diff = tok.count(&prompt) as i64 - e.input_tokens as i64;
            if diff == 0 || (n == 1 && diff > 0) {
                break;
            }
            n = (n as i64 - diff).max(1) as usize;
        }
        (super::Content::Prompt(prompt), out)
    }

    fn block_tag(&self, id: u64) -> String {
        match &self.nonce {
            Some(n) => format!("[{n}-h{id}]"),
            None => format!("[h{id}]"),
        }
    }

    fn block(&self, r: &Replay, id: u64) -> std::sync::Arc<str> {
        let mut blocks = r.blocks.lock().unwrap_or_else(|e| e.into_inner());
        blocks
            .entry(id)
            .or_insert_with(|| {
                let mut rng = self.rng(7, id);
                self.text(BLOCK_TOKENS, &self.block_tag(id), &mut rng)
                    .into()
            })
            .clone()
    }

    /// Turn `turn` of a trace's conversation `conv`: the history so far (the user messages
    /// sent, the server's answers in `h`), then a new user message. An entry's prompt length
    /// is taken as the whole prompt (a stateless API's request holds the history): the new
    /// message fills what the history leaves, at least [`MIN_TURN_TOKENS`]. A prompt given as
    /// text is sent as the new message. Without a real answer (a synthetic history) the
    /// previous turn's answer is generated text of its output length.
    pub fn trace_turn_body(&self, conv: u64, turn: u64, h: &mut super::History) -> Bytes {
        let super::Source::Trace(r) = &self.source else {
            return self.body(conv);
        };
        let Some(turns) = r.sessions.as_ref().and_then(|s| s.get(conv as usize)) else {
            return self.body(conv);
        };
        let Some(i) = turns.get(turn as usize) else {
            return self.body(conv);
        };
        let tok = self.tokenizer.as_deref().expect("traces have a tokenizer");
        let mut rng = self.rng(6, *i as u64);
        let t = turn as usize;
        if t > 0 && h.answers.len() < t {
            let prev = &r.trace.entries[turns[t - 1]];
            let n = prev.output_tokens.unwrap_or(self.opts.max_tokens) as usize;
            let a = self.text(n, "", &mut rng);
            h.answers.push(a);
        }
        if t > 0 {
            h.tokens += tok.count(&h.answers[t - 1]);
        }
        let e = &r.trace.entries[*i];
        let tag = if t == 0 {
            self.tag(*i as u64)
        } else {
            String::new()
        };
        let user = match &e.prompt {
            Some(p) if tag.is_empty() => p.clone(),
            Some(p) => format!("{tag} {p}"),
            None => {
                let n = e.input_tokens.saturating_sub(h.tokens).max(MIN_TURN_TOKENS);
                self.text(n, &tag, &mut rng)
            }
        };
        h.tokens += tok.count(&user);
        h.users.push(user);
        let mut msgs = Vec::with_capacity(2 * h.users.len());
        for (k, u) in h.users.iter().enumerate() {
            msgs.push(serde_json::json!({"role": "user", "content": u}));
            if let Some(a) = h.answers.get(k).filter(|_| k < t) {
                msgs.push(serde_json::json!({"role": "assistant", "content": a}));
            }
        }
        let out = e.output_tokens.unwrap_or(self.opts.max_tokens);
        super::render_body(&self.opts, &super::Content::Messages(msgs), out)
    }

    /// A trace's conversations (entry indices), when its entries name sessions.
    pub fn trace_sessions(&self) -> Option<std::sync::Arc<Vec<Vec<usize>>>> {
        match &self.source {
            super::Source::Trace(r) => r.sessions.clone(),
            _ => None,
        }
    }

    /// A trace's arrival offsets (seconds), when the workload is one.
    pub fn trace_offsets(&self) -> Option<Vec<f64>> {
        match &self.source {
            super::Source::Trace(r) => Some(r.offsets()),
            _ => None,
        }
    }
}

/// Read `path`: detect or apply the format, parse, cut and scale.
pub fn load(path: &Path, spec: &TraceSpec) -> anyhow::Result<Trace> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--trace {}: cannot read it", path.display()))?;
    let format = match spec.format {
        Some(f) => f,
        None => detect(&text).with_context(|| {
            format!(
                "--trace {}: not a Mooncake JSONL, BurstGPT CSV or plain JSONL trace; name the format with --trace-format",
                path.display()
            )
        })?,
    };
    let raw = match format {
        TraceFormat::Burstgpt => burstgpt(&text),
        TraceFormat::Mooncake | TraceFormat::Jsonl => jsonl(&text, format),
    }
    .with_context(|| format!("--trace {}", path.display()))?;
    let entries = cut(raw, spec);
    if entries.is_empty() {
        bail!(
            "--trace {}: no request left after --trace-start/--trace-duration",
            path.display()
        );
    }
    Ok(Trace {
        format,
        entries,
        scale: spec.scale,
    })
}

fn detect(text: &str) -> Option<TraceFormat> {
    let first = text.lines().find(|l| !l.trim().is_empty())?.trim();
    if first.to_ascii_lowercase().contains("request tokens") {
        return Some(TraceFormat::Burstgpt);
    }
    let v: serde_json::Value = serde_json::from_str(first).ok()?;
    if v.get("hash_ids").is_some() || v.get("input_length").is_some() {
        Some(TraceFormat::Mooncake)
    } else if v.get("timestamp").is_some() {
        Some(TraceFormat::Jsonl)
    } else {
        None
    }
}

/// (timestamp s, entry with offset unset), in file order.
type Raw = Vec<(f64, TraceEntry)>;

fn jsonl(text: &str, format: TraceFormat) -> anyhow::Result<Raw> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("line {}", n + 1);
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}: not JSON", at()))?;
        let num = |k: &str| v.get(k).and_then(serde_json::Value::as_f64);
        let ts = num("timestamp").with_context(|| format!("{}: no \"timestamp\" (ms)", at()))?;
        let entry = match format {
            TraceFormat::Mooncake => TraceEntry {
                offset_s: 0.0,
                input_tokens: num("input_length")
                    .with_context(|| format!("{}: no \"input_length\"", at()))?
                    as usize,
                output_tokens: num("output_length").map(|x| x as u32),
                hash_ids: v
                    .get("hash_ids")
                    .and_then(|h| h.as_array())
                    .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
                    .unwrap_or_default(),
                prompt: None,
                session: None,
            },
            _ => {
                let prompt = v.get("prompt").and_then(|p| p.as_str()).map(String::from);
                let input = num("input_tokens");
                if prompt.is_none() && input.is_none() {
                    bail!("{}: needs a \"prompt\" or \"input_tokens\"", at());
                }
                TraceEntry {
                    offset_s: 0.0,
                    input_tokens: input.unwrap_or(0.0) as usize,
                    output_tokens: num("output_tokens").map(|x| x as u32),
                    hash_ids: Vec::new(),
                    prompt,
                    session: v.get("session_id").and_then(|s| match s {
                        serde_json::Value::String(t) => session_id(t),
                        other => session_id(&other.to_string()),
                    }),
                }
            }
        };
        out.push((ts / 1e3, entry));
    }
    Ok(out)
}

fn burstgpt(text: &str) -> anyhow::Result<Raw> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let head: Vec<String> = lines
        .next()
        .context("empty file")?
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let col = |name: &str| {
        head.iter().position(|c| c == name).with_context(|| {
            format!("no \"{name}\" column (BurstGPT: Timestamp, Request tokens, Response tokens)")
        })
    };
    let (t, req, resp) = (
        col("timestamp")?,
        col("request tokens")?,
        col("response tokens")?,
    );
    let session = head
        .iter()
        .position(|c| matches!(c.as_str(), "session id" | "sessionid" | "session_id"));
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |i: usize| -> anyhow::Result<f64> {
            cells
                .get(i)
                .and_then(|c| c.parse().ok())
                .with_context(|| format!("line {}: column {} is not a number", n + 2, i + 1))
        };
        out.push((
            get(t)?,
            TraceEntry {
                offset_s: 0.0,
                input_tokens: get(req)? as usize,
                output_tokens: Some(get(resp)? as u32),
                hash_ids: Vec::new(),
                prompt: None,
                session: session
                    .and_then(|i| cells.get(i))
                    .and_then(|c| session_id(c)),
            },
        ));
    }
    Ok(out)
}

/// Sort by time, keep the window, make offsets from its first request, scale them.
fn cut(mut raw: Raw, spec: &TraceSpec) -> Vec<TraceEntry> {
    raw.sort_by(|a, b| a.0.total_cmp(&b.0));
    let Some(t0) = raw.first().map(|r| r.0) else {
        return Vec::new();
    };
    let from = t0 + spec.start_s.max(0.0);
    let to = spec.duration_s.map_or(f64::INFINITY, |d| from + d);
    let kept: Vec<(f64, TraceEntry)> = raw
        .into_iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .take(spec.max_requests.map_or(usize::MAX, |m| m as usize))
        .collect();
    let first = kept.first().map_or(0.0, |r| r.0);
    let scale = if spec.scale > 0.0 { spec.scale } else { 1.0 };
    kept.into_iter()
        .map(|(t, mut e)| {
            e.offset_s = (t - first) * scale;
            e
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TraceSpec {
        TraceSpec {
            scale: 1.0,
            ..Default::default()
        }
    }

    #[test]
    fn formats_are_detected_and_cut() {
        let m = "{\"timestamp\": 1000, \"input_length\": 600, \"output_length\": 5, \"hash_ids\": [1, 2]}\n{\"timestamp\": 0, \"input_length\": 100, \"output_length\": 3, \"hash_ids\": [7]}\n";
        assert_eq!(detect(m), Some(TraceFormat::Mooncake));
        let e = cut(jsonl(m, TraceFormat::Mooncake).unwrap(), &spec());
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].offset_s, e[0].input_tokens), (0.0, 100));
        assert_eq!((e[1].offset_s, e[1].hash_ids.clone()), (1.0, vec![1, 2]));
        let b = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,10,20,30,Conversation log\n7.5,GPT-4,11,21,32,API log\n";
        assert_eq!(detect(b), Some(TraceFormat::Burstgpt));
        let half = TraceSpec {
            scale: 2.0,
            start_s: 1.0,
            ..spec()
        };
        let e = cut(burstgpt(b).unwrap(), &half);
        assert_eq!(e.len(), 1, "the first second is cut");
        assert_eq!((e[0].offset_s, e[0].output_tokens), (0.0, Some(21)));
        let e = cut(
            burstgpt(b).unwrap(),
            &TraceSpec {
                scale: 2.0,
                ..spec()
            },
        );
        assert_eq!(e[1].offset_s, 5.0, "2.5 s apart, twice as slow");
        let p = "{\"timestamp\": 0, \"prompt\": \"hi\"}\n";
        assert_eq!(detect(p), Some(TraceFormat::Jsonl));
        assert!(jsonl("{\"timestamp\": 0}\n", TraceFormat::Jsonl)
            .unwrap_err()
            .to_string()
            .contains("prompt"));
    }

    #[test]
    fn prefix_reuse_counts_leading_blocks_seen_before() {
        let entry = |ids: Vec<u64>, n: usize| TraceEntry {
            offset_s: 0.0,
            input_tokens: n,
            output_tokens: None,
            hash_ids: ids,
            prompt: None,
            session: None,
        };
        let t = Trace {
            scale: 1.0,
            format: TraceFormat::Mooncake,
            entries: vec![
                entry(vec![1, 2], 1024),
                entry(vec![1, 2, 3], 1500),
                entry(vec![9, 2], 1024), // block 2 after another first block: not a prefix
            ],
        };
        // Of 3548 prompt tokens, the second request's first two blocks (1024) are reusable.
        assert_eq!(t.prefix_reuse(), Some(1024.0 / 3548.0));
    }
}
