//! llmbench: benchmark LLM inference servers.
//!
//! Data flow: `workload` (what to send) → `scheduler` (when) → `client` (how, and timing) →
//! `record` (one per request) → `metrics` (statistics) → `report` (console, files).
//! `sim` is the built-in simulated server; `protocol` holds the wire formats both sides share.

pub mod cli;
pub mod client;
pub mod commands;
pub mod metrics;
pub mod monitor;
pub mod protocol;
pub mod record;
pub mod report;
pub mod scheduler;
pub mod sim;
pub mod target;
pub mod workload;
