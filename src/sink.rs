//! JSONL written as records arrive: a header line, then one record per line, flushed as each
//! request completes, so that a crash or Ctrl-C loses nothing measured. `llmbench report` (and
//! `merge`) read it back.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;

use crate::record::RequestRecord;
use crate::result::Header;

pub struct Sink {
    path: PathBuf,
    out: Mutex<std::io::BufWriter<std::fs::File>>,
    /// The first write error: the file is incomplete from there (the run goes on in memory).
    failed: Mutex<Option<String>>,
}

impl Sink {
    /// Create the file and write the header line (the run's identity, see [`Header`]).
    pub fn create(path: &Path, header: &Header) -> anyhow::Result<Sink> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("--output {}: cannot create the file", path.display()))?;
        let mut w = std::io::BufWriter::new(file);
        let line = header.to_line()?;
        w.write_all(line.as_bytes())
            .and_then(|_| w.write_all(b"\n"))
            .and_then(|_| w.flush())
            .with_context(|| format!("--output {}: cannot write the file", path.display()))?;
        Ok(Sink {
            path: path.to_path_buf(),
            out: Mutex::new(w),
            failed: Mutex::new(None),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record and flush it to the OS. The first failure (a full disk) is said at
    /// once, in one line; the records stay in memory for the final outputs.
    pub fn write(&self, rec: &RequestRecord) {
        let mut w = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let written = serde_json::to_writer(&mut *w, rec)
            .map_err(std::io::Error::from)
            .and_then(|_| w.write_all(b"\n"))
            .and_then(|_| w.flush());
        if let Err(e) = written {
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            if failed.is_none() {
                eprintln!(
                    "error: writing {} failed ({e}); the run goes on, and the file is written again from memory at the end",
                    self.path.display()
                );
                *failed = Some(e.to_string());
            }
        }
    }

    /// The file is incomplete (a write failed during the run).
    pub fn failed(&self) -> bool {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

/// A `.jsonl` file read back.
pub struct RecordFile {
    pub header: Header,
    pub records: Vec<RequestRecord>,
    /// The last line was cut (a process killed mid-write): it was left out.
    pub truncated: bool,
}

/// Read a JSONL file: its header and its records. Errors name the file and the line.
pub fn read(path: &Path) -> anyhow::Result<RecordFile> {
    let mut records = Vec::new();
    let (header, truncated) = read_each(path, |r| records.push(r))?;
    Ok(RecordFile {
        header,
        records,
        truncated,
    })
}

/// Read a JSONL file one record at a time (a long run's file need not fit in memory): its
/// header, and whether the last line was cut (it is left out).
pub fn read_each(
    path: &Path,
    mut each: impl FnMut(RequestRecord),
) -> anyhow::Result<(Header, bool)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let first = lines
        .next()
        .with_context(|| format!("{}: empty file", path.display()))?
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let header = Header::from_line(&first, &path.display().to_string())?;
    // A line is parsed once the next is read: only the last one may be cut.
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in lines.enumerate() {
        let line = line.with_context(|| format!("{}: cannot read", path.display()))?;
        if let Some((n, prev)) = pending.take() {
            each(parse(path, n, &prev)?);
        }
        if !line.trim().is_empty() {
            pending = Some((i + 2, line));
        }
    }
    let mut truncated = false;
    if let Some((n, last)) = pending {
        match parse(path, n, &last) {
            Ok(r) => each(r),
            // A run killed mid-write leaves a partial last line: keep everything before it.
            Err(_) => truncated = true,
        }
    }
    Ok((header, truncated))
}

fn parse(path: &Path, line: usize, text: &str) -> anyhow::Result<RequestRecord> {
    serde_json::from_str::<RequestRecord>(text)
        .map_err(|e| anyhow::anyhow!("{}:{line}: not a request record: {e}", path.display()))
}
