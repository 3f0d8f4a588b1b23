//! The AIOS IPC protocol: how every client talks to `aios-agent`.
//!
//! AIOS has a star topology: the chat window, the dock, the `aios` CLI and every other
//! front end talk only to the agent, over one Unix stream socket. This module is the
//! specification of that protocol and its reference implementation.
//!
//! # Transport
//!
//! 1. The agent listens on `$XDG_RUNTIME_DIR/aios-agent.sock`; the config key
//!    `[agent] socket_path` or the environment variable `AIOS_SOCKET` override it.
//!    With no `XDG_RUNTIME_DIR` (no login session, e.g. CI) it uses
//!    `/tmp/aios-<uid>/aios-agent.sock` in a directory it creates with mode 0700 and
//!    refuses to use if another user owns it (see [`crate::paths`]).
//! 2. The socket file has mode 0600. A stale socket file (nobody answers on it) is
//!    replaced at start; a live one makes the second agent refuse to start.
//! 3. On accept the agent reads the peer's credentials (`SO_PEERCRED`); a peer with
//!    another uid gets an [`ErrorCode::PermissionDenied`] error and is disconnected.
//!    The client checks the server the same way before it sends anything, and
//!    refuses a socket served by another uid ([`client::ClientError::ForeignServer`]):
//!    with a custom path in a shared folder, someone else could answer.
//!    The agent serves at most `max_clients` connections (64); one more gets
//!    [`ErrorCode::Busy`] and is closed.
//!
//! # Framing
//!
//! 4. Every frame is a 4-byte big-endian unsigned length `N` followed by `N` bytes of
//!    UTF-8 JSON holding one [`IpcMessage`]. The default limit is
//!    [`DEFAULT_MAX_FRAME`] (1 MiB); a longer length is refused before its body is read.
//! 5. A message is a JSON object whose `"type"` field names its kind in snake_case
//!    (`"hello"`, `"chat_request"`, ...) and whose other fields are the payload.
//!
//! # Session
//!
//! 6. The client's first frame is [`Hello`] with [`PROTOCOL_VERSION`] and its
//!    [`ClientKind`]. The agent answers [`Welcome`]. Any other first frame gets
//!    [`ErrorCode::HelloRequired`]; another version gets
//!    [`ErrorCode::VersionMismatch`]; both close the connection.
//! 7. Requests carry a `request_id` chosen by the client; every reply to a request
//!    carries the same id. Replies to one connection's requests keep the order of the
//!    requests: `ping` → `pong`, `status_request` → `status_reply`,
//!    `history_request` → `history_reply`, `new_conversation` →
//!    `conversation_started` (after a running turn ends), `chat_request` → one or more
//!    [`StreamChunk`]s, the last with `done: true`, or an [`ErrorReply`] with code
//!    `provider` when the model fails (the message says what to do). Between the
//!    chunks of a turn come `tool_call` and `tool_result` events carrying the same
//!    `request_id`. Turns run one after another, across all connections (one person,
//!    one conversation); `ping`, `status` and `history` are answered while a turn
//!    streams.
//!    Voice: `ptt_start`/`ptt_stop` (the dock button, `aios ptt start|stop`) and
//!    `voice_mode` are answered by [`VoiceStateEvent`]s or an [`ErrorReply`] with code
//!    `voice`; `listen_request` by the spoken turn's events, then a [`ListenReply`].
//!    The agent sends `voice_state`, `transcript` and `input_level` events, and the
//!    chunks and tool events of spoken turns, to every connected client: a turn
//!    started by voice shows in every window. A spoken turn's [`ChatRequest`]
//!    has `spoken: true`.
//!    First-run setup: `setup_request` names a provider (and its key, URL, model);
//!    the agent checks it with one real request (the local model: that its file is
//!    there), then saves `agent.toml` with mode 0600 and answers turns that start
//!    afterwards with it: a [`SetupReply`], or an [`ErrorReply`] with code `setup`
//!    saying what failed, in which case nothing was saved and nothing changed. The
//!    key is never logged nor sent back. `status_reply`'s `configured` is `false`
//!    while the agent runs on defaults for want of a config file.
//!    Outside programs (`aios mcp serve`, client kind `mcp`): `tools_request` →
//!    `tools_reply`; `tool_run` → a `confirm_pending` event while the person is
//!    asked, then a `tool_result` with its `request_id` (status `denied` or
//!    `timed_out` when it did not run). A `tool_run` is not the person's word: it
//!    runs as outside content named "mcp client" (no `always_allow`, every
//!    confirm-level call asked on the person's screen, which the program cannot
//!    answer; AIOS's own files and `~/.ssh`, `~/.gnupg` are not read for it), one
//!    at a time with the conversation's turns, rate-limited and audited like the
//!    model's calls. Only a client of kind `mcp` may send `tool_run`; it may not
//!    send `chat_request` (both refused with `forbidden`), and it gets none of the
//!    events sent to every client.
//! 8. A frame that cannot be accepted (too long, truncated, not UTF-8, not JSON, an
//!    unknown `type`, a known type with bad fields) is answered with an
//!    [`ErrorReply`] naming the [`ErrorCode`] when the socket still takes writes, is
//!    logged, and closes that connection only. A request the agent understood but
//!    refuses (e.g. an agent-only event such as `tool_result` sent by a client) gets
//!    an [`ErrorReply`] with its `request_id` and the connection stays open.
//!    Confirmation requests and answers are not messages of this protocol at all
//!    (see [`crate::confirm`]): a `confirm_response` here is an unknown type.
//! 9. Each connection has a bounded outgoing queue (1024 frames and 8 MiB). A
//!    client that stops reading until its queue is full is disconnected, so it can
//!    never stall the agent or other clients, nor fill its memory.
//!    `history_request` asks for at most 1000 messages (more is an
//!    [`ErrorCode::History`] error); a reply that would not fit one frame drops its
//!    oldest messages and cuts long texts, saying so in the text.
//! 10. Clients reconnect on their own: [`client::IpcClient`] retries every 500 ms, up
//!     to 10 attempts, then reports that the agent is not running and how to start it.

pub mod client;
mod codec;
#[cfg(test)]
mod codec_tests;
#[cfg(test)]
mod golden_tests;
pub mod link;
mod message;
pub mod server;

pub use codec::{CodecError, FrameDecoder, MessageCodec, decode_message, encode_message};
pub use message::*;

/// Version of this protocol; bumped on any incompatible change to [`IpcMessage`].
pub const PROTOCOL_VERSION: u32 = 6;

/// Default maximum frame body, in bytes (1 MiB).
pub const DEFAULT_MAX_FRAME: usize = 1024 * 1024;
