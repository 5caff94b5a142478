//! Hostile request bodies sent through the router in-process, over the
//! SQLite store that `sluice serve` uses: nesting deeper than the API
//! accepts, values of the wrong type in every endpoint group, and unicode
//! edge cases. Every bad body must get a 400 that names the field, never a
//! 5xx, and must leave nothing half-written.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sluice::api::auth::hash_secret;
use sluice::api::json::MAX_JSON_DEPTH;
use sluice::api::{ApiSettings, AppState, router};
use sluice::connectors::ConnectorResolver;
use sluice::executor::{RunSettings, Runtime};
use sluice::publish::PublishedComponents;
use sluice::secrets::SecretKey;
use sluice::store::{IdentityStore, ManagementKey, ProjectStore, SqliteStore};
use tower::ServiceExt;

const PROJECT: &str = "P-input";
const AUTH: &str = "Bearer P-input:secret";

struct TestApp {
    app: Router,
    store: Arc<SqliteStore>,
}

fn test_app() -> TestApp {
    let store = Arc::new(SqliteStore::open_in_memory().expect("store opens"));
    store
        .create_project(PROJECT, PROJECT)
        .expect("project is created");
    store
        .add_key(&ManagementKey {
            id: "K-input".to_owned(),
            project: PROJECT.to_owned(),
            name: "test key".to_owned(),
            secret_hash: hash_secret("secret"),
            created: 0,
        })
        .expect("key is added");
    let (key, _) = SecretKey::generate();
    let resolver = Arc::new(ConnectorResolver::new(Arc::clone(&store) as _, key));
    let published = Arc::new(PublishedComponents::new(
        Arc::clone(&store) as _,
        common::engine(),
    ));
    let runtime = Runtime::new(
        common::engine(),
        Arc::new(common::builtins()),
        Arc::clone(&store) as _,
        RunSettings::default(),
    )
    .with_connectors(Arc::clone(&resolver))
    .with_published(published);
    let state = AppState::new(Arc::clone(&store) as _, runtime, ApiSettings::default());
    state.set_connector_resolver(resolver);
    TestApp {
        app: router(state),
        store,
    }
}

impl TestApp {
    /// Sends raw body bytes and returns the status and the JSON body.
    async fn send_bytes(&self, method: Method, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, AUTH)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("request is valid");
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body is read")
            .to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, value)
    }

    async fn post_text(&self, path: &str, body: &str) -> (StatusCode, Value) {
        self.send_bytes(Method::POST, path, body.as_bytes().to_vec())
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_text(path, &body.to_string()).await
    }

    fn user_count(&self) -> usize {
        let (_, total) = self
            .store
            .search_users(PROJECT, &sluice::model::UserQuery::default())
            .expect("users load");
        usize::try_from(total).expect("count fits")
    }

    fn audit_count(&self) -> usize {
        self.store
            .audit_events(PROJECT)
            .expect("audit events load")
            .len()
    }
}

fn message(response: &Value) -> &str {
    response["errorMessage"].as_str().unwrap_or_default()
}

/// Returns `levels` nested arrays around the number 1.
fn nested(levels: usize) -> String {
    format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
}

#[tokio::test]
async fn deep_bodies_get_400_naming_field() {
    let app = test_app();
    // Each body puts the nested value one level below the top-level field,
    // so 64 levels of arrays make 66 levels with the body and the field.
    let too_deep = nested(MAX_JSON_DEPTH);
    let cases = [
        (
            "/v1/mgmt/flow/run",
            format!(r#"{{"flowId": "x", "input": {{"deep": {too_deep}}}}}"#),
            "input",
        ),
        (
            "/v1/mgmt/flow/import",
            format!(r#"{{"flow": {{"id": "deep", "steps": {too_deep}}}}}"#),
            "flow",
        ),
        (
            "/v1/mgmt/user/create",
            format!(r#"{{"loginId": "deep", "customAttributes": {{"a": {too_deep}}}}}"#),
            "customAttributes",
        ),
        (
            "/v1/mgmt/user/update/customAttribute",
            format!(r#"{{"loginId": "deep", "attributeKey": "a", "attributeValue": {too_deep}}}"#),
            "attributeValue",
        ),
        (
            "/v1/mgmt/tenant/create",
            format!(r#"{{"id": "t", "name": "T", "customAttributes": {{"a": {too_deep}}}}}"#),
            "customAttributes",
        ),
        (
            "/v1/mgmt/audit/event",
            format!(
                r#"{{"action": "Deep", "type": "info", "actorId": "a", "data": {{"a": {too_deep}}}}}"#
            ),
            "data",
        ),
    ];
    for (path, body, field) in &cases {
        let (status, response) = app.post_text(path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {response}");
        assert_eq!(response["errorCode"], "E011001", "{path}: {response}");
        assert!(
            message(&response).contains(&format!("invalid field `{field}`")),
            "{path}: {response}"
        );
        assert!(
            message(&response).contains("deeper than 64 levels"),
            "{path}: {response}"
        );
    }

    // Past serde_json's own limit of 128 levels, the message is the same.
    let (status, response) = app
        .post_text(
            "/v1/mgmt/audit/event",
            &format!(r#"{{"data": {}}}"#, nested(1000)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message(&response).contains("invalid field `data`"),
        "{response}"
    );
    assert!(!message(&response).contains("not valid JSON"), "{response}");
    let (status, response) = app
        .post_text("/v1/mgmt/user/create", &nested(100_000))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message(&response).starts_with("request body nests"),
        "{response}"
    );

    assert_eq!(app.user_count(), 0, "no rejected body created a user");
    assert_eq!(app.audit_count(), 0, "no rejected body recorded an event");
}

#[tokio::test]
async fn depth_at_limit_round_trips() {
    let app = test_app();
    // The body, `customAttributes` and `a` take three levels.
    let deepest = nested(MAX_JSON_DEPTH - 3);
    let body = format!(r#"{{"loginId": "deep@acme.com", "customAttributes": {{"a": {deepest}}}}}"#);
    let (status, response) = app.post_text("/v1/mgmt/user/create", &body).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let stored = app
        .store
        .load_user_by_login_id(PROJECT, "deep@acme.com")
        .expect("user stored");
    let expected: Value = serde_json::from_str(&deepest).expect("nested arrays parse");
    assert_eq!(stored.custom_attributes.get("a"), Some(&expected));
}

#[tokio::test]
async fn wrong_types_name_the_field() {
    let app = test_app();
    let cases = [
        ("/v1/mgmt/flow/run", json!({ "flowId": 42 }), "flowId"),
        (
            "/v1/mgmt/flow/run",
            json!({ "flowId": "x", "options": { "input": [1, 2] } }),
            "options.input",
        ),
        (
            "/v1/mgmt/flow/run",
            json!({ "flowId": "x", "tenant": { "id": "t1" } }),
            "tenant",
        ),
        (
            "/v1/mgmt/flow/run",
            json!({ "flowId": "x", "input": [1, 2] }),
            "input",
        ),
        (
            "/v1/mgmt/flow/rollback",
            json!({ "flowId": "x", "version": "one" }),
            "version",
        ),
        ("/v1/mgmt/flow/runs", json!({ "limit": -1 }), "limit"),
        (
            "/v1/mgmt/user/create",
            json!({ "loginId": "a", "email": 5 }),
            "email",
        ),
        (
            "/v1/mgmt/user/create",
            json!({ "loginId": "a", "roleNames": "admin" }),
            "roleNames",
        ),
        (
            "/v1/mgmt/user/create",
            json!({ "loginId": "a", "customAttributes": [] }),
            "customAttributes",
        ),
        (
            "/v1/mgmt/user/create",
            json!({ "loginId": "a", "userTenants": [{ "tenantId": 1 }] }),
            "userTenants[0].tenantId",
        ),
        (
            "/v1/mgmt/user/update/status",
            json!({ "loginId": "a", "status": true }),
            "status",
        ),
        (
            "/v1/mgmt/tenant/create",
            json!({ "id": "t", "name": ["T"] }),
            "name",
        ),
        (
            "/v1/mgmt/tenant/search",
            json!({ "tenantIds": "t" }),
            "tenantIds",
        ),
        (
            "/v1/mgmt/audit/event",
            json!({ "action": "A", "type": "info", "actorId": 7 }),
            "actorId",
        ),
        (
            "/v1/mgmt/audit/search",
            json!({ "from": "yesterday" }),
            "from",
        ),
        (
            "/v1/mgmt/connector/create",
            json!({ "name": "c", "headers": { "x": 1 } }),
            "headers.x",
        ),
        (
            "/v1/mgmt/component/delete",
            json!({ "reference": false }),
            "reference",
        ),
    ];
    for (path, body, field) in &cases {
        let (status, response) = app.post(path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {response}");
        assert!(
            message(&response).contains(&format!("`{field}`")),
            "{path} {body}: {response}"
        );
    }
    assert_eq!(app.user_count(), 0);
    assert_eq!(app.audit_count(), 0);
}

#[tokio::test]
async fn bodies_that_are_not_objects_get_400() {
    let app = test_app();
    let paths = [
        "/v1/mgmt/user/create",
        "/v1/mgmt/flow/runs/replay",
        "/v1/mgmt/tenant/search",
        "/v1/mgmt/flow/list",
        "/v1/mgmt/connector/list",
        "/v1/mgmt/component/list",
        "/v1/mgmt/mcp/server/list",
    ];
    let bodies = [
        (json!([]), "an array"),
        (json!(["ada@acme.com"]), "an array"),
        (json!("ada@acme.com"), "a string"),
        (json!(7), "a number"),
        (Value::Null, "null"),
    ];
    for path in paths {
        for (body, kind) in &bodies {
            let (status, response) = app.post(path, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {response}");
            assert!(
                message(&response).starts_with(&format!("request body must be a JSON object, got {kind};")),
                "{path} {body}: {response}"
            );
        }
    }
    assert_eq!(app.user_count(), 0);
}

#[tokio::test]
async fn unknown_routes_get_json_errors() {
    let app = test_app();
    let (status, response) = app.send_bytes(Method::POST, "/v1/mgmt/no/such/route", b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(response["errorCode"], "S040400");
    assert!(message(&response).contains("`POST /v1/mgmt/no/such/route`"), "{response}");

    let (status, response) = app.send_bytes(Method::GET, "/v1/mgmt/flow/run", Vec::new()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response["errorCode"], "S040500");
    assert!(message(&response).contains("`/v1/mgmt/flow/run` does not take `GET`"), "{response}");
}

#[tokio::test]
async fn declared_oversized_body_gets_413_early() {
    let app = test_app();
    // The declared length is over the 1 MiB limit, but only two bytes follow:
    // the server rejects the request from the header without waiting.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/mgmt/user/create")
        .header(header::AUTHORIZATION, AUTH)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "10000000")
        .body(Body::from("{}"))
        .expect("request is valid");
    let response = app.app.clone().oneshot(request).await.expect("router answers");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.user_count(), 0);
}

/// Creates a user with `login_id` as its login id and display name and
/// checks that the store returns both exactly, or that the body was
/// rejected with a 400 naming `loginId` and nothing was stored.
async fn check_login_id(app: &TestApp, login_id: &str) {
    let users_before = app.user_count();
    let body = json!({ "loginId": login_id, "displayName": login_id });
    let (status, response) = app.post("/v1/mgmt/user/create", &body).await;
    if status == StatusCode::OK {
        let stored = app
            .store
            .load_user_by_login_id(PROJECT, login_id)
            .expect("the created user loads");
        assert_eq!(
            stored.login_ids,
            [login_id.to_owned()],
            "login id {login_id:?} changed in the store"
        );
        assert_eq!(
            stored.name.as_deref(),
            Some(login_id),
            "display name {login_id:?} changed in the store"
        );
        assert_eq!(
            response["user"]["loginIds"][0], login_id,
            "response of {login_id:?}"
        );
    } else {
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "login id {login_id:?}: {response}"
        );
        assert!(
            message(&response).contains("loginId"),
            "login id {login_id:?}: {response}"
        );
        assert_eq!(
            app.user_count(),
            users_before,
            "a rejected login id {login_id:?} left a user"
        );
    }
}

#[tokio::test]
async fn unicode_login_ids_round_trip() {
    let app = test_app();
    let cases = [
        "nul\u{0}inside",
        "e\u{301}cole@acme.com",
        "\u{e9}cole@acme.com",
        "\u{202e}moc.emca@evil",
        "\u{200f}\u{5e9}\u{5dc}\u{5d5}\u{5dd}@acme.com",
        "\u{1f600}\u{1f469}\u{200d}\u{1f4bb}@acme.com",
        "\u{feff}bom",
        "\u{10ffff}",
    ];
    for login_id in cases {
        check_login_id(&app, login_id).await;
    }
    // Composed and decomposed forms stay two different users.
    let composed = app
        .store
        .load_user_by_login_id(PROJECT, "\u{e9}cole@acme.com")
        .expect("composed form");
    let decomposed = app
        .store
        .load_user_by_login_id(PROJECT, "e\u{301}cole@acme.com")
        .expect("decomposed form");
    assert_ne!(composed.user_id, decomposed.user_id);

    let long = "\u{1f600}".repeat(100_000);
    check_login_id(&app, &long).await;
}

#[tokio::test]
async fn invalid_unicode_gets_400_naming_field() {
    let app = test_app();
    let cases: [(&[u8], &str); 4] = [
        (br#"{"loginId": "\ud800"}"#, "loginId"),
        (
            br#"{"loginId": "ok", "displayName": "\udc00 trailing"}"#,
            "displayName",
        ),
        (b"{\"loginId\": \"bad \xff\xfe bytes\"}", "loginId"),
        (b"{\"loginId\": \"cut \xe2\x82\"}", "loginId"),
    ];
    for (body, field) in cases {
        let (status, response) = app
            .send_bytes(Method::POST, "/v1/mgmt/user/create", body.to_vec())
            .await;
        let shown = String::from_utf8_lossy(body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{shown}: {response}");
        assert!(
            message(&response).contains(&format!("`{field}`")),
            "{shown}: {response}"
        );
    }
    // A body that is not UTF-8 outside any string.
    let (status, response) = app
        .send_bytes(Method::POST, "/v1/mgmt/user/create", b"\xff{}".to_vec())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{response}");
    assert!(message(&response).contains("not valid JSON"), "{response}");
    assert_eq!(app.user_count(), 0, "no rejected body created a user");
}

#[tokio::test]
async fn unicode_audit_event_round_trips() {
    let app = test_app();
    let text = "a\u{0}b \u{202e}rtl\u{202c} e\u{301} \u{1f469}\u{200d}\u{1f4bb}";
    let (status, response) = app
        .post("/v1/mgmt/audit/event", &json!({ "action": "Unicode", "type": "info", "actorId": text, "data": { text: text } }))
        .await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let events = app.store.audit_events(PROJECT).expect("audit events load");
    let event = events
        .iter()
        .find(|event| event.action == "Unicode")
        .expect("event stored");
    assert_eq!(event.actor_id, text);
    assert_eq!(event.data.get(text), Some(&Value::from(text)));
}

#[tokio::test]
async fn unknown_ids_get_404_naming_them() {
    let app = test_app();
    let cases = [
        (
            "/v1/mgmt/flow/run",
            json!({ "flowId": "no-such-flow" }),
            "no-such-flow",
        ),
        (
            "/v1/mgmt/flow/async/run",
            json!({ "flowId": "no-such-flow" }),
            "no-such-flow",
        ),
        (
            "/v1/mgmt/flow/async/result",
            json!({ "executionId": "no-such-run" }),
            "no-such-run",
        ),
        (
            "/v1/mgmt/flow/export",
            json!({ "flowId": "no-such-flow" }),
            "no-such-flow",
        ),
        (
            "/v1/mgmt/user/update/status",
            json!({ "loginId": "ghost@acme.com", "status": "disabled" }),
            "ghost@acme.com",
        ),
        (
            "/v1/mgmt/user/update/tenant/add",
            json!({ "loginId": "ghost@acme.com", "tenantId": "t1" }),
            "ghost@acme.com",
        ),
        (
            "/v1/mgmt/tenant/update",
            json!({ "id": "no-such-tenant", "name": "T" }),
            "no-such-tenant",
        ),
    ];
    for (path, body, id) in &cases {
        let (status, response) = app.post(path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} {body}: {response}");
        assert!(message(&response).contains(id), "{path} {body}: {response}");
    }

    // A custom event names a tenant as a field of the event, so an unknown
    // one is an invalid argument rather than a missing object.
    let body =
        json!({ "action": "A", "type": "info", "actorId": "a", "tenantId": "no-such-tenant" });
    let (status, response) = app.post("/v1/mgmt/audit/event", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{response}");
    assert!(message(&response).contains("`tenantId`"), "{response}");
    assert!(message(&response).contains("no-such-tenant"), "{response}");

    assert_eq!(app.user_count(), 0);
    assert_eq!(
        app.audit_count(),
        0,
        "no call with an unknown id recorded an event"
    );
}
