//! Tokenizers, offline: tiktoken's `cl100k_base` and `o200k_base` (embedded in the binary), or
//! any Hugging Face `tokenizer.json` (`--tokenizer path`, or a model's name found in the local
//! Hugging Face cache, never the network). Used to count output tokens when a server reports no
//! usage, and to build prompts of an exact token length.

use std::sync::Arc;

use anyhow::Context;

pub enum Tokenizer {
    Tiktoken {
        name: String,
        bpe: &'static tiktoken_rs::CoreBPE,
    },
    HuggingFace {
        path: String,
        tok: Box<tokenizers::Tokenizer>,
    },
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Tokenizer {
    /// `cl100k_base`, `o200k_base`, or a path to a `tokenizer.json`.
    pub fn load(spec: &str) -> anyhow::Result<Arc<Tokenizer>> {
        let t = match spec {
            "cl100k_base" => Tokenizer::Tiktoken {
                name: spec.into(),
                bpe: tiktoken_rs::cl100k_base_singleton(),
            },
            "o200k_base" => Tokenizer::Tiktoken {
                name: spec.into(),
                bpe: tiktoken_rs::o200k_base_singleton(),
            },
            spec => {
                let path = &resolve(spec, &hub_dirs())?;
                let mut tok = tokenizers::Tokenizer::from_file(path)
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .with_context(|| format!("tokenizer {path}: cannot load it"))?;
                // A published file may truncate (at the model's context) or pad (to a fixed
                // length): counting must see exactly the text, so both are turned off.
                tok.with_truncation(None)
                    .map_err(|e| anyhow::anyhow!("tokenizer {path}: {e}"))?;
                tok.with_padding(None);
                Tokenizer::HuggingFace {
                    path: path.into(),
                    tok: Box::new(tok),
                }
            }
        };
        Ok(Arc::new(t))
    }

    /// The name recorded for this tokenizer: the encoding, or the file's path.
    pub fn name(&self) -> String {
        match self {
            Tokenizer::Tiktoken { name, .. } => name.clone(),
            Tokenizer::HuggingFace { path, .. } => path.clone(),
        }
    }

    pub fn encode(&self, text: &str) -> Vec<u32> {
        match self {
            Tokenizer::Tiktoken { bpe, .. } => bpe.encode_ordinary(text),
            Tokenizer::HuggingFace { tok, .. } => tok
                .encode(text, false)
                .map(|e| e.get_ids().to_vec())
                .unwrap_or_default(),
        }
    }

    /// Tokens of `text`, without special tokens or a chat template.
    pub fn count(&self, text: &str) -> usize {
        self.encode(text).len()
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        match self {
            Tokenizer::Tiktoken { bpe, .. } => bpe.decode(ids.to_vec()).unwrap_or_default(),
            Tokenizer::HuggingFace { tok, .. } => tok.decode(ids, false).unwrap_or_default(),
        }
    }
}

/// The Hugging Face hub caches to search, in order: `$HF_HUB_CACHE`, `$HF_HOME/hub`,
/// `$XDG_CACHE_HOME/huggingface/hub`, `~/.cache/huggingface/hub`.
fn hub_dirs() -> Vec<std::path::PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
    };
    let mut dirs: Vec<std::path::PathBuf> = Vec::new();
    dirs.extend(var("HF_HUB_CACHE"));
    dirs.extend(var("HF_HOME").map(|h| h.join("hub")));
    dirs.extend(var("XDG_CACHE_HOME").map(|h| h.join("huggingface/hub")));
    dirs.extend(var("HOME").map(|h| h.join(".cache/huggingface/hub")));
    dirs.dedup();
    dirs
}

/// A `tokenizer.json` for `spec`: the file itself, a directory holding one, or a model's name
/// (`org/name`) in one of the hub caches `dirs` (its `refs/main` snapshot, else the newest
/// snapshot that has the file). The error says where it looked.
fn resolve(spec: &str, dirs: &[std::path::PathBuf]) -> anyhow::Result<String> {
    let p = std::path::Path::new(spec);
    if p.is_file() {
        return Ok(spec.to_string());
    }
    if p.join("tokenizer.json").is_file() {
        return Ok(p.join("tokenizer.json").to_string_lossy().into_owned());
    }
    let is_name =
        spec.split('/').count() == 2 && !spec.starts_with('.') && !spec.ends_with(".json");
    if !is_name && (spec.ends_with(".json") || spec.contains(std::path::MAIN_SEPARATOR)) {
        anyhow::bail!(
            "tokenizer {spec:?}: no such file (nor a directory holding a tokenizer.json)"
        );
    }
    if !is_name {
        anyhow::bail!(
            "tokenizer {spec:?}: not a built-in encoding (cl100k_base, o200k_base), a tokenizer.json file, nor a model name (org/name)"
        );
    }
    let repo = format!("models--{}", spec.replace('/', "--"));
    for dir in dirs {
        let model = dir.join(&repo);
        let main = std::fs::read_to_string(model.join("refs/main")).ok();
        let mut snapshots: Vec<std::path::PathBuf> = main
            .map(|rev| model.join("snapshots").join(rev.trim()))
            .into_iter()
            .collect();
        let mut others: Vec<(std::time::SystemTime, std::path::PathBuf)> =
            std::fs::read_dir(model.join("snapshots"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| {
                    (
                        e.metadata()
                            .and_then(|m| m.modified())
                            .unwrap_or(std::time::UNIX_EPOCH),
                        e.path(),
                    )
                })
                .collect();
        others.sort_by_key(|o| std::cmp::Reverse(o.0));
        snapshots.extend(others.into_iter().map(|(_, p)| p));
        if let Some(f) = snapshots
            .iter()
            .map(|s| s.join("tokenizer.json"))
            .find(|f| f.is_file())
        {
            return Ok(f.to_string_lossy().into_owned());
        }
    }
    let looked: Vec<String> = dirs
        .iter()
        .map(|d| d.join(&repo).display().to_string())
        .collect();
    anyhow::bail!(
        "tokenizer {spec}: no tokenizer.json in the local Hugging Face cache (looked in {}); the network is never used: fetch it first (`huggingface-cli download {spec} tokenizer.json`) or pass the file's path",
        if looked.is_empty() { "no cache: HOME is unset".to_string() } else { looked.join(", ") }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_encodings_count_tokens() {
        let t = Tokenizer::load("cl100k_base").unwrap();
        assert_eq!(t.count("hello world"), 2);
        assert_eq!(t.decode(&t.encode("round trip, ok?")), "round trip, ok?");
        let o = Tokenizer::load("o200k_base").unwrap();
        assert!(o.count("hello world") >= 2);
    }

    #[test]
    fn a_files_truncation_and_padding_do_not_change_counts() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokenizer.json");
        std::fs::write(
            &p,
            r#"{"version":"1.0",
            "truncation":{"direction":"Right","max_length":4,"strategy":"LongestFirst","stride":0},
            "padding":{"strategy":{"Fixed":16},"direction":"Right","pad_to_multiple_of":null,"pad_id":0,"pad_type_id":0,"pad_token":"[PAD]"},
            "added_tokens":[],"normalizer":null,"pre_tokenizer":{"type":"Whitespace"},
            "post_processor":null,"decoder":null,
            "model":{"type":"WordLevel","vocab":{"[PAD]":0,"[UNK]":1,"a":2,"b":3,"c":4},"unk_token":"[UNK]"}}"#,
        )
        .unwrap();
        let raw = tokenizers::Tokenizer::from_file(&p).unwrap();
        let text = "a b c a b c a b";
        // As published: cut to 4 tokens, then padded to 16, whatever the text.
        assert_eq!(raw.encode(text, false).unwrap().get_ids().len(), 16);
        assert_eq!(raw.encode("a", false).unwrap().get_ids().len(), 16);
        let t = Tokenizer::load(p.to_str().unwrap()).unwrap();
        assert_eq!(t.count(text), 8);
        assert_eq!(t.count("a"), 1);
    }

    const WORDS: &str = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
        "normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
        "model":{"type":"WordLevel","vocab":{"[UNK]":0,"a":1,"b":2},"unk_token":"[UNK]"}}"#;

    #[test]
    fn a_model_name_is_found_in_the_hub_cache_at_its_main_revision() {
        let hub = tempfile::tempdir().unwrap();
        let model = hub.path().join("models--acme--tiny-llm");
        for rev in ["old", "abc123"] {
            std::fs::create_dir_all(model.join("snapshots").join(rev)).unwrap();
            std::fs::write(
                model.join("snapshots").join(rev).join("tokenizer.json"),
                WORDS,
            )
            .unwrap();
        }
        std::fs::create_dir_all(model.join("refs")).unwrap();
        std::fs::write(model.join("refs/main"), "abc123\n").unwrap();
        let dirs = vec![hub.path().join("elsewhere"), hub.path().to_path_buf()];
        let found = resolve("acme/tiny-llm", &dirs).unwrap();
        assert!(
            found.ends_with("snapshots/abc123/tokenizer.json"),
            "{found}"
        );
        let t = Tokenizer::load(&found).unwrap();
        assert_eq!(t.count("a b a"), 3);
        // Without refs/main: the newest snapshot that has the file.
        std::fs::remove_file(model.join("refs/main")).unwrap();
        assert!(resolve("acme/tiny-llm", &dirs)
            .unwrap()
            .ends_with("tokenizer.json"));
        let e = resolve("acme/missing", &dirs).unwrap_err().to_string();
        assert!(
            e.contains("models--acme--missing") && e.contains("elsewhere"),
            "{e}"
        );
        assert!(e.contains("never used"), "{e}");
    }

    #[test]
    fn a_missing_tokenizer_file_is_named() {
        let e = Tokenizer::load("/nope/tokenizer.json").unwrap_err();
        assert!(e.to_string().contains("/nope/tokenizer.json"));
    }
}
