//! The agent's turn loop end to end: a real agent socket, a real IPC client, and a
//! scripted OpenAI-compatible server playing the model.

use std::path::PathBuf;

use aios_common::config::{AgentConfig, ApiKey, ProviderKind};
use aios_common::ipc::ClientKind;
use aios_common::ipc::ErrorCode;
use aios_common::ipc::client::{ChatEvent, ClientError, IpcClient};
use aios_common::ipc::server::ServerOptions;
use serde_json::json;
use tokio::sync::oneshot;

use super::data;
use super::server::{Reply, Server};

fn call_stream(id: &str, name: &str, args: &str) -> Reply {
    let mut body = data(
        json!({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
        {"index": 0, "id": id, "type": "function", "function": {"name": name, "arguments": args}}]}, "finish_reason": null}]}),
    );
    body += &data(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}));
    body += "data: [DONE]\n\n";
    Reply::sse(&body)
}

fn text_stream(text: &str) -> Reply {
    let mut body = String::new();
    for w in text.split_inclusive(' ') {
        body += &data(
            json!({"choices": [{"index": 0, "delta": {"content": w}, "finish_reason": null}]}),
        );
    }
    body += &data(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}));
    body += "data: [DONE]\n\n";
    Reply::sse(&body)
}

struct Agent {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
}

impl Agent {
    async fn start(base_url: &str, rounds: u32) -> Self {
        Self::start_with(base_url, rounds, None).await
    }

    async fn start_with(base_url: &str, rounds: u32, idle_secs: Option<u64>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("agent.sock");
        let mut config = AgentConfig::default();
        config.provider.kind = ProviderKind::Openai;
        config.provider.base_url = base_url.to_owned();
        config.provider.api_key = ApiKey::new("sk-test");
        config.provider.timeout_secs = 5;
        config.agent.keep_history = false;
        config.agent.max_tool_rounds = rounds;
        config.agent.conversation_idle_secs = idle_secs;
        config.agent.audit_log = Some(dir.path().join("actions.log"));
        let (stop, rx) = oneshot::channel::<()>();
        let path = socket.clone();
        tokio::spawn(async move {
            crate::run(config, &path, ServerOptions::default(), async {
                let _ = rx.await;
            })
            .await
        });
        while !socket.exists() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        Self {
            _dir: dir,
            socket,
            stop: Some(stop),
        }
    }

    /// Runs one turn; returns the reply and the tool events in order.
    async fn ask(&self, q: &str) -> (Result<String, ClientError>, Vec<String>) {
        let mut c = IpcClient::new(&self.socket, ClientKind::Test);
        let mut events = Vec::new();
        let reply = c
            .chat_events(q, |ev| match ev {
                ChatEvent::ToolCall(t) => events.push(format!("call {} {}", t.name, t.arguments)),
                ChatEvent::ConfirmPending(p) => events.push(format!("asking {}", p.call_id)),
                ChatEvent::ToolResult(r) => events.push(format!(
                    "result error={} {:?} {}",
                    r.result.is_error, r.status, r.result.content
                )),
                ChatEvent::Delta(_) => {}
            })
            .await;
        (reply, events)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_runs_and_its_result_goes_back_to_the_model() {
    let server = Server::start(vec![
        call_stream("call_1", "system_info", "{}"),
        text_stream("Your computer is fine."),
    ])
    .await;
    let agent = Agent::start(&server.base, 8).await;
    let (reply, events) = agent.ask("how is my computer doing").await;
    assert_eq!(reply.expect("reply"), "Your computer is fine.");
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], "call system_info {}");
    assert!(
        events[1].starts_with("result error=false Ok Local time:"),
        "{events:?}"
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let second = reqs[1].json();
    let msgs = second["messages"].as_array().expect("messages");
    let tool = msgs.last().expect("tool result last");
    assert_eq!(tool["role"], "tool");
    assert_eq!(tool["tool_call_id"], "call_1");
    assert!(
        tool["content"]
            .as_str()
            .is_some_and(|c| c.contains("Memory:")),
        "{tool}"
    );
    assert_eq!(
        msgs[msgs.len() - 2]["tool_calls"][0]["function"]["name"],
        "system_info"
    );
    assert_eq!(msgs[0]["role"], "system");
    let offered: Vec<&str> = second["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    // The twelve built-in tools, and the seven browser tools when `make setup`
    // installed the browser (node, @playwright/mcp, Chromium).
    let browser = aios_mcp::browser::BrowserConfig::detect()
        .missing()
        .is_none();
    assert!(
        offered.contains(&"system_info")
            && offered.contains(&"navigate") == browser
            && offered.len() == if browser { 19 } else { 12 },
        "{offered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_tool_goes_back_as_an_error_and_a_repeat_ends_the_turn() {
    let server = Server::start(vec![
        call_stream("c1", "battery", "{}"),
        call_stream("c2", "battery", "{}"),
    ])
    .await;
    let agent = Agent::start(&server.base, 8).await;
    let (reply, events) = agent.ask("battery?").await;
    let reply = reply.expect("reply");
    assert!(
        reply.starts_with("Sorry, I couldn't do that: unknown tool `battery`"),
        "{reply}"
    );
    assert_eq!(
        events.len(),
        2,
        "the tool ran once, never executed for real: {events:?}"
    );
    assert!(
        events[1].starts_with("result error=true Denied unknown tool"),
        "{events:?}"
    );
    assert_eq!(
        server.requests().len(),
        2,
        "no third model call after the repeat"
    );
    let second = server.requests()[1].json();
    let last = second["messages"]
        .as_array()
        .and_then(|m| m.last().cloned())
        .expect("last");
    assert!(
        last["content"]
            .as_str()
            .is_some_and(|c| c.contains("Error: unknown tool")),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_rounds_are_capped() {
    let server = Server::start(vec![
        call_stream("a", "system_info", "{}"),
        call_stream("b", "system_info", "{}"),
    ])
    .await;
    let agent = Agent::start(&server.base, 2).await;
    let (reply, events) = agent.ask("loop forever").await;
    assert_eq!(
        reply.expect("reply"),
        "(I stopped after 2 tool steps without a final answer.)"
    );
    assert_eq!(events.len(), 4);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_error_reaches_the_chat_as_a_readable_message() {
    let server = Server::start(vec![Reply::status(
        401,
        r#"{"error":{"message":"Incorrect API key provided: sk-test"}}"#,
    )])
    .await;
    let agent = Agent::start(&server.base, 8).await;
    let (reply, _) = agent.ask("hi").await;
    match reply {
        Err(ClientError::Agent(e)) => {
            assert_eq!(e.code, ErrorCode::Provider);
            assert!(
                e.message.contains("api_key") && !e.message.contains("sk-test"),
                "{}",
                e.message
            );
        }
        other => panic!("expected a provider error, got {other:?}"),
    }
}

/// The user messages of each request the model got, in order.
fn user_turns(server: &Server) -> Vec<Vec<String>> {
    server
        .requests()
        .iter()
        .map(|r| {
            r.json()["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .filter(|m| m["role"] == "user")
                .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_after_the_idle_time_starts_a_new_conversation() {
    // A conversation that goes on (300 s): the second question comes with the first.
    let server = Server::start(vec![text_stream("Hello."), text_stream("It was hi.")]).await;
    let agent = Agent::start(&server.base, 8).await;
    agent.ask("hi").await.0.expect("reply");
    agent.ask("what did I just say").await.0.expect("reply");
    assert_eq!(
        user_turns(&server),
        [vec!["hi"], vec!["hi", "what did I just say"]]
    );
    drop(agent);

    // 0: every message stands alone.
    let server = Server::start(vec![text_stream("Hello."), text_stream("I can't tell.")]).await;
    let agent = Agent::start_with(&server.base, 8, Some(0)).await;
    agent.ask("hi").await.0.expect("reply");
    agent.ask("what did I just say").await.0.expect("reply");
    assert_eq!(
        user_turns(&server),
        [vec!["hi"], vec!["what did I just say"]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_conversation_request_makes_the_next_turn_start_afresh() {
    let server = Server::start(vec![
        text_stream("Hello."),
        text_stream("It was hi."),
        text_stream("I can't tell."),
    ])
    .await;
    let agent = Agent::start_with(&server.base, 8, Some(3600)).await;
    agent.ask("hi").await.0.expect("reply");
    agent.ask("what did I just say").await.0.expect("reply");
    let mut c = IpcClient::new(&agent.socket, ClientKind::Test);
    c.new_conversation().await.expect("conversation_started");
    agent.ask("and now?").await.0.expect("reply");
    assert_eq!(
        user_turns(&server),
        [
            vec!["hi"],
            vec!["hi", "what did I just say"],
            vec!["and now?"]
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_needs_nothing_of_the_computer_is_asked_again_for_words() {
    // "What's 15 times 4" as `echo 15 * 4`: nothing runs, nobody is asked, and the
    // model answers in words with the same tools offered but a call forbidden.
    let server = Server::start(vec![
        call_stream("call_1", "shell_exec", r#"{"command":"echo 15 * 4"}"#),
        text_stream("15 times 4 is 60."),
    ])
    .await;
    let agent = Agent::start(&server.base, 8).await;
    let (reply, events) = agent.ask("what's 15 times 4").await;
    assert_eq!(reply.expect("reply"), "15 times 4 is 60.");
    assert!(events.is_empty(), "no call, no prompt: {events:?}");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let (first, second) = (reqs[0].json(), reqs[1].json());
    assert!(first.get("tool_choice").is_none(), "{first}");
    assert_eq!(second["tool_choice"], "none");
    assert_eq!(
        second["tools"], first["tools"],
        "the same tools stay offered"
    );
    assert_eq!(second["messages"], first["messages"]);
}
