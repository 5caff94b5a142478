//! A JSON body extractor whose errors name the offending field.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;
pub use sluice_model::json::{MAX_JSON_DEPTH, too_deep_message};

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
        // A declared length over the limit is rejected before the body is
        // read, so the client does not wait for the read timeout.
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(ApiError::payload_too_large(limit));
        }
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
        let value = sluice_model::json::parse_body(&bytes)?;
        Ok(ApiJson(value))
    }
}

/// The configured body limit, placed in request extensions by the router so
/// the 413 message can state it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// The time a client has to send a whole request body, placed in request
/// extensions by the router.
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub Duration);
