//! Asking the person: one `aios-confirm` child per request, over a socketpair.
//!
//! The child is started from a fixed path beside the agent's own executable (never
//! from `PATH` or the config) with one end of a fresh socketpair as its stdin: the
//! only channel an answer can arrive on. Nothing else (the public socket, the model,
//! a transcript, the chat) is ever read for an answer. Every failure is a denial: no
//! answer before the deadline, the child dying, a malformed or mismatched reply.

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::Duration;

use aios_common::confirm::{ConfirmMessage, MAX_FRAME, decode};
use aios_common::types::ConfirmRequest;
use futures::{SinkExt, StreamExt};
use tokio_util::codec::{Framed, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::pin::Pinned;

/// How much longer than the prompt's own timeout the agent waits for its answer.
const PROMPT_FIRST: Duration = Duration::from_secs(1);
/// Time the child gets to go after the deadline before it is killed.
const GRACE: Duration = Duration::from_secs(2);

/// The person's answer, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Approved on the private channel.
    Approved,
    /// Denied; the reason is for the model, the person and the audit log.
    Denied(String),
    /// Nobody answered in time (a denial).
    TimedOut(String),
    /// The question was withdrawn: the turn ended first (a denial).
    Withdrawn(String),
}

/// Starts `aios-confirm` children.
#[derive(Debug, Clone)]
pub struct Confirmer {
    program: Option<std::sync::Arc<Pinned>>,
}

impl Confirmer {
    /// The `aios-confirm` beside the running executable. When it is missing every
    /// request is denied with the reason.
    pub fn beside_current_exe() -> Self {
        let program = std::env::current_exe().ok().and_then(|exe| {
            let p = exe.parent()?.join("aios-confirm");
            p.is_file().then_some(p)
        });
        if program.is_none() {
            warn!(
                "aios-confirm is not installed beside aios-agent; every tool call that needs a confirmation will be denied (build it with `cargo build -p aios-confirm` or `make build`)"
            );
        }
        Self {
            program: program.map(|p| std::sync::Arc::new(Pinned::now(p))),
        }
    }

    /// Asks; resolves when the person answers, the child ends, `req.timeout_secs`
    /// pass, or `cancel` fires (the client that asked went away): then the question
    /// is withdrawn, the prompt told so through the channel closing, and the answer
    /// is a denial.
    pub async fn ask(&self, req: &ConfirmRequest, cancel: &CancellationToken) -> Answer {
        let Some(program) = &self.program else {
            return Answer::Denied(
                "aios-confirm is not installed beside aios-agent, so nobody could be asked".into(),
            );
        };
        // A changed approver is never started: it could answer "approved" to all.
        if let Err(why) = crate::pin::check(program).await {
            warn!("{why}");
            return Answer::Denied(format!("nobody was asked: {why}"));
        }
        let program = program.path();
        let (ours, theirs) = match std::os::unix::net::UnixStream::pair() {
            Ok(p) => p,
            Err(e) => return Answer::Denied(format!("cannot open the confirmation channel: {e}")),
        };
        // On a desktop the overlay; it falls back to the terminal by itself.
        let front = if std::env::var_os("WAYLAND_DISPLAY").is_some() {
            "--wayland"
        } else {
            "--tty"
        };
        let mut child = match tokio::process::Command::new(program)
            .arg(front)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return Answer::Denied(format!("cannot start {}: {e}", program.display())),
        };
        let answer = tokio::select! {
            a = converse(ours, req) => a,
            () = cancel.cancelled() => Answer::Withdrawn(
                "the question was withdrawn: the client that asked disconnected".into(),
            ),
        };
        // The child should end by itself once it has answered or timed out; if not, stop it.
        if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        info!(request_id = %req.request_id, tool = %req.call.name, approved = matches!(answer, Answer::Approved), "confirmation answered");
        answer
    }
}

/// Sends the request and waits for the matching answer until the deadline; every
/// way of not getting one is a denial saying why.
async fn converse(ours: std::os::unix::net::UnixStream, req: &ConfirmRequest) -> Answer {
    let stream = match ours
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixStream::from_std(ours))
    {
        Ok(s) => s,
        Err(e) => return Answer::Denied(format!("cannot use the confirmation channel: {e}")),
    };
    // The channel's own protocol (`aios_common::confirm`): length-delimited JSON.
    let mut framed = Framed::new(
        stream,
        LengthDelimitedCodec::builder()
            .max_frame_length(MAX_FRAME)
            .new_codec(),
    );
    let body = match serde_json::to_vec(&ConfirmMessage::ConfirmRequest(req.clone())) {
        Ok(b) => b,
        Err(e) => return Answer::Denied(format!("cannot write the question: {e}")),
    };
    if framed.send(bytes::Bytes::from(body)).await.is_err() {
        return Answer::Denied("the confirmation prompt could not be reached".into());
    }
    // The prompt times out by itself and says so on the terminal; the agent waits a
    // little longer, so that its hanging up (which the prompt reads as "withdrawn")
    // does not race the prompt's own timeout. A prompt that hangs is still cut off.
    let deadline = Duration::from_secs(req.timeout_secs) + PROMPT_FIRST;
    let frame = match tokio::time::timeout(deadline, framed.next()).await {
        Err(_) => return Answer::TimedOut(format!("no answer within {} s", req.timeout_secs)),
        Ok(None) => {
            return Answer::Denied("the confirmation prompt closed without an answer".into());
        }
        Ok(Some(Err(e))) => {
            return Answer::Denied(format!(
                "the confirmation prompt sent an unreadable answer: {e}"
            ));
        }
        Ok(Some(Ok(frame))) => frame,
    };
    match decode(&frame) {
        Err(e) => Answer::Denied(format!(
            "the confirmation prompt sent an unreadable answer: {e}"
        )),
        Ok(ConfirmMessage::ConfirmResponse(r)) if r.request_id != req.request_id => {
            Answer::Denied("the answer was for a different request".into())
        }
        Ok(ConfirmMessage::ConfirmResponse(r)) if r.approved => Answer::Approved,
        Ok(ConfirmMessage::ConfirmResponse(r)) if r.timed_out => Answer::TimedOut(
            r.reason
                .unwrap_or_else(|| format!("no answer within {} s", req.timeout_secs)),
        ),
        Ok(ConfirmMessage::ConfirmResponse(r)) => {
            Answer::Denied(r.reason.unwrap_or_else(|| "the person said no".into()))
        }
        Ok(ConfirmMessage::ConfirmRequest(_)) => {
            Answer::Denied("the confirmation prompt sent a question instead of an answer".into())
        }
    }
}
