//! First-run setup through the real agent binary: no config file, a provider chosen
//! over the socket (as the chat window's welcome does), checked with one real request
//! to an OpenAI-compatible server on 127.0.0.1, saved with mode 0600 and used for
//! the next question without a restart. A refused key saves nothing.

mod common;
#[allow(dead_code)]
#[path = "../src/llm/tests/server.rs"]
mod server;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use aios_common::config::{ApiKey, ProviderKind};
use aios_common::ipc::client::IpcClient;
use aios_common::ipc::{ClientKind, ErrorCode, IpcMessage, SetupRequest};
use common::{Env, stop};
use server::{Reply, Server, openai_text};
use uuid::Uuid;

const HANG: Duration = Duration::from_secs(60);

async fn setup(client: &mut IpcClient, req: SetupRequest) -> IpcMessage {
    let id = req.request_id;
    client
        .send(&IpcMessage::SetupRequest(req))
        .await
        .expect("send setup");
    loop {
        let msg = tokio::time::timeout(HANG, client.recv())
            .await
            .expect("an answer to setup")
            .expect("recv");
        match &msg {
            IpcMessage::SetupReply(r) if r.request_id == id => return msg,
            IpcMessage::Error(e) if e.request_id == Some(id) => return msg,
            _ => {}
        }
    }
}

fn openai(key: &str, base: &str) -> SetupRequest {
    SetupRequest {
        request_id: Uuid::new_v4(),
        provider: ProviderKind::Openai,
        api_key: ApiKey::new(key),
        base_url: base.into(),
        model: "gpt-test".into(),
    }
}

#[test]
fn setup_checks_the_key_saves_the_config_private_and_applies_it_without_a_restart() {
    let env = Env::new();
    std::fs::remove_file(env.config()).expect("no config: a first run");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(Server::start(vec![
        Reply::status(
            401,
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#,
        ),
        openai_text("OK"),
        openai_text("Hello from the provider you chose."),
    ]));
    // The defaults name the local model; its worker is kept out (this test is about
    // the provider, and loading 1 GB of model would only cost time).
    let mut cmd = env.cmd(env!("CARGO_BIN_EXE_aios-agent"));
    cmd.env("AIOS_LLM_WORKER", "/nonexistent/aios-llm")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut agent = cmd.spawn().expect("spawn aios-agent");
    assert!(
        common::wait_until(HANG, || env.socket().exists()),
        "the agent did not start"
    );

    rt.block_on(async {
        let mut client = IpcClient::new(env.socket(), ClientKind::Test);
        let status = client.status().await.expect("status");
        assert!(!status.configured, "no config file: first-run setup is due");

        // A refused key: said so, nothing saved, nothing changed.
        match setup(&mut client, openai("sk-wrong", &server.base)).await {
            IpcMessage::Error(e) => {
                assert_eq!(e.code, ErrorCode::Setup);
                assert!(
                    e.message.contains("key") && e.message.contains("nothing was saved"),
                    "{}",
                    e.message
                );
                assert!(!e.message.contains("sk-wrong"), "the key is never echoed");
            }
            other => panic!("a refused key passed setup: {other:?}"),
        }
        assert!(!env.config().exists(), "a failed check saved a config");
        let status = client.status().await.expect("status");
        assert!(!status.configured);
        assert_ne!(status.provider, "openai");

        // A key the server takes: saved, private, in use.
        match setup(&mut client, openai("sk-good", &server.base)).await {
            IpcMessage::SetupReply(r) => {
                assert_eq!(r.provider, "openai");
                assert_eq!(r.saved_to, env.config().display().to_string());
            }
            other => panic!("setup failed: {other:?}"),
        }
        let mode = std::fs::metadata(env.config())
            .expect("the config was saved")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the config holds a key: mode 0600");
        let saved = std::fs::read_to_string(env.config()).expect("read config");
        let parsed = aios_common::config::AgentConfig::parse(&saved, &env.config())
            .expect("the saved config loads");
        assert_eq!(parsed.provider.kind, ProviderKind::Openai);
        assert_eq!(parsed.provider.api_key.expose(), "sk-good");
        assert_eq!(parsed.provider.base_url, server.base);

        let status = client.status().await.expect("status");
        assert!(status.configured);
        assert_eq!(status.provider, "openai");
        let reply = client.chat("Hi there", |_| {}).await.expect("chat");
        assert_eq!(reply, "Hello from the provider you chose.");
    });

    let requests = server.requests();
    let auth: Vec<Option<&str>> = requests.iter().map(|r| r.header("authorization")).collect();
    assert_eq!(
        auth,
        [
            Some("Bearer sk-wrong"),
            Some("Bearer sk-good"),
            Some("Bearer sk-good")
        ],
        "one check request per attempt, then the question, with the key given"
    );
    let log = stop(&mut agent, nix::sys::signal::Signal::SIGTERM);
    assert!(
        !log.contains("sk-good") && !log.contains("sk-wrong"),
        "a key reached the log:\n{log}"
    );
}
