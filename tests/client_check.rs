//! The client's self-check (`client` in every result): a client pinned to a busy core, offered
//! a rate it cannot send, is flagged client-bound; a relaxed run is not; and its CPU and peak
//! RSS agree with what the kernel says of the process (wait4's rusage, an independent reading).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use llmbench::report::BenchResult;

const BIN: &str = env!("CARGO_BIN_EXE_llmbench");

/// One test at a time: the busy-core test's spinning thread must not slow the relaxed run.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The first core this process may run on.
fn first_core() -> usize {
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        (0..libc::CPU_SETSIZE as usize)
            .find(|c| libc::CPU_ISSET(*c, &set))
            .unwrap_or(0)
    }
}

fn pin_to(core: usize) -> std::io::Result<()> {
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Run llmbench to completion (optionally pinned to `core`): its result and the kernel's
/// rusage of the process (CPU s, peak RSS MB).
fn run(args: &[&str], out: &Path, core: Option<usize>) -> (BenchResult, f64, f64) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .args(["--quiet", "--output", out.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(c) = core {
        use std::os::unix::process::CommandExt;
        unsafe {
            cmd.pre_exec(move || pin_to(c));
        }
    }
    // Reaped by wait4 below (which also gives the rusage), not by Child::wait.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().expect("llmbench starts");
    let (status, usage) = unsafe {
        let mut status = 0;
        let mut usage: libc::rusage = std::mem::zeroed();
        let pid = libc::wait4(child.id() as i32, &mut status, 0, &mut usage);
        assert_eq!(pid, child.id() as i32);
        (status, usage)
    };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "exit status {status}"
    );
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu_s = secs(usage.ru_utime) + secs(usage.ru_stime);
    let rss_mb = usage.ru_maxrss as f64 * 1024.0 / 1e6;
    let result: BenchResult =
        serde_json::from_slice(&std::fs::read(out).expect("result written")).expect("valid json");
    (result, cpu_s, rss_mb)
}

#[test]
fn a_client_pinned_to_a_busy_core_offered_a_rate_it_cannot_send_is_flagged() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let core = first_core();
    // A spinning thread on the same core: the client gets about half of it.
    let done = Arc::new(AtomicBool::new(false));
    let hog = {
        let done = done.clone();
        std::thread::spawn(move || {
            pin_to(core).expect("pin the hog");
            while !done.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        })
    };
    let (r, _, _) = run(
        &[
            "throughput",
            "--sim-profile",
            "zero",
            "--rate",
            "4000",
            "--duration",
            "500ms",
            "--max-tokens",
            "16",
        ],
        &dir.path().join("bound.json"),
        Some(core),
    );
    done.store(true, Ordering::Relaxed);
    hog.join().unwrap();
    let c = r.client.expect("the result carries the self-check");
    assert_eq!(c.cores, 1, "pinned to one core");
    assert!(c.bound, "{c:?}");
    assert!(
        c.reasons.iter().any(|r| r.contains("dispatch lag")),
        "the late arrivals are named: {:?}",
        c.reasons
    );
    // The schedule the client could not keep shows in its own records too.
    let lag = r.summary.send_lag_ms.expect("open loop").p50;
    assert!(lag > 1.0, "records' send lag p50 {lag} ms");
}

#[test]
fn a_relaxed_run_is_not_flagged() {
    let _one = serial();
    let dir = tempfile::tempdir().unwrap();
    let (r, _, _) = run(
        &["throughput", "--rate", "10", "--duration", "3s"],
        &dir.path().join("relaxed.json"),
        None,
    );
    let c = r.client.expect("the result carries the self-check");
    assert!(!c.bound && c.reasons.is_empty(), "{c:?}");
    assert!(c.send_lag_p99_ms.is_some() && c.loop_lag_p99_ms.is_some());
    assert!(c.tokens > 0 && c.cpu_us_per_token.is_some());
}

#[test]
fn cpu_and_peak_rss_agree_with_the_kernels_rusage() {
    let _one = serial();
    // An external server: every CPU second of the child is the client's.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(common::start_sim(common::zero()));
    let url = sim.url();
    let dir = tempfile::tempdir().unwrap();
    let (r, total_cpu_s, rss_mb) = run(
        &[
            "run",
            "--url",
            &url,
            "--runs",
            "3000",
            "--concurrency",
            "16",
            "--max-tokens",
            "32",
        ],
        &dir.path().join("cpu.json"),
        None,
    );
    let c = r.client.expect("the result carries the self-check");
    // The session's CPU is part of the process's; the rest is start-up (the tokenizer, the
    // workload) and the report, a small part of 3,000 requests' work.
    assert!(
        c.cpu_s <= total_cpu_s && c.cpu_s >= 0.5 * total_cpu_s,
        "session CPU {} s, process {} s",
        c.cpu_s,
        total_cpu_s
    );
    let tokens: u64 = r.requests.iter().filter_map(|q| q.output_tokens).sum();
    assert_eq!(c.tokens, tokens);
    let per_token = c.cpu_us_per_token.unwrap();
    assert!((per_token - c.cpu_s * 1e6 / tokens as f64).abs() < 1e-6);
    // The peak at the session's end is at most the process's lifetime peak, and most of it.
    let peak = c.rss_peak_mb.unwrap();
    assert!(
        peak <= rss_mb + 0.01 && peak >= 0.8 * rss_mb,
        "peak {peak} MB, kernel {rss_mb} MB"
    );
    rt.block_on(sim.stop());
}
