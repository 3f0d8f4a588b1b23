//! The local brain in a running conversation: one person saying one thing after
//! another, some of it denied at the prompt or failing, through the real agent and
//! the real worker with the default model (1.5B, greedy).
//!
//! With the history replayed as messages (main before the memo), this failed at the
//! third command: after "turn the volume down to 20" was denied the model closed
//! with "I'm sorry, but I can't assist with that." and answered "set the screen
//! brightness to 40" with nothing. With a memo line for a failed turn it failed
//! at the last one ("what does the file /etc/hostname say" answered from memory).

use std::process::Stdio;
use std::time::Duration;

use aios_common::config::DEFAULT_LOCAL_MODEL;
use aios_common::ipc::ClientKind;
use aios_common::ipc::client::{ChatEvent, IpcClient};
use aios_common::types::ToolCall;

mod common;
use common::Env;

/// Per command; the first one also waits for the cold prefill of the system prompt.
const TURN_GUARD: Duration = Duration::from_secs(300);

struct Said {
    calls: Vec<ToolCall>,
    errors: Vec<String>,
    reply: String,
}

async fn say(c: &mut IpcClient, text: &str) -> Said {
    let mut calls = Vec::new();
    let mut errors = Vec::new();
    let reply = tokio::time::timeout(
        TURN_GUARD,
        c.chat_events(text, |ev| match ev {
            ChatEvent::ToolCall(call) => calls.push(call.clone()),
            ChatEvent::ToolResult(r) if r.result.is_error => errors.push(r.result.content.clone()),
            _ => {}
        }),
    )
    .await
    .unwrap_or_else(|_| panic!("no answer to {text:?} in {TURN_GUARD:?}"))
    .unwrap_or_else(|e| panic!("{text:?} failed: {e}"));
    Said {
        calls,
        errors,
        reply,
    }
}

fn called<'a>(s: &'a Said, tool: &str) -> &'a ToolCall {
    s.calls
        .iter()
        .find(|c| c.name == tool)
        .unwrap_or_else(|| panic!("expected a {tool} call, got {:?} / {:?}", s.calls, s.reply))
}

#[test]
fn after_two_denials_and_a_failure_the_next_commands_still_call_tools() {
    let env = Env::new();
    // A fixed home: it is in the system prompt, and greedy decoding follows every
    // token of it, so a random temp path would make each run a different prompt.
    // (The test runs alone: its test group has one thread.)
    let home = std::path::PathBuf::from("/tmp/aios-conversation-test/home");
    let _ = std::fs::remove_dir_all(home.parent().expect("parent"));
    for d in ["Documents", "Desktop"] {
        std::fs::create_dir_all(home.join(d)).expect("mkdir");
    }
    std::fs::write(home.join("Desktop/todo.txt"), "buy milk\n").expect("write");
    env.write_config(&format!(
        "[provider]\ntype = \"local\"\ntimeout_secs = 300\n\n[local]\nmodel = \"{DEFAULT_LOCAL_MODEL}\"\n\n[agent]\nconversation_idle_secs = 3600\n"
    ));
    // The agent's log goes to a file: a long conversation fills a pipe nobody reads.
    let log = env.dir.path().join("agent.log");
    let mut agent = Agent(
        log.clone(),
        env.cmd(env!("CARGO_BIN_EXE_aios-agent"))
            .env("HOME", &home)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn aios-agent"),
    );
    assert!(
        common::wait_until(Duration::from_secs(10), || env.socket().exists()),
        "the agent did not listen"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let mut c = IpcClient::new(env.socket(), ClientKind::Test);
        // 1: runs.
        let s = say(&mut c, "what's in my documents folder").await;
        called(&s, "file_list");
        // 2, 3: Confirm-level; the agent has no terminal, so the prompt denies both.
        let s = say(&mut c, "turn the volume down to 20").await;
        called(&s, "volume");
        assert!(!s.errors.is_empty(), "the volume change was not denied");
        let s = say(&mut c, "set the screen brightness to 40").await;
        called(&s, "brightness");
        assert!(!s.errors.is_empty(), "the brightness change was not denied");
        // 4: a chat turn.
        let s = say(&mut c, "thanks anyway").await;
        assert!(s.calls.is_empty(), "a thank-you called {:?}", s.calls);
        // 5: fails (no such file).
        let s = say(&mut c, "read me notes.txt from my documents").await;
        called(&s, "file_read");
        assert!(!s.errors.is_empty(), "reading a missing file did not fail");
        // 6-8: after two denials and a failure the model still acts.
        let s = say(&mut c, "how much disk space is free").await;
        called(&s, "system_info");
        let s = say(&mut c, "list the files on my desktop").await;
        let path = called(&s, "file_list").arguments["path"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned();
        assert!(path.ends_with("Desktop"), "listed {path}");
        let s = say(&mut c, "what does the file /etc/hostname say").await;
        assert_eq!(called(&s, "file_read").arguments["path"], "/etc/hostname");
    });
    common::stop(&mut agent.1, nix::sys::signal::Signal::SIGTERM);
    let audit =
        std::fs::read_to_string(env.dir.path().join("state/aios/actions.log")).unwrap_or_default();
    // Every call the model made is in the audit log with its fate.
    for tool in ["volume", "brightness", "system_info", "file_read"] {
        assert!(
            audit.contains(&format!("\"action\":\"{tool}\"")),
            "{tool} missing from the audit log:\n{audit}"
        );
    }
}

/// Kills the agent (and so its worker) when a check fails halfway, and shows the
/// end of its log then.
struct Agent(std::path::PathBuf, std::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.1.kill();
        let _ = self.1.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.0).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("agent log (last 60 lines):");
            for l in &lines[lines.len().saturating_sub(60)..] {
                eprintln!("  {l}");
            }
        }
    }
}
