//! Trimming a conversation to the model's context budget.

use aios_common::types::Role;

use crate::StoredMessage;

/// The part of a history that [`fit_to_budget`] keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fitted<'a> {
    /// The kept messages: a suffix of the input, oldest first, beginning at a user
    /// message (empty when the input has no user message).
    pub messages: &'a [StoredMessage],
    /// Their cost, as [`message_tokens`] counts it.
    pub tokens: usize,
    /// True when even the window starting at the latest user message exceeds the
    /// budget; the caller should then report that the context is too long.
    pub over_budget: bool,
}

/// The tokens one message costs: its content plus, for each tool call, the tool name
/// and the arguments as compact JSON.
pub fn message_tokens(msg: &StoredMessage, count: &impl Fn(&str) -> usize) -> usize {
    let calls: usize = msg
        .tool_calls
        .iter()
        .map(|c| count(&c.name) + count(&c.arguments.to_string()))
        .sum();
    count(&msg.content) + calls
}

/// Keeps the most recent messages of `messages` (oldest first) that fit in
/// `budget_tokens`, counting each with [`message_tokens`].
///
/// The kept window always begins at a user message, so it never opens with a tool
/// result or with an assistant message whose tool results were cut off; messages before
/// the earliest user message that fits are dropped. When the window starting at the
/// latest user message alone is over budget it is kept anyway, with
/// [`Fitted::over_budget`] set. Input without any user message gives an empty window.
pub fn fit_to_budget(
    messages: &[StoredMessage],
    budget_tokens: usize,
    count: impl Fn(&str) -> usize,
) -> Fitted<'_> {
    let mut total = 0usize;
    // (start index, tokens from there to the end) of the best start found so far.
    let mut best: Option<(usize, usize)> = None;
    for (i, msg) in messages.iter().enumerate().rev() {
        total = total.saturating_add(message_tokens(msg, &count));
        if msg.role != Role::User {
            continue;
        }
        if total <= budget_tokens {
            best = Some((i, total));
        } else {
            // Costs only grow going back: no earlier start can fit. Keep the latest
            // user message even when it does not fit.
            if best.is_none() {
                return Fitted {
                    messages: &messages[i..],
                    tokens: total,
                    over_budget: true,
                };
            }
            break;
        }
    }
    match best {
        Some((start, tokens)) => Fitted {
            messages: &messages[start..],
            tokens,
            over_budget: false,
        },
        None => Fitted {
            messages: &messages[messages.len()..],
            tokens: 0,
            over_budget: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use aios_common::types::{ToolCall, TrustLevel};

    use super::*;
    use crate::ConversationId;

    /// One token per character keeps the arithmetic readable.
    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    fn msg(role: Role, content: &str) -> StoredMessage {
        let trust = match role {
            Role::Tool => TrustLevel::WebContent,
            Role::User => TrustLevel::User,
            _ => TrustLevel::System,
        };
        StoredMessage::new(ConversationId(1), role, content, trust)
    }

    fn call(content: &str, id: &str) -> StoredMessage {
        StoredMessage {
            tool_calls: vec![ToolCall {
                id: id.into(),
                name: "ls".into(),
                arguments: serde_json::json!({}),
            }],
            ..msg(Role::Assistant, content)
        }
    }

    fn result(content: &str, id: &str) -> StoredMessage {
        StoredMessage {
            tool_call_id: Some(id.into()),
            tool_name: Some("ls".into()),
            ..msg(Role::Tool, content)
        }
    }

    fn contents<'a>(f: &Fitted<'a>) -> Vec<&'a str> {
        f.messages.iter().map(|m| m.content.as_str()).collect()
    }

    #[test]
    fn empty_history_gives_empty_window() {
        let f = fit_to_budget(&[], 100, chars);
        assert!(f.messages.is_empty());
        assert_eq!(f.tokens, 0);
        assert!(!f.over_budget);
    }

    #[test]
    fn everything_fits() {
        let h = [msg(Role::User, "aa"), msg(Role::Assistant, "bb")];
        let f = fit_to_budget(&h, 4, chars);
        assert_eq!(contents(&f), ["aa", "bb"]);
        assert_eq!(f.tokens, 4);
        assert!(!f.over_budget);
    }

    #[test]
    fn tool_calls_are_counted() {
        // "ls" (2) + "{}" (2) on top of the content.
        let h = [msg(Role::User, "u"), call("a", "c1"), result("r", "c1")];
        assert_eq!(message_tokens(&h[1], &chars), 5);
        assert_eq!(fit_to_budget(&h, 7, chars).tokens, 7);
        assert!(fit_to_budget(&h, 6, chars).over_budget);
    }

    #[test]
    fn cut_in_a_tool_exchange_moves_to_the_next_user_message() {
        let h = [
            msg(Role::User, "u1"),              // 2
            call("a1", "c1"),                   // 2 + 4
            result("tool-output-1", "c1"),      // 13
            msg(Role::Assistant, "done"),       // 4
            msg(Role::User, "u2"),              // 2
            call("a2", "c2"),                   // 6
            result("r2", "c2"),                 // 2
            msg(Role::Assistant, "answer two"), // 10
        ];
        // From u2: 2 + 6 + 2 + 10 = 20. A budget of 37 would also fit "done" and the
        // tool result, but that window would start in the middle of the first exchange.
        // Everything costs 45.
        for budget in 20..45 {
            let f = fit_to_budget(&h, budget, chars);
            assert_eq!(contents(&f), ["u2", "a2", "r2", "answer two"], "{budget}");
            assert_eq!(f.messages[0].role, Role::User);
            assert_eq!(f.tokens, 20);
            assert!(!f.over_budget);
        }
        let f = fit_to_budget(&h, 45, chars);
        assert_eq!(f.messages.len(), h.len());
        assert_eq!(f.tokens, 45);
    }

    #[test]
    fn window_never_starts_with_tool_or_orphaned_assistant() {
        let h = [
            msg(Role::User, "u1"),
            call("a1", "c1"),
            result("r1", "c1"),
            result("r1b", "c1"),
            msg(Role::Assistant, "fin"),
            msg(Role::User, "u2"),
            msg(Role::Assistant, "a2"),
        ];
        for budget in 0..60 {
            let f = fit_to_budget(&h, budget, chars);
            assert_eq!(f.messages[0].role, Role::User, "{budget}");
            assert_eq!(f.over_budget, f.tokens > budget, "{budget}");
            assert!(std::ptr::eq(f.messages.last().unwrap(), h.last().unwrap()));
        }
    }

    #[test]
    fn oversized_latest_user_message_is_kept_and_flagged() {
        let h = [
            msg(Role::User, "short"),
            msg(Role::Assistant, "ok"),
            msg(Role::User, &"x".repeat(500)),
        ];
        let f = fit_to_budget(&h, 100, chars);
        assert_eq!(f.messages.len(), 1);
        assert_eq!(f.messages[0].content.len(), 500);
        assert_eq!(f.tokens, 500);
        assert!(f.over_budget);

        let alone = [msg(Role::User, "too long")];
        let f = fit_to_budget(&alone, 0, chars);
        assert_eq!(contents(&f), ["too long"]);
        assert!(f.over_budget);
    }

    #[test]
    fn oversized_current_turn_starts_at_its_user_message() {
        // The latest user message fits, but the tool output of its turn does not.
        let h = [
            msg(Role::User, "u1"),
            msg(Role::User, "u2"),
            call("a", "c"),
            result(&"y".repeat(200), "c"),
        ];
        let f = fit_to_budget(&h, 50, chars);
        assert_eq!(f.messages.len(), 3);
        assert_eq!(f.messages[0].content, "u2");
        assert!(f.over_budget);
    }

    #[test]
    fn no_user_message_gives_empty_window() {
        let h = [call("a", "c"), result("r", "c"), msg(Role::Assistant, "x")];
        let f = fit_to_budget(&h, 1000, chars);
        assert!(f.messages.is_empty());
        assert!(!f.over_budget);
    }
}
