//! Checks a plan makes before anything runs: outputs that can be written, and what
//! `--virtual-time` cannot simulate.

use anyhow::bail;

use super::OutputPlan;
use crate::cli::{MonitorArgs, RequestArgs};

/// An output's directory exists and takes a new file (checked before the run, so that a
/// result is never measured and then lost).
pub fn check_writable(path: &std::path::Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if !dir.is_dir() {
        bail!(
            "--output {}: the directory {} does not exist",
            path.display(),
            dir.display()
        );
    }
    if path.is_dir() {
        bail!("--output {}: is a directory", path.display());
    }
    let probe = dir.join(format!(".llmbench-probe-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => bail!(
            "--output {}: cannot write in {}: {e}",
            path.display(),
            dir.display()
        ),
    }
}

/// What `--virtual-time` does not simulate, refused before anything runs.
pub(super) fn check_virtual(
    output: &OutputPlan,
    req: Option<&RequestArgs>,
    monitor: &MonitorArgs,
) -> anyhow::Result<()> {
    if output.shard.is_some() {
        bail!("--virtual-time runs in one process: drop --shard");
    }
    if let Some(r) = req {
        if r.dataset == "multi-turn" || r.trace.is_some() {
            bail!(
                "--virtual-time does not simulate conversations or traces yet: use a single-request dataset"
            );
        }
    }
    if monitor.metrics_url.is_some() || monitor.server_pid.is_some() {
        bail!("--virtual-time has no server to monitor: drop --metrics-url and --server-pid");
    }
    Ok(())
}
