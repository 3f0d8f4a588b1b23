//! The chat window driven as a person would, in Iced's simulator: typing, Enter,
//! clicks; the agent's side is the protocol's own messages fed through the same
//! `update` the socket link feeds.

use aios_chat::app::{Chat, INPUT, Message};
use aios_chat::link::Event;
use aios_common::ipc::{
    ConfirmPendingEvent, IpcMessage, PROTOCOL_VERSION, StreamChunk, ToolCallEvent, ToolResultEvent,
    ToolStatus, TranscriptEvent, TranscriptKind, Welcome,
};
use aios_common::types::{ToolCall, ToolResult, TrustRequirement};
use iced::futures::channel::mpsc;
use iced::keyboard::key::Named;
use iced_test::selector::id;
use iced_test::{Error, simulator};
use serde_json::json;
use uuid::Uuid;

fn connected() -> (Chat, mpsc::Receiver<IpcMessage>) {
    let mut chat = Chat::new("/nonexistent/aios.sock".into(), Some("/home/ada".into()));
    let (tx, rx) = mpsc::channel(64);
    let _ = chat.update(Message::Link(Event::Connected(
        Welcome {
            protocol_version: PROTOCOL_VERSION,
            agent_version: "0.1.0".into(),
            max_frame: 1 << 20,
        },
        tx,
    )));
    (chat, rx)
}

fn sent(rx: &mut mpsc::Receiver<IpcMessage>) -> Vec<IpcMessage> {
    let mut out = Vec::new();
    while let Ok(m) = rx.try_recv() {
        out.push(m);
    }
    out
}

fn agent(chat: &mut Chat, msg: IpcMessage) {
    let _ = chat.update(Message::Link(Event::Received(msg)));
}

/// Drives the view with `act`, then feeds what it produced back into `update`.
fn drive(chat: &mut Chat, act: impl FnOnce(&mut iced_test::Simulator<'_, Message>)) {
    let messages: Vec<Message> = {
        let mut ui = simulator(chat.view());
        act(&mut ui);
        ui.into_messages().collect()
    };
    for m in messages {
        let _ = chat.update(m);
    }
}

fn shows(chat: &Chat, text: &str) -> bool {
    simulator(chat.view()).find(text).is_ok()
}

#[test]
fn typing_a_message_and_enter_sends_it_and_the_reply_streams_in() -> Result<(), Error> {
    let (mut chat, mut rx) = connected();
    let first = sent(&mut rx);
    assert!(
        first
            .iter()
            .any(|m| matches!(m, IpcMessage::StatusRequest(_)))
            && first
                .iter()
                .any(|m| matches!(m, IpcMessage::HistoryRequest(_))),
        "on connecting the window asks for the status and recent history: {first:?}"
    );

    drive(&mut chat, |ui| {
        ui.click(id(INPUT)).expect("the input field");
        let _ = ui.typewrite("list my downloads");
        let _ = ui.tap_key(Named::Enter);
    });
    let out = sent(&mut rx);
    let [IpcMessage::ChatRequest(req)] = out.as_slice() else {
        panic!("one chat request expected: {out:?}");
    };
    assert_eq!(req.content, "list my downloads");
    assert!(shows(&chat, "list my downloads"), "the person's bubble");
    assert!(chat.input.text().trim().is_empty(), "the field is cleared");

    let id = req.request_id;
    agent(
        &mut chat,
        IpcMessage::ToolCall(ToolCallEvent {
            request_id: id,
            call: ToolCall {
                id: "c1".into(),
                name: "file_list".into(),
                arguments: json!({"path": "/home/ada/Downloads"}),
            },
        }),
    );
    assert!(shows(&chat, "Calling file_list ~/Downloads"));
    agent(
        &mut chat,
        IpcMessage::ToolResult(ToolResultEvent {
            request_id: id,
            status: ToolStatus::Ok,
            result: ToolResult {
                call_id: "c1".into(),
                content: "a.txt\nb.pdf".into(),
                is_error: false,
            },
        }),
    );
    assert!(shows(&chat, "file_list ~/Downloads: a.txt"));
    for piece in ["You have ", "two files."] {
        agent(
            &mut chat,
            IpcMessage::StreamChunk(StreamChunk {
                request_id: id,
                delta: piece.into(),
                done: false,
            }),
        );
    }
    assert_eq!(
        chat.conv
            .items
            .iter()
            .filter_map(|i| match i {
                aios_chat::conversation::Item::Bubble(b) => Some(b.text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>(),
        ["list my downloads", "You have two files."]
    );
    Ok(())
}

#[test]
fn shift_enter_breaks_the_line_instead_of_sending() {
    use iced::keyboard::{self, Key, Location, Modifiers, key::NativeCode, key::Physical};
    let (mut chat, mut rx) = connected();
    sent(&mut rx);
    let shift_enter = |event: fn(Key, Modifiers) -> keyboard::Event| {
        iced::Event::Keyboard(event(Key::Named(Named::Enter), Modifiers::SHIFT))
    };
    drive(&mut chat, |ui| {
        ui.click(id(INPUT)).expect("the input field");
        let _ = ui.typewrite("first line");
        ui.simulate([
            shift_enter(|key, modifiers| keyboard::Event::KeyPressed {
                modified_key: key.clone(),
                key,
                physical_key: Physical::Unidentified(NativeCode::Unidentified),
                location: Location::Standard,
                modifiers,
                text: Some("\n".into()),
                repeat: false,
            }),
            shift_enter(|key, modifiers| keyboard::Event::KeyReleased {
                modified_key: key.clone(),
                key,
                physical_key: Physical::Unidentified(NativeCode::Unidentified),
                location: Location::Standard,
                modifiers,
            }),
        ]);
        let _ = ui.typewrite("second line");
    });
    assert!(sent(&mut rx).is_empty(), "Shift+Enter sends nothing");
    assert_eq!(chat.input.text().trim_end(), "first line\nsecond line");
}

#[test]
fn a_tool_card_waits_turns_red_and_expands_on_click() {
    let (mut chat, mut rx) = connected();
    sent(&mut rx);
    let id = Uuid::new_v4();
    agent(
        &mut chat,
        IpcMessage::ToolCall(ToolCallEvent {
            request_id: id,
            call: ToolCall {
                id: "d1".into(),
                name: "file_delete".into(),
                arguments: json!({"path": "/home/ada/notes.txt"}),
            },
        }),
    );
    agent(
        &mut chat,
        IpcMessage::ConfirmPending(ConfirmPendingEvent {
            request_id: id,
            call_id: "d1".into(),
            requirement: TrustRequirement::DoubleConfirm,
            timeout_secs: 60,
        }),
    );
    assert!(shows(
        &chat,
        "Waiting for your confirmation (type DELETE): file_delete ~/notes.txt"
    ));
    agent(
        &mut chat,
        IpcMessage::ToolResult(ToolResultEvent {
            request_id: id,
            status: ToolStatus::TimedOut,
            result: ToolResult {
                call_id: "d1".into(),
                content: "The person declined this action (no answer within 60 s)".into(),
                is_error: true,
            },
        }),
    );
    assert!(shows(&chat, "Timed out: file_delete ~/notes.txt"));
    assert!(!shows(
        &chat,
        "The person declined this action (no answer within 60 s)"
    ));
    drive(&mut chat, |ui| {
        ui.click("Timed out: file_delete ~/notes.txt")
            .expect("the card");
    });
    assert!(
        shows(
            &chat,
            "The person declined this action (no answer within 60 s)"
        ),
        "a click shows the whole result"
    );
}

#[test]
fn spoken_words_appear_live_and_the_final_transcript_replaces_them() {
    let (mut chat, _rx) = connected();
    let transcript = |kind, text: &str, request_id| {
        IpcMessage::Transcript(TranscriptEvent {
            kind,
            text: text.into(),
            request_id,
        })
    };
    agent(
        &mut chat,
        transcript(TranscriptKind::Partial, "turn the", None),
    );
    assert!(shows(&chat, "turn the"));
    agent(
        &mut chat,
        transcript(TranscriptKind::Partial, "turn the volume", None),
    );
    agent(
        &mut chat,
        transcript(
            TranscriptKind::Final,
            "Turn the volume down.",
            Some(Uuid::new_v4()),
        ),
    );
    assert!(shows(&chat, "Turn the volume down."));
    assert!(!shows(&chat, "turn the"));
    assert!(!shows(&chat, "turn the volume"));
}

#[test]
fn without_the_agent_the_window_says_so_and_keeps_the_typed_text() {
    let mut chat = Chat::new("/nonexistent/aios.sock".into(), None);
    assert!(shows(&chat, "Connecting…"));
    let _ = chat.update(Message::Link(Event::Lost(
        "the agent is not running; start it with `make run`".into(),
    )));
    assert!(shows(
        &chat,
        "Offline: the agent is not running; start it with `make run`"
    ));
    drive(&mut chat, |ui| {
        ui.click(id(INPUT)).expect("the input field");
        let _ = ui.typewrite("hello?");
        let _ = ui.tap_key(Named::Enter);
    });
    assert!(
        shows(&chat, aios_chat::app::NOT_SENT),
        "a message that cannot go says so"
    );
    assert_eq!(
        chat.input.text().trim(),
        "hello?",
        "the text waits in the field"
    );
    assert!(
        chat.conv
            .items
            .iter()
            .all(|i| !matches!(i, aios_chat::conversation::Item::Bubble(_))),
        "no bubble for a message that never went"
    );
}

#[test]
fn the_new_conversation_button_sends_the_request() -> Result<(), Error> {
    let (mut chat, mut rx) = connected();
    sent(&mut rx);
    drive(&mut chat, |ui| {
        ui.click("New conversation").expect("the button");
    });
    let out = sent(&mut rx);
    assert!(
        matches!(out.as_slice(), [IpcMessage::NewConversation(_)]),
        "{out:?}"
    );
    Ok(())
}

#[test]
fn a_code_block_in_a_reply_has_a_copy_button_that_copies_the_code() {
    let (mut chat, _rx) = connected();
    let id = Uuid::new_v4();
    for piece in ["Run this:\n\n```sh\nls -la ~/Down", "loads\n```\n"] {
        agent(
            &mut chat,
            IpcMessage::StreamChunk(StreamChunk {
                request_id: id,
                delta: piece.into(),
                done: false,
            }),
        );
    }
    let messages: Vec<Message> = {
        let mut ui = simulator(chat.view());
        ui.click("Copy")
            .expect("a copy button under the code block");
        ui.into_messages().collect()
    };
    assert!(
        messages
            .iter()
            .any(|m| matches!(m, Message::Copy(code) if code.trim_end() == "ls -la ~/Downloads")),
        "{messages:?}"
    );
}

fn status(configured: bool) -> IpcMessage {
    IpcMessage::StatusReply(aios_common::ipc::StatusReply {
        request_id: Uuid::new_v4(),
        agent_version: "0.1.0".into(),
        protocol_version: PROTOCOL_VERSION,
        provider: "local".into(),
        model: Some("qwen2.5-coder-1.5b".into()),
        uptime_ms: 1,
        clients: 1,
        configured,
    })
}

#[test]
fn first_run_welcome_checks_a_key_shows_a_refusal_and_leaves_once_saved() {
    let (mut chat, mut rx) = connected();
    sent(&mut rx);
    agent(&mut chat, status(true));
    assert!(!shows(&chat, "Welcome to AIOS."), "configured: no welcome");

    let (mut chat, mut rx) = connected();
    sent(&mut rx);
    agent(&mut chat, status(false));
    assert!(
        shows(&chat, "Welcome to AIOS."),
        "no config file: the welcome"
    );
    assert!(
        shows(&chat, "Keep the local model"),
        "local is the default choice"
    );

    // OpenAI with no key: said at once, nothing sent.
    drive(&mut chat, |ui| {
        ui.click("OpenAI: needs an API key")
            .expect("the OpenAI choice");
    });
    drive(&mut chat, |ui| {
        ui.click("Check and save").expect("the button");
    });
    assert!(sent(&mut rx).is_empty(), "no key, no request");
    assert!(shows(&chat, "Paste your OpenAI API key first."));

    drive(&mut chat, |ui| {
        ui.click(id(aios_chat::app::SETUP_KEY))
            .expect("the key field");
        let _ = ui.typewrite("sk-wrong");
        let _ = ui.tap_key(Named::Enter);
    });
    let out = sent(&mut rx);
    let [IpcMessage::SetupRequest(req)] = out.as_slice() else {
        panic!("one setup request expected: {out:?}");
    };
    assert_eq!(req.provider, aios_common::config::ProviderKind::Openai);
    assert_eq!(req.api_key.expose(), "sk-wrong");
    assert!(shows(&chat, "Checking…"));
    assert!(!shows(&chat, "sk-wrong"), "the key is shown as dots");

    let refusal =
        "the check request failed: openai refused the API key (HTTP 401); nothing was saved";
    agent(
        &mut chat,
        IpcMessage::Error(aios_common::ipc::ErrorReply {
            request_id: Some(req.request_id),
            code: aios_common::ipc::ErrorCode::Setup,
            message: refusal.into(),
        }),
    );
    assert!(shows(&chat, refusal), "the agent's reason, in the welcome");
    keep_picture(&chat, "first-run");
    assert!(
        shows(&chat, "Check and save"),
        "and the person can try again"
    );

    drive(&mut chat, |ui| {
        ui.click("Check and save").expect("the button");
    });
    let out = sent(&mut rx);
    let [IpcMessage::SetupRequest(again)] = out.as_slice() else {
        panic!("one setup request expected: {out:?}");
    };
    agent(
        &mut chat,
        IpcMessage::SetupReply(aios_common::ipc::SetupReply {
            request_id: again.request_id,
            provider: "openai".into(),
            model: Some("gpt-4o-mini".into()),
            saved_to: "/home/ada/.config/aios/agent.toml".into(),
        }),
    );
    assert!(
        !shows(&chat, "Welcome to AIOS."),
        "set up: the welcome goes"
    );
    assert!(shows(
        &chat,
        "Saved in ~/.config/aios/agent.toml: AIOS answers with openai (gpt-4o-mini) from now on."
    ));
    assert!(shows(&chat, "openai · gpt-4o-mini"), "the header names it");
}

/// Draws the window as Iced's renderer does on the screen (tiny-skia) and keeps the
/// picture as `docs/screenshots/NAME.png` when `make screenshots` asks.
fn keep_picture(chat: &Chat, name: &str) {
    let Some(out) = std::env::var_os("AIOS_SCREENSHOTS") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ui =
        iced_test::Simulator::with_size(iced::Settings::default(), (760.0, 720.0), chat.view());
    let shot = ui.snapshot(&iced::Theme::Dark).expect("draw the window");
    assert!(shot.matches_image(dir.path().join(name)).expect("write"));
    // Iced adds the renderer's name to the file name.
    let drawn = std::fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .next()
        .expect("the picture")
        .path();
    std::fs::copy(
        drawn,
        std::path::Path::new(&out).join(format!("{name}.png")),
    )
    .expect("keep the picture");
}
