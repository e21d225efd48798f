//! OpenAI embeddings (`/v1/embeddings`): a batch of inputs in, one vector per input out, never
//! streamed. The client reads how many vectors came back and the prompt tokens usage counts;
//! the vectors themselves are skipped, not parsed into numbers.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{lenient_count, Observation};

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(default)]
    data: Option<Vec<Item>>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Item {
    /// An array of floats, or a base64 string with `encoding_format: base64`.
    #[allow(dead_code)]
    embedding: IgnoredAny,
}

#[derive(Debug, Deserialize)]
struct Usage {
    #[serde(default, deserialize_with = "lenient_count")]
    prompt_tokens: Option<u64>,
}

pub fn on_body(body: &[u8], obs: &mut Observation) -> Result<(), String> {
    let b: Body = serde_json::from_slice(body).map_err(|e| {
        format!(
            "invalid embeddings response ({e}): {}",
            super::snippet(body, 200)
        )
    })?;
    if let Some(err) = &b.error {
        obs.server_error = Some(super::openai::error_message(err));
        return Ok(());
    }
    let data = b.data.ok_or_else(|| {
        format!(
            "embeddings response has no data: {}",
            super::snippet(body, 200)
        )
    })?;
    obs.inputs = Some(data.len() as u64);
    let usage = b
        .usage
        .and_then(|u| serde_json::from_value::<Usage>(u).ok());
    obs.prompt_tokens = usage.and_then(|u| u.prompt_tokens);
    Ok(())
}

// The server side.

/// A response of `n` vectors of `dim` numbers, deterministic in `seed`.
pub fn whole(model: &Value, n: usize, dim: usize, prompt_tokens: u32, seed: u64) -> Value {
    let data: Vec<Value> = (0..n)
        .map(|k| {
            let mut x = seed ^ (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let v: Vec<f64> = (0..dim)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5) as f32 as f64
                })
                .collect();
            json!({"object": "embedding", "index": k, "embedding": v})
        })
        .collect();
    json!({"object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_counted_and_usage_read() {
        let body = whole(&json!("m"), 3, 4, 17, 1).to_string();
        let mut obs = Observation::default();
        on_body(body.as_bytes(), &mut obs).unwrap();
        assert_eq!((obs.inputs, obs.prompt_tokens), (Some(3), Some(17)));
        assert!(obs.is_complete(super::super::Api::Embeddings));
        let mut obs = Observation::default();
        on_body(br#"{"data":[{"embedding":"AAAA"}]}"#, &mut obs).unwrap();
        assert_eq!(obs.inputs, Some(1));
        assert!(on_body(br#"{"object":"list"}"#, &mut Observation::default()).is_err());
        let mut obs = Observation::default();
        on_body(br#"{"error":{"message":"bad input"}}"#, &mut obs).unwrap();
        assert_eq!(obs.server_error.as_deref(), Some("bad input"));
    }
}
