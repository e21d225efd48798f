//! The file readers take any bytes without panicking: results (`.json`, `.jsonl`), traces
//! (detected, and each format named), datasets (JSONL and ShareGPT JSON). Each input is written
//! to a file, as the commands read them.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use llmbench::units::Named;
use llmbench::workload::trace::{self, TraceFormat, TraceSpec};

fn file(ext: &str, data: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmbench-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("input.{ext}"));
    std::fs::write(&p, data).unwrap();
    p
}

fuzz_target!(|data: &[u8]| {
    for ext in ["json", "jsonl"] {
        let _ = llmbench::report::read(&file(ext, data));
        let _ = llmbench::workload::dataset::load(&file(ext, data), None);
    }
    let p = file("trace", data);
    let mut spec = TraceSpec {
        format: None,
        scale: 1.0,
        start_s: 0.0,
        duration_s: None,
        max_requests: Some(1000),
    };
    let _ = trace::load(&p, &spec);
    for f in TraceFormat::ALL {
        spec.format = Some(*f);
        let _ = trace::load(&p, &spec);
    }
});
