//! Message types of the IPC protocol. Changing any of them changes the wire format:
//! the golden tests in `golden_tests.rs` show every change in review.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::types::{ChatMessage, ConfirmRequest, ConfirmResponse, ToolCall, ToolResult};

/// Every frame on the agent socket is one `IpcMessage`, tagged by `"type"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IpcMessage {
    /// Client → agent, first frame of every connection.
    Hello(Hello),
    /// Agent → client, answer to a valid [`Hello`].
    Welcome(Welcome),
    /// Client → agent: liveness and latency probe.
    Ping(Ping),
    /// Agent → client: answer to [`Ping`].
    Pong(Ping),
    /// Client → agent: ask for the agent's status.
    StatusRequest(StatusRequest),
    /// Agent → client: version, provider, uptime.
    StatusReply(StatusReply),
    /// Client → agent: a typed (or transcribed) message starting a turn.
    ChatRequest(ChatRequest),
    /// Agent → client: a piece of the streamed reply.
    StreamChunk(StreamChunk),
    /// Client → agent: ask for the most recent conversation messages.
    HistoryRequest(HistoryRequest),
    /// Agent → client: those messages, oldest first.
    HistoryReply(HistoryReply),
    /// Agent → client: the model asked for a tool (shown as a tool card).
    ToolCall(ToolCallEvent),
    /// Agent → client: a tool finished, failed or was denied.
    ToolResult(ToolResultEvent),
    /// Agent → confirm front end (private channel only).
    ConfirmRequest(ConfirmRequest),
    /// Confirm front end → agent (private channel only; refused on the public socket).
    ConfirmResponse(ConfirmResponse),
    /// Either way: a typed error.
    Error(ErrorReply),
}

/// Every `"type"` value the protocol knows, used to tell an unknown type apart from a
/// malformed known one.
pub const MESSAGE_TYPES: &[&str] = &[
    "hello",
    "welcome",
    "ping",
    "pong",
    "status_request",
    "status_reply",
    "chat_request",
    "stream_chunk",
    "history_request",
    "history_reply",
    "tool_call",
    "tool_result",
    "confirm_request",
    "confirm_response",
    "error",
];

impl IpcMessage {
    /// The `"type"` tag of this message.
    pub fn type_name(&self) -> &'static str {
        match self {
            IpcMessage::Hello(_) => "hello",
            IpcMessage::Welcome(_) => "welcome",
            IpcMessage::Ping(_) => "ping",
            IpcMessage::Pong(_) => "pong",
            IpcMessage::StatusRequest(_) => "status_request",
            IpcMessage::StatusReply(_) => "status_reply",
            IpcMessage::ChatRequest(_) => "chat_request",
            IpcMessage::StreamChunk(_) => "stream_chunk",
            IpcMessage::HistoryRequest(_) => "history_request",
            IpcMessage::HistoryReply(_) => "history_reply",
            IpcMessage::ToolCall(_) => "tool_call",
            IpcMessage::ToolResult(_) => "tool_result",
            IpcMessage::ConfirmRequest(_) => "confirm_request",
            IpcMessage::ConfirmResponse(_) => "confirm_response",
            IpcMessage::Error(_) => "error",
        }
    }
}

/// What kind of program is connecting; the agent logs it and later routes events by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// The `aios` command-line tool.
    Cli,
    /// The chat window.
    Chat,
    /// The dock.
    Dock,
    /// A test or benchmark.
    Test,
}

/// First frame of every connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Must equal the agent's [`super::PROTOCOL_VERSION`].
    pub protocol_version: u32,
    /// Who is connecting.
    pub client_kind: ClientKind,
}

/// The agent's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The agent's protocol version.
    pub protocol_version: u32,
    /// The agent's crate version.
    pub agent_version: String,
    /// Maximum frame body the agent accepts, in bytes.
    pub max_frame: u32,
}

/// Liveness probe; the answer echoes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    /// Client-chosen sequence number, echoed in the `pong`.
    pub seq: u64,
}

/// Ask for the agent's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRequest {
    /// Echoed in the reply.
    pub request_id: Uuid,
}

/// The agent's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    /// The request answered.
    pub request_id: Uuid,
    /// The agent's crate version.
    pub agent_version: String,
    /// The agent's protocol version.
    pub protocol_version: u32,
    /// Active LLM provider (`echo` until a provider is configured).
    pub provider: String,
    /// Model name of that provider, if any.
    pub model: Option<String>,
    /// Milliseconds since the agent started.
    pub uptime_ms: u64,
    /// Clients connected right now, this one included.
    pub clients: u32,
}

/// A message from the person that starts an agent turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Echoed in every chunk of the reply.
    pub request_id: Uuid,
    /// What the person typed.
    pub content: String,
}

/// A piece of a streamed reply; the last one of a request has `done: true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamChunk {
    /// The request this belongs to.
    pub request_id: Uuid,
    /// Text to append (may be empty on the final chunk).
    pub delta: String,
    /// True on the last chunk of the reply.
    pub done: bool,
}

/// Ask for recent history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRequest {
    /// Echoed in the reply.
    pub request_id: Uuid,
    /// Most messages to return.
    pub limit: u32,
}

/// Recent history, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReply {
    /// The request answered.
    pub request_id: Uuid,
    /// The messages (tool calls shown in their content).
    pub messages: Vec<ChatMessage>,
}

/// A tool call announced to the front ends of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallEvent {
    /// The chat request whose turn made the call.
    pub request_id: Uuid,
    /// The call (secret arguments redacted).
    pub call: ToolCall,
}

/// A tool outcome announced to the front ends of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResultEvent {
    /// The chat request whose turn made the call.
    pub request_id: Uuid,
    /// The outcome.
    pub result: ToolResult,
}

/// Machine-readable error kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame's length exceeds the limit.
    FrameTooLarge,
    /// The connection ended in the middle of a frame.
    TruncatedFrame,
    /// The frame body is not UTF-8.
    InvalidUtf8,
    /// The frame body is not a JSON object with a string `"type"`.
    InvalidJson,
    /// The `"type"` is not one this protocol knows.
    UnknownMessageType,
    /// A known type whose fields do not match the schema.
    InvalidMessage,
    /// The first frame was not `hello`.
    HelloRequired,
    /// The client speaks another protocol version.
    VersionMismatch,
    /// The peer runs as another user.
    PermissionDenied,
    /// The message is valid but not allowed here (e.g. `confirm_response`).
    Forbidden,
    /// The language model provider failed (the message says why and what to do).
    Provider,
    /// History is unavailable (turned off, or the database failed).
    History,
    /// The agent failed while handling the request.
    Internal,
}

/// A typed error; `request_id` is set when the error answers a specific request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// The request this answers, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Uuid>,
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong and what to do, for people.
    pub message: String,
}

impl ErrorReply {
    /// An error not tied to a request.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            request_id: None,
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = serde_json::to_value(self.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        write!(f, "{} ({code})", self.message)
    }
}
