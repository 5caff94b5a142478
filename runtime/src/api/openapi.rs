//! The OpenAPI 3.1 description of this API, served at `GET /openapi.json`.
//!
//! The document is `docs/openapi.json`, embedded at compile time, so the
//! binary serves the version it was built with. The `openapi` integration
//! test checks that its paths and methods match the routes served.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;

/// The OpenAPI document, as JSON text.
const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_document))
}

async fn openapi_document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
