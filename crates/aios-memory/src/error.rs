//! What can go wrong with the memory store, worded for the person who has to fix it.

use std::path::PathBuf;

use aios_common::paths::PathError;

use crate::ConversationId;

/// An operation on the memory store failed.
///
/// Every message names the file involved and says what to do about it, so the agent can
/// log it or show it as is.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The default location could not be worked out.
    #[error("cannot find where to keep the conversation history: {0}")]
    Path(#[from] PathError),

    /// The directory holding the database could not be created.
    #[error(
        "cannot create the conversation history directory {dir}: {source}; create it (mode 700) or make its parent writable"
    )]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// The database file could not be created or its permissions fixed.
    #[error(
        "cannot create conversation history {path}: {source}; check that you own it and its directory is writable"
    )]
    CreateFile {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// The file is not a usable SQLite database, or its integrity check failed.
    #[error(
        "conversation history {path} is corrupt ({detail}); move it away together with its -wal and -shm files, if any (e.g. `mv {path} {path}.corrupt`), and start again: AIOS will begin with an empty history"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        detail: String,
    },

    /// The file was written by a newer AIOS with a schema this build does not know.
    #[error(
        "conversation history {path} has schema version {found}, but this AIOS only knows up to {supported}; upgrade AIOS, or move the file away to start with an empty history"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The newest version this build can use.
        supported: i64,
    },

    /// Another process held a lock on the database for longer than the busy timeout.
    #[error(
        "conversation history {path} stayed locked by another process; stop the other AIOS agent using it, then retry"
    )]
    Busy {
        /// The database file.
        path: PathBuf,
    },

    /// [`crate::Memory::set_aside`] could not rename a file.
    #[error("cannot move conversation history file {path} aside: {source}; move it away by hand")]
    SetAside {
        /// The file that could not be renamed.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },

    /// A message was appended to a conversation that does not exist.
    #[error(
        "conversation {0} does not exist in the history; start one with `new_conversation` first"
    )]
    UnknownConversation(ConversationId),

    /// The message says it belongs to another conversation than the one it was appended to.
    #[error(
        "message belongs to conversation {message} but was appended to conversation {target}; set `StoredMessage::conversation` to the conversation you append to"
    )]
    ConversationMismatch {
        /// `StoredMessage::conversation`.
        message: ConversationId,
        /// The conversation passed to `append`.
        target: ConversationId,
    },

    /// A stored row could not be decoded: the file was edited outside AIOS.
    #[error(
        "message {id} in conversation history {path} is unreadable ({detail}); the file was changed outside AIOS: move it away to start with an empty history"
    )]
    BadRow {
        /// The database file.
        path: PathBuf,
        /// The row id of the message.
        id: i64,
        /// What is wrong with it.
        detail: String,
    },

    /// The tool calls of a message could not be encoded as JSON.
    #[error(
        "cannot encode the tool calls of a message: {0}; this is a bug in the caller's arguments"
    )]
    Encode(#[source] serde_json::Error),

    /// Any other SQLite failure (disk full, I/O error, read-only file system, ...).
    #[error(
        "conversation history {path}: {source}; check free disk space and that the file is writable, then retry"
    )]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
}

impl MemoryError {
    /// Classifies a SQLite error on `path`: corruption and lock timeouts get their own
    /// variants, everything else is [`MemoryError::Sqlite`].
    pub(crate) fn sqlite(path: &std::path::Path, source: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match source.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => MemoryError::Corrupt {
                path: path.to_owned(),
                detail: source.to_string(),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => MemoryError::Busy {
                path: path.to_owned(),
            },
            _ => MemoryError::Sqlite {
                path: path.to_owned(),
                source,
            },
        }
    }

    /// True when the file must be moved away before the history can be used again
    /// (corrupt, or from a newer AIOS); the agent then starts with an empty history.
    pub fn needs_new_file(&self) -> bool {
        matches!(
            self,
            MemoryError::Corrupt { .. } | MemoryError::TooNew { .. } | MemoryError::BadRow { .. }
        )
    }
}
