//! Built-in connector `builtin:http`: sends one HTTP request to a path under
//! the connector instance's base URL and returns the response.
//!
//! Config:
//!
//! ```json
//! { "method": "POST", "path": "/v1/members", "query": {"source": "sluice"},
//!   "headers": {"x-request-source": "sluice"}, "body": {"email": "{{user.email}}"},
//!   "timeoutMs": 5000, "includeHeaders": false, "failOnStatus": true, "async": false,
//!   "hmac": {"header": "x-signature", "secret": "hmacSecret", "prefix": "sha256="} }
//! ```
//!
//! `"async": true` is read by the host, for every connector: the flow goes
//! on at once with `{"async": true}` as the result, the request runs on its
//! own, and its outcome is only logged. Only `path` is required; `method` defaults to `GET`, or `POST` when a
//! body is set. A JSON `body` is sent as JSON, a string body as text. The
//! host adds the instance's default headers and authentication, so the
//! component never sees those secrets. With `hmac`, the body is signed with
//! HMAC-SHA256 under the instance secret that `hmac.secret` names, and the
//! lowercase hex signature, after `hmac.prefix`, is sent in `hmac.header`.
//!
//! The result, stored at `connectors.<key>`, is `{"status", "body"}` plus
//! `"headers"` when `includeHeaders` is set. The body is parsed JSON when the
//! response says it is JSON, and text otherwise. A status of 400 or more is a
//! step error (`upstream-failure`) naming the status, unless `failOnStatus`
//! is false. For a 429 or 503 with `Retry-After`, the error message carries
//! `Retry-After: <value>`, and a step retry waits at least that many seconds.

use std::collections::BTreeMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::Sha256;
use sluice_sdk::http::{self, Method, Request, Response};
use sluice_sdk::{Connector, StepError, config};

/// The step's configuration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Request method; `GET`, or `POST` when a body is set.
    pub method: Option<String>,
    /// Path under the base URL, starting with `/`.
    pub path: String,
    /// Query parameters, appended in key order.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body: JSON, or text when a string.
    pub body: Option<Value>,
    /// Connect and read timeout in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Whether the result includes the response headers.
    #[serde(default)]
    pub include_headers: bool,
    /// Whether a status of 400 or more fails the step.
    #[serde(default = "default_true")]
    pub fail_on_status: bool,
    /// Body signature, when the receiver checks one.
    pub hmac: Option<HmacConfig>,
}

/// How to sign the request body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HmacConfig {
    /// Header that carries the signature.
    pub header: String,
    /// Name of the instance secret that is the HMAC key.
    pub secret: String,
    /// Text put before the hex signature, such as `sha256=`.
    #[serde(default)]
    pub prefix: String,
}

fn default_true() -> bool {
    true
}

/// The built-in HTTP connector.
pub struct HttpConnector;

impl Connector for HttpConnector {
    type Config = Config;

    fn run(config: Config) -> Result<Value, StepError> {
        let request = build_request(&config, config::get("baseUrl"), config::secret)?;
        let response = http::send(request)?;
        into_result(&config, &response)
    }
}

/// Builds the request from the config, the instance's base URL and a reader
/// of instance secrets.
///
/// # Errors
///
/// Returns `invalid-config` naming the field at fault.
pub fn build_request(
    config: &Config,
    base_url: Option<String>,
    secret: impl Fn(&str) -> Option<String>,
) -> Result<Request, StepError> {
    let base = base_url.ok_or_else(|| {
        StepError::invalid_config(
            "the step has no connector instance with a base URL: set the step's `connector` to an instance \
             created with POST /v1/mgmt/connector/create",
        )
    })?;
    if !config.path.starts_with('/') || config.path.contains("://") || config.path.starts_with("//")
    {
        return Err(StepError::invalid_config(format!(
            "invalid config field `path`: {:?} must start with a single `/`, because requests stay under the \
             instance's base URL",
            config.path
        )));
    }
    let mut url = format!("{}{}", base.trim_end_matches('/'), config.path);
    if !config.query.is_empty() {
        let pairs: Vec<String> = config
            .query
            .iter()
            .map(|(key, value)| format!("{}={}", encode_component(key), encode_component(value)))
            .collect();
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&pairs.join("&"));
    }
    let method = match config.method.as_deref().map(str::to_ascii_uppercase) {
        Some(name) => parse_method(&name)?,
        None if config.body.is_some() => Method::Post,
        None => Method::Get,
    };
    let mut request = Request::new(method, url);
    for (name, value) in &config.headers {
        request = request.header(name.clone(), value.clone());
    }
    request = match &config.body {
        None => request,
        Some(Value::String(text)) => request
            .header("content-type", "text/plain; charset=utf-8")
            .body(text.clone()),
        Some(value) => request.json(value)?,
    };
    if let Some(timeout_ms) = config.timeout_ms {
        request = request.timeout(Duration::from_millis(timeout_ms));
    }
    if let Some(hmac) = &config.hmac {
        let key = secret(&hmac.secret).ok_or_else(|| {
            StepError::invalid_config(format!(
                "invalid config field `hmac.secret`: the connector instance has no secret {:?}; add it to the \
                 instance's `secrets`",
                hmac.secret
            ))
        })?;
        let signature = sign(key.as_bytes(), &request.body);
        request = request.header(hmac.header.clone(), format!("{}{signature}", hmac.prefix));
    }
    Ok(request)
}

fn parse_method(name: &str) -> Result<Method, StepError> {
    Ok(match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        other => {
            return Err(StepError::invalid_config(format!(
                "invalid config field `method`: {other:?} is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
            )));
        }
    })
}

/// Returns the lowercase hex HMAC-SHA256 of `body` under `key`.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Percent-encodes a query key or value (RFC 3986 unreserved characters stay).
fn encode_component(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Turns the response into the step result or the step error.
///
/// # Errors
///
/// Returns `upstream-failure` for a status of 400 or more when the config
/// fails on status.
pub fn into_result(config: &Config, response: &Response) -> Result<Value, StepError> {
    if config.fail_on_status && response.status >= 400 {
        let detail = String::from_utf8_lossy(&response.body);
        let detail: String = detail.chars().take(200).collect();
        let mut message = format!("{} returned status {}", config.path, response.status);
        if (response.status == 429 || response.status == 503)
            && let Some(retry_after) = response.header("retry-after")
        {
            message.push_str(&format!(" (Retry-After: {retry_after})"));
        }
        if !detail.is_empty() {
            message.push_str(&format!(": {detail}"));
        }
        return Err(StepError::upstream_failure(message));
    }
    let is_json = response
        .header("content-type")
        .is_some_and(|kind| kind.to_ascii_lowercase().contains("json"));
    let body = if response.body.is_empty() {
        Value::Null
    } else if is_json {
        serde_json::from_slice(&response.body).map_err(|err| {
            StepError::upstream_failure(format!("{} returned invalid JSON: {err}", config.path))
        })?
    } else {
        Value::String(String::from_utf8_lossy(&response.body).into_owned())
    };
    let mut result = Map::new();
    result.insert("status".to_owned(), json!(response.status));
    result.insert("body".to_owned(), body);
    if config.include_headers {
        let headers: Map<String, Value> = response
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), Value::String(value.clone())))
            .collect();
        result.insert("headers".to_owned(), Value::Object(headers));
    }
    Ok(Value::Object(result))
}

sluice_sdk::export_connector!(HttpConnector);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(value: Value) -> Config {
        serde_json::from_value(value).expect("valid config")
    }

    fn no_secret(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn request_joins_base_url_path_and_query() {
        let request = build_request(
            &config(json!({"path": "/v1/members", "query": {"q": "a b&c", "page": "2"}})),
            Some("https://api.example.test/".to_owned()),
            no_secret,
        )
        .expect("valid");
        assert_eq!(
            request.url,
            "https://api.example.test/v1/members?page=2&q=a%20b%26c"
        );
        assert_eq!(request.method, Method::Get);
    }

    #[test]
    fn json_body_defaults_to_post() {
        let request = build_request(
            &config(json!({"path": "/hook", "body": {"a": 1}})),
            Some("http://127.0.0.1:9".to_owned()),
            no_secret,
        )
        .expect("valid");
        assert_eq!(request.method, Method::Post);
        assert_eq!(request.body, br#"{"a":1}"#);
        assert!(
            request
                .headers
                .contains(&("content-type".to_owned(), "application/json".to_owned()))
        );
    }

    #[test]
    fn path_must_stay_under_base_url() {
        for path in ["https://elsewhere.test/x", "//elsewhere.test/x", "relative"] {
            let err = build_request(
                &config(json!({"path": path})),
                Some("https://a.test".to_owned()),
                no_secret,
            )
            .expect_err("rejected");
            assert!(err.to_string().contains("`path`"), "{path}: {err}");
        }
    }

    #[test]
    fn missing_instance_is_explained() {
        let err = build_request(&config(json!({"path": "/x"})), None, no_secret)
            .expect_err("no base URL");
        assert!(err.to_string().contains("connector instance"), "{err}");
    }

    #[test]
    fn hmac_signature_matches_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let request = build_request(
            &config(json!({"path": "/x", "body": "payload", "hmac": {"header": "x-sig", "secret": "key", "prefix": "sha256="}})),
            Some("https://a.test".to_owned()),
            |name| (name == "key").then(|| "Jefe".to_owned()),
        )
        .expect("valid");
        let header = request
            .headers
            .iter()
            .find(|(name, _)| name == "x-sig")
            .expect("signature header");
        assert_eq!(header.1, format!("sha256={}", sign(b"Jefe", b"payload")));
        let missing = build_request(
            &config(json!({"path": "/x", "hmac": {"header": "x-sig", "secret": "nope"}})),
            Some("https://a.test".to_owned()),
            no_secret,
        )
        .expect_err("no secret");
        assert!(missing.to_string().contains("hmac.secret"), "{missing}");
    }

    #[test]
    fn status_errors_name_status_and_retry_after() {
        let strict = config(json!({"path": "/x"}));
        let limited = Response::new(429).with_header("Retry-After", "3");
        let err = into_result(&strict, &limited).expect_err("429 fails");
        assert!(
            err.to_string().contains("429") && err.to_string().contains("Retry-After: 3"),
            "{err}"
        );
        let lenient = config(json!({"path": "/x", "failOnStatus": false, "includeHeaders": true}));
        let result =
            into_result(&lenient, &Response::with_json(500, &json!({"e": 1}))).expect("kept");
        assert_eq!(result["status"], 500);
        assert_eq!(result["body"], json!({"e": 1}));
        assert_eq!(result["headers"]["content-type"], "application/json");
    }
}
