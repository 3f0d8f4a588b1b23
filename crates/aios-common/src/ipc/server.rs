//! The agent side of the protocol: socket setup, peer check, handshake, per-client
//! queues. What each request means is up to the [`Handler`].

use std::future::Future;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::{
    ClientKind, CodecError, DEFAULT_MAX_FRAME, ErrorCode, ErrorReply, IpcMessage, MessageCodec,
    PROTOCOL_VERSION, Welcome,
};

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Largest frame body accepted or sent.
    pub max_frame: usize,
    /// Outgoing frames queued per client before it counts as not reading.
    pub queue_capacity: usize,
    /// Outgoing bytes queued per client before it counts as not reading (frames
    /// can be large, so a frame count alone does not bound the memory).
    pub queue_bytes: usize,
    /// Most connections at once; one more is answered `busy` and closed.
    pub max_clients: usize,
    /// Time a new connection has to send its `hello`.
    pub handshake_timeout: Duration,
    /// Version reported in `welcome`.
    pub agent_version: String,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            queue_capacity: 1024,
            queue_bytes: 8 * 1024 * 1024,
            max_clients: 64,
            handshake_timeout: Duration::from_secs(5),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Another agent answers on the socket.
    #[error(
        "another aios-agent is already listening on {0}; stop it first (or set AIOS_SOCKET to another path)"
    )]
    AlreadyRunning(PathBuf),
    /// Something that is not a socket sits at the path.
    #[error(
        "{0} exists and is not a socket; refusing to remove it (move it away or set AIOS_SOCKET)"
    )]
    NotASocket(PathBuf),
    /// Binding or preparing the socket failed.
    #[error("cannot listen on {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What the agent does with requests. One `Session` lives per connection.
pub trait Handler: Send + Sync + 'static {
    /// Per-connection state, created after a successful handshake.
    type Session: Send + 'static;

    /// A client completed the handshake.
    fn open(&self, client: &ClientHandle) -> Self::Session;

    /// A request arrived. Calls for one connection are sequential, so a slow handler
    /// delays that client only; long work should be handed to a task.
    fn handle(
        &self,
        session: &mut Self::Session,
        msg: IpcMessage,
        client: &ClientHandle,
    ) -> impl Future<Output = ()> + Send;

    /// The connection ended (either side, or the client was dropped).
    fn close(&self, session: Self::Session, client: &ClientHandle);
}

/// The client's outgoing queue is full (it stopped reading) or it is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("client disconnected or not reading")]
pub struct ClientGone;

/// A cheap handle to one connected client, for sending it messages.
#[derive(Debug, Clone)]
pub struct ClientHandle {
    id: u64,
    kind: ClientKind,
    tx: mpsc::Sender<(IpcMessage, usize)>,
    cancel: CancellationToken,
    /// Bytes queued and not yet written, against `max_bytes`.
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
}

impl ClientHandle {
    /// Server-wide connection number.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// What the client said it is.
    pub fn kind(&self) -> ClientKind {
        self.kind
    }

    /// Queues a message without waiting. A full queue means the client stopped
    /// reading: it is disconnected so it cannot hold anyone else up.
    pub fn send(&self, msg: IpcMessage) -> Result<(), ClientGone> {
        // The JSON length: what the frame will take in the queue.
        let size = serde_json::to_vec(&msg).map_or(0, |v| v.len()) + 4;
        let before = self.queued.fetch_add(size, Ordering::AcqRel);
        if before + size > self.max_bytes {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            if !self.cancel.is_cancelled() {
                warn!(
                    client = self.id,
                    queued = before,
                    "client stopped reading; its queued bytes reached the limit, disconnecting it"
                );
                self.cancel.cancel();
            }
            return Err(ClientGone);
        }
        match self.tx.try_send((msg, size)) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.queued.fetch_sub(size, Ordering::AcqRel);
                self.refused(e)
            }
        }
    }

    fn refused(&self, e: mpsc::error::TrySendError<(IpcMessage, usize)>) -> Result<(), ClientGone> {
        match e {
            mpsc::error::TrySendError::Full(_) => {
                if !self.cancel.is_cancelled() {
                    warn!(
                        client = self.id,
                        "client stopped reading; its queue is full, disconnecting it"
                    );
                    self.cancel.cancel();
                }
                Err(ClientGone)
            }
            mpsc::error::TrySendError::Closed(_) => Err(ClientGone),
        }
    }

    /// Resolves when the connection is closing.
    pub async fn closed(&self) {
        self.cancel.cancelled().await;
    }

    /// True once the connection is closing.
    pub fn is_closed(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// Refuses a peer running as another user (checked with `SO_PEERCRED`).
pub fn check_peer(peer_uid: u32, own_uid: u32) -> Result<(), ErrorReply> {
    if peer_uid == own_uid {
        Ok(())
    } else {
        Err(ErrorReply::new(
            ErrorCode::PermissionDenied,
            format!("this agent serves uid {own_uid} only; peer runs as uid {peer_uid}"),
        ))
    }
}

/// A bound agent socket.
#[derive(Debug)]
pub struct IpcServer {
    listener: UnixListener,
    path: PathBuf,
    /// Inode of the socket we created, so we never delete someone else's.
    ino: u64,
    opts: Arc<ServerOptions>,
}

impl IpcServer {
    /// Binds `path` with mode 0600, replacing a stale socket. Needs a Tokio runtime.
    pub fn bind(path: &Path, opts: ServerOptions) -> Result<Self, ServerError> {
        let io_err = |source| ServerError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                match std::os::unix::net::UnixStream::connect(path) {
                    Ok(_) => return Err(ServerError::AlreadyRunning(path.to_owned())),
                    Err(_) => {
                        info!(path = %path.display(), "replacing stale socket");
                        std::fs::remove_file(path).map_err(io_err)?;
                    }
                }
            }
            Ok(_) => return Err(ServerError::NotASocket(path.to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let listener = UnixListener::bind(path).map_err(io_err)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_err)?;
        let ino = std::fs::metadata(path).map_err(io_err)?.ino();
        info!(path = %path.display(), "listening");
        Ok(Self {
            listener,
            path: path.to_owned(),
            ino,
            opts: Arc::new(opts),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts clients until `shutdown` resolves, then closes every connection and
    /// removes the socket file.
    pub async fn serve<H: Handler>(self, handler: Arc<H>, shutdown: impl Future<Output = ()>) {
        let own_uid = nix::unistd::getuid().as_raw();
        let stop = CancellationToken::new();
        let mut conns = tokio::task::JoinSet::new();
        let next_id = AtomicU64::new(1);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) if conns.len() >= self.opts.max_clients => {
                        // Refused with a reason, on a task of its own: a flood of
                        // connections must not hold up the accept loop.
                        warn!(max = self.opts.max_clients, "too many clients; refusing one");
                        let max_frame = self.opts.max_frame;
                        let max = self.opts.max_clients;
                        tokio::spawn(async move {
                            let mut w = FramedWrite::new(stream, MessageCodec::new(max_frame));
                            let _ = tokio::time::timeout(
                                Duration::from_secs(1),
                                w.send(IpcMessage::Error(ErrorReply::new(
                                    ErrorCode::Busy,
                                    format!("the agent already serves {max} clients; close one and try again"),
                                ))),
                            )
                            .await;
                        });
                    }
                    Ok((stream, _)) => {
                        let id = next_id.fetch_add(1, Ordering::Relaxed);
                        let conn = Connection {
                            id,
                            own_uid,
                            opts: self.opts.clone(),
                            cancel: stop.child_token(),
                        };
                        conns.spawn(
                            conn.run(stream, handler.clone())
                                .instrument(info_span!("client", id)),
                        );
                    }
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        info!("shutting down: closing {} connection(s)", conns.len());
        stop.cancel();
        while conns.join_next().await.is_some() {}
        self.remove_socket();
    }

    fn remove_socket(&self) {
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino);
        if ours {
            if let Err(e) = std::fs::remove_file(&self.path) {
                warn!(path = %self.path.display(), error = %e, "cannot remove socket");
            } else {
                info!(path = %self.path.display(), "socket removed");
            }
        }
    }
}

/// How long a closing connection may take to flush its queue.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

struct Connection {
    id: u64,
    own_uid: u32,
    opts: Arc<ServerOptions>,
    cancel: CancellationToken,
}

impl Connection {
    async fn run<H: Handler>(self, stream: UnixStream, handler: Arc<H>) {
        let peer_uid = match stream.peer_cred() {
            Ok(cred) => cred.uid(),
            Err(e) => {
                warn!(error = %e, "cannot read peer credentials; closing");
                return;
            }
        };
        let codec = MessageCodec::new(self.opts.max_frame);
        let (read, write) = stream.into_split();
        let mut reader = FramedRead::new(read, codec);
        let mut writer = FramedWrite::new(write, codec);

        if let Err(reply) = check_peer(peer_uid, self.own_uid) {
            warn!(peer_uid, "refused a peer running as another user");
            let _ = writer.send(IpcMessage::Error(reply)).await;
            return;
        }

        let kind = match self.handshake(&mut reader).await {
            Ok(kind) => kind,
            Err(reply) => {
                warn!(code = ?reply.code, "handshake failed: {}", reply.message);
                let _ = writer.send(IpcMessage::Error(reply)).await;
                return;
            }
        };
        let welcome = IpcMessage::Welcome(Welcome {
            protocol_version: PROTOCOL_VERSION,
            agent_version: self.opts.agent_version.clone(),
            max_frame: u32::try_from(self.opts.max_frame).unwrap_or(u32::MAX),
        });
        if writer.send(welcome).await.is_err() {
            return;
        }
        debug!(?kind, "client connected");

        let (tx, rx) = mpsc::channel(self.opts.queue_capacity.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        let client = ClientHandle {
            id: self.id,
            kind,
            tx,
            cancel: self.cancel.clone(),
            queued: queued.clone(),
            max_bytes: self.opts.queue_bytes.max(self.opts.max_frame + 4),
        };
        let write_task = tokio::spawn(write_loop(writer, rx, queued, self.cancel.clone()));
        let mut session = handler.open(&client);

        loop {
            tokio::select! {
                () = self.cancel.cancelled() => break,
                frame = reader.next() => match frame {
                    None => break,
                    // A handler waiting on back-pressure (a full turn queue) must
                    // not keep a connection the server has cut alive.
                    Some(Ok(msg)) => tokio::select! {
                        () = self.cancel.cancelled() => break,
                        () = handler.handle(&mut session, msg, &client) => {}
                    },
                    Some(Err(e)) => {
                        warn!(error = %e, "bad frame; closing this connection");
                        if let Some(code) = e.code() {
                            let _ = client.send(IpcMessage::Error(ErrorReply::new(code, e.to_string())));
                        }
                        break;
                    }
                }
            }
        }
        handler.close(session, &client);
        // Dropping our sender lets the writer drain what is queued (such as the error
        // reply above) and stop. A clone still held by a finishing task gets a short
        // grace period, then the connection is cut.
        drop(client);
        let mut write_task = write_task;
        if tokio::time::timeout(DRAIN_GRACE, &mut write_task)
            .await
            .is_err()
        {
            self.cancel.cancel();
            let _ = write_task.await;
        }
        self.cancel.cancel();
        debug!("client disconnected");
    }

    async fn handshake(
        &self,
        reader: &mut FramedRead<tokio::net::unix::OwnedReadHalf, MessageCodec>,
    ) -> Result<ClientKind, ErrorReply> {
        let first = tokio::time::timeout(self.opts.handshake_timeout, reader.next())
            .await
            .map_err(|_| {
                ErrorReply::new(
                    ErrorCode::HelloRequired,
                    format!("no hello within {:?}", self.opts.handshake_timeout),
                )
            })?;
        match first {
            None => Err(ErrorReply::new(
                ErrorCode::HelloRequired,
                "closed before hello",
            )),
            Some(Err(e)) => Err(ErrorReply::new(
                e.code().unwrap_or(ErrorCode::Internal),
                e.to_string(),
            )),
            Some(Ok(IpcMessage::Hello(h))) if h.protocol_version == PROTOCOL_VERSION => {
                Ok(h.client_kind)
            }
            Some(Ok(IpcMessage::Hello(h))) => Err(ErrorReply::new(
                ErrorCode::VersionMismatch,
                format!(
                    "client speaks protocol {}, this agent speaks {PROTOCOL_VERSION}; use matching AIOS versions",
                    h.protocol_version
                ),
            )),
            Some(Ok(other)) => Err(ErrorReply::new(
                ErrorCode::HelloRequired,
                format!("first frame must be hello, got {}", other.type_name()),
            )),
        }
    }
}

async fn write_loop(
    mut writer: FramedWrite<tokio::net::unix::OwnedWriteHalf, MessageCodec>,
    mut rx: mpsc::Receiver<(IpcMessage, usize)>,
    queued: Arc<AtomicUsize>,
    cancel: CancellationToken,
) {
    loop {
        let (msg, size) = tokio::select! {
            () = cancel.cancelled() => break,
            msg = rx.recv() => match msg {
                Some(m) => m,
                None => break,
            },
        };
        // Batch whatever is already queued into one flush. The whole write watches
        // the cancel: `feed` flushes by itself once its buffer fills, so a client
        // that stops reading can block it as well as the flush.
        let written = tokio::select! {
            () = cancel.cancelled() => break,
            r = async {
                let mut sizes = size;
                writer.feed(msg).await?;
                while let Ok((m, size)) = rx.try_recv() {
                    sizes += size;
                    writer.feed(m).await?;
                }
                SinkExt::<IpcMessage>::flush(&mut writer).await?;
                Ok::<usize, CodecError>(sizes)
            } => r,
        };
        match written {
            // Bytes handed to the socket no longer count against the queue.
            Ok(sizes) => {
                queued.fetch_sub(sizes, Ordering::AcqRel);
            }
            Err(e) => {
                debug!(error = %e, "write failed; closing");
                cancel.cancel();
                break;
            }
        }
    }
}
