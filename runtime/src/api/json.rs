//! A JSON body extractor whose errors name the offending field.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON request body of type `T`. Rejections are [`ApiError`]s: 413 over
/// the body limit, 408 when the body does not arrive within the read
/// timeout, 400 for invalid JSON or nesting deeper than [`MAX_JSON_DEPTH`],
/// and 400 naming the field for a value of the wrong type or a missing
/// required field.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = request
            .extensions()
            .get::<BodyLimit>()
            .map_or(usize::MAX, |limit| limit.0);
        let read_timeout = request.extensions().get::<BodyReadTimeout>().map(|timeout| timeout.0);
        let read = Bytes::from_request(request, state);
        let read = match read_timeout {
            Some(timeout) => tokio::time::timeout(timeout, read)
                .await
                .map_err(|_| ApiError::request_timeout(timeout))?,
            None => read.await,
        };
        let bytes = read.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large(limit)
            } else {
                ApiError::bad_request(format!("cannot read the request body: {}", rejection.body_text()))
            }
        })?;
        parse_body(&bytes).map(ApiJson)
    }
}

/// Returns the message for a JSON text that nests arrays and objects deeper
/// than [`MAX_JSON_DEPTH`], naming the top-level field and the position, or
/// `None` when the text is within the limit.
pub(crate) fn too_deep_message(bytes: &[u8]) -> Option<String> {
    find_too_deep(bytes, MAX_JSON_DEPTH).map(|too_deep| too_deep.message(bytes))
}

/// The configured body limit, placed in request extensions by the router so
/// the 413 message can state it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// The time a client has to send a whole request body, placed in request
/// extensions by the router.
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub Duration);

/// Maximum nesting of arrays and objects in a request body.
///
/// serde_json stops at 128 levels and calls the body invalid JSON. This
/// lower limit is checked before parsing and gets its own message. A value
/// stored at this depth (a custom attribute, audit `data`, a flow document)
/// still parses when the API or a run's context wraps it in a few more levels.
pub const MAX_JSON_DEPTH: usize = 64;

/// Parses a JSON body; an empty body is read as `{}`.
///
/// # Errors
///
/// Returns a 400 [`ApiError`] that names the JSON path of the bad field, or
/// the top-level field where the body nests deeper than [`MAX_JSON_DEPTH`].
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    if let Some(message) = too_deep_message(bytes) {
        return Err(ApiError::bad_request(message));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if (inner.is_syntax() || inner.is_eof()) && path == "." {
            ApiError::bad_request(format!("request body is not valid JSON: {inner}"))
        } else if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(format!("request body is not valid JSON in field `{path}`: {inner}"))
        } else if path == "." {
            ApiError::bad_request(format!("invalid request body: {inner}"))
        } else {
            ApiError::bad_request(format!("invalid field `{path}`: {inner}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|err| ApiError::bad_request(format!("request body is not valid JSON: {err}")))?;
    Ok(value)
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
        let value: serde_json::Value = parse_body(body.as_bytes()).expect("64 levels parse");
        assert!(value["input"].is_array());
    }

    #[test]
    fn depth_over_limit_names_field() {
        let body = format!("{{\"flowId\": \"x\", \"in\\\"put\": {}}}", nested(MAX_JSON_DEPTH));
        let err = parse_body::<serde_json::Value>(body.as_bytes()).expect_err("65 levels are too deep");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.contains("invalid field `in\"put`"), "message: {}", err.message);
        assert!(err.message.contains("deeper than 64 levels"), "message: {}", err.message);
        assert!(err.message.contains("line 1, column 91"), "message: {}", err.message);
    }

    #[test]
    fn depth_counts_no_brackets_in_strings() {
        let body = format!("{{\"a\": \"{}\", \"b\": [\"]]]\\\"[[\"]}}", "[".repeat(500));
        let value: serde_json::Value = parse_body(body.as_bytes()).expect("brackets inside strings do not nest");
        assert_eq!(value["b"][0], "]]]\"[[");
    }

    #[test]
    fn deep_array_body_has_no_field() {
        let body = format!("\n{}", nested(200));
        let err = parse_body::<serde_json::Value>(body.as_bytes()).expect_err("too deep");
        assert!(err.message.starts_with("request body nests"), "message: {}", err.message);
        assert!(err.message.contains("line 2, column 65"), "message: {}", err.message);
    }

    #[test]
    fn unclosed_deep_body_is_too_deep() {
        let err = parse_body::<serde_json::Value>("{\"a\":".repeat(100).as_bytes()).expect_err("too deep");
        assert!(err.message.contains("invalid field `a`"), "message: {}", err.message);
    }
}
