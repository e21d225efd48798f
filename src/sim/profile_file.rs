//! A simulator profile in a TOML file: the performance model's figures, written by
//! `llmbench sim fit` from measurements of a real server (or by hand), served by
//! `llmbench sim --profile-file FILE` and used in-process by every command's
//! `--sim-profile-file FILE`. Every key is optional: a key not given keeps the `small` profile's
//! value. The `[fit]` table says where the figures came from; the simulator does not read it.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::SimConfig;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// The model name the simulator reports (the fitted server's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sequences served at once; more wait in a queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_num_seqs: Option<usize>,
    /// Requests waiting beyond this many are refused (429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_limit: Option<usize>,
    /// KV cache budget in tokens (0: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_tokens: Option<u64>,
    /// Prompt tokens prefilled per step at most (0: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batched_tokens: Option<u64>,
    /// Fixed cost of a prefill, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_base_ms: Option<f64>,
    /// Uncached prompt tokens prefilled per second (0: instant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_tok_s: Option<f64>,
    /// Decode step: base + per running sequence + per thousand tokens of context held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_base_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_per_seq_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_per_ktok_ms: Option<f64>,
    /// Quantiles of a step's time over the modelled one, at evenly spaced probabilities from 0
    /// to 1: each step's factor is drawn from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_jitter: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_caching: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_chunk: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u32>,
    /// Per-token probability of ending the answer early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_prob: Option<f64>,
    /// Counts prompt tokens as the fitted server does (its tokenizer.json, or cl100k_base,
    /// o200k_base); a relative path is read from the profile file's directory. Without it,
    /// one token per 4 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    /// How the figures were obtained (not read by the simulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<toml::Table>,
}

impl ProfileFile {
    pub fn load(path: &Path) -> anyhow::Result<ProfileFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the profile file", path.display()))?;
        let mut file: ProfileFile = toml::from_str(&text)
            .with_context(|| format!("{}: not a simulator profile", path.display()))?;
        if let (Some(t), Some(dir)) = (&file.tokenizer, path.parent()) {
            let beside = dir.join(t);
            if Path::new(t).is_relative() && beside.exists() {
                file.tokenizer = Some(beside.display().to_string());
            }
        }
        if let Some(t) = &file.tokenizer {
            crate::workload::Tokenizer::load(t).map_err(|e| {
                anyhow::anyhow!(
                    "{}: {e:#}; fix the path (a relative one is read beside the profile file) \
                     or remove the `tokenizer` key",
                    path.display()
                )
            })?;
        }
        let mut check = SimConfig::profile(super::Profile::Small);
        file.apply(&mut check);
        check
            .validate()
            .with_context(|| format!("{}: a value is out of range", path.display()))?;
        Ok(file)
    }

    /// Set every figure the file gives on `cfg`.
    pub fn apply(&self, cfg: &mut SimConfig) {
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = self.$field.clone() {
                    cfg.$field = v;
                }
            )*};
        }
        set!(
            model,
            max_num_seqs,
            queue_limit,
            kv_tokens,
            max_batched_tokens,
            prefill_base_ms,
            prefill_tok_s,
            decode_base_ms,
            decode_per_seq_ms,
            decode_per_ktok_ms,
            step_jitter,
            prefix_caching,
            tokens_per_chunk,
            reasoning_tokens,
            eos_prob
        );
        cfg.tokens_per_chunk = cfg.tokens_per_chunk.max(1);
        if cfg.kv_tokens == 0 {
            cfg.kv_tokens = u64::MAX / 4; // no limit
        }
        if self.tokenizer.is_some() {
            cfg.tokenizer = self.tokenizer.clone();
        }
    }

    /// A simulator configuration: the `small` profile with this file's figures.
    pub fn config(&self, path: &Path) -> SimConfig {
        let mut cfg = SimConfig::profile(super::Profile::Small);
        self.apply(&mut cfg);
        cfg.profile_file = Some(path.display().to_string());
        cfg
    }

    /// The file's text, with a comment saying what it is.
    pub fn to_toml(&self, header: &str) -> anyhow::Result<String> {
        let body = toml::to_string(self).context("writing the profile")?;
        let comment: String = header.lines().map(|l| format!("# {l}\n")).collect();
        Ok(format!("{comment}{body}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_file_keeps_the_other_figures_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(
            &p,
            "max_num_seqs = 3\ndecode_base_ms = 12.5\n[fit]\nrequests = 9\n",
        )
        .unwrap();
        let f = ProfileFile::load(&p).unwrap();
        let cfg = f.config(&p);
        let small = SimConfig::profile(super::super::Profile::Small);
        assert_eq!((cfg.max_num_seqs, cfg.decode_base_ms), (3, 12.5));
        assert_eq!(cfg.prefill_tok_s, small.prefill_tok_s);
        std::fs::write(&p, "kv_tokens = 0\n").unwrap();
        let cfg = ProfileFile::load(&p).unwrap().config(&p);
        assert_eq!(cfg.kv_tokens, u64::MAX / 4, "0: no limit");
        std::fs::write(&p, "max_num_seq = 3\n").unwrap();
        let e = format!("{:#}", ProfileFile::load(&p).unwrap_err());
        assert!(e.contains("max_num_seq") && e.contains("s.toml"), "{e}");
        std::fs::write(&p, "eos_prob = 2.0\n").unwrap();
        let e = format!("{:#}", ProfileFile::load(&p).unwrap_err());
        assert!(e.contains("--eos-prob"), "{e}");
        std::fs::write(&p, "step_jitter = [1.2, 0.8]\n").unwrap();
        let e = format!("{:#}", ProfileFile::load(&p).unwrap_err());
        assert!(e.contains("step_jitter") && e.contains("increasing"), "{e}");
    }

    #[test]
    fn a_tokenizer_file_is_read_beside_the_profile_and_a_name_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
        std::fs::write(&p, "tokenizer = \"tokenizer.json\"\n").unwrap();
        // Found beside the profile, and read: an empty object is no tokenizer, said with the file.
        let e = format!("{:#}", ProfileFile::load(&p).unwrap_err());
        let beside = dir.path().join("tokenizer.json").display().to_string();
        assert!(e.contains("s.toml") && e.contains(&beside), "{e}");
        std::fs::write(&p, "tokenizer = \"missing.json\"\n").unwrap();
        let e = format!("{:#}", ProfileFile::load(&p).unwrap_err());
        assert!(e.contains("s.toml") && e.contains("missing.json"), "{e}");
        std::fs::write(&p, "tokenizer = \"cl100k_base\"\n").unwrap();
        let cfg = ProfileFile::load(&p).unwrap().config(&p);
        assert_eq!(cfg.tokenizer.as_deref(), Some("cl100k_base"));
    }

    #[test]
    fn written_and_read_back_unchanged() {
        let f = ProfileFile {
            max_num_seqs: Some(4),
            decode_per_ktok_ms: Some(0.25),
            prefix_caching: Some(true),
            ..Default::default()
        };
        let text = f.to_toml("fitted\nfrom two runs").unwrap();
        assert!(text.starts_with("# fitted\n# from two runs\n"), "{text}");
        assert_eq!(toml::from_str::<ProfileFile>(&text).unwrap(), f);
    }
}
