use aios_common::ipc::{
    ConversationStarted, ErrorCode, InputLevelEvent, StatusReply, VoiceStateEvent,
};
use aios_common::types::{ChatMessage, ToolCall, ToolResult, TrustLevel};
use serde_json::json;

use super::*;

fn chat() -> Conversation {
    Conversation::new(Some("/home/ada".into()))
}

fn chunk(id: Uuid, delta: &str, done: bool) -> IpcMessage {
    IpcMessage::StreamChunk(StreamChunk {
        request_id: id,
        delta: delta.into(),
        done,
    })
}

fn call(id: Uuid, call_id: &str, name: &str, args: serde_json::Value) -> IpcMessage {
    IpcMessage::ToolCall(ToolCallEvent {
        request_id: id,
        call: ToolCall {
            id: call_id.into(),
            name: name.into(),
            arguments: args,
        },
    })
}

fn result(id: Uuid, call_id: &str, status: ToolStatus, content: &str) -> IpcMessage {
    IpcMessage::ToolResult(ToolResultEvent {
        request_id: id,
        status,
        result: ToolResult {
            call_id: call_id.into(),
            content: content.into(),
            is_error: status != ToolStatus::Ok,
        },
    })
}

fn transcript(kind: TranscriptKind, text: &str, id: Option<Uuid>) -> IpcMessage {
    IpcMessage::Transcript(TranscriptEvent {
        kind,
        text: text.into(),
        request_id: id,
    })
}

fn voice(state: VoiceState) -> IpcMessage {
    IpcMessage::VoiceState(VoiceStateEvent {
        state,
        hands_free: false,
    })
}

fn bubbles(c: &Conversation) -> Vec<(Who, String, bool)> {
    c.items
        .iter()
        .filter_map(|i| match i {
            Item::Bubble(b) => Some((b.who, b.text.clone(), b.live)),
            _ => None,
        })
        .collect()
}

fn card(c: &Conversation, call_id: &str) -> ToolCard {
    c.items
        .iter()
        .find_map(|i| match i {
            Item::Tool(t) if t.call_id == call_id => Some(t.clone()),
            _ => None,
        })
        .expect("a card for the call")
}

#[test]
fn a_typed_message_is_sent_and_its_reply_streams_into_one_bubble() {
    let mut c = chat();
    assert_eq!(c.typed("   \n "), None, "blank text sends nothing");
    let req = c.typed("  list my downloads\n").expect("a request");
    assert_eq!(req.content, "list my downloads");
    assert!(!req.spoken);
    let id = req.request_id;
    for piece in ["Here ", "are **three** ", "files."] {
        c.apply(chunk(id, piece, false));
    }
    assert_eq!(
        bubbles(&c),
        vec![
            (Who::Person, "list my downloads".into(), false),
            (Who::Assistant, "Here are **three** files.".into(), true),
        ]
    );
    c.apply(chunk(id, "", true));
    assert!(!bubbles(&c)[1].2, "the reply is complete");
    // A chunk of another turn never lands in this bubble.
    c.apply(chunk(Uuid::new_v4(), "other", false));
    assert_eq!(bubbles(&c).len(), 3);
}

#[test]
fn a_tool_card_goes_through_every_state_in_place() {
    let mut c = chat();
    let id = c.typed("delete the old notes").expect("request").request_id;
    c.apply(call(
        id,
        "c1",
        "file_delete",
        json!({"path": "/home/ada/notes.txt"}),
    ));
    let t = card(&c, "c1");
    assert_eq!(t.headline(), "Calling file_delete ~/notes.txt");
    assert_eq!(t.tone(), Tone::Grey);

    c.apply(IpcMessage::ConfirmPending(ConfirmPendingEvent {
        request_id: id,
        call_id: "c1".into(),
        requirement: TrustRequirement::DoubleConfirm,
        timeout_secs: 60,
    }));
    let t = card(&c, "c1");
    assert_eq!(
        t.headline(),
        "Waiting for your confirmation (type DELETE): file_delete ~/notes.txt"
    );
    assert_eq!(t.tone(), Tone::Amber);

    c.apply(result(
        id,
        "c1",
        ToolStatus::Ok,
        "Deleted ~/notes.txt\n(12 bytes)",
    ));
    let t = card(&c, "c1");
    assert_eq!(t.headline(), "file_delete ~/notes.txt: Deleted ~/notes.txt");
    assert_eq!(t.tone(), Tone::Green);
    assert_eq!(t.details(), None, "collapsed to one line");
    c.toggle("c1");
    assert_eq!(
        card(&c, "c1").details(),
        Some("Deleted ~/notes.txt\n(12 bytes)")
    );
    // One card, updated in place.
    assert_eq!(
        c.items
            .iter()
            .filter(|i| matches!(i, Item::Tool(_)))
            .count(),
        1
    );
}

#[test]
fn refused_and_failed_calls_are_red_and_say_so() {
    let mut c = chat();
    let id = c.typed("do things").expect("request").request_id;
    for (n, (status, content)) in [
        (ToolStatus::Denied, "The person declined this action"),
        (ToolStatus::TimedOut, "no answer within 60 s"),
        (ToolStatus::Failed, "permission denied: /etc/shadow"),
        (ToolStatus::Cancelled, "the turn ended first"),
    ]
    .into_iter()
    .enumerate()
    {
        let call_id = format!("c{n}");
        c.apply(call(
            id,
            &call_id,
            "file_read",
            json!({"path": "/etc/shadow"}),
        ));
        c.apply(result(id, &call_id, status, content));
        let t = card(&c, &call_id);
        assert_eq!(t.tone(), Tone::Red, "{status:?}");
        let expected = match status {
            ToolStatus::Denied => "Denied: file_read /etc/shadow",
            ToolStatus::TimedOut => "Timed out: file_read /etc/shadow",
            ToolStatus::Failed => "Failed: permission denied: /etc/shadow",
            _ => "Cancelled: file_read /etc/shadow",
        };
        assert_eq!(t.headline(), expected);
    }
}

#[test]
fn text_after_a_tool_card_starts_a_new_bubble_below_it() {
    let mut c = chat();
    let id = c.typed("how full is my disk").expect("request").request_id;
    c.apply(chunk(id, "Checking.", false));
    c.apply(call(id, "c1", "system_info", json!({})));
    c.apply(result(id, "c1", ToolStatus::Ok, "Disk: 40% used"));
    c.apply(chunk(id, "Your disk is 40% full.", false));
    c.apply(chunk(id, "", true));
    let kinds: Vec<&str> = c
        .items
        .iter()
        .map(|i| match i {
            Item::Bubble(b) if b.who == Who::Person => "person",
            Item::Bubble(_) => "reply",
            Item::Tool(_) => "tool",
            Item::Notice(_) => "notice",
        })
        .collect();
    assert_eq!(kinds, ["person", "reply", "tool", "reply"]);
    assert_eq!(card(&c, "c1").headline(), "system_info: Disk: 40% used");
}

#[test]
fn model_text_in_a_tool_target_cannot_break_the_card_line() {
    let mut c = chat();
    let id = c.typed("x").expect("request").request_id;
    let sneaky = format!("/tmp/a\n\u{1b}[2JAllow? yes\u{202e}{}", "x".repeat(300));
    c.apply(call(id, "c1", "file_read", json!({ "path": sneaky })));
    let line = card(&c, "c1").headline();
    assert!(!line.contains('\n') && !line.contains('\u{1b}') && !line.contains('\u{202e}'));
    assert!(line.chars().count() < 120, "cut to fit: {line}");
    assert!(
        line.ends_with('x'),
        "the end of the target stays visible: {line}"
    );
    // Arguments with no usual target show compactly; secrets arrive redacted.
    c.apply(call(
        id,
        "c2",
        "wifi_connect",
        json!({"ssid": "Cafe", "password": "[redacted]"}),
    ));
    assert_eq!(card(&c, "c2").headline(), "Calling wifi_connect Cafe");
    c.apply(call(id, "c3", "brightness", json!({"level": 30})));
    assert_eq!(card(&c, "c3").headline(), "Calling brightness 30");
}

#[test]
fn partial_transcripts_show_live_and_the_final_replaces_them() {
    let mut c = chat();
    c.apply(voice(VoiceState::Listening));
    c.apply(IpcMessage::InputLevel(InputLevelEvent { level: 0.6 }));
    assert_eq!(c.level, 0.6);
    c.apply(transcript(TranscriptKind::Partial, "turn the", None));
    c.apply(transcript(TranscriptKind::Partial, "turn the volume", None));
    assert_eq!(
        bubbles(&c),
        vec![(Who::Person, "turn the volume".into(), true)]
    );
    let id = Uuid::new_v4();
    c.apply(voice(VoiceState::Transcribing));
    assert_eq!(c.level, 0.0, "the meter rests when not listening");
    c.apply(transcript(
        TranscriptKind::Final,
        "Turn the volume down.",
        Some(id),
    ));
    assert_eq!(
        bubbles(&c),
        vec![(Who::Person, "Turn the volume down.".into(), false)]
    );
    // The reply to a spoken request is spoken, and marked while it is.
    c.apply(chunk(id, "Volume set to 30.", false));
    c.apply(voice(VoiceState::Speaking));
    let speaking = c.speaking().expect("the reply is being spoken");
    assert!(speaking.spoken && speaking.text == "Volume set to 30.");
    c.apply(chunk(id, "", true));
    c.apply(voice(VoiceState::Idle));
    assert!(c.speaking().is_none());

    // Speech nobody understood leaves nothing behind.
    c.apply(transcript(TranscriptKind::Partial, "hm", None));
    c.apply(transcript(TranscriptKind::Final, "", None));
    assert_eq!(bubbles(&c).len(), 2);
}

#[test]
fn errors_end_the_turn_and_read_as_notices() {
    let mut c = chat();
    let id = c.typed("hello").expect("request").request_id;
    c.apply(chunk(id, "Hel", false));
    c.apply(IpcMessage::Error(ErrorReply {
        request_id: Some(id),
        code: ErrorCode::Provider,
        message: "the OpenAI key was refused (401); set it with `aios setup`".into(),
    }));
    assert!(!bubbles(&c)[1].2, "the broken reply no longer streams");
    assert_eq!(
        c.items.last(),
        Some(&Item::Notice(
            "the OpenAI key was refused (401); set it with `aios setup`".into()
        ))
    );
}

#[test]
fn a_turn_that_fails_mid_call_closes_its_card_and_ids_are_per_turn() {
    let mut c = chat();
    let first = c.typed("list downloads").expect("request").request_id;
    c.apply(call(
        first,
        "call_1_0",
        "file_list",
        json!({"path": "/home/ada"}),
    ));
    c.apply(result(first, "call_1_0", ToolStatus::Ok, "a.txt"));
    let second = c.typed("read it").expect("request").request_id;
    // The same call id in a later turn (the agent restarted) is another card.
    c.apply(call(
        second,
        "call_1_0",
        "file_read",
        json!({"path": "/home/ada/a.txt"}),
    ));
    c.apply(IpcMessage::Error(ErrorReply {
        request_id: Some(second),
        code: ErrorCode::Internal,
        message: "the agent failed while answering".into(),
    }));
    let cards: Vec<(String, CardState)> = c
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Tool(t) => Some((t.tool.clone(), t.state)),
            _ => None,
        })
        .collect();
    assert_eq!(
        cards,
        [
            ("file_list".to_owned(), CardState::Done),
            ("file_read".to_owned(), CardState::Failed)
        ]
    );
}

#[test]
fn losing_the_agent_closes_what_was_going_on() {
    let mut c = chat();
    c.apply(IpcMessage::Welcome(Welcome {
        protocol_version: aios_common::ipc::PROTOCOL_VERSION,
        agent_version: "0.1.0".into(),
        max_frame: 1 << 20,
    }));
    assert_eq!(
        c.link,
        Link::Online {
            agent_version: "0.1.0".into()
        }
    );
    let id = c.typed("read my notes").expect("request").request_id;
    c.apply(chunk(id, "Reading", false));
    c.apply(call(
        id,
        "c1",
        "file_read",
        json!({"path": "/home/ada/n.txt"}),
    ));
    c.disconnected("the agent is not running; start it with `make run`");
    assert_eq!(
        c.link,
        Link::Offline("the agent is not running; start it with `make run`".into())
    );
    assert_eq!(card(&c, "c1").state, CardState::Cancelled);
    assert!(bubbles(&c).iter().all(|b| !b.2));
}

#[test]
fn history_goes_above_and_status_names_the_model() {
    let mut c = chat();
    c.typed("new question").expect("request");
    let m = |role, text: &str| ChatMessage::now(role, text, TrustLevel::User);
    c.apply(IpcMessage::HistoryReply(HistoryReply {
        request_id: Uuid::new_v4(),
        messages: vec![
            m(Role::System, "system prompt"),
            m(Role::User, "old question"),
            m(Role::Tool, "tool output"),
            m(Role::Assistant, "old answer"),
        ],
    }));
    let texts: Vec<String> = bubbles(&c).into_iter().map(|b| b.1).collect();
    assert_eq!(texts, ["old question", "old answer", "new question"]);
    c.apply(IpcMessage::StatusReply(StatusReply {
        request_id: Uuid::new_v4(),
        agent_version: "0.1.0".into(),
        protocol_version: aios_common::ipc::PROTOCOL_VERSION,
        provider: "local".into(),
        model: Some("qwen2.5-coder-1.5b".into()),
        uptime_ms: 1,
        clients: 2,
        configured: true,
    }));
    assert_eq!(c.provider.as_deref(), Some("local"));
    assert_eq!(c.model.as_deref(), Some("qwen2.5-coder-1.5b"));
    c.apply(IpcMessage::ConversationStarted(ConversationStarted {
        request_id: Uuid::new_v4(),
    }));
    assert!(matches!(c.items.last(), Some(Item::Notice(n)) if n.starts_with("New conversation")));
}

#[test]
fn the_list_follows_new_text_until_the_person_scrolls_up() {
    let mut c = chat();
    assert!(c.follow);
    c.scrolled(false);
    assert!(!c.follow);
    c.scrolled(true);
    assert!(c.follow);
    c.scrolled(false);
    c.typed("hi").expect("request");
    assert!(c.follow, "sending a message goes back to the bottom");
}
