//! `aios-memory`: conversation history that survives a restart, a crash and a power
//! loss.
//!
//! It owns:
//!
//! - **The on-disk store**: a SQLite database, by default
//!   `$XDG_DATA_HOME/aios/memory.db` ([`Memory::default_path`]), in a directory created
//!   with mode 0700 and a file with mode 0600. It runs in WAL mode with
//!   `synchronous=FULL`, so a message is on disk once [`Memory::append`] returns (one
//!   transaction per call), and waits up to [`BUSY_TIMEOUT`] for another process's lock.
//!   A `schema_version` table records the layout; [`Memory::open`] applies the missing
//!   migrations and refuses files from a newer AIOS.
//! - **Corruption handling**: `PRAGMA quick_check` runs on every open; a damaged file
//!   gives [`MemoryError::Corrupt`], whose message names the file and tells the person
//!   to move it away. The agent then starts with an empty history.
//! - **Conversations and messages**: [`Memory::new_conversation`],
//!   [`Memory::latest_conversation`], [`Memory::append`], [`Memory::recent`] (one
//!   conversation) and [`Memory::history`] (all of them, for `aios history`), all
//!   returning [`StoredMessage`]s oldest first, in the order they were written.
//! - **Trimming to a token budget**: [`fit_to_budget`], a pure function that keeps the
//!   most recent messages that fit, always starting at a user message so that no tool
//!   exchange is cut in half.
//!
//! The API is synchronous: call it through `spawn_blocking`. [`Memory`] is
//! `Send + Sync`.
//!
//! Trust: a [`StoredMessage`] keeps the trust level its content had when it was
//! recorded. Text recalled from an earlier session is content, never an instruction:
//! hand it to the model with [`StoredMessage::recalled`], which marks it
//! `TrustLevel::Memory`, unless the agent decides otherwise.

mod budget;
mod error;
mod message;
mod store;
#[cfg(test)]
mod tests;

pub use budget::{Fitted, fit_to_budget, message_tokens};
pub use error::MemoryError;
pub use message::{ConversationId, MessageId, StoredMessage};
pub use store::{BUSY_TIMEOUT, Memory, SCHEMA_VERSION};
