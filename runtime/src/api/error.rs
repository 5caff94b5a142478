//! The one place where failures become HTTP responses.
//!
//! Every error body has Descope's shape, `{"errorCode", "errorDescription",
//! "errorMessage"}`, so Descope's SDKs parse it. Codes that Descope's SDKs
//! know are reused; the others are Sluice's own, in the same form.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sluice_model::BodyError;

use crate::store::StoreError;

/// Bad request: the body is not valid JSON or has the wrong shape.
pub const BAD_REQUEST: &str = "E011001";
/// A required argument is missing.
pub const MISSING_ARGUMENTS: &str = "E011002";
/// An argument has an invalid value.
pub const INVALID_ARGUMENTS: &str = "E011004";
/// The user does not exist.
pub const USER_NOT_FOUND: &str = "E062108";
/// Credentials are missing, malformed or wrong.
pub const UNAUTHORIZED: &str = "S040100";
/// The caller may not do this.
pub const FORBIDDEN: &str = "S040300";
/// A flow run failed; the message names the step and the run id.
pub const RUN_FAILED: &str = "S042200";
/// The flow, tenant, run or other object does not exist.
pub const NOT_FOUND: &str = "S040400";
/// The route does not take the request's method.
pub const METHOD_NOT_ALLOWED: &str = "S040500";
/// The change conflicts with existing data, such as a taken login id.
pub const CONFLICT: &str = "S040900";
/// The client did not send the whole request body in time.
pub const REQUEST_TIMEOUT: &str = "S040800";
/// The request body is larger than the configured limit.
pub const PAYLOAD_TOO_LARGE: &str = "S041300";
/// Too many requests or runs at once.
pub const TOO_MANY_REQUESTS: &str = "S042900";
/// The server failed; the details are in its log.
pub const INTERNAL: &str = "S050000";

/// An error returned to an API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable error code.
    pub code: &'static str,
    /// Short description of the code.
    pub description: &'static str,
    /// Message about this request, naming the field or id.
    pub message: String,
    /// Seconds to wait before retrying, sent as `Retry-After` with 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, description: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400: the body is not valid JSON or does not fit the expected shape.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, BAD_REQUEST, "Bad request", message)
    }

    /// 400: a required argument is missing; `field` names it.
    pub fn missing(field: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            MISSING_ARGUMENTS,
            "Missing arguments",
            format!("missing required field `{field}`"),
        )
    }

    /// 400: a required argument is missing. The message names `field` and
    /// ends with `hint`, which tells the client what to send.
    pub fn missing_with_hint(field: &str, hint: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            MISSING_ARGUMENTS,
            "Missing arguments",
            format!("missing required field `{field}`: {hint}"),
        )
    }

    /// 400: an argument has an invalid value.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, INVALID_ARGUMENTS, "Invalid arguments", message)
    }

    /// 401, with no hint of which part of the credentials was wrong.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            UNAUTHORIZED,
            "Unauthorized",
            "missing or invalid credentials: send `Authorization: Bearer <ProjectID>:<ManagementKey>`",
        )
    }

    /// 403: the credentials are valid but do not allow this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, FORBIDDEN, "Forbidden", message)
    }

    /// 404 for an object of `kind` with `id`.
    pub fn not_found(kind: &str, id: &str) -> Self {
        if kind == "user" {
            return Self::new(StatusCode::NOT_FOUND, USER_NOT_FOUND, "User not found", format!("user `{id}` not found"));
        }
        Self::new(StatusCode::NOT_FOUND, NOT_FOUND, "Not found", format!("{kind} `{id}` not found"))
    }

    /// 404 for a path that is no route of the API.
    pub fn route_not_found(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            NOT_FOUND,
            "Not found",
            format!("no API route matches `{method} {path}`; `GET /openapi.json` lists the routes"),
        )
    }

    /// 405 for a route called with a method it does not take.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            METHOD_NOT_ALLOWED,
            "Method not allowed",
            format!("route `{path}` does not take `{method}`; `GET /openapi.json` lists the methods of each route"),
        )
    }

    /// 409: the change conflicts with existing data.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, CONFLICT, "Conflict", message)
    }

    /// 413: the body is over `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            PAYLOAD_TOO_LARGE,
            "Payload too large",
            format!("request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 408: the client did not send the whole body within `timeout`.
    pub fn request_timeout(timeout: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
            "Request timeout",
            format!(
                "the request body did not arrive within {} ms, the setting `body_read_timeout_ms`; send the whole body at once",
                timeout.as_millis()
            ),
        )
    }

    /// 422: the flow ran and failed.
    pub fn run_failed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, RUN_FAILED, "Flow run failed", message)
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut error = Self::new(StatusCode::TOO_MANY_REQUESTS, TOO_MANY_REQUESTS, "Too many requests", message);
        error.retry_after = Some(retry_after_secs);
        error
    }

    /// 500. `detail` is logged here, once, and never sent to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "Request failed with an internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            INTERNAL,
            "Internal error",
            "the server failed to handle the request; the details are in its log",
        )
    }
}

impl From<BodyError> for ApiError {
    fn from(err: BodyError) -> Self {
        match err {
            BodyError::Malformed(message) => Self::bad_request(message),
            BodyError::Missing { field, hint: None } => Self::missing(&field),
            BodyError::Missing { field, hint: Some(hint) } => Self::missing_with_hint(&field, hint),
            BodyError::Invalid(message) => Self::invalid(message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { kind, id } => Self::not_found(kind, &id),
            StoreError::Conflict(message) => Self::conflict(message),
            StoreError::Invalid(message) => Self::invalid(message),
            StoreError::Backend(_) => Self::internal(err),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "errorCode": self.code,
            "errorDescription": self.description,
            "errorMessage": self.message,
        });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
