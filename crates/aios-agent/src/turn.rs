//! One conversation turn: the person's message, the model, tools, the reply.
//!
//! The person's message is committed to history before the model is called, the
//! reply when it is complete, so a crash never loses what the person said. Text
//! streams to the client as it arrives; tool calls run between model rounds, at most
//! `max_tool_rounds` times.

use std::sync::Arc;

use aios_common::ipc::server::{ClientGone, ClientHandle};
use aios_common::ipc::{
    ChatRequest, ErrorCode, ErrorReply, IpcMessage, StreamChunk, ToolCallEvent, ToolResultEvent,
};
use aios_common::types::{Role, ToolCall, ToolResult, TrustLevel};
use aios_memory::{ConversationId, StoredMessage};
use futures::{FutureExt, StreamExt};
use tracing::{debug, warn};

use crate::context::{self, Shape};
use crate::llm::{LlmError, LlmMessage, LlmRequest, StreamDelta};
use crate::policy::Taint;
use crate::state::AgentState;
use crate::{needless, pipeline};

/// History messages read for the context (the token budget trims further).
const HISTORY_WINDOW: usize = 200;
/// Context budget for cloud models, whose windows are large.
const CLOUD_CONTEXT_TOKENS: usize = 32_000;

enum TurnError {
    Gone,
    Llm(LlmError),
    /// A bug: a panic in the turn or in one of its tool tasks.
    Internal(String),
}

impl From<ClientGone> for TurnError {
    fn from(_: ClientGone) -> Self {
        TurnError::Gone
    }
}

impl From<LlmError> for TurnError {
    fn from(e: LlmError) -> Self {
        TurnError::Llm(e)
    }
}

/// Where a turn's chunks and tool events go: the client that asked, or (a spoken
/// turn) every client and the speaker.
pub(crate) trait TurnSink: Send + Sync {
    /// Sends one event; `Err` when the asker is gone (the turn stops).
    fn send(&self, msg: IpcMessage) -> Result<(), ClientGone>;
}

impl TurnSink for ClientHandle {
    fn send(&self, msg: IpcMessage) -> Result<(), ClientGone> {
        ClientHandle::send(self, msg)
    }
}

/// Runs the turn for `req`, streaming to `client`. Errors reach the client as an
/// `error` reply with code `provider`.
pub(crate) async fn run(state: &Arc<AgentState>, req: &ChatRequest, client: &impl TurnSink) {
    // A panic anywhere in the turn must still answer the client (which would
    // otherwise wait forever) and leave the agent serving.
    let result = std::panic::AssertUnwindSafe(turn(state, req, client))
        .catch_unwind()
        .await
        .unwrap_or_else(|p| Err(TurnError::Internal(panic_text(&*p))));
    state.touch().await;
    prewarm_next(state).await;
    match result {
        Ok(()) | Err(TurnError::Gone) => {}
        Err(TurnError::Llm(e)) => {
            warn!(request_id = %req.request_id, "turn failed: {e}");
            let _ = client.send(IpcMessage::Error(ErrorReply {
                request_id: Some(req.request_id),
                code: ErrorCode::Provider,
                message: e.to_string(),
            }));
        }
        Err(TurnError::Internal(why)) => {
            tracing::error!(request_id = %req.request_id, "turn failed inside the agent: {why}");
            let _ = client.send(IpcMessage::Error(ErrorReply {
                request_id: Some(req.request_id),
                code: ErrorCode::Internal,
                message: format!(
                    "the agent failed while answering ({why}); nothing more was done. This is a bug: please report it with the agent's log"
                ),
            }));
        }
    }
}

/// The message of a panic payload.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

async fn turn(
    state: &Arc<AgentState>,
    req: &ChatRequest,
    client: &impl TurnSink,
) -> Result<(), TurnError> {
    let turn = state.turn_guard().await;
    // Dropped with this turn, also when its client disconnects and the turn is
    // aborted: a question still on the terminal is then withdrawn (a denial).
    let cancel = tokio_util::sync::CancellationToken::new();
    let _withdraw = cancel.clone().drop_guard();
    let conv = state.conversation().await;
    state
        .remember(StoredMessage::new(
            conv,
            Role::User,
            &req.content,
            TrustLevel::User,
        ))
        .await;
    let mut messages = context(state, conv).await;
    // Taint holds from the moment outside content entered this conversation until
    // the person starts a new one, whether or not that content still fits the window
    // (the state keeps it; the window's content is always part of it).
    let mut taint = state.taint(conv).await;
    let provider = state.provider();
    let cfg = &state.provider_config();
    let tools = if provider.supports_tools() {
        state.tool_definitions().to_vec()
    } else {
        Vec::new()
    };
    let rounds = state.config().agent.max_tool_rounds.max(1);
    let mut failed: Vec<(ToolCall, String)> = Vec::new();
    let shape = Shape::for_provider(provider.name());
    let tool_names: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
    // With the memo, a first reply that makes no call (words, a refusal, nothing,
    // a described call) is asked again as a fresh conversation (the request alone),
    // where the model acts.
    let mut may_retry = shape.memo;
    // The results of the latest tool round: the closing words are about them.
    let mut last_results: Vec<(ToolResult, TrustLevel)> = Vec::new();
    // Set after a first reply whose calls need nothing of the computer (see
    // `needless`): the model is asked again for words.
    let mut words_only = false;
    // The request alone, as a fresh conversation.
    let fresh = || {
        context::messages(
            state.system_prompt(),
            &[StoredMessage::new(
                conv,
                Role::User,
                &req.content,
                TrustLevel::User,
            )],
            Shape::RAW,
        )
    };

    for round in 0..rounds {
        // Over a memo, the worker itself answers the request alone when the reply
        // would start in words (the fresh retry below, without a cancelled request
        // and a second one).
        let fallback = (may_retry && has_memo(&messages)).then(fresh);
        if fallback.is_some() {
            may_retry = false;
        }
        let llm_req = LlmRequest {
            messages: messages.clone(),
            tools: tools.clone(),
            temperature: cfg.temperature,
            max_tokens: cfg.max_tokens,
            words_only,
            fallback,
        };
        let mut stream = provider.complete_stream(&llm_req).await?;
        let mut text = String::new();
        let mut calls = Vec::new();
        let mut malformed = Vec::new();
        // While a retry may come, the first sentence is held back: a refusal or a
        // description of a call must not reach the chat or the speaker.
        let mut held = shape.memo.then(String::new);
        let mut retry = false;
        while let Some(delta) = stream.next().await {
            match delta? {
                StreamDelta::Text(t) => {
                    text.push_str(&t);
                    let Some(h) = held.as_mut() else {
                        client.send(chunk(req, &t, false))?;
                        continue;
                    };
                    h.push_str(&t);
                    let remedy = may_retry || !last_results.is_empty();
                    // With a memo, a first reply in words is not trusted either: the
                    // 1.5B answered "what does the file /etc/hostname say" from
                    // memory there and called file_read when asked fresh. Words
                    // come from the fresh conversation, calls from either.
                    let words_over_memo =
                        may_retry && last_results.is_empty() && has_memo(&messages);
                    if words_over_memo || (remedy && context::needs_fresh_retry(h, &tool_names)) {
                        // Dropping the stream cancels the generation.
                        retry = true;
                        break;
                    }
                    if context::first_sentence_done(h) {
                        client.send(chunk(req, h, false))?;
                        held = None;
                    }
                }
                StreamDelta::ToolCall(c) => calls.push(c),
                StreamDelta::MalformedCall(e) => malformed.push(e),
                StreamDelta::Done { usage, stop } => {
                    debug!(round, ?usage, ?stop, "model round done");
                    break;
                }
            }
        }
        drop(stream);
        if !words_only
            && last_results.is_empty()
            && malformed.is_empty()
            && needless::all_need_no_computer(calls.iter().map(|c| (c.name.as_str(), &c.arguments)))
        {
            // "What's 15 times 4" as `echo 15 * 4`: the answer is words. Over a
            // memo, words come from the fresh conversation (see below).
            debug!(
                ?calls,
                "calls that need nothing of the computer: asking for words"
            );
            words_only = true;
            if shape.memo && has_memo(&messages) {
                messages = fresh();
            }
            may_retry = false;
            continue;
        }
        let bad = calls.is_empty()
            && malformed.is_empty()
            && (retry || (held.is_some() && context::needs_fresh_retry(&text, &tool_names)));
        if bad && !last_results.is_empty() {
            // Closing words that refuse or say nothing after an action: the person
            // hears what happened instead, in the agent's words.
            debug!(reply = %text, "closing words replaced by the outcome");
            let note = context::closing_for(&last_results);
            return finish(state, conv, req, client, &note, true).await;
        }
        if bad && may_retry {
            debug!(reply = %text, "asking again as a fresh conversation");
            may_retry = false;
            messages = fresh();
            continue;
        }
        if let Some(h) = held.take().filter(|h| !h.is_empty()) {
            client.send(chunk(req, &h, false))?;
        }
        if calls.is_empty() && malformed.is_empty() {
            // The text has already streamed.
            return finish(state, conv, req, client, &text, false).await;
        }
        // A small model may repeat a call that just failed; running it again cannot
        // help, so the turn ends with what went wrong.
        if let Some(err) = calls.iter().find_map(|c| {
            failed
                .iter()
                .find(|(f, _)| f.name == c.name && f.arguments == c.arguments)
        }) {
            let note = format!("Sorry, I couldn't do that: {}", err.1);
            return finish(state, conv, req, client, &note, true).await;
        }
        // Secrets (a Wi-Fi password) go to the tool only: history, the model's context
        // and the chat see them redacted.
        // A browser call after one that changes the page is judged on a page not
        // open yet: what may be a secret there is redacted in the stored reply, and
        // judged again on the page as it is when the call's turn comes.
        let after_page_change: Vec<bool> = calls
            .iter()
            .scan(false, |changed, c| {
                let before = *changed;
                *changed |= aios_mcp::browser::changes_page(&c.name);
                Some(before)
            })
            .collect();
        let mut shown: Vec<ToolCall> = Vec::with_capacity(calls.len());
        for (c, &stale) in calls.iter().zip(&after_page_change) {
            let mut s = pipeline::shown(state, c).await;
            if stale {
                aios_mcp::browser::redact_unjudged(&c.name, &mut s.arguments);
            }
            shown.push(s);
        }
        last_results.clear();
        let mut reply = StoredMessage::new(conv, Role::Assistant, &text, TrustLevel::System);
        reply.tool_calls = shown.clone();
        state.remember(reply).await;
        messages.push(LlmMessage::Assistant {
            content: text,
            tool_calls: shown.clone(),
        });
        // What AIOS says itself about each call of this round (see
        // `context::spoken_for`). With the local model, a round where it can say all
        // of them ends here: another model round (prefill the result, write a
        // sentence) takes about 3 s on 2 cores, and the 1.5B rarely chains calls.
        // Cloud models do chain (search, then read), so they keep their round.
        let mut spoken: Vec<Option<String>> = Vec::new();
        for ((call, shown), stale) in calls.into_iter().zip(shown).zip(after_page_change) {
            let shown = if stale {
                pipeline::shown(state, &call).await
            } else {
                shown
            };
            client.send(IpcMessage::ToolCall(ToolCallEvent {
                request_id: req.request_id,
                call: shown.clone(),
            }))?;
            // On a task of its own: a client that disconnects drops this turn, and a
            // call must never stop between its audited intent and its outcome. The
            // task holds the turn until it ends, and stores the result itself, so
            // the history never keeps a call without one.
            let (asking, asked) = tokio::sync::oneshot::channel();
            let outcome = {
                let (state, call, shown, taint, cancel, turn, request_id) = (
                    state.clone(),
                    call.clone(),
                    shown.clone(),
                    taint.clone(),
                    cancel.clone(),
                    turn.clone(),
                    req.request_id,
                );
                tokio::spawn(async move {
                    let outcome =
                        pipeline::run(&state, &call, &shown, &taint, &cancel, asking, request_id)
                            .await;
                    let result = &outcome.result;
                    state
                        .add_taint(
                            conv,
                            outcome.trust,
                            pipeline::source_of(&shown, &result.content),
                        )
                        .await;
                    let mut m =
                        StoredMessage::new(conv, Role::Tool, &result.content, outcome.trust);
                    m.tool_call_id = Some(shown.id.clone());
                    m.tool_name = Some(shown.name.clone());
                    m.is_error = result.is_error;
                    state.remember(m).await;
                    drop(turn);
                    outcome
                })
            };
            // The card turns amber while the person is asked; no notice comes (the
            // sender is dropped) when nobody is.
            if let Ok(pending) = asked.await {
                client.send(IpcMessage::ConfirmPending(pending))?;
            }
            let outcome = outcome.await;
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) if e.is_panic() => {
                    return Err(TurnError::Internal(format!(
                        "the tool pipeline for `{}` failed: {}",
                        call.name,
                        panic_text(&*e.into_panic())
                    )));
                }
                Err(_) => return Err(TurnError::Gone),
            };
            let result = outcome.result;
            spoken.push(context::spoken_for(
                state.tools().registry(),
                &req.content,
                &call.name,
                &result,
                outcome.trust,
            ));
            last_results.push((result.clone(), outcome.trust));
            if result.is_error {
                failed.push((call.clone(), result.content.clone()));
            }
            client.send(IpcMessage::ToolResult(ToolResultEvent {
                request_id: req.request_id,
                status: outcome.status,
                result: result.clone(),
            }))?;
            // What a tool returns from outside is content, never instructions: it
            // taints the rest of the conversation.
            taint.add(outcome.trust, pipeline::source_of(&shown, &result.content));
            messages.push(LlmMessage::Tool {
                call_id: shown.id,
                name: shown.name,
                content: result.content,
                is_error: result.is_error,
            });
        }
        if malformed.is_empty() && shape.memo && spoken.iter().all(Option::is_some) {
            let said: Vec<String> = spoken.into_iter().flatten().collect();
            return finish(state, conv, req, client, &said.join(" "), true).await;
        }
        if !malformed.is_empty() {
            let note = format!(
                "Your tool call could not be read ({}). Call a listed tool exactly as specified, or answer in plain text.",
                malformed.join("; ")
            );
            state
                .remember(StoredMessage::new(
                    conv,
                    Role::User,
                    &note,
                    TrustLevel::System,
                ))
                .await;
            messages.push(LlmMessage::User { content: note });
        }
    }
    let note = format!("(I stopped after {rounds} tool steps without a final answer.)");
    finish(state, conv, req, client, &note, true).await
}

/// Ends the turn with `reply`: streams it first unless it already streamed, saves it
/// to history, and sends the closing chunk.
async fn finish(
    state: &AgentState,
    conv: ConversationId,
    req: &ChatRequest,
    client: &impl TurnSink,
    reply: &str,
    stream_it: bool,
) -> Result<(), TurnError> {
    if stream_it {
        client.send(chunk(req, reply, false))?;
    }
    state
        .remember(StoredMessage::new(
            conv,
            Role::Assistant,
            reply,
            TrustLevel::System,
        ))
        .await;
    client.send(chunk(req, "", true))?;
    Ok(())
}

/// System prompt plus the recent history that fits the model's context, shaped for
/// the provider ([`context`]).
async fn context(state: &AgentState, conv: ConversationId) -> Vec<LlmMessage> {
    let history = state.recent(conv, HISTORY_WINDOW).await;
    let cfg = state.config();
    let window = if state.provider().name() == "local" {
        cfg.local.context_tokens as usize
    } else {
        CLOUD_CONTEXT_TOKENS
    };
    let shape = Shape::for_provider(state.provider().name());
    let fitted = context::fit(
        &history,
        window,
        state.system_prompt(),
        state.tool_definitions().len(),
        cfg.provider.max_tokens,
        shape,
    );
    let answered = answer_every_call(fitted);
    context::messages(state.system_prompt(), &answered, shape)
}

/// Result text for a stored call that never got one.
const NO_RESULT: &str = "cancelled: the turn ended before this call ran";

/// `history` with a result after every call that has none (its turn was cut off
/// before the call ran): OpenAI and Anthropic refuse a conversation with an
/// unanswered call, and the model should know it did not run.
pub(crate) fn answer_every_call(history: &[StoredMessage]) -> Vec<StoredMessage> {
    let mut out = Vec::with_capacity(history.len());
    let mut i = 0;
    while i < history.len() {
        let m = &history[i];
        out.push(m.clone());
        i += 1;
        if m.tool_calls.is_empty() {
            continue;
        }
        // The results of this message's calls follow it.
        let mut answered = Vec::new();
        while i < history.len() && history[i].role == Role::Tool {
            answered.extend(history[i].tool_call_id.clone());
            out.push(history[i].clone());
            i += 1;
        }
        for c in m.tool_calls.iter().filter(|c| !answered.contains(&c.id)) {
            let mut r =
                StoredMessage::new(m.conversation, Role::Tool, NO_RESULT, TrustLevel::System);
            r.tool_call_id = Some(c.id.clone());
            r.tool_name = Some(c.name.clone());
            r.is_error = true;
            out.push(r);
        }
    }
    out
}

/// The outside content `history` holds, with where each piece came from.
pub(crate) fn taint_of(history: &[StoredMessage]) -> Taint {
    let mut taint = Taint::default();
    for (i, m) in history.iter().enumerate() {
        if !m.trust.is_untrusted_content() {
            continue;
        }
        // The call that produced a tool message names its source (the file path).
        let call = history[..i]
            .iter()
            .rev()
            .flat_map(|a| a.tool_calls.iter())
            .find(|c| Some(&c.id) == m.tool_call_id.as_ref());
        let source = match call {
            Some(c) => pipeline::source_of(c, &m.content),
            None => format!("earlier {}", m.tool_name.as_deref().unwrap_or("content")),
        };
        taint.add(m.trust, source);
    }
    taint
}

/// After a turn, with the memo shape: the worker decodes what the next request
/// starts with (system prompt and memo) while the person is silent, so that request
/// prefills only its own words.
async fn prewarm_next(state: &AgentState) {
    if let Some(next) = next_prefix(state).await {
        let provider = state.provider();
        provider
            .prewarm(&next, state.tool_definitions(), None)
            .await;
    }
}

/// While the person speaks: the words heard so far (a partial transcript) are
/// decoded after the next request's prefix, so that when the final transcript
/// comes only its last words are prefilled. Returns at once.
pub(crate) async fn hear_ahead(state: &AgentState, heard: &str) {
    // A turn running (typed, or one a barge-in left going) owns the worker's cache:
    // decoding ahead between its rounds would only make it prefill again.
    if state.turn_busy() {
        return;
    }
    if let Some(next) = next_prefix(state).await {
        let provider = state.provider();
        provider
            .prewarm(&next, state.tool_definitions(), Some(heard))
            .await;
    }
}

/// What the next request will start with (system prompt and memo of the
/// conversation going on), where the provider keeps a prompt cache (memo shape).
async fn next_prefix(state: &AgentState) -> Option<Vec<LlmMessage>> {
    let shape = Shape::for_provider(state.provider().name());
    if !shape.memo {
        return None;
    }
    let history = match state.going_on().await {
        Some(conv) => state.recent(conv, HISTORY_WINDOW).await,
        // A new conversation starts with the system prompt alone.
        None => Vec::new(),
    };
    let cfg = state.config();
    let fitted = context::fit(
        &history,
        cfg.local.context_tokens as usize,
        state.system_prompt(),
        state.tool_definitions().len(),
        cfg.provider.max_tokens,
        shape,
    );
    Some(context::prefix(state.system_prompt(), fitted))
}

/// Whether the context holds a memo of earlier turns (a second system message).
fn has_memo(messages: &[LlmMessage]) -> bool {
    matches!(messages.get(1), Some(LlmMessage::System { .. }))
}

fn chunk(req: &ChatRequest, delta: &str, done: bool) -> IpcMessage {
    IpcMessage::StreamChunk(StreamChunk {
        request_id: req.request_id,
        delta: delta.to_owned(),
        done,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_memory::ConversationId;

    use crate::llm::{DeltaStream, LlmProvider, StopReason, Usage};
    use aios_common::config::AgentConfig;
    use aios_common::types::{ToolDefinition, TrustRequirement};
    use aios_mcp::{Tool, ToolContext, ToolError, ToolRegistry};

    /// A tool with a bug: it panics.
    struct Buggy;

    #[async_trait::async_trait]
    impl Tool for Buggy {
        fn definition(&self) -> ToolDefinition {
            ToolDefinition {
                name: "buggy".into(),
                description: "Panics.".into(),
                parameters: serde_json::json!({"type": "object", "properties": {}}),
            }
        }
        fn trust_requirement(&self) -> TrustRequirement {
            TrustRequirement::None
        }
        fn describe(&self, _args: &serde_json::Value) -> String {
            "a bug".into()
        }
        async fn execute(
            &self,
            _args: serde_json::Value,
            _ctx: &ToolContext,
        ) -> Result<String, ToolError> {
            panic!("index out of bounds in the tool")
        }
    }

    /// Calls `buggy` when asked to, and otherwise says "fine".
    struct CallsBuggy;

    #[async_trait::async_trait]
    impl LlmProvider for CallsBuggy {
        async fn complete_stream(&self, req: &LlmRequest) -> Result<DeltaStream, LlmError> {
            let asked = req.messages.iter().rev().find_map(|m| match m {
                LlmMessage::User { content } => Some(content.clone()),
                _ => None,
            });
            let first = if asked.as_deref() == Some("use the buggy tool") {
                StreamDelta::ToolCall(ToolCall {
                    id: "c1".into(),
                    name: "buggy".into(),
                    arguments: serde_json::json!({}),
                })
            } else {
                StreamDelta::Text("fine".into())
            };
            Ok(Box::pin(futures::stream::iter([
                Ok(first),
                Ok(StreamDelta::Done {
                    usage: Usage::default(),
                    stop: StopReason::EndTurn,
                }),
            ])))
        }
        fn supports_tools(&self) -> bool {
            true
        }
        fn name(&self) -> &str {
            "calls-buggy"
        }
    }

    /// Collects what a turn sends.
    #[derive(Default)]
    struct Collect(std::sync::Mutex<Vec<IpcMessage>>);

    impl TurnSink for Collect {
        fn send(&self, msg: IpcMessage) -> Result<(), ClientGone> {
            self.0.lock().expect("lock").push(msg);
            Ok(())
        }
    }

    fn ask(content: &str) -> ChatRequest {
        ChatRequest {
            request_id: uuid::Uuid::new_v4(),
            content: content.into(),
            spoken: false,
        }
    }

    #[tokio::test]
    async fn a_panic_in_the_tool_pipeline_answers_the_client_and_the_agent_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = AgentConfig::parse(
            &format!(
                "[provider]\ntype = \"echo\"\n[agent]\nkeep_history = false\naudit_log = \"{}\"\n",
                dir.path().join("actions.log").display()
            ),
            &dir.path().join("agent.toml"),
        )
        .expect("config");
        let mut tools = ToolRegistry::new();
        tools.register(Buggy);
        let state = Arc::new(AgentState::with_parts(config, Arc::new(CallsBuggy), tools));

        let sink = Collect::default();
        let req = ask("use the buggy tool");
        tokio::time::timeout(std::time::Duration::from_secs(60), run(&state, &req, &sink))
            .await
            .expect("the turn ends");
        let sent = std::mem::take(&mut *sink.0.lock().expect("lock"));
        let error = sent.iter().find_map(|m| match m {
            IpcMessage::Error(e) => Some(e),
            _ => None,
        });
        let error = error.unwrap_or_else(|| panic!("no error reply: {sent:?}"));
        assert_eq!(error.request_id, Some(req.request_id));
        assert_eq!(error.code, ErrorCode::Internal);
        assert!(
            error.message.contains("buggy") && error.message.contains("index out of bounds"),
            "{}",
            error.message
        );

        // The turn lock was let go: the next turn runs and answers.
        let next = ask("hello");
        tokio::time::timeout(
            std::time::Duration::from_secs(60),
            run(&state, &next, &sink),
        )
        .await
        .expect("the next turn ends");
        let sent = sink.0.lock().expect("lock");
        let text: String = sent
            .iter()
            .filter_map(|m| match m {
                IpcMessage::StreamChunk(c) if c.request_id == next.request_id => {
                    Some(c.delta.as_str())
                }
                _ => None,
            })
            .collect();
        assert_eq!(text, "fine", "{sent:?}");
    }

    #[test]
    fn a_call_cut_off_by_a_disconnect_gets_a_cancelled_result() {
        let conv = ConversationId(1);
        let call = |id: &str| ToolCall {
            id: id.into(),
            name: "file_delete".into(),
            arguments: serde_json::json!({"path": "~/x"}),
        };
        let mut asked = StoredMessage::new(conv, Role::Assistant, "", TrustLevel::System);
        asked.tool_calls = vec![call("a"), call("b")];
        let mut done = StoredMessage::new(conv, Role::Tool, "Deleted ~/x", TrustLevel::System);
        done.tool_call_id = Some("a".into());
        let history = vec![
            StoredMessage::new(conv, Role::User, "delete x and y", TrustLevel::User),
            asked,
            done,
            StoredMessage::new(conv, Role::User, "what now?", TrustLevel::User),
        ];
        let fixed = answer_every_call(&history);
        let roles: Vec<Role> = fixed.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::Tool,
                Role::User
            ]
        );
        assert_eq!(fixed[3].tool_call_id.as_deref(), Some("b"));
        assert!(fixed[3].is_error && fixed[3].content.starts_with("cancelled"));
        // A history where every call has its result is left as it is.
        assert_eq!(answer_every_call(&fixed).len(), fixed.len());
    }
}
