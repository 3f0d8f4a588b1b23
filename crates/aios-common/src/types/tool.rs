use serde::{Deserialize, Serialize};

/// A tool call requested by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Identifier of this call, unique within a turn; results refer to it.
    pub id: String,
    /// Registered tool name, e.g. `file_list`.
    pub name: String,
    /// Arguments as JSON, validated against the tool's schema before anything else.
    pub arguments: serde_json::Value,
}

/// The outcome of a tool call, as shown to the person and fed back to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    /// The [`ToolCall::id`] this answers.
    pub call_id: String,
    /// Output text (or the error, when `is_error`).
    pub content: String,
    /// True when the call failed, was denied or never ran.
    pub is_error: bool,
}

/// A tool the model may call: name, description and JSON Schema of the arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// Registered name, e.g. `file_list`.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema (an object schema) of the arguments. Properties holding secrets
    /// carry `"x-secret": true`; their values are redacted everywhere but the tool.
    pub parameters: serde_json::Value,
}
