//! Verdicts: what the figures mean. Stress classification, comparison, regression check, the
//! merge of shards, TTFT intervals. Data in, data out: nothing here prints, reads files or
//! touches the network; the results are stored in the [`crate::result::BenchResult`] so that
//! `report`, `compare` and `check` see them.

pub mod capacity;
pub mod check;
pub mod compare;
pub mod merge;
pub mod stress;
pub mod ttft;
