//! What the model reads each turn, built from the stored conversation.
//!
//! A small local model follows the pattern of the conversation more than its
//! instructions. Measured on the 1.5B (issue "the brain in a running conversation"):
//! after two actions denied at the prompt it answered "I'm sorry, but I can't assist
//! with that." and from then on described tool calls in prose instead of making
//! them, read-only ones included. So the history it reads is shaped:
//!
//! 1. A denied or failed action that is over reads as concerning that one action
//!    ([`declined`], [`settled`]), never as a reason to stop using tools.
//! 2. With [`Shape::compact`] (not yet on by default: see [`Shape::for_provider`]), a turn that is over keeps the person's request, the
//!    call and a one-line result; the model's closing words after a denied or failed
//!    action become [`NOT_DONE`], so an apology ("I can't assist with that") never
//!    becomes the pattern to copy. The turn now running is sent whole.
//! 3. With [`Shape::remind`], each request of the person carries the routing rule
//!    again, right next to it.
//!
//! Every rule gives a message the same text whatever comes after it, except that the
//! turn which just ended is compacted; so the worker's KV cache keeps the history and
//! a new turn prefills the last turn's result line and the new request only.
//!
//! `llm_bench --conversation` builds its context with these same functions, so what
//! it scores is what the agent sends.

use aios_common::types::{Role, TrustLevel};
use aios_memory::{StoredMessage, fit_to_budget};

use crate::llm::LlmMessage;

/// How the history is shaped for one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Turns that are over keep request, call and a one-line result.
    pub compact: bool,
    /// Each request carries [`REMINDER`].
    pub remind: bool,
}

impl Shape {
    /// What the agent sends each provider. Today every provider reads the history
    /// whole: compaction and the reminder are not yet shown to help the local model
    /// (`llm_bench --conversation --shapes raw,compact,remind` compares them; one
    /// trial of the reminder made the 1.5B invent a folder listing instead of
    /// calling `file_list`), and the local model runs each message alone by default
    /// (`conversation_idle_secs`).
    pub fn for_provider(_name: &str) -> Self {
        Self::RAW
    }

    /// The history as it is stored, unshaped (the behaviour before this module).
    pub const RAW: Shape = Shape {
        compact: false,
        remind: false,
    };
}

/// Put after each request of the person when [`Shape::remind`] is on.
pub const REMINDER: &str = "(If this needs the computer, reply with only the <tool_call> block. Otherwise answer in one or two short sentences.)";

/// The closing words of a turn that is over whose action was declined or failed.
pub const NOT_DONE: &str = "Okay, that was not done.";

/// Longest result line a compacted turn keeps.
const RESULT_LINE_CHARS: usize = 120;

/// The tool result of an action the person declined at the prompt (or that timed out
/// unanswered); `why` is what the prompt reported.
pub fn declined(why: &str) -> String {
    format!(
        "The person declined this action ({why}); nothing was done. Only this action was declined: handle the next request normally."
    )
}

/// How an error result of a turn that is over reads: it concerned that action only.
pub fn settled(error: &str) -> String {
    if error.starts_with("The person declined") {
        return error.to_owned();
    }
    format!("{error} (This concerned only that action; handle the next request normally.)")
}

/// The most recent part of `history` that fits a model context of `window_tokens`
/// beside the system prompt, `tools` tool definitions and a reply of `max_tokens`,
/// as [`messages`] will shape it. It starts at a request of the person.
pub fn fit<'a>(
    history: &'a [StoredMessage],
    window_tokens: usize,
    system: &str,
    tools: usize,
    max_tokens: u32,
    shape: Shape,
) -> &'a [StoredMessage] {
    let system_tokens = estimate_tokens(system) + 150 * tools;
    let budget = window_tokens.saturating_sub(max_tokens as usize + system_tokens);
    let kept = if shape.remind {
        let shaped: Vec<StoredMessage> = history
            .iter()
            .map(|m| {
                let mut m = m.clone();
                if is_request(&m) {
                    m.content.push('\n');
                    m.content.push_str(REMINDER);
                }
                m
            })
            .collect();
        fit_to_budget(&shaped, budget, estimate_tokens)
            .messages
            .len()
    } else {
        fit_to_budget(history, budget, estimate_tokens)
            .messages
            .len()
    };
    &history[history.len() - kept..]
}

/// A deliberately high estimate (about 3 characters a token) so the prompt fits.
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(3)
}

/// Whether a reply that made no call talks about making one: it names a tool
/// (`file_list`) or writes call syntax as prose. Tools whose names are plain words
/// ("volume") are left out: a reply may say them.
pub fn describes_a_call(text: &str, tool_names: &[String]) -> bool {
    let t = text.to_lowercase();
    t.contains("<tool_call")
        || t.contains("\"arguments\"")
        || tool_names
            .iter()
            .any(|n| n.contains('_') && t.contains(n.as_str()))
}

/// A message the person typed or said (not a note from the agent).
fn is_request(m: &StoredMessage) -> bool {
    m.role == Role::User && m.trust == TrustLevel::User
}

/// The system prompt and `history` (already fitted to the context budget, oldest
/// first) as the model reads them.
pub fn messages(system: &str, history: &[StoredMessage], shape: Shape) -> Vec<LlmMessage> {
    // The running turn starts at the latest request of the person.
    let current = history.iter().rposition(is_request).unwrap_or(0);
    let mut out = Vec::with_capacity(history.len() + 1);
    out.push(LlmMessage::System {
        content: system.to_owned(),
    });
    // Whether the last tool result read was an error (a denial included).
    let mut after_tool: Option<bool> = None;
    for (i, m) in history.iter().enumerate() {
        let over = i < current;
        match m.role {
            Role::User if is_request(m) => {
                after_tool = None;
                let content = if shape.remind {
                    format!("{}\n{REMINDER}", m.content)
                } else {
                    m.content.clone()
                };
                out.push(LlmMessage::User { content });
            }
            // A note from the agent itself (an unreadable call): the running turn
            // needs it; a turn that is over does not.
            Role::User => {
                if !(over && shape.compact) {
                    out.push(LlmMessage::User {
                        content: m.content.clone(),
                    });
                }
            }
            Role::System => out.push(LlmMessage::System {
                content: m.content.clone(),
            }),
            Role::Assistant => {
                let content = if !(over && shape.compact) {
                    m.content.clone()
                } else if !m.tool_calls.is_empty() {
                    String::new()
                } else if after_tool == Some(true) {
                    // The closing words after a denial or failure: the apology the
                    // model would copy is replaced, the turn's shape is kept (a
                    // reply missing here made the 1.5B answer the next request with
                    // nothing at all).
                    NOT_DONE.to_owned()
                } else {
                    m.content.clone()
                };
                out.push(LlmMessage::Assistant {
                    content,
                    tool_calls: m.tool_calls.clone(),
                });
            }
            Role::Tool => {
                after_tool = Some(m.is_error);
                let mut content = m.content.clone();
                if over {
                    if shape.compact {
                        // An error keeps more: it says why, and the model reads it
                        // as being about that action only.
                        let cap = if m.is_error {
                            2 * RESULT_LINE_CHARS
                        } else {
                            RESULT_LINE_CHARS
                        };
                        content = one_line(&content, cap);
                    }
                    if m.is_error {
                        content = settled(&content);
                    }
                }
                out.push(LlmMessage::Tool {
                    call_id: m.tool_call_id.clone().unwrap_or_default(),
                    name: m.tool_name.clone().unwrap_or_default(),
                    content,
                    is_error: m.is_error,
                });
            }
        }
    }
    out
}

/// The first line of `text`, cut to `cap` characters, marked when anything was left out.
fn one_line(text: &str, cap: usize) -> String {
    let text = text.trim();
    let first = text.lines().next().unwrap_or("");
    let mut line: String = first.chars().take(cap).collect();
    if line.len() < text.len() {
        line.push_str(" [...]");
    }
    line
}

#[cfg(test)]
mod tests {
    use aios_common::types::ToolCall;
    use aios_memory::ConversationId;

    use super::*;

    fn msg(role: Role, text: &str, trust: TrustLevel) -> StoredMessage {
        StoredMessage::new(ConversationId(1), role, text, trust)
    }

    fn tool_turn(ask: &str, result: &str, is_error: bool, closing: &str) -> Vec<StoredMessage> {
        let mut call = msg(Role::Assistant, "", TrustLevel::System);
        call.tool_calls = vec![ToolCall {
            id: format!("c-{ask}"),
            name: "volume".into(),
            arguments: serde_json::json!({"level": 30}),
        }];
        let mut res = msg(Role::Tool, result, TrustLevel::System);
        res.tool_call_id = Some(format!("c-{ask}"));
        res.tool_name = Some("volume".into());
        res.is_error = is_error;
        vec![
            msg(Role::User, ask, TrustLevel::User),
            call,
            res,
            msg(Role::Assistant, closing, TrustLevel::System),
        ]
    }

    fn texts(m: &[LlmMessage]) -> Vec<String> {
        m.iter()
            .map(|m| match m {
                LlmMessage::System { .. } => "S".into(),
                LlmMessage::User { content } => format!("U:{content}"),
                LlmMessage::Assistant {
                    content,
                    tool_calls,
                } => format!("A:{content}|{}", tool_calls.len()),
                LlmMessage::Tool { content, .. } => format!("T:{content}"),
            })
            .collect()
    }

    #[test]
    fn a_refusal_that_is_over_is_not_there_to_copy() {
        let mut h = tool_turn(
            "quieter",
            &declined("denied at the prompt"),
            true,
            "I'm sorry, but I can't assist with that.",
        );
        h.push(msg(Role::User, "list my files", TrustLevel::User));
        let shape = Shape {
            compact: true,
            remind: false,
        };
        let t = texts(&messages("sys", &h, shape));
        assert_eq!(t.len(), 6, "{t:?}");
        assert!(t[3].starts_with("T:The person declined"), "{t:?}");
        assert!(t[3].contains("handle the next request normally"), "{t:?}");
        assert_eq!(t[4], format!("A:{NOT_DONE}|0"));
        assert!(!t.iter().any(|m| m.contains("can't assist")), "{t:?}");
        assert_eq!(t[5], "U:list my files");
    }

    #[test]
    fn the_running_turn_is_whole_and_old_results_are_one_line() {
        let mut h = tool_turn("a", "line one\nline two", false, "Done, volume 30.");
        h.extend(tool_turn("b", "first\nsecond", false, "All set."));
        let shape = Shape {
            compact: true,
            remind: false,
        };
        let t = texts(&messages("sys", &h, shape));
        assert_eq!(
            t,
            [
                "S",
                "U:a",
                "A:|1",
                "T:line one [...]",
                "A:Done, volume 30.|0",
                "U:b",
                "A:|1",
                "T:first\nsecond",
                "A:All set.|0"
            ]
        );
        // Unshaped, nothing changes.
        let raw = texts(&messages("sys", &h, Shape::RAW));
        assert!(raw.contains(&"A:Done, volume 30.|0".to_owned()));
        assert!(raw.contains(&"T:line one\nline two".to_owned()));
    }

    #[test]
    fn prose_about_a_call_is_told_from_a_plain_answer() {
        let names = vec!["file_list".to_owned(), "volume".to_owned()];
        assert!(describes_a_call(
            "To list the files you can use the `file_list` function with the path.",
            &names
        ));
        assert!(describes_a_call(
            "{\"name\": \"x\", \"arguments\": {}}",
            &names
        ));
        assert!(!describes_a_call("The volume is at 30% now.", &names));
    }

    #[test]
    fn the_window_leaves_room_for_the_reminders() {
        let h: Vec<StoredMessage> = (0..40)
            .flat_map(|i| {
                [
                    msg(Role::User, &format!("request {i}"), TrustLevel::User),
                    msg(
                        Role::Assistant,
                        "An answer of some length.",
                        TrustLevel::System,
                    ),
                ]
            })
            .collect();
        let plain = fit(&h, 1500, "sys", 0, 100, Shape::RAW).len();
        let shape = Shape {
            compact: false,
            remind: true,
        };
        let reminded = fit(&h, 1500, "sys", 0, 100, shape);
        assert!(reminded.len() < plain, "{} vs {plain}", reminded.len());
        assert_eq!(reminded[0].role, Role::User);
    }

    #[test]
    fn an_old_failure_concerns_that_action_only() {
        let mut h = tool_turn("a", "no such file", true, "It failed.");
        h.push(msg(Role::User, "b", TrustLevel::User));
        let t = texts(&messages("sys", &h, Shape::RAW));
        assert_eq!(
            t[3],
            "T:no such file (This concerned only that action; handle the next request normally.)"
        );
    }

    #[test]
    fn every_request_carries_the_reminder_and_earlier_turns_keep_their_text() {
        let mut h = vec![
            msg(Role::User, "hi", TrustLevel::User),
            msg(Role::Assistant, "Hello!", TrustLevel::System),
        ];
        let shape = Shape {
            compact: true,
            remind: true,
        };
        let before = texts(&messages("sys", &h, shape));
        h.push(msg(Role::User, "louder", TrustLevel::User));
        let after = texts(&messages("sys", &h, shape));
        // The earlier messages read the same, so the KV cache holds them.
        assert_eq!(before[..], after[..before.len()]);
        assert_eq!(after[3], format!("U:louder\n{REMINDER}"));
    }
}
