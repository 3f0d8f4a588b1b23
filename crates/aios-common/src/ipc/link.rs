//! A window's link to the agent: connect (checking that the socket is served by
//! this user), hand the window a sender for requests, pass every message on, and
//! reconnect when the agent goes away or is not up yet. The GUIs run [`run`] as
//! their one socket subscription.

use std::path::PathBuf;
use std::time::Duration;

use futures::channel::mpsc;
use futures::{SinkExt, StreamExt};

use super::client::{Connection, IpcClient, RetryPolicy};
use super::{ClientKind, IpcMessage, Welcome};

/// Pause between connection attempts while the agent is away.
const RETRY: Duration = Duration::from_secs(1);
/// Requests a window may queue (it never waits: a full queue drops the request and
/// the window says so).
pub const OUTBOX: usize = 64;

/// What the link reports to the window.
#[derive(Debug, Clone)]
pub enum LinkEvent {
    /// Connected: the agent's hello, and where to send requests.
    Connected(Welcome, mpsc::Sender<IpcMessage>),
    /// A message from the agent.
    Received(IpcMessage),
    /// Not connected (any more); why, and what to do.
    Lost(String),
}

/// Keeps a window linked to the agent at `path` until `out` is dropped.
pub async fn run(path: PathBuf, kind: ClientKind, mut out: mpsc::Sender<LinkEvent>) {
    loop {
        let mut client = IpcClient::new(&path, kind).with_retry(RetryPolicy {
            interval: RETRY,
            attempts: 1,
        });
        let why = match client.connect().await {
            Ok(welcome) => {
                let welcome = welcome.clone();
                match client.take_connection() {
                    Some(conn) => serve(conn, welcome, &mut out).await,
                    None => "the connection closed at once".to_owned(),
                }
            }
            Err(e) => e.to_string(),
        };
        if out.send(LinkEvent::Lost(why)).await.is_err() {
            return; // the window is gone
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Passes messages both ways until the connection ends; returns why it ended.
async fn serve(conn: Connection, welcome: Welcome, out: &mut mpsc::Sender<LinkEvent>) -> String {
    let (tx, mut requests) = mpsc::channel(OUTBOX);
    if out.send(LinkEvent::Connected(welcome, tx)).await.is_err() {
        return "the window closed".into();
    }
    let (mut sink, mut stream) = conn.split();
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(msg)) => {
                    if out.send(LinkEvent::Received(msg)).await.is_err() {
                        return "the window closed".into();
                    }
                }
                Some(Err(e)) => return format!("the link to the agent broke ({e}); reconnecting"),
                None => {
                    return "the agent closed the connection (it stopped or restarted); reconnecting"
                        .into();
                }
            },
            req = requests.next() => match req {
                Some(req) => {
                    if let Err(e) = sink.send(req).await {
                        return format!("cannot reach the agent ({e}); reconnecting");
                    }
                }
                // The window dropped its sender: it wants a fresh link.
                None => return "disconnected".into(),
            },
        }
    }
}
