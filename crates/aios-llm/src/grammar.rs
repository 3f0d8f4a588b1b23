//! The call grammar: once a reply opens a `<tool_call>`, the rest of the call is
//! decoded under a GBNF grammar (llama.cpp's grammar sampler) built from the tools
//! of the request, so it can only be well-formed JSON calling a registered tool with
//! the argument names its schema gives, integers where the schema says integer.
//! Text before the tag is free: the model may still answer in words.

use serde_json::Value;

use crate::protocol::ToolSpec;

/// The tag after which the grammar applies; its rule `root` matches what follows it.
pub const TRIGGER: &str = "<tool_call>";

/// GBNF for a reply in words only (a `no_calls` request): no character that can
/// open a call in any form the parser reads (`<tool_call>`, a bare `{`, a fenced
/// block). Asked for a command it would call, the model otherwise writes the call
/// as a fenced JSON block. A spoken answer needs none of the three.
pub const WORDS_ONLY: &str = "root ::= [^{<`]*\n";

/// GBNF for the rest of a call (and any further calls) after [`TRIGGER`], or `None`
/// without tools.
pub fn call_grammar(tools: &[ToolSpec]) -> Option<String> {
    if tools.is_empty() {
        return None;
    }
    let mut g = String::new();
    g.push_str("root ::= call ( \"\\n\"? \"<tool_call>\" call )*\n");
    let alts: Vec<String> = (0..tools.len()).map(|i| format!("t{i}")).collect();
    g.push_str(&format!(
        "call ::= ws \"{{\" ws \"\\\"name\\\"\" ws \":\" ws ( {} ) ws \"}}\" ws \"</tool_call>\"\n",
        alts.join(" | ")
    ));
    for (i, t) in tools.iter().enumerate() {
        g.push_str(&format!(
            "t{i} ::= {} ws \",\" ws \"\\\"arguments\\\"\" ws \":\" ws a{i}\n",
            literal(&format!("\"{}\"", t.name))
        ));
        let props = t
            .parameters
            .get("properties")
            .and_then(Value::as_object)
            .filter(|p| !p.is_empty());
        match props {
            None => g.push_str(&format!("a{i} ::= \"{{\" ws \"}}\"\n")),
            Some(props) => {
                g.push_str(&format!(
                    "a{i} ::= \"{{\" ws ( p{i} ( ws \",\" ws p{i} )* )? ws \"}}\"\n"
                ));
                let kvs: Vec<String> = props
                    .iter()
                    .map(|(k, schema)| {
                        format!(
                            "{} ws \":\" ws {}",
                            literal(&serde_json::to_string(k).unwrap_or_default()),
                            value_rule(schema)
                        )
                    })
                    .collect();
                g.push_str(&format!("p{i} ::= ( {} )\n", kvs.join(" | ")));
            }
        }
    }
    g.push_str(JSON_RULES);
    Some(g)
}

/// What a call must go on with in its canonical spelling, where the model has no
/// real choice: decoding those tokens one by one costs a model step each (about
/// 50 ms on two cores), decoding them in one batch about as much as two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forced {
    /// Text the call goes on with; then the model writes again.
    Text(&'static str),
    /// The rest of a call to a tool without arguments: the reply ends there.
    Finish(&'static str),
}

/// After [`TRIGGER`]: the call's opening, up to the tool's name.
const OPENING: &str = "\n{\"name\": \"";

/// After a complete call: the end of the reply.
const CLOSING: &str = "\n</tool_call>";

/// What must follow `body`, the reply's text after its first [`TRIGGER`], if it is
/// at a point where the call's spelling is fixed: right after the tag (the
/// opening), right after a complete tool name no other name goes on from (the
/// arguments key; for a tool without arguments, the whole rest of the call), or
/// after the call's complete JSON (the closing tag, and the reply ends). Only
/// a body in the canonical spelling is continued, so text the model wrote itself
/// is never second-guessed.
pub fn forced_after(body: &str, tools: &[ToolSpec]) -> Option<Forced> {
    if body.is_empty() {
        return Some(Forced::Text(OPENING));
    }
    let name = body.strip_prefix(OPENING)?;
    if serde_json::from_str::<serde_json::Map<String, Value>>(body).is_ok() {
        // The call's JSON is complete: only the closing tag may follow (a reply
        // makes one call; the agent asks again after its result).
        return Some(Forced::Finish(CLOSING));
    }
    let tool = tools.iter().find(|t| t.name == name)?;
    if tools
        .iter()
        .any(|t| t.name.len() > name.len() && t.name.starts_with(name))
    {
        return None;
    }
    let has_arguments = tool
        .parameters
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| !p.is_empty());
    Some(if has_arguments {
        Forced::Text("\", \"arguments\": {")
    } else {
        Forced::Finish("\", \"arguments\": {}}\n</tool_call>")
    })
}

/// The rule for a value of `schema`'s type.
fn value_rule(schema: &Value) -> &'static str {
    match schema.get("type").and_then(Value::as_str) {
        Some("integer") => "integer",
        Some("number") => "number",
        Some("string") => "string",
        Some("boolean") => "boolean",
        Some("array") => "array",
        Some("object") => "object",
        _ => "value",
    }
}

/// `s` as a GBNF string literal.
fn literal(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// JSON values, as in llama.cpp's `grammars/json.gbnf`; whitespace is bounded so a
/// model cannot pad a call forever.
const JSON_RULES: &str = r#"value ::= object | array | string | number | boolean | "null"
object ::= "{" ws ( string ws ":" ws value ( ws "," ws string ws ":" ws value )* )? ws "}"
array ::= "[" ws ( value ( ws "," ws value )* )? ws "]"
string ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""
number ::= integer ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?
integer ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
boolean ::= "true" | "false"
ws ::= [ \t\n]{0,8}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(name: &str, parameters: Value) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: String::new(),
            parameters,
        }
    }

    #[test]
    fn names_arguments_and_types_come_from_the_tools() {
        let g = call_grammar(&[
            spec(
                "volume",
                json!({"type": "object", "properties": {"level": {"type": "integer"}}}),
            ),
            spec("system_info", json!({"type": "object", "properties": {}})),
        ])
        .unwrap();
        assert!(g.contains(r#"t0 ::= "\"volume\"" ws "," ws "\"arguments\"" ws ":" ws a0"#));
        assert!(g.contains(r#"p0 ::= ( "\"level\"" ws ":" ws integer )"#));
        assert!(g.contains(r#"a1 ::= "{" ws "}""#));
        assert!(g.contains(
            r#"call ::= ws "{" ws "\"name\"" ws ":" ws ( t0 | t1 ) ws "}" ws "</tool_call>""#
        ));
        assert_eq!(call_grammar(&[]), None);
    }

    #[test]
    fn the_fixed_parts_of_a_call_are_known_in_advance() {
        let tools = [
            spec(
                "file_list",
                json!({"properties": {"path": {"type": "string"}}}),
            ),
            spec("system_info", json!({"type": "object", "properties": {}})),
            spec("wifi", json!({"properties": {}})),
            spec("wifi_list", json!({"properties": {}})),
        ];
        assert_eq!(forced_after("", &tools), Some(Forced::Text(OPENING)));
        let after = |name: &str| forced_after(&format!("{OPENING}{name}"), &tools);
        assert_eq!(
            after("system_info"),
            Some(Forced::Finish("\", \"arguments\": {}}\n</tool_call>"))
        );
        assert_eq!(
            after("file_list"),
            Some(Forced::Text("\", \"arguments\": {"))
        );
        // Half a name, or a name another one goes on from: the model chooses.
        assert_eq!(after("system"), None);
        assert_eq!(after("wifi"), None);
        assert_eq!(
            after("wifi_list"),
            Some(Forced::Finish("\", \"arguments\": {}}\n</tool_call>"))
        );
        // Arguments written, the JSON complete: the closing tag ends the reply.
        assert_eq!(
            after("file_list\", \"arguments\": {\"path\": \"/tmp\"}"),
            None
        );
        assert_eq!(
            after("file_list\", \"arguments\": {\"path\": \"/tmp\"}}"),
            Some(Forced::Finish(CLOSING))
        );
        // Spelled otherwise by the model itself: left alone.
        assert_eq!(forced_after("{\"name\":\"system_info", &tools), None);
        // The forced text is a valid call once joined.
        let call = format!("{OPENING}system_info\", \"arguments\": {{}}}}");
        assert!(serde_json::from_str::<Value>(call.trim()).is_ok(), "{call}");
    }

    #[test]
    fn odd_names_are_escaped() {
        let g = call_grammar(&[spec(
            "x",
            json!({"properties": {"a\"b": {"type": "string"}}}),
        )])
        .unwrap();
        assert!(
            g.contains(r#"p0 ::= ( "\"a\\\"b\"" ws ":" ws string )"#),
            "{g}"
        );
    }
}
