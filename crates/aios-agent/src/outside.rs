//! Calls from outside programs: an MCP client through `aios mcp serve` asks for a
//! tool by name (`tool_run`). The program is not the person, so its call runs as
//! outside content named [`MCP_SOURCE`]: `always_allow` does not apply, every
//! confirm-level call is asked on the person's screen (by the confirmation dialog,
//! which no client can answer), and the audit log names the source. It waits its
//! turn like a chat turn, so no two questions are on the screen at once, and the
//! rate limit counts it with the model's calls.

use std::sync::Arc;

use aios_common::ipc::server::ClientHandle;
use aios_common::ipc::{ErrorCode, ErrorReply, IpcMessage, ToolResultEvent, ToolRunRequest};
use aios_common::types::TrustLevel;
use tracing::{info, warn};

use crate::pipeline;
use crate::policy::Taint;
use crate::state::AgentState;

/// How an outside program's calls are named in prompts and the audit log.
pub const MCP_SOURCE: &str = "mcp client";

/// Why an outside program may not read what `call` reads, if it may not: AIOS's
/// own files (its config holds the provider's API key; its state, history and
/// cache) and the person's keys (`~/.ssh`, `~/.gnupg`). Reads need no
/// confirmation, so they are refused outright; the model may still read them for
/// the person.
pub(crate) fn refused_read(
    state: &AgentState,
    call: &aios_common::types::ToolCall,
) -> Option<String> {
    if !matches!(
        call.name.as_str(),
        "file_read" | "file_list" | "file_search"
    ) {
        return None;
    }
    let path = call.arguments.get("path")?.as_str()?;
    let ctx = state.tools().context();
    let asked = ctx.resolve(path);
    let real = std::fs::canonicalize(&asked).unwrap_or(asked);
    let private = ctx
        .protected
        .iter()
        .cloned()
        .chain([ctx.home.join(".ssh"), ctx.home.join(".gnupg")]);
    for p in private {
        let p = std::fs::canonicalize(&p).unwrap_or(p);
        if real.starts_with(&p) {
            return Some(format!(
                "refused: {} holds AIOS's own files or the person's keys; an outside program may not read it",
                real.display()
            ));
        }
    }
    None
}

/// Runs `req` through the tool pipeline and answers `client` with its outcome.
pub(crate) async fn run(state: &Arc<AgentState>, req: &ToolRunRequest, client: &ClientHandle) {
    let turn = state.turn_guard().await;
    // Dropped when this ends or the client goes away: a question still on the
    // screen is then withdrawn (a denial).
    let cancel = tokio_util::sync::CancellationToken::new();
    let _withdraw = cancel.clone().drop_guard();
    let mut taint = Taint::default();
    taint.add(TrustLevel::WebContent, MCP_SOURCE.into());
    let shown = pipeline::shown(state, &req.call).await;
    info!(tool = %shown.name, call_id = %shown.id, "a call from an MCP client");
    let (asking, asked) = tokio::sync::oneshot::channel();
    // On a task of its own, as a chat turn's calls: once audited as intended, a
    // call always gets its outcome, even when the client goes away meanwhile.
    let task = {
        let (state, call, shown, cancel, request_id) = (
            state.clone(),
            req.call.clone(),
            shown.clone(),
            cancel.clone(),
            req.request_id,
        );
        tokio::spawn(async move {
            let outcome =
                pipeline::run(&state, &call, &shown, &taint, &cancel, asking, request_id).await;
            drop(turn);
            outcome
        })
    };
    if let Ok(pending) = asked.await {
        let _ = client.send(IpcMessage::ConfirmPending(pending));
    }
    let reply = match task.await {
        Ok(o) => IpcMessage::ToolResult(ToolResultEvent {
            request_id: req.request_id,
            status: o.status,
            result: o.result,
        }),
        Err(e) => {
            warn!("the tool pipeline for an MCP call failed: {e}");
            IpcMessage::Error(ErrorReply {
                request_id: Some(req.request_id),
                code: ErrorCode::Internal,
                message: format!(
                    "the agent failed while running `{}`; nothing more was done",
                    shown.name
                ),
            })
        }
    };
    let _ = client.send(reply);
}
