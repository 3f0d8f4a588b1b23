use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ToolCall, TrustRequirement};

/// A question put to the person before a tool runs.
///
/// It travels only from the agent to an `aios-confirm` child over a private channel;
/// the public socket never carries a valid one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmRequest {
    /// Identifier the answer must echo.
    pub request_id: Uuid,
    /// The call awaiting approval, with its exact (secret-redacted) arguments.
    pub call: ToolCall,
    /// One line saying what will happen, e.g. "Delete 3 files in ~/Downloads".
    pub summary: String,
    /// `Confirm` (click yes) or `DoubleConfirm` (type `DELETE`).
    pub requirement: TrustRequirement,
    /// Where untrusted content in this turn came from (file path or URL), if any.
    pub content_source: Option<String>,
    /// Seconds until the request is denied on its own.
    pub timeout_secs: u64,
}

/// The person's answer to a [`ConfirmRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmResponse {
    /// The [`ConfirmRequest::request_id`] answered.
    pub request_id: Uuid,
    /// True only when the person approved.
    pub approved: bool,
    /// Why it was denied, when the front end knows (wrong word, no terminal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Denied because nobody answered within the timeout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
}
