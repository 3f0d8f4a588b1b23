//! The call grammar: once a reply opens a `<tool_call>`, the rest of the call is
//! decoded under a GBNF grammar (llama.cpp's grammar sampler) built from the tools
//! of the request, so it can only be well-formed JSON calling a registered tool with
//! the argument names its schema gives, integers where the schema says integer.
//! Text before the tag is free: the model may still answer in words.

use serde_json::Value;

use crate::protocol::ToolSpec;

/// The tag after which the grammar applies; its rule `root` matches what follows it.
pub const TRIGGER: &str = "<tool_call>";

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
