//! Failures: each becomes the error that tells the person what to do, quickly, and
//! none shows the key.

use std::time::{Duration, Instant};

use aios_common::config::ProviderKind;
use serde_json::json;

use super::server::{Reply, Server, closed_port};
use super::{KEY, assert_no_key, data, drain, provider, simple_request};
use crate::llm::{LlmError, StreamDelta};

fn ok_stream() -> String {
    let mut body = data(json!({"choices": [{"index": 0, "delta": {"content": "ok"}}]}));
    body += &data(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}));
    body += "data: [DONE]\n\n";
    body
}

fn rate_limited() -> Reply {
    Reply::Full {
        status: 429,
        headers: vec![("retry-after", "1".into())],
        body: r#"{"error":{"message":"Rate limit reached"}}"#.into(),
    }
}

#[tokio::test]
async fn refused_key_is_an_auth_error() {
    let body = format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}"}}}}"#);
    let server = Server::start(vec![Reply::status(401, &body)]).await;
    let p = provider(ProviderKind::Openai, &server.base);
    let err = p.complete(&simple_request()).await.expect_err("401");
    assert_eq!(
        err,
        LlmError::Auth {
            provider: "openai".into(),
            status: 401
        }
    );
    assert!(err.to_string().contains("api_key"), "{err}");
    assert_no_key(&err);
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[tokio::test]
async fn rate_limit_is_retried_once_after_retry_after() {
    let server = Server::start(vec![rate_limited(), Reply::sse(&ok_stream())]).await;
    let p = provider(ProviderKind::Openai, &server.base);
    let started = Instant::now();
    let reply = p
        .complete(&simple_request())
        .await
        .expect("the retry succeeds");
    assert_eq!(reply.content, "ok");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        started.elapsed()
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "exactly one retry");
    assert_eq!(requests[0].body, requests[1].body, "the same request again");
}

#[tokio::test]
async fn rate_limit_twice_gives_up() {
    let server = Server::start(vec![
        rate_limited(),
        rate_limited(),
        Reply::sse(&ok_stream()),
    ])
    .await;
    let p = provider(ProviderKind::Openai, &server.base);
    let err = p.complete(&simple_request()).await.expect_err("429 twice");
    assert_eq!(
        err,
        LlmError::RateLimited {
            provider: "openai".into(),
            retry_after: Some(Duration::from_secs(1))
        }
    );
    assert_no_key(&err);
    assert_eq!(server.requests().len(), 2, "no second retry");
}

#[tokio::test]
async fn rate_limit_with_a_long_wait_fails_at_once() {
    let server = Server::start(vec![Reply::Full {
        status: 429,
        headers: vec![("retry-after", "120".into())],
        body: String::new(),
    }])
    .await;
    let p = provider(ProviderKind::Anthropic, &server.base);
    let started = Instant::now();
    let err = p.complete(&simple_request()).await.expect_err("429");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(err.to_string().contains("retry after 120 s"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn an_absurd_retry_after_is_an_error_not_a_panic() {
    for wait in ["1e300", "18446744073709551616", "1e19"] {
        let server = Server::start(vec![Reply::Full {
            status: 429,
            headers: vec![("retry-after", wait.into())],
            body: String::new(),
        }])
        .await;
        let p = provider(ProviderKind::Openai, &server.base);
        let started = Instant::now();
        let err = p.complete(&simple_request()).await.expect_err("429");
        assert!(started.elapsed() < Duration::from_secs(5), "{wait}");
        assert!(
            matches!(err, LlmError::RateLimited { retry_after: Some(d), .. } if d >= Duration::from_secs(3600)),
            "{wait}: {err:?}"
        );
        assert_eq!(server.requests().len(), 1, "{wait}: no retry");
    }
}

#[tokio::test]
async fn server_error_keeps_a_short_message() {
    let long = "x".repeat(1000);
    let body = format!(r#"{{"error":{{"message":"The engine is currently overloaded {long}"}}}}"#);
    let server = Server::start(vec![Reply::status(500, &body)]).await;
    let p = provider(ProviderKind::Openai, &server.base);
    let err = p.complete(&simple_request()).await.expect_err("500");
    let LlmError::Server {
        status, message, ..
    } = &err
    else {
        panic!("not a server error: {err:?}");
    };
    assert_eq!(*status, 500);
    assert!(
        message.starts_with("The engine is currently overloaded"),
        "{message}"
    );
    assert!(
        message.chars().count() <= 201,
        "{} chars",
        message.chars().count()
    );
    assert_no_key(&err);
}

#[tokio::test]
async fn silent_server_times_out() {
    let server = Server::start(vec![Reply::Hang]).await;
    let p = provider(ProviderKind::Openai, &server.base);
    let started = Instant::now();
    let err = p.complete(&simple_request()).await.expect_err("silence");
    assert_eq!(
        err,
        LlmError::Timeout {
            provider: "openai".into(),
            secs: 1
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn stream_stalling_midway_times_out() {
    let first = data(json!({"choices": [{"index": 0, "delta": {"content": "par"}}]}));
    let server = Server::start(vec![Reply::Stream {
        pieces: vec![first.into_bytes(), b"data: {\"choi".to_vec()],
        gap: Duration::ZERO,
        stall: true,
    }])
    .await;
    let p = provider(ProviderKind::Openai, &server.base);
    let started = Instant::now();
    let items = drain(
        p.complete_stream(&simple_request())
            .await
            .expect("headers came"),
    )
    .await;
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], Ok(StreamDelta::Text("par".into())));
    assert_eq!(
        items[1],
        Err(LlmError::Timeout {
            provider: "openai".into(),
            secs: 1
        })
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn malformed_event_data_is_a_protocol_error() {
    let body = "data: {\"choices\": [{\"delta\": {\"content\": \"hi\"}\n\n";
    let server = Server::start(vec![Reply::sse(body)]).await;
    let p = provider(ProviderKind::Openai, &server.base);
    let err = p.complete(&simple_request()).await.expect_err("bad JSON");
    assert!(
        matches!(err, LlmError::Protocol { ref provider, .. } if provider == "openai"),
        "{err:?}"
    );
    assert_no_key(&err);
}

#[tokio::test]
async fn malformed_tool_arguments_are_a_protocol_error() {
    let mut body = data(json!({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "c1", "function": {"name": "file_list", "arguments": "{\"path\": "}}]}}]}));
    body += &data(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}));
    body += "data: [DONE]\n\n";
    let server = Server::start(vec![Reply::sse(&body)]).await;
    let p = provider(ProviderKind::Openai, &server.base);
    let err = p
        .complete(&simple_request())
        .await
        .expect_err("bad arguments");
    assert!(matches!(err, LlmError::Protocol { .. }), "{err:?}");
    assert!(err.to_string().contains("file_list"), "{err}");
}

#[tokio::test]
async fn closed_port_is_a_network_error() {
    let port = closed_port().await;
    let url = format!("http://127.0.0.1:{port}/v1");
    let p = provider(ProviderKind::Openai, &url);
    let err = p
        .complete(&simple_request())
        .await
        .expect_err("nothing listens");
    let LlmError::Network {
        provider,
        url: at,
        message,
    } = &err
    else {
        panic!("not a network error: {err:?}");
    };
    assert_eq!(provider, "openai");
    assert_eq!(at, &format!("{url}/chat/completions"));
    assert!(message.to_lowercase().contains("refused"), "{message}");
    assert!(err.to_string().contains("base_url"), "{err}");
    assert_no_key(&err);
}

#[tokio::test]
async fn unknown_host_is_a_network_error() {
    // `.invalid` never resolves (RFC 6761), and needs no network to fail.
    let p = provider(ProviderKind::Anthropic, "http://aios-test.invalid");
    let err = p
        .complete(&simple_request())
        .await
        .expect_err("no such host");
    assert!(
        matches!(err, LlmError::Network { .. } | LlmError::Timeout { .. }),
        "{err:?}"
    );
}
