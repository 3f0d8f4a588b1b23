//! Message types of the IPC protocol. Changing any of them changes the wire format:
//! the golden tests in `golden_tests.rs` show every change in review.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::types::{ChatMessage, ToolCall, ToolResult, TrustRequirement};

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
    /// Client → agent: the person starts a new conversation (`aios new`, `/new`).
    NewConversation(NewConversationRequest),
    /// Agent → client: the next turn starts a new conversation.
    ConversationStarted(ConversationStarted),
    /// Client → agent: first-run setup: check this provider with one real request,
    /// save it to `agent.toml` and answer with it from now on.
    SetupRequest(SetupRequest),
    /// Agent → client: the provider passed its check, is saved and in use.
    SetupReply(SetupReply),
    /// Agent → client: the model asked for a tool (shown as a tool card).
    ToolCall(ToolCallEvent),
    /// Agent → client: a call waits for the person's answer in the confirmation
    /// dialog (the tool card turns amber).
    ConfirmPending(ConfirmPendingEvent),
    /// Agent → client: a tool finished, failed or was denied.
    ToolResult(ToolResultEvent),
    /// Client → agent: push-to-talk pressed: stop speaking (barge-in) and listen.
    PttStart(PttRequest),
    /// Client → agent: push-to-talk released: the utterance is complete.
    PttStop(PttRequest),
    /// Client → agent: switch between push-to-talk and hands-free listening.
    VoiceMode(VoiceModeRequest),
    /// Client → agent: treat a WAV file as if it had been spoken (`aios listen`).
    ListenRequest(ListenRequest),
    /// Agent → client: what a [`ListenRequest`] heard, answered and took.
    ListenReply(ListenReply),
    /// Agent → every client: a partial or final transcript.
    Transcript(TranscriptEvent),
    /// Agent → every client: what the voice pipeline is doing.
    VoiceState(VoiceStateEvent),
    /// Agent → every client: microphone level while listening (about 20 a second).
    InputLevel(InputLevelEvent),
    /// Client (`aios mcp serve`) → agent: the tools an outside program may call.
    ToolsRequest(ToolsRequest),
    /// Agent → client: their definitions.
    ToolsReply(ToolsReply),
    /// Client (`aios mcp serve`) → agent: run one tool for an outside program
    /// through the model's own pipeline (policy, confirmation on the person's
    /// screen, rate limit, audit); answered by a `tool_result` with its id.
    ToolRun(ToolRunRequest),
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
    "new_conversation",
    "conversation_started",
    "setup_request",
    "setup_reply",
    "tool_call",
    "confirm_pending",
    "tool_result",
    "ptt_start",
    "ptt_stop",
    "voice_mode",
    "listen_request",
    "listen_reply",
    "transcript",
    "voice_state",
    "input_level",
    "tools_request",
    "tools_reply",
    "tool_run",
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
            IpcMessage::NewConversation(_) => "new_conversation",
            IpcMessage::ConversationStarted(_) => "conversation_started",
            IpcMessage::SetupRequest(_) => "setup_request",
            IpcMessage::SetupReply(_) => "setup_reply",
            IpcMessage::ToolCall(_) => "tool_call",
            IpcMessage::ConfirmPending(_) => "confirm_pending",
            IpcMessage::ToolResult(_) => "tool_result",
            IpcMessage::PttStart(_) => "ptt_start",
            IpcMessage::PttStop(_) => "ptt_stop",
            IpcMessage::VoiceMode(_) => "voice_mode",
            IpcMessage::ListenRequest(_) => "listen_request",
            IpcMessage::ListenReply(_) => "listen_reply",
            IpcMessage::Transcript(_) => "transcript",
            IpcMessage::VoiceState(_) => "voice_state",
            IpcMessage::InputLevel(_) => "input_level",
            IpcMessage::ToolsRequest(_) => "tools_request",
            IpcMessage::ToolsReply(_) => "tools_reply",
            IpcMessage::ToolRun(_) => "tool_run",
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
    /// `aios mcp serve`: the bridge of an outside MCP client. What it asks for is
    /// not the person's word: its calls run as outside content (see `tool_run`).
    Mcp,
}

/// Asks for the tools an outside program may call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolsRequest {
    /// Echoed in the reply.
    pub request_id: Uuid,
}

/// The tools, as the model sees them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolsReply {
    /// The request answered.
    pub request_id: Uuid,
    /// Name, description and argument schema of each, in name order.
    pub tools: Vec<crate::types::ToolDefinition>,
    /// The names of those that only read (trust requirement `none`: they run
    /// without asking); every other one may wait for the person's confirmation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_only: Vec<String>,
}

/// One call an outside program asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolRunRequest {
    /// Carried by the `confirm_pending` and `tool_result` that answer it.
    pub request_id: Uuid,
    /// The call (its `id` names it in the audit log).
    pub call: ToolCall,
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
    /// The agent read its settings from a config file. `false`: it runs on the
    /// defaults because there is none, and a window offers first-run setup.
    pub configured: bool,
}

/// First-run setup: the provider the person chose. The agent checks it with one
/// real request, and only when that passes saves it (mode 0600) and uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupRequest {
    /// Echoed in the reply.
    pub request_id: Uuid,
    /// `local`, `openai`, `anthropic` or `ollama`.
    pub provider: crate::config::ProviderKind,
    /// The key of a cloud provider ("" for none). Never logged or echoed.
    #[serde(default, skip_serializing_if = "crate::config::ApiKey::is_empty")]
    pub api_key: crate::config::ApiKey,
    /// The endpoint ("" for the provider's default, e.g. Ollama on 127.0.0.1).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base_url: String,
    /// The model ("" for the provider's default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
}

/// The provider passed its check and answers from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupReply {
    /// The request answered.
    pub request_id: Uuid,
    /// The provider now in use.
    pub provider: String,
    /// Its model, if it names one.
    pub model: Option<String>,
    /// Where the config was saved.
    pub saved_to: String,
}

/// A message from the person that starts an agent turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Echoed in every chunk of the reply.
    pub request_id: Uuid,
    /// What the person typed (or said).
    pub content: String,
    /// The content was spoken, not typed: the reply is also spoken, and it is shown
    /// as spoken. (Never a way to approve anything: confirmations are typed or
    /// clicked in `aios-confirm`.) Absent means typed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spoken: bool,
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

/// Start a new conversation: the model sees none of the turns before it (history
/// keeps them). Waits for a running turn to end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewConversationRequest {
    /// Echoed in the reply.
    pub request_id: Uuid,
}

/// The conversation the next turn joins is new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationStarted {
    /// The request answered.
    pub request_id: Uuid,
}

/// A tool call announced to the front ends of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallEvent {
    /// The chat request whose turn made the call.
    pub request_id: Uuid,
    /// The call (secret arguments redacted).
    pub call: ToolCall,
}

/// A call that waits for the person: the agent asked the confirmation dialog (a
/// process of its own that no client can answer) and waits up to `timeout_secs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmPendingEvent {
    /// The chat request whose turn made the call.
    pub request_id: Uuid,
    /// The [`ToolCall::id`] waiting.
    pub call_id: String,
    /// `Confirm`, or `DoubleConfirm` for a destructive action (`DELETE` typed).
    pub requirement: TrustRequirement,
    /// How long the dialog waits before it counts as a denial.
    pub timeout_secs: u64,
}

/// How a tool call ended, for the front ends' tool cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// It ran and succeeded.
    Ok,
    /// It ran and failed (the result says why).
    Failed,
    /// It never ran: the person said no, or policy, validation or the rate limit
    /// refused it.
    Denied,
    /// It never ran: nobody answered the confirmation in time.
    TimedOut,
    /// It never ran: the turn ended first (the client that asked went away, which
    /// withdraws the question).
    Cancelled,
}

/// A tool outcome announced to the front ends of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResultEvent {
    /// The chat request whose turn made the call.
    pub request_id: Uuid,
    /// How it ended.
    pub status: ToolStatus,
    /// The outcome (`is_error` unless `status` is `ok`).
    pub result: ToolResult,
}

/// Push-to-talk press or release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PttRequest {
    /// Errors about this press carry it.
    pub request_id: Uuid,
}

/// Push-to-talk (`hands_free: false`, the default) or hands-free listening, where
/// voice activity starts and ends each utterance and speech during a spoken reply
/// interrupts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceModeRequest {
    /// Errors about this request carry it.
    pub request_id: Uuid,
    /// Listen all the time.
    pub hands_free: bool,
}

/// A WAV file to be heard as if spoken: VAD, speech to text, a turn (streamed and
/// announced like any spoken turn), speech.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenRequest {
    /// Echoed in the reply and in the turn's events.
    pub request_id: Uuid,
    /// The WAV file (any rate, channels, 16/24/32-bit), read by the agent.
    pub wav: String,
    /// Write the spoken reply here instead of playing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
    /// Feed the audio at real-time pace, as a microphone would.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub realtime: bool,
}

/// What a [`ListenRequest`] heard and answered; sent after the reply was spoken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenReply {
    /// The request answered.
    pub request_id: Uuid,
    /// The final transcript (empty: no speech, and no turn ran).
    pub transcript: String,
    /// The whole reply text, as the chat shows it.
    pub reply: String,
    /// What was spoken of it.
    pub spoken: String,
    /// Milliseconds per stage.
    pub timings: VoiceTimings,
}

/// Milliseconds per stage of one spoken turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct VoiceTimings {
    /// Seconds of audio heard.
    pub audio_s: f32,
    /// VAD over the audio (fed faster than real time) or 0 (real time).
    pub vad_ms: u64,
    /// End of the audio to the final transcript.
    pub stt_ms: u64,
    /// Final transcript to the first reply text.
    pub first_text_ms: u64,
    /// Final transcript to the end of the turn.
    pub turn_ms: u64,
    /// Final transcript to the first sample of speech.
    pub first_audio_ms: u64,
}

/// Which kind of transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptKind {
    /// The words so far, while the person still speaks; later ones replace it.
    Partial,
    /// The utterance; a non-empty one starts a turn.
    Final,
}

/// A transcript of what the person is saying or said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptEvent {
    /// Partial or final.
    pub kind: TranscriptKind,
    /// The words (empty in a final one: nothing was understood).
    pub text: String,
    /// In a final one: the `request_id` of the turn it started (its chunks and tool
    /// events carry it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Uuid>,
}

/// The voice pipeline's state, for the dock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceState {
    /// Nothing going on (or hands-free, waiting for speech).
    Idle,
    /// The microphone is open and the person is speaking (or may).
    Listening,
    /// Turning the utterance into text.
    Transcribing,
    /// The model is working on the reply.
    Thinking,
    /// The reply is being spoken.
    Speaking,
}

/// The voice pipeline moved to `state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceStateEvent {
    /// The new state.
    pub state: VoiceState,
    /// Hands-free listening is on.
    pub hands_free: bool,
}

/// Microphone input level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputLevelEvent {
    /// 0 (-60 dBFS or quieter) to 1 (full scale), logarithmic.
    pub level: f32,
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
    /// The message is valid but not allowed here (e.g. an agent-only event sent by
    /// a client).
    Forbidden,
    /// The language model provider failed (the message says why and what to do).
    Provider,
    /// History is unavailable (turned off, or the database failed).
    History,
    /// The agent failed while handling the request.
    Internal,
    /// Voice is unavailable or failed (no microphone, models missing; the message
    /// says what to do).
    Voice,
    /// The agent serves as many clients as it takes; this connection is closed.
    Busy,
    /// First-run setup failed: the check request was refused or unreachable, or
    /// the config could not be saved (the message says which, and what to do).
    /// Nothing was saved and the provider in use is unchanged.
    Setup,
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
