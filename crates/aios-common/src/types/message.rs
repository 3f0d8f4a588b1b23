use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::TrustLevel;

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The system prompt.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
    /// A tool's result fed back to the model.
    Tool,
}

/// One message of a conversation, with the trust level of its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Author.
    pub role: Role,
    /// Text content.
    pub content: String,
    /// Where the content came from; decides whether it may steer the agent.
    pub trust_level: TrustLevel,
    /// When the message was created.
    pub timestamp: DateTime<Utc>,
}

impl ChatMessage {
    /// A message stamped with the current time.
    pub fn now(role: Role, content: impl Into<String>, trust_level: TrustLevel) -> Self {
        Self {
            role,
            content: content.into(),
            trust_level,
            timestamp: Utc::now(),
        }
    }
}
