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
                let tok = tokenizers::Tokenizer::from_file(path)
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .with_context(|| format!("--tokenizer {path}: cannot load the tokenizer"))?;
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
    fn a_missing_tokenizer_file_is_named() {
        let e = Tokenizer::load("/nope/tokenizer.json").unwrap_err();
        assert!(e.to_string().contains("/nope/tokenizer.json"));
    }
}
