//! Argument validation against a tool's JSON Schema, and secret redaction.
//!
//! The schemas come from `schemars` on our own argument types, so the validator
//! covers the keywords those produce: `type` (one or a list), `properties`,
//! `required`, `additionalProperties`, `minimum`/`maximum`, `minLength`/`maxLength`,
//! `enum` and `items`. A keyword it does not know is a refusal, not a pass: a schema
//! we cannot check is a call we do not run.

use serde_json::Value;

/// What replaces a secret value.
pub const REDACTED: &str = "[redacted]";

const KNOWN: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "enum",
    "items",
    "description",
    "format",
    "default",
    "x-secret",
];

/// Checks `value` against `schema`; the error names the offending field.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, value, "arguments")
}

fn check(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        return Err(format!("the schema for {at} is not an object"));
    };
    if let Some(k) = s.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!(
            "the schema for {at} uses `{k}`, which is not checked"
        ));
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("the schema for {at} has a bad `type`")),
        };
        if !types.iter().any(|t| is_type(value, t)) {
            return Err(format!(
                "{at} must be {}, got {}",
                types.join(" or "),
                kind(value)
            ));
        }
    }
    if let Some(allowed) = s.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!(
            "{at} must be one of {}",
            Value::Array(allowed.clone())
        ));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return Err(format!("{at} must be at least {min}, got {value}"));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return Err(format!("{at} must be at most {max}, got {value}"));
        }
    }
    if let Some(text) = value.as_str() {
        let len = text.chars().count() as u64;
        if let Some(min) = s.get("minLength").and_then(Value::as_u64)
            && len < min
        {
            return Err(format!("{at} must have at least {min} characters"));
        }
        if let Some(max) = s.get("maxLength").and_then(Value::as_u64)
            && len > max
        {
            return Err(format!("{at} must have at most {max} characters"));
        }
    }
    if let (Some(items), Some(list)) = (s.get("items"), value.as_array()) {
        for (i, v) in list.iter().enumerate() {
            check(items, v, &format!("{at}[{i}]"))?;
        }
    }
    if let Some(obj) = value.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for name in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !obj.contains_key(name) {
                return Err(format!("`{name}` is required"));
            }
        }
        for (k, v) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(sub) => check(sub, v, &format!("`{k}`"))?,
                None => {
                    // Unknown fields are refused unless the schema says otherwise: a
                    // misspelt argument silently ignored is a wrong action.
                    if s.get("additionalProperties") != Some(&Value::Bool(true)) {
                        let names: Vec<&str> = props
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        return Err(format!(
                            "unknown argument `{k}`; the arguments are: {}",
                            if names.is_empty() {
                                "none".to_owned()
                            } else {
                                names.join(", ")
                            }
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn is_type(v: &Value, t: &str) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        _ => false,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a fractional number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `args` with every property the schema marks `"x-secret": true` replaced by
/// [`REDACTED`]. In a tool that has a secret field, every argument the schema does
/// not know is redacted too: a misspelled `passphrase` is as secret as `password`,
/// and the denial that names it must not carry it into the audit log, the history
/// or the model's context. Arguments that are not an object are redacted whole for
/// such a tool; for any other tool they come back unchanged.
pub fn redact(schema: &Value, args: &Value) -> Value {
    let props = schema.get("properties").and_then(Value::as_object);
    let has_secret = props.is_some_and(|p| {
        p.values()
            .any(|sub| sub.get("x-secret") == Some(&Value::Bool(true)))
    });
    let mut out = args.clone();
    let Some(obj) = out.as_object_mut() else {
        return if has_secret {
            Value::String(REDACTED.into())
        } else {
            out
        };
    };
    for (name, v) in obj.iter_mut() {
        let secret = match props.and_then(|p| p.get(name)) {
            Some(sub) => sub.get("x-secret") == Some(&Value::Bool(true)),
            None => has_secret,
        };
        if secret && !v.is_null() {
            *v = Value::String(REDACTED.into());
        }
    }
    out
}

/// `args` of a call to a tool nobody registered, with every value whose name looks
/// like a secret (password, passphrase, key, token...) redacted: the model may have
/// misspelled the tool of a call that carries one.
pub fn redact_unknown(args: &Value) -> Value {
    const SECRET_WORDS: &[&str] = &[
        "pass",
        "psk",
        "secret",
        "token",
        "key",
        "pin",
        "credential",
        "auth",
    ];
    let mut out = args.clone();
    if let Some(obj) = out.as_object_mut() {
        for (name, v) in obj.iter_mut() {
            let lower = name.to_ascii_lowercase();
            if SECRET_WORDS.iter().any(|w| lower.contains(w)) && !v.is_null() {
                *v = Value::String(REDACTED.into());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "level": {"type": "integer", "minimum": 0, "maximum": 100},
                "ssid": {"type": "string", "minLength": 1},
                "password": {"type": ["string", "null"], "x-secret": true}
            },
            "required": ["level"],
            "additionalProperties": false
        })
    }

    #[test]
    fn accepts_good_and_names_what_is_wrong() {
        let s = schema();
        assert!(validate(&s, &json!({"level": 40})).is_ok());
        assert!(validate(&s, &json!({"level": 0, "password": null})).is_ok());
        let err = |v: Value| validate(&s, &v).unwrap_err();
        assert!(err(json!({})).contains("`level` is required"));
        assert!(err(json!({"level": 101})).contains("at most 100"));
        assert!(err(json!({"level": -1})).contains("at least 0"));
        assert!(err(json!({"level": 4.5})).contains("must be integer"));
        assert!(err(json!({"level": "40"})).contains("got a string"));
        assert!(err(json!({"level": 1, "ssid": ""})).contains("at least 1 characters"));
        assert!(err(json!({"level": 1, "lvl": 2})).contains("unknown argument `lvl`"));
        assert!(err(json!([1])).contains("must be object"));
    }

    #[test]
    fn unknown_schema_keywords_refuse() {
        let s = json!({"type": "object", "properties": {"a": {"pattern": "x"}}});
        assert!(
            validate(&s, &json!({"a": "x"}))
                .unwrap_err()
                .contains("`pattern`")
        );
    }

    #[test]
    fn secrets_are_redacted_and_nothing_else() {
        let r = redact(
            &schema(),
            &json!({"level": 3, "ssid": "home", "password": "hunter2"}),
        );
        assert_eq!(r, json!({"level": 3, "ssid": "home", "password": REDACTED}));
        assert!(!r.to_string().contains("hunter2"));
    }

    #[test]
    fn unknown_arguments_of_a_tool_with_a_secret_are_redacted() {
        let r = redact(
            &schema(),
            &json!({"level": 3, "ssid": "home", "passphrase": "hunter2", "password": null}),
        );
        assert_eq!(
            r,
            json!({"level": 3, "ssid": "home", "passphrase": REDACTED, "password": null})
        );
        assert_eq!(redact(&schema(), &json!("hunter2")), json!(REDACTED));
        // A tool without secrets keeps what the model wrote, unknown or not.
        let plain = json!({"type": "object", "properties": {"level": {"type": "integer"}}});
        assert_eq!(
            redact(&plain, &json!({"level": 3, "extra": "x"})),
            json!({"level": 3, "extra": "x"})
        );
        assert_eq!(
            redact_unknown(&json!({"ssid": "home", "wifi_password": "hunter2", "apiKey": "k"})),
            json!({"ssid": "home", "wifi_password": REDACTED, "apiKey": REDACTED})
        );
    }
}
