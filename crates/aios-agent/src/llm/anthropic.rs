//! Anthropic's Messages API, streamed.

use std::collections::HashMap;

use aios_common::config::ProviderConfig;
use aios_common::types::ToolCall;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{Decoder, Endpoint, join_url, parse_arguments, parse_json};
use super::sse::SseEvent;
use super::types::{
    DeltaStream, LlmError, LlmMessage, LlmProvider, LlmRequest, StopReason, StreamDelta, Usage,
};

/// Anthropic's endpoint.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
/// Model used when the config names none.
pub const ANTHROPIC_DEFAULT_MODEL: &str = "claude-sonnet-4-5";
/// The API version this code speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A provider speaking Anthropic's Messages API.
#[derive(Debug)]
pub struct AnthropicProvider {
    endpoint: Endpoint,
    /// `x-api-key`, when a key is set.
    key: Option<HeaderValue>,
}

impl AnthropicProvider {
    /// The provider for an `anthropic` config.
    pub fn new(cfg: &ProviderConfig) -> Self {
        let base = match cfg.base_url.trim() {
            "" => ANTHROPIC_BASE_URL,
            url => url,
        };
        let model = match cfg.model.trim() {
            "" => ANTHROPIC_DEFAULT_MODEL,
            m => m,
        };
        let key = cfg.api_key.expose().trim();
        let header = (!key.is_empty())
            .then(|| HeaderValue::from_str(key).ok())
            .flatten()
            .map(|mut v| {
                v.set_sensitive(true);
                v
            });
        Self {
            endpoint: Endpoint::new(
                "anthropic",
                join_url(base, "v1/messages"),
                model.to_owned(),
                cfg.timeout_secs,
                key,
            ),
            key: header,
        }
    }

    /// The JSON body for `req`.
    pub fn body(&self, req: &LlmRequest) -> Value {
        let (system, messages) = messages(&req.messages);
        let mut body = json!({
            "model": self.endpoint.model,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "stream": true,
            "messages": messages,
        });
        if !system.is_empty() {
            body["system"] = json!(system);
        }
        if !req.tools.is_empty() {
            body["tools"] = req
                .tools
                .iter()
                .map(|t| {
                    json!({
                        "name": t.name,
                        "description": t.description,
                        "input_schema": t.parameters,
                    })
                })
                .collect();
            if req.words_only {
                body["tool_choice"] = json!({"type": "none"});
            }
        }
        body
    }
}

/// The system text and the alternating user/assistant messages. Tool results go
/// back as `tool_result` blocks of a user message; neighbours of the same role are
/// merged (parallel tool results must share one message).
fn messages(list: &[LlmMessage]) -> (String, Vec<Value>) {
    let mut system = Vec::new();
    let mut out: Vec<(&str, Vec<Value>)> = Vec::new();
    let mut push = |role: &'static str, blocks: Vec<Value>| {
        if blocks.is_empty() {
            return;
        }
        match out.last_mut() {
            Some((r, existing)) if *r == role => existing.extend(blocks),
            _ => out.push((role, blocks)),
        }
    };
    for m in list {
        match m {
            LlmMessage::System { content } => system.push(content.as_str()),
            LlmMessage::User { content } => push("user", text_block(content)),
            LlmMessage::Assistant {
                content,
                tool_calls,
            } => {
                let mut blocks = text_block(content);
                blocks.extend(tool_calls.iter().map(|c| {
                    let input = if c.arguments.is_object() {
                        c.arguments.clone()
                    } else {
                        json!({})
                    };
                    json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input})
                }));
                push("assistant", blocks);
            }
            LlmMessage::Tool {
                call_id,
                content,
                is_error,
                ..
            } => push(
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": call_id,
                    "content": content,
                    "is_error": is_error,
                })],
            ),
        }
    }
    let messages = out
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    (system.join("\n\n"), messages)
}

/// A text block, or none for empty text (the API refuses empty text blocks).
fn text_block(text: &str) -> Vec<Value> {
    if text.trim().is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "text", "text": text})]
    }
}

#[async_trait::async_trait]
impl LlmProvider for AnthropicProvider {
    async fn complete_stream(&self, req: &LlmRequest) -> Result<DeltaStream, LlmError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        if let Some(key) = &self.key {
            headers.insert(HeaderName::from_static("x-api-key"), key.clone());
        }
        self.endpoint
            .stream_json(headers, &self.body(req), MessagesDecoder::default())
            .await
    }

    fn supports_tools(&self) -> bool {
        true
    }

    fn name(&self) -> &str {
        self.endpoint.provider
    }

    fn model(&self) -> Option<String> {
        Some(self.endpoint.model.clone())
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: StartMessage,
    },
    ContentBlockStart {
        index: usize,
        content_block: Block,
    },
    ContentBlockDelta {
        index: usize,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        #[serde(default)]
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<UsageBody>,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorBody,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StartMessage {
    #[serde(default)]
    usage: Option<UsageBody>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
struct MessageDeltaBody {
    #[serde(default)]
    stop_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct UsageBody {
    #[serde(default)]
    input_tokens: Option<u32>,
    #[serde(default)]
    output_tokens: Option<u32>,
    #[serde(default)]
    cache_read_input_tokens: Option<u32>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    message: String,
}

struct PendingTool {
    id: String,
    name: String,
    json: String,
}

/// Reads the Messages API's stream events.
#[derive(Default)]
struct MessagesDecoder {
    /// `tool_use` blocks being assembled, by block index.
    tools: HashMap<usize, PendingTool>,
    stop: Option<StopReason>,
    /// Uncached prompt tokens.
    input: u32,
    cache_read: u32,
    cache_write: u32,
    output: u32,
}

impl MessagesDecoder {
    fn usage(&mut self, u: UsageBody) {
        if let Some(n) = u.input_tokens {
            self.input = n;
        }
        if let Some(n) = u.cache_read_input_tokens {
            self.cache_read = n;
        }
        if let Some(n) = u.cache_creation_input_tokens {
            self.cache_write = n;
        }
        if let Some(n) = u.output_tokens {
            self.output = n;
        }
    }
}

impl Decoder for MessagesDecoder {
    fn event(
        &mut self,
        endpoint: &Endpoint,
        event: SseEvent,
        out: &mut Vec<StreamDelta>,
    ) -> Result<(), LlmError> {
        if event.data.trim().is_empty() {
            return Ok(());
        }
        match parse_json::<Event>(endpoint, &event.data)? {
            Event::MessageStart { message } => {
                if let Some(u) = message.usage {
                    self.usage(u);
                }
            }
            Event::ContentBlockStart {
                index,
                content_block,
            } => match content_block {
                Block::Text { text } => {
                    if !text.is_empty() {
                        out.push(StreamDelta::Text(text));
                    }
                }
                Block::ToolUse { id, name } => {
                    self.tools.insert(
                        index,
                        PendingTool {
                            id,
                            name,
                            json: String::new(),
                        },
                    );
                }
                Block::Other => {}
            },
            Event::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } => {
                    if !text.is_empty() {
                        out.push(StreamDelta::Text(text));
                    }
                }
                BlockDelta::InputJsonDelta { partial_json } => match self.tools.get_mut(&index) {
                    Some(tool) => tool.json.push_str(&partial_json),
                    None => {
                        return Err(endpoint.protocol(format!(
                            "tool input for block {index}, which is not a tool_use block"
                        )));
                    }
                },
                BlockDelta::Other => {}
            },
            Event::ContentBlockStop { index } => {
                if let Some(tool) = self.tools.remove(&index) {
                    let arguments = parse_arguments(endpoint, &tool.name, &tool.json)?;
                    out.push(StreamDelta::ToolCall(ToolCall {
                        id: tool.id,
                        name: tool.name,
                        arguments,
                    }));
                }
            }
            Event::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason {
                    self.stop = Some(match reason.as_str() {
                        "tool_use" => StopReason::ToolUse,
                        "max_tokens" => StopReason::MaxTokens,
                        _ => StopReason::EndTurn,
                    });
                }
                if let Some(u) = usage {
                    self.usage(u);
                }
            }
            Event::MessageStop => {
                if !self.tools.is_empty() {
                    return Err(endpoint.protocol("the message ended inside a tool_use block"));
                }
                out.push(StreamDelta::Done {
                    usage: Usage {
                        input_tokens: self.input + self.cache_read + self.cache_write,
                        cached_tokens: self.cache_read,
                        output_tokens: self.output,
                    },
                    stop: self.stop.unwrap_or(StopReason::EndTurn),
                });
            }
            Event::Ping | Event::Other => {}
            Event::Error { error } => {
                let provider = endpoint.provider.to_owned();
                let message = endpoint.scrub(&error.message);
                return Err(match error.kind.as_str() {
                    "rate_limit_error" => LlmError::RateLimited {
                        provider,
                        retry_after: None,
                    },
                    "overloaded_error" => LlmError::Server {
                        provider,
                        status: 529,
                        message,
                    },
                    "invalid_request_error" => LlmError::Rejected {
                        provider,
                        status: 400,
                        message,
                    },
                    _ => LlmError::Server {
                        provider,
                        status: 500,
                        message: if message.is_empty() {
                            error.kind
                        } else {
                            message
                        },
                    },
                });
            }
        }
        Ok(())
    }

    fn end(&mut self, endpoint: &Endpoint, _out: &mut Vec<StreamDelta>) -> Result<(), LlmError> {
        Err(endpoint.protocol("the reply stream ended before `message_stop`"))
    }
}
