//! The built-in prompts: 15 of them, short, medium and long, in our own words.

use super::PromptSize;

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

/// Short, medium and long in turn: the 15 prompts interleaved.
const PROMPTS_MIXED: [&str; 15] = [
    PROMPTS_SHORT[0],
    PROMPTS_MEDIUM[0],
    PROMPTS_LONG[0],
    PROMPTS_SHORT[1],
    PROMPTS_MEDIUM[1],
    PROMPTS_LONG[1],
    PROMPTS_SHORT[2],
    PROMPTS_MEDIUM[2],
    PROMPTS_LONG[2],
    PROMPTS_SHORT[3],
    PROMPTS_MEDIUM[3],
    PROMPTS_LONG[3],
    PROMPTS_SHORT[4],
    PROMPTS_MEDIUM[4],
    PROMPTS_LONG[4],
];

pub fn prompts(size: PromptSize) -> &'static [&'static str] {
    match size {
        PromptSize::Short => &PROMPTS_SHORT,
        PromptSize::Medium => &PROMPTS_MEDIUM,
        PromptSize::Long => &PROMPTS_LONG,
        PromptSize::Mixed => &PROMPTS_MIXED,
    }
}
