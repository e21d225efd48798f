//! WHAT to send: the built-in prompts and the request bodies of each dialect.
//!
//! Bodies are rendered before the request's `sent` timestamp, so building them never counts as
//! latency. By default every request starts with a short unique prefix, so that a server's
//! prefix cache cannot make a repeated prompt look fast; `--warm-cache` turns that off.

mod conversation;
pub mod dataset;
mod prompts;
pub mod tokenizer;
pub mod trace;
mod words;

use std::sync::Arc;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::Distribution;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use crate::protocol::{render_body, BodyOptions, Content};
pub use conversation::{History, Sessions, Think};
pub use dataset::Entry;
pub use prompts::{prompts, PROMPTS_LONG, PROMPTS_MEDIUM, PROMPTS_SHORT};
pub use tokenizer::Tokenizer;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptSize {
    Short,
    Medium,
    Long,
    /// All 15, short, medium and long in turn.
    Mixed,
}

impl crate::units::Named for PromptSize {
    const ALL: &'static [PromptSize] = &[
        PromptSize::Short,
        PromptSize::Medium,
        PromptSize::Long,
        PromptSize::Mixed,
    ];
    fn name(self) -> &'static str {
        match self {
            PromptSize::Short => "short",
            PromptSize::Medium => "medium",
            PromptSize::Long => "long",
            PromptSize::Mixed => "mixed",
        }
    }
}

/// A length drawn from a normal distribution, rounded, at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Len {
    pub mean: f64,
    pub stddev: f64,
}

impl Len {
    fn draw(&self, rng: &mut SmallRng) -> usize {
        let v = match rand_distr::Normal::new(self.mean, self.stddev.max(0.0)) {
            Ok(n) if self.stddev > 0.0 => n.sample(rng),
            _ => self.mean,
        };
        v.round().max(1.0) as usize
    }
}

/// Where requests come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The 15 built-in prompts of one size.
    Builtin(PromptSize),
    /// Prompts of an exact token length (normal around `input`), from real words.
    Random { input: Len, output: Option<Len> },
    /// A JSONL or ShareGPT file, cycled in order.
    File {
        path: String,
        entries: Arc<Vec<Entry>>,
    },
    /// `groups` shared prefixes of `prefix_tokens`; request i uses prefix i % groups, then a
    /// unique part of `input` tokens.
    SharedPrefix {
        prefix_tokens: usize,
        groups: u64,
        input: Len,
        output: Option<Len>,
        prefixes: Arc<Vec<String>>,
    },
    /// A request trace: request i is entry i (cycled), its arrival the entry's offset in the
    /// open loop; Mooncake's hash blocks become shared text.
    Trace(trace::Replay),
    /// Conversations of `turns` turns; each request sends the history so far. In a closed
    /// loop each conversation is one user (see [`Sessions`]).
    MultiTurn {
        turns: u64,
        input: Len,
        output: Option<Len>,
        sessions: Sessions,
    },
}

/// How to build a workload (from the command line or a config file).
#[derive(Debug, Clone, Default)]
pub struct DatasetSpec {
    /// `builtin`, `random`, `shared-prefix`, `multi-turn`, or a file path.
    pub dataset: String,
    pub prompt: Option<PromptSize>,
    pub input_tokens: f64,
    pub input_stddev: f64,
    pub output_tokens: Option<f64>,
    pub output_stddev: f64,
    pub prefix_tokens: usize,
    pub prefix_groups: u64,
    pub turns: u64,
    pub sessions: Option<Sessions>,
    /// `--trace FILE` and how to read it.
    pub trace: Option<(std::path::PathBuf, trace::TraceSpec)>,
    pub tokenizer: Option<String>,
    pub seed: Option<u64>,
    pub warm_cache: bool,
}

/// The requests of a run: request `i` is a pure function of the seed and `i`.
#[derive(Debug, Clone)]
pub struct Workload {
    pub opts: BodyOptions,
    pub source: Source,
    pub seed: u64,
    /// Unique per run (derived from `--seed` when given); `None` with `--warm-cache`.
    pub nonce: Option<String>,
    pub tokenizer: Option<Arc<Tokenizer>>,
    words: Arc<Vec<&'static str>>,
    /// The tokenizer counts texts of `words` word by word (checked on samples when the
    /// workload is built): a synthetic prompt's length needs no count of the whole prompt.
    additive: bool,
}

fn fnv1a(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

impl Workload {
    pub fn build(spec: &DatasetSpec, opts: BodyOptions) -> anyhow::Result<Workload> {
        let seed = spec.seed.unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32)
        });
        let nonce = (!spec.warm_cache).then(|| match spec.seed {
            Some(s) => format!("{:08x}", fnv1a(&s.to_le_bytes(), FNV_OFFSET) as u32),
            None => run_nonce(),
        });
        let synthetic = !matches!(spec.dataset.as_str(), "" | "builtin") || spec.trace.is_some();
        let tokenizer = match (&spec.tokenizer, synthetic) {
            (Some(t), _) => Some(Tokenizer::load(t)?),
            (None, true) => Some(Tokenizer::load("cl100k_base")?),
            (None, false) => None,
        };
        let words = Arc::new(
            tokenizer
                .as_deref()
                .map(dataset::single_token_words)
                .unwrap_or_default(),
        );
        let additive = tokenizer
            .as_deref()
            .is_some_and(|t| dataset::counts_add_up(t, &words));
        let input = Len {
            mean: spec.input_tokens,
            stddev: spec.input_stddev,
        };
        let output = spec.output_tokens.map(|m| Len {
            mean: m,
            stddev: spec.output_stddev,
        });
        if synthetic
            && matches!(
                spec.dataset.as_str(),
                "random" | "shared-prefix" | "multi-turn"
            )
        {
            for (v, name) in [
                (spec.input_tokens, "--input-tokens"),
                (spec.output_tokens.unwrap_or(1.0), "--output-tokens"),
            ] {
                if v.is_nan() || v < 1.0 {
                    anyhow::bail!("{name} must be at least 1");
                }
            }
        }
        let source = match (&spec.trace, spec.dataset.as_str()) {
            (Some((path, t)), _) => Source::Trace(trace::Replay::new(trace::load(path, t)?)),
            (None, d) => Workload::source_of(
                spec,
                d,
                seed,
                nonce.as_deref(),
                tokenizer.as_deref(),
                &words,
                input,
                output,
            )?,
        };
        Ok(Workload {
            opts,
            source,
            seed,
            nonce,
            tokenizer,
            words,
            additive,
        })
    }

    /// The source a `--dataset` name (or file) gives.
    #[allow(clippy::too_many_arguments)]
    fn source_of(
        spec: &DatasetSpec,
        dataset: &str,
        seed: u64,
        nonce: Option<&str>,
        tokenizer: Option<&Tokenizer>,
        words: &[&'static str],
        input: Len,
        output: Option<Len>,
    ) -> anyhow::Result<Source> {
        Ok(match dataset {
            "" | "builtin" => Source::Builtin(spec.prompt.unwrap_or(PromptSize::Medium)),
            "random" => Source::Random { input, output },
            "shared-prefix" => {
                let tok = tokenizer.expect("synthetic datasets have a tokenizer");
                dataset::shared_prefix(spec, seed, nonce, tok, words, input, output)?
            }
            "multi-turn" => {
                if spec.turns == 0 {
                    anyhow::bail!("--turns must be at least 1");
                }
                Source::MultiTurn {
                    turns: spec.turns,
                    input,
                    output,
                    sessions: spec.sessions.unwrap_or(Sessions {
                        think: Think::Fixed(0.0),
                        synthetic_history: false,
                    }),
                }
            }
            path => {
                let entries = dataset::load(std::path::Path::new(path), tokenizer)?;
                Source::File {
                    path: path.to_string(),
                    entries: Arc::new(entries),
                }
            }
        })
    }

    /// The built-in prompts of one size, with the default unique prefix.
    pub fn builtin(size: PromptSize, opts: BodyOptions) -> Workload {
        Workload {
            opts,
            source: Source::Builtin(size),
            seed: 0,
            nonce: Some(run_nonce()),
            tokenizer: None,
            words: Arc::new(Vec::new()),
            additive: false,
        }
    }

    fn rng(&self, salt: u64, i: u64) -> SmallRng {
        SmallRng::seed_from_u64(self.seed ^ salt ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn tag(&self, i: u64) -> String {
        self.nonce
            .as_ref()
            .map(|n| format!("[{n}-{i}]"))
            .unwrap_or_default()
    }

    fn text(&self, n: usize, prefix: &str, rng: &mut SmallRng) -> String {
        let tok = self
            .tokenizer
            .as_deref()
            .expect("synthetic datasets have a tokenizer");
        if self.additive && !prefix.is_empty() {
            return dataset::text_by_words(n, prefix, tok, &self.words, rng);
        }
        dataset::exact_text(n, prefix, tok, &self.words, rng)
    }

    fn out_len(&self, output: &Option<Len>, rng: &mut SmallRng) -> u32 {
        output.map_or(self.opts.max_tokens, |o| o.draw(rng) as u32)
    }

    /// Request `i`: its content and output length.
    pub fn request(&self, i: u64) -> (Content, u32) {
        match &self.source {
            Source::Builtin(size) => {
                let all = prompts(*size);
                let base = all[(i % all.len() as u64) as usize];
                let p = match &self.nonce {
                    Some(n) => format!("[{n}-{i}] {base}"),
                    None => base.to_string(),
                };
                (Content::Prompt(p), self.opts.max_tokens)
            }
            Source::Random { input, output } => {
                let mut rng = self.rng(1, i);
                let n = input.draw(&mut rng);
                let out = self.out_len(output, &mut rng);
                (Content::Prompt(self.text(n, &self.tag(i), &mut rng)), out)
            }
            Source::File { entries, .. } => {
                let e = &entries[(i % entries.len() as u64) as usize];
                let tag = self.tag(i);
                let content = match (&e.content, tag.is_empty()) {
                    (c, true) => c.clone(),
                    (Content::Prompt(p), false) => Content::Prompt(format!("{tag} {p}")),
                    (Content::Messages(m), false) => {
                        let mut m = m.clone();
                        if let Some(Value::String(s)) =
                            m.first_mut().and_then(|x| x.get_mut("content"))
                        {
                            *s = format!("{tag} {s}");
                        }
                        Content::Messages(m)
                    }
                };
                (content, e.max_tokens.unwrap_or(self.opts.max_tokens))
            }
            Source::SharedPrefix {
                groups,
                input,
                output,
                prefixes,
                ..
            } => {
                let g = (i % groups) as usize;
                let mut rng = self.rng(2, i);
                let n = input.draw(&mut rng);
                let out = self.out_len(output, &mut rng);
                let suffix = self.text(n, &self.tag(i), &mut rng);
                (Content::Prompt(format!("{}\n\n{suffix}", prefixes[g])), out)
            }
            Source::MultiTurn { turns, .. } => self.turn_request(i / turns, i % turns, None),
            Source::Trace(t) => self.trace_request(t, i),
        }
    }

    /// Request `i`'s body. An embeddings request of batch B holds the dataset's entries
    /// i·B … i·B + B − 1.
    pub fn body(&self, i: u64) -> Bytes {
        let b = self.opts.options.batch() as u64;
        if self.opts.api == crate::protocol::Api::Embeddings && b > 1 {
            let contents: Vec<Content> = (i * b..i * b + b).map(|k| self.request(k).0).collect();
            return crate::protocol::render_batch(&self.opts, &contents, 1);
        }
        let (content, max_tokens) = self.request(i);
        render_body(&self.opts, &content, max_tokens)
    }

    /// The prompt text of request `i` (tests, `dataset`).
    pub fn prompt(&self, i: u64) -> String {
        match self.request(i).0 {
            Content::Prompt(p) => p,
            Content::Messages(m) => m
                .iter()
                .filter_map(|v| v.get("content").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n\n"),
        }
    }

    pub fn name(&self) -> &str {
        match &self.source {
            Source::Builtin(_) => "builtin",
            Source::Random { .. } => "random",
            Source::File { path, .. } => path,
            Source::SharedPrefix { .. } => "shared-prefix",
            Source::MultiTurn { .. } => "multi-turn",
            Source::Trace(_) => "trace",
        }
    }

    /// The dataset's name, parameters, seed and a hash of the bodies of requests `ids`.
    pub fn describe(&self, ids: impl IntoIterator<Item = u64>) -> Value {
        let mut h = FNV_OFFSET;
        let mut n = 0u64;
        for id in ids {
            h = fnv1a(&self.body(id), h);
            h = fnv1a(b"\n", h);
            n += 1;
        }
        let params = match &self.source {
            Source::Trace(t) => t.describe(),
            Source::Builtin(size) => json!({"prompt": size}),
            Source::Random { input, output } => {
                json!({"input_tokens": input, "output_tokens": output})
            }
            Source::File { entries, .. } => json!({"entries": entries.len()}),
            Source::SharedPrefix {
                prefix_tokens,
                groups,
                input,
                output,
                ..
            } => {
                json!({"prefix_tokens": prefix_tokens, "prefix_groups": groups, "input_tokens": input, "output_tokens": output})
            }
            Source::MultiTurn {
                turns,
                input,
                output,
                sessions,
            } => json!({"turns": turns, "input_tokens": input, "output_tokens": output,
                "think_time": sessions.think, "synthetic_history": sessions.synthetic_history}),
        };
        json!({
            "name": self.name(),
            "params": params,
            "seed": self.seed,
            "tokenizer": self.tokenizer.as_ref().map(|t| t.name()),
            "prompt_prefix_nonce": self.nonce,
            "requests": n,
            "requests_hash": format!("fnv1a64:{h:016x}"),
        })
    }
}

/// A short run-unique token for prompt prefixes (not secret, not seeded: it must differ
/// between runs so that a server's cache never serves one run's prompts to the next).
pub fn run_nonce() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{:08x}",
        (t.as_nanos() as u64 ^ std::process::id() as u64) as u32
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Api;

    fn opts(api: Api, stream: bool) -> BodyOptions {
        BodyOptions {
            api,
            model: "m".into(),
            max_tokens: 9,
            stream,
            temperature: Some(0.7),
            ignore_eos: false,
            include_usage: true,
            options: Default::default(),
        }
    }

    fn spec(dataset: &str, seed: u64) -> DatasetSpec {
        DatasetSpec {
            dataset: dataset.into(),
            input_tokens: 64.0,
            input_stddev: 8.0,
            output_tokens: Some(16.0),
            prefix_tokens: 100,
            prefix_groups: 3,
            turns: 3,
            seed: Some(seed),
            ..Default::default()
        }
    }

    #[test]
    fn fifteen_distinct_prompts() {
        let mut all: Vec<&str> = [PromptSize::Short, PromptSize::Medium, PromptSize::Long]
            .iter()
            .flat_map(|s| prompts(*s).iter().copied())
            .collect();
        assert_eq!(prompts(PromptSize::Mixed).len(), 15);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 15);
        assert!(PROMPTS_LONG
            .iter()
            .all(|p| p.len() > 3 * PROMPTS_MEDIUM[0].len()));
    }

    #[test]
    fn unique_prefix_by_default_and_repeatable_when_warm() {
        let mut w = Workload::builtin(PromptSize::Short, opts(Api::Chat, false));
        w.nonce = Some("abc".into());
        assert_ne!(w.prompt(0), w.prompt(5));
        assert!(w.prompt(0).starts_with("[abc-0] "));
        w.nonce = None;
        assert_eq!(w.prompt(0), w.prompt(5));
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        for ds in ["random", "shared-prefix", "multi-turn"] {
            let a = Workload::build(&spec(ds, 7), opts(Api::Chat, true)).unwrap();
            let b = Workload::build(&spec(ds, 7), opts(Api::Chat, true)).unwrap();
            let c = Workload::build(&spec(ds, 8), opts(Api::Chat, true)).unwrap();
            for i in 0..6 {
                assert_eq!(a.body(i), b.body(i), "{ds} {i}");
                assert_ne!(a.body(i), c.body(i), "{ds} {i}");
            }
            assert_eq!(
                a.describe(0..6)["requests_hash"],
                b.describe(0..6)["requests_hash"]
            );
            assert_ne!(
                a.describe(0..6)["requests_hash"],
                c.describe(0..6)["requests_hash"]
            );
        }
    }

    #[test]
    fn trace_prompts_have_exactly_the_traces_lengths() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/mooncake.jsonl");
        let mut s = spec("builtin", 3);
        let t = trace::TraceSpec {
            scale: 1.0,
            ..Default::default()
        };
        s.trace = Some((path.into(), t.clone()));
        let w = Workload::build(&s, opts(Api::Chat, true)).unwrap();
        let tok = w.tokenizer.clone().unwrap();
        let entries = trace::load(std::path::Path::new(path), &t).unwrap().entries;
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(tok.count(&w.prompt(i as u64)), e.input_tokens, "entry {i}");
        }
    }

    #[test]
    fn random_prompts_have_exactly_the_asked_token_count() {
        let mut s = spec("random", 3);
        s.input_stddev = 64.0;
        s.input_tokens = 512.0;
        let w = Workload::build(&s, opts(Api::Completions, true)).unwrap();
        let tok = w.tokenizer.clone().unwrap();
        let mut lens = Vec::new();
        for i in 0..1000 {
            let mut rng = w.rng(1, i);
            let want = Len {
                mean: 512.0,
                stddev: 64.0,
            }
            .draw(&mut rng);
            let p = w.prompt(i);
            assert_eq!(tok.count(&p), want, "request {i}");
            lens.push(want as f64);
        }
        let mean = lens.iter().sum::<f64>() / lens.len() as f64;
        assert!((mean - 512.0).abs() < 8.0, "mean length {mean}");
    }

    #[test]
    fn shared_prefix_groups_share_their_prefix_and_multi_turn_grows_history() {
        let w = Workload::build(&spec("shared-prefix", 1), opts(Api::Chat, true)).unwrap();
        let (p0, p3, p1) = (w.prompt(0), w.prompt(3), w.prompt(1));
        let head = |p: &str| p.split("\n\n").next().unwrap().to_string();
        assert_eq!(head(&p0), head(&p3));
        assert_ne!(head(&p0), head(&p1));
        assert_ne!(p0, p3);
        let tok = w.tokenizer.clone().unwrap();
        assert_eq!(tok.count(&head(&p0)), 100);

        let w = Workload::build(&spec("multi-turn", 1), opts(Api::Chat, true)).unwrap();
        let msgs = |i| match w.request(i).0 {
            Content::Messages(m) => m,
            _ => panic!(),
        };
        assert_eq!(msgs(0).len(), 1);
        assert_eq!(msgs(1).len(), 3);
        assert_eq!(msgs(2).len(), 5);
        assert_eq!(msgs(2)[..3], msgs(1)[..], "the history repeats exactly");
        assert_eq!(msgs(3).len(), 1, "a new conversation");
        assert_ne!(msgs(3)[0], msgs(0)[0]);
    }
}
