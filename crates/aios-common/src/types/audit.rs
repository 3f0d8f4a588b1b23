use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::TrustLevel;

/// One line of the append-only audit log (`actions.log`, JSON Lines).
///
/// Entries form a hash chain: `hash` is SHA-256 over `prev_hash` and the entry, so a
/// removed or edited line shows. The chain itself is written by the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// Position in the log, from 0.
    pub seq: u64,
    /// When the entry was written.
    pub ts: DateTime<Utc>,
    /// Identifier of the tool call; an intent and its outcome share it.
    pub call_id: String,
    /// Tool name or event, e.g. `file_write`.
    pub action: String,
    /// Arguments with secrets redacted.
    pub args: serde_json::Value,
    /// Trust level of the request that led here: `User`, or the least trusted
    /// content (`WebContent`, `Memory`) the conversation held when it was made.
    pub trust: TrustLevel,
    /// Where that untrusted content came from (file path, URL), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Whether the action was approved (by policy or by the person).
    pub approved: bool,
    /// `intent`; `ok: …` or `error: …` for an outcome; `denied: …` for a call that
    /// never ran.
    pub result: String,
    /// `hash` of the previous entry (hex), empty for the first.
    pub prev_hash: String,
    /// SHA-256 (hex) over `prev_hash` and this entry without `hash`.
    pub hash: String,
}
