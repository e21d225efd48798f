//! `llmbench sim fit`: the simulator's performance model fitted to measurements of a real server
//! (the records of sweep, throughput, capacity or run results), so that the simulator behaves
//! like that server and can be questioned offline.
//!
//! What is fitted, and from what (docs/simulator.md, "Fitted profiles"):
//! * the decode step: every gap between two streamed events, divided by the tokens per event,
//!   against the number of streams decoding at that moment (b) and the context they hold:
//!   `step = decode_base + decode_per_seq × b + decode_per_ktok × context / 1000`, by weighted
//!   least squares over the median step of each b (the context term only where the data can
//!   tell it from b, else 0);
//! * prefill: each request's TTFT less the step it was prefilled in, against its uncached prompt
//!   tokens: `prefill_base + uncached / prefill_tok_s` (a fixed cost only, where the prompts are
//!   all of about one length); from the requests prefilled alone (at least 8), else from
//!   all that found a free slot;
//! * the sequences served at once: the most streams seen decoding together, when requests sent
//!   beyond that many waited (their TTFT at least twice the others'); else not reached, and
//!   the profile serves without a limit (said so);
//! * tokens per event, reasoning tokens, early stops (per-token stop probability) and whether
//!   the server caches prompt prefixes (usage's cached tokens).

use serde::Serialize;

use super::fit_lines::{fit_prefill, robust_decode, step_jitter};
use super::profile_file::ProfileFile;
use super::regression::{median, Active};
use crate::record::{FailureKind, RequestRecord};
use crate::result::BenchResult;

/// The sequences served at once when the data never reached the server's limit.
pub const UNREACHED_SEQS: usize = 1024;

/// A decode bucket: the streams decoding at once, the median step and context, and how many
/// gaps it holds.
#[derive(Debug, Clone, Serialize)]
pub struct DecodeBucket {
    pub batch: usize,
    pub step_ms: f64,
    pub context_tokens: f64,
    pub gaps: usize,
    /// The fitted step at this batch.
    pub fitted_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    pub profile: ProfileFile,
    pub requests: usize,
    pub decode: Vec<DecodeBucket>,
    /// Requests whose TTFT fitted the prefill (prefilled alone, where there were enough).
    pub prefill_samples: usize,
    /// The median absolute error of the prefill fit over those requests, ms.
    pub prefill_mae_ms: f64,
    /// Most streams seen decoding at once, and whether that was the server's limit.
    pub max_decoding: usize,
    pub limit_reached: bool,
    pub notes: Vec<String>,
}

/// One measured request, as the fit needs it.
struct Req {
    sent: u64,
    first: u64,
    done: u64,
    events: Vec<u64>,
    prompt: u64,
    uncached: u64,
    output: u64,
}

/// The requests of one result usable for the fit: measured, answered, streamed.
fn requests(r: &BenchResult) -> Vec<Req> {
    r.requests
        .iter()
        .filter(|q| !q.warmup && q.is_ok() && !q.content_ns.is_empty())
        // Times in order (a record edited by hand, or from another tool, may not be).
        .filter(|q| {
            q.sent_ns <= q.content_ns[0]
                && q.content_ns.windows(2).all(|w| w[0] <= w[1])
                && q.content_ns[q.content_ns.len() - 1] <= q.done_ns
        })
        .filter_map(|q: &RequestRecord| {
            let output = q.output_tokens?;
            let prompt = q.prompt_tokens.unwrap_or(0);
            Some(Req {
                sent: q.sent_ns,
                first: q.content_ns[0],
                done: q.done_ns,
                events: q.content_ns.clone(),
                prompt,
                uncached: prompt.saturating_sub(q.cached_tokens.unwrap_or(0)),
                output,
            })
        })
        .collect()
}

/// One result's requests and who was active when.
struct File {
    reqs: Vec<Req>,
    /// Streams decoding (first event .. done), weighted by their prompt tokens.
    decoding: Active,
    /// Requests in flight (sent .. done).
    in_flight: Active,
    mean_output: f64,
}

/// What the results hold, gathered once.
#[derive(Default)]
struct Gathered {
    files: Vec<File>,
    /// (streams decoding, their context, step ms) of every gap between events.
    gaps: Vec<(usize, f64, f64)>,
    requests: usize,
    max_decoding: usize,
    tokens: u64,
    early_stops: u64,
    tokens_per_event: Vec<f64>,
    reasoning: Vec<f64>,
    cached: bool,
}

fn gather(results: &[BenchResult], notes: &mut Vec<String>) -> Gathered {
    let mut g = Gathered::default();
    for r in results {
        if r.requests_omitted > 0 {
            notes.push(format!(
                "a result kept {} of its records: the fit uses those",
                r.requests.len()
            ));
        }
        for q in r.requests.iter().filter(|q| !q.warmup && q.is_ok()) {
            g.tokens += q.output_tokens.unwrap_or(0);
            let stopped = matches!(
                q.finish_reason.as_deref(),
                Some("stop" | "end_turn" | "eos")
            );
            g.early_stops += stopped as u64;
            g.reasoning.extend(q.reasoning_tokens.map(|t| t as f64));
            g.cached |= q.cached_tokens.unwrap_or(0) > 0;
        }
        let reqs = requests(r);
        if reqs.is_empty() {
            continue;
        }
        let decoding = Active::weighted(
            reqs.iter()
                .map(|q| (q.first, q.done.max(q.first + 1), q.prompt as f64)),
        );
        let sent = |q: &&RequestRecord| {
            !q.warmup && q.error.as_ref().map(|e| e.kind) != Some(FailureKind::Dropped)
        };
        let in_flight = Active::new(
            r.requests
                .iter()
                .filter(sent)
                // Half-open, as streams decoding: a closed-loop user's next request, sent the
                // instant its last ended (virtual time), does not overlap it.
                .map(|q| (q.sent_ns, q.done_ns)),
        );
        let mean_output = reqs.iter().map(|q| q.output as f64).sum::<f64>() / reqs.len() as f64;
        for q in &reqs {
            g.max_decoding = g.max_decoding.max(decoding.at(q.first));
            let per_event = (q.output as f64 / q.events.len() as f64).max(1.0);
            g.tokens_per_event.push(per_event);
            for w in q.events.windows(2) {
                let mid = w[0] / 2 + w[1] / 2;
                let b = decoding.at(mid).max(1);
                let context = b as f64 * mean_output / 2.0 + decoding.weight_at(mid);
                g.gaps
                    .push((b, context, (w[1] - w[0]) as f64 / 1e6 / per_event));
            }
        }
        g.requests += reqs.len();
        g.files.push(File {
            reqs,
            decoding,
            in_flight,
            mean_output,
        });
    }
    g
}

/// The median step of each batch size with at least 20 gaps and 2% of all (a batch size seen
/// only in passing, as streams start and end, holds mostly steps slowed by a prefill).
fn decode_buckets(gaps: &[(usize, f64, f64)]) -> Vec<DecodeBucket> {
    let least = (gaps.len() / 50).max(20);
    let mut by_batch: std::collections::BTreeMap<usize, (Vec<f64>, Vec<f64>)> = Default::default();
    for &(b, c, s) in gaps {
        let e = by_batch.entry(b).or_default();
        e.0.push(s);
        e.1.push(c);
    }
    by_batch
        .into_iter()
        .filter(|(_, (s, _))| s.len() >= least)
        .map(|(batch, (mut s, mut c))| DecodeBucket {
            batch,
            gaps: s.len(),
            step_ms: median(&mut s),
            context_tokens: median(&mut c),
            fitted_ms: 0.0,
        })
        .collect()
}

/// Whether requests sent beyond the most streams seen decoding at once waited (their median
/// TTFT at least twice the others'): then that many is the server's limit.
fn limit_reached(g: &Gathered) -> bool {
    let (mut within, mut beyond) = (Vec::new(), Vec::new());
    for f in &g.files {
        for q in &f.reqs {
            let ttft = (q.first - q.sent) as f64 / 1e6;
            if f.in_flight.at(q.sent) > g.max_decoding {
                beyond.push(ttft);
            } else {
                within.push(ttft);
            }
        }
    }
    beyond.len() >= 5 && !within.is_empty() && median(&mut beyond) >= 2.0 * median(&mut within)
}

/// (uncached prompt tokens, TTFT less its decode step) of the requests that show the prefill:
/// those prefilled alone where there are enough (the primitive cost, which the engine
/// then composes: prefills batched into one step, a request waiting for the step in progress),
/// else all that found a slot.
fn prefill_samples(
    g: &Gathered,
    step: impl Fn(usize, f64) -> f64,
    max_num_seqs: usize,
    notes: &mut Vec<String>,
) -> Vec<(f64, f64)> {
    // Prefilled alone: no other request in its prefill when it was sent, none sent before its
    // first token (requests prefilled together share a step); streams decoding meanwhile are
    // the step's own part, subtracted below.
    let alone = |f: &File, q: &Req| {
        f.in_flight.at(q.sent) <= f.decoding.at(q.sent) + 1
            // Sent from its own send to its first token, itself included (in virtual time a
            // wave's users send at one instant).
            && f.in_flight.starts_within(q.sent.saturating_sub(1), q.first) <= 1
    };
    let alone_n: usize = g
        .files
        .iter()
        .map(|f| f.reqs.iter().filter(|q| alone(f, q)).count())
        .sum();
    let only_idle = alone_n >= 8;
    if !only_idle {
        notes.push(format!(
            "only {alone_n} requests were prefilled alone: the prefill is fitted on requests \
             prefilled together with others, whose TTFT includes theirs"
        ));
    }
    let mut samples = Vec::new();
    for f in &g.files {
        for q in &f.reqs {
            if f.in_flight.at(q.sent) > max_num_seqs || (only_idle && !alone(f, q)) {
                continue;
            }
            let b = f.decoding.at(q.sent) + 1;
            let ttft = (q.first - q.sent) as f64 / 1e6;
            let context = f.decoding.weight_at(q.sent)
                + q.prompt as f64
                + (b - 1) as f64 * f.mean_output / 2.0;
            samples.push((q.uncached as f64, ttft - step(b, context)));
        }
    }
    samples
}

/// Fit the simulator to `results` (several runs of one server); `slots`: the server's own limit
/// on sequences served at once, when the user knows it (else found from the data, if reached).
pub fn fit(results: &[BenchResult], slots: Option<usize>) -> anyhow::Result<Fit> {
    let mut notes = Vec::new();
    let mut g = gather(results, &mut notes);
    anyhow::ensure!(
        g.requests > 0,
        "no streamed, answered request with a token count in the results: the fit needs the \
         records of streamed runs (without --no-stream) against the server"
    );
    let mut buckets = decode_buckets(&g.gaps);
    anyhow::ensure!(
        !buckets.is_empty(),
        "too few inter-token gaps to fit the decode step (at least 20 at one batch size): run \
         longer answers or more requests"
    );
    let (base, per_seq, per_ktok) = robust_decode(&mut buckets, &mut notes);
    let step = |b: usize, context: f64| base + per_seq * b as f64 + per_ktok * context / 1e3;
    for b in &mut buckets {
        b.fitted_ms = step(b.batch, b.context_tokens);
    }
    let jitter = step_jitter(&g.gaps, &buckets);
    if jitter.is_none() {
        notes.push("under 200 inter-token gaps: every step as modelled (no jitter)".to_string());
    }
    let limit_reached = limit_reached(&g);
    let max_num_seqs = match slots {
        Some(n) => {
            if limit_reached && n != g.max_decoding {
                notes.push(format!(
                    "max_num_seqs {n} as given, where the data showed {} served at once",
                    g.max_decoding
                ));
            }
            n
        }
        None if limit_reached => g.max_decoding,
        None => {
            notes.push(format!(
                "the server's limit on sequences served at once was not reached (at most {} \
                 decoded together, and no request waited for a slot): the profile serves up to \
                 {UNREACHED_SEQS}; set max_num_seqs to the server's own (vLLM --max-num-seqs, \
                 llama.cpp --parallel), or pass it to sim fit, to model its queue",
                g.max_decoding
            ));
            UNREACHED_SEQS
        }
    };
    let mut samples = prefill_samples(&g, step, max_num_seqs, &mut notes);
    let (prefill_base, prefill_tok_s, prefill_mae_ms) = fit_prefill(&mut samples, &mut notes);
    let eos_prob = g.early_stops as f64 / g.tokens.max(1) as f64;
    let reasoning_tokens = if g.reasoning.is_empty() {
        0
    } else {
        median(&mut g.reasoning).round() as u32
    };
    let profile = ProfileFile {
        model: results.first().map(|r| r.target.model.clone()),
        max_num_seqs: Some(max_num_seqs),
        prefill_base_ms: Some(round(prefill_base)),
        prefill_tok_s: Some(round(prefill_tok_s)),
        decode_base_ms: Some(round(base)),
        decode_per_seq_ms: Some(round(per_seq)),
        decode_per_ktok_ms: Some(round(per_ktok)),
        step_jitter: jitter,
        prefix_caching: Some(g.cached),
        tokens_per_chunk: Some(median(&mut g.tokens_per_event).round().max(1.0) as u32),
        reasoning_tokens: Some(reasoning_tokens),
        eos_prob: Some((eos_prob * 1e6).round() / 1e6),
        // Prompts are prefilled whole in one step and memory never runs out: as most servers
        // do at a benchmark's prompt lengths and loads.
        max_batched_tokens: Some(0),
        kv_tokens: Some(0),
        queue_limit: None,
        tokenizer: None,
        fit: None,
    };
    Ok(Fit {
        profile,
        requests: g.requests,
        decode: buckets,
        prefill_samples: samples.len(),
        prefill_mae_ms,
        max_decoding: g.max_decoding,
        limit_reached,
        notes,
    })
}

fn round(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

impl Fit {
    /// The profile file's text: the figures, and a `[fit]` table of where they came from.
    pub fn to_toml(&self, sources: &[String]) -> anyhow::Result<String> {
        let mut table = toml::Table::new();
        table.insert("sources".into(), sources.to_vec().into());
        table.insert("requests".into(), (self.requests as i64).into());
        table.insert(
            "prefill_median_abs_error_ms".into(),
            round(self.prefill_mae_ms).into(),
        );
        table.insert(
            "most_decoding_at_once".into(),
            (self.max_decoding as i64).into(),
        );
        table.insert("limit_reached".into(), self.limit_reached.into());
        let decode: Vec<toml::Value> = self
            .decode
            .iter()
            .map(|b| {
                toml::Value::Table(toml::Table::from_iter([
                    ("batch".to_string(), (b.batch as i64).into()),
                    ("gaps".to_string(), (b.gaps as i64).into()),
                    ("step_ms".to_string(), round(b.step_ms).into()),
                    ("fitted_ms".to_string(), round(b.fitted_ms).into()),
                ]))
            })
            .collect();
        table.insert("decode".into(), decode.into());
        table.insert("notes".into(), self.notes.clone().into());
        let mut file = self.profile.clone();
        file.fit = Some(table);
        file.to_toml(
            "llmbench simulator profile, fitted by `llmbench sim fit`.\n\
             Serve it: llmbench sim --profile-file THIS; use it in any command: --sim-profile-file THIS.\n\
             The model is in docs/simulator.md; edit any figure. [fit] says how it was obtained.",
        )
    }

    /// A few lines for the terminal.
    pub fn describe(&self) -> String {
        let p = &self.profile;
        let mut s = format!(
            "fitted from {} requests: decode step {:.2} ms + {:.3} ms per stream + {:.3} ms per 1k context tokens; \
             prefill {:.1} ms + {}; {} (median TTFT error {:.1} ms over {} requests)\n",
            self.requests,
            p.decode_base_ms.unwrap_or(0.0),
            p.decode_per_seq_ms.unwrap_or(0.0),
            p.decode_per_ktok_ms.unwrap_or(0.0),
            p.prefill_base_ms.unwrap_or(0.0),
            match p.prefill_tok_s {
                Some(r) if r > 0.0 => format!("{r:.0} uncached prompt tokens/s"),
                _ => "no per-token cost".to_string(),
            },
            if self.limit_reached {
                format!("{} sequences at once", self.max_decoding)
            } else {
                "no limit reached".to_string()
            },
            self.prefill_mae_ms,
            self.prefill_samples,
        );
        if let Some(q) = &p.step_jitter {
            s.push_str(&format!(
                "steps vary about the line: p10 {:.2}, p50 {:.2}, p90 {:.2}, p99.5 {:.2} times it\n",
                q[2], q[10], q[18], q[20]
            ));
        }
        s.push_str("  batch   gaps   step ms   fitted ms\n");
        for b in &self.decode {
            s.push_str(&format!(
                "  {:>5} {:>6} {:>9.2} {:>11.2}\n",
                b.batch, b.gaps, b.step_ms, b.fitted_ms
            ));
        }
        for n in &self.notes {
            s.push_str(&format!("note: {n}\n"));
        }
        s
    }
}
