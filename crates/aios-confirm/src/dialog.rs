//! The overlay's question, apart from any widget: what it shows, when Allow may be
//! pressed, the countdown, and the answer. The Iced overlay only draws it, so the
//! rules that keep it safe are tested here.

use aios_common::text::{cut_middle, one_line};
use aios_common::types::{ConfirmRequest, TrustRequirement};

use crate::Refusal;

/// Longest line in the overlay, in characters (the middle of a longer one is cut).
const LINE: usize = 72;
/// Most argument lines shown.
const MAX_ARGS: usize = 6;
/// Argument names that say what a call acts on, shown last and apart.
const TARGET_KEYS: &[&str] = &["path", "command", "ssid", "url"];

/// One question on screen.
#[derive(Debug, Clone)]
pub struct Dialog {
    req: ConfirmRequest,
    /// What is typed in the DELETE field.
    pub typed: String,
    /// Seconds left before it counts as a denial.
    pub remaining: u64,
    /// A second has passed since it appeared: a click meant for what was under
    /// the pointer before cannot land on Allow.
    armed: bool,
    answer: Option<Result<(), Refusal>>,
}

impl Dialog {
    /// A new question with its whole timeout ahead.
    pub fn new(req: ConfirmRequest) -> Self {
        Self {
            remaining: req.timeout_secs,
            req,
            typed: String::new(),
            armed: false,
            answer: None,
        }
    }

    /// A destructive action: red, and Allow needs `DELETE` typed.
    pub fn critical(&self) -> bool {
        self.req.requirement == TrustRequirement::DoubleConfirm
    }

    /// Whether Allow does anything now: a destructive action once `DELETE` is typed
    /// (typing it is deliberate), a normal one from a second after it appeared.
    pub fn allow_enabled(&self) -> bool {
        self.answer.is_none()
            && if self.critical() {
                self.typed == "DELETE"
            } else {
                self.armed
            }
    }

    /// The title line.
    pub fn title(&self) -> &'static str {
        if self.critical() {
            "AIOS asks before a destructive action"
        } else {
            "AIOS asks before acting"
        }
    }

    /// What will happen: AIOS's own summary lines (values in them already escaped).
    pub fn summary(&self) -> Vec<String> {
        self.req
            .summary
            .lines()
            .take(4)
            .map(|l| cut_middle(&one_line(l), LINE))
            .collect()
    }

    /// The call's exact arguments, one escaped line each, the target apart.
    pub fn arguments(&self) -> Vec<String> {
        let Some(args) = self.req.call.arguments.as_object() else {
            return Vec::new();
        };
        let target = self.target_key();
        let rest: Vec<_> = args
            .iter()
            .filter(|(k, _)| Some(k.as_str()) != target)
            .collect();
        let mut lines: Vec<String> = rest
            .iter()
            .take(MAX_ARGS)
            .map(|(k, v)| {
                let value = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                cut_middle(&one_line(&format!("{k}: {value}")), LINE)
            })
            .collect();
        if rest.len() > MAX_ARGS {
            lines.push(format!("({} more arguments)", rest.len() - MAX_ARGS));
        }
        lines
    }

    /// The tool's name, escaped.
    pub fn tool(&self) -> String {
        cut_middle(&one_line(&self.req.call.name), LINE)
    }

    /// What the call acts on (a path, command, network or URL), always whole at its
    /// end: a long one loses its middle.
    pub fn target(&self) -> Option<String> {
        let key = self.target_key()?;
        let value = self.req.call.arguments.get(key)?.as_str()?;
        Some(cut_middle(&one_line(value), LINE))
    }

    fn target_key(&self) -> Option<&'static str> {
        let args = self.req.call.arguments.as_object()?;
        TARGET_KEYS
            .iter()
            .copied()
            .find(|k| args.get(*k).is_some_and(serde_json::Value::is_string))
    }

    /// Where untrusted content in the conversation came from, if any.
    pub fn source(&self) -> Option<String> {
        self.req
            .content_source
            .as_deref()
            .map(|s| cut_middle(&one_line(s), LINE))
    }

    /// Allow was pressed: approves only when it is enabled.
    pub fn allow(&mut self) {
        if self.allow_enabled() {
            self.answer = Some(Ok(()));
        }
    }

    /// Cancel, Escape, or the window closing.
    pub fn cancel(&mut self, why: &str) {
        if self.answer.is_none() {
            self.answer = Some(Err(why.to_owned().into()));
        }
    }

    /// A second passed; at zero the question is denied as timed out.
    pub fn tick(&mut self) {
        if self.answer.is_some() {
            return;
        }
        self.armed = true;
        self.remaining = self.remaining.saturating_sub(1);
        if self.remaining == 0 {
            self.answer = Some(Err(Refusal {
                why: format!("no answer within {} s", self.req.timeout_secs),
                timed_out: true,
            }));
        }
    }

    /// The answer, once there is one.
    pub fn answer(&self) -> Option<&Result<(), Refusal>> {
        self.answer.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_common::types::ToolCall;
    use serde_json::json;

    fn dialog(requirement: TrustRequirement, args: serde_json::Value) -> Dialog {
        Dialog::new(ConfirmRequest {
            request_id: uuid::Uuid::nil(),
            call: ToolCall {
                id: "c".into(),
                name: "file_delete".into(),
                arguments: args,
            },
            summary: "Delete ~/notes.txt\nThis cannot be undone.".into(),
            requirement,
            content_source: None,
            timeout_secs: 3,
        })
    }

    #[test]
    fn a_destructive_action_needs_delete_typed_exactly() {
        let mut d = dialog(TrustRequirement::DoubleConfirm, json!({"path": "/h/n.txt"}));
        assert!(d.critical());
        for typed in ["", "delete", "DELET", "DELETE ", " DELETE", "DELETEE"] {
            d.typed = typed.into();
            assert!(!d.allow_enabled(), "{typed:?}");
            d.allow();
            assert!(d.answer().is_none(), "{typed:?} must not approve");
        }
        d.typed = "DELETE".into();
        assert!(d.allow_enabled());
        d.allow();
        assert!(matches!(d.answer(), Some(Ok(()))));
    }

    #[test]
    fn a_normal_action_is_allowed_with_one_click_after_a_second() {
        let mut d = dialog(TrustRequirement::Confirm, json!({"path": "/h/n.txt"}));
        assert!(
            !d.critical() && !d.allow_enabled(),
            "not in its first second"
        );
        d.allow();
        assert!(
            d.answer().is_none(),
            "a click already under way does not approve"
        );
        d.tick();
        assert!(d.allow_enabled());
        d.allow();
        assert!(matches!(d.answer(), Some(Ok(()))));
    }

    #[test]
    fn the_countdown_denies_as_timed_out_and_the_first_answer_stands() {
        let mut d = dialog(TrustRequirement::Confirm, json!({}));
        d.tick();
        d.tick();
        assert_eq!(d.remaining, 1);
        assert!(d.answer().is_none());
        d.tick();
        let Some(Err(r)) = d.answer() else {
            panic!("a timeout denies");
        };
        assert!(r.timed_out && r.why == "no answer within 3 s");
        // Nothing changes a given answer: not a late click, not Escape.
        d.allow();
        d.cancel("escape");
        assert!(matches!(d.answer(), Some(Err(r)) if r.timed_out));

        let mut d = dialog(TrustRequirement::Confirm, json!({}));
        d.cancel("the person pressed Cancel");
        d.allow();
        assert!(matches!(d.answer(), Some(Err(r)) if !r.timed_out));
    }

    #[test]
    fn arguments_are_escaped_cut_and_the_target_stays_whole_at_its_end() {
        let long = format!("/home/ada/{}/secret-plans.txt", "x".repeat(300));
        let d = dialog(
            TrustRequirement::DoubleConfirm,
            json!({
                "path": long,
                "note": "line one\nline two\u{1b}[2J\u{202e}",
            }),
        );
        let target = d.target().expect("a target");
        assert!(target.ends_with("secret-plans.txt"), "{target}");
        assert!(target.chars().count() <= LINE);
        let args = d.arguments();
        assert_eq!(args.len(), 1, "the target is shown apart: {args:?}");
        assert!(
            !args[0].contains('\n') && !args[0].contains('\u{1b}') && !args[0].contains('\u{202e}'),
            "{args:?}"
        );
        assert_eq!(d.summary().len(), 2);
    }
}
