//! The HTTP providers against a real HTTP/1.1 server on 127.0.0.1.

mod anthropic;
mod errors;
mod openai;
#[allow(dead_code)] // its scripted-reply helpers serve the integration tests too
mod server;
mod turn;

use aios_common::config::{ApiKey, ProviderConfig, ProviderKind};
use aios_common::types::ToolCall;
use futures::StreamExt;
use serde_json::json;

use super::{
    DeltaStream, LlmError, LlmMessage, LlmProvider, LlmRequest, StreamDelta, ToolDefinition,
    cloud_provider,
};

/// The key every test configures; it must never show up in an error.
const KEY: &str = "sk-test-DO-NOT-LEAK-4242";

/// A config for `kind` at `base_url` with the test key and a 1 s timeout.
fn config(kind: ProviderKind, base_url: &str) -> ProviderConfig {
    ProviderConfig {
        kind,
        api_key: ApiKey::new(KEY),
        base_url: base_url.to_owned(),
        timeout_secs: 1,
        ..ProviderConfig::default()
    }
}

fn provider(kind: ProviderKind, base_url: &str) -> Box<dyn LlmProvider> {
    cloud_provider(&config(kind, base_url)).expect("an HTTP provider")
}

/// System prompt and one question, no tools.
fn simple_request() -> LlmRequest {
    LlmRequest {
        messages: vec![
            LlmMessage::System {
                content: "You are AIOS.".into(),
            },
            LlmMessage::User {
                content: "Say hello".into(),
            },
        ],
        tools: Vec::new(),
        temperature: 0.0,
        max_tokens: 64,
        words_only: false,
        fallback: None,
    }
}

/// A conversation after a round of two tool calls (one failed), with a tool offered.
fn tool_request() -> LlmRequest {
    LlmRequest {
        messages: vec![
            LlmMessage::System {
                content: "You are AIOS.".into(),
            },
            LlmMessage::User {
                content: "What is in /tmp and /root?".into(),
            },
            LlmMessage::Assistant {
                content: String::new(),
                tool_calls: vec![
                    ToolCall {
                        id: "call_prev1".into(),
                        name: "file_list".into(),
                        arguments: json!({"path": "/tmp"}),
                    },
                    ToolCall {
                        id: "call_prev2".into(),
                        name: "file_list".into(),
                        arguments: json!({"path": "/root"}),
                    },
                ],
            },
            LlmMessage::Tool {
                call_id: "call_prev1".into(),
                name: "file_list".into(),
                content: "a.txt\nb.txt".into(),
                is_error: false,
            },
            LlmMessage::Tool {
                call_id: "call_prev2".into(),
                name: "file_list".into(),
                content: "permission denied".into(),
                is_error: true,
            },
        ],
        tools: vec![ToolDefinition {
            name: "file_list".into(),
            description: "List a directory".into(),
            parameters: json!({
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            }),
        }],
        temperature: 0.0,
        max_tokens: 256,
        words_only: false,
        fallback: None,
    }
}

/// Every item of a stream.
async fn drain(mut stream: DeltaStream) -> Vec<Result<StreamDelta, LlmError>> {
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push(item);
    }
    items
}

/// Fails when `err` shows the key, in its message or its debug form.
fn assert_no_key(err: &LlmError) {
    assert!(!err.to_string().contains(KEY), "key in message: {err}");
    assert!(!format!("{err:?}").contains(KEY), "key in debug: {err:?}");
}

use server::sse_data as data;

#[test]
fn factory_picks_provider_defaults_and_skips_local_kinds() {
    let bare = |kind| ProviderConfig {
        kind,
        ..ProviderConfig::default()
    };
    let openai = cloud_provider(&bare(ProviderKind::Openai)).expect("openai");
    assert_eq!(
        (openai.name(), openai.model().as_deref()),
        ("openai", Some("gpt-4o-mini"))
    );
    let ollama = cloud_provider(&bare(ProviderKind::Ollama)).expect("ollama");
    assert_eq!(
        (ollama.name(), ollama.model().as_deref()),
        ("ollama", Some("qwen2.5-coder:1.5b"))
    );
    let anthropic = cloud_provider(&bare(ProviderKind::Anthropic)).expect("anthropic");
    assert_eq!(
        (anthropic.name(), anthropic.model().as_deref()),
        ("anthropic", Some("claude-sonnet-4-5"))
    );
    assert!(openai.supports_tools() && ollama.supports_tools() && anthropic.supports_tools());
    let mut named = bare(ProviderKind::Openai);
    named.model = "gpt-4o".into();
    assert_eq!(
        cloud_provider(&named).expect("openai").model().as_deref(),
        Some("gpt-4o")
    );
    assert!(cloud_provider(&bare(ProviderKind::Local)).is_none());
    assert!(cloud_provider(&bare(ProviderKind::Echo)).is_none());
}

#[test]
fn default_endpoints() {
    let urls = |kind| {
        let cfg = ProviderConfig {
            kind,
            ..ProviderConfig::default()
        };
        match kind {
            ProviderKind::Anthropic => {
                format!("{:?}", super::anthropic::AnthropicProvider::new(&cfg))
            }
            _ => format!("{:?}", super::openai::OpenAiProvider::new(&cfg)),
        }
    };
    assert!(urls(ProviderKind::Openai).contains("\"https://api.openai.com/v1/chat/completions\""));
    assert!(urls(ProviderKind::Ollama).contains("\"http://127.0.0.1:11434/v1/chat/completions\""));
    assert!(urls(ProviderKind::Anthropic).contains("\"https://api.anthropic.com/v1/messages\""));
}
