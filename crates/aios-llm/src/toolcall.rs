//! Finding tool calls in a model's reply.
//!
//! Small models write a call in one of three ways: inside `<tool_call>` tags (what
//! the prompt asks for), as a fenced JSON block, or as bare JSON. All three are
//! accepted; anything that looks like a call but does not parse is reported, never
//! guessed at.

use serde_json::Value;

use crate::protocol::CallSpec;

/// A reply split into visible text and tool calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// The reply without the call blocks, trimmed.
    pub text: String,
    /// Calls in order.
    pub calls: Vec<CallSpec>,
    /// Call-like blocks that could not be read.
    pub errors: Vec<String>,
}

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";

/// Splits `raw` into text and calls.
pub fn parse_reply(raw: &str) -> Parsed {
    let mut p = Parsed::default();
    if raw.contains(OPEN) {
        let mut text = String::new();
        let mut rest = raw;
        while let Some(start) = rest.find(OPEN) {
            text.push_str(&rest[..start]);
            let after = &rest[start + OPEN.len()..];
            let (inner, next) = match after.find(CLOSE) {
                Some(end) => (&after[..end], &after[end + CLOSE.len()..]),
                None => (after, ""),
            };
            collect_json(strip_fence(inner), &mut p);
            rest = next;
        }
        text.push_str(rest);
        p.text = text.trim().to_owned();
        return p;
    }
    if let Some((before, body, after)) = find_fence(raw) {
        let mut found = Parsed::default();
        collect_json(body, &mut found);
        if !found.calls.is_empty() || looks_like_call(body) {
            p.calls = found.calls;
            p.errors = found.errors;
            p.text = format!("{}{}", before.trim(), after.trim())
                .trim()
                .to_owned();
            return p;
        }
    }
    let trimmed = raw.trim();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let mut found = Parsed::default();
        collect_json(trimmed, &mut found);
        if !found.calls.is_empty() || looks_like_call(trimmed) {
            return found;
        }
    }
    p.text = trimmed.to_owned();
    p
}

/// True while `text` (the reply so far) may still turn into a call that must not be
/// shown as text; used to hold back streaming.
pub fn may_be_call(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with('{')
        || t.starts_with('[')
        || OPEN.starts_with(t)
        || t.starts_with(OPEN)
        || t.starts_with("```")
        || "```".starts_with(t)
}

/// Length of the prefix of `text` that can be shown now: everything before a call
/// marker, minus a tail that may be the beginning of one.
pub fn streamable_prefix(text: &str) -> usize {
    let cut = [text.find(OPEN), text.find("```")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(text.len());
    let head = &text[..cut];
    // Hold back a tail such as "<tool" or "``" until the next token decides.
    for marker in [OPEN, "```"] {
        for k in (1..marker.len()).rev() {
            if head.ends_with(&marker[..k]) {
                return head.len() - k;
            }
        }
    }
    head.len()
}

fn looks_like_call(s: &str) -> bool {
    s.contains("\"name\"") && (s.contains("\"arguments\"") || s.contains("\"parameters\""))
}

fn strip_fence(s: &str) -> &str {
    let t = s.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .unwrap_or(t);
    t.strip_suffix("```").unwrap_or(t).trim()
}

/// The first fenced block: (text before, body, text after).
fn find_fence(raw: &str) -> Option<(&str, &str, &str)> {
    let start = raw.find("```")?;
    let body_start = raw[start + 3..].find('\n').map(|i| start + 3 + i + 1)?;
    let end = raw[body_start..]
        .find("```")
        .map_or(raw.len(), |i| body_start + i);
    let after = if end + 3 <= raw.len() {
        &raw[end + 3..]
    } else {
        ""
    };
    Some((&raw[..start], raw[body_start..end].trim(), after))
}

/// Reads one or more JSON values (objects back to back, or an array) as calls.
fn collect_json(s: &str, p: &mut Parsed) {
    let mut stream = serde_json::Deserializer::from_str(s).into_iter::<Value>();
    loop {
        match stream.next() {
            None => break,
            Some(Ok(Value::Array(items))) => items.into_iter().for_each(|v| push_call(v, p)),
            Some(Ok(v)) => push_call(v, p),
            Some(Err(e)) => {
                p.errors.push(format!("unreadable tool call JSON ({e})"));
                break;
            }
        }
    }
}

fn push_call(v: Value, p: &mut Parsed) {
    let v = match v {
        Value::Object(mut o) if o.contains_key("function") && !o.contains_key("name") => {
            o.remove("function").unwrap_or(Value::Null)
        }
        other => other,
    };
    let Value::Object(mut o) = v else {
        p.errors.push(format!(
            "a tool call must be a JSON object, not {}",
            kind(&v)
        ));
        return;
    };
    let Some(Value::String(name)) = o.remove("name") else {
        let keys: Vec<&str> = o.keys().map(String::as_str).collect();
        p.errors.push(format!(
            "tool call without a \"name\" (its keys: {})",
            keys.join(", ")
        ));
        return;
    };
    let args = o
        .remove("arguments")
        .or_else(|| o.remove("parameters"))
        .unwrap_or(Value::Object(Default::default()));
    // Some models write the arguments as a JSON string.
    let arguments = match args {
        Value::String(s) => match serde_json::from_str::<Value>(&s) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                p.errors.push(format!(
                    "arguments of {name} are a string that is not a JSON object"
                ));
                return;
            }
        },
        v @ Value::Object(_) => v,
        Value::Null => Value::Object(Default::default()),
        other => {
            p.errors.push(format!(
                "arguments of {name} are not a JSON object but {}",
                kind(&other)
            ));
            return;
        }
    };
    p.calls.push(CallSpec { name, arguments });
}

/// What kind of JSON value `v` is. Errors name the kind, never the text: a broken
/// call may carry a password, and the error goes to the history and the model.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, args: Value) -> CallSpec {
        CallSpec {
            name: name.into(),
            arguments: args,
        }
    }

    #[test]
    fn tagged_fenced_and_bare_calls() {
        let p = parse_reply(
            "<tool_call>\n{\"name\": \"volume\", \"arguments\": {\"level\": 30}}\n</tool_call>",
        );
        assert_eq!(p.calls, vec![call("volume", json!({"level": 30}))]);
        assert_eq!(p.text, "");

        let p = parse_reply(
            "Sure.\n```json\n{\"name\": \"file_list\", \"arguments\": {\"path\": \"/home/u\"}}\n```",
        );
        assert_eq!(p.calls, vec![call("file_list", json!({"path": "/home/u"}))]);
        assert_eq!(p.text, "Sure.");

        let p = parse_reply(" {\"name\": \"system_info\", \"arguments\": {}}");
        assert_eq!(p.calls, vec![call("system_info", json!({}))]);
    }

    #[test]
    fn variants_small_models_write() {
        // Several calls, unclosed last tag, string arguments, OpenAI-style wrapper.
        let p = parse_reply(
            "<tool_call>{\"name\":\"a\",\"arguments\":\"{\\\"x\\\":1}\"}</tool_call>\n<tool_call>{\"function\":{\"name\":\"b\",\"parameters\":{}}}",
        );
        assert_eq!(
            p.calls,
            vec![call("a", json!({"x": 1})), call("b", json!({}))]
        );
        let p =
            parse_reply("[{\"name\":\"a\",\"arguments\":{}},{\"name\":\"b\",\"arguments\":{}}]");
        assert_eq!(p.calls.len(), 2);
    }

    #[test]
    fn broken_calls_are_reported_not_guessed() {
        let p = parse_reply(
            "<tool_call>{\"name\": \"volume\", \"arguments\": {\"level\": </tool_call>",
        );
        assert!(p.calls.is_empty());
        assert_eq!(p.errors.len(), 1, "{p:?}");
        let p = parse_reply("<tool_call>{\"arguments\": {}}</tool_call>");
        assert!(p.errors[0].contains("without a \"name\""));
        let p = parse_reply("<tool_call>{\"name\": \"v\", \"arguments\": 5}</tool_call>");
        assert!(p.errors[0].contains("not a JSON object"));
        // The raw text of a broken call never appears in the error.
        for raw in [
            "<tool_call>{\"name\": \"wifi_connect\", \"arguments\": \"ssid=x hunter2\"}</tool_call>",
            "<tool_call>{\"name\": \"wifi_connect\", \"arguments\": [\"hunter2\"]}</tool_call>",
            "<tool_call>{\"password\": \"hunter2\"}</tool_call>",
            "<tool_call>{\"name\": \"wifi_connect\", \"arguments\": {\"password\": \"hunter2</tool_call>",
            "<tool_call>[\"hunter2\"]</tool_call>",
        ] {
            let p = parse_reply(raw);
            assert_eq!(p.errors.len(), 1, "{raw}: {p:?}");
            assert!(!p.errors[0].contains("hunter2"), "{}", p.errors[0]);
        }
    }

    #[test]
    fn plain_text_and_json_that_is_not_a_call_stay_text() {
        assert_eq!(parse_reply("It is 5 o'clock.").text, "It is 5 o'clock.");
        let p = parse_reply("{\"answer\": 42}");
        assert!(p.calls.is_empty() && p.errors.is_empty());
        assert_eq!(p.text, "{\"answer\": 42}");
        let p = parse_reply("Here is code:\n```rust\nfn main() {}\n```");
        assert!(p.calls.is_empty());
        assert!(p.text.contains("fn main"));
    }

    #[test]
    fn streaming_holds_back_possible_call_starts() {
        assert!(may_be_call("  {"));
        assert!(may_be_call("<tool"));
        assert!(may_be_call("``"));
        assert!(!may_be_call("Hello"));
        assert_eq!(streamable_prefix("Hello <tool"), 6);
        assert_eq!(streamable_prefix("Hello <tool_call>{"), 6);
        assert_eq!(streamable_prefix("Hello ``"), 6);
        assert_eq!(streamable_prefix("a < b"), 5);
    }
}
