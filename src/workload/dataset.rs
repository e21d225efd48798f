//! Datasets: request files (JSONL, ShareGPT JSON) and synthetic text of an exact token length.

use std::path::Path;

use anyhow::{bail, Context};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::tokenizer::Tokenizer;
use super::words::WORDS;
use crate::protocol::Content;

/// One request of a file dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub content: Content,
    pub max_tokens: Option<u32>,
}

fn entry_from(v: &Value, path: &Path, line: usize) -> anyhow::Result<Entry> {
    let at = || format!("{}:{line}", path.display());
    let obj = v
        .as_object()
        .with_context(|| format!("{}: expected a JSON object", at()))?;
    let max_tokens = match obj.get("max_tokens") {
        None | Some(Value::Null) => None,
        Some(m) => Some(
            m.as_u64()
                .filter(|n| *n >= 1 && *n <= u32::MAX as u64)
                .with_context(|| {
                    format!("{}: max_tokens must be a positive integer, got {m}", at())
                })? as u32,
        ),
    };
    let content = if let Some(p) = obj.get("prompt") {
        Content::Prompt(
            p.as_str()
                .with_context(|| format!("{}: prompt must be a string", at()))?
                .to_string(),
        )
    } else if let Some(m) = obj.get("messages") {
        let msgs = m
            .as_array()
            .filter(|a| !a.is_empty())
            .with_context(|| format!("{}: messages must be a non-empty array", at()))?;
        for (k, msg) in msgs.iter().enumerate() {
            if msg.get("role").and_then(Value::as_str).is_none() || msg.get("content").is_none() {
                bail!("{}: messages[{k}] needs a role and a content", at());
            }
        }
        Content::Messages(msgs.clone())
    } else {
        bail!("{}: each line needs \"prompt\" or \"messages\"", at());
    };
    Ok(Entry {
        content,
        max_tokens,
    })
}

/// Read a dataset file: JSONL (one `{"prompt"}` or `{"messages"}` per line, optional
/// `max_tokens`), or ShareGPT JSON (an array of `{"conversations": [{"from", "value"}]}`: the first
/// human turn is the prompt, the first reply's length the output length).
pub fn load(path: &Path, tokenizer: Option<&Tokenizer>) -> anyhow::Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--dataset {}: cannot read the file", path.display()))?;
    let entries = if path.extension().and_then(|e| e.to_str()) == Some("json") {
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("--dataset {}: not valid JSON", path.display()))?;
        let items = v.as_array().with_context(|| {
            format!(
                "--dataset {}: expected a ShareGPT array of conversations",
                path.display()
            )
        })?;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let conv = item
                .get("conversations")
                .and_then(Value::as_array)
                .with_context(|| {
                    format!(
                        "--dataset {}: item {i} has no \"conversations\" array",
                        path.display()
                    )
                })?;
            let turn = |who: &[&str]| {
                conv.iter()
                    .find(|t| {
                        t.get("from")
                            .and_then(Value::as_str)
                            .is_some_and(|f| who.contains(&f))
                    })
                    .and_then(|t| t.get("value").and_then(Value::as_str))
            };
            let Some(prompt) = turn(&["human", "user"]) else {
                continue; // conversations without a human turn are skipped, as other tools do
            };
            let max_tokens = turn(&["gpt", "assistant", "chatgpt"]).map(|reply| match tokenizer {
                Some(t) => t.count(reply).max(1) as u32,
                None => (reply.len() as u32).div_ceil(4).max(1),
            });
            out.push(Entry {
                content: Content::Prompt(prompt.to_string()),
                max_tokens,
            });
        }
        out
    } else {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line)
                .with_context(|| format!("--dataset {}:{}: invalid JSON", path.display(), i + 1))?;
            out.push(entry_from(&v, path, i + 1)?);
        }
        out
    };
    if entries.is_empty() {
        bail!("--dataset {}: no requests in the file", path.display());
    }
    Ok(entries)
}

/// Words that are one token each after a space under `tok`: joined by spaces, their token
/// counts add up, which makes exact lengths cheap to reach.
pub fn single_token_words(tok: &Tokenizer) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = WORDS
        .iter()
        .copied()
        .filter(|w| tok.count(&format!(" {w}")) == 1)
        .collect();
    v.sort_unstable();
    v.dedup();
    if v.len() < 16 {
        v = WORDS.to_vec(); // an unusual tokenizer: the correction loop below still gets exact
    }
    v
}

/// The tokens of a prompt's tag (none without one).
fn tag_tokens(tok: &Tokenizer, prefix: &str) -> usize {
    if prefix.is_empty() {
        0
    } else {
        tok.count(prefix)
    }
}

/// Text of exactly `n` tokens under `tok` (when reachable), starting with `prefix`, made from
/// real words drawn with `rng`.
pub fn exact_text(
    n: usize,
    prefix: &str,
    tok: &Tokenizer,
    words: &[&'static str],
    rng: &mut SmallRng,
) -> String {
    let mut parts: Vec<&'static str> = Vec::new();
    let render = |parts: &[&'static str]| tagged(prefix, parts.len(), parts.iter().copied());
    let base = tag_tokens(tok, prefix);
    let want = n.max(base + 1);
    for _ in 0..(want - base) {
        parts.push(words[rng.gen_range(0..words.len())]);
    }
    for _ in 0..16 {
        let c = tok.count(&render(&parts));
        if c == want {
            break;
        }
        if c < want {
            for _ in 0..(want - c) {
                parts.push(words[rng.gen_range(0..words.len())]);
            }
        } else {
            let drop = (c - want).min(parts.len().saturating_sub(1)).max(1);
            parts.truncate(parts.len().saturating_sub(drop));
        }
    }
    render(&parts)
}

/// Whether `tok` counts a tagged text of `words` as its tag's tokens plus one per word (its
/// pre-tokenizer splits at spaces, as BPE tokenizers with a regex or Metaspace split do):
/// checked on 16 texts shaped as the prompts are (a run's tag, then 1 to 256 words).
pub fn counts_add_up(tok: &Tokenizer, words: &[&'static str]) -> bool {
    if words.len() < 16 {
        return false;
    }
    let mut rng = SmallRng::seed_from_u64(0x5EED);
    (0..16u64).all(|k| {
        let tag = format!("[{:08x}-{}]", rng.gen::<u32>(), rng.gen_range(0..1_000_000));
        let n = 1 + (k as usize * 17 + rng.gen_range(0..13)) % 256;
        let text = text_by_words(n, &tag, tok, words, &mut rng);
        tok.count(&text) == n.max(tok.count(&tag) + 1)
    })
}

/// [`exact_text`] for a tokenizer whose counts add up word by word ([`counts_add_up`]) and a
/// text with a tag: the tag's tokens, then one word per token, without counting the whole.
pub fn text_by_words(
    n: usize,
    prefix: &str,
    tok: &Tokenizer,
    words: &[&'static str],
    rng: &mut SmallRng,
) -> String {
    let base = tag_tokens(tok, prefix);
    let count = n.max(base + 1) - base;
    tagged(
        prefix,
        count,
        (0..count).map(|_| words[rng.gen_range(0..words.len())]),
    )
}

/// `prefix`, then `words` (about `count` of them), each after a space.
fn tagged<'a>(prefix: &str, count: usize, words: impl Iterator<Item = &'a str>) -> String {
    let mut s = String::with_capacity(prefix.len() + count * 8);
    s.push_str(prefix);
    for (k, w) in words.enumerate() {
        if k > 0 || !prefix.is_empty() {
            s.push(' ');
        }
        s.push_str(w);
    }
    s
}

/// `shared-prefix`: `prefix_groups` prefixes of exactly `prefix_tokens` tokens, each tagged
/// with the run's nonce so that a new run meets a cold cache.
pub(super) fn shared_prefix(
    spec: &super::DatasetSpec,
    seed: u64,
    nonce: Option<&str>,
    tok: &Tokenizer,
    words: &[&'static str],
    input: super::Len,
    output: Option<super::Len>,
) -> anyhow::Result<super::Source> {
    if spec.prefix_groups == 0 || spec.prefix_tokens == 0 {
        anyhow::bail!("--prefix-groups and --prefix-tokens must be at least 1");
    }
    let prefixes = (0..spec.prefix_groups)
        .map(|g| {
            let tag = match nonce {
                Some(n) => format!("[{n}-g{g}]"),
                None => format!("[g{g}]"),
            };
            let mut rng = <SmallRng as rand::SeedableRng>::seed_from_u64(seed ^ 0xA5A5_0000 ^ g);
            exact_text(spec.prefix_tokens, &tag, tok, words, &mut rng)
        })
        .collect();
    Ok(super::Source::SharedPrefix {
        prefix_tokens: spec.prefix_tokens,
        groups: spec.prefix_groups,
        input,
        output,
        prefixes: std::sync::Arc::new(prefixes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn exact_lengths_under_cl100k() {
        let tok = Tokenizer::load("cl100k_base").unwrap();
        let words = single_token_words(&tok);
        assert!(words.len() > 200, "{}", words.len());
        let mut rng = SmallRng::seed_from_u64(1);
        for n in [1, 2, 7, 64, 513] {
            let t = exact_text(n, "", &tok, &words, &mut rng);
            assert_eq!(tok.count(&t), n, "{t:?}");
            let t = exact_text(n.max(10), "[ab12cd34-5]", &tok, &words, &mut rng);
            assert_eq!(tok.count(&t), n.max(10));
        }
    }

    #[test]
    fn word_by_word_prompts_are_exact_where_counts_add_up() {
        for name in ["cl100k_base", "o200k_base"] {
            let tok = Tokenizer::load(name).unwrap();
            let words = single_token_words(&tok);
            assert!(counts_add_up(&tok, &words), "{name}");
            // Prompts as the workload tags them, each counted whole: exactly n.
            let mut rng = SmallRng::seed_from_u64(7);
            for k in 0..300u64 {
                let n = 1 + (k as usize * 37) % 900;
                let tag = format!("[{:08x}-{k}]", rng.gen::<u32>());
                let t = text_by_words(n.max(12), &tag, &tok, &words, &mut rng);
                assert_eq!(tok.count(&t), n.max(12), "{name}: {t:?}");
            }
        }
        // Words that are not one token each do not add up: the whole prompt is counted.
        let tok = Tokenizer::load("cl100k_base").unwrap();
        let long: Vec<&'static str> = super::WORDS
            .iter()
            .copied()
            .filter(|w| tok.count(&format!(" {w}")) > 1)
            .chain(["antidisestablishmentarianism"; 16])
            .collect();
        assert!(!counts_add_up(&tok, &long));
    }

    #[test]
    fn bad_files_name_the_line_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.jsonl");
        std::fs::write(&p, "{\"prompt\": \"hi\"}\n{\"messages\": []}\n").unwrap();
        let e = format!("{:#}", load(&p, None).unwrap_err());
        assert!(e.contains("d.jsonl:2") && e.contains("messages"), "{e}");
        std::fs::write(&p, "{\"prompt\": \"hi\", \"max_tokens\": -3}\n").unwrap();
        let e = format!("{:#}", load(&p, None).unwrap_err());
        assert!(e.contains("d.jsonl:1") && e.contains("max_tokens"), "{e}");
        std::fs::write(&p, "{\"prompt\": \"hi\"}\nnot json\n").unwrap();
        let e = format!("{:#}", load(&p, None).unwrap_err());
        assert!(e.contains("d.jsonl:2") && e.contains("invalid JSON"), "{e}");
        std::fs::write(&p, "{\"text\": \"hi\"}\n").unwrap();
        assert!(format!("{:#}", load(&p, None).unwrap_err()).contains("\"prompt\" or \"messages\""));
    }

    #[test]
    fn jsonl_and_sharegpt_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.jsonl");
        std::fs::write(&p, "{\"prompt\": \"hi\", \"max_tokens\": 5}\n\n{\"messages\": [{\"role\": \"user\", \"content\": \"yo\"}]}\n").unwrap();
        let e = load(&p, None).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].max_tokens, Some(5));
        assert!(matches!(e[1].content, Content::Messages(_)));
        let s = dir.path().join("share.json");
        std::fs::write(&s, r#"[{"conversations": [{"from": "human", "value": "What is up?"}, {"from": "gpt", "value": "Not much at all, thanks."}]}, {"conversations": [{"from": "gpt", "value": "x"}]}]"#).unwrap();
        let tok = Tokenizer::load("cl100k_base").unwrap();
        let e = load(&s, Some(&tok)).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].content, Content::Prompt("What is up?".into()));
        assert_eq!(
            e[0].max_tokens,
            Some(tok.count("Not much at all, thanks.") as u32)
        );
    }
}
