//! Provider-neutral request, response and stream types, and the provider trait.

use std::pin::Pin;
use std::time::Duration;

use aios_common::types::ToolCall;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

pub use aios_common::types::ToolDefinition;

/// One message of the conversation sent to a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum LlmMessage {
    /// The system prompt (first message only).
    System {
        /// Text.
        content: String,
    },
    /// The person (typed or spoken).
    User {
        /// Text.
        content: String,
    },
    /// The model: text, tool calls, or both.
    Assistant {
        /// Text (may be empty when the reply is only tool calls).
        content: String,
        /// Calls the model made; each gets a [`LlmMessage::Tool`] answer.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    /// A tool's result, answering the call with `call_id`.
    Tool {
        /// The [`ToolCall::id`] answered.
        call_id: String,
        /// The tool's name.
        name: String,
        /// Output, or the error text.
        content: String,
        /// True when the call failed or was refused.
        #[serde(default)]
        is_error: bool,
    },
}

/// What to ask a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmRequest {
    /// The conversation, system prompt first.
    pub messages: Vec<LlmMessage>,
    /// Tools offered this turn (empty: none).
    pub tools: Vec<ToolDefinition>,
    /// 0 = greedy.
    pub temperature: f32,
    /// Longest reply in tokens.
    pub max_tokens: u32,
    /// The reply must be words, no call: the tools stay offered (the local model's
    /// cached prefix holds) and the provider is told not to call one (OpenAI
    /// `tool_choice: "none"`, Anthropic `{"type": "none"}`, the worker's `no_calls`).
    pub words_only: bool,
    /// The same request asked alone (a fresh conversation), answered instead when
    /// the reply to `messages` would start in words rather than a call. Only the
    /// local worker reads it (in one request, instead of a cancelled one and a
    /// second); cloud providers never get the memo that makes it useful.
    pub fallback: Option<Vec<LlmMessage>>,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model finished its reply.
    EndTurn,
    /// The model asked for tools.
    ToolUse,
    /// The reply hit `max_tokens`.
    MaxTokens,
    /// The turn was cancelled.
    Cancelled,
}

/// Token accounting of one provider call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens in all.
    pub input_tokens: u32,
    /// Of those, tokens that were not computed again (provider or KV cache).
    pub cached_tokens: u32,
    /// Tokens generated.
    pub output_tokens: u32,
}

/// One event of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamDelta {
    /// Text to append to the reply.
    Text(String),
    /// A complete tool call.
    ToolCall(ToolCall),
    /// Something the model meant as a tool call but that could not be read; it is
    /// never executed, the model is told instead.
    MalformedCall(String),
    /// The end; nothing follows.
    Done {
        /// Token accounting.
        usage: Usage,
        /// Why it stopped.
        stop: StopReason,
    },
}

/// A whole reply.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmResponse {
    /// Reply text.
    pub content: String,
    /// Tool calls, in order.
    pub tool_calls: Vec<ToolCall>,
    /// Call-like output that could not be read.
    pub malformed_calls: Vec<String>,
    /// Token accounting.
    pub usage: Usage,
    /// Why it stopped.
    pub stop: StopReason,
}

/// What went wrong, phrased by what the person should do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// The key was refused (HTTP 401/403).
    #[error(
        "{provider} refused the API key (HTTP {status}); set a valid `api_key` under [provider] in agent.toml"
    )]
    Auth {
        /// Provider name.
        provider: String,
        /// HTTP status.
        status: u16,
    },
    /// HTTP 429, still limited after honouring `retry-after` once.
    #[error("{provider} is rate limiting requests{}; wait a moment and ask again", .retry_after.map(|d| format!(" (retry after {} s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// Provider name.
        provider: String,
        /// What the server asked for, if anything.
        retry_after: Option<Duration>,
    },
    /// HTTP 5xx.
    #[error("{provider} had a server error (HTTP {status}): {message}; try again later")]
    Server {
        /// Provider name.
        provider: String,
        /// HTTP status.
        status: u16,
        /// The server's words, shortened.
        message: String,
    },
    /// Another HTTP error the request itself caused (400, 404, ...).
    #[error("{provider} rejected the request (HTTP {status}): {message}")]
    Rejected {
        /// Provider name.
        provider: String,
        /// HTTP status.
        status: u16,
        /// The server's words, shortened.
        message: String,
    },
    /// The endpoint cannot be reached.
    #[error(
        "cannot reach {provider} at {url}: {message}; check the network and `base_url` in agent.toml"
    )]
    Network {
        /// Provider name.
        provider: String,
        /// Endpoint.
        url: String,
        /// The cause.
        message: String,
    },
    /// Nothing arrived within the configured timeout.
    #[error(
        "{provider} did not answer within {secs} s; try again, or raise `timeout_secs` under [provider]"
    )]
    Timeout {
        /// Provider name.
        provider: String,
        /// The timeout.
        secs: u64,
    },
    /// The conversation does not fit the model's context.
    #[error("the conversation is too long for {provider} ({message}); start a new conversation")]
    ContextTooLong {
        /// Provider name.
        provider: String,
        /// Details.
        message: String,
    },
    /// The model (file or remote name) does not exist.
    #[error("{message}")]
    ModelMissing {
        /// What is missing and the command that fixes it.
        message: String,
    },
    /// The local worker failed or died.
    #[error("the local model worker failed: {message}")]
    Worker {
        /// What happened.
        message: String,
    },
    /// The provider sent something unreadable.
    #[error("{provider} sent a malformed response: {message}")]
    Protocol {
        /// Provider name.
        provider: String,
        /// What was wrong.
        message: String,
    },
}

/// A streamed reply.
pub type DeltaStream = Pin<Box<dyn Stream<Item = Result<StreamDelta, LlmError>> + Send>>;

/// A source of model replies.
#[async_trait::async_trait]
pub trait LlmProvider: Send + Sync {
    /// Streams the reply to `req`. The stream ends with [`StreamDelta::Done`] or an error.
    async fn complete_stream(&self, req: &LlmRequest) -> Result<DeltaStream, LlmError>;

    /// The whole reply to `req`.
    async fn complete(&self, req: &LlmRequest) -> Result<LlmResponse, LlmError> {
        collect(self.complete_stream(req).await?).await
    }

    /// Whether the provider accepts tool definitions.
    fn supports_tools(&self) -> bool;

    /// Between turns: what the next request will start with, so a provider that
    /// keeps a prompt cache (the local worker) can decode it while the person is
    /// silent; with `heard`, the words of the next question heard so far (a partial
    /// transcript while the person speaks). Returns at once; the default does
    /// nothing.
    async fn prewarm(
        &self,
        _messages: &[LlmMessage],
        _tools: &[ToolDefinition],
        _heard: Option<&str>,
    ) {
    }

    /// Name for status output and error messages (`local`, `openai`, ...).
    fn name(&self) -> &str;

    /// Model in use, for status output.
    fn model(&self) -> Option<String> {
        None
    }
}

/// Folds a stream into a [`LlmResponse`].
pub async fn collect(mut stream: DeltaStream) -> Result<LlmResponse, LlmError> {
    let mut content = String::new();
    let mut tool_calls = Vec::new();
    let mut malformed_calls = Vec::new();
    while let Some(delta) = stream.next().await {
        match delta? {
            StreamDelta::Text(t) => content.push_str(&t),
            StreamDelta::ToolCall(c) => tool_calls.push(c),
            StreamDelta::MalformedCall(e) => malformed_calls.push(e),
            StreamDelta::Done { usage, stop } => {
                return Ok(LlmResponse {
                    content,
                    tool_calls,
                    malformed_calls,
                    usage,
                    stop,
                });
            }
        }
    }
    Err(LlmError::Protocol {
        provider: "provider".into(),
        message: "the stream ended without a final event".into(),
    })
}
