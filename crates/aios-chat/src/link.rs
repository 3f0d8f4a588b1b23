//! The one subscription that talks to the agent: it connects (checking that the
//! socket is served by this user), hands the window a sender for requests, passes
//! every message on, and reconnects when the agent goes away or is not up yet.

use std::path::PathBuf;
use std::time::Duration;

use aios_common::ipc::client::{IpcClient, RetryPolicy};
use aios_common::ipc::{ClientKind, IpcMessage, Welcome};
use iced::futures::channel::mpsc;
use iced::futures::{SinkExt, Stream, StreamExt};

/// Pause between connection attempts while the agent is away.
const RETRY: Duration = Duration::from_secs(1);
/// Requests the window may queue before sending blocks (it never waits: a full
/// queue drops the request and says so).
const OUTBOX: usize = 64;

/// What the link reports to the window.
#[derive(Debug, Clone)]
pub enum Event {
    /// Connected: the agent's hello, and where to send requests.
    Connected(Welcome, mpsc::Sender<IpcMessage>),
    /// A message from the agent.
    Received(IpcMessage),
    /// Not connected (any more); why, and what to do.
    Lost(String),
}

/// The stream behind the subscription for the socket at `path`.
// `Subscription::run_with` hands its data over as `&PathBuf`.
#[allow(clippy::ptr_arg)]
pub fn connect(path: &PathBuf) -> impl Stream<Item = Event> + use<> {
    let path = path.clone();
    iced::stream::channel(OUTBOX, async move |mut out: mpsc::Sender<Event>| {
        loop {
            let mut client = IpcClient::new(&path, ClientKind::Chat).with_retry(RetryPolicy {
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
            if out.send(Event::Lost(why)).await.is_err() {
                return; // the window is gone
            }
            tokio::time::sleep(RETRY).await;
        }
    })
}

/// Passes messages both ways until the connection ends; returns why it ended.
async fn serve(
    conn: aios_common::ipc::client::Connection,
    welcome: Welcome,
    out: &mut mpsc::Sender<Event>,
) -> String {
    let (tx, mut requests) = mpsc::channel(OUTBOX);
    if out.send(Event::Connected(welcome, tx)).await.is_err() {
        return "the window closed".into();
    }
    let (mut sink, mut stream) = conn.split();
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(msg)) => {
                    if out.send(Event::Received(msg)).await.is_err() {
                        return "the window closed".into();
                    }
                }
                Some(Err(e)) => return format!("the link to the agent broke ({e}); reconnecting"),
                None => return "the agent closed the connection (it stopped or restarted); reconnecting".into(),
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
