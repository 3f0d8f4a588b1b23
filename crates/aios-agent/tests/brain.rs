//! The agent brain with the real local model from `make models`: answers, tool
//! calls, the KV prefix cache, and what happens when the worker or the agent is
//! killed. These tests fail (they do not skip) when a model is missing.

use std::path::PathBuf;
use std::time::Duration;

use aios_agent::llm::local::{LocalProvider, WorkerSpec, worker_program};
use aios_agent::llm::{LlmMessage, LlmProvider, LlmRequest, StreamDelta, ToolDefinition, collect};
use aios_common::config::DEFAULT_LOCAL_MODEL;
use aios_common::ipc::ClientKind;
use aios_common::ipc::client::IpcClient;
use aios_common::types::Role;
use futures::StreamExt;

mod common;
use common::{Env, children_named, wait_until};

const SMALL_MODEL: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
const GUARD: Duration = Duration::from_secs(120);

fn model(name: &str) -> PathBuf {
    aios_common::models::find_model(name).unwrap_or_else(|e| panic!("{e}"))
}

/// The tool definitions the agent ships (not a hand-written copy that could drift).
fn plan_tools() -> Vec<ToolDefinition> {
    let tools = aios_mcp::tools::builtin().definitions();
    assert_eq!(tools.len(), 12);
    tools
}

fn system_prompt() -> String {
    aios_agent::prompt::load(None).expect("built-in prompt")
}

fn provider(model_name: &str, tools: &[ToolDefinition]) -> LocalProvider {
    provider_keeping_prefix(model_name, tools, None)
}

/// A worker that keeps its decoded prefix in `prefix_cache`.
fn provider_keeping_prefix(
    model_name: &str,
    tools: &[ToolDefinition],
    prefix_cache: Option<PathBuf>,
) -> LocalProvider {
    let spec = WorkerSpec {
        program: worker_program().unwrap_or_else(|e| panic!("{e}")),
        model: model(model_name),
        threads: 0,
        context: 4096,
        warm: Some((system_prompt(), tools.to_vec())),
        prefix_cache,
    };
    LocalProvider::start(spec, GUARD)
}

fn request(messages: Vec<LlmMessage>, tools: &[ToolDefinition]) -> LlmRequest {
    LlmRequest {
        messages,
        tools: tools.to_vec(),
        temperature: 0.0,
        max_tokens: 96,
        words_only: false,
        fallback: None,
    }
}

/// A memo of one earlier turn, as the agent puts it after the system prompt.
fn one_turn_memo() -> LlmMessage {
    LlmMessage::System {
        content: "Earlier in this conversation, latest last.\n\
                  - set the volume to 40 -> volume {\"level\": 40} -> Volume set to 40%."
            .into(),
    }
}

/// `q` over [`one_turn_memo`], as the agent asks it: with `fallback`, the question
/// alone is the fallback for a reply in words.
async fn ask_over_memo(
    p: &LocalProvider,
    tools: &[ToolDefinition],
    q: &str,
    fallback: bool,
) -> aios_agent::llm::LlmResponse {
    let system = LlmMessage::System {
        content: system_prompt(),
    };
    let mut req = request(vec![system.clone(), one_turn_memo(), user(q)], tools);
    req.fallback = fallback.then(|| vec![system, user(q)]);
    collect(p.complete_stream(&req).await.expect("stream"))
        .await
        .expect("answer")
}

fn user(text: &str) -> LlmMessage {
    LlmMessage::User {
        content: text.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_local_model_answers_calls_tools_and_prefills_only_new_tokens() {
    let tools = plan_tools();
    let p = provider(DEFAULT_LOCAL_MODEL, &tools);
    let system = LlmMessage::System {
        content: system_prompt(),
    };

    let q1 = user("What is the capital of France?");
    let r1 = collect(
        p.complete_stream(&request(vec![system.clone(), q1.clone()], &tools))
            .await
            .expect("stream"),
    )
    .await
    .expect("answer");
    assert!(
        r1.tool_calls.is_empty(),
        "a knowledge question needs no tool: {r1:?}"
    );
    assert!(r1.content.contains("Paris"), "{r1:?}");

    // Same conversation, one more turn: only the new tokens are prefilled.
    let a1 = LlmMessage::Assistant {
        content: r1.content.clone(),
        tool_calls: vec![],
    };
    let q2 = user("Set the volume to 40 percent.");
    let r2 = collect(
        p.complete_stream(&request(vec![system, q1, a1, q2], &tools))
            .await
            .expect("stream"),
    )
    .await
    .expect("tool call");
    assert_eq!(r2.tool_calls.len(), 1, "{r2:?}");
    assert_eq!(r2.tool_calls[0].name, "volume");
    assert_eq!(r2.tool_calls[0].arguments["level"], 40);
    let prefilled = r2.usage.input_tokens - r2.usage.cached_tokens;
    assert!(
        r2.usage.cached_tokens >= r1.usage.input_tokens && prefilled < 60,
        "second turn must reuse the first turn's prompt: {:?} after {:?}",
        r2.usage,
        r1.usage
    );
}

/// `words_only` (the worker's `no_calls`): a command the model would answer with a
/// call gets words instead, from the same cached prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_only_gets_words_from_the_same_cached_prompt() {
    let tools = plan_tools();
    let p = provider(DEFAULT_LOCAL_MODEL, &tools);
    let system = LlmMessage::System {
        content: system_prompt(),
    };
    let mut req = request(vec![system, user("Set the volume to 40 percent.")], &tools);
    let call = collect(p.complete_stream(&req).await.expect("stream"))
        .await
        .expect("call");
    assert_eq!(call.tool_calls.len(), 1, "{call:?}");
    req.words_only = true;
    let words = collect(p.complete_stream(&req).await.expect("stream"))
        .await
        .expect("words");
    assert!(words.tool_calls.is_empty(), "{words:?}");
    assert!(
        !words.content.trim().is_empty() && !words.content.contains("<tool_call>"),
        "{words:?}"
    );
    assert!(
        words.usage.input_tokens - words.usage.cached_tokens < 10,
        "the same prompt is reused: {:?}",
        words.usage
    );
}

/// The agent asks two prompts in one turn: the conversation's (system prompt and
/// memo) and, when that is answered in words, the question alone. The worker keeps
/// both in two cached sequences, so neither rewinds the other: the next turn's
/// prompt finds its memo still decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_conversation_prefix_survives_a_question_asked_alone() {
    let tools = plan_tools();
    let p = provider(DEFAULT_LOCAL_MODEL, &tools);
    let system = LlmMessage::System {
        content: system_prompt(),
    };
    let memo = LlmMessage::System {
        content: "Earlier in this conversation, latest last.\n\
                  - set the volume to 40 -> volume {\"level\": 40} -> Volume set to 40%.\n\
                  - list my documents -> file_list {\"path\": \"/home/user/Documents\"} -> 3 entries (120 bytes)\n\
                  - how much battery is left -> system_info {} -> Battery: 87% (discharging)\n\
                  - make the screen dimmer -> brightness {\"level\": 30} -> Brightness set to 30%.\n\
                  - which networks are around -> wifi_list {} -> 3 networks (96 bytes)"
            .into(),
    };
    let ask = async |messages: Vec<LlmMessage>| {
        collect(
            p.complete_stream(&request(messages, &tools))
                .await
                .expect("stream"),
        )
        .await
        .expect("answer")
    };
    let q = user("What is the capital of France?");
    let with_memo = ask(vec![system.clone(), memo.clone(), q.clone()]).await;
    let alone = ask(vec![system.clone(), q]).await;
    assert!(
        alone.usage.input_tokens - alone.usage.cached_tokens < 30,
        "the question alone reuses the system prompt: {:?}",
        alone.usage
    );
    let next = ask(vec![system, memo, user("And of Spain?")]).await;
    let memo_prompt = with_memo.usage.input_tokens - 20;
    assert!(
        next.usage.cached_tokens >= memo_prompt,
        "the memo was not decoded again: {:?} after {:?}",
        next.usage,
        with_memo.usage
    );
}

/// Over a memo, the agent sends the question alone as the `fallback`: the worker
/// answers it when the conversation's reply would start in words, and keeps the
/// conversation's reply when it starts a call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_come_from_the_question_alone_and_calls_from_the_conversation() {
    let tools = plan_tools();
    let p = provider(DEFAULT_LOCAL_MODEL, &tools);
    let ask = async |q: &str, fallback: bool| ask_over_memo(&p, &tools, q, fallback).await;
    let with_memo = ask("What is the capital of France?", false).await;
    let words = ask("What is the capital of France?", true).await;
    assert!(
        words.tool_calls.is_empty() && words.content.contains("Paris"),
        "{words:?}"
    );
    assert!(
        words.usage.input_tokens < with_memo.usage.input_tokens,
        "the reply is to the shorter prompt asked alone: {:?} vs {:?}",
        words.usage,
        with_memo.usage
    );
    let call = ask("Now set it to 70 percent.", true).await;
    assert_eq!(call.tool_calls.len(), 1, "{call:?}");
    assert_eq!(call.tool_calls[0].name, "volume");
    assert!(
        call.usage.input_tokens > words.usage.input_tokens,
        "the call is the conversation's: {:?}",
        call.usage
    );
}

/// Over a memo a spoken question may be answered by its fallback (the question
/// alone): the heard words are decoded after the system message alone too, so
/// the fallback prefills only what was not heard either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_memo_the_heard_words_are_decoded_for_the_question_alone_too() {
    let tools = plan_tools();
    let p = provider(DEFAULT_LOCAL_MODEL, &tools);
    let system = LlmMessage::System {
        content: system_prompt(),
    };
    let answer = async |q: &str| ask_over_memo(&p, &tools, q, true).await;
    let question = "What is the capital of France?";
    let plain = answer(question).await;
    // Another question in between, so the cache no longer holds these words.
    answer("Which planet is closest to the sun?").await;
    p.prewarm(
        &[system, one_turn_memo()],
        &tools,
        Some("What is the capital of"),
    )
    .await;
    let ahead = answer(question).await;
    let prefilled = |r: &aios_agent::llm::LlmResponse| r.usage.input_tokens - r.usage.cached_tokens;
    assert!(
        ahead.tool_calls.is_empty() && ahead.content.contains("Paris"),
        "{ahead:?}"
    );
    assert_eq!(
        ahead.usage.input_tokens, plain.usage.input_tokens,
        "both fell back"
    );
    assert!(
        prefilled(&ahead) + 4 <= prefilled(&plain),
        "the heard words were not decoded after the system message alone: {:?} vs {:?}",
        ahead.usage,
        plain.usage
    );
}

/// What a spoken command gets: the words heard so far are decoded while the person
/// still speaks, and the final question prefills only the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_heard_ahead_are_decoded_before_the_question_comes() {
    let tools = plan_tools();
    let p = provider(SMALL_MODEL, &tools);
    let system = LlmMessage::System {
        content: system_prompt(),
    };
    let command = "Set the volume to forty percent please";
    let ask = |q: &str| request(vec![system.clone(), user(q)], &tools);
    let answer = async |q: &str| {
        collect(p.complete_stream(&ask(q)).await.expect("stream"))
            .await
            .expect("answer")
    };
    // Nothing heard ahead: the whole question is prefilled.
    let plain = answer(command).await;
    // Another question in between, so the cache no longer holds the command's words.
    answer("Which planet is closest to the sun?").await;
    // All but the last word heard ahead (a partial transcript), then the question.
    let heard = command.rsplit_once(' ').expect("words").0;
    p.prewarm(std::slice::from_ref(&system), &tools, Some(heard))
        .await;
    let ahead = answer(command).await;

    let prefilled = |r: &aios_agent::llm::LlmResponse| r.usage.input_tokens - r.usage.cached_tokens;
    assert_eq!(ahead.usage.input_tokens, plain.usage.input_tokens);
    assert!(
        prefilled(&ahead) + 5 <= prefilled(&plain),
        "the heard words were not decoded ahead: {:?} vs {:?}",
        ahead.usage,
        plain.usage
    );
    // The same call: decoding ahead changes when, not what (the text around it
    // may differ where two tokens are near a tie, as batching moves logits a little).
    let calls = |r: &aios_agent::llm::LlmResponse| {
        r.tool_calls
            .iter()
            .map(|c| (c.name.clone(), c.arguments.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(calls(&ahead), calls(&plain));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_answer_fails_that_turn_and_is_restarted() {
    let p = provider(SMALL_MODEL, &[]);
    let system = LlmMessage::System {
        content: system_prompt(),
    };
    let mut req = request(
        vec![
            system.clone(),
            user("Count from 1 to 200, one number per line."),
        ],
        &[],
    );
    req.max_tokens = 600;
    let mut stream = p.complete_stream(&req).await.expect("stream");
    let first = tokio::time::timeout(GUARD, stream.next())
        .await
        .expect("first delta");
    assert!(matches!(first, Some(Ok(StreamDelta::Text(_)))), "{first:?}");

    let me = std::process::id();
    let workers = children_named(me, "aios-llm");
    assert_eq!(workers.len(), 1, "one worker child: {workers:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(workers[0] as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 the worker");

    let mut failure = None;
    while let Some(item) = tokio::time::timeout(GUARD, stream.next())
        .await
        .expect("stream ends")
    {
        if let Err(e) = item {
            failure = Some(e);
            break;
        }
    }
    let failure = failure.expect("the interrupted turn reports an error");
    assert!(failure.to_string().contains("restarting"), "{failure}");

    let again = collect(
        p.complete_stream(&request(vec![system, user("Say hello.")], &[]))
            .await
            .expect("stream"),
    )
    .await
    .expect("a restarted worker answers");
    assert!(!again.content.trim().is_empty());
    assert_eq!(p.restarts(), 1);
    assert!(wait_until(Duration::from_secs(10), || children_named(
        me, "aios-llm"
    )
    .len()
        == 1));
}

#[test]
fn killing_the_agent_mid_turn_leaves_no_orphan_and_keeps_the_question() {
    let env = Env::new();
    env.write_config(&format!(
        // The test is about the crash, not speed: a generous provider timeout so a
        // cold prefill on a busy machine cannot end the turn before the kill.
        "[provider]\ntype = \"local\"\nmax_tokens = 600\ntimeout_secs = 300\n\n[local]\nmodel = \"{SMALL_MODEL}\"\n"
    ));
    let mut agent = env.agent();
    let agent_pid = agent.id();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let question = "Count from 1 to 200, one number per line.";
    rt.block_on(async {
        let mut c = IpcClient::new(env.socket(), ClientKind::Test);
        let id = uuid::Uuid::new_v4();
        c.send(&aios_common::ipc::IpcMessage::ChatRequest(
            aios_common::ipc::ChatRequest {
                request_id: id,
                content: question.into(),
                spoken: false,
            },
        ))
        .await
        .expect("ask");
        // Wait until the model is answering (in text, or with a tool call).
        loop {
            match tokio::time::timeout(GUARD, c.recv())
                .await
                .expect("reply starts")
                .expect("frame")
            {
                aios_common::ipc::IpcMessage::StreamChunk(ch) if !ch.delta.is_empty() => break,
                aios_common::ipc::IpcMessage::ToolCall(_) => break,
                aios_common::ipc::IpcMessage::StreamChunk(ch) if ch.done => {
                    panic!("the turn ended before the kill")
                }
                aios_common::ipc::IpcMessage::Error(e) => panic!("turn failed: {e}"),
                _ => {}
            }
        }
    });
    let workers = children_named(agent_pid, "aios-llm");
    assert_eq!(workers.len(), 1, "{workers:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent_pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");
    let _ = agent.wait();
    let worker = PathBuf::from(format!("/proc/{}", workers[0]));
    assert!(
        wait_until(Duration::from_secs(10), || !worker.exists()
            || std::fs::read_to_string(worker.join("stat"))
                .is_ok_and(|s| s.contains(") Z "))),
        "the worker outlived the agent"
    );

    let _ = std::fs::remove_file(env.socket());
    env.write_config("[provider]\ntype = \"echo\"\n");
    let mut agent = env.agent();
    let history = rt.block_on(async {
        let mut c = IpcClient::new(env.socket(), ClientKind::Test);
        c.history(100).await.expect("history after a crash")
    });
    assert!(
        history
            .iter()
            .any(|m| m.role == Role::User && m.content == question),
        "the question survived the crash: {history:?}"
    );
    common::stop(&mut agent, nix::sys::signal::Signal::SIGTERM);
    let db = env.dir.path().join("data/aios/memory.db");
    aios_memory::Memory::open(&db).expect("the database passes its integrity check");
}

#[test]
fn a_missing_or_corrupt_model_is_reported_with_the_fix() {
    let env = Env::new();
    let models = env.dir.path().join("models");
    std::fs::create_dir(&models).expect("mkdir");
    std::fs::write(models.join("corrupt.gguf"), b"GGUF but not really a model").expect("write");
    for (name, expect) in [("absent.gguf", "not found"), ("corrupt.gguf", "damaged")] {
        env.write_config(&format!(
            "[provider]\ntype = \"local\"\n\n[local]\nmodel = \"{name}\"\n"
        ));
        let mut agent = env
            .cmd(env!("CARGO_BIN_EXE_aios-agent"))
            .env("AIOS_MODELS_DIR", &models)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("agent");
        assert!(wait_until(Duration::from_secs(10), || env
            .socket()
            .exists()));
        let out = env.aios(&["ask", "hello"]);
        let err = common::text(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains(name) && err.contains(expect) && err.contains("make models"),
            "{err}"
        );
        // The agent stays up and says which model it cannot use.
        let status = common::text(&env.aios(&["status"]).stdout);
        assert!(status.contains("provider: local"), "{status}");
        common::stop(&mut agent, nix::sys::signal::Signal::SIGTERM);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decoded_prefix_is_kept_on_disk_for_the_next_worker() {
    let tools = plan_tools();
    let dir = tempfile::tempdir().expect("tempdir");
    let start = || provider_keeping_prefix(SMALL_MODEL, &tools, Some(dir.path().to_path_buf()));
    let ask = || {
        request(
            vec![
                LlmMessage::System {
                    content: system_prompt(),
                },
                user("What is the capital of France?"),
            ],
            &tools,
        )
    };
    // The first worker decodes the prefix and saves it.
    let first = start();
    let r1 = collect(first.complete_stream(&ask()).await.expect("stream"))
        .await
        .expect("answer");
    drop(first);
    let saved: Vec<_> = std::fs::read_dir(dir.path())
        .expect("the cache dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        saved.len() == 1 && saved[0].ends_with("-ctx4096.state"),
        "{saved:?}"
    );

    // A new worker (an agent restart) starts from it: the same answer, with the
    // whole system prompt reused instead of decoded again.
    let second = start();
    let r2 = collect(second.complete_stream(&ask()).await.expect("stream"))
        .await
        .expect("answer");
    assert_eq!(r2.content, r1.content);
    let prefilled = r2.usage.input_tokens - r2.usage.cached_tokens;
    assert!(
        prefilled < 40 && r2.usage.cached_tokens > 1000,
        "the prefix came from the file: {:?}",
        r2.usage
    );

    // A corrupt file is only a slower start.
    let file = dir.path().join(&saved[0]);
    std::fs::write(&file, b"not a llama.cpp state").expect("corrupt it");
    drop(second);
    let third = start();
    let r3 = collect(third.complete_stream(&ask()).await.expect("stream"))
        .await
        .expect("answer");
    assert_eq!(r3.content, r1.content);
}
