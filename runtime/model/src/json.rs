//! Decoding of a JSON request body: a nesting limit checked before
//! parsing, and errors that name the field.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::BodyError;

/// Returns the message for a JSON text that nests arrays and objects deeper
/// than [`MAX_JSON_DEPTH`], naming the top-level field and the position, or
/// `None` when the text is within the limit.
pub fn too_deep_message(bytes: &[u8]) -> Option<String> {
    find_too_deep(bytes, MAX_JSON_DEPTH).map(|too_deep| too_deep.message(bytes))
}

/// Maximum nesting of arrays and objects in a request body.
///
/// serde_json stops at 128 levels and calls the body invalid JSON. This
/// lower limit is checked before parsing and gets its own message. A value
/// stored at this depth (a custom attribute, audit `data`, a flow document)
/// still parses when the API or a run's context wraps it in a few more levels.
pub const MAX_JSON_DEPTH: usize = 64;

/// Parses a JSON object body; an empty body is read as `{}`.
///
/// Every request body of the API is an object. The check comes before
/// decoding because serde's derived structs also accept an array of their
/// field values in declaration order, which no client means to send.
///
/// # Errors
///
/// Returns [`BodyError::Malformed`] naming the JSON path of the bad field,
/// or the top-level field where the body nests deeper than
/// [`MAX_JSON_DEPTH`], or the JSON type of a body that is not an object.
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    if let Some(message) = too_deep_message(bytes) {
        return Err(BodyError::Malformed(message));
    }
    if bytes.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<Value>(bytes) {
            Ok(value) => BodyError::Malformed(format!(
                "request body must be a JSON object, got {}; send the fields as `{{\"name\": value}}`",
                json_type_name(&value)
            )),
            Err(err) => BodyError::Malformed(format!("request body is not valid JSON: {err}")),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let mut path = err.path().to_string();
        // The path of a field whose name was not read yet, such as in a body
        // that ends after a comma, is `?`.
        if path == "?" {
            path = ".".to_owned();
        }
        let inner = err.into_inner();
        if (inner.is_syntax() || inner.is_eof()) && path == "." {
            BodyError::Malformed(format!("request body is not valid JSON: {inner}"))
        } else if inner.is_syntax() && serde_json::from_slice::<Value>(bytes).is_ok() {
            // serde_json reports an enum given as a number, boolean, array or
            // null as a syntax error, though the text is valid JSON. The
            // enums of the request bodies are all strings. Parsing the whole
            // body as a value separates this case from a lone surrogate, bytes
            // that are not UTF-8 or a number out of range.
            BodyError::Malformed(format!(
                "invalid field `{path}`: expected one of the field's values as a JSON string (line {}, column {})",
                inner.line(),
                inner.column()
            ))
        } else if inner.is_syntax() || inner.is_eof() {
            BodyError::Malformed(format!("request body is not valid JSON in field `{path}`: {inner}"))
        } else if path == "." {
            BodyError::Malformed(format!("invalid request body: {inner}"))
        } else {
            BodyError::Malformed(format!("invalid field `{path}`: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|err| BodyError::Malformed(format!("request body is not valid JSON: {err}")))?;
    Ok(value)
}

/// Returns the JSON type of `value` with an article, for messages.
pub fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The first place where a JSON text opens more nested arrays and objects
/// than allowed.
#[derive(Debug, PartialEq, Eq)]
struct TooDeep {
    /// Byte offset of the `[` or `{` that goes over the limit.
    offset: usize,
    /// The top-level key whose value goes over the limit, when the text is
    /// an object.
    field: Option<String>,
}

impl TooDeep {
    fn message(&self, bytes: &[u8]) -> String {
        let before = &bytes[..self.offset];
        let line = before.iter().filter(|&&byte| byte == b'\n').count() + 1;
        let column = self.offset - before.iter().rposition(|&byte| byte == b'\n').map_or(0, |newline| newline + 1) + 1;
        let position = format!("line {line}, column {column}");
        match &self.field {
            Some(field) => format!(
                "invalid field `{field}`: its value nests arrays and objects deeper than {MAX_JSON_DEPTH} levels, \
                 the maximum the API accepts ({position}); send a flatter value"
            ),
            None => format!(
                "request body nests arrays and objects deeper than {MAX_JSON_DEPTH} levels, the maximum the API \
                 accepts ({position}); send a flatter document"
            ),
        }
    }
}

/// Scans a JSON text for nesting deeper than `max_depth` without parsing
/// it, so a deep body costs one pass and no recursion. Text that is not
/// JSON is left to the parser, unless it opens too many brackets first.
fn find_too_deep(bytes: &[u8], max_depth: usize) -> Option<TooDeep> {
    let mut depth = 0_usize;
    let mut in_string = false;
    let mut escaped = false;
    // Tracks the keys of a top-level object, so the error can name the field.
    let mut top_is_object = false;
    let mut expect_key = false;
    let mut key_start = None;
    let mut field = None;
    for (offset, &byte) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
                if let Some(start) = key_start.take() {
                    field = serde_json::from_slice::<String>(&bytes[start..=offset]).ok();
                }
            }
            continue;
        }
        match byte {
            b'"' => {
                in_string = true;
                if depth == 1 && expect_key {
                    key_start = Some(offset);
                    expect_key = false;
                }
            }
            b'{' | b'[' => {
                if depth == 0 {
                    top_is_object = byte == b'{';
                    expect_key = top_is_object;
                }
                depth += 1;
                if depth > max_depth {
                    return Some(TooDeep {
                        offset,
                        field: if top_is_object { field } else { None },
                    });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 1 && top_is_object => expect_key = true,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn depth_at_limit_is_accepted() {
        let body = format!("{{\"input\": {}}}", nested(MAX_JSON_DEPTH - 1));
        let value: Value = parse_body(body.as_bytes()).expect("64 levels parse");
        assert!(value["input"].is_array());
    }

    #[test]
    fn depth_over_limit_names_field() {
        let body = format!("{{\"flowId\": \"x\", \"in\\\"put\": {}}}", nested(MAX_JSON_DEPTH));
        let err = parse_body::<Value>(body.as_bytes()).expect_err("65 levels are too deep");
        assert!(matches!(err, BodyError::Malformed(_)), "error: {err:?}");
        assert!(err.to_string().contains("invalid field `in\"put`"), "message: {err}");
        assert!(err.to_string().contains("deeper than 64 levels"), "message: {err}");
        assert!(err.to_string().contains("line 1, column 91"), "message: {err}");
    }

    #[test]
    fn depth_counts_no_brackets_in_strings() {
        let body = format!("{{\"a\": \"{}\", \"b\": [\"]]]\\\"[[\"]}}", "[".repeat(500));
        let value: Value = parse_body(body.as_bytes()).expect("brackets inside strings do not nest");
        assert_eq!(value["b"][0], "]]]\"[[");
    }

    #[test]
    fn deep_array_body_has_no_field() {
        let body = format!("\n{}", nested(200));
        let err = parse_body::<Value>(body.as_bytes()).expect_err("too deep");
        assert!(err.to_string().starts_with("request body nests"), "message: {err}");
        assert!(err.to_string().contains("line 2, column 65"), "message: {err}");
    }

    #[test]
    fn body_must_be_an_object() {
        for (body, kind) in [("[]", "an array"), ("\n \"x\"", "a string"), ("7", "a number"), ("null", "null")] {
            let err = parse_body::<Value>(body.as_bytes()).expect_err("not an object");
            assert!(err.to_string().starts_with(&format!("request body must be a JSON object, got {kind};")), "message: {err}");
        }
        let err = parse_body::<Value>(b"[1,").expect_err("not JSON");
        assert!(err.to_string().starts_with("request body is not valid JSON: "), "message: {err}");
    }

    #[test]
    fn enum_wrong_type_names_field() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Status {
            Enabled,
        }
        #[derive(Debug, serde::Deserialize)]
        struct Body {
            #[serde(rename = "status")]
            _status: Option<Status>,
        }
        let err = parse_body::<Body>(b"{\"status\": true}").expect_err("a boolean is not a status");
        assert!(err.to_string().starts_with("invalid field `status`: expected one of the field's values"), "message: {err}");
        let err = parse_body::<Body>(b"{\"status\": tru}").expect_err("not JSON");
        assert!(err.to_string().starts_with("request body is not valid JSON in field `status`"), "message: {err}");
        let err = parse_body::<Body>(b"{\"status\": \"\\ud800\"}").expect_err("a lone surrogate");
        assert!(err.to_string().starts_with("request body is not valid JSON in field `status`"), "message: {err}");
        let err = parse_body::<Body>(b"{\"status\": \"enabled\",").expect_err("cut short");
        assert!(err.to_string().starts_with("request body is not valid JSON: EOF"), "message: {err}");
    }

    #[test]
    fn unclosed_deep_body_is_too_deep() {
        let err = parse_body::<Value>("{\"a\":".repeat(100).as_bytes()).expect_err("too deep");
        assert!(err.to_string().contains("invalid field `a`"), "message: {err}");
    }
}
