//! Golden wire format: every message type, serialised byte for byte. A change here is
//! a protocol change: bump `PROTOCOL_VERSION` unless old peers still understand it.

use chrono::{TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::types::*;

fn id() -> Uuid {
    Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef)
}

fn golden(msg: IpcMessage, expected: &str) {
    let text = serde_json::to_string(&msg).expect("serialise");
    assert_eq!(text, expected, "wire format of {} changed", msg.type_name());
    let back = decode_message(expected.as_bytes()).expect("golden text decodes");
    assert_eq!(back, msg);
    assert!(MESSAGE_TYPES.contains(&msg.type_name()));
}

const ID: &str = "01234567-89ab-cdef-0123-456789abcdef";

#[test]
fn hello_and_welcome() {
    golden(
        IpcMessage::Hello(Hello {
            protocol_version: 1,
            client_kind: ClientKind::Chat,
        }),
        r#"{"type":"hello","protocol_version":1,"client_kind":"chat"}"#,
    );
    golden(
        IpcMessage::Welcome(Welcome {
            protocol_version: 1,
            agent_version: "0.1.0".into(),
            max_frame: 1_048_576,
        }),
        r#"{"type":"welcome","protocol_version":1,"agent_version":"0.1.0","max_frame":1048576}"#,
    );
}

#[test]
fn ping_pong_status() {
    golden(
        IpcMessage::Ping(Ping { seq: 7 }),
        r#"{"type":"ping","seq":7}"#,
    );
    golden(
        IpcMessage::Pong(Ping { seq: 7 }),
        r#"{"type":"pong","seq":7}"#,
    );
    golden(
        IpcMessage::StatusRequest(StatusRequest { request_id: id() }),
        &format!(r#"{{"type":"status_request","request_id":"{ID}"}}"#),
    );
    golden(
        IpcMessage::StatusReply(StatusReply {
            request_id: id(),
            agent_version: "0.1.0".into(),
            protocol_version: 1,
            provider: "local".into(),
            model: Some("qwen2.5-coder-0.5b".into()),
            uptime_ms: 1500,
            clients: 2,
            configured: false,
        }),
        &format!(
            r#"{{"type":"status_reply","request_id":"{ID}","agent_version":"0.1.0","protocol_version":1,"provider":"local","model":"qwen2.5-coder-0.5b","uptime_ms":1500,"clients":2,"configured":false}}"#
        ),
    );
}

#[test]
fn chat_and_stream() {
    golden(
        IpcMessage::ChatRequest(ChatRequest {
            request_id: id(),
            content: "list my downloads".into(),
            spoken: false,
        }),
        &format!(r#"{{"type":"chat_request","request_id":"{ID}","content":"list my downloads"}}"#),
    );
    golden(
        IpcMessage::StreamChunk(StreamChunk {
            request_id: id(),
            delta: "Here ".into(),
            done: false,
        }),
        &format!(r#"{{"type":"stream_chunk","request_id":"{ID}","delta":"Here ","done":false}}"#),
    );
}

#[test]
fn history() {
    golden(
        IpcMessage::HistoryRequest(HistoryRequest {
            request_id: id(),
            limit: 20,
        }),
        &format!(r#"{{"type":"history_request","request_id":"{ID}","limit":20}}"#),
    );
    let ts = Utc
        .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .expect("valid date");
    golden(
        IpcMessage::HistoryReply(HistoryReply {
            request_id: id(),
            messages: vec![ChatMessage {
                role: Role::User,
                content: "hi".into(),
                trust_level: TrustLevel::User,
                timestamp: ts,
            }],
        }),
        &format!(
            r#"{{"type":"history_reply","request_id":"{ID}","messages":[{{"role":"user","content":"hi","trust_level":"User","timestamp":"2026-11-25T12:00:00Z"}}]}}"#
        ),
    );
}

#[test]
fn new_conversation() {
    golden(
        IpcMessage::NewConversation(NewConversationRequest { request_id: id() }),
        &format!(r#"{{"type":"new_conversation","request_id":"{ID}"}}"#),
    );
    golden(
        IpcMessage::ConversationStarted(ConversationStarted { request_id: id() }),
        &format!(r#"{{"type":"conversation_started","request_id":"{ID}"}}"#),
    );
}

#[test]
fn setup() {
    golden(
        IpcMessage::SetupRequest(SetupRequest {
            request_id: id(),
            provider: crate::config::ProviderKind::Openai,
            api_key: crate::config::ApiKey::new("sk-test"),
            base_url: String::new(),
            model: "gpt-4o-mini".into(),
        }),
        &format!(
            r#"{{"type":"setup_request","request_id":"{ID}","provider":"openai","api_key":"sk-test","model":"gpt-4o-mini"}}"#
        ),
    );
    // Keeping the local model needs nothing else.
    golden(
        IpcMessage::SetupRequest(SetupRequest {
            request_id: id(),
            provider: crate::config::ProviderKind::Local,
            api_key: crate::config::ApiKey::default(),
            base_url: String::new(),
            model: String::new(),
        }),
        &format!(r#"{{"type":"setup_request","request_id":"{ID}","provider":"local"}}"#),
    );
    golden(
        IpcMessage::SetupReply(SetupReply {
            request_id: id(),
            provider: "openai".into(),
            model: Some("gpt-4o-mini".into()),
            saved_to: "/home/user/.config/aios/agent.toml".into(),
        }),
        &format!(
            r#"{{"type":"setup_reply","request_id":"{ID}","provider":"openai","model":"gpt-4o-mini","saved_to":"/home/user/.config/aios/agent.toml"}}"#
        ),
    );
    golden(
        IpcMessage::Error(ErrorReply {
            request_id: Some(id()),
            code: ErrorCode::Setup,
            message: "openai refused the key".into(),
        }),
        &format!(
            r#"{{"type":"error","request_id":"{ID}","code":"setup","message":"openai refused the key"}}"#
        ),
    );
}

#[test]
fn tool_events() {
    let call = ToolCall {
        id: "call_1".into(),
        name: "file_list".into(),
        arguments: json!({"path": "/home/user/Downloads"}),
    };
    golden(
        IpcMessage::ToolCall(ToolCallEvent {
            request_id: id(),
            call: call.clone(),
        }),
        &format!(
            r#"{{"type":"tool_call","request_id":"{ID}","call":{{"id":"call_1","name":"file_list","arguments":{{"path":"/home/user/Downloads"}}}}}}"#
        ),
    );
    golden(
        IpcMessage::ConfirmPending(ConfirmPendingEvent {
            request_id: id(),
            call_id: "call_1".into(),
            requirement: TrustRequirement::DoubleConfirm,
            timeout_secs: 60,
        }),
        &format!(
            r#"{{"type":"confirm_pending","request_id":"{ID}","call_id":"call_1","requirement":"DoubleConfirm","timeout_secs":60}}"#
        ),
    );
    golden(
        IpcMessage::ToolResult(ToolResultEvent {
            request_id: id(),
            status: ToolStatus::Ok,
            result: ToolResult {
                call_id: "call_1".into(),
                content: "a.txt\nb.pdf".into(),
                is_error: false,
            },
        }),
        &format!(
            r#"{{"type":"tool_result","request_id":"{ID}","status":"ok","result":{{"call_id":"call_1","content":"a.txt\nb.pdf","is_error":false}}}}"#
        ),
    );
    for (status, wire) in [
        (ToolStatus::Failed, "failed"),
        (ToolStatus::Denied, "denied"),
        (ToolStatus::TimedOut, "timed_out"),
        (ToolStatus::Cancelled, "cancelled"),
    ] {
        assert_eq!(serde_json::to_value(status).expect("status"), json!(wire));
    }
}

#[test]
fn errors() {
    golden(
        IpcMessage::Error(ErrorReply::new(ErrorCode::FrameTooLarge, "too big")),
        r#"{"type":"error","code":"frame_too_large","message":"too big"}"#,
    );
    golden(
        IpcMessage::Error(ErrorReply {
            request_id: Some(id()),
            code: ErrorCode::Forbidden,
            message: "no".into(),
        }),
        &format!(r#"{{"type":"error","request_id":"{ID}","code":"forbidden","message":"no"}}"#),
    );
    let codes = [
        (ErrorCode::FrameTooLarge, "frame_too_large"),
        (ErrorCode::TruncatedFrame, "truncated_frame"),
        (ErrorCode::InvalidUtf8, "invalid_utf8"),
        (ErrorCode::InvalidJson, "invalid_json"),
        (ErrorCode::UnknownMessageType, "unknown_message_type"),
        (ErrorCode::InvalidMessage, "invalid_message"),
        (ErrorCode::HelloRequired, "hello_required"),
        (ErrorCode::VersionMismatch, "version_mismatch"),
        (ErrorCode::PermissionDenied, "permission_denied"),
        (ErrorCode::Forbidden, "forbidden"),
        (ErrorCode::Provider, "provider"),
        (ErrorCode::History, "history"),
        (ErrorCode::Internal, "internal"),
        (ErrorCode::Voice, "voice"),
        (ErrorCode::Busy, "busy"),
    ];
    for (code, text) in codes {
        assert_eq!(serde_json::to_value(code).expect("code"), json!(text));
    }
}

#[test]
fn chat_message_and_audit_entry() {
    let ts = Utc
        .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .expect("valid date");
    let m = ChatMessage {
        role: Role::User,
        content: "hi".into(),
        trust_level: TrustLevel::User,
        timestamp: ts,
    };
    let text = serde_json::to_string(&m).expect("serialise");
    assert_eq!(
        text,
        r#"{"role":"user","content":"hi","trust_level":"User","timestamp":"2026-11-25T12:00:00Z"}"#
    );
    assert_eq!(
        serde_json::from_str::<ChatMessage>(&text).expect("parse"),
        m
    );

    let e = AuditEntry {
        seq: 0,
        ts,
        call_id: "call_1".into(),
        action: "file_write".into(),
        args: json!({"path": "/tmp/x"}),
        trust: TrustLevel::WebContent,
        source: Some("/home/user/notes.txt".into()),
        approved: true,
        result: "ok".into(),
        prev_hash: String::new(),
        hash: "ab".into(),
    };
    let text = serde_json::to_string(&e).expect("serialise");
    assert_eq!(
        text,
        r#"{"seq":0,"ts":"2026-11-25T12:00:00Z","call_id":"call_1","action":"file_write","args":{"path":"/tmp/x"},"trust":"WebContent","source":"/home/user/notes.txt","approved":true,"result":"ok","prev_hash":"","hash":"ab"}"#
    );
    for level in ["User", "System", "WebContent", "Memory"] {
        let parsed: TrustLevel = serde_json::from_value(json!(level)).expect("trust level");
        assert_eq!(serde_json::to_value(parsed).expect("back"), json!(level));
    }
}

#[test]
fn voice() {
    golden(
        IpcMessage::ChatRequest(ChatRequest {
            request_id: id(),
            content: "volume up".into(),
            spoken: true,
        }),
        &format!(
            r#"{{"type":"chat_request","request_id":"{ID}","content":"volume up","spoken":true}}"#
        ),
    );
    golden(
        IpcMessage::PttStart(PttRequest { request_id: id() }),
        &format!(r#"{{"type":"ptt_start","request_id":"{ID}"}}"#),
    );
    golden(
        IpcMessage::PttStop(PttRequest { request_id: id() }),
        &format!(r#"{{"type":"ptt_stop","request_id":"{ID}"}}"#),
    );
    golden(
        IpcMessage::VoiceMode(VoiceModeRequest {
            request_id: id(),
            hands_free: true,
        }),
        &format!(r#"{{"type":"voice_mode","request_id":"{ID}","hands_free":true}}"#),
    );
    golden(
        IpcMessage::ListenRequest(ListenRequest {
            request_id: id(),
            wav: "/tmp/cmd.wav".into(),
            out: Some("/tmp/reply.wav".into()),
            realtime: false,
        }),
        &format!(
            r#"{{"type":"listen_request","request_id":"{ID}","wav":"/tmp/cmd.wav","out":"/tmp/reply.wav"}}"#
        ),
    );
    golden(
        IpcMessage::ListenReply(ListenReply {
            request_id: id(),
            transcript: "what time is it".into(),
            reply: "It is noon.".into(),
            spoken: "It is noon.".into(),
            timings: VoiceTimings {
                audio_s: 2.5,
                vad_ms: 3,
                stt_ms: 280,
                first_text_ms: 400,
                turn_ms: 900,
                first_audio_ms: 520,
            },
        }),
        &format!(
            r#"{{"type":"listen_reply","request_id":"{ID}","transcript":"what time is it","reply":"It is noon.","spoken":"It is noon.","timings":{{"audio_s":2.5,"vad_ms":3,"stt_ms":280,"first_text_ms":400,"turn_ms":900,"first_audio_ms":520}}}}"#
        ),
    );
    golden(
        IpcMessage::Transcript(TranscriptEvent {
            kind: TranscriptKind::Partial,
            text: "what time".into(),
            request_id: None,
        }),
        r#"{"type":"transcript","kind":"partial","text":"what time"}"#,
    );
    golden(
        IpcMessage::Transcript(TranscriptEvent {
            kind: TranscriptKind::Final,
            text: "what time is it".into(),
            request_id: Some(id()),
        }),
        &format!(
            r#"{{"type":"transcript","kind":"final","text":"what time is it","request_id":"{ID}"}}"#
        ),
    );
    golden(
        IpcMessage::VoiceState(VoiceStateEvent {
            state: VoiceState::Listening,
            hands_free: false,
        }),
        r#"{"type":"voice_state","state":"listening","hands_free":false}"#,
    );
    golden(
        IpcMessage::InputLevel(InputLevelEvent { level: 0.5 }),
        r#"{"type":"input_level","level":0.5}"#,
    );
}

#[test]
fn outside_programs_list_and_run_tools() {
    golden(
        IpcMessage::Hello(Hello {
            protocol_version: 6,
            client_kind: ClientKind::Mcp,
        }),
        r#"{"type":"hello","protocol_version":6,"client_kind":"mcp"}"#,
    );
    golden(
        IpcMessage::ToolsRequest(ToolsRequest { request_id: id() }),
        &format!(r#"{{"type":"tools_request","request_id":"{ID}"}}"#),
    );
    golden(
        IpcMessage::ToolsReply(ToolsReply {
            request_id: id(),
            tools: vec![ToolDefinition {
                name: "file_list".into(),
                description: "List a folder.".into(),
                parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
            }],
            read_only: vec!["file_list".into()],
        }),
        &format!(
            r#"{{"type":"tools_reply","request_id":"{ID}","tools":[{{"name":"file_list","description":"List a folder.","parameters":{{"type":"object","properties":{{"path":{{"type":"string"}}}}}}}}],"read_only":["file_list"]}}"#
        ),
    );
    golden(
        IpcMessage::ToolRun(ToolRunRequest {
            request_id: id(),
            call: ToolCall {
                id: "mcp-1".into(),
                name: "file_delete".into(),
                arguments: json!({"path": "~/notes.txt"}),
            },
        }),
        &format!(
            r#"{{"type":"tool_run","request_id":"{ID}","call":{{"id":"mcp-1","name":"file_delete","arguments":{{"path":"~/notes.txt"}}}}}}"#
        ),
    );
}
