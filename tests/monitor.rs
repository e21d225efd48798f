//! `--server-pid` figures against /proc: a multi-threaded server with a child process, its RSS
//! and CPU as the monitor reports them and as /proc says of the same tree over the same window.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llmbench::monitor::{Monitor, MonitorConfig};
use llmbench::record::Clock;

/// 200 MB touched in the parent, 50 MB in a child, 12 idle threads and one spinning thread.
const SERVER: &str = r#"
import subprocess, sys, threading, time
buf = bytearray(200 * 1024 * 1024)
for i in range(0, len(buf), 4096):
    buf[i] = 1
child = subprocess.Popen([sys.executable, "-c",
    "b = bytearray(50 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1\nimport time; time.sleep(120)"])
for _ in range(12):
    threading.Thread(target=lambda: time.sleep(120), daemon=True).start()
def spin():
    while True:
        pass
threading.Thread(target=spin, daemon=True).start()
time.sleep(1.0)  # the child has touched its memory
print(child.pid, flush=True)
time.sleep(120)
"#;

fn proc_field(pid: u32, file: &str, key: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// utime + stime of a process, in seconds (clock ticks of 1/100 s).
fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_rss_and_cpu_agree_with_proc_for_a_threaded_tree() {
    let mut server = Command::new("python3")
        .args(["-c", SERVER])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let pid = server.id();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let child: u32 = line.trim().parse().unwrap();
    let _guard = Killed(server);
    let threads = proc_field(pid, "status", "Threads:");
    assert!(threads >= 13.0, "the server has {threads} threads");

    let clock = Clock::start();
    let cfg = MonitorConfig {
        server_pid: Some(pid),
        metrics_url: None,
        metrics: Vec::new(),
    };
    let cpu0 = cpu_s(pid) + cpu_s(child);
    let t0 = Instant::now();
    let monitor = Monitor::start(cfg, clock);
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let report = monitor.finish(0.0, 10.0).await;
    let cpu_pct = (cpu_s(pid) + cpu_s(child) - cpu0) / t0.elapsed().as_secs_f64() * 100.0;
    let rss_mb = (proc_field(pid, "status", "VmRSS:") + proc_field(child, "status", "VmRSS:"))
        * 1024.0
        / 1e6;

    let got_rss = report.server_rss_peak_mb.expect("server RSS sampled");
    assert!(
        (got_rss - rss_mb).abs() <= 0.05 * rss_mb,
        "monitor RSS {got_rss:.0} MB, /proc {rss_mb:.0} MB"
    );
    let got_cpu = report.server_cpu_avg_pct.expect("server CPU sampled");
    // One spinning thread: about one core (threads summed as processes would read about two).
    // The windows differ by the first sample (CPU needs two readings) and a busy machine varies
    // the spinner's share over time, so allow 10% and 10 points.
    assert!(
        (got_cpu - cpu_pct).abs() <= 0.1 * cpu_pct + 10.0,
        "monitor CPU {got_cpu:.1}%, /proc {cpu_pct:.1}%"
    );
}
