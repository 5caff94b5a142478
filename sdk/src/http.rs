//! A small blocking HTTP client for connectors, over
//! `wasi:http/outgoing-handler`.
//!
//! The host checks every request against the connector's egress allow-list
//! and rejects the rest; [`send`] returns such a rejection as an error like
//! any other transport failure.
//!
//! ```no_run
//! use sluice_sdk::{http, StepError};
//!
//! # fn example() -> Result<(), StepError> {
//! let request = http::Request::get("https://api.example.com/v1/users/42")
//!     .header("accept", "application/json")
//!     .timeout(std::time::Duration::from_secs(5));
//! let user: serde_json::Value = http::send(request)?.error_for_status()?.json()?;
//! # Ok(())
//! # }
//! ```

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StepError;

/// An HTTP request method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// Any other method, by its name.
    Other(String),
}

impl Method {
    /// Returns the method name, such as `GET`.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(name) => name,
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// An outgoing HTTP request, built with chained methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Request method.
    pub method: Method,
    /// Absolute `http` or `https` URL, with an optional query string.
    pub url: String,
    /// Header names and values, in the order they are sent.
    pub headers: Vec<(String, String)>,
    /// Request body; empty sends no body.
    pub body: Vec<u8>,
    /// Limit for connecting, for the first byte of the response, and
    /// between bytes of the response body. It is not a deadline for the
    /// whole exchange: the host's step deadline bounds that.
    pub timeout: Option<Duration>,
}

impl Request {
    /// Creates a request with no headers and no body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    /// Creates a `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Request::new(Method::Get, url)
    }

    /// Creates a `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Request::new(Method::Post, url)
    }

    /// Creates a `PUT` request.
    pub fn put(url: impl Into<String>) -> Self {
        Request::new(Method::Put, url)
    }

    /// Creates a `PATCH` request.
    pub fn patch(url: impl Into<String>) -> Self {
        Request::new(Method::Patch, url)
    }

    /// Creates a `DELETE` request.
    pub fn delete(url: impl Into<String>) -> Self {
        Request::new(Method::Delete, url)
    }

    /// Adds a header. Repeated names are all sent.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds an `authorization: Bearer <token>` header.
    pub fn bearer_auth(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as JSON and adds a
    /// `content-type: application/json` header.
    ///
    /// # Errors
    ///
    /// Returns [`StepError::Internal`] when `value` does not serialize.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, StepError> {
        let body = serde_json::to_vec(value).map_err(|error| {
            StepError::internal(format!(
                "the request body does not serialize to JSON: {error}"
            ))
        })?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Sets the timeout, see [`Request::timeout`](Request#structfield.timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

/// A response to a [`Request`], with its body read in full.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names and values as received.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// Creates a response with a status and nothing else, for canned
    /// responses in tests.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Creates a response with a JSON body and a
    /// `content-type: application/json` header, for canned responses in tests.
    pub fn with_json(status: u16, value: &serde_json::Value) -> Self {
        Response::new(status)
            .with_header("content-type", "application/json")
            .with_body(value.to_string())
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Returns whether the status is in the 2xx range.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Returns the first value of a header, matching the name without
    /// regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Returns the body as UTF-8 text.
    ///
    /// # Errors
    ///
    /// Returns [`StepError::UpstreamFailure`] when the body is not UTF-8.
    pub fn text(&self) -> Result<&str, StepError> {
        std::str::from_utf8(&self.body).map_err(|error| {
            StepError::upstream_failure(format!("the response body is not UTF-8 text: {error}"))
        })
    }

    /// Reads the body as JSON.
    ///
    /// # Errors
    ///
    /// Returns [`StepError::UpstreamFailure`] when the body is not JSON of
    /// the expected shape.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, StepError> {
        serde_json::from_slice(&self.body).map_err(|error| {
            StepError::upstream_failure(format!(
                "the response body (status {}) is not the expected JSON: {error}",
                self.status
            ))
        })
    }

    /// Returns the response when its status is 2xx.
    ///
    /// # Errors
    ///
    /// Returns [`StepError::UpstreamFailure`] with the status and the start
    /// of the body for any other status.
    pub fn error_for_status(self) -> Result<Self, StepError> {
        if self.is_success() {
            return Ok(self);
        }
        const SHOWN_BODY_BYTES: usize = 200;
        let shown = &self.body[..self.body.len().min(SHOWN_BODY_BYTES)];
        Err(StepError::upstream_failure(format!(
            "the server responded with status {}: {}",
            self.status,
            String::from_utf8_lossy(shown)
        )))
    }
}

/// Sends a request and reads the whole response.
///
/// A response with any status, including 4xx and 5xx, is `Ok`; use
/// [`Response::error_for_status`] to turn those into errors.
///
/// # Errors
///
/// Returns [`StepError::InvalidConfig`] when the URL is not an absolute
/// `http` or `https` URL, and [`StepError::UpstreamFailure`] when the
/// request fails in transport: DNS, connection, timeout, or a host denial
/// of a destination outside the egress allow-list.
pub fn send(request: Request) -> Result<Response, StepError> {
    let url = split_url(&request.url)?;
    crate::host::http::send(&request, &url)
}

/// The parts of an absolute URL that `wasi:http` takes separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlParts<'a> {
    /// `true` for `https`.
    pub(crate) https: bool,
    /// Host with an optional port.
    pub(crate) authority: &'a str,
    /// Path and query, starting with `/`; the fragment is dropped.
    pub(crate) path_with_query: String,
}

/// Splits `https://host:port/path?query#fragment`.
pub(crate) fn split_url(url: &str) -> Result<UrlParts<'_>, StepError> {
    let invalid = |reason: &str| {
        StepError::invalid_config(format!(
            "invalid request URL `{url}`: {reason}; use an absolute URL such as https://api.example.com/path"
        ))
    };
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("it has no scheme"))?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        _ => return Err(invalid("only http and https are supported")),
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    if authority.is_empty() {
        return Err(invalid("it has no host"));
    }
    if authority.contains('@') {
        return Err(invalid(
            "credentials in the URL are not supported, send them in a header",
        ));
    }
    let path_with_query = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Ok(UrlParts {
        https,
        authority,
        path_with_query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_url_takes_parts() {
        let parts = split_url("https://api.example.com:8443/v1/users?id=7#top").expect("valid URL");

        assert!(parts.https);
        assert_eq!(parts.authority, "api.example.com:8443");
        assert_eq!(parts.path_with_query, "/v1/users?id=7");
    }

    #[test]
    fn split_url_adds_root_path() {
        assert_eq!(
            split_url("http://example.com")
                .expect("valid")
                .path_with_query,
            "/"
        );
        assert_eq!(
            split_url("http://example.com?a=1")
                .expect("valid")
                .path_with_query,
            "/?a=1"
        );
    }

    #[test]
    fn split_url_rejects_bad_urls() {
        for url in [
            "example.com/x",
            "ftp://example.com",
            "https:///x",
            "https://user:pw@example.com/",
        ] {
            let error = split_url(url).expect_err(url);
            assert_eq!(error.kind(), "invalid-config", "{url}");
        }
    }

    #[test]
    fn json_body_sets_content_type() {
        let request = Request::post("https://example.com")
            .json(&serde_json::json!({"a": 1}))
            .expect("serializes");

        assert_eq!(request.body, br#"{"a":1}"#);
        assert_eq!(
            request.headers,
            vec![("content-type".to_string(), "application/json".to_string())]
        );
    }

    #[test]
    fn error_for_status_reports_status_and_body() {
        let error = Response::new(503)
            .with_body("overloaded")
            .error_for_status()
            .expect_err("503 is an error");

        assert_eq!(error.kind(), "upstream-failure");
        assert!(error.message().contains("503"), "{error}");
        assert!(error.message().contains("overloaded"), "{error}");
    }

    #[test]
    fn header_lookup_ignores_case() {
        let response = Response::new(200).with_header("Content-Type", "text/plain");
        assert_eq!(response.header("content-type"), Some("text/plain"));
    }
}
