//! Request traces: when each request arrived and how long its prompt and answer were.
//!
//! - Mooncake (JSONL): `timestamp` (ms), `input_length`, `output_length`, `hash_ids` (one per
//!   512-token block: requests with the same leading ids share exactly those blocks).
//! - BurstGPT (CSV): `Timestamp` (s), `Request tokens`, `Response tokens`.
//! - Plain JSONL: `timestamp` (ms) with a `prompt` (text) or `input_tokens`, and optionally
//!   `output_tokens`.
//!
//! The format is detected from the content unless given. Offsets are from the first request
//! kept; `start_s`/`duration_s` cut the trace (in its own time), `scale` stretches it.

use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// Tokens per Mooncake hash block.
pub const BLOCK_TOKENS: usize = 512;

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
    blocks: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<u64, std::sync::Arc<str>>>>,
}

impl Replay {
    pub fn new(trace: Trace) -> Replay {
        Replay {
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
        })
    }
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
        let mut rng = self.rng(6, i);
        let mut parts: Vec<std::sync::Arc<str>> = Vec::new();
        let mut left = e.input_tokens;
        for id in &e.hash_ids {
            if left == 0 {
                break;
            }
            if left >= BLOCK_TOKENS {
                parts.push(self.block(r, *id));
                left -= BLOCK_TOKENS;
            } else {
                let tag = self.block_tag(*id);
                parts.push(self.text(left, &tag, &mut rng).into());
                left = 0;
            }
        }
        if left > 0 {
            parts.push(self.text(left, &self.tag(i), &mut rng).into());
        }
        (super::Content::Prompt(parts.join("\n")), out)
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
