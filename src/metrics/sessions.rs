//! Sessions (`--dataset multi-turn`): how many conversations ran whole, and by turn index the
//! TTFT and the prompt tokens the server served from its prefix cache. With real history each
//! turn repeats the conversation so far, so a server that caches prefixes should serve a
//! growing share of each later turn's prompt from cache, and answer it sooner than its length
//! alone would allow.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Distribution;
use crate::record::RequestRecord;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SessionsReport {
    /// Measured conversations (those with at least one measured turn).
    pub conversations: u64,
    /// Conversations whose every planned turn succeeded.
    pub completed: u64,
    /// Conversations a failed turn ended early (the next turn would have had no answer).
    pub cut_short: u64,
    pub turns: Vec<TurnStats>,
}

/// One turn index over every conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TurnStats {
    /// 0-based.
    pub turn: u32,
    pub requests: u64,
    pub ok: u64,
    pub ttft_ms: Option<Distribution>,
    pub prompt_tokens_mean: Option<f64>,
    pub cached_tokens_mean: Option<f64>,
    /// Σ cached / Σ prompt tokens, where usage reported both.
    pub cached_fraction: Option<f64>,
}

/// The sessions of measured records that carry a turn; None when there are none. `planned`:
/// the turns of every conversation (multi-turn); without it (a trace's conversations, of
/// their own lengths) a conversation is whole when every turn sent succeeded.
pub fn report(records: &[RequestRecord], planned: Option<u64>) -> Option<SessionsReport> {
    let measured: Vec<&RequestRecord> = records
        .iter()
        .filter(|r| !r.warmup && r.turn.is_some())
        .collect();
    if measured.is_empty() {
        return None;
    }
    let mut by_conv: BTreeMap<u64, (u64, bool)> = BTreeMap::new();
    for r in &measured {
        let e = by_conv
            .entry(r.conversation.unwrap_or(u64::MAX))
            .or_insert((0, true));
        e.0 += 1;
        e.1 &= r.is_ok();
    }
    let turns = planned.unwrap_or(0);
    let completed = by_conv
        .values()
        .filter(|(n, ok)| *ok && *n >= turns)
        .count() as u64;
    let cut_short = by_conv.values().filter(|(_, ok)| !ok).count() as u64;
    let mut by_turn: BTreeMap<u32, Vec<&RequestRecord>> = BTreeMap::new();
    for r in &measured {
        by_turn.entry(r.turn.unwrap_or(0)).or_default().push(r);
    }
    let turns = by_turn
        .into_iter()
        .map(|(turn, rs)| turn_stats(turn, &rs))
        .collect();
    Some(SessionsReport {
        conversations: by_conv.len() as u64,
        completed,
        cut_short,
        turns,
    })
}

fn turn_stats(turn: u32, rs: &[&RequestRecord]) -> TurnStats {
    let ok: Vec<&&RequestRecord> = rs.iter().filter(|r| r.is_ok()).collect();
    let mean = |v: Vec<u64>| (!v.is_empty()).then(|| v.iter().sum::<u64>() as f64 / v.len() as f64);
    let prompt: Vec<u64> = ok.iter().filter_map(|r| r.prompt_tokens).collect();
    let cached: Vec<u64> = ok.iter().filter_map(|r| r.cached_tokens).collect();
    let both: Vec<(u64, u64)> = ok
        .iter()
        .filter_map(|r| Some((r.prompt_tokens?, r.cached_tokens?)))
        .collect();
    let (p, c) = both
        .iter()
        .fold((0u64, 0u64), |(a, b), (p, c)| (a + p, b + c));
    TurnStats {
        turn,
        requests: rs.len() as u64,
        ok: ok.len() as u64,
        ttft_ms: Distribution::from_values(ok.iter().filter_map(|r| r.ttft_ms()).collect()),
        prompt_tokens_mean: mean(prompt),
        cached_tokens_mean: mean(cached),
        cached_fraction: (p > 0).then(|| c as f64 / p as f64),
    }
}
