//! The stored form of a chat message and the ids that name conversations and messages.

use std::fmt;

use aios_common::types::{ChatMessage, Role, ToolCall, TrustLevel};
use chrono::{DateTime, Utc};

/// Identifies one conversation (a row of the `conversations` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConversationId(pub i64);

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Identifies one stored message. Ids grow with every append, across conversations, and
/// are never reused, so they give the order in which messages were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub i64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One message of a conversation as kept on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// Set by the store; ignored by [`crate::Memory::append`].
    pub id: Option<MessageId>,
    /// The conversation it belongs to.
    pub conversation: ConversationId,
    /// Author.
    pub role: Role,
    /// Text content (for a `tool` message, the tool's output or error).
    pub content: String,
    /// Trust level the content had when it was recorded (its provenance).
    pub trust: TrustLevel,
    /// Tool calls the model requested in this (assistant) message.
    pub tool_calls: Vec<ToolCall>,
    /// For a `tool` message: the [`ToolCall::id`] it answers.
    pub tool_call_id: Option<String>,
    /// For a `tool` message: the tool that produced it.
    pub tool_name: Option<String>,
    /// For a `tool` message: the call failed, was denied or never ran.
    pub is_error: bool,
    /// When the message was created.
    pub created_at: DateTime<Utc>,
}

impl StoredMessage {
    /// A plain message (no tool data) stamped with the current time.
    pub fn new(
        conversation: ConversationId,
        role: Role,
        content: impl Into<String>,
        trust: TrustLevel,
    ) -> Self {
        Self {
            id: None,
            conversation,
            role,
            content: content.into(),
            trust,
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: false,
            created_at: Utc::now(),
        }
    }

    /// The stored form of `msg`, keeping its role, content, trust level and time.
    pub fn from_chat(conversation: ConversationId, msg: &ChatMessage) -> Self {
        Self {
            created_at: msg.timestamp,
            ..Self::new(conversation, msg.role, msg.content.clone(), msg.trust_level)
        }
    }

    /// This message as a [`ChatMessage`] with its recorded trust level.
    pub fn to_chat_message(&self) -> ChatMessage {
        ChatMessage {
            role: self.role,
            content: self.content.clone(),
            trust_level: self.trust,
            timestamp: self.created_at,
        }
    }

    /// This message as a [`ChatMessage`] marked [`TrustLevel::Memory`]: the form to use
    /// for text recalled from an earlier session, which is content and never an
    /// instruction, whoever wrote it at the time.
    pub fn recalled(&self) -> ChatMessage {
        ChatMessage {
            trust_level: TrustLevel::Memory,
            ..self.to_chat_message()
        }
    }
}

/// On-disk name of a role. Spelled out here (not taken from serde) so that renaming a
/// variant can never silently change what is in existing files.
pub(crate) fn role_to_str(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

pub(crate) fn role_from_str(s: &str) -> Option<Role> {
    Some(match s {
        "system" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        _ => return None,
    })
}

/// On-disk name of a trust level (see [`role_to_str`]).
pub(crate) fn trust_to_str(trust: TrustLevel) -> &'static str {
    match trust {
        TrustLevel::User => "user",
        TrustLevel::System => "system",
        TrustLevel::WebContent => "web_content",
        TrustLevel::Memory => "memory",
    }
}

pub(crate) fn trust_from_str(s: &str) -> Option<TrustLevel> {
    Some(match s {
        "user" => TrustLevel::User,
        "system" => TrustLevel::System,
        "web_content" => TrustLevel::WebContent,
        "memory" => TrustLevel::Memory,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_and_trust_names_round_trip() {
        for role in [Role::System, Role::User, Role::Assistant, Role::Tool] {
            assert_eq!(role_from_str(role_to_str(role)), Some(role));
        }
        for trust in [
            TrustLevel::User,
            TrustLevel::System,
            TrustLevel::WebContent,
            TrustLevel::Memory,
        ] {
            assert_eq!(trust_from_str(trust_to_str(trust)), Some(trust));
        }
        assert_eq!(role_from_str("User"), None);
        assert_eq!(trust_from_str(""), None);
    }

    #[test]
    fn recalled_is_marked_memory() {
        let m = StoredMessage::new(ConversationId(1), Role::User, "hi", TrustLevel::User);
        assert_eq!(m.to_chat_message().trust_level, TrustLevel::User);
        let r = m.recalled();
        assert_eq!(r.trust_level, TrustLevel::Memory);
        assert_eq!(r.content, "hi");
        assert_eq!(r.timestamp, m.created_at);
        let back = StoredMessage::from_chat(ConversationId(1), &m.to_chat_message());
        assert_eq!(back, m);
    }
}
