//! Chaos under load: every simulator fault at once, the server killed and restarted mid-run,
//! llmbench itself killed (-9) or stopped (SIGTERM, SIGINT) mid-run, a full disk. In every case
//! nothing measured is lost and every request is accounted for: ok + failed + stopped = planned,
//! and what the server saw matches what was sent.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{start_sim, throughput_args, zero};
use llmbench::commands::throughput;
use llmbench::record::FailureKind;
use llmbench::sim::{Faults, SimConfig};

const EXE: &str = env!("CARGO_BIN_EXE_llmbench");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends, passed or not (a panicking test must not leave a
/// server behind holding the test harness's output open).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `llmbench sim` on `port`, once it answers.
fn sim_process(port: u16) -> Reaped {
    let child = Command::new(EXE)
        .args(["sim", "--port", &port.to_string(), "--profile", "zero"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "the simulator did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Reaped(child)
}

fn signal(child: &Child, sig: i32) {
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_once_and_every_request_accounted_for() {
    let sim = start_sim(SimConfig {
        max_num_seqs: 4,
        queue_limit: 6,
        faults: Faults {
            error_rate: 0.1,
            error_status: 503,
            stall_ms: 30,
            malformed_rate: 0.1,
            slow_start_ms: 5,
            ..zero().faults
        },
        decode_base_ms: 2.0,
        ..zero()
    })
    .await;
    let args = throughput_args(
        &sim.url(),
        &[
            "--rate",
            "100",
            "--arrival",
            "constant",
            "--duration",
            "2s",
            "--max-tokens",
            "16",
            "--seed",
            "4",
            "--timeout",
            "2s",
        ],
    );
    let r = throughput::execute(&args).await.unwrap();
    let s = &r.summary;
    assert_eq!(s.requests.total, 200, "every arrival has a record");
    assert_eq!(s.requests.ok + s.requests.failed + s.requests.stopped, 200);
    let sent = r
        .requests
        .iter()
        .filter(|q| q.error.as_ref().map(|e| e.kind) != Some(FailureKind::Dropped))
        .count() as u64;
    assert_eq!(
        sim.stats.requests_received.load(Ordering::Relaxed),
        sent,
        "the server saw each sent request once"
    );
    for kind in ["http", "bad_response"] {
        assert!(
            s.errors.get(kind).copied().unwrap_or(0) > 0,
            "{kind} expected: {:?}",
            s.errors
        );
    }
    assert!(s.requests.ok > 50, "{:?}", s.requests);
    // Every failure says what it was; every success is complete.
    for q in &r.requests {
        match &q.error {
            Some(e) => assert!(!e.detail.is_empty(), "{q:?}"),
            None => assert_eq!(q.output_tokens, Some(16)),
        }
    }
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_killed_and_restarted_mid_run() {
    let port = free_port();
    let mut first = sim_process(port);
    let url = format!("http://127.0.0.1:{port}");
    let restarted = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        signal(&first.0, libc::SIGKILL);
        let _ = first.0.wait();
        let down_at = Instant::now();
        std::thread::sleep(Duration::from_millis(400));
        (sim_process(port), down_at)
    });
    let started = Instant::now();
    let args = throughput_args(
        &url,
        &[
            "--rate",
            "50",
            "--arrival",
            "constant",
            "--duration",
            "2.5s",
            "--max-tokens",
            "8",
            "--seed",
            "2",
            "--timeout",
            "3s",
        ],
    );
    let r = throughput::execute(&args).await.unwrap();
    let (second, down_at) = restarted.join().unwrap();
    let s = &r.summary;
    assert_eq!(s.requests.total, 125);
    assert_eq!(s.requests.ok + s.requests.failed, 125, "{:?}", s.errors);
    // The gap: failures only there, and of the kinds a dead server gives.
    let gap_start = (down_at - started).as_nanos() as u64;
    let mut after = 0;
    for q in &r.requests {
        if let Some(e) = &q.error {
            assert!(
                matches!(e.kind, FailureKind::Connect | FailureKind::StreamBroken),
                "{q:?}"
            );
        }
        // Sent well after the restart: answered.
        if q.sent_ns > gap_start + 700_000_000 {
            assert!(q.is_ok(), "after the restart: {q:?}");
            after += 1;
        }
    }
    assert!(
        s.requests.failed >= 5,
        "the ~400 ms without a server fail: {:?}",
        s.errors
    );
    assert!(after >= 20, "requests after the restart: {after}");
    drop(second);
}

fn throughput_process(url: &str, out: &[&Path]) -> Child {
    let mut cmd = Command::new(EXE);
    cmd.args([
        "throughput",
        "--url",
        url,
        "--rate",
        "40",
        "--duration",
        "30s",
        "--max-tokens",
        "8",
        "-q",
    ]);
    for o in out {
        cmd.args(["-o", o.to_str().unwrap()]);
    }
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_llmbench_keeps_its_jsonl_and_report_rebuilds_the_result() {
    let sim = start_sim(zero()).await;
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("run.jsonl");
    let child = throughput_process(&sim.url(), &[&jsonl]);
    std::thread::sleep(Duration::from_millis(2000));
    signal(&child, libc::SIGKILL);
    let _ = child.wait_with_output();
    let file = llmbench::sink::read(&jsonl).unwrap();
    let n = file.records.len() as u64;
    assert!(n >= 30, "{n} records before the kill");
    // Every record the file holds is a complete line; at most the requests in flight at the
    // kill are missing from it, and at most one line was cut.
    let seen = sim.stats.requests_received.load(Ordering::Relaxed);
    assert!(
        seen >= n && seen <= n + 3,
        "server saw {seen}, file holds {n}"
    );
    assert!(file.records.iter().all(|r| r.is_ok()));
    let rebuilt = dir.path().join("rebuilt.json");
    let o = Command::new(EXE)
        .args([
            "report",
            jsonl.to_str().unwrap(),
            "--json",
            rebuilt.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = llmbench::report::read(&rebuilt).unwrap();
    assert_eq!(r.summary.requests.total, n);
    assert_eq!(r.summary.requests.ok, n);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sigint_write_the_report() {
    let sim = start_sim(zero()).await;
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let before = sim.stats.requests_received.load(Ordering::Relaxed);
        let dir = tempfile::tempdir().unwrap();
        let (json, jsonl) = (dir.path().join("r.json"), dir.path().join("r.jsonl"));
        let child = throughput_process(&sim.url(), &[&json, &jsonl]);
        std::thread::sleep(Duration::from_millis(1500));
        signal(&child, sig);
        let o = child.wait_with_output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(130),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let r = llmbench::report::read(&json).unwrap();
        assert!(r.interrupted, "{name}");
        let sent = sim.stats.requests_received.load(Ordering::Relaxed) - before;
        let s = &r.summary.requests;
        assert_eq!(s.ok + s.failed + s.stopped, s.total, "{name}");
        let measured = r
            .requests
            .iter()
            .filter(|q| q.error.as_ref().map(|e| e.kind) != Some(FailureKind::Dropped))
            .count() as u64;
        assert_eq!(
            measured, sent,
            "{name}: every request the server saw is in the report"
        );
        assert_eq!(
            llmbench::sink::read(&jsonl).unwrap().records.len() as u64,
            s.total,
            "{name}"
        );
    }
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_before_the_run_is_named_and_nothing_is_sent() {
    let sim = start_sim(zero()).await;
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.jsonl");
    std::os::unix::fs::symlink("/dev/full", &full).unwrap(); // every write: ENOSPC
    let json = dir.path().join("r.json");
    let o = Command::new(EXE)
        .args(["run", "--url", &sim.url(), "--runs", "20", "-q"])
        .args(["-o", full.to_str().unwrap(), "-o", json.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("No space left") && err.contains("full.jsonl"),
        "the cause and the file are named: {err}"
    );
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(
        sim.stats.requests_received.load(Ordering::Relaxed),
        0,
        "nothing was measured, so nothing is lost"
    );
    sim.stop().await;
}

/// The disk fills during the run: a 16 KB tmpfs in a mount namespace of the child's own
/// (`unshare -m`, root or user namespaces needed; said and skipped where neither is allowed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_full_mid_run_fails_its_file_loudly_and_loses_nothing_else() {
    let probe = Command::new("unshare")
        .args(["-m", "sh", "-c", "mount -t tmpfs -o size=16k none /mnt"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("skipped: cannot mount a tmpfs in a mount namespace here (unshare -m)");
        return;
    }
    let sim = start_sim(zero()).await;
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let (jsonl, json) = (small.join("r.jsonl"), dir.path().join("r.json"));
    let script = format!(
        "mount -t tmpfs -o size=16k none {} && exec \"$0\" \"$@\"",
        small.display()
    );
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", &script, EXE])
        .args(["run", "--url", &sim.url(), "--runs", "200", "-c", "4"])
        .args(["--max-tokens", "8", "-q"])
        .args(["-o", jsonl.to_str().unwrap(), "-o", json.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("No space left") && err.contains("r.jsonl"),
        "the cause and the file are named: {err}"
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "a lost output is not a success: {err}"
    );
    let r = llmbench::report::read(&json).unwrap();
    assert_eq!(
        r.summary.requests.total, 200,
        "the other output holds every request"
    );
    assert_eq!(r.summary.requests.ok, 200);
    assert_eq!(
        sim.stats.requests_received.load(Ordering::Relaxed),
        201,
        "200 measured + 1 warmup, each sent once"
    );
    sim.stop().await;
}
