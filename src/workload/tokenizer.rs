//! Tokenizers, offline: tiktoken's `cl100k_base` and `o200k_base` (embedded in the binary), or
//! any Hugging Face `tokenizer.json` (`--tokenizer path`). Used to count output tokens when a
//! server reports no usage, and to build prompts of an exact token length.

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
            path => {
                if !std::path::Path::new(path).is_file() {
                    anyhow::bail!(
                        "--tokenizer {path:?}: not a built-in encoding (cl100k_base, o200k_base) nor a tokenizer.json file"
                    );
                }
                let mut tok = tokenizers::Tokenizer::from_file(path)
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .with_context(|| format!("--tokenizer {path}: cannot load the tokenizer"))?;
                // A published file may truncate (at the model's context) or pad (to a fixed
                // length): counting must see exactly the text, so both are turned off.
                tok.with_truncation(None)
                    .map_err(|e| anyhow::anyhow!("--tokenizer {path}: {e}"))?;
                tok.with_padding(None);
                Tokenizer::HuggingFace {
                    path: path.into(),
                    tok: Box::new(tok),
                }
            }
        };
        Ok(Arc::new(t))
    }

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

    #[test]
    fn a_missing_tokenizer_file_is_named() {
        let e = Tokenizer::load("/nope/tokenizer.json").unwrap_err();
        assert!(e.to_string().contains("/nope/tokenizer.json"));
    }
}
