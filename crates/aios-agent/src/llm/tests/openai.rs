//! OpenAI-compatible streams: text, tool calls in fragments, Ollama's defaults.

use std::time::Duration;

use aios_common::config::ProviderKind;
use serde_json::json;

use super::server::{Reply, Server};
use super::{KEY, config, data, drain, provider, simple_request, tool_request};
use crate::llm::{LlmError, StopReason, StreamDelta, Usage, cloud_provider};

fn text_stream() -> String {
    let mut body = String::new();
    let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
        json!({"id": "c1", "object": "chat.completion.chunk",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    body += &data(chunk(
        json!({"role": "assistant", "content": ""}),
        json!(null),
    ));
    body += ": a comment line the parser must skip\n\n";
    body += &data(chunk(json!({"content": "Hel"}), json!(null)));
    body += &data(chunk(json!({"content": "lo!"}), json!(null)));
    body += &data(chunk(json!({}), json!("stop")));
    body += &data(json!({"id": "c1", "choices": [], "usage": {
        "prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14,
        "prompt_tokens_details": {"cached_tokens": 8}}}));
    body += "data: [DONE]\n\n";
    body
}

#[tokio::test]
async fn streams_text_and_usage() {
    let server = Server::start(vec![Reply::sse(&text_stream())]).await;
    let p = provider(ProviderKind::Openai, &format!("{}/v1", server.base));
    let stream = p.complete_stream(&simple_request()).await.expect("stream");
    let items: Vec<_> = drain(stream)
        .await
        .into_iter()
        .map(|d| d.expect("delta"))
        .collect();
    assert_eq!(
        items,
        vec![
            StreamDelta::Text("Hel".into()),
            StreamDelta::Text("lo!".into()),
            StreamDelta::Done {
                usage: Usage {
                    input_tokens: 12,
                    cached_tokens: 8,
                    output_tokens: 2
                },
                stop: StopReason::EndTurn,
            },
        ]
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        body["max_tokens"], 64,
        "a compatible server gets max_tokens"
    );
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are AIOS."},
            {"role": "user", "content": "Say hello"},
        ])
    );
    assert!(
        body.get("tools").is_none(),
        "no tools offered: no tools key"
    );
}

/// Two tool calls whose pieces interleave; the second has no id.
fn tool_stream() -> String {
    let piece = |calls: serde_json::Value| {
        data(
            json!({"choices": [{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": null}]}),
        )
    };
    let mut body = data(json!({"choices": [{"index": 0,
        "delta": {"role": "assistant", "content": null}, "finish_reason": null}]}));
    body += &piece(json!([{"index": 0, "id": "call_abc", "type": "function",
        "function": {"name": "file_list", "arguments": ""}}]));
    for frag in ["{\"pa", "th\": \"/t", "mp\", \"hid", "den\": tr"] {
        body += &piece(json!([{"index": 0, "function": {"arguments": frag}}]));
    }
    body += &piece(json!([{"index": 1, "type": "function",
        "function": {"name": "file_read", "arguments": "{\"path\":"}}]));
    body += &piece(json!([{"index": 0, "function": {"arguments": "ue}"}}]));
    body += &piece(json!([{"index": 1, "function": {"arguments": " \"/etc/hostname\"}"}}]));
    body += &data(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}));
    body += &data(json!({"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 20}}));
    body += "data: [DONE]\n\n";
    body
}

#[tokio::test]
async fn tool_calls_are_assembled_from_fragments() {
    // 7-byte pieces, each its own HTTP chunk: events and lines split everywhere.
    let server = Server::start(vec![Reply::sse_split(&tool_stream(), 7)]).await;
    let p = provider(ProviderKind::Openai, &format!("{}/v1/", server.base));
    let reply = p.complete(&tool_request()).await.expect("reply");
    assert_eq!(reply.content, "");
    assert_eq!(reply.stop, StopReason::ToolUse);
    assert_eq!(reply.usage.output_tokens, 20);
    assert_eq!(reply.tool_calls.len(), 2);
    assert_eq!(reply.tool_calls[0].id, "call_abc");
    assert_eq!(reply.tool_calls[0].name, "file_list");
    assert_eq!(
        reply.tool_calls[0].arguments,
        json!({"path": "/tmp", "hidden": true})
    );
    assert!(
        reply.tool_calls[1].id.starts_with("call_") && reply.tool_calls[1].id.len() > 8,
        "a generated id: {}",
        reply.tool_calls[1].id
    );
    assert_eq!(reply.tool_calls[1].name, "file_read");
    assert_eq!(
        reply.tool_calls[1].arguments,
        json!({"path": "/etc/hostname"})
    );

    let body = server.requests()[0].json();
    assert_eq!(server.requests()[0].path, "/v1/chat/completions");
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {
            "name": "file_list",
            "description": "List a directory",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}},
                           "required": ["path"]},
        }}])
    );
    let messages = body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 5);
    assert_eq!(
        messages[2],
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_prev1", "type": "function",
             "function": {"name": "file_list", "arguments": "{\"path\":\"/tmp\"}"}},
            {"id": "call_prev2", "type": "function",
             "function": {"name": "file_list", "arguments": "{\"path\":\"/root\"}"}},
        ]})
    );
    assert_eq!(
        messages[3],
        json!({"role": "tool", "tool_call_id": "call_prev1", "content": "a.txt\nb.txt"})
    );
    assert_eq!(messages[4]["role"], "tool");
    assert_eq!(messages[4]["tool_call_id"], "call_prev2");
    assert!(
        messages[4]["content"]
            .as_str()
            .is_some_and(|c| c.contains("permission denied")),
        "{}",
        messages[4]
    );
}

#[tokio::test]
async fn ollama_sends_no_key_and_uses_its_default_model() {
    let server = Server::start(vec![Reply::sse(&text_stream())]).await;
    let mut cfg = config(ProviderKind::Ollama, &format!("{}/v1", server.base));
    cfg.api_key = Default::default();
    let p = cloud_provider(&cfg).expect("ollama");
    let reply = p.complete(&simple_request()).await.expect("reply");
    assert_eq!(reply.content, "Hello!");
    let r = &server.requests()[0];
    assert_eq!(r.header("authorization"), None);
    assert_eq!(r.json()["model"], "qwen2.5-coder:1.5b");
}

#[tokio::test]
async fn ollama_missing_model_says_to_pull_it() {
    let body = r#"{"error":{"message":"model \"qwen2.5-coder:1.5b\" not found, try pulling it first","type":"api_error"}}"#;
    let server = Server::start(vec![Reply::status(404, body)]).await;
    let mut cfg = config(ProviderKind::Ollama, &format!("{}/v1", server.base));
    cfg.api_key = Default::default();
    let p = cloud_provider(&cfg).expect("ollama");
    let err = p.complete(&simple_request()).await.expect_err("404");
    assert!(matches!(err, LlmError::ModelMissing { .. }), "{err:?}");
    assert!(
        err.to_string().contains("ollama pull qwen2.5-coder:1.5b"),
        "{err}"
    );
}

#[tokio::test]
async fn context_too_long_is_named() {
    let body = r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}"#;
    let server = Server::start(vec![Reply::status(400, body)]).await;
    let p = provider(ProviderKind::Openai, &server.base);
    let err = p.complete(&simple_request()).await.expect_err("400");
    assert!(matches!(err, LlmError::ContextTooLong { .. }), "{err:?}");
    assert!(
        err.to_string().contains("start a new conversation"),
        "{err}"
    );
}

#[tokio::test]
async fn other_rejections_keep_the_servers_words() {
    let body = r#"{"error":{"message":"Invalid value for 'temperature'.","type":"invalid_request_error"}}"#;
    let server = Server::start(vec![Reply::status(400, body)]).await;
    let p = provider(ProviderKind::Openai, &server.base);
    let err = p.complete(&simple_request()).await.expect_err("400");
    assert_eq!(
        err,
        LlmError::Rejected {
            provider: "openai".into(),
            status: 400,
            message: "Invalid value for 'temperature'.".into(),
        }
    );
}

#[tokio::test]
async fn a_slow_but_steady_stream_does_not_time_out() {
    // Four pieces 300 ms apart: 1.2 s in all, over the 1 s timeout, but no gap is.
    let text = text_stream();
    let size = text.len().div_ceil(4);
    let server = Server::start(vec![Reply::Stream {
        pieces: text.as_bytes().chunks(size).map(<[u8]>::to_vec).collect(),
        gap: Duration::from_millis(300),
        stall: false,
    }])
    .await;
    let p = provider(ProviderKind::Openai, &server.base);
    let reply = p.complete(&simple_request()).await.expect("no timeout");
    assert_eq!(reply.content, "Hello!");
}

#[tokio::test]
async fn finished_stream_without_done_marker_still_completes() {
    let body = text_stream().replace("data: [DONE]\n\n", "");
    let server = Server::start(vec![Reply::sse(&body)]).await;
    let p = provider(ProviderKind::Openai, &server.base);
    let reply = p.complete(&simple_request()).await.expect("reply");
    assert_eq!(
        (reply.content.as_str(), reply.stop),
        ("Hello!", StopReason::EndTurn)
    );
}

#[tokio::test]
async fn error_event_inside_the_stream_fails_the_turn() {
    let mut body = data(json!({"choices": [{"index": 0, "delta": {"content": "Hi"}}]}));
    body += &data(
        json!({"error": {"message": "The server had an error while processing your request."}}),
    );
    let server = Server::start(vec![Reply::sse(&body)]).await;
    let p = provider(ProviderKind::Openai, &server.base);
    let items = drain(p.complete_stream(&simple_request()).await.expect("stream")).await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0], Ok(StreamDelta::Text("Hi".into())));
    assert!(
        matches!(items[1], Err(LlmError::Server { .. })),
        "{:?}",
        items[1]
    );
}

#[test]
fn openai_itself_gets_max_completion_tokens() {
    let cfg = config(ProviderKind::Openai, "");
    let body = crate::llm::openai::OpenAiProvider::new(&cfg).body(&simple_request());
    assert_eq!(body["max_completion_tokens"], 64);
    assert!(body.get("max_tokens").is_none());
}

#[test]
fn words_only_keeps_the_tools_and_forbids_a_call() {
    let cfg = config(ProviderKind::Openai, "");
    let p = crate::llm::openai::OpenAiProvider::new(&cfg);
    let mut req = tool_request();
    assert!(p.body(&req).get("tool_choice").is_none());
    req.words_only = true;
    let body = p.body(&req);
    assert_eq!(body["tool_choice"], "none");
    assert_eq!(body["tools"].as_array().map(Vec::len), Some(1));
}
