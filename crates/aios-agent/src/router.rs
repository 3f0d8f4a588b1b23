//! Routes each message type to its handler.

use std::sync::Arc;

use aios_common::ipc::server::{ClientHandle, Handler};
use aios_common::ipc::{
    ChatRequest, ClientKind, ConversationStarted, ErrorCode, ErrorReply, HistoryReply, IpcMessage,
    PROTOCOL_VERSION, StatusReply, ToolsReply,
};
use aios_common::types::ChatMessage;
use aios_memory::StoredMessage;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::state::AgentState;
use crate::turn;

/// Chat turns one client may queue while one is running.
const TURN_QUEUE: usize = 16;
/// Most messages one history request may ask for.
const HISTORY_MAX: usize = 1000;
/// Room a history reply's messages may take: a frame over the limit would close
/// the connection with no answer.
const HISTORY_REPLY_BYTES: usize = aios_common::ipc::DEFAULT_MAX_FRAME - 64 * 1024;
/// Longest message text in a history reply (the rest is cut and said so).
const HISTORY_MESSAGE_BYTES: usize = 16 * 1024;

/// The agent's [`Handler`]: answers control requests inline and runs each client's
/// chat turns one after another on a task of that client's own.
#[derive(Debug, Clone)]
pub struct Router {
    state: Arc<AgentState>,
}

/// What a connection's turn task does, in the order the client asked.
#[derive(Debug)]
enum Job {
    Chat(ChatRequest),
    /// `new_conversation`: after the turns asked before it.
    NewConversation(uuid::Uuid),
    /// First-run setup: its check request may take seconds; pings are answered
    /// meanwhile.
    Setup(aios_common::ipc::SetupRequest),
    /// An outside program's tool call (`aios mcp serve`).
    ToolRun(aios_common::ipc::ToolRunRequest),
}

/// Per-connection state: the queue feeding that client's turn task.
#[derive(Debug)]
pub struct Session {
    turns: mpsc::Sender<Job>,
    worker: JoinHandle<()>,
    events: JoinHandle<()>,
}

impl Router {
    /// A router over the shared state.
    pub fn new(state: Arc<AgentState>) -> Self {
        Self { state }
    }
}

impl Handler for Router {
    type Session = Session;

    fn open(&self, client: &ClientHandle) -> Session {
        self.state.client_opened();
        let (turns, mut rx) = mpsc::channel::<Job>(TURN_QUEUE);
        let self_client = client.clone();
        let client = client.clone();
        let state = self.state.clone();
        let worker = tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                match job {
                    Job::Chat(req) => turn::run(&state, &req, &client).await,
                    Job::NewConversation(request_id) => {
                        state.new_conversation().await;
                        let _ = client.send(IpcMessage::ConversationStarted(ConversationStarted {
                            request_id,
                        }));
                    }
                    Job::ToolRun(req) => crate::outside::run(&state, &req, &client).await,
                    Job::Setup(req) => {
                        let reply = match crate::setup::apply(&state, &req).await {
                            Ok(reply) => IpcMessage::SetupReply(reply),
                            Err(message) => refuse(Some(req.request_id), ErrorCode::Setup, message),
                        };
                        let _ = client.send(reply);
                    }
                }
                if client.is_closed() {
                    break;
                }
            }
        });
        // Events for every client (voice, spoken turns) follow on their own task;
        // not to an MCP bridge, which reads only while a call of its own runs and
        // has no business with the person's transcripts.
        let mut rx = self.state.subscribe();
        let to = self_client;
        let for_mcp = to.kind() == ClientKind::Mcp;
        let events = tokio::spawn(async move {
            if for_mcp {
                return;
            }
            loop {
                match rx.recv().await {
                    Ok(msg) => {
                        if to.send(msg).is_err() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        debug!(client = to.id(), missed = n, "client lagged on events");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        Session {
            turns,
            worker,
            events,
        }
    }

    async fn handle(&self, session: &mut Session, msg: IpcMessage, client: &ClientHandle) {
        // A send only fails when the client is already being dropped; nothing to do then.
        let _ = match msg {
            IpcMessage::Ping(p) => client.send(IpcMessage::Pong(p)),
            IpcMessage::StatusRequest(r) => client.send(IpcMessage::StatusReply(StatusReply {
                request_id: r.request_id,
                agent_version: env!("CARGO_PKG_VERSION").to_owned(),
                protocol_version: PROTOCOL_VERSION,
                provider: self.state.provider().name().to_owned(),
                model: self.state.provider().model(),
                uptime_ms: self.state.uptime_ms(),
                clients: self.state.clients(),
                configured: self.state.configured(),
            })),
            IpcMessage::SetupRequest(r) => {
                let request_id = r.request_id;
                debug!(%request_id, provider = r.provider.as_str(), "setup request");
                queue(session, Job::Setup(r), request_id, client).await
            }
            IpcMessage::ChatRequest(r) if client.kind() == ClientKind::Mcp => client.send(refuse(
                Some(r.request_id),
                ErrorCode::Forbidden,
                "an MCP bridge cannot start a turn: its words are not the person's".into(),
            )),
            IpcMessage::ChatRequest(req) => {
                let request_id = req.request_id;
                debug!(%request_id, chars = req.content.len(), "chat request");
                queue(session, Job::Chat(req), request_id, client).await
            }
            IpcMessage::ToolsRequest(r) => client.send(IpcMessage::ToolsReply(ToolsReply {
                request_id: r.request_id,
                tools: self.state.tools().registry().definitions(),
                read_only: self.state.tools().registry().read_only(),
            })),
            IpcMessage::ToolRun(r) if client.kind() != ClientKind::Mcp => client.send(refuse(
                Some(r.request_id),
                ErrorCode::Forbidden,
                "tool_run is for MCP bridges (client kind mcp, `aios mcp serve`)".into(),
            )),
            IpcMessage::ToolRun(r) => {
                let request_id = r.request_id;
                debug!(%request_id, tool = r.call.name.as_str(), "tool run");
                queue(session, Job::ToolRun(r), request_id, client).await
            }
            IpcMessage::NewConversation(r) => {
                queue(
                    session,
                    Job::NewConversation(r.request_id),
                    r.request_id,
                    client,
                )
                .await
            }
            IpcMessage::HistoryRequest(r) if r.limit as usize > HISTORY_MAX => client.send(refuse(
                Some(r.request_id),
                ErrorCode::History,
                format!(
                    "at most {HISTORY_MAX} messages per history request; {} were asked for",
                    r.limit
                ),
            )),
            IpcMessage::HistoryRequest(r) => {
                let reply = match self.state.history(r.limit as usize).await {
                    Ok(messages) => IpcMessage::HistoryReply(HistoryReply {
                        request_id: r.request_id,
                        messages: fit_reply(messages.iter().map(for_display).collect()),
                    }),
                    Err(message) => refuse(Some(r.request_id), ErrorCode::History, message),
                };
                client.send(reply)
            }
            IpcMessage::PttStart(r) | IpcMessage::PttStop(r) if self.state.voice().is_none() => {
                client.send(voice_off(r.request_id))
            }
            IpcMessage::PttStart(r) => {
                if let Some(v) = self.state.voice() {
                    v.ptt(true, r.request_id, client);
                }
                Ok(())
            }
            IpcMessage::PttStop(r) => {
                if let Some(v) = self.state.voice() {
                    v.ptt(false, r.request_id, client);
                }
                Ok(())
            }
            IpcMessage::VoiceMode(r) => match self.state.voice() {
                Some(v) => {
                    v.mode(r.hands_free, r.request_id, client);
                    Ok(())
                }
                None => client.send(voice_off(r.request_id)),
            },
            IpcMessage::ListenRequest(r) => match self.state.voice() {
                Some(v) => {
                    v.listen(r, client);
                    Ok(())
                }
                None => client.send(voice_off(r.request_id)),
            },
            IpcMessage::Hello(_) => client.send(refuse(
                None,
                ErrorCode::InvalidMessage,
                "hello was already received on this connection".into(),
            )),
            other @ (IpcMessage::Welcome(_)
            | IpcMessage::Pong(_)
            | IpcMessage::StatusReply(_)
            | IpcMessage::StreamChunk(_)
            | IpcMessage::HistoryReply(_)
            | IpcMessage::ConversationStarted(_)
            | IpcMessage::SetupReply(_)
            | IpcMessage::ToolCall(_)
            | IpcMessage::ConfirmPending(_)
            | IpcMessage::ToolResult(_)
            | IpcMessage::ListenReply(_)
            | IpcMessage::Transcript(_)
            | IpcMessage::VoiceState(_)
            | IpcMessage::InputLevel(_)
            | IpcMessage::ToolsReply(_)
            | IpcMessage::Error(_)) => client.send(refuse(
                None,
                ErrorCode::Forbidden,
                format!("{} is sent by the agent, not to it", other.type_name()),
            )),
        };
    }

    fn close(&self, session: Session, _client: &ClientHandle) {
        session.worker.abort();
        session.events.abort();
        self.state.client_closed();
    }
}

/// Queues `job` on this connection's turn task.
async fn queue(
    session: &Session,
    job: Job,
    request_id: uuid::Uuid,
    client: &ClientHandle,
) -> Result<(), aios_common::ipc::server::ClientGone> {
    // Waiting here (rather than refusing) is back-pressure on this one client: its
    // own pipelined requests wait, nobody else does.
    match session.turns.send(job).await {
        Ok(()) => Ok(()),
        Err(_) => client.send(refuse(
            Some(request_id),
            ErrorCode::Internal,
            "the turn task of this connection stopped; reconnect".into(),
        )),
    }
}

fn voice_off(request_id: uuid::Uuid) -> IpcMessage {
    refuse(
        Some(request_id),
        ErrorCode::Voice,
        "voice is turned off (`[voice] enabled = false` in agent.toml)".into(),
    )
}

fn refuse(request_id: Option<uuid::Uuid>, code: ErrorCode, message: String) -> IpcMessage {
    IpcMessage::Error(ErrorReply {
        request_id,
        code,
        message,
    })
}

/// A stored message as the history view shows it: tool calls spelled out.
/// `messages` (oldest first) cut to fit one reply frame: each text at most
/// `HISTORY_MESSAGE_BYTES`, then the oldest dropped while the whole is too large.
fn fit_reply(mut messages: Vec<ChatMessage>) -> Vec<ChatMessage> {
    for m in &mut messages {
        if m.content.len() > HISTORY_MESSAGE_BYTES {
            let mut end = HISTORY_MESSAGE_BYTES;
            while !m.content.is_char_boundary(end) {
                end -= 1;
            }
            let cut = m.content.len() - end;
            m.content.truncate(end);
            m.content
                .push_str(&format!("… ({cut} more bytes not shown)"));
        }
    }
    let size = |m: &ChatMessage| serde_json::to_vec(m).map_or(0, |v| v.len()) + 1;
    let mut total: usize = messages.iter().map(size).sum();
    let mut drop = 0;
    while total > HISTORY_REPLY_BYTES && drop < messages.len() {
        total -= size(&messages[drop]);
        drop += 1;
    }
    messages.split_off(drop)
}

fn for_display(m: &StoredMessage) -> ChatMessage {
    let mut content = m.content.clone();
    for c in &m.tool_calls {
        if !content.is_empty() {
            content.push('\n');
        }
        content.push_str(&format!("[tool call] {} {}", c.name, c.arguments));
    }
    if let Some(name) = &m.tool_name {
        content = format!(
            "[{name} result{}] {content}",
            if m.is_error { ", error" } else { "" }
        );
    }
    let mut chat = m.to_chat_message();
    chat.content = content;
    chat
}
