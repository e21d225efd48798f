//! WHAT to send: the built-in prompts and the request bodies of each dialect.
//!
//! Bodies are rendered before the request's `sent` timestamp, so building them never counts as
//! latency. By default every request starts with a short unique prefix, so that a server's
//! prefix cache cannot make a repeated prompt look fast; `--warm-cache` turns that off.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::protocol::Api;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PromptSize {
    Short,
    Medium,
    Long,
    /// All 15, short, medium and long in turn.
    Mixed,
}

/// 15 prompts, 5 of each size, in our own words.
pub const PROMPTS_SHORT: [&str; 5] = [
    "What is 7 times 8?",
    "Name the largest planet in the solar system.",
    "Give one synonym for quick.",
    "What colour do you get by mixing blue and yellow?",
    "How many days are in a leap year?",
];

pub const PROMPTS_MEDIUM: [&str; 5] = [
    "Explain in plain words how a hash table finds a value quickly, and when it becomes slow.",
    "Describe what a compiler does, from source text to a running program, in a short paragraph.",
    "Why does bread rise when it is baked? Explain the role of yeast and heat for a curious child.",
    "Summarize the trade-offs between renting and buying a home for someone moving to a new city.",
    "Explain how a bicycle stays upright while moving, and why it falls over when it stops.",
];

pub const PROMPTS_LONG: [&str; 5] = [
    "You are helping an engineering team choose a database. They run an online shop with about \
     fifty thousand orders a day, a catalogue of two million products, and a search page that must \
     answer within a hundred milliseconds. Compare a relational database, a document store and a \
     search engine for this workload. Cover: how each stores the data, how each handles the order \
     writes, how each serves the product search, what happens when traffic doubles during a sale, \
     and what the team must operate and monitor. End with a recommendation and its main risk.",
    "Write a careful explanation of how the internet delivers a web page, for a reader who knows \
     what a computer is but nothing about networks. Start when the reader types an address and \
     presses enter. Explain name lookup, opening a connection, encryption, the request and the \
     response, and how the browser turns the response into what appears on the screen. Mention \
     where caches can make things faster and where delays usually come from. Keep each step short \
     and concrete, and use one running example throughout.",
    "A small city wants to reduce traffic in its centre without hurting local shops. Draft a plan \
     with three options: a congestion charge, more frequent buses with dedicated lanes, and \
     pedestrian-only streets on weekends. For each option describe the expected effect on traffic, \
     on shop revenue, on residents with limited mobility, and on the city budget, and name one \
     measurable indicator to track. Then propose an order in which to try them, with reasons, and \
     explain how the city should decide after six months whether each step worked.",
    "Explain the differences between processes and threads in an operating system. Discuss how \
     memory is shared or isolated, how the scheduler switches between them, what a context switch \
     costs, how they communicate, and what can go wrong in each model: races, deadlocks, crashes \
     that take down neighbours. Then explain where asynchronous programming with an event loop \
     fits in, and give a rule of thumb for choosing between the three for a network server that \
     must handle many slow clients at once.",
    "You are reviewing a proposal to move a company's nightly reporting jobs from a single large \
     server to a cluster of small cloud machines. The jobs read about two terabytes of logs, join \
     them with customer records, and produce forty reports by six in the morning. Assess the \
     proposal: what gets faster, what gets slower, what new failure modes appear, how costs change \
     when the data grows by half each year, and what a safe migration would look like, step by \
     step. Finish with the three questions you would ask the authors before approving it.",
];

pub fn prompts(size: PromptSize) -> Vec<&'static str> {
    match size {
        PromptSize::Short => PROMPTS_SHORT.to_vec(),
        PromptSize::Medium => PROMPTS_MEDIUM.to_vec(),
        PromptSize::Long => PROMPTS_LONG.to_vec(),
        PromptSize::Mixed => (0..5)
            .flat_map(|i| [PROMPTS_SHORT[i], PROMPTS_MEDIUM[i], PROMPTS_LONG[i]])
            .collect(),
    }
}

/// Everything about a request body except its prompt. Fixed for a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BodyOptions {
    pub api: Api,
    pub model: String,
    pub max_tokens: u32,
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    pub ignore_eos: bool,
    /// Send `stream_options.include_usage` on OpenAI streams.
    pub include_usage: bool,
}

/// Render one request body.
pub fn render_body(opts: &BodyOptions, prompt: &str) -> Bytes {
    let mut m = Map::new();
    m.insert("model".into(), Value::String(opts.model.clone()));
    match opts.api {
        Api::Chat | Api::Messages => {
            m.insert(
                "messages".into(),
                json!([{"role": "user", "content": prompt}]),
            );
        }
        Api::Completions => {
            m.insert("prompt".into(), Value::String(prompt.to_string()));
        }
    }
    m.insert("max_tokens".into(), json!(opts.max_tokens));
    m.insert("stream".into(), Value::Bool(opts.stream));
    if let Some(t) = opts.temperature {
        m.insert("temperature".into(), json!(t));
    }
    if opts.ignore_eos {
        m.insert("ignore_eos".into(), Value::Bool(true));
    }
    if opts.stream && opts.include_usage && opts.api != Api::Messages {
        m.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Bytes::from(Value::Object(m).to_string())
}

/// The built-in prompt set, rotated over the requests of a run.
#[derive(Debug, Clone)]
pub struct BuiltinWorkload {
    pub size: PromptSize,
    /// Unique per run; `None` sends prompts as they are (warm cache).
    pub nonce: Option<String>,
    pub opts: BodyOptions,
}

impl BuiltinWorkload {
    pub fn prompt(&self, i: u64) -> String {
        let all = prompts(self.size);
        let base = all[(i % all.len() as u64) as usize];
        match &self.nonce {
            Some(n) => format!("[{n}-{i}] {base}"),
            None => base.to_string(),
        }
    }

    pub fn body(&self, i: u64) -> Bytes {
        render_body(&self.opts, &self.prompt(i))
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

    fn opts(api: Api, stream: bool) -> BodyOptions {
        BodyOptions {
            api,
            model: "m".into(),
            max_tokens: 9,
            stream,
            temperature: Some(0.7),
            ignore_eos: false,
            include_usage: true,
        }
    }

    #[test]
    fn fifteen_distinct_prompts() {
        let mut all: Vec<&str> = [PromptSize::Short, PromptSize::Medium, PromptSize::Long]
            .iter()
            .flat_map(|s| prompts(*s))
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
    fn bodies_follow_each_dialect() {
        let v: Value = serde_json::from_slice(&render_body(&opts(Api::Chat, true), "hi")).unwrap();
        assert_eq!(v["messages"][0]["content"], "hi");
        assert_eq!(v["stream_options"]["include_usage"], true);
        let v: Value =
            serde_json::from_slice(&render_body(&opts(Api::Completions, false), "hi")).unwrap();
        assert_eq!(v["prompt"], "hi");
        assert!(v.get("stream_options").is_none());
        let v: Value =
            serde_json::from_slice(&render_body(&opts(Api::Messages, true), "hi")).unwrap();
        assert_eq!(v["max_tokens"], 9);
        assert!(v.get("stream_options").is_none());
    }

    #[test]
    fn unique_prefix_by_default_and_repeatable_when_warm() {
        let mut w = BuiltinWorkload {
            size: PromptSize::Short,
            nonce: Some("abc".into()),
            opts: opts(Api::Chat, false),
        };
        assert_ne!(w.prompt(0), w.prompt(5));
        assert!(w.prompt(0).starts_with("[abc-0] "));
        w.nonce = None;
        assert_eq!(w.prompt(0), w.prompt(5));
    }
}
