//! The SQLite store: opening, schema migrations, appends and reads.

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::message::{role_from_str, role_to_str, trust_from_str, trust_to_str};
use crate::{ConversationId, MemoryError, MessageId, StoredMessage};

/// How long a statement waits for another process's lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema version this build writes; `MIGRATIONS[i]` moves a file from version `i`
/// to `i + 1`.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const MIGRATIONS: &[&str] = &[
    // 1: conversations and their messages. AUTOINCREMENT so that ids are never reused
    // and their order is the order of writing, whatever the clock says.
    "CREATE TABLE conversations (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE messages (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id),
        role            TEXT NOT NULL,
        content         TEXT NOT NULL,
        trust           TEXT NOT NULL,
        tool_calls      TEXT NOT NULL DEFAULT '[]',
        tool_call_id    TEXT,
        tool_name       TEXT,
        is_error        INTEGER NOT NULL DEFAULT 0,
        created_at      TEXT NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);",
];

const MESSAGE_COLUMNS: &str = "id, conversation_id, role, content, trust, tool_calls, \
                               tool_call_id, tool_name, is_error, created_at";

/// The conversation history on disk.
///
/// Every method is synchronous and may block on disk I/O (each append waits for an
/// `fsync`); call it from `spawn_blocking` in async code. It is `Send + Sync`: calls from
/// several threads are serialised on one connection.
#[derive(Debug)]
pub struct Memory {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Memory {
    /// `$XDG_DATA_HOME/aios/memory.db` (else `$HOME/.local/share/aios/memory.db`).
    pub fn default_path() -> Result<PathBuf, MemoryError> {
        Ok(aios_common::paths::data_home()?
            .join("aios")
            .join("memory.db"))
    }

    /// Opens the database at `path`, creating it (and its directory, mode 0700) when
    /// missing, then checks its integrity and brings its schema up to date.
    ///
    /// The file is created with mode 0600, and an existing one open to others is
    /// narrowed to 0600. A file that fails the check gives [`MemoryError::Corrupt`],
    /// whose message tells the person to move it away; the agent then carries on with an
    /// empty history (see [`MemoryError::needs_new_file`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Memory, MemoryError> {
        let path = path.as_ref().to_owned();
        prepare_file(&path)?;
        let sql_err = |e| MemoryError::sqlite(&path, e);

        // No SQLITE_OPEN_CREATE: prepare_file made the file with the right mode. No
        // SQLITE_OPEN_URI: the path is a path.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(&path, flags).map_err(sql_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_err)?;
        check_integrity(&conn, &path)?;

        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(sql_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), %mode, "WAL journal mode not available");
        }
        // FULL: in WAL mode NORMAL may lose the last commits on power loss; FULL syncs
        // the WAL on every commit, so an appended message survives a crash.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(sql_err)?;

        let version = migrate(&mut conn, &path)?;
        tracing::info!(path = %path.display(), schema = version, "conversation history open");
        Ok(Memory {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// Renames the database at `path` and its `-wal` and `-shm` files, when present, to
    /// `<name>.corrupt-<UTC time>` (plus the same suffixes), so that the next
    /// [`Memory::open`] starts an empty history. Returns the new name of the database.
    ///
    /// Meant for a file that [`MemoryError::needs_new_file`]; no process may have it
    /// open. The `-wal` file must go too: SQLite would otherwise replay the old log into
    /// the new, empty database.
    pub fn set_aside(path: impl AsRef<Path>) -> Result<PathBuf, MemoryError> {
        let path = path.as_ref();
        let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let aside = with_suffix(path, &format!(".corrupt-{stamp}"));
        for suffix in ["-wal", "-shm"] {
            let from = with_suffix(path, suffix);
            match std::fs::rename(&from, with_suffix(&aside, suffix)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(MemoryError::SetAside { path: from, source }),
            }
        }
        std::fs::rename(path, &aside).map_err(|source| MemoryError::SetAside {
            path: path.to_owned(),
            source,
        })?;
        tracing::warn!(from = %path.display(), to = %aside.display(), "conversation history set aside");
        Ok(aside)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a new, empty conversation.
    pub fn new_conversation(&self) -> Result<ConversationId, MemoryError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO conversations (created_at) VALUES (?1)",
            [format_time(Utc::now())],
        )
        .map_err(|e| self.err(e))?;
        let id = ConversationId(conn.last_insert_rowid());
        tracing::debug!(conversation = %id, "new conversation");
        Ok(id)
    }

    /// The most recently started conversation, if any.
    pub fn latest_conversation(&self) -> Result<Option<ConversationId>, MemoryError> {
        self.lock()
            .query_row("SELECT max(id) FROM conversations", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|id| id.map(ConversationId))
            .map_err(|e| self.err(e))
    }

    /// Appends `msg` to conversation `conv` and commits it before returning: once this
    /// returns `Ok`, the message survives the process being killed and a power loss.
    ///
    /// `msg.id` is ignored; `msg.conversation` must equal `conv`.
    pub fn append(
        &self,
        conv: ConversationId,
        msg: &StoredMessage,
    ) -> Result<MessageId, MemoryError> {
        if msg.conversation != conv {
            return Err(MemoryError::ConversationMismatch {
                message: msg.conversation,
                target: conv,
            });
        }
        let tool_calls = serde_json::to_string(&msg.tool_calls).map_err(MemoryError::Encode)?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let exists = tx
            .query_row(
                "SELECT 1 FROM conversations WHERE id = ?1",
                [conv.0],
                |_| Ok(()),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .is_some();
        if !exists {
            return Err(MemoryError::UnknownConversation(conv));
        }
        tx.execute(
            "INSERT INTO messages (conversation_id, role, content, trust, tool_calls, \
             tool_call_id, tool_name, is_error, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                conv.0,
                role_to_str(msg.role),
                msg.content,
                trust_to_str(msg.trust),
                tool_calls,
                msg.tool_call_id,
                msg.tool_name,
                msg.is_error,
                format_time(msg.created_at),
            ],
        )
        .map_err(|e| self.err(e))?;
        let id = MessageId(tx.last_insert_rowid());
        tx.commit().map_err(|e| self.err(e))?;
        tracing::debug!(conversation = %conv, message = %id, role = role_to_str(msg.role), "appended");
        Ok(id)
    }

    /// The last `limit` messages of conversation `conv`, oldest first (empty for an
    /// unknown conversation).
    pub fn recent(
        &self,
        conv: ConversationId,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, MemoryError> {
        self.select(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 \
                 ORDER BY id DESC LIMIT ?2"
            ),
            params![conv.0, sql_limit(limit)],
        )
    }

    /// The last `limit` messages across all conversations, oldest first (for
    /// `aios history --limit N`).
    pub fn history(&self, limit: usize) -> Result<Vec<StoredMessage>, MemoryError> {
        self.select(
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages ORDER BY id DESC LIMIT ?1"),
            params![sql_limit(limit)],
        )
    }

    /// Runs a newest-first message query and returns its rows oldest first.
    fn select(
        &self,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredMessage>, MemoryError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let raw = stmt
            .query_map(params, RawMessage::from_row)
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        drop(stmt);
        drop(conn);
        raw.into_iter()
            .rev()
            .map(|r| r.decode(&self.path))
            .collect()
    }

    /// The connection. A panic while it was held cannot have left a half-written
    /// message (an unfinished transaction rolls back when dropped), so a poisoned lock
    /// is taken over rather than failing every later call.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn err(&self, e: rusqlite::Error) -> MemoryError {
        MemoryError::sqlite(&self.path, e)
    }
}

/// Creates the directory (0700) and the file (0600) when missing, and narrows an
/// existing file that others may read.
fn prepare_file(path: &Path) -> Result<(), MemoryError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| MemoryError::CreateDir {
                dir: dir.to_owned(),
                source,
            })?;
    }
    let file_err = |source| MemoryError::CreateFile {
        path: path.to_owned(),
        source,
    };
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => {
            // Make the new directory entry itself durable, not only the data SQLite
            // will sync into the file.
            file.sync_all().map_err(file_err)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(file_err)?;
            }
            tracing::info!(path = %path.display(), "created conversation history");
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::metadata(path).map_err(file_err)?;
            let mode = meta.permissions().mode() & 0o777;
            if meta.is_file() && mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "conversation history was open to others; setting mode 600");
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(file_err)?;
            }
        }
        Err(e) => return Err(file_err(e)),
    }
    Ok(())
}

/// `PRAGMA quick_check`: a file that is not a database, or whose pages do not add up,
/// is reported as [`MemoryError::Corrupt`].
fn check_integrity(conn: &Connection, path: &Path) -> Result<(), MemoryError> {
    let corrupt = |detail: String| {
        tracing::error!(path = %path.display(), %detail, "conversation history is corrupt");
        MemoryError::Corrupt {
            path: path.to_owned(),
            detail,
        }
    };
    let rows: Vec<String> = conn
        .prepare("PRAGMA quick_check(5)")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()
        })
        .map_err(|e| match MemoryError::sqlite(path, e) {
            MemoryError::Corrupt { detail, .. } => corrupt(detail),
            other => other,
        })?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(())
    } else {
        let detail = rows.join("; ").replace('\n', " ");
        Err(corrupt(format!("integrity check: {detail}")))
    }
}

/// Reads the schema version and applies the missing migrations in one transaction.
/// Returns the version the file is now at.
fn migrate(conn: &mut Connection, path: &Path) -> Result<i64, MemoryError> {
    let sql_err = |e| MemoryError::sqlite(path, e);
    // Checked first outside a write transaction, so that opening an up-to-date file
    // (the usual case, e.g. for `aios history`) never waits for a writer.
    if read_version(conn).map_err(sql_err)? == SCHEMA_VERSION {
        return Ok(SCHEMA_VERSION);
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
            id      INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL
        )",
    )
    .map_err(sql_err)?;
    // Re-read under the write lock: another process may have migrated meanwhile.
    let found = read_version(&tx).map_err(sql_err)?;
    if found > SCHEMA_VERSION {
        return Err(MemoryError::TooNew {
            path: path.to_owned(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let start = usize::try_from(found).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        tracing::info!(path = %path.display(), to = i + 1, "migrating conversation history");
        tx.execute_batch(sql).map_err(sql_err)?;
    }
    tx.execute(
        "INSERT INTO schema_version (id, version) VALUES (1, ?1) \
         ON CONFLICT (id) DO UPDATE SET version = excluded.version",
        [SCHEMA_VERSION],
    )
    .map_err(sql_err)?;
    tx.commit().map_err(sql_err)?;
    Ok(SCHEMA_VERSION)
}

/// The schema version of the file; 0 for a new one.
fn read_version(conn: &Connection) -> rusqlite::Result<i64> {
    let has_table: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        return Ok(0);
    }
    Ok(conn
        .query_row("SELECT version FROM schema_version WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or(0))
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// RFC 3339 in UTC with as many fractional digits as needed, so times round-trip
/// exactly and stay readable with the `sqlite3` tool.
fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A row as read, before its text columns are decoded.
struct RawMessage {
    id: i64,
    conversation: i64,
    role: String,
    content: String,
    trust: String,
    tool_calls: String,
    tool_call_id: Option<String>,
    tool_name: Option<String>,
    is_error: bool,
    created_at: String,
}

impl RawMessage {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            conversation: r.get(1)?,
            role: r.get(2)?,
            content: r.get(3)?,
            trust: r.get(4)?,
            tool_calls: r.get(5)?,
            tool_call_id: r.get(6)?,
            tool_name: r.get(7)?,
            is_error: r.get(8)?,
            created_at: r.get(9)?,
        })
    }

    fn decode(self, path: &Path) -> Result<StoredMessage, MemoryError> {
        let bad = |detail: String| MemoryError::BadRow {
            path: path.to_owned(),
            id: self.id,
            detail,
        };
        let role = role_from_str(&self.role).ok_or_else(|| bad(format!("role {:?}", self.role)))?;
        let trust =
            trust_from_str(&self.trust).ok_or_else(|| bad(format!("trust {:?}", self.trust)))?;
        let tool_calls =
            serde_json::from_str(&self.tool_calls).map_err(|e| bad(format!("tool calls: {e}")))?;
        let created_at = DateTime::parse_from_rfc3339(&self.created_at)
            .map_err(|e| bad(format!("created_at {:?}: {e}", self.created_at)))?
            .with_timezone(&Utc);
        Ok(StoredMessage {
            id: Some(MessageId(self.id)),
            conversation: ConversationId(self.conversation),
            role,
            content: self.content,
            trust,
            tool_calls,
            tool_call_id: self.tool_call_id,
            tool_name: self.tool_name,
            is_error: self.is_error,
            created_at,
        })
    }
}
