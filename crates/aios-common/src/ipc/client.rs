//! The client side of the protocol, with the reconnect rule of the spec: retry every
//! 500 ms, up to 10 attempts, then say that the agent is not running.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::UnixStream;
use tokio_util::codec::Framed;
use tracing::debug;
use uuid::Uuid;

use crate::types::{ChatMessage, ToolCall};

use super::{
    ChatRequest, ClientKind, CodecError, ConfirmPendingEvent, DEFAULT_MAX_FRAME, ErrorReply, Hello,
    HistoryRequest, IpcMessage, MessageCodec, NewConversationRequest, PROTOCOL_VERSION, Ping,
    StatusReply, StatusRequest, ToolResultEvent, Welcome,
};

/// Something that happened during a chat turn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChatEvent<'a> {
    /// Reply text to append.
    Delta(&'a str),
    /// The model called a tool.
    ToolCall(&'a ToolCall),
    /// The call waits for the person's answer in the confirmation dialog.
    ConfirmPending(&'a ConfirmPendingEvent),
    /// A tool finished (or was refused): how, and the result.
    ToolResult(&'a ToolResultEvent),
}

/// How hard to try before giving up on the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Pause between attempts.
    pub interval: Duration,
    /// Attempts in all (at least 1).
    pub attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(500),
            attempts: 10,
        }
    }
}

/// What can go wrong talking to the agent.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody answered on the socket.
    #[error(
        "aios-agent is not running: nothing answers on {path} after {attempts} attempt(s) ({last}); start it with `make run` or `aios-agent &`"
    )]
    NotRunning {
        /// The socket path tried.
        path: PathBuf,
        /// Attempts made.
        attempts: u32,
        /// The last connect error.
        last: std::io::Error,
    },
    /// The agent refused the connection (version, permission).
    #[error("aios-agent refused the connection: {0}")]
    Rejected(ErrorReply),
    /// The agent answered a request with an error.
    #[error("aios-agent: {0}")]
    Agent(ErrorReply),
    /// The connection ended in the middle of a request.
    #[error("aios-agent closed the connection before answering; it may have restarted, try again")]
    Disconnected,
    /// The agent sent something this client cannot use.
    #[error("unexpected {0} message from aios-agent")]
    Unexpected(&'static str),
    /// The socket belongs to a process of another user: it could answer in the
    /// agent's place (a custom socket path in a shared folder), so nothing is sent.
    #[error(
        "refusing to talk to {path}: it is served by uid {uid}, not by you (uid {me}); check the socket path (`--socket`, AIOS_SOCKET, `socket_path`)"
    )]
    ForeignServer {
        /// The socket path.
        path: PathBuf,
        /// The server's uid.
        uid: u32,
        /// Ours.
        me: u32,
    },
    /// The agent sent nothing for the client's idle timeout.
    #[error(
        "aios-agent sent nothing for {secs} s; it may be stuck (check its log) or busy with a long answer (raise the wait with --timeout)"
    )]
    Timeout {
        /// The idle timeout.
        secs: u64,
    },
    /// Framing or socket failure.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Codec(CodecError::Io(e))
    }
}

type Conn = Framed<UnixStream, MessageCodec>;

/// A live connection to the agent, after the hello: a stream of [`IpcMessage`]s and a
/// sink for them (split it to read and write at once).
pub type Connection = Conn;

/// A connection to the agent that reconnects by itself.
///
/// A request that fails because the agent went away is sent again once on a new
/// connection when that is safe (`status`, `ping`); a chat turn interrupted mid-reply
/// reports [`ClientError::Disconnected`] and the next call reconnects.
#[derive(Debug)]
pub struct IpcClient {
    path: PathBuf,
    kind: ClientKind,
    retry: RetryPolicy,
    max_frame: usize,
    /// Longest wait for the next message from the agent.
    idle_timeout: Duration,
    conn: Option<Conn>,
    welcome: Option<Welcome>,
}

/// How long a client waits for the agent's next message by default: longer than the
/// slowest turn step (a cold model start, a confirmation's 60 s, a tool's 120 s).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

impl IpcClient {
    /// A client for the socket at `path`; nothing is connected yet.
    pub fn new(path: impl Into<PathBuf>, kind: ClientKind) -> Self {
        Self {
            path: path.into(),
            kind,
            retry: RetryPolicy::default(),
            max_frame: DEFAULT_MAX_FRAME,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            conn: None,
            welcome: None,
        }
    }

    /// Replaces the idle timeout: the longest wait for the agent's next message.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    /// Replaces the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The agent's `welcome` from the current connection, if connected.
    pub fn welcome(&self) -> Option<&Welcome> {
        self.welcome.as_ref()
    }

    /// Connects (with retries) unless already connected.
    pub async fn connect(&mut self) -> Result<&Welcome, ClientError> {
        if self.conn.is_none() {
            let (conn, welcome) = self.dial().await?;
            self.conn = Some(conn);
            self.welcome = Some(welcome);
        }
        self.welcome.as_ref().ok_or(ClientError::Disconnected)
    }

    /// Hands the live connection over to a long-lived event loop that reads and
    /// writes at once (a window's subscription); the client is left disconnected.
    pub fn take_connection(&mut self) -> Option<Connection> {
        self.welcome = None;
        self.conn.take()
    }

    /// Drops the current connection; the next call reconnects.
    pub fn disconnect(&mut self) {
        self.conn = None;
        self.welcome = None;
    }

    async fn dial(&self) -> Result<(Conn, Welcome), ClientError> {
        let attempts = self.retry.attempts.max(1);
        let mut attempt = 0;
        let stream = loop {
            attempt += 1;
            match UnixStream::connect(&self.path).await {
                Ok(s) => break s,
                Err(e)
                    if attempt < attempts
                        && matches!(
                            e.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                        ) =>
                {
                    debug!(attempt, error = %e, "agent not reachable yet; retrying");
                    tokio::time::sleep(self.retry.interval).await;
                }
                Err(last) => {
                    return Err(ClientError::NotRunning {
                        path: self.path.clone(),
                        attempts: attempt,
                        last,
                    });
                }
            }
        };
        // Before a byte is sent: the server must be ours (the kernel says who it is).
        check_server(
            &self.path,
            stream.peer_cred()?.uid(),
            nix::unistd::getuid().as_raw(),
        )?;
        let mut conn = Framed::new(stream, MessageCodec::new(self.max_frame));
        let sent = conn
            .send(IpcMessage::Hello(Hello {
                protocol_version: PROTOCOL_VERSION,
                client_kind: self.kind,
            }))
            .await;
        // An agent that refuses us (another uid) answers and hangs up at once, so our
        // hello may hit a closed socket: its error frame is still there to read.
        match (conn.next().await, sent) {
            (Some(Ok(IpcMessage::Error(e))), _) => Err(ClientError::Rejected(e)),
            (_, Err(e)) => Err(e.into()),
            (Some(Ok(IpcMessage::Welcome(w))), Ok(())) => Ok((conn, w)),
            (Some(Ok(other)), Ok(())) => Err(ClientError::Unexpected(other.type_name())),
            (Some(Err(e)), Ok(())) => Err(e.into()),
            (None, Ok(())) => Err(ClientError::Disconnected),
        }
    }

    /// Sends one message, reconnecting once if the agent went away since the last call.
    pub async fn send(&mut self, msg: &IpcMessage) -> Result<(), ClientError> {
        self.connect().await?;
        if let Some(conn) = self.conn.as_mut() {
            match conn.send(msg).await {
                Ok(()) => return Ok(()),
                Err(CodecError::Io(e)) => {
                    debug!(error = %e, "send failed; reconnecting");
                    self.disconnect();
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.connect().await?;
        let conn = self.conn.as_mut().ok_or(ClientError::Disconnected)?;
        conn.send(msg).await.map_err(Into::into)
    }

    /// Waits for the next message from the agent. On end of stream or a socket error
    /// the connection is dropped (the next call reconnects).
    pub async fn recv(&mut self) -> Result<IpcMessage, ClientError> {
        let conn = self.conn.as_mut().ok_or(ClientError::Disconnected)?;
        let Ok(next) = tokio::time::timeout(self.idle_timeout, conn.next()).await else {
            // A reply that comes later would answer the wrong question: start over.
            self.disconnect();
            return Err(ClientError::Timeout {
                secs: self.idle_timeout.as_secs(),
            });
        };
        match next {
            Some(Ok(msg)) => Ok(msg),
            Some(Err(e)) => {
                self.disconnect();
                Err(e.into())
            }
            None => {
                self.disconnect();
                Err(ClientError::Disconnected)
            }
        }
    }

    /// Asks for the agent's status; retried once on a fresh connection if the old one
    /// broke, since asking twice is harmless.
    pub async fn status(&mut self) -> Result<StatusReply, ClientError> {
        match self.status_once().await {
            Err(ClientError::Disconnected | ClientError::Codec(CodecError::Io(_))) => {
                self.status_once().await
            }
            other => other,
        }
    }

    async fn status_once(&mut self) -> Result<StatusReply, ClientError> {
        let request_id = Uuid::new_v4();
        self.send(&IpcMessage::StatusRequest(StatusRequest { request_id }))
            .await?;
        loop {
            match self.recv().await? {
                IpcMessage::StatusReply(r) if r.request_id == request_id => return Ok(r),
                IpcMessage::Error(e)
                    if e.request_id == Some(request_id) || e.request_id.is_none() =>
                {
                    return Err(ClientError::Agent(e));
                }
                // Events for other requests (e.g. a turn still streaming) are skipped.
                _ => {}
            }
        }
    }

    /// Round trip of a `ping`; returns when the matching `pong` arrives.
    pub async fn ping(&mut self, seq: u64) -> Result<(), ClientError> {
        self.send(&IpcMessage::Ping(Ping { seq })).await?;
        loop {
            match self.recv().await? {
                IpcMessage::Pong(p) if p.seq == seq => return Ok(()),
                IpcMessage::Error(e) => return Err(ClientError::Agent(e)),
                _ => {}
            }
        }
    }

    /// Sends a chat message and calls `on_delta` for each streamed piece of the
    /// reply; returns the whole reply.
    pub async fn chat(
        &mut self,
        content: &str,
        mut on_delta: impl FnMut(&str),
    ) -> Result<String, ClientError> {
        self.chat_events(content, |ev| {
            if let ChatEvent::Delta(d) = ev {
                on_delta(d);
            }
        })
        .await
    }

    /// Like [`IpcClient::chat`], also reporting the turn's tool calls and results.
    pub async fn chat_events(
        &mut self,
        content: &str,
        mut on_event: impl FnMut(ChatEvent<'_>),
    ) -> Result<String, ClientError> {
        let request_id = Uuid::new_v4();
        self.send(&IpcMessage::ChatRequest(ChatRequest {
            request_id,
            content: content.to_owned(),
            spoken: false,
        }))
        .await?;
        let mut reply = String::new();
        loop {
            match self.recv().await? {
                IpcMessage::ToolCall(t) if t.request_id == request_id => {
                    on_event(ChatEvent::ToolCall(&t.call))
                }
                IpcMessage::ConfirmPending(p) if p.request_id == request_id => {
                    on_event(ChatEvent::ConfirmPending(&p));
                }
                IpcMessage::ToolResult(t) if t.request_id == request_id => {
                    on_event(ChatEvent::ToolResult(&t));
                }
                IpcMessage::StreamChunk(c) if c.request_id == request_id => {
                    on_event(ChatEvent::Delta(&c.delta));
                    reply.push_str(&c.delta);
                    if c.done {
                        return Ok(reply);
                    }
                }
                IpcMessage::Error(e)
                    if e.request_id == Some(request_id) || e.request_id.is_none() =>
                {
                    return Err(ClientError::Agent(e));
                }
                _ => {}
            }
        }
    }

    /// Starts a new conversation (after a turn this connection asked for ends).
    pub async fn new_conversation(&mut self) -> Result<(), ClientError> {
        let request_id = Uuid::new_v4();
        self.send(&IpcMessage::NewConversation(NewConversationRequest {
            request_id,
        }))
        .await?;
        loop {
            match self.recv().await? {
                IpcMessage::ConversationStarted(r) if r.request_id == request_id => return Ok(()),
                IpcMessage::Error(e)
                    if e.request_id == Some(request_id) || e.request_id.is_none() =>
                {
                    return Err(ClientError::Agent(e));
                }
                _ => {}
            }
        }
    }

    /// The newest `limit` history messages, oldest first.
    pub async fn history(&mut self, limit: u32) -> Result<Vec<ChatMessage>, ClientError> {
        let request_id = Uuid::new_v4();
        self.send(&IpcMessage::HistoryRequest(HistoryRequest {
            request_id,
            limit,
        }))
        .await?;
        loop {
            match self.recv().await? {
                IpcMessage::HistoryReply(r) if r.request_id == request_id => return Ok(r.messages),
                IpcMessage::Error(e)
                    if e.request_id == Some(request_id) || e.request_id.is_none() =>
                {
                    return Err(ClientError::Agent(e));
                }
                _ => {}
            }
        }
    }
}

/// The client's half of the uid rule: the process serving `path` (`server_uid`, from
/// the kernel's `SO_PEERCRED`) must be the user the client runs as (`me`); anyone
/// else could answer in the agent's place on a socket in a shared folder.
pub fn check_server(path: &Path, server_uid: u32, me: u32) -> Result<(), ClientError> {
    if server_uid == me {
        Ok(())
    } else {
        Err(ClientError::ForeignServer {
            path: path.to_owned(),
            uid: server_uid,
            me,
        })
    }
}
