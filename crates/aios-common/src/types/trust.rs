use serde::{Deserialize, Serialize};

/// Where a piece of text in the model's context came from.
///
/// Only `User` and `System` text may steer the agent; `WebContent` and `Memory` are
/// content that the model read (a file, a tool output, a web page, a remembered note)
/// and are treated as data, never as instructions or approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrustLevel {
    /// Typed or spoken by the person at the machine.
    User,
    /// Written by AIOS itself (system prompt, tool framing).
    System,
    /// Read from outside: a file, a tool's output, a web page.
    WebContent,
    /// Recalled from persistent memory.
    Memory,
}

impl TrustLevel {
    /// True for content that may carry a prompt injection (it taints the turn).
    pub fn is_untrusted_content(self) -> bool {
        matches!(self, TrustLevel::WebContent | TrustLevel::Memory)
    }
}

/// What a tool needs before it may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TrustRequirement {
    /// Read-only: runs without asking.
    None,
    /// Modifies something: the person clicks or types yes.
    Confirm,
    /// Destructive: the person types `DELETE`.
    DoubleConfirm,
}
