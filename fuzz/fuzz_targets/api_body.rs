//! Fuzzes the decoding and checking of management API request bodies by
//! sending them through the real router (`sluice::api::router`) in-process.
//!
//! Input: one byte that picks the endpoint, then the request body. Each input
//! gets a new in-memory SQLite store with one project, one user and one
//! tenant, so a crash reproduces from its input alone. Checks, besides the
//! absence of panics:
//! - no body makes the server fail with a 5xx status;
//! - every response body is JSON, and every error has Descope's error shape;
//! - `parse_body` accepts exactly the bodies that are blank, or a JSON
//!   object that nests no deeper than `MAX_JSON_DEPTH`.
//!
//! This target compiles wasmtime with coverage instrumentation, which takes
//! long on a small machine. docs/security.md gives the measured time.

#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use sluice::api::auth::hash_secret;
use sluice::api::{ApiSettings, AppState, router};
use sluice::engine::{Engine, EngineSettings};
use sluice::executor::{RunSettings, Runtime};
use sluice::registry::ComponentRegistry;
use sluice::store::{ManagementKey, ProjectStore, SqliteStore};
use sluice_fuzz::check_parse_body;
use tower::ServiceExt as _;

const PROJECT: &str = "P-fuzz";
const AUTHORIZATION: &str = "Bearer P-fuzz:secret";

/// Every endpoint that takes a JSON body.
const ENDPOINTS: [(&str, &str); 38] = [
    ("POST", "/v1/mgmt/audit/search"),
    ("POST", "/v1/mgmt/audit/event"),
    ("POST", "/v1/mgmt/flow/run"),
    ("POST", "/v1/mgmt/flow/async/run"),
    ("POST", "/v1/mgmt/flow/async/result"),
    ("POST", "/v1/mgmt/flow/list"),
    ("POST", "/v1/mgmt/flow/delete"),
    ("POST", "/v1/mgmt/flow/import"),
    ("POST", "/v1/mgmt/flow/export"),
    ("POST", "/v1/mgmt/flow/versions"),
    ("POST", "/v1/mgmt/flow/rollback"),
    ("POST", "/v1/mgmt/flow/runs"),
    ("POST", "/v1/mgmt/flow/runs/dead"),
    ("POST", "/v1/mgmt/flow/runs/replay"),
    ("POST", "/v1/mgmt/tenant/create"),
    ("POST", "/v1/mgmt/tenant/update"),
    ("PATCH", "/v1/mgmt/tenant/patch"),
    ("POST", "/v1/mgmt/tenant/delete"),
    ("POST", "/v1/mgmt/tenant/search"),
    ("POST", "/v1/mgmt/users/load"),
    ("POST", "/v1/mgmt/user/create"),
    ("POST", "/v1/mgmt/user/create/batch"),
    ("POST", "/v1/mgmt/user/update"),
    ("PATCH", "/v1/mgmt/user/patch"),
    ("PATCH", "/v1/mgmt/user/patch/batch"),
    ("POST", "/v1/mgmt/user/delete"),
    ("POST", "/v1/mgmt/user/delete/batch"),
    ("POST", "/v1/mgmt/user/update/status"),
    ("POST", "/v1/mgmt/user/update/loginid"),
    ("POST", "/v1/mgmt/user/update/email"),
    ("POST", "/v1/mgmt/user/update/phone"),
    ("POST", "/v1/mgmt/user/update/name"),
    ("POST", "/v1/mgmt/user/update/customAttribute"),
    ("POST", "/v1/mgmt/user/update/role/set"),
    ("POST", "/v1/mgmt/user/update/role/add"),
    ("POST", "/v1/mgmt/user/update/role/remove"),
    ("POST", "/v1/mgmt/user/update/tenant/add"),
    ("POST", "/v1/mgmt/user/update/tenant/remove"),
];

/// Returns the engine and the compiled built-in components, created once
/// and shared by all inputs because compiling the components takes seconds.
fn components() -> &'static (Arc<Engine>, Arc<ComponentRegistry>) {
    static COMPONENTS: OnceLock<(Arc<Engine>, Arc<ComponentRegistry>)> = OnceLock::new();
    COMPONENTS.get_or_init(|| {
        let engine = Arc::new(Engine::new(EngineSettings::default()).expect("the engine starts"));
        let registry = ComponentRegistry::with_builtins(&engine).expect("the built-in components load");
        (engine, Arc::new(registry))
    })
}

fn tokio_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("the tokio runtime starts")
    })
}

/// Builds a router over a new in-memory SQLite store, the store `sluice
/// serve` uses, with one project and its key, the tenant `t1` and the user
/// `ada@acme.com`. The store is also the queue of runs started by audit
/// events, as in `sluice serve`, so the dead-run and replay calls work.
async fn app() -> axum::Router {
    let backend = Arc::new(SqliteStore::open_in_memory().expect("the store opens"));
    backend.create_project(PROJECT, "fuzz").expect("the project is created");
    let key = ManagementKey {
        id: "K-fuzz".to_owned(),
        project: PROJECT.to_owned(),
        name: "fuzz key".to_owned(),
        secret_hash: hash_secret("secret"),
        created: 0,
    };
    backend.add_key(&key).expect("the key is added");

    let (engine, registry) = components();
    let runtime = Runtime::new(Arc::clone(engine), Arc::clone(registry), backend.clone(), RunSettings::default());
    let state = AppState::new(backend.clone(), runtime, ApiSettings::default());
    state.set_trigger_queue(backend);
    let app = router(state);

    let seeds = [
        ("/v1/mgmt/tenant/create", json!({ "id": "t1", "name": "Acme" })),
        (
            "/v1/mgmt/user/create",
            json!({
                "loginId": "ada@acme.com",
                "email": "ada@acme.com",
                "displayName": "Ada",
                "userTenants": [{ "tenantId": "t1", "roleNames": ["admin"] }]
            }),
        ),
    ];
    for (path, body) in seeds {
        let (status, response) = send(&app, Method::POST, path, body.to_string().into_bytes()).await;
        assert_eq!(status, StatusCode::OK, "seeding {path} failed: {}", String::from_utf8_lossy(&response));
    }
    app
}

/// Sends one authorized JSON request and returns the status and the body.
async fn send(app: &axum::Router, method: Method, path: &str, body: Vec<u8>) -> (StatusCode, Bytes) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, AUTHORIZATION)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("the request is valid");
    let response = app.clone().oneshot(request).await.expect("the router returns a response");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("the body is read").to_bytes();
    (status, bytes)
}

fuzz_target!(
    // Compiling the built-in components can take longer than a per-input
    // timeout such as `-timeout=10`, so it happens before the first input.
    init: {
        components();
        tokio_runtime();
    },
    |data: &[u8]| send_body(data)
);

/// Sends the body to the endpoint that the first byte picks and checks the
/// response.
fn send_body(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    check_parse_body(body);

    let (method, path) = ENDPOINTS[usize::from(selector) % ENDPOINTS.len()];
    let method = Method::from_bytes(method.as_bytes()).expect("the method is valid");
    let (status, response) = tokio_runtime().block_on(async {
        let app = app().await;
        send(&app, method.clone(), path, body.to_vec()).await
    });

    assert!(
        !status.is_server_error(),
        "{method} {path} returned {status}: {}",
        String::from_utf8_lossy(&response)
    );
    let response: Value = serde_json::from_slice(&response).unwrap_or_else(|error| {
        panic!("{method} {path} returned a body that is not JSON ({error}): {}", String::from_utf8_lossy(&response))
    });
    if status == StatusCode::OK {
        assert!(response.is_object(), "{method} {path} returned {response}");
    } else {
        for field in ["errorCode", "errorDescription", "errorMessage"] {
            assert!(
                response[field].as_str().is_some_and(|text| !text.is_empty()),
                "{method} {path} returned {status} without `{field}`: {response}"
            );
        }
    }
}
