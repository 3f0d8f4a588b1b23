//! The tamper-evident audit log: JSON Lines, one [`AuditEntry`] per line, each
//! carrying the SHA-256 of the previous one, fsynced before `append` returns.
//!
//! The newest `seq` and `hash` are also kept in a separate head file (`actions.head`
//! beside `actions.log`), so cutting lines off the end shows too. An attacker running
//! as the same user can rewrite both files consistently; what the chain guarantees is
//! that an edit, deletion, insertion, reordering or truncation of the log alone is
//! found and named by [`verify`] (`aios audit verify`).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aios_common::types::{AuditEntry, TrustLevel};
use chrono::Utc;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::{error, warn};

/// Why the log cannot be written. Tool calls are refused while this is so.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file or the head could not be written or synced.
    #[error(
        "cannot write the audit log {path}: {source}; tool calls are refused until it is writable"
    )]
    Io {
        /// The log.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Where [`verify`] found the chain broken. `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The log could not be read.
    #[error("cannot read {0}")]
    Unreadable(String),
    /// A line is broken; `what` says how.
    #[error("line {line}: {what}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        what: String,
    },
    /// Entries are missing from the end.
    #[error("truncated after line {lines}: the head records {head_entries} entries")]
    Truncated {
        /// Lines present.
        lines: usize,
        /// Entries the head says were written.
        head_entries: u64,
    },
    /// The head file disagrees with the log in another way.
    #[error("head: {0}")]
    Head(String),
}

/// The head record: the last entry written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// `seq` of the last entry.
    pub seq: u64,
    /// `hash` of the last entry.
    pub hash: String,
}

/// The head file that belongs to `log`.
pub fn head_path(log: &Path) -> PathBuf {
    log.with_extension("head")
}

/// The hash an entry must carry: SHA-256 over the previous hash, a newline and the
/// entry's JSON with `hash` empty.
pub fn entry_hash(e: &AuditEntry) -> String {
    let mut unsigned = e.clone();
    unsigned.hash.clear();
    let json = serde_json::to_string(&unsigned).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(e.prev_hash.as_bytes());
    h.update(b"\n");
    h.update(json.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the chain of `log` and its head; returns the number of entries.
pub fn verify(log: &Path) -> Result<u64, VerifyError> {
    check(log).map(|(entries, _)| entries.len() as u64)
}

/// [`verify`], keeping what it read: the entries and the head.
fn check(log: &Path) -> Result<(Vec<AuditEntry>, Option<Head>), VerifyError> {
    let file =
        File::open(log).map_err(|e| VerifyError::Unreadable(format!("{}: {e}", log.display())))?;
    // The agent holds an exclusive lock while it appends a line and moves the head, so
    // a check running beside it never sees one without the other.
    let file = Flock::lock(file, FlockArg::LockShared).map_err(|(_, e)| {
        VerifyError::Unreadable(format!("{}: cannot lock: {e}", log.display()))
    })?;
    let mut entries: Vec<AuditEntry> = Vec::new();
    for (i, line) in BufReader::new(&*file).lines().enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| VerifyError::Line {
            line: n,
            what: format!("unreadable: {e}"),
        })?;
        let e: AuditEntry = serde_json::from_str(&line).map_err(|err| VerifyError::Line {
            line: n,
            what: format!("not an audit entry ({err})"),
        })?;
        let bad = |what: String| VerifyError::Line { line: n, what };
        if e.seq != i as u64 {
            return Err(bad(format!(
                "seq is {} where {i} was expected (a line was removed, inserted or moved)",
                e.seq
            )));
        }
        let prev = entries.last().map_or("", |l| l.hash.as_str());
        if e.prev_hash != prev {
            return Err(bad(
                "prev_hash does not match the line before (a line was removed, inserted or moved)"
                    .into(),
            ));
        }
        if entry_hash(&e) != e.hash {
            return Err(bad(
                "the hash does not match the content (the line was edited)".into(),
            ));
        }
        entries.push(e);
    }
    let lines = entries.len();
    let head = read_head(&head_path(log)).map_err(VerifyError::Head)?;
    match (&head, entries.last()) {
        (None, None) => Ok((entries, head)),
        (None, Some(_)) => Err(VerifyError::Head(format!(
            "{} is missing, so truncation cannot be ruled out",
            head_path(log).display()
        ))),
        (Some(h), None) => Err(VerifyError::Truncated {
            lines: 0,
            head_entries: h.seq + 1,
        }),
        (Some(h), Some(l)) if h.seq > l.seq => Err(VerifyError::Truncated {
            lines,
            head_entries: h.seq + 1,
        }),
        (Some(h), Some(l)) if h.seq < l.seq => Err(VerifyError::Line {
            line: h.seq as usize + 2,
            what: format!(
                "the head ends at line {}; this and later lines were added behind its back",
                h.seq + 1
            ),
        }),
        (Some(h), Some(l)) if h.hash != l.hash => Err(VerifyError::Line {
            line: lines,
            what: "the last line does not match the head (it was replaced)".into(),
        }),
        (Some(_), Some(_)) => Ok((entries, head)),
    }
}

fn read_head(path: &Path) -> Result<Option<Head>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{} is unreadable: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Every entry of `log` that parses, oldest first (for `aios audit tail`).
pub fn read_entries(log: &Path) -> std::io::Result<Vec<AuditEntry>> {
    let file = File::open(log)?;
    Ok(BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect())
}

/// What one audit line records, before the chain fields are filled in.
#[derive(Debug, Clone)]
pub struct Record {
    /// The tool call's id.
    pub call_id: String,
    /// Tool name or event.
    pub action: String,
    /// Arguments, secrets already redacted.
    pub args: serde_json::Value,
    /// Trust of the request.
    pub trust: TrustLevel,
    /// Source of untrusted content, if any.
    pub source: Option<String>,
    /// Approved (by policy or the person).
    pub approved: bool,
    /// `intent`, `ok: …`, `error: …`, `denied: …`.
    pub result: String,
}

struct Inner {
    path: PathBuf,
    file: Option<File>,
    head: Option<Head>,
    /// Why `file` is `None`.
    broken: String,
}

/// The agent's writer. Appends are serialized and durable before they return.
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditLog")
    }
}

impl AuditLog {
    /// Opens (creating, mode 0600, folder 0700) the log at `path`. A log that fails
    /// verification is never appended to: it and its head are renamed aside
    /// (`actions.log.broken-<time>`) and a new chain starts with an entry saying so.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut broken = None;
        let checked = if path.exists() {
            check(path)
        } else {
            // A deleted log whose head remains: the new chain continues from the head,
            // so the gap shows at line 1.
            Ok((Vec::new(), read_head(&head_path(path)).ok().flatten()))
        };
        let (entries, head) = checked.or_else(|e| {
            let stamp = Utc::now().format("%Y%m%dT%H%M%S");
            let aside = PathBuf::from(format!("{}.broken-{stamp}", path.display()));
            error!(log = %path.display(), "the audit log fails verification ({e}); it is kept as {} and a new one is started", aside.display());
            std::fs::rename(path, &aside).map_err(io)?;
            let _ = std::fs::rename(head_path(path), format!("{}.head", aside.display()));
            broken = Some(format!(
                "the previous log failed verification ({e}) and is kept as {}",
                aside.display()
            ));
            Ok::<_, AuditError>((Vec::new(), None))
        })?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        let log = Self {
            inner: Arc::new(Mutex::new(Inner {
                path: path.to_owned(),
                file: Some(file),
                head,
                broken: String::new(),
            })),
        };
        if let Some(why) = broken {
            log.append_now(Record {
                call_id: String::new(),
                action: "audit_restart".into(),
                args: serde_json::Value::Null,
                trust: TrustLevel::System,
                source: None,
                approved: false,
                result: why,
            })?;
        }
        log.close_dangling_intents(&entries)?;
        Ok(log)
    }

    /// An intent without an outcome means the agent stopped while that call ran
    /// (a crash, a kill): say so, so that every intent has exactly one outcome.
    fn close_dangling_intents(&self, entries: &[AuditEntry]) -> Result<(), AuditError> {
        // One pass: an intent stays open until a later line of the same call.
        let mut open: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if e.result == "intent" {
                open.insert(&e.call_id, i);
            } else {
                open.remove(e.call_id.as_str());
            }
        }
        let mut open: Vec<usize> = open.into_values().collect();
        open.sort_unstable();
        for e in open.into_iter().map(|i| &entries[i]) {
            warn!(call_id = %e.call_id, action = %e.action, "a tool call was running when the agent stopped; its outcome is unknown");
            self.append_now(Record {
                call_id: e.call_id.clone(),
                action: e.action.clone(),
                args: e.args.clone(),
                trust: e.trust,
                source: e.source.clone(),
                approved: e.approved,
                result: "error: outcome unknown: the agent stopped while this ran".into(),
            })?;
        }
        Ok(())
    }

    /// A log that cannot be written: every append fails with `why`, so every tool
    /// call is refused.
    pub fn unavailable(path: PathBuf, why: String) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                path,
                file: None,
                head: None,
                broken: why,
            })),
        }
    }

    /// The log's path.
    pub fn path(&self) -> PathBuf {
        self.inner
            .lock()
            .map(|i| i.path.clone())
            .unwrap_or_default()
    }

    /// Appends `r`, fsyncs the log, then rewrites the head (temp file, fsync, rename).
    pub fn append_now(&self, r: Record) -> Result<AuditEntry, AuditError> {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let path = inner.path.clone();
        let io = |source| AuditError::Io {
            path: path.clone(),
            source,
        };
        let (seq, prev_hash) = match &inner.head {
            Some(h) => (h.seq + 1, h.hash.clone()),
            None => (0, String::new()),
        };
        let mut e = AuditEntry {
            seq,
            ts: Utc::now(),
            call_id: r.call_id,
            action: r.action,
            args: r.args,
            trust: r.trust,
            source: r.source,
            approved: r.approved,
            result: r.result,
            prev_hash,
            hash: String::new(),
        };
        e.hash = entry_hash(&e);
        let mut line = serde_json::to_string(&e).unwrap_or_default();
        line.push('\n');
        let broken = inner.broken.clone();
        let Some(file) = inner.file.as_mut() else {
            return Err(io(std::io::Error::other(broken)));
        };
        let _lock = file
            .try_clone()
            .map_err(io)
            .and_then(|f| Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| io(e.into())))?;
        if let Err(err) = file.write_all(line.as_bytes()) {
            // Part of the line may be in the file: no later line can extend the
            // chain honestly, so the log takes no more entries (every tool call is
            // refused) until the person looks at it.
            inner.file = None;
            inner.broken = format!(
                "a write to the audit log failed ({err}); it may end in a partial line: check it with `aios audit verify` and restart the agent"
            );
            return Err(io(err));
        }
        // The line is in the file: the chain moves on now, whatever fails next, so
        // the next entry never reuses this `seq` or links to the one before it.
        let head = Head {
            seq,
            hash: e.hash.clone(),
        };
        let synced = file.sync_data();
        inner.head = Some(head.clone());
        synced.map_err(io)?;
        write_head(&head_path(&path), &head).map_err(io)?;
        Ok(e)
    }

    /// [`AuditLog::append_now`] off the async runtime.
    pub async fn append(&self, r: Record) -> Result<AuditEntry, AuditError> {
        let log = self.clone();
        match tokio::task::spawn_blocking(move || log.append_now(r)).await {
            Ok(r) => r,
            Err(e) => {
                warn!("audit writer stopped: {e}");
                Err(AuditError::Io {
                    path: self.path(),
                    source: std::io::Error::other(e.to_string()),
                })
            }
        }
    }
}

fn write_head(path: &Path, head: &Head) -> std::io::Result<()> {
    let tmp = path.with_extension("head.tmp");
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(serde_json::to_string(head).unwrap_or_default().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize) -> Record {
        Record {
            // Pairs: call_0 intent and outcome, call_1 intent and outcome, ...
            call_id: format!("call_{}", i / 2),
            action: "file_write".into(),
            args: serde_json::json!({"path": format!("/tmp/{i}")}),
            trust: TrustLevel::User,
            source: None,
            approved: true,
            result: if i.is_multiple_of(2) {
                "intent".into()
            } else {
                "ok: done".into()
            },
        }
    }

    #[test]
    fn a_failed_head_update_does_not_hold_the_chain_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("actions.log");
        let log = AuditLog::open(&path).expect("open");
        log.append_now(record(0)).expect("append");
        // The head cannot be replaced (a folder in its place): the append reports it.
        let head = head_path(&path);
        std::fs::remove_file(&head).expect("rm head");
        std::fs::create_dir(&head).expect("a folder where the head goes");
        std::fs::write(head.join("x"), "").expect("non-empty");
        let e = log
            .append_now(record(1))
            .expect_err("the head update fails");
        assert!(e.to_string().contains("actions"), "{e}");
        std::fs::remove_dir_all(&head).expect("rm folder");
        let third = log.append_now(record(2)).expect("append");
        assert_eq!(third.seq, 2, "seq 1 is not reused");
        assert_eq!(verify(&path).expect("the chain holds"), 3);
    }

    fn log_with(n: usize) -> (tempfile::TempDir, PathBuf, Vec<String>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("actions.log");
        let log = AuditLog::open(&path).expect("open");
        for i in 0..n {
            log.append_now(record(i)).expect("append");
        }
        let lines = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .map(str::to_owned)
            .collect();
        (dir, path, lines)
    }

    fn rewrite(path: &Path, lines: &[String]) {
        let mut text = lines.join("\n");
        if !lines.is_empty() {
            text.push('\n');
        }
        std::fs::write(path, text).expect("rewrite");
    }

    #[test]
    fn an_untouched_log_verifies_and_is_private() {
        let (_d, path, lines) = log_with(6);
        assert_eq!(verify(&path), Ok(6));
        assert_eq!(lines.len(), 6);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Reopening continues the chain.
        AuditLog::open(&path)
            .expect("reopen")
            .append_now(record(6))
            .expect("append");
        assert_eq!(verify(&path), Ok(7));
    }

    #[test]
    fn every_kind_of_tampering_names_the_line() {
        let line_of = |e: VerifyError| match e {
            VerifyError::Line { line, .. } => line,
            other => panic!("expected a line error, got {other}"),
        };
        for target in 0..6 {
            // Edit one field of one line.
            let (_d, path, mut lines) = log_with(6);
            lines[target] = lines[target].replace("/tmp/", "/etc/");
            rewrite(&path, &lines);
            assert_eq!(
                line_of(verify(&path).expect_err("edit")),
                target + 1,
                "edit of line {}",
                target + 1
            );

            // Delete one line (the last one is truncation, checked below).
            if target < 5 {
                let (_d, path, mut lines) = log_with(6);
                lines.remove(target);
                rewrite(&path, &lines);
                assert_eq!(line_of(verify(&path).expect_err("delete")), target + 1);
            }

            // Swap it with the next one.
            if target < 5 {
                let (_d, path, mut lines) = log_with(6);
                lines.swap(target, target + 1);
                rewrite(&path, &lines);
                assert_eq!(line_of(verify(&path).expect_err("reorder")), target + 1);
            }
        }
        // Re-hashing an edited line does not help: the next line's prev_hash breaks.
        let (_d, path, lines) = log_with(6);
        let mut e: AuditEntry = serde_json::from_str(&lines[2]).expect("entry");
        e.approved = false;
        e.hash = entry_hash(&e);
        let mut forged = lines.clone();
        forged[2] = serde_json::to_string(&e).expect("json");
        rewrite(&path, &forged);
        assert_eq!(line_of(verify(&path).expect_err("rehash")), 4);
    }

    #[test]
    fn truncation_is_found_through_the_head() {
        for keep in [0, 1, 5] {
            let (_d, path, lines) = log_with(6);
            rewrite(&path, &lines[..keep]);
            let e = verify(&path).expect_err("truncated");
            assert_eq!(
                e,
                VerifyError::Truncated {
                    lines: keep,
                    head_entries: 6
                }
            );
            assert!(
                e.to_string()
                    .starts_with(&format!("truncated after line {keep}")),
                "{e}"
            );
        }
        let (_d, path, _) = log_with(3);
        std::fs::remove_file(head_path(&path)).expect("rm head");
        assert!(matches!(verify(&path), Err(VerifyError::Head(_))));
    }

    #[test]
    fn a_broken_log_is_set_aside_and_a_new_chain_says_so() {
        let (dir, path, mut lines) = log_with(4);
        lines[1] = lines[1].replace("file_write", "file_read");
        rewrite(&path, &lines);
        let log = AuditLog::open(&path).expect("open");
        log.append_now(record(0)).expect("append");
        assert_eq!(verify(&path), Ok(2));
        let first = read_entries(&path).expect("entries").remove(0);
        assert_eq!(first.action, "audit_restart");
        assert!(first.result.contains("line 2"), "{}", first.result);
        let aside = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".broken-"))
            .count();
        assert_eq!(aside, 2, "the broken log and its head are kept");
    }

    #[test]
    fn an_intent_left_open_by_a_crash_gets_an_outcome_at_the_next_start() {
        let (_d, path, _) = log_with(3); // call_0 intent + outcome, call_1 intent only
        let log = AuditLog::open(&path).expect("reopen");
        let entries = read_entries(&path).expect("entries");
        assert_eq!(entries.len(), 4);
        let last = entries.last().expect("last");
        assert_eq!(last.call_id, "call_1");
        assert!(
            last.result.starts_with("error: outcome unknown"),
            "{}",
            last.result
        );
        assert_eq!(verify(&path), Ok(4));
        drop(log);
        AuditLog::open(&path).expect("again");
        assert_eq!(
            read_entries(&path).expect("entries").len(),
            4,
            "closed once only"
        );
    }

    #[test]
    fn an_unwritable_log_refuses() {
        let log = AuditLog::unavailable("/nonexistent/actions.log".into(), "no state dir".into());
        let e = log.append_now(record(0)).expect_err("refused");
        assert!(e.to_string().contains("tool calls are refused"), "{e}");
    }
}
