//! llmbench: benchmark LLM inference servers.
//!
//! Data flow: `cli` (arguments) → `plan` (validated, local inputs loaded) → `session` (target,
//! monitor, Ctrl-C, live outputs) → `workload` (what to send) → `scheduler` (when) → `client`
//! (how, and timing) → `record` (one per request) → `metrics` (statistics) → `result` →
//! `verdict` (stress, compare, check, merge, intervals) → `report` (console, files).
//! `commands` glue one subcommand each; `sim` is the built-in simulated server; `protocol` holds
//! the wire formats both sides share.

pub mod arms;
pub mod cli;
pub mod client;
pub mod commands;
pub mod metrics;
pub mod monitor;
pub mod plan;
pub mod protocol;
pub mod record;
pub mod report;
pub mod result;
pub mod scheduler;
pub mod selfcheck;
pub mod session;
pub mod shard;
pub mod sim;
pub mod sink;
pub mod target;
pub mod units;
pub mod verdict;
pub mod workload;

/// Raise the soft limit on open files to the hard limit: thousands of concurrent streams need
/// thousands of sockets, and many systems start processes with a soft limit of 1024.
pub fn raise_fd_limit() {
    #[cfg(unix)]
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
