//! Checks `docs/openapi.json` against the server: the document is valid
//! OpenAPI 3.1 JSON, it lists exactly the routes the server declares and
//! serves, its security matches what the server checks, and
//! `GET /openapi.json` returns it unchanged.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use regex::Regex;
use serde_json::Value;
use sluice::api::{ApiSettings, AppState, router};
use sluice::executor::{RunSettings, Runtime};
use sluice::store::MemoryStore;
use tower::ServiceExt;

/// Methods an OpenAPI path item can have, in the document's spelling.
const OPENAPI_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// A route as (upper-case method, path template such as `/v1/mgmt/flow/runs/{run_id}`).
type Route = (String, String);

fn document_text() -> String {
    let path = common::repo_root().join("docs/openapi.json");
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("failed to read {}: {err}", path.display()))
}

fn document() -> Value {
    serde_json::from_str(&document_text()).unwrap_or_else(|err| panic!("docs/openapi.json is not valid JSON: {err}"))
}

/// Returns every (method, path) pair of the document's `paths`.
fn documented_routes(document: &Value) -> BTreeSet<Route> {
    let paths = document["paths"].as_object().expect("`paths` is an object");
    let mut routes = BTreeSet::new();
    for (path, item) in paths {
        let item = item.as_object().unwrap_or_else(|| panic!("path item `{path}` is not an object"));
        for method in OPENAPI_METHODS {
            if item.contains_key(method) {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// Returns every route declared with `.route("PATH", method(handler)...)` in
/// the sources of `runtime/src/api/`.
///
/// axum's `Router` cannot list its routes, so the sources are the only
/// complete list that is not kept by hand. The test fails when a
/// `.route(` call has a form this parser does not read, rather than
/// skipping it.
fn declared_routes() -> BTreeSet<Route> {
    let route_call = Regex::new(r#"\.route\(\s*"([^"]+)"\s*,\s*((?:[a-z_]+\([A-Za-z0-9_:]*\)\s*\.?\s*)+)\)"#)
        .expect("route pattern compiles");
    let method_call = Regex::new(r"([a-z_]+)\(").expect("method pattern compiles");
    let api_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");

    let mut routes = BTreeSet::new();
    let entries = std::fs::read_dir(&api_dir).unwrap_or_else(|err| panic!("failed to list {}: {err}", api_dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry is readable").path();
        if path.extension().is_none_or(|extension| extension != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("failed to read {}: {err}", path.display()));

        let calls = source.matches(".route(").count();
        let parsed: Vec<_> = route_call.captures_iter(&source).collect();
        assert_eq!(
            parsed.len(),
            calls,
            "{} has {calls} `.route(` calls but only {} match the form `.route(\"PATH\", method(handler))`; \
             extend `declared_routes` to read the new form",
            path.display(),
            parsed.len()
        );

        for captures in parsed {
            let route_path = &captures[1];
            for method in method_call.captures_iter(&captures[2]) {
                let method = method[1].to_uppercase();
                assert!(
                    OPENAPI_METHODS.contains(&method.to_lowercase().as_str()),
                    "route `{route_path}` in {} uses `{method}`, which is not an HTTP method",
                    path.display()
                );
                routes.insert((method, route_path.to_owned()));
            }
        }
    }
    routes
}

/// Builds the router over an empty memory store with no projects, so every
/// management call is rejected before it changes anything.
fn test_app() -> Router {
    let backend = Arc::new(MemoryStore::new());
    let runtime = Runtime::new(
        common::engine(),
        Arc::new(common::builtins()),
        backend.clone(),
        RunSettings::default(),
    );
    router(AppState::new(backend, runtime, ApiSettings::default()))
}

struct ProbeResponse {
    status: StatusCode,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl ProbeResponse {
    /// Returns whether the router's fallbacks rejected the request because no
    /// route matched: a 404 whose message starts with "no API route matches",
    /// or a 405 with the code `S040500`. A handler's own 404, such as for an
    /// unknown MCP server, names the object instead.
    fn is_routing_miss(&self) -> bool {
        let body: Value = serde_json::from_slice(&self.body).unwrap_or_default();
        let message = body["errorMessage"].as_str().unwrap_or_default();
        match self.status {
            StatusCode::NOT_FOUND => message.starts_with("no API route matches"),
            StatusCode::METHOD_NOT_ALLOWED => body["errorCode"] == "S040500",
            _ => false,
        }
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends a request without credentials and without a body.
async fn send(app: &Router, method: &str, path: &str) -> ProbeResponse {
    let method = Method::from_bytes(method.as_bytes()).expect("method is valid");
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .expect("request is valid");
    let response = app.clone().oneshot(request).await.expect("router returns a response");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.into_body().collect().await.expect("body is read").to_bytes().to_vec();
    ProbeResponse {
        status,
        content_type,
        body,
    }
}

/// Replaces each `{parameter}` of a path template with a sample value.
fn sample_path(template: &str) -> String {
    let parameter = Regex::new(r"\{[^}]+\}").expect("parameter pattern compiles");
    parameter.replace_all(template, "probe").into_owned()
}

/// Returns whether the operation needs credentials: its own `security`, or
/// the document's when it has none, lists no empty requirement `{}`.
fn requires_credentials(document: &Value, method: &str, path: &str) -> bool {
    let operation = &document["paths"][path][method.to_lowercase()];
    let security = operation.get("security").unwrap_or(&document["security"]);
    let requirements = security.as_array().map(Vec::as_slice).unwrap_or_default();
    !requirements.is_empty()
        && requirements
            .iter()
            .all(|requirement| requirement.as_object().is_some_and(|names| !names.is_empty()))
}

#[test]
fn document_is_openapi_3_1() {
    let document = document();

    let version = document["openapi"].as_str().expect("`openapi` is a string");
    assert!(version.starts_with("3.1"), "`openapi` is `{version}`, expected 3.1.x");
    assert!(document["info"]["title"].is_string(), "`info.title` is missing");
    assert!(document["paths"].is_object(), "`paths` is missing");
}

#[test]
fn document_version_is_crate_version() {
    let document = document();

    assert_eq!(
        document["info"]["version"],
        env!("CARGO_PKG_VERSION"),
        "`info.version` in docs/openapi.json differs from the crate version; update the document"
    );
}

#[test]
fn document_lists_declared_routes() {
    let documented = documented_routes(&document());
    let declared = declared_routes();

    let undocumented: Vec<_> = declared.difference(&documented).collect();
    assert!(undocumented.is_empty(), "routes missing from docs/openapi.json: {undocumented:?}");
    let not_declared: Vec<_> = documented.difference(&declared).collect();
    assert!(not_declared.is_empty(), "docs/openapi.json lists routes the server does not declare: {not_declared:?}");
}

#[tokio::test]
async fn documented_routes_are_served() {
    let document = document();
    let app = test_app();

    for (method, path) in documented_routes(&document) {
        let response = send(&app, &method, &sample_path(&path)).await;

        assert!(!response.is_routing_miss(), "{method} {path} is not routed: {}", response.status);
        if requires_credentials(&document, &method, &path) {
            assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{method} {path} without credentials");
            // RFC 7592 calls take a registration access token and return an
            // OAuth error body; the others take a management key.
            let operation = &document["paths"][&path][method.to_lowercase()];
            if operation["security"][0].get("registrationAccessToken").is_some() {
                assert_eq!(response.json()["error"], "invalid_token", "{method} {path} without credentials");
            } else {
                assert_eq!(response.json()["errorCode"], "S040100", "{method} {path} without credentials");
            }
        } else {
            // A public call may reject the probe's sample values, such as an
            // unknown MCP server, with a status its operation documents.
            let documented = document["paths"][&path][method.to_lowercase()]["responses"]
                .get(response.status.as_str())
                .is_some();
            assert!(
                response.status.is_success() || documented,
                "{method} {path} without credentials: {}",
                response.status
            );
        }
    }
}

#[tokio::test]
async fn unknown_route_is_routing_miss() {
    let app = test_app();

    let unknown_path = send(&app, "GET", "/v1/mgmt/no-such-call").await;
    let wrong_method = send(&app, "GET", "/v1/mgmt/user/create").await;

    assert_eq!(unknown_path.status, StatusCode::NOT_FOUND);
    assert!(unknown_path.is_routing_miss(), "body: {}", String::from_utf8_lossy(&unknown_path.body));
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong_method.is_routing_miss(), "body: {}", String::from_utf8_lossy(&wrong_method.body));
}

#[tokio::test]
async fn openapi_route_serves_document() {
    let app = test_app();

    let response = send(&app, "GET", "/openapi.json").await;

    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.content_type.as_deref(), Some("application/json"));
    assert!(response.body == document_text().as_bytes(), "GET /openapi.json differs from docs/openapi.json");
}
