//! OpenAI's Chat Completions API, streamed; also every compatible server (Ollama's
//! `/v1`, llama.cpp's server, vLLM).

use std::collections::BTreeMap;

use aios_common::config::{ProviderConfig, ProviderKind};
use aios_common::types::ToolCall;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{Decoder, Endpoint, join_url, parse_arguments, parse_json};
use super::sse::SseEvent;
use super::types::{
    DeltaStream, LlmError, LlmMessage, LlmProvider, LlmRequest, StopReason, StreamDelta, Usage,
};

/// OpenAI's endpoint.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// Ollama's OpenAI-compatible endpoint on this machine.
pub const OLLAMA_BASE_URL: &str = "http://127.0.0.1:11434/v1";
/// Model used with OpenAI when the config names none.
pub const OPENAI_DEFAULT_MODEL: &str = "gpt-4o-mini";
/// Model used with Ollama when the config names none.
pub const OLLAMA_DEFAULT_MODEL: &str = "qwen2.5-coder:1.5b";

/// A provider speaking the OpenAI Chat Completions protocol.
#[derive(Debug)]
pub struct OpenAiProvider {
    endpoint: Endpoint,
    /// `Authorization: Bearer ...`, when a key is set.
    auth: Option<HeaderValue>,
    /// OpenAI itself wants `max_completion_tokens`; compatible servers know `max_tokens`.
    official: bool,
}

impl OpenAiProvider {
    /// The provider for an `openai` or `ollama` config (other kinds are treated as
    /// `openai`).
    pub fn new(cfg: &ProviderConfig) -> Self {
        let ollama = cfg.kind == ProviderKind::Ollama;
        let (provider, default_url, default_model) = if ollama {
            ("ollama", OLLAMA_BASE_URL, OLLAMA_DEFAULT_MODEL)
        } else {
            ("openai", OPENAI_BASE_URL, OPENAI_DEFAULT_MODEL)
        };
        let base = non_empty(&cfg.base_url).unwrap_or(default_url);
        let model = non_empty(&cfg.model).unwrap_or(default_model);
        let key = cfg.api_key.expose().trim();
        let auth = (!key.is_empty())
            .then(|| HeaderValue::from_str(&format!("Bearer {key}")).ok())
            .flatten()
            .map(|mut v| {
                v.set_sensitive(true);
                v
            });
        Self {
            endpoint: Endpoint::new(
                provider,
                join_url(base, "chat/completions"),
                model.to_owned(),
                cfg.timeout_secs,
                key,
            ),
            auth,
            official: base.trim_end_matches('/') == OPENAI_BASE_URL,
        }
    }

    /// The JSON body for `req`.
    pub fn body(&self, req: &LlmRequest) -> Value {
        let mut body = json!({
            "model": self.endpoint.model,
            "messages": req.messages.iter().map(message).collect::<Vec<_>>(),
            "stream": true,
            "stream_options": {"include_usage": true},
            "temperature": req.temperature,
        });
        let max = if self.official {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[max] = json!(req.max_tokens);
        if !req.tools.is_empty() {
            body["tools"] = req
                .tools
                .iter()
                .map(|t| {
                    json!({
                        "type": "function",
                        "function": {
                            "name": t.name,
                            "description": t.description,
                            "parameters": t.parameters,
                        }
                    })
                })
                .collect();
            if req.words_only {
                body["tool_choice"] = json!("none");
            }
        }
        body
    }
}

fn non_empty(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

fn message(m: &LlmMessage) -> Value {
    match m {
        LlmMessage::System { content } => json!({"role": "system", "content": content}),
        LlmMessage::User { content } => json!({"role": "user", "content": content}),
        LlmMessage::Assistant {
            content,
            tool_calls,
        } => {
            let mut v = json!({"role": "assistant", "content": content});
            if !tool_calls.is_empty() {
                if content.is_empty() {
                    v["content"] = Value::Null;
                }
                v["tool_calls"] = tool_calls
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments.to_string()},
                        })
                    })
                    .collect();
            }
            v
        }
        LlmMessage::Tool {
            call_id,
            content,
            is_error,
            ..
        } => {
            // The protocol has no error flag: say it in the text.
            let content = if *is_error {
                format!("Error: {content}")
            } else {
                content.clone()
            };
            json!({"role": "tool", "tool_call_id": call_id, "content": content})
        }
    }
}

#[async_trait::async_trait]
impl LlmProvider for OpenAiProvider {
    async fn complete_stream(&self, req: &LlmRequest) -> Result<DeltaStream, LlmError> {
        let mut headers = HeaderMap::new();
        if let Some(auth) = &self.auth {
            headers.insert(AUTHORIZATION, auth.clone());
        }
        self.endpoint
            .stream_json(headers, &self.body(req), ChatDecoder::default())
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
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallPiece>,
}

#[derive(Deserialize)]
struct ToolCallPiece {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionPiece>,
}

#[derive(Deserialize)]
struct FunctionPiece {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: u32,
    #[serde(default)]
    completion_tokens: u32,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: u32,
}

#[derive(Default)]
struct PendingCall {
    id: String,
    name: String,
    arguments: String,
}

/// Reads `chat.completion.chunk` events.
#[derive(Default)]
struct ChatDecoder {
    /// Tool calls being assembled, by their stream index.
    calls: BTreeMap<usize, PendingCall>,
    /// Set when a choice finished.
    stop: Option<StopReason>,
    /// Whether any tool call was emitted.
    used_tools: bool,
    usage: Usage,
}

impl ChatDecoder {
    fn flush_calls(
        &mut self,
        endpoint: &Endpoint,
        out: &mut Vec<StreamDelta>,
    ) -> Result<(), LlmError> {
        for (_, call) in std::mem::take(&mut self.calls) {
            if call.name.is_empty() {
                return Err(endpoint.protocol("a tool call came without a name"));
            }
            let arguments = parse_arguments(endpoint, &call.name, &call.arguments)?;
            let id = if call.id.is_empty() {
                format!("call_{}", uuid::Uuid::new_v4().simple())
            } else {
                call.id
            };
            self.used_tools = true;
            out.push(StreamDelta::ToolCall(ToolCall {
                id,
                name: call.name,
                arguments,
            }));
        }
        Ok(())
    }

    fn done(&mut self, out: &mut Vec<StreamDelta>) {
        let stop = if self.used_tools {
            StopReason::ToolUse
        } else {
            self.stop.unwrap_or(StopReason::EndTurn)
        };
        out.push(StreamDelta::Done {
            usage: std::mem::take(&mut self.usage),
            stop,
        });
    }
}

impl Decoder for ChatDecoder {
    fn event(
        &mut self,
        endpoint: &Endpoint,
        event: SseEvent,
        out: &mut Vec<StreamDelta>,
    ) -> Result<(), LlmError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.flush_calls(endpoint, out)?;
            self.done(out);
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let chunk: Chunk = parse_json(endpoint, data)?;
        if let Some(error) = chunk.error {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| error.to_string(), str::to_owned);
            // The HTTP status was 200; the failure came inside the stream.
            return Err(LlmError::Server {
                provider: endpoint.provider.to_owned(),
                status: 500,
                message: endpoint.scrub(&message),
            });
        }
        if let Some(u) = chunk.usage {
            self.usage = Usage {
                input_tokens: u.prompt_tokens,
                cached_tokens: u.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
                output_tokens: u.completion_tokens,
            };
        }
        // Only the first choice is read: the request never asks for more.
        if let Some(choice) = chunk.choices.into_iter().next() {
            if let Some(delta) = choice.delta {
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    out.push(StreamDelta::Text(text));
                }
                for (position, piece) in delta.tool_calls.into_iter().enumerate() {
                    let call = self
                        .calls
                        .entry(piece.index.unwrap_or(position))
                        .or_default();
                    if let Some(id) = piece.id.filter(|id| !id.is_empty()) {
                        call.id = id;
                    }
                    if let Some(f) = piece.function {
                        // Sent once by OpenAI; some servers repeat it in every piece.
                        if let Some(name) = f.name.filter(|n| *n != call.name) {
                            call.name.push_str(&name);
                        }
                        if let Some(arguments) = f.arguments {
                            call.arguments.push_str(&arguments);
                        }
                    }
                }
            }
            if let Some(reason) = choice.finish_reason {
                self.stop = Some(match reason.as_str() {
                    "length" => StopReason::MaxTokens,
                    "tool_calls" | "function_call" => StopReason::ToolUse,
                    _ => StopReason::EndTurn,
                });
                self.flush_calls(endpoint, out)?;
            }
        }
        Ok(())
    }

    fn end(&mut self, endpoint: &Endpoint, out: &mut Vec<StreamDelta>) -> Result<(), LlmError> {
        // Some compatible servers close without `[DONE]`; a finished choice is enough.
        if self.stop.is_some() {
            self.flush_calls(endpoint, out)?;
            self.done(out);
            Ok(())
        } else {
            Err(endpoint.protocol("the reply stream ended before the reply was complete"))
        }
    }
}
