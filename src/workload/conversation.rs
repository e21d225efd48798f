//! Conversations (`--dataset multi-turn`): a user's think time, and each turn's request with
//! the history so far (the server's real answers when a session has them).

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::Distribution;
use serde::Serialize;
use serde_json::json;

use super::{render_body, Content, Source, Workload};

/// How a user waits between an answer and their next turn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Think {
    /// Seconds.
    Fixed(f64),
    /// Exponentially distributed, of this mean in seconds.
    Exponential(f64),
}

impl Think {
    /// `2s`, `500ms`, or `exp:2s` (exponential with that mean).
    pub fn parse(text: &str) -> Result<Think, String> {
        let t = text.trim();
        let (exp, d) = match t.strip_prefix("exp:") {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let s = crate::units::parse_duration(d)?.as_secs_f64();
        Ok(if exp {
            Think::Exponential(s)
        } else {
            Think::Fixed(s)
        })
    }

    /// The pause before turn `turn` of conversation `conv` (seeded: reruns pause alike).
    pub fn draw(self, seed: u64, conv: u64, turn: u64) -> std::time::Duration {
        let s = match self {
            Think::Fixed(s) => s,
            Think::Exponential(mean) if mean > 0.0 => {
                let mut rng = SmallRng::seed_from_u64(seed ^ 0x7417 ^ (conv * 1_000_003 + turn));
                rand_distr::Exp::new(1.0 / mean).map_or(mean, |e| e.sample(&mut rng))
            }
            Think::Exponential(_) => 0.0,
        };
        std::time::Duration::from_secs_f64(s.max(0.0))
    }
}

/// What a conversation has said so far, kept by the user who holds it: the server's
/// answers (when the history is real), and the user messages a trace's turns composed
/// (with their token count), so that each turn repeats the earlier ones exactly.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub answers: Vec<String>,
    pub users: Vec<String>,
    pub tokens: usize,
}

/// A multi-turn workload's sessions: turn k+1 is sent after turn k's answer (and the think
/// time), its history holding the server's real answers unless `synthetic_history`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sessions {
    pub think: Think,
    pub synthetic_history: bool,
}

impl Workload {
    /// A conversation's turn: the history so far (the server's `answers` to the earlier turns
    /// when given, else generated ones), then the new user message.
    pub fn turn_request(&self, conv: u64, turn: u64, answers: Option<&[String]>) -> (Content, u32) {
        let Source::MultiTurn { input, output, .. } = &self.source else {
            return self.request(conv);
        };
        let mut msgs = Vec::new();
        for k in 0..=turn {
            // The history of a conversation is the same in each of its requests.
            let mut rng = self.rng(3, conv * 1_000_003 + k);
            let tag = if k == 0 {
                self.nonce
                    .as_ref()
                    .map(|n| format!("[{n}-c{conv}]"))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let n = input.draw(&mut rng);
            msgs.push(json!({"role": "user", "content": self.text(n, &tag, &mut rng)}));
            if k < turn {
                let answer = match answers.and_then(|a| a.get(k as usize)) {
                    Some(a) => a.clone(),
                    None => {
                        let a = self.out_len(output, &mut rng) as usize;
                        self.text(a, "", &mut rng)
                    }
                };
                msgs.push(json!({"role": "assistant", "content": answer}));
            }
        }
        let mut rng = self.rng(4, conv * self.turns().unwrap_or(1) + turn);
        (Content::Messages(msgs), self.out_len(output, &mut rng))
    }

    /// Turns per conversation, for a multi-turn workload.
    pub fn turns(&self) -> Option<u64> {
        match &self.source {
            Source::MultiTurn { turns, .. } => Some(*turns),
            _ => None,
        }
    }

    /// A multi-turn workload's sessions (a closed loop runs them as users).
    pub fn sessions(&self) -> Option<(u64, Sessions)> {
        match &self.source {
            Source::MultiTurn {
                turns, sessions, ..
            } => Some((*turns, *sessions)),
            _ => None,
        }
    }

    /// The body of a conversation's turn ([`Workload::turn_request`]).
    pub fn turn_body(&self, conv: u64, turn: u64, answers: Option<&[String]>) -> Bytes {
        let (content, max_tokens) = self.turn_request(conv, turn, answers);
        render_body(&self.opts, &content, max_tokens)
    }
}
