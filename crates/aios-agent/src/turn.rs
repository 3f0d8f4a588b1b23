//! One conversation turn. Until the provider layer lands the reply is the question,
//! echoed back and streamed word by word so every client's streaming path is real.

use aios_common::ipc::server::{ClientGone, ClientHandle};
use aios_common::ipc::{ChatRequest, IpcMessage, StreamChunk};

/// Streams the echo reply to `req`; stops early if the client goes away.
pub(crate) fn echo(req: &ChatRequest, client: &ClientHandle) -> Result<(), ClientGone> {
    let reply = format!("(echo) {}", req.content);
    for piece in reply.split_inclusive(char::is_whitespace) {
        client.send(chunk(req, piece, false))?;
    }
    client.send(chunk(req, "", true))
}

fn chunk(req: &ChatRequest, delta: &str, done: bool) -> IpcMessage {
    IpcMessage::StreamChunk(StreamChunk {
        request_id: req.request_id,
        delta: delta.to_owned(),
        done,
    })
}
