//! End-to-end tests of the agent over its real Unix socket: the protocol's error
//! handling, concurrency, slow clients, reconnects, peer credentials, and the
//! `aios-agent` / `aios` binaries themselves.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aios_common::config::AgentConfig;
use aios_common::ipc::client::{ClientError, IpcClient, RetryPolicy};
use aios_common::ipc::server::{ServerError, ServerOptions};
use aios_common::ipc::{
    ChatRequest, ClientKind, ErrorCode, Hello, IpcMessage, MessageCodec, PROTOCOL_VERSION, Ping,
};
use futures::{SinkExt, StreamExt};

mod common;
use common::{Env, stop, text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio_util::codec::{FramedRead, FramedWrite};
use uuid::Uuid;

/// Guard against a hang turning into a stuck CI job; not a performance assertion.
const HANG: Duration = Duration::from_secs(60);

/// Echo provider, history in memory: these tests are about the IPC layer.
/// The audit log goes beside the socket, never to the real state dir.
fn echo_config(socket: &std::path::Path) -> AgentConfig {
    let mut c = AgentConfig::default();
    c.provider.kind = aios_common::config::ProviderKind::Echo;
    c.agent.keep_history = false;
    c.agent.audit_log = socket.parent().map(|d| d.join("actions.log"));
    c
}

struct InProc {
    _dir: tempfile::TempDir,
    path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl InProc {
    async fn start(opts: ServerOptions) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agent.sock");
        let (stop, rx) = oneshot::channel::<()>();
        let p = path.clone();
        let task = tokio::spawn(async move {
            aios_agent::run(echo_config(&p), &p, opts, async {
                let _ = rx.await;
            })
            .await
        });
        for _ in 0..200 {
            if path.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Self {
            _dir: dir,
            path,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let res = tokio::time::timeout(HANG, &mut self.task)
            .await
            .expect("server stops");
        res.expect("join").expect("server ran");
        assert!(!self.path.exists(), "socket file removed on shutdown");
    }
}

fn client(path: &Path) -> IpcClient {
    IpcClient::new(path, ClientKind::Test)
}

async fn raw(path: &Path) -> UnixStream {
    UnixStream::connect(path).await.expect("connect")
}

async fn write_frame(s: &mut UnixStream, body: &[u8]) {
    s.write_all(&frame(body)).await.expect("write");
}

/// `body` as one frame: its length, then the bytes.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = u32::try_from(body.len())
        .expect("len")
        .to_be_bytes()
        .to_vec();
    f.extend_from_slice(body);
    f
}

/// A client that says hello, then writes `bytes` up to `times` times and never
/// reads; true when the agent cut it off (a write failed) within `HANG`.
async fn flood_until_cut(path: &Path, bytes: Vec<u8>, times: usize) -> bool {
    let mut hog = raw(path).await;
    write_frame(&mut hog, &hello()).await;
    let flood = tokio::spawn(async move {
        for _ in 0..times {
            if hog.write_all(&bytes).await.is_err() {
                return true;
            }
        }
        false
    });
    tokio::time::timeout(HANG, flood)
        .await
        .expect("the hog is cut off in time")
        .expect("task")
}

/// Reads frames until EOF; returns the bodies. EOF must come: the agent closes.
async fn read_until_closed(s: &mut UnixStream) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    tokio::time::timeout(HANG, s.read_to_end(&mut buf))
        .await
        .expect("agent closes")
        .ok();
    let mut rest = &buf[..];
    while rest.len() >= 4 {
        let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        out.push(serde_json::from_slice(&rest[4..4 + n]).expect("agent sends JSON"));
        rest = &rest[4 + n..];
    }
    out
}

fn hello() -> Vec<u8> {
    serde_json::to_vec(&IpcMessage::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        client_kind: ClientKind::Test,
    }))
    .expect("json")
}

fn assert_error(frames: &[serde_json::Value], code: &str) {
    let last = frames
        .last()
        .unwrap_or_else(|| panic!("no error reply, expected {code}"));
    assert_eq!(last["type"], "error", "{frames:?}");
    assert_eq!(last["code"], code, "{frames:?}");
    assert!(last["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_frame_gets_a_typed_error_and_closes_only_its_connection() {
    let agent = InProc::start(ServerOptions {
        max_frame: 4096,
        ..Default::default()
    })
    .await;
    // A well-behaved client stays connected through all of it.
    let mut good = client(&agent.path);
    good.status().await.expect("status");

    let after_hello: [(&[u8], &str); 6] = [
        (b"\xff\xfe{", "invalid_utf8"),
        (b"{not json", "invalid_json"),
        (br#"{"type":"teleport"}"#, "unknown_message_type"),
        (br#"{"type":"ping","seq":"x"}"#, "invalid_message"),
        (br#"{"no_type":1}"#, "invalid_json"),
        (
            br#"{"type":"chat_request","content":"missing id"}"#,
            "invalid_message",
        ),
    ];
    for (body, code) in after_hello {
        let mut s = raw(&agent.path).await;
        write_frame(&mut s, &hello()).await;
        write_frame(&mut s, body).await;
        let frames = read_until_closed(&mut s).await;
        assert_eq!(frames[0]["type"], "welcome");
        assert_error(&frames, code);
        good.status().await.expect("other clients unaffected");
    }

    // Oversized length: refused before the body is sent.
    let mut s = raw(&agent.path).await;
    write_frame(&mut s, &hello()).await;
    s.write_all(&100_000u32.to_be_bytes()).await.expect("write");
    assert_error(&read_until_closed(&mut s).await, "frame_too_large");

    // Truncated: half a frame, then the client stops writing.
    let mut s = raw(&agent.path).await;
    write_frame(&mut s, &hello()).await;
    s.write_all(&50u32.to_be_bytes()).await.expect("write");
    s.write_all(b"{\"type\":").await.expect("write");
    s.shutdown().await.expect("shutdown write half");
    assert_error(&read_until_closed(&mut s).await, "truncated_frame");

    // Wrong protocol version, and a first frame that is not hello.
    let mut s = raw(&agent.path).await;
    write_frame(
        &mut s,
        br#"{"type":"hello","protocol_version":999,"client_kind":"test"}"#,
    )
    .await;
    assert_error(&read_until_closed(&mut s).await, "version_mismatch");
    let mut s = raw(&agent.path).await;
    write_frame(&mut s, br#"{"type":"ping","seq":1}"#).await;
    assert_error(&read_until_closed(&mut s).await, "hello_required");

    // A refused-but-valid message keeps the connection open.
    let id = Uuid::new_v4();
    let mut s = raw(&agent.path).await;
    write_frame(&mut s, &hello()).await;
    write_frame(
        &mut s,
        format!(
            r#"{{"type":"tool_result","request_id":"{id}","status":"ok","result":{{"call_id":"c","content":"x","is_error":false}}}}"#
        )
        .as_bytes(),
    )
    .await;
    write_frame(&mut s, br#"{"type":"ping","seq":5}"#).await;
    s.shutdown().await.expect("shutdown");
    let frames = read_until_closed(&mut s).await;
    assert_eq!(frames[1]["code"], "forbidden", "{frames:?}");
    assert_eq!(frames[2], serde_json::json!({"type":"pong","seq":5}));
    // A confirmation is not a message of this protocol at all.
    let mut s = raw(&agent.path).await;
    write_frame(&mut s, &hello()).await;
    write_frame(
        &mut s,
        format!(r#"{{"type":"confirm_response","request_id":"{id}","approved":true}}"#).as_bytes(),
    )
    .await;
    assert_error(&read_until_closed(&mut s).await, "unknown_message_type");

    let status = good.status().await.expect("status after all the abuse");
    assert_eq!(status.clients, 1, "bad connections were all closed");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_two_hundred_requests_each_all_answered_in_order() {
    let agent = InProc::start(ServerOptions::default()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..50u32 {
        let path = agent.path.clone();
        tasks.spawn(async move {
            let stream = UnixStream::connect(&path).await.expect("connect");
            let (r, w) = stream.into_split();
            let mut reader = FramedRead::new(r, MessageCodec::default());
            let mut writer = FramedWrite::new(w, MessageCodec::default());
            writer
                .send(IpcMessage::Hello(Hello {
                    protocol_version: PROTOCOL_VERSION,
                    client_kind: ClientKind::Test,
                }))
                .await
                .expect("hello");
            assert!(matches!(
                reader.next().await,
                Some(Ok(IpcMessage::Welcome(_)))
            ));
            let ids: Vec<Uuid> = (0..200).map(|_| Uuid::new_v4()).collect();
            let sent = ids.clone();
            // Pipelined: all requests go out while replies stream back.
            let send = tokio::spawn(async move {
                for (i, id) in sent.iter().enumerate() {
                    let msg = if i % 2 == 0 {
                        IpcMessage::ChatRequest(ChatRequest {
                            request_id: *id,
                            content: format!("client {c} message {i}"),
                            spoken: false,
                        })
                    } else {
                        IpcMessage::Ping(Ping { seq: i as u64 })
                    };
                    writer.send(msg).await.expect("send");
                }
                writer
            });
            let mut chats = Vec::new();
            let mut pongs = Vec::new();
            let mut current = String::new();
            while chats.len() + pongs.len() < 200 {
                match reader.next().await.expect("reply").expect("valid frame") {
                    IpcMessage::StreamChunk(ch) => {
                        current.push_str(&ch.delta);
                        if ch.done {
                            chats.push((ch.request_id, std::mem::take(&mut current)));
                        }
                    }
                    IpcMessage::Pong(p) => pongs.push(p.seq),
                    other => panic!("unexpected {other:?}"),
                }
            }
            let _writer = send.await.expect("sender");
            for (k, (id, text)) in chats.iter().enumerate() {
                let i = 2 * k;
                assert_eq!(*id, ids[i], "client {c}: turn {i} out of order");
                assert_eq!(text, &format!("(echo) client {c} message {i}"));
            }
            assert_eq!(pongs, (0..200).filter(|i| i % 2 == 1).collect::<Vec<u64>>());
            c
        });
    }
    let done = tokio::time::timeout(HANG, async {
        let mut n = 0;
        while let Some(r) = tasks.join_next().await {
            r.expect("client task");
            n += 1;
        }
        n
    })
    .await
    .expect("all clients finish");
    assert_eq!(done, 50);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_and_others_keep_flowing() {
    let agent = InProc::start(ServerOptions {
        queue_capacity: 64,
        ..Default::default()
    })
    .await;
    let mut hog = raw(&agent.path).await;
    write_frame(&mut hog, &hello()).await;
    // Flood requests and never read a reply.
    let flood = tokio::spawn(async move {
        let ping = br#"{"type":"ping","seq":1}"#;
        for _ in 0..1_000_000 {
            let mut f = Vec::with_capacity(4 + ping.len());
            f.extend_from_slice(&u32::try_from(ping.len()).expect("len").to_be_bytes());
            f.extend_from_slice(ping);
            if hog.write_all(&f).await.is_err() {
                return true; // the agent hung up on us
            }
        }
        false
    });
    let mut good = client(&agent.path);
    for seq in 0..200 {
        good.ping(seq).await.expect("a reading client is served");
    }
    let dropped = tokio::time::timeout(HANG, flood)
        .await
        .expect("hog is dropped")
        .expect("task");
    assert!(
        dropped,
        "the agent disconnected the client that never reads"
    );
    assert_eq!(good.status().await.expect("status").clients, 1);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_bytes_are_bounded_and_so_are_connections() {
    // Frames are not the limit here (a million may queue); bytes are.
    let agent = InProc::start(ServerOptions {
        queue_capacity: 1_000_000,
        queue_bytes: 256 * 1024,
        max_frame: 64 * 1024,
        max_clients: 3,
        ..Default::default()
    })
    .await;
    // Pings, never reading a pong: only the byte limit can stop this queue.
    let pings = frame(br#"{"type":"ping","seq":1}"#).repeat(1000);
    assert!(
        flood_until_cut(&agent.path, pings, 10_000).await,
        "the agent disconnected the client that never reads"
    );
    // Long questions, echoed back, never read: the turn queue fills too (its
    // back-pressure holds the reader), and the connection is still cut.
    let ask = serde_json::to_vec(&serde_json::json!({
        "type": "chat_request",
        "request_id": Uuid::new_v4(),
        "content": "x".repeat(40_000),
    }))
    .expect("json");
    assert!(
        flood_until_cut(&agent.path, frame(&ask), 100_000).await,
        "the agent disconnected the chat client that never reads"
    );

    // Three clients at most: a fourth is told why and closed.
    // The hogs' connections may still be closing: until they are gone a new client
    // is told "busy", which is the point; wait for each place.
    let mut kept = Vec::new();
    for _ in 0..3 {
        let mut served = None;
        for _ in 0..300 {
            let mut c = client(&agent.path);
            match c.status().await {
                Ok(_) => {
                    served = Some(c);
                    break;
                }
                Err(ClientError::Rejected(e)) if e.code == ErrorCode::Busy => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("not served: {e}"),
            }
        }
        kept.push(served.expect("served once the hogs' connections closed"));
    }
    let mut fourth = client(&agent.path);
    match fourth.status().await {
        Err(ClientError::Rejected(e)) => {
            assert_eq!(e.code, ErrorCode::Busy, "{}", e.message);
        }
        other => panic!("expected a busy refusal, got {other:?}"),
    }
    drop(kept.pop());
    // A place frees up once one leaves.
    let mut served = false;
    for _ in 0..100 {
        if client(&agent.path).status().await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served, "a client is served again after one left");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_setup_stale_live_foreign_and_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.sock");
    // A stale socket (its listener is gone) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists());
    let (stop, rx) = oneshot::channel::<()>();
    let p = path.clone();
    let task = tokio::spawn(async move {
        aios_agent::run(echo_config(&p), &p, ServerOptions::default(), async {
            let _ = rx.await;
        })
        .await
    });
    let mut c = client(&path);
    c.status().await.expect("agent on replaced stale socket");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A live socket is not stolen by a second agent.
    let second = aios_agent::run(echo_config(&path), &path, ServerOptions::default(), async {
    })
    .await;
    assert!(
        matches!(second, Err(ServerError::AlreadyRunning(_))),
        "{second:?}"
    );
    let _ = stop.send(());
    task.await.expect("join").expect("ran");
    // Something that is not a socket is never deleted.
    std::fs::write(&path, b"precious").expect("write");
    let res = aios_agent::run(echo_config(&path), &path, ServerOptions::default(), async {
    })
    .await;
    assert!(matches!(res, Err(ServerError::NotASocket(_))), "{res:?}");
    assert_eq!(std::fs::read(&path).expect("still there"), b"precious");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_gives_a_clear_error_when_no_agent_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = client(&dir.path().join("none.sock")).with_retry(RetryPolicy {
        interval: Duration::from_millis(10),
        attempts: 3,
    });
    let err = c.status().await.expect_err("nobody there");
    assert!(
        matches!(err, ClientError::NotRunning { attempts: 3, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("aios-agent is not running") && msg.contains("start it with"),
        "{msg}"
    );
}

#[test]
fn cli_status_ask_chat_against_the_real_daemon() {
    let env = Env::new();
    let mut agent = env.agent();

    let out = env.aios(&["status"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(
        s.contains(&format!("aios-agent {}", env!("CARGO_PKG_VERSION"))),
        "{s}"
    );
    assert!(s.contains("provider: echo") && s.contains("uptime:"), "{s}");

    let out = env.aios(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json status");
    assert_eq!(v["protocol_version"], PROTOCOL_VERSION);

    let out = env.aios(&["ask", "what", "time is it?"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "(echo) what time is it?\n");

    let mut chat = env
        .cmd(common::aios_bin())
        .arg("chat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("aios chat");
    std::io::Write::write_all(
        chat.stdin.as_mut().expect("stdin"),
        b"first\n\nsecond line\n/quit\nnot sent\n",
    )
    .expect("type");
    let out = chat.wait_with_output().expect("chat ends");
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "(echo) first\n(echo) second line\n");

    let log = stop(&mut agent, nix::sys::signal::Signal::SIGINT);
    assert!(log.contains("config loaded"), "{log}");
    assert!(
        log.contains("SIGINT received") && log.contains("socket removed"),
        "{log}"
    );
    assert!(!env.socket().exists());

    let out = env.aios(&["--no-wait", "status"]);
    assert!(!out.status.success());
    let e = text(&out.stderr);
    assert!(
        e.contains("aios-agent is not running") && e.contains(&env.socket().display().to_string()),
        "{e}"
    );
}

#[test]
fn client_reconnects_after_the_agent_restarts() {
    let env = Env::new();
    let mut agent = env.agent();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let mut c = client(&env.socket());
    let first = rt.block_on(c.status()).expect("status");
    let log = stop(&mut agent, nix::sys::signal::Signal::SIGTERM);
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(!env.socket().exists(), "socket removed on SIGTERM");

    // The agent comes back 700 ms later, while the client is still retrying.
    let (second, mut agent) = std::thread::scope(|scope| {
        let restarted = scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(700));
            env.agent()
        });
        let second = rt.block_on(c.status());
        (second, restarted.join().expect("restart thread"))
    });
    let second = second.expect("same client object reconnects");
    assert_eq!((first.clients, second.clients), (1, 1));
    assert_eq!(
        rt.block_on(c.chat("again", |_| {})).expect("chat"),
        "(echo) again"
    );
    stop(&mut agent, nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn a_large_history_is_cut_to_one_frame_and_an_absurd_limit_refused() {
    let env = Env::new();
    let mut agent = env.agent();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let mut c = client(&env.socket());
    // Twelve 100 KB questions and their echoes: 2.4 MB, more than one frame holds.
    for i in 0..12 {
        let text = format!("{i} {}", "x".repeat(100_000));
        rt.block_on(c.chat(&text, |_| {})).expect("chat");
    }
    let messages = rt
        .block_on(c.history(50))
        .expect("an answer, not a closed socket");
    assert!(!messages.is_empty());
    assert!(
        messages.iter().all(|m| m.content.len() < 20_000),
        "each text cut"
    );
    assert!(messages[0].content.contains("more bytes not shown"));
    let err = rt.block_on(c.history(1_000_000)).expect_err("too many");
    assert!(err.to_string().contains("at most 1000"), "{err}");
    // The connection is still good.
    rt.block_on(c.status()).expect("status");
    stop(&mut agent, nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn the_readme_config_example_starts_an_agent() {
    let env = Env::new();
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("```toml\n[provider]")
        .expect("the README's config example");
    let body = &readme[start + "```toml\n".len()..];
    let example = &body[..body.find("```").expect("end of the example")];
    // As written, except that it answers with the echo provider and without voice:
    // loading the 1.5B model and whisper would only cost this test time.
    let config = example
        .replacen("type = \"local\"", "type = \"echo\"", 1)
        .replacen("enabled = true", "enabled = false", 1);
    assert!(config.contains("socket_path = \"\"") && config.contains("audit_log = \"\""));
    env.write_config(&config);
    let mut agent = env.agent();
    let out = env.aios(&["ask", "hello there"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("hello there"),
        "{}",
        text(&out.stdout)
    );
    let log = stop(&mut agent, nix::sys::signal::Signal::SIGTERM);
    assert!(log.contains("audit log opened"), "{log}");
    assert!(!log.contains("without an audit log"), "{log}");
    // Written to a pipe, not a terminal: no colour codes in it.
    assert!(!log.contains('\x1b'), "{log:?}");
}

#[test]
fn invalid_config_refuses_to_start_naming_file_line_and_key() {
    let env = Env::new();
    std::fs::create_dir_all(env.config().parent().expect("dir")).expect("mkdir");
    std::fs::write(
        env.config(),
        "[provider]\ntype = \"local\"\n\n[agent]\nmax_destructive_per_minute = -1\n",
    )
    .expect("write");
    let out = env
        .cmd(env!("CARGO_BIN_EXE_aios-agent"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let e = text(&out.stderr);
    assert!(e.contains(&format!("{}:5:", env.config().display())), "{e}");
    assert!(e.contains("agent.max_destructive_per_minute"), "{e}");
    assert!(!env.socket().exists(), "no socket for a refused start");

    let out = env.aios(&["config", "path"]);
    assert!(
        text(&out.stdout).contains("invalid"),
        "{}",
        text(&out.stdout)
    );
    let out = env.aios(&["config", "init", "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mode = std::fs::metadata(env.config())
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let mut agent = env.agent();
    assert!(env.aios(&["status"]).status.success());
    let log = stop(&mut agent, nix::sys::signal::Signal::SIGTERM);
    assert!(log.contains("config loaded"), "{log}");
}

#[tokio::test]
async fn a_silent_agent_times_the_client_out_with_a_clear_error() {
    // An "agent" that welcomes the client and then never answers.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("agent.sock");
    let listener = tokio::net::UnixListener::bind(&path).expect("bind");
    let silent = tokio::spawn(async move {
        let (s, _) = listener.accept().await.expect("accept");
        let mut framed = tokio_util::codec::Framed::new(s, MessageCodec::default());
        let _hello = framed.next().await;
        framed
            .send(IpcMessage::Welcome(aios_common::ipc::Welcome {
                protocol_version: PROTOCOL_VERSION,
                agent_version: "silent".into(),
                max_frame: 1 << 20,
            }))
            .await
            .expect("welcome");
        // Read requests, answer none.
        while framed.next().await.is_some() {}
    });
    let out = tokio::process::Command::new(common::aios_bin())
        .args(["--no-wait", "--timeout", "2", "--socket"])
        .arg(&path)
        .arg("status")
        .output()
        .await
        .expect("aios status");
    let err = text(&out.stderr);
    assert!(
        !out.status.success() && err.contains("sent nothing for 2 s"),
        "{err}"
    );
    silent.abort();
}

#[tokio::test]
async fn the_client_refuses_a_socket_served_by_another_user() {
    use aios_common::ipc::client::check_server;
    let p = Path::new("/tmp/shared/agent.sock");
    assert!(check_server(p, 1000, 1000).is_ok());
    let err = check_server(p, 65534, 1000).expect_err("another uid");
    assert!(
        err.to_string().contains("uid 65534"),
        "the error names the stranger: {err}"
    );
    if !nix::unistd::geteuid().is_root() {
        // A real stranger needs a second uid; CI runs as root, so there the rest
        // always runs. check_server, which the client calls, is tested above.
        eprintln!("not root: cannot serve a socket as another uid");
        return;
    }
    // Another user (nobody) listens on a path in a shared folder, as a stranger
    // could on a custom socket path; it could answer anything.
    let shared = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o1777))
        .expect("chmod");
    let path = shared.path().join("agent.sock");
    let script = "import socket,sys,os\ns=socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\nos.chmod(sys.argv[1],0o666)\ns.listen(4)\nprint('ready',flush=True)\nwhile True:\n  c,_=s.accept()\n  c.recv(65536)\n";
    let mut stranger = tokio::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .uid(65534)
        .gid(65534)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 as nobody");
    let mut ready = [0u8; 5];
    stranger
        .stdout
        .as_mut()
        .expect("stdout")
        .read_exact(&mut ready)
        .await
        .expect("the stranger listens");
    let mut c = client(&path);
    let err = c.status().await.expect_err("a foreign server");
    assert!(
        matches!(err, ClientError::ForeignServer { uid: 65534, .. }),
        "{err:?}"
    );
    // Through the real CLI, too.
    let out = tokio::process::Command::new(common::aios_bin())
        .args(["--no-wait", "--socket"])
        .arg(&path)
        .arg("status")
        .output()
        .await
        .expect("aios status");
    let err = text(&out.stderr);
    assert!(
        !out.status.success() && err.contains("refusing to talk to") && err.contains("uid 65534"),
        "{err}"
    );
    let _ = stranger.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_another_uid_is_refused() {
    use aios_common::ipc::server::check_peer;
    assert!(check_peer(1000, 1000).is_ok());
    let reply = check_peer(65534, 1000).expect_err("other uid");
    assert_eq!(reply.code, ErrorCode::PermissionDenied);

    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: cannot start a process under another uid; check_peer is tested above");
        return;
    }
    let agent = InProc::start(ServerOptions::default()).await;
    // Let uid 65534 reach the socket, so the credential check is what stops it
    // (not the file mode, which would already refuse it).
    let open = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(open.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(
        agent.path.parent().expect("dir"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    std::fs::set_permissions(&agent.path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    // A raw client as nobody: the agent refuses it (and may hang up before reading
    // its hello).
    let hex: String = frame(&hello()).iter().map(|b| format!("{b:02x}")).collect();
    let out = tokio::process::Command::new("python3")
        .args([
            "-c",
            "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ntry:\n  s.sendall(bytes.fromhex(sys.argv[2]))\nexcept OSError:\n  pass\nprint(s.recv(65536)[4:].decode())",
        ])
        .arg(&agent.path)
        .arg(&hex)
        .uid(65534)
        .gid(65534)
        .output()
        .await
        .expect("python3 as nobody");
    let reply = text(&out.stdout);
    assert!(
        reply.contains("permission_denied") && reply.contains("uid 65534"),
        "{reply} {}",
        text(&out.stderr)
    );
    // The real CLI as nobody does not even send its hello: the server is not its own.
    let cli = open.path().join("aios");
    std::fs::copy(common::aios_bin(), &cli).expect("copy cli");
    std::fs::set_permissions(&cli, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = tokio::process::Command::new(&cli)
        .args(["--no-wait", "--socket"])
        .arg(&agent.path)
        .arg("status")
        .env_clear()
        .env("HOME", open.path())
        .uid(65534)
        .gid(65534)
        .output()
        .await
        .expect("run as nobody");
    let err = text(&out.stderr);
    assert!(
        !out.status.success() && err.contains("refusing to talk to") && err.contains("uid 0"),
        "{err}"
    );
    let mut c = client(&agent.path);
    c.status().await.expect("the owner is still served");
    agent.stop().await;
}

#[test]
fn without_a_login_session_the_socket_lives_in_a_private_tmp_dir() {
    let env = Env::new();
    std::fs::remove_file(env.config()).expect("no config: defaults");
    let tmp = env.dir.path().join("tmp");
    std::fs::create_dir(&tmp).expect("mkdir");
    let uid = nix::unistd::getuid().as_raw();
    let expected = tmp.join(format!("aios-{uid}")).join("aios-agent.sock");
    let cmd = |bin: &std::path::Path| {
        let mut c = env.cmd(bin);
        c.env_remove("AIOS_SOCKET").env("TMPDIR", &tmp);
        c
    };
    let mut agent = cmd(std::path::Path::new(env!("CARGO_BIN_EXE_aios-agent")))
        .stderr(Stdio::piped())
        .spawn()
        .expect("agent");
    let out = cmd(&common::aios_bin())
        .arg("status")
        .output()
        .expect("aios");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&expected.display().to_string()));
    let mode = std::fs::metadata(expected.parent().expect("dir"))
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    let log = stop(&mut agent, nix::sys::signal::Signal::SIGTERM);
    assert!(log.contains("no config file; running on defaults"), "{log}");
    assert!(!expected.exists());
}

#[test]
fn aios_transcribe_reads_any_wav_and_says_what_is_missing() {
    let env = Env::new();
    let clip = aios_common::models::find_model(
        "speech/librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
    )
    .expect("LibriVox clip: run `make models`");
    // The same speech as 44.1 kHz stereo 32-bit float.
    let mono = aios_voice::audio::read_wav_16k(&clip).expect("clip");
    let wide = aios_voice::audio::resample(&mono, 16_000, 44_100).expect("resample");
    let path = env.dir.path().join("stereo.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&path, spec).expect("create");
    for s in wide {
        w.write_sample(s).expect("l");
        w.write_sample(s).expect("r");
    }
    w.finalize().expect("finalize");

    let out = env.aios(&["transcribe", path.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = aios_voice::wer::normalize(&text(&out.stdout));
    let want = aios_voice::wer::normalize("he was not an ill disposed young man");
    assert!(aios_voice::wer::word_errors(&want, &said) <= 1, "{said:?}");

    let out = env.aios(&["transcribe", "--json", clip.to_str().expect("utf8")]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["language"], "en");
    assert!(
        (v["duration"].as_f64().expect("duration") - 2.99).abs() < 0.1,
        "{v}"
    );
    assert!(
        v["timings"]["recognize_ms"].as_u64().is_some() && v["audio_ctx"].as_i64() < Some(1500),
        "{v}"
    );

    // Piper speaks, whisper hears it back.
    let spoken = env.dir.path().join("said.wav");
    let out = env.aios(&[
        "say",
        "--json",
        "--out",
        spoken.to_str().expect("utf8"),
        "Your battery is at eighty percent.",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["sample_rate"], 22050);
    let out = env.aios(&["transcribe", spoken.to_str().expect("utf8")]);
    // Piper's takes vary at random, so this checks the plumbing, not accuracy (the
    // voice tests do that with steady takes).
    let heard = aios_voice::wer::normalize(&text(&out.stdout));
    assert!(heard.contains(&"battery".to_owned()), "{heard:?}");

    let out = env.aios(&["transcribe", "/nonexistent.wav"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("cannot read audio /nonexistent.wav")
    );
    env.write_config("[voice]\nstt_model = \"ggml-missing.bin\"\n");
    let out = env.aios(&["transcribe", clip.to_str().expect("utf8")]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("ggml-missing.bin not found; run `make models`"),
        "{}",
        text(&out.stderr)
    );
}
