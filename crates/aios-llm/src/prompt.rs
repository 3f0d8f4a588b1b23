//! Rendering a conversation with tools for Qwen-style chat models.
//!
//! The GGUF's chat template (applied by the worker) knows the roles but not tools, so
//! the tool schemas go into the system message the way Qwen2.5's own template puts
//! them, assistant calls are written back as `<tool_call>` blocks and tool results
//! as `<tool_response>` blocks in a user turn. Keeping this rendering stable keeps
//! the KV prefix cache valid from one turn to the next.

use crate::protocol::{Message, Role, ToolSpec};

/// The system message with the tool block appended.
pub fn system_with_tools(system: &str, tools: &[ToolSpec]) -> String {
    if tools.is_empty() {
        return system.to_owned();
    }
    let mut out = String::with_capacity(system.len() + tools.len() * 300);
    out.push_str(system);
    out.push_str(
        "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n\
         You are provided with function signatures within <tools></tools> XML tags:\n<tools>",
    );
    for t in tools {
        let f = serde_json::json!({
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        });
        out.push('\n');
        out.push_str(&f.to_string());
    }
    out.push_str(
        "\n</tools>\n\nFor each function call, return a json object with function name and \
         arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n\
         {\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>",
    );
    out
}

/// JSON the way Qwen's template and the model write it (Python's `json.dumps`:
/// `", "` and `": "`). A call written back in another spelling than the model's own
/// is text it has not seen: the KV cache stops matching at the call and, measured,
/// the 1.5B then closed turns with nothing or with "I can't assist with that".
pub fn spaced(v: &serde_json::Value) -> String {
    struct Spaced;
    impl serde_json::ser::Formatter for Spaced {
        fn begin_array_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
        fn begin_object_key<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            if first { Ok(()) } else { w.write_all(b", ") }
        }
        fn begin_object_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
        ) -> std::io::Result<()> {
            w.write_all(b": ")
        }
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, Spaced);
    // Serializing a Value into a Vec cannot fail.
    let _ = serde::Serialize::serialize(v, &mut ser);
    String::from_utf8(out).unwrap_or_default()
}

/// `(role, content)` pairs for the chat template: tools folded into the first system
/// message (a later one, such as the agent's note of earlier turns, is plain),
/// calls and results written as Qwen writes them.
pub fn template_messages(messages: &[Message], tools: &[ToolSpec]) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        match m.role {
            Role::System if i == 0 => out.push(("system", system_with_tools(&m.content, tools))),
            Role::System => out.push(("system", m.content.clone())),
            Role::User => out.push(("user", m.content.clone())),
            Role::Assistant => {
                let mut text = m.content.clone();
                for c in &m.tool_calls {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    let call = serde_json::json!({"name": c.name, "arguments": c.arguments});
                    text.push_str(&format!("<tool_call>\n{}\n</tool_call>", spaced(&call)));
                }
                out.push(("assistant", text));
            }
            Role::Tool => {
                let block = format!("<tool_response>\n{}\n</tool_response>", m.content);
                // Consecutive results share one user turn, as in Qwen's template.
                match out.last_mut() {
                    Some(("user", prev)) if prev.ends_with("</tool_response>") => {
                        prev.push('\n');
                        prev.push_str(&block);
                    }
                    _ => out.push(("user", block)),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::CallSpec;
    use serde_json::json;

    fn msg(role: Role, content: &str) -> Message {
        Message {
            role,
            content: content.into(),
            tool_calls: vec![],
        }
    }

    #[test]
    fn calls_are_written_back_as_the_model_writes_them() {
        let v = json!({"name": "file_list", "arguments": {"path": "/a, b: c", "n": [1, 2]}});
        assert_eq!(
            spaced(&v),
            r#"{"name": "file_list", "arguments": {"path": "/a, b: c", "n": [1, 2]}}"#
        );
    }

    #[test]
    fn only_the_first_system_message_lists_the_tools() {
        let tools = [ToolSpec {
            name: "volume".into(),
            description: "Set the volume".into(),
            parameters: json!({"type": "object"}),
        }];
        let out = template_messages(
            &[
                msg(Role::System, "Be brief."),
                msg(Role::System, "Earlier: nothing."),
                msg(Role::User, "hi"),
            ],
            &tools,
        );
        assert!(out[0].1.contains("<tools>"));
        assert_eq!(out[1], ("system", "Earlier: nothing.".to_owned()));
    }

    #[test]
    fn tools_are_listed_in_the_system_message() {
        let tools = [ToolSpec {
            name: "volume".into(),
            description: "Set the volume".into(),
            parameters: json!({"type": "object", "properties": {"level": {"type": "integer"}}}),
        }];
        let s = system_with_tools("Be brief.", &tools);
        assert!(s.starts_with("Be brief.\n\n# Tools"));
        assert!(
            s.contains(r#"{"type":"function","function":{"name":"volume""#),
            "{s}"
        );
        assert!(s.ends_with("</tool_call>"));
        assert_eq!(system_with_tools("Be brief.", &[]), "Be brief.");
    }

    #[test]
    fn calls_and_results_are_written_back_like_qwen() {
        let mut call = msg(Role::Assistant, "");
        call.tool_calls.push(CallSpec {
            name: "volume".into(),
            arguments: json!({"level": 30}),
        });
        let m = template_messages(
            &[
                msg(Role::System, "S"),
                msg(Role::User, "quieter"),
                call,
                msg(Role::Tool, "ok"),
                msg(Role::Tool, "ok2"),
            ],
            &[],
        );
        assert_eq!(
            m[2],
            (
                "assistant",
                "<tool_call>\n{\"name\": \"volume\", \"arguments\": {\"level\": 30}}\n</tool_call>"
                    .to_owned()
            )
        );
        assert_eq!(
            m[3],
            (
                "user",
                "<tool_response>\nok\n</tool_response>\n<tool_response>\nok2\n</tool_response>"
                    .to_owned()
            )
        );
        assert_eq!(m.len(), 4);
    }
}
