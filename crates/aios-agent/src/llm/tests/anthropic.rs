//! Anthropic Messages streams: text, tool_use with partial JSON, error events.

use aios_common::config::ProviderKind;
use serde_json::json;

use super::server::{Reply, Server};
use super::{KEY, assert_no_key, drain, provider, simple_request, tool_request};
use crate::llm::{LlmError, StopReason, StreamDelta, Usage};

/// One SSE event with its name, as Anthropic sends them.
fn event(v: serde_json::Value) -> String {
    format!(
        "event: {}\ndata: {v}\n\n",
        v["type"].as_str().expect("type")
    )
}

fn start(input_tokens: u32) -> String {
    event(json!({"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "content": [],
        "model": "claude-sonnet-4-5", "stop_reason": null,
        "usage": {"input_tokens": input_tokens, "cache_read_input_tokens": 100,
                  "cache_creation_input_tokens": 0, "output_tokens": 1}}}))
}

#[tokio::test]
async fn streams_text_and_usage() {
    let mut body = start(20);
    body += &event(json!({"type": "content_block_start", "index": 0,
        "content_block": {"type": "text", "text": ""}}));
    body += &event(json!({"type": "ping"}));
    body += &event(json!({"type": "content_block_delta", "index": 0,
        "delta": {"type": "text_delta", "text": "Hello"}}));
    body += &event(json!({"type": "content_block_delta", "index": 0,
        "delta": {"type": "text_delta", "text": " there"}}));
    body += &event(json!({"type": "content_block_stop", "index": 0}));
    body += &event(json!({"type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": null},
        "usage": {"output_tokens": 6}}));
    body += &event(json!({"type": "message_stop"}));

    let server = Server::start(vec![Reply::sse(&body)]).await;
    let p = provider(ProviderKind::Anthropic, &server.base);
    let items: Vec<_> = drain(p.complete_stream(&simple_request()).await.expect("stream"))
        .await
        .into_iter()
        .map(|d| d.expect("delta"))
        .collect();
    assert_eq!(
        items,
        vec![
            StreamDelta::Text("Hello".into()),
            StreamDelta::Text(" there".into()),
            StreamDelta::Done {
                usage: Usage {
                    input_tokens: 120,
                    cached_tokens: 100,
                    output_tokens: 6
                },
                stop: StopReason::EndTurn,
            },
        ]
    );

    let r = &server.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(r.header("x-api-key"), Some(KEY));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(r.header("authorization"), None);
    let body = r.json();
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["stream"], true);
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["system"], "You are AIOS.");
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}])
    );
    assert!(body.get("tools").is_none());
}

#[tokio::test]
async fn tool_use_is_assembled_from_partial_json() {
    let mut body = start(300);
    body += &event(json!({"type": "content_block_start", "index": 0,
        "content_block": {"type": "text", "text": ""}}));
    body += &event(json!({"type": "content_block_delta", "index": 0,
        "delta": {"type": "text_delta", "text": "Let me look."}}));
    body += &event(json!({"type": "content_block_stop", "index": 0}));
    body += &event(json!({"type": "content_block_start", "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_01", "name": "file_list", "input": {}}}));
    for frag in [
        "",
        "{\"pa",
        "th\": \"/h",
        "ome/u",
        "ser\", \"depth\"",
        ": 2}",
    ] {
        body += &event(json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": frag}}));
    }
    body += &event(json!({"type": "content_block_stop", "index": 1}));
    body += &event(json!({"type": "message_delta",
        "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 40}}));
    body += &event(json!({"type": "message_stop"}));
    // CRLF line ends and 5-byte pieces.
    let body = body.replace('\n', "\r\n");

    let server = Server::start(vec![Reply::sse_split(&body, 5)]).await;
    let p = provider(ProviderKind::Anthropic, &format!("{}/", server.base));
    let reply = p.complete(&tool_request()).await.expect("reply");
    assert_eq!(reply.content, "Let me look.");
    assert_eq!(reply.stop, StopReason::ToolUse);
    assert_eq!(reply.tool_calls.len(), 1);
    assert_eq!(reply.tool_calls[0].id, "toolu_01");
    assert_eq!(reply.tool_calls[0].name, "file_list");
    assert_eq!(
        reply.tool_calls[0].arguments,
        json!({"path": "/home/user", "depth": 2})
    );
    assert_eq!(reply.usage.output_tokens, 40);

    let r = &server.requests()[0];
    assert_eq!(r.path, "/v1/messages");
    let body = r.json();
    assert_eq!(
        body["tools"],
        json!([{"name": "file_list", "description": "List a directory",
                "input_schema": {"type": "object", "properties": {"path": {"type": "string"}},
                                 "required": ["path"]}}])
    );
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "What is in /tmp and /root?"}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_prev1", "name": "file_list", "input": {"path": "/tmp"}},
                {"type": "tool_use", "id": "call_prev2", "name": "file_list", "input": {"path": "/root"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_prev1", "content": "a.txt\nb.txt", "is_error": false},
                {"type": "tool_result", "tool_use_id": "call_prev2", "content": "permission denied", "is_error": true},
            ]},
        ])
    );
}

#[tokio::test]
async fn error_event_mid_stream_is_a_server_error() {
    let mut body = start(10);
    body += &event(json!({"type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"}}));
    let server = Server::start(vec![Reply::sse(&body)]).await;
    let p = provider(ProviderKind::Anthropic, &server.base);
    let err = p
        .complete(&simple_request())
        .await
        .expect_err("error event");
    assert_eq!(
        err,
        LlmError::Server {
            provider: "anthropic".into(),
            status: 529,
            message: "Overloaded".into()
        }
    );
}

#[tokio::test]
async fn refused_key_is_an_auth_error_without_the_key() {
    let body =
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
    let server = Server::start(vec![Reply::status(401, body)]).await;
    let p = provider(ProviderKind::Anthropic, &server.base);
    let err = p.complete(&simple_request()).await.expect_err("401");
    assert_eq!(
        err,
        LlmError::Auth {
            provider: "anthropic".into(),
            status: 401
        }
    );
    assert_no_key(&err);
    assert_eq!(server.requests()[0].header("x-api-key"), Some(KEY));
}

#[tokio::test]
async fn stream_cut_before_message_stop_is_a_protocol_error() {
    let mut body = start(10);
    body += &event(json!({"type": "content_block_start", "index": 0,
        "content_block": {"type": "text", "text": ""}}));
    body += &event(json!({"type": "content_block_delta", "index": 0,
        "delta": {"type": "text_delta", "text": "Hal"}}));
    let server = Server::start(vec![Reply::sse(&body)]).await;
    let p = provider(ProviderKind::Anthropic, &server.base);
    let items = drain(p.complete_stream(&simple_request()).await.expect("stream")).await;
    assert_eq!(items[0], Ok(StreamDelta::Text("Hal".into())));
    assert!(
        matches!(items[1], Err(LlmError::Protocol { .. })),
        "{:?}",
        items[1]
    );
    assert_eq!(items.len(), 2);
}

#[test]
fn words_only_keeps_the_tools_and_forbids_a_call() {
    let cfg = super::config(ProviderKind::Anthropic, "");
    let p = crate::llm::anthropic::AnthropicProvider::new(&cfg);
    let mut req = tool_request();
    assert!(p.body(&req).get("tool_choice").is_none());
    req.words_only = true;
    let body = p.body(&req);
    assert_eq!(body["tool_choice"], json!({"type": "none"}));
    assert_eq!(body["tools"].as_array().map(Vec::len), Some(1));
}
