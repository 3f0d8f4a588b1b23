//! Store tests against real files in temporary directories.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aios_common::types::{Role, ToolCall, TrustLevel};
use chrono::{DateTime, TimeZone, Utc};

use crate::{ConversationId, Memory, MemoryError, MessageId, SCHEMA_VERSION, StoredMessage};

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("memory.db");
    (tmp, path)
}

fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, nanos).single().expect("valid time")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn wal_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

/// A message using every field, with awkward values.
fn full_message(conv: ConversationId) -> StoredMessage {
    StoredMessage {
        id: None,
        conversation: conv,
        role: Role::Assistant,
        content: "résumé: \u{1F600} 'quotes' \"double\" \0 nul\nline two".into(),
        trust: TrustLevel::WebContent,
        tool_calls: vec![
            ToolCall {
                id: "call_1".into(),
                name: "file_list".into(),
                arguments: serde_json::json!({"path": "~/Downloads", "depth": 2, "hidden": false}),
            },
            ToolCall {
                id: "call_2".into(),
                name: "web_fetch".into(),
                arguments: serde_json::json!({"nested": {"list": [1, 2.5, null, "x"]}}),
            },
        ],
        tool_call_id: Some("call_0".into()),
        tool_name: Some("shell".into()),
        is_error: true,
        created_at: at(1_700_000_000, 123_456_789),
    }
}

fn text(conv: ConversationId, role: Role, content: &str) -> StoredMessage {
    StoredMessage::new(conv, role, content, TrustLevel::User)
}

fn contents(msgs: &[StoredMessage]) -> Vec<&str> {
    msgs.iter().map(|m| m.content.as_str()).collect()
}

#[test]
fn memory_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Memory>();
}

#[test]
fn default_path_is_under_data_home() {
    if let Ok(p) = Memory::default_path() {
        assert!(p.ends_with("aios/memory.db"), "{}", p.display());
    }
}

#[test]
fn round_trip_of_every_field() {
    let (_tmp, path) = temp_db();
    let mem = Memory::open(&path).expect("open");
    let conv = mem.new_conversation().expect("conversation");
    let plain = StoredMessage {
        created_at: at(1_700_000_001, 0),
        ..StoredMessage::new(conv, Role::User, "", TrustLevel::Memory)
    };
    let now = StoredMessage::new(conv, Role::System, "sys", TrustLevel::System);
    let sent = [full_message(conv), plain, now];
    let mut ids = Vec::new();
    for m in &sent {
        ids.push(mem.append(conv, m).expect("append"));
    }
    let got = mem.recent(conv, 10).expect("recent");
    assert_eq!(got.len(), sent.len());
    for ((got, sent), id) in got.iter().zip(&sent).zip(&ids) {
        let expected = StoredMessage {
            id: Some(*id),
            ..sent.clone()
        };
        assert_eq!(got, &expected);
    }
}

#[test]
fn messages_come_back_oldest_first_in_write_order() {
    let (_tmp, path) = temp_db();
    let mem = Memory::open(&path).expect("open");
    let conv = mem.new_conversation().expect("conversation");
    let mut ids = Vec::new();
    for i in 0..5 {
        // Clock going backwards: order is by write, not by timestamp.
        let m = StoredMessage {
            created_at: at(2_000_000_000 - i64::from(i), 0),
            ..text(conv, Role::User, &format!("m{i}"))
        };
        ids.push(mem.append(conv, &m).expect("append"));
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(
        contents(&mem.recent(conv, 3).expect("recent")),
        ["m2", "m3", "m4"]
    );
    assert_eq!(contents(&mem.recent(conv, 100).expect("recent")).len(), 5);
    assert!(mem.recent(conv, 0).expect("recent").is_empty());
    assert!(
        mem.recent(ConversationId(999), 10)
            .expect("recent")
            .is_empty()
    );
}

#[test]
fn two_conversations_stay_apart() {
    let (_tmp, path) = temp_db();
    let mem = Memory::open(&path).expect("open");
    assert_eq!(mem.latest_conversation().expect("latest"), None);
    assert!(mem.history(10).expect("history").is_empty());
    let a = mem.new_conversation().expect("a");
    let b = mem.new_conversation().expect("b");
    assert_ne!(a, b);
    assert_eq!(mem.latest_conversation().expect("latest"), Some(b));
    for (conv, content) in [(a, "a1"), (b, "b1"), (a, "a2"), (b, "b2"), (a, "a3")] {
        mem.append(conv, &text(conv, Role::User, content))
            .expect("append");
    }
    let in_a = mem.recent(a, 10).expect("a");
    assert_eq!(contents(&in_a), ["a1", "a2", "a3"]);
    assert!(in_a.iter().all(|m| m.conversation == a));
    assert_eq!(contents(&mem.recent(b, 10).expect("b")), ["b1", "b2"]);
    assert_eq!(
        contents(&mem.history(3).expect("history")),
        ["a2", "b2", "a3"]
    );
    assert_eq!(mem.history(100).expect("history").len(), 5);
    assert!(mem.history(0).expect("history").is_empty());
    // The newest conversation is the latest even while it has fewer messages.
    assert_eq!(mem.latest_conversation().expect("latest"), Some(b));
}

#[test]
fn reopen_after_drop_keeps_everything() {
    let (_tmp, path) = temp_db();
    let (conv, before) = {
        let mem = Memory::open(&path).expect("open");
        let conv = mem.new_conversation().expect("conversation");
        mem.append(conv, &full_message(conv)).expect("append");
        mem.append(conv, &text(conv, Role::User, "second"))
            .expect("append");
        (conv, mem.recent(conv, 10).expect("recent"))
    };
    let mem = Memory::open(&path).expect("reopen");
    assert_eq!(mem.latest_conversation().expect("latest"), Some(conv));
    assert_eq!(mem.recent(conv, 10).expect("recent"), before);
    let next = mem.new_conversation().expect("conversation");
    assert!(next > conv);
}

#[test]
fn append_checks_the_conversation() {
    let (_tmp, path) = temp_db();
    let mem = Memory::open(&path).expect("open");
    let conv = mem.new_conversation().expect("conversation");
    let ghost = ConversationId(conv.0 + 41);
    let err = mem
        .append(ghost, &text(ghost, Role::User, "x"))
        .expect_err("unknown conversation");
    assert!(
        matches!(err, MemoryError::UnknownConversation(c) if c == ghost),
        "{err}"
    );
    let err = mem
        .append(conv, &text(ghost, Role::User, "x"))
        .expect_err("mismatch");
    assert!(
        matches!(err, MemoryError::ConversationMismatch { .. }),
        "{err}"
    );
    assert!(mem.history(10).expect("history").is_empty());
    // The store is still usable after the failed calls.
    mem.append(conv, &text(conv, Role::User, "ok"))
        .expect("append");
}

#[test]
fn appends_from_several_threads() {
    let (_tmp, path) = temp_db();
    let mem = Arc::new(Memory::open(&path).expect("open"));
    let conv = mem.new_conversation().expect("conversation");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let mem = Arc::clone(&mem);
            std::thread::spawn(move || {
                for i in 0..25 {
                    mem.append(conv, &text(conv, Role::User, &format!("{t}-{i}")))
                        .expect("append");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let all = mem.recent(conv, 1000).expect("recent");
    assert_eq!(all.len(), 100);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
}

#[test]
fn pragmas_and_schema_version() {
    let (_tmp, path) = temp_db();
    let mem = Memory::open(&path).expect("open");
    let conn = mem.lock();
    let journal: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(journal, "wal");
    let sync: i64 = conn
        .pragma_query_value(None, "synchronous", |r| r.get(0))
        .expect("synchronous");
    assert_eq!(sync, 2, "synchronous must be FULL");
    let busy: i64 = conn
        .pragma_query_value(None, "busy_timeout", |r| r.get(0))
        .expect("busy_timeout");
    assert_eq!(busy, 5000);
    let version: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn file_from_a_newer_aios_is_refused() {
    let (_tmp, path) = temp_db();
    drop(Memory::open(&path).expect("open"));
    {
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        conn.execute("UPDATE schema_version SET version = 99", [])
            .expect("bump version");
    }
    let err = Memory::open(&path).expect_err("newer schema");
    assert!(
        matches!(err, MemoryError::TooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.needs_new_file());
    assert!(err.to_string().contains("upgrade AIOS"), "{err}");
}

#[test]
fn unreadable_row_is_reported() {
    let (_tmp, path) = temp_db();
    let conv = {
        let mem = Memory::open(&path).expect("open");
        let conv = mem.new_conversation().expect("conversation");
        mem.append(conv, &text(conv, Role::User, "x"))
            .expect("append");
        conv
    };
    {
        let conn = rusqlite::Connection::open(&path).expect("raw open");
        conn.execute("UPDATE messages SET role = 'wizard'", [])
            .expect("edit");
    }
    let mem = Memory::open(&path).expect("open");
    let err = mem.recent(conv, 10).expect_err("bad role");
    assert!(matches!(err, MemoryError::BadRow { .. }), "{err}");
    assert!(err.to_string().contains("wizard"), "{err}");
}

#[test]
fn directory_0700_and_files_0600() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("share").join("aios");
    let path = dir.join("memory.db");
    let mem = Memory::open(&path).expect("open");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&tmp.path().join("share")), 0o700);
    assert_eq!(mode(&path), 0o600);
    let conv = mem.new_conversation().expect("conversation");
    mem.append(conv, &text(conv, Role::User, "secret"))
        .expect("append");
    // SQLite gives the WAL the mode of the database.
    assert_eq!(mode(&wal_path(&path)), 0o600);
}

#[test]
fn existing_file_open_to_others_is_narrowed() {
    let (_tmp, path) = temp_db();
    std::fs::write(&path, b"").expect("create");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    drop(Memory::open(&path).expect("open"));
    assert_eq!(mode(&path), 0o600);
}

/// Deterministic garbage.
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

fn assert_corrupt(path: &Path) {
    let err = Memory::open(path).expect_err("corrupt file must not open");
    assert!(matches!(err, MemoryError::Corrupt { .. }), "{err:?}");
    assert!(err.needs_new_file());
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("corrupt") && msg.contains("move it away"),
        "{msg}"
    );
}

#[test]
fn garbage_file_is_reported_as_corrupt() {
    let (_tmp, path) = temp_db();
    {
        let mem = Memory::open(&path).expect("open");
        let conv = mem.new_conversation().expect("conversation");
        mem.append(conv, &text(conv, Role::User, "soon gone"))
            .expect("append");
    }
    std::fs::write(&path, garbage(16 * 1024)).expect("overwrite");
    assert_corrupt(&path);
}

#[test]
fn corrupt_file_set_aside_gives_an_empty_history() {
    let (tmp, path) = temp_db();
    std::fs::write(&path, garbage(8192)).expect("garbage db");
    assert_corrupt(&path);
    // Log files left by some other process must leave with the database.
    let shm = PathBuf::from(format!("{}-shm", path.display()));
    std::fs::write(wal_path(&path), b"stale wal").expect("wal");
    std::fs::write(&shm, b"stale shm").expect("shm");
    let aside = Memory::set_aside(&path).expect("set aside");
    assert!(aside.starts_with(tmp.path()));
    assert!(aside.to_string_lossy().contains("memory.db.corrupt-"));
    assert_eq!(std::fs::read(&aside).expect("moved db"), garbage(8192));
    assert_eq!(
        std::fs::read(wal_path(&aside)).expect("moved wal"),
        b"stale wal"
    );
    assert!(!path.exists() && !wal_path(&path).exists() && !shm.exists());
    let mem = Memory::open(&path).expect("fresh open");
    assert_eq!(mem.latest_conversation().expect("latest"), None);
}

#[test]
fn damaged_pages_are_reported_as_corrupt() {
    let (_tmp, path) = temp_db();
    {
        let mem = Memory::open(&path).expect("open");
        let conv = mem.new_conversation().expect("conversation");
        for i in 0..200 {
            mem.append(
                conv,
                &text(conv, Role::User, &format!("{i} {}", "x".repeat(500))),
            )
            .expect("append");
        }
    }
    let mut bytes = std::fs::read(&path).expect("read");
    assert!(bytes.len() > 16 * 4096, "{}", bytes.len());
    // Keep the header page, so only the integrity check can notice.
    let len = bytes.len();
    bytes[4096..].copy_from_slice(&garbage(len - 4096));
    std::fs::write(&path, bytes).expect("overwrite");
    assert_corrupt(&path);
}

const WRITER_ENV: &str = "AIOS_MEMORY_TEST_CRASH_WRITER_DB";
const APPENDED: &str = "AIOS_MEMORY_APPENDED";
/// `Child::kill` sends SIGKILL, which is 9 on every Unix.
const SIGKILL: i32 = 9;

/// Fixed so that the parent can rebuild what the child wrote.
fn crash_message(conv: ConversationId) -> StoredMessage {
    StoredMessage {
        created_at: at(1_800_000_000, 42),
        ..text(conv, Role::User, "remember this even if killed")
    }
}

/// The child half of [`message_survives_sigkill_right_after_append`], which starts it
/// with `--ignored`. Ignored otherwise, so it never counts as a passing test; run by
/// hand it fails and says so.
#[test]
#[ignore = "the child half of message_survives_sigkill_right_after_append, started by it"]
fn crash_child_writer() {
    let db = std::env::var_os(WRITER_ENV).unwrap_or_else(|| {
        panic!("crash_child_writer is started by message_survives_sigkill_right_after_append only")
    });
    let mem = Memory::open(&db).expect("child open");
    let conv = mem.new_conversation().expect("child conversation");
    let id = mem
        .append(conv, &crash_message(conv))
        .expect("child append");
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n{APPENDED} {} {}", conv.0, id.0).expect("report");
    out.flush().expect("flush");
    drop(out);
    // Keep the connection open (no checkpoint, no clean close) until killed.
    std::thread::sleep(Duration::from_secs(60));
    panic!("crash writer was not killed");
}

#[test]
fn message_survives_sigkill_right_after_append() {
    let (_tmp, path) = temp_db();
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "tests::crash_child_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_ENV, &path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("stdout");
    let mut report = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read child");
        if let Some(at) = line.find(APPENDED) {
            report = Some(line[at + APPENDED.len()..].trim().to_owned());
            break;
        }
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    let report = report.unwrap_or_else(|| panic!("writer exited without appending: {status}"));
    assert_eq!(status.signal(), Some(SIGKILL), "{status}");

    let mut parts = report.split_whitespace().map(|s| s.parse::<i64>());
    let conv = ConversationId(parts.next().expect("conv").expect("conv id"));
    let id = MessageId(parts.next().expect("id").expect("message id"));
    // The message sits in the WAL, never checkpointed into the main file.
    assert!(std::fs::metadata(wal_path(&path)).expect("wal").len() > 0);

    let mem = Memory::open(&path).expect("reopen after kill");
    let expected = StoredMessage {
        id: Some(id),
        ..crash_message(conv)
    };
    assert_eq!(mem.recent(conv, 10).expect("recent"), [expected]);
    assert_eq!(mem.latest_conversation().expect("latest"), Some(conv));
}
