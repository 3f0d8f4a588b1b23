//! `aios-memory`: conversation history and long-term notes that survive a restart.
//!
//! It will own the on-disk store under `$XDG_DATA_HOME/aios`, trimming history to a
//! token budget, and marking everything it hands back as `TrustLevel::Memory`, so the
//! trust pipeline treats remembered text as content, never as an instruction.
//!
//! Built by the agent-brain issue.
