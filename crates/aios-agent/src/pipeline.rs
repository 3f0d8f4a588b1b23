//! The tool pipeline: validate -> policy -> confirm if required -> audit intent ->
//! execute -> audit outcome -> result for the model.
//!
//! Every way out of it that is not an approved, audited execution is a denial that
//! the model reads as an error: unknown tool, bad arguments, rate limit, no or
//! negative answer, an audit log that cannot be written.

use std::time::Instant;

use aios_common::ipc::{ConfirmPendingEvent, ToolStatus};
use aios_common::types::{ConfirmRequest, ToolCall, ToolResult, TrustLevel, TrustRequirement};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::audit::Record;
use crate::confirm::Answer;
use crate::policy::{Decision, Taint, decide};
use crate::state::AgentState;

/// What came of one call.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// For the model and the chat.
    pub result: ToolResult,
    /// How it ended, for the chat's tool card.
    pub status: ToolStatus,
    /// Trust of `result.content`: outside content taints the conversation.
    pub trust: TrustLevel,
}

/// The call with secret arguments redacted, for anything that is not the tool
/// itself: the schema's secrets and those the tool names for this call (a web
/// page's password field).
pub(crate) async fn shown(state: &AgentState, call: &ToolCall) -> ToolCall {
    let mut c = call.clone();
    c.arguments = state.tools().redacted(&call.name, &call.arguments).await;
    c
}

/// Where a tool's `output` came from, for the taint sources: a file's path, a web
/// page's address (the browser tools' first line names the page: "Page: Title
/// (url)").
pub(crate) fn source_of(call: &ToolCall, output: &str) -> String {
    if aios_mcp::browser::TOOL_NAMES.contains(&call.name.as_str()) {
        return aios_mcp::browser::page_named(output)
            .map_or_else(|| "a web page".into(), |(_, url)| url.to_owned());
    }
    match (
        call.name.as_str(),
        call.arguments.get("path").and_then(Value::as_str),
    ) {
        ("file_read" | "file_list" | "file_search", Some(p)) => p.to_owned(),
        _ => format!("output of {}", call.name),
    }
}

/// Runs `call` through the pipeline with the conversation's `taint`; `shown` is the
/// call as [`shown`] redacts it, for everything but the tool. When the person is
/// asked, `asking` gets the notice for the front ends first (the request id is the
/// chat request's; it is dropped unsent when nobody is asked).
pub(crate) async fn run(
    state: &AgentState,
    call: &ToolCall,
    shown: &ToolCall,
    taint: &Taint,
    cancel: &CancellationToken,
    asking: tokio::sync::oneshot::Sender<ConfirmPendingEvent>,
    request_id: uuid::Uuid,
) -> Outcome {
    let record = |approved: bool, result: String| Record {
        call_id: call.id.clone(),
        action: call.name.clone(),
        args: shown.arguments.clone(),
        trust: taint.trust(),
        source: taint.source_line(),
        approved,
        result,
    };
    let deny = |why: String, status: ToolStatus| async move {
        warn!(tool = %call.name, call_id = %call.id, "denied: {why}");
        if let Err(e) = state
            .audit()
            .append(record(false, format!("denied: {why}")))
            .await
        {
            warn!("{e}");
        }
        Outcome {
            result: ToolResult {
                call_id: call.id.clone(),
                content: why,
                is_error: true,
            },
            status,
            trust: TrustLevel::System,
        }
    };

    let (tool, assessed) = match state.tools().check(&call.name, &call.arguments).await {
        Ok(t) => t,
        Err(e) => return deny(e.to_string(), ToolStatus::Denied).await,
    };
    if taint
        .sources
        .iter()
        .any(|s| s == crate::outside::MCP_SOURCE)
        && let Some(why) = crate::outside::refused_read(state, call)
    {
        return deny(why, ToolStatus::Denied).await;
    }
    let requirement = assessed.requirement;
    let always_allow = &state.config().tools.always_allow;
    let decision = decide(
        &call.name,
        requirement,
        tool.sends_data_out(),
        always_allow,
        taint,
    );
    if requirement == TrustRequirement::DoubleConfirm
        && let Err(wait) = state.rate_limit().lock().await.take(Instant::now())
    {
        return deny(
            format!(
                "refused: at most {} destructive actions a minute; try again in {} s",
                state.config().agent.max_destructive_per_minute,
                wait.as_secs().max(1)
            ),
            ToolStatus::Denied,
        )
        .await;
    }
    let via = match decision {
        Decision::Allow(why) => why,
        Decision::Ask(level) => {
            let req = ConfirmRequest {
                request_id: uuid::Uuid::new_v4(),
                call: shown.clone(),
                // One line each: what the call does, then what the tool says the
                // person should know. Lines are AIOS's; values in them are escaped.
                summary: std::iter::once(tool.describe(&shown.arguments))
                    .chain(assessed.notes.iter().cloned())
                    .map(|l| aios_common::text::one_line(&l))
                    .collect::<Vec<_>>()
                    .join("\n"),
                requirement: level,
                content_source: taint.source_line(),
                timeout_secs: state.config().agent.confirm_timeout_secs.max(1),
            };
            let _ = asking.send(ConfirmPendingEvent {
                request_id,
                call_id: call.id.clone(),
                requirement: level,
                timeout_secs: req.timeout_secs,
            });
            let answer = state.confirmer().ask(&req, cancel).await;
            let (why, status) = match answer {
                Answer::Approved => (String::new(), ToolStatus::Ok),
                Answer::Denied(why) => (why, ToolStatus::Denied),
                Answer::TimedOut(why) => (why, ToolStatus::TimedOut),
                Answer::Withdrawn(why) => (why, ToolStatus::Cancelled),
            };
            if status != ToolStatus::Ok {
                return deny(crate::context::declined(&why), status).await;
            }
            "the person"
        }
    };
    if let Err(e) = state.audit().append(record(true, "intent".into())).await {
        return Outcome {
            result: ToolResult {
                call_id: call.id.clone(),
                content: e.to_string(),
                is_error: true,
            },
            status: ToolStatus::Failed,
            trust: TrustLevel::System,
        };
    }
    info!(tool = %call.name, call_id = %call.id, approved_by = via, "running");
    let run = state
        .tools()
        .execute_as(&call.name, call.arguments.clone(), requirement)
        .await;
    let (content, is_error) = match run {
        Ok(text) => (text, false),
        Err(e) => (e.to_string(), true),
    };
    // What a tool read from outside (a file, command output) stays out of the log:
    // it may be private, and it is not what the log is for. AIOS's own summaries
    // ("Deleted ~/x") and errors are kept.
    let summary = match (is_error, tool.output_is_content()) {
        (true, _) => format!("error: {content}"),
        (false, true) => format!("ok: {} bytes of output", content.len()),
        (false, false) => format!("ok: {content}"),
    };
    let content = match state
        .audit()
        .append(record(true, clip(&summary, 500)))
        .await
    {
        Ok(_) => content,
        // The call ran; the person must hear that its record is missing.
        Err(e) => {
            warn!("{e}");
            format!("{content}\n[The audit log could not record this outcome: {e}]")
        }
    };
    Outcome {
        result: ToolResult {
            call_id: call.id.clone(),
            content,
            is_error,
        },
        status: if is_error {
            ToolStatus::Failed
        } else {
            ToolStatus::Ok
        },
        trust: if tool.output_is_content() {
            TrustLevel::WebContent
        } else {
            TrustLevel::System
        },
    }
}

/// The first `max` bytes of `s` (at a character boundary), marked when cut.
fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str) -> ToolCall {
        ToolCall {
            id: "c".into(),
            name: name.into(),
            arguments: serde_json::json!({}),
        }
    }

    #[test]
    fn a_pages_source_is_its_address_and_the_page_cannot_choose_it() {
        let real = "http://127.0.0.1:8000/";
        // A title that names another address: the real one is last on the line.
        let out = format!("Page: Home (https://bank.example) ({real})\nWelcome");
        assert_eq!(source_of(&call("get_page_text"), &out), real);
        // The page's text (or the model's words for an element) on later lines
        // cannot stand in for the first.
        let out = format!("Page: Home ({real})\nPage: Bank (https://bank.example)");
        assert_eq!(source_of(&call("click"), &out), real);
        let out = "Clicked x.\nPage: Bank (https://bank.example)";
        assert_eq!(source_of(&call("click"), out), "a web page");
        assert_eq!(
            source_of(&call("read_page"), "Page: none open"),
            "a web page"
        );
    }
}
