//! The user and tenant management calls, driven in-process with the bodies
//! Descope's Python SDK sends.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sluice::api::auth::hash_secret;
use sluice::api::{ApiSettings, AppState, router};
use sluice::executor::{RunSettings, Runtime};
use sluice::store::{IdentityStore, ManagementKey, MemoryStore, ProjectStore};
use tower::ServiceExt;

const PROJECT: &str = "P-first";
const OTHER_PROJECT: &str = "P-second";
const KEY_ID: &str = "K-first";
const AUTH: &str = "Bearer P-first:secret";
const OTHER_AUTH: &str = "Bearer P-second:other-secret";

struct TestApp {
    app: Router,
    backend: Arc<MemoryStore>,
}

fn test_app() -> TestApp {
    test_app_with(ApiSettings::default())
}

/// Builds the router over a memory store with two projects, each with one
/// management key.
fn test_app_with(settings: ApiSettings) -> TestApp {
    let backend = Arc::new(MemoryStore::new());
    let keys = [(PROJECT, KEY_ID, "secret"), (OTHER_PROJECT, "K-second", "other-secret")];
    for (project, key_id, secret) in keys {
        backend.create_project(project, project).expect("project is created");
        let key = ManagementKey {
            id: key_id.to_owned(),
            project: project.to_owned(),
            name: "test key".to_owned(),
            secret_hash: hash_secret(secret),
            created: 0,
        };
        backend.add_key(&key).expect("key is added");
    }
    let runtime = Runtime::new(
        common::engine(),
        Arc::new(common::builtins()),
        backend.clone(),
        RunSettings::default(),
    );
    let app = router(AppState::new(backend.clone(), runtime, settings));
    TestApp { app, backend }
}

impl TestApp {
    /// Sends a request and returns the status and the JSON body (`null`
    /// when the body is empty).
    async fn send(&self, method: Method, path: &str, auth: Option<&str>, body: Option<String>) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(body.map_or_else(Body::empty, Body::from))
            .expect("request is valid");
        let response = self.app.clone().oneshot(request).await.expect("router answers");
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("body is read").to_bytes();
        if bytes.is_empty() {
            return (status, Value::Null);
        }
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|err| panic!("body is not JSON ({err}): {}", String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(AUTH), Some(body.to_string())).await
    }

    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PATCH, path, Some(AUTH), Some(body.to_string())).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, Some(AUTH), None).await
    }

    /// Creates a user through the API and returns it.
    async fn create_user(&self, body: Value) -> Value {
        let (status, response) = self.post("/v1/mgmt/user/create", body).await;
        assert_eq!(status, StatusCode::OK, "create failed: {response}");
        response["user"].clone()
    }

    async fn create_tenant(&self, id: &str, name: &str) {
        let (status, response) = self
            .post("/v1/mgmt/tenant/create", json!({ "id": id, "name": name, "selfProvisioningDomains": [] }))
            .await;
        assert_eq!(status, StatusCode::OK, "tenant create failed: {response}");
    }

    fn audit_actions(&self) -> Vec<String> {
        self.backend
            .audit_events(PROJECT)
            .expect("audit events load")
            .into_iter()
            .map(|event| event.action)
            .collect()
    }
}

/// Returns the create body as the Python SDK's `create` builds it from a
/// login id, an email and a display name, with `null` for unset arguments.
fn sdk_create_body(login_id: &str) -> Value {
    json!({
        "loginId": login_id,
        "email": format!("{login_id}@example.com"),
        "phone": null,
        "displayName": format!("Name {login_id}"),
        "roleNames": [],
        "userTenants": [],
        "test": false,
        "picture": null,
        "customAttributes": null,
        "additionalLoginIds": null,
        "ssoAppIDs": null,
        "invite": false,
    })
}

fn assert_error(response: &Value, code: &str, message_part: &str) {
    assert_eq!(response["errorCode"], code, "error body: {response}");
    assert!(response["errorDescription"].is_string(), "error body: {response}");
    let message = response["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains(message_part), "message `{message}` lacks `{message_part}`");
}

fn login_ids_of(response: &Value) -> Vec<String> {
    let users = response["users"].as_array().expect("users is an array");
    users
        .iter()
        .map(|user| user["loginIds"][0].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn user_create_returns_descope_shape() {
    let app = test_app();
    app.create_tenant("T1", "Acme").await;
    let mut body = sdk_create_body("ada");
    body["roleNames"] = json!(["admin"]);
    body["userTenants"] = json!([{ "tenantId": "T1", "roleNames": ["viewer"] }]);
    body["customAttributes"] = json!({ "plan": "pro" });
    body["verifiedEmail"] = json!(true);
    body["additionalLoginIds"] = json!(["ada-alt"]);

    let (status, response) = app.post("/v1/mgmt/user/create", body).await;

    assert_eq!(status, StatusCode::OK, "{response}");
    let user = &response["user"];
    assert!(user["userId"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(user["loginIds"], json!(["ada", "ada-alt"]));
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["name"], "Name ada");
    assert_eq!(user["status"], "enabled");
    assert_eq!(user["verifiedEmail"], true);
    assert_eq!(user["verifiedPhone"], false);
    assert_eq!(user["roleNames"], json!(["admin"]));
    assert_eq!(
        user["userTenants"],
        json!([{ "tenantId": "T1", "tenantName": "Acme", "roleNames": ["viewer"] }])
    );
    assert_eq!(user["customAttributes"], json!({ "plan": "pro" }));
    assert!(user["createdTime"].as_u64().is_some_and(|time| time > 0));
}

#[tokio::test]
async fn user_create_invite_sets_invited() {
    let app = test_app();
    let mut body = sdk_create_body("invitee");
    body["invite"] = json!(true);

    let user = app.create_user(body).await;

    assert_eq!(user["status"], "invited");
}

#[tokio::test]
async fn user_create_duplicate_login_id_conflicts() {
    let app = test_app();
    app.create_user(sdk_create_body("ada")).await;

    let (status, response) = app.post("/v1/mgmt/user/create", sdk_create_body("ada")).await;

    assert_eq!(status, StatusCode::CONFLICT);
    assert_error(&response, "S040900", "ada");
}

#[tokio::test]
async fn user_create_missing_fields_are_named() {
    let app = test_app();
    let cases = [
        (json!({ "email": "a@example.com" }), "`loginId`"),
        (json!({ "loginId": "" }), "`loginId`"),
        (json!({ "loginId": "a", "userTenants": [{ "roleNames": [] }] }), "`userTenants[0].tenantId`"),
    ];
    for (body, field) in cases {
        let (status, response) = app.post("/v1/mgmt/user/create", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "body {body}");
        assert_error(&response, "E011002", field);
    }
}

#[tokio::test]
async fn user_create_wrong_types_are_named() {
    let app = test_app();
    let cases = [
        (json!({ "loginId": 5 }), "`loginId`"),
        (json!({ "loginId": "a", "roleNames": "admin" }), "`roleNames`"),
        (json!({ "loginId": "a", "status": "sleeping" }), "`status`"),
        (json!({ "loginId": "a", "userTenants": [{ "tenantId": 7 }] }), "`userTenants[0].tenantId`"),
        (json!({ "loginId": "a", "customAttributes": [] }), "`customAttributes`"),
    ];
    for (body, field) in cases {
        let (status, response) = app.post("/v1/mgmt/user/create", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "body {body}");
        assert_error(&response, "E011001", field);
    }
}

#[tokio::test]
async fn user_create_invalid_json_is_rejected() {
    let app = test_app();

    let (status, response) = app
        .send(Method::POST, "/v1/mgmt/user/create", Some(AUTH), Some("{\"loginId\":".to_owned()))
        .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011001", "not valid JSON");
}

#[tokio::test]
async fn user_create_unknown_tenant_is_not_found() {
    let app = test_app();
    let mut body = sdk_create_body("ada");
    body["userTenants"] = json!([{ "tenantId": "missing", "roleNames": [] }]);

    let (status, response) = app.post("/v1/mgmt/user/create", body).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&response, "S040400", "missing");
}

#[tokio::test]
async fn user_create_batch_reports_failures() {
    let app = test_app();
    app.create_user(sdk_create_body("taken")).await;
    // The SDK's batch body carries `invite` once, not in each user.
    let users: Vec<Value> = ["new-one", "taken"]
        .into_iter()
        .map(|login_id| {
            let mut user = sdk_create_body(login_id);
            user.as_object_mut().expect("body is an object").remove("invite");
            user
        })
        .collect();
    let body = json!({ "users": users, "invite": true });

    let (status, response) = app.post("/v1/mgmt/user/create/batch", body).await;

    assert_eq!(status, StatusCode::OK, "{response}");
    let created = response["createdUsers"].as_array().expect("createdUsers is an array");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["loginIds"], json!(["new-one"]));
    assert_eq!(created[0]["status"], "invited");
    let failed = response["failedUsers"].as_array().expect("failedUsers is an array");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["user"]["loginIds"], json!(["taken"]));
    assert!(failed[0]["failure"].as_str().is_some_and(|text| text.contains("taken")));
}

#[tokio::test]
async fn user_create_batch_missing_login_id_names_index() {
    let app = test_app();
    let body = json!({ "users": [sdk_create_body("a"), { "email": "b@example.com" }] });

    let (status, response) = app.post("/v1/mgmt/user/create/batch", body).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011002", "`users[1].loginId`");
    assert!(app.audit_actions().is_empty(), "no user of a rejected batch is created");
}

#[tokio::test]
async fn user_load_by_login_id_and_user_id() {
    let app = test_app();
    let created = app.create_user(sdk_create_body("ada")).await;
    let user_id = created["userId"].as_str().expect("userId is a string");

    let paths = [
        "/v1/mgmt/user?loginId=ada".to_owned(),
        "/v1/mgmt/user?loginid=ada".to_owned(),
        format!("/v1/mgmt/user?userId={user_id}"),
    ];
    for path in paths {
        let (status, response) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {response}");
        assert_eq!(response["user"], created, "{path}");
    }
}

#[tokio::test]
async fn user_load_unknown_is_not_found() {
    let app = test_app();
    for path in ["/v1/mgmt/user?loginId=nobody", "/v1/mgmt/user?userId=U-nobody"] {
        let (status, response) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_error(&response, "E062108", "nobody");
    }
}

#[tokio::test]
async fn user_load_without_id_is_rejected() {
    let app = test_app();

    let (status, response) = app.get("/v1/mgmt/user").await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011002", "`loginId`");
}

#[tokio::test]
async fn users_load_skips_unknown_ids() {
    let app = test_app();
    let ada = app.create_user(sdk_create_body("ada")).await;
    let body = json!({ "userIds": [ada["userId"], "U-nobody"], "includeInvalidUsers": true });

    let (status, response) = app.post("/v1/mgmt/users/load", body).await;

    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["users"], json!([ada]));
}

#[tokio::test]
async fn user_update_replaces_fields() {
    let app = test_app();
    let mut create = sdk_create_body("ada");
    create["phone"] = json!("+15550100");
    create["customAttributes"] = json!({ "plan": "pro" });
    create["verifiedEmail"] = json!(true);
    let created = app.create_user(create).await;
    let update = json!({
        "loginId": "ada",
        "email": "new@example.com",
        "phone": null,
        "displayName": "Ada L",
        "roleNames": ["editor"],
        "userTenants": [],
        "test": false,
        "picture": null,
        "customAttributes": null,
        "additionalLoginIds": null,
        "ssoAppIDs": null,
    });

    let (status, response) = app.post("/v1/mgmt/user/update", update).await;

    assert_eq!(status, StatusCode::OK, "{response}");
    let user = &response["user"];
    assert_eq!(user["userId"], created["userId"]);
    assert_eq!(user["createdTime"], created["createdTime"]);
    assert_eq!(user["loginIds"], json!(["ada"]));
    assert_eq!(user["email"], "new@example.com");
    assert_eq!(user["phone"], Value::Null);
    assert_eq!(user["name"], "Ada L");
    assert_eq!(user["roleNames"], json!(["editor"]));
    assert_eq!(user["customAttributes"], json!({}));
    assert_eq!(user["verifiedEmail"], true, "absent verified flags are kept");
    assert_eq!(user["status"], "enabled");
}

#[tokio::test]
async fn user_update_unknown_is_not_found() {
    let app = test_app();

    let (status, response) = app.post("/v1/mgmt/user/update", json!({ "loginId": "nobody" })).await;

    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&response, "E062108", "nobody");
}

#[tokio::test]
async fn user_patch_changes_given_fields() {
    let app = test_app();
    let mut create = sdk_create_body("ada");
    create["phone"] = json!("+15550100");
    create["customAttributes"] = json!({ "plan": "pro" });
    app.create_user(create).await;
    let patch = json!({ "loginId": "ada", "displayName": "Ada L", "customAttributes": { "seats": 3 }, "status": "disabled" });

    let (status, response) = app.patch("/v1/mgmt/user/patch", patch).await;

    assert_eq!(status, StatusCode::OK, "{response}");
    let user = &response["user"];
    assert_eq!(user["name"], "Ada L");
    assert_eq!(user["phone"], "+15550100");
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["status"], "disabled");
    assert_eq!(user["customAttributes"], json!({ "plan": "pro", "seats": 3 }));
}

#[tokio::test]
async fn user_patch_batch_reports_failures() {
    let app = test_app();
    app.create_user(sdk_create_body("ada")).await;
    let body = json!({ "users": [
        { "loginId": "ada", "status": "disabled" },
        { "loginId": "nobody", "displayName": "No One" },
    ] });

    let (status, response) = app.patch("/v1/mgmt/user/patch/batch", body).await;

    assert_eq!(status, StatusCode::OK, "{response}");
    let patched = response["patchedUsers"].as_array().expect("patchedUsers is an array");
    assert_eq!(patched.len(), 1);
    assert_eq!(patched[0]["status"], "disabled");
    let failed = response["failedUsers"].as_array().expect("failedUsers is an array");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["user"]["loginIds"], json!(["nobody"]));
    assert!(failed[0]["failure"].as_str().is_some_and(|text| text.contains("not found")));
}

#[tokio::test]
async fn user_patch_requires_patch_method() {
    let app = test_app();

    let (status, _) = app.post("/v1/mgmt/user/patch", json!({ "loginId": "ada" })).await;

    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn user_delete_by_login_id_and_user_id() {
    let app = test_app();
    app.create_user(sdk_create_body("ada")).await;
    let bob = app.create_user(sdk_create_body("bob")).await;

    let (by_login, _) = app.post("/v1/mgmt/user/delete", json!({ "loginId": "ada" })).await;
    let (by_id, body) = app.post("/v1/mgmt/user/delete", json!({ "userId": bob["userId"] })).await;

    assert_eq!(by_login, StatusCode::OK);
    assert_eq!(by_id, StatusCode::OK);
    assert_eq!(body, json!({}));
    let (ada_status, _) = app.get("/v1/mgmt/user?loginId=ada").await;
    assert_eq!(ada_status, StatusCode::NOT_FOUND);
    let (bob_status, _) = app.get("/v1/mgmt/user?loginId=bob").await;
    assert_eq!(bob_status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn user_delete_unknown_is_not_found() {
    let app = test_app();
    let cases = [json!({ "loginId": "nobody" }), json!({ "userId": "U-nobody" })];
    for body in cases {
        let (status, response) = app.post("/v1/mgmt/user/delete", body.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "body {body}");
        assert_error(&response, "E062108", "nobody");
    }
    let (status, response) = app.post("/v1/mgmt/user/delete", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011002", "`loginId`");
}

#[tokio::test]
async fn user_delete_batch_skips_unknown() {
    let app = test_app();
    let ada = app.create_user(sdk_create_body("ada")).await;
    app.create_user(sdk_create_body("bob")).await;

    let (status, _) = app
        .post("/v1/mgmt/user/delete/batch", json!({ "userIds": [ada["userId"], "U-nobody"] }))
        .await;

    assert_eq!(status, StatusCode::OK);
    let (_, search) = app.post("/v2/mgmt/user/search", json!({})).await;
    assert_eq!(login_ids_of(&search), ["bob"]);
}

#[tokio::test]
async fn user_status_enables_and_disables() {
    let app = test_app();
    app.create_user(sdk_create_body("ada")).await;

    let (disabled, response) = app
        .post("/v1/mgmt/user/update/status", json!({ "loginId": "ada", "status": "disabled" }))
        .await;
    assert_eq!(disabled, StatusCode::OK);
    assert_eq!(response["user"]["status"], "disabled");

    let (enabled, response) = app
        .post("/v1/mgmt/user/update/status", json!({ "loginId": "ada", "status": "enabled" }))
        .await;
    assert_eq!(enabled, StatusCode::OK);
    assert_eq!(response["user"]["status"], "enabled");
}

#[tokio::test]
async fn user_status_rejects_other_values() {
    let app = test_app();
    app.create_user(sdk_create_body("ada")).await;

    let (invited, response) = app
        .post("/v1/mgmt/user/update/status", json!({ "loginId": "ada", "status": "invited" }))
        .await;
    assert_eq!(invited, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011004", "`status`");

    let (missing, response) = app.post("/v1/mgmt/user/update/status", json!({ "loginId": "ada" })).await;
    assert_eq!(missing, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011002", "`status`");
}

#[tokio::test]
async fn status_change_writes_one_audit_record() {
    let app = test_app();
    app.create_user(sdk_create_body("ada")).await;
    let before = app.backend.audit_events(PROJECT).expect("audit events load").len();

    let body = json!({ "loginId": "ada", "status": "disabled" });
    let (status, response) = app.post("/v1/mgmt/user/update/status", body).await;

    assert_eq!(status, StatusCode::OK);
    let events = app.backend.audit_events(PROJECT).expect("audit events load");
    assert_eq!(events.len(), before + 1);
    let event = events.last().expect("one event was added");
    assert_eq!(event.action, "UserStatusChanged");
    assert_eq!(event.actor_id, KEY_ID);
    assert_eq!(event.user_id.as_deref(), response["user"]["userId"].as_str());
    assert_eq!(event.external_ids, ["ada"]);
}

#[tokio::test]
async fn user_custom_attribute_is_set() {
    let app = test_app();
    app.create_user(sdk_create_body("ada")).await;
    let body = json!({ "loginId": "ada", "attributeKey": "seats", "attributeValue": 12 });

    let (status, response) = app.post("/v1/mgmt/user/update/customAttribute", body).await;

    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["user"]["customAttributes"], json!({ "seats": 12 }));
    let (missing, response) = app
        .post("/v1/mgmt/user/update/customAttribute", json!({ "loginId": "ada", "attributeValue": 1 }))
        .await;
    assert_eq!(missing, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011002", "`attributeKey`");
}

#[tokio::test]
async fn user_project_roles_set_add_remove() {
    let app = test_app();
    app.create_user(sdk_create_body("ada")).await;

    let (_, set) = app
        .post("/v1/mgmt/user/update/role/set", json!({ "loginId": "ada", "roleNames": ["a", "b"] }))
        .await;
    assert_eq!(set["user"]["roleNames"], json!(["a", "b"]));

    let (_, added) = app
        .post("/v2/mgmt/user/update/role/add", json!({ "loginId": "ada", "roleNames": ["b", "c"] }))
        .await;
    assert_eq!(added["user"]["roleNames"], json!(["a", "b", "c"]));

    let (_, removed) = app
        .post("/v1/mgmt/user/update/role/remove", json!({ "loginId": "ada", "roleNames": ["a"] }))
        .await;
    assert_eq!(removed["user"]["roleNames"], json!(["b", "c"]));

    let (missing, response) = app.post("/v1/mgmt/user/update/role/set", json!({ "loginId": "ada" })).await;
    assert_eq!(missing, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011002", "`roleNames`");
}

#[tokio::test]
async fn user_tenant_roles_set_add_remove() {
    let app = test_app();
    app.create_tenant("T1", "Acme").await;
    app.create_user(sdk_create_body("ada")).await;
    let (added, _) = app
        .post("/v1/mgmt/user/update/tenant/add", json!({ "loginId": "ada", "tenantId": "T1" }))
        .await;
    assert_eq!(added, StatusCode::OK);

    let body = json!({ "loginId": "ada", "tenantId": "T1", "roleNames": ["viewer"] });
    let (_, set) = app.post("/v1/mgmt/user/update/role/set", body).await;
    assert_eq!(set["user"]["userTenants"][0]["roleNames"], json!(["viewer"]));
    assert_eq!(set["user"]["roleNames"], json!([]), "project roles stay apart");

    let body = json!({ "loginId": "ada", "tenantId": "T1", "roleNames": ["editor"] });
    let (_, added) = app.post("/v2/mgmt/user/update/role/add", body).await;
    assert_eq!(added["user"]["userTenants"][0]["roleNames"], json!(["viewer", "editor"]));

    let body = json!({ "loginId": "ada", "tenantId": "T1", "roleNames": ["viewer"] });
    let (_, removed) = app.post("/v1/mgmt/user/update/role/remove", body).await;
    assert_eq!(removed["user"]["userTenants"][0]["roleNames"], json!(["editor"]));
}

#[tokio::test]
async fn user_tenant_role_needs_membership() {
    let app = test_app();
    app.create_tenant("T1", "Acme").await;
    app.create_user(sdk_create_body("ada")).await;
    let body = json!({ "loginId": "ada", "tenantId": "T1", "roleNames": ["viewer"] });

    let (status, response) = app.post("/v1/mgmt/user/update/role/set", body).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011004", "T1");
}

#[tokio::test]
async fn user_tenant_add_and_remove() {
    let app = test_app();
    app.create_tenant("T1", "Acme").await;
    app.create_user(sdk_create_body("ada")).await;

    let (status, added) = app
        .post("/v1/mgmt/user/update/tenant/add", json!({ "loginId": "ada", "tenantId": "T1" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        added["user"]["userTenants"],
        json!([{ "tenantId": "T1", "tenantName": "Acme", "roleNames": [] }])
    );

    let (status, removed) = app
        .post("/v1/mgmt/user/update/tenant/remove", json!({ "loginId": "ada", "tenantId": "T1" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(removed["user"]["userTenants"], json!([]));

    let (unknown, response) = app
        .post("/v1/mgmt/user/update/tenant/add", json!({ "loginId": "ada", "tenantId": "T-none" }))
        .await;
    assert_eq!(unknown, StatusCode::NOT_FOUND);
    assert_error(&response, "S040400", "T-none");
}

#[tokio::test]
async fn user_email_phone_name_updates() {
    let app = test_app();
    let mut create = sdk_create_body("ada");
    create["verifiedEmail"] = json!(true);
    app.create_user(create).await;

    let body = json!({ "loginId": "ada", "email": "other@example.com", "verified": null, "failOnConflict": null });
    let (_, email) = app.post("/v1/mgmt/user/update/email", body).await;
    assert_eq!(email["user"]["email"], "other@example.com");
    assert_eq!(email["user"]["verifiedEmail"], false, "a new address starts unverified");

    let body = json!({ "loginId": "ada", "phone": "+15550199", "verified": true, "failOnConflict": null });
    let (_, phone) = app.post("/v1/mgmt/user/update/phone", body).await;
    assert_eq!(phone["user"]["phone"], "+15550199");
    assert_eq!(phone["user"]["verifiedPhone"], true);

    let body = json!({ "loginId": "ada", "displayName": "Ada Lovelace", "givenName": "Ada" });
    let (_, name) = app.post("/v1/mgmt/user/update/name", body).await;
    assert_eq!(name["user"]["name"], "Ada Lovelace");
    assert_eq!(name["user"]["givenName"], "Ada");

    let body = json!({ "loginId": "ada", "email": null, "verified": null, "failOnConflict": null });
    let (_, removed) = app.post("/v1/mgmt/user/update/email", body).await;
    assert_eq!(removed["user"]["email"], Value::Null);
}

#[tokio::test]
async fn user_login_id_update_and_conflict() {
    let app = test_app();
    app.create_user(sdk_create_body("ada")).await;
    app.create_user(sdk_create_body("bob")).await;

    let (status, response) = app
        .post("/v1/mgmt/user/update/loginid", json!({ "loginId": "ada", "newLoginId": "ada2" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response["user"]["loginIds"], json!(["ada2"]));

    let (conflict, response) = app
        .post("/v1/mgmt/user/update/loginid", json!({ "loginId": "ada2", "newLoginId": "bob" }))
        .await;
    assert_eq!(conflict, StatusCode::CONFLICT);
    assert_error(&response, "S040900", "bob");

    let (last, response) = app
        .post("/v1/mgmt/user/update/loginid", json!({ "loginId": "ada2", "newLoginId": null }))
        .await;
    assert_eq!(last, StatusCode::BAD_REQUEST, "the last login id cannot be removed");
    assert_error(&response, "E011004", "login id");
}

/// Creates five users: three in tenant T1, two disabled, with roles and
/// custom attributes to filter on.
async fn seed_search_users(app: &TestApp) {
    app.create_tenant("T1", "Acme").await;
    for (index, login_id) in ["u1", "u2", "u3", "u4", "u5"].into_iter().enumerate() {
        let mut body = sdk_create_body(login_id);
        if index < 3 {
            body["userTenants"] = json!([{ "tenantId": "T1", "roleNames": ["member"] }]);
        }
        if index % 2 == 1 {
            body["status"] = json!("disabled");
        }
        if index == 4 {
            body["roleNames"] = json!(["auditor"]);
            body["customAttributes"] = json!({ "plan": "pro" });
        }
        app.create_user(body).await;
    }
}

/// Returns the search body as the Python SDK's `search_all` builds it
/// without optional filters.
fn sdk_search_body() -> Value {
    json!({ "tenantIds": [], "roleNames": [], "limit": 0, "page": 0, "testUsersOnly": false, "withTestUser": false })
}

#[tokio::test]
async fn user_search_filters() {
    let app = test_app();
    seed_search_users(&app).await;
    let cases = [
        (json!({}), vec!["u1", "u2", "u3", "u4", "u5"]),
        (json!({ "tenantIds": ["T1"] }), vec!["u1", "u2", "u3"]),
        (json!({ "roleNames": ["auditor"] }), vec!["u5"]),
        (json!({ "roleNames": ["member"] }), vec!["u1", "u2", "u3"]),
        (json!({ "statuses": ["disabled"] }), vec!["u2", "u4"]),
        (json!({ "text": "NAME U3" }), vec!["u3"]),
        (json!({ "loginIds": ["u1", "u4"] }), vec!["u1", "u4"]),
        (json!({ "emails": ["u2@example.com"] }), vec!["u2"]),
        (json!({ "customAttributes": { "plan": "pro" } }), vec!["u5"]),
        (json!({ "customAttributes": { "plan": ["pro", "team"] } }), vec!["u5"]),
        (json!({ "tenantIds": ["T1"], "statuses": ["enabled"] }), vec!["u1", "u3"]),
        (json!({ "testUsersOnly": true }), vec![]),
    ];
    for (filters, expected) in cases {
        let mut body = sdk_search_body();
        for (key, value) in filters.as_object().expect("filters are an object") {
            body[key] = value.clone();
        }
        let (status, response) = app.post("/v2/mgmt/user/search", body).await;
        assert_eq!(status, StatusCode::OK, "filters {filters}: {response}");
        let mut found = login_ids_of(&response);
        found.sort();
        assert_eq!(found, expected, "filters {filters}");
        assert_eq!(response["total"], expected.len(), "filters {filters}");
    }
}

#[tokio::test]
async fn user_search_pages() {
    let app = test_app();
    seed_search_users(&app).await;
    let mut seen = Vec::new();
    for page in 0..3 {
        let mut body = sdk_search_body();
        body["limit"] = json!(2);
        body["page"] = json!(page);
        let (status, response) = app.post("/v2/mgmt/user/search", body).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(response["total"], 5, "total counts every match on page {page}");
        seen.extend(login_ids_of(&response));
    }
    seen.sort();
    assert_eq!(seen, ["u1", "u2", "u3", "u4", "u5"]);

    let body = json!({ "emails": ["u1@example.com", "u2@example.com", "u3@example.com"], "limit": 2, "page": 1 });
    let (_, response) = app.post("/v2/mgmt/user/search", body).await;
    assert_eq!(response["total"], 3, "an extra filter pages after filtering");
    assert_eq!(login_ids_of(&response).len(), 1);
}

#[tokio::test]
async fn user_search_wrong_type_is_named() {
    let app = test_app();

    let (status, response) = app.post("/v2/mgmt/user/search", json!({ "page": -1 })).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011001", "`page`");
}

#[tokio::test]
async fn tenant_create_generates_or_keeps_id() {
    let app = test_app();
    let sdk_body = json!({ "name": "Acme", "id": null, "selfProvisioningDomains": ["acme.com"], "enforceSSO": false, "disabled": false });

    let (status, generated) = app.post("/v1/mgmt/tenant/create", sdk_body).await;
    assert_eq!(status, StatusCode::OK, "{generated}");
    let generated_id = generated["id"].as_str().expect("id is a string");
    assert!(!generated_id.is_empty());

    let (status, chosen) = app.post("/v1/mgmt/tenant/create", json!({ "id": "T-mine", "name": "Mine" })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(chosen, json!({ "id": "T-mine" }));

    let (status, loaded) = app.get(&format!("/v1/mgmt/tenant?id={generated_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        loaded,
        json!({ "id": generated_id, "name": "Acme", "selfProvisioningDomains": ["acme.com"], "customAttributes": {} })
    );
}

#[tokio::test]
async fn tenant_create_rejects_bad_bodies() {
    let app = test_app();
    app.create_tenant("T1", "Acme").await;

    let (duplicate, response) = app.post("/v1/mgmt/tenant/create", json!({ "id": "T1", "name": "Again" })).await;
    assert_eq!(duplicate, StatusCode::CONFLICT);
    assert_error(&response, "S040900", "T1");

    let (missing, response) = app.post("/v1/mgmt/tenant/create", json!({ "id": "T2" })).await;
    assert_eq!(missing, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011002", "`name`");

    let (wrong, response) = app
        .post("/v1/mgmt/tenant/create", json!({ "name": "X", "selfProvisioningDomains": "x.com" }))
        .await;
    assert_eq!(wrong, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011001", "`selfProvisioningDomains`");
}

#[tokio::test]
async fn tenant_load_unknown_is_not_found() {
    let app = test_app();

    let (status, response) = app.get("/v1/mgmt/tenant?id=T-none").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&response, "S040400", "T-none");

    let (missing, response) = app.get("/v1/mgmt/tenant").await;
    assert_eq!(missing, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011002", "`id`");
}

#[tokio::test]
async fn tenant_load_all_lists_by_id() {
    let app = test_app();
    app.create_tenant("T2", "Beta").await;
    app.create_tenant("T1", "Acme").await;

    let (status, response) = app.get("/v1/mgmt/tenant/all").await;

    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = response["tenants"]
        .as_array()
        .expect("tenants is an array")
        .iter()
        .filter_map(|tenant| tenant["id"].as_str())
        .collect();
    assert_eq!(ids, ["T1", "T2"]);
}

#[tokio::test]
async fn tenant_update_replaces_and_renames_memberships() {
    let app = test_app();
    let create = json!({ "id": "T1", "name": "Acme", "selfProvisioningDomains": ["acme.com"], "customAttributes": { "tier": 1 } });
    app.post("/v1/mgmt/tenant/create", create).await;
    let mut user = sdk_create_body("ada");
    user["userTenants"] = json!([{ "tenantId": "T1", "roleNames": [] }]);
    app.create_user(user).await;
    let update = json!({ "id": "T1", "name": "Acme Inc", "selfProvisioningDomains": [], "enforceSSO": false, "disabled": false });

    let (status, response) = app.post("/v1/mgmt/tenant/update", update).await;

    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(response, json!({}));
    let (_, loaded) = app.get("/v1/mgmt/tenant?id=T1").await;
    assert_eq!(loaded["name"], "Acme Inc");
    assert_eq!(loaded["selfProvisioningDomains"], json!([]));
    assert_eq!(loaded["customAttributes"], json!({}));
    let (_, ada) = app.get("/v1/mgmt/user?loginId=ada").await;
    assert_eq!(ada["user"]["userTenants"][0]["tenantName"], "Acme Inc");

    let (unknown, response) = app.post("/v1/mgmt/tenant/update", json!({ "id": "T-none", "name": "X" })).await;
    assert_eq!(unknown, StatusCode::NOT_FOUND);
    assert_error(&response, "S040400", "T-none");

    let (missing, response) = app.post("/v1/mgmt/tenant/update", json!({ "name": "X" })).await;
    assert_eq!(missing, StatusCode::BAD_REQUEST);
    assert_error(&response, "E011002", "`id`");
}

#[tokio::test]
async fn tenant_patch_changes_given_fields() {
    let app = test_app();
    let create = json!({ "id": "T1", "name": "Acme", "selfProvisioningDomains": ["acme.com"], "customAttributes": { "tier": 1 } });
    app.post("/v1/mgmt/tenant/create", create).await;

    let (status, _) = app
        .patch("/v1/mgmt/tenant/patch", json!({ "id": "T1", "customAttributes": { "region": "eu" } }))
        .await;

    assert_eq!(status, StatusCode::OK);
    let (_, loaded) = app.get("/v1/mgmt/tenant?id=T1").await;
    assert_eq!(loaded["name"], "Acme");
    assert_eq!(loaded["selfProvisioningDomains"], json!(["acme.com"]));
    assert_eq!(loaded["customAttributes"], json!({ "tier": 1, "region": "eu" }));
}

#[tokio::test]
async fn tenant_delete_removes_memberships() {
    let app = test_app();
    app.create_tenant("T1", "Acme").await;
    let mut user = sdk_create_body("ada");
    user["userTenants"] = json!([{ "tenantId": "T1", "roleNames": ["viewer"] }]);
    app.create_user(user).await;

    let (status, response) = app.post("/v1/mgmt/tenant/delete", json!({ "id": "T1", "cascade": false })).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(response, json!({}));
    let (gone, _) = app.get("/v1/mgmt/tenant?id=T1").await;
    assert_eq!(gone, StatusCode::NOT_FOUND);
    let (_, ada) = app.get("/v1/mgmt/user?loginId=ada").await;
    assert_eq!(ada["user"]["userTenants"], json!([]));

    let (again, response) = app.post("/v1/mgmt/tenant/delete", json!({ "id": "T1" })).await;
    assert_eq!(again, StatusCode::NOT_FOUND);
    assert_error(&response, "S040400", "T1");
}

#[tokio::test]
async fn tenant_search_filters() {
    let app = test_app();
    let tenants = [
        json!({ "id": "T1", "name": "Acme", "selfProvisioningDomains": ["acme.com"], "customAttributes": { "tier": 1 } }),
        json!({ "id": "T2", "name": "Beta", "selfProvisioningDomains": ["beta.io", "beta.com"] }),
        json!({ "id": "T3", "name": "Gamma", "customAttributes": { "tier": 2 } }),
    ];
    for tenant in tenants {
        let (status, _) = app.post("/v1/mgmt/tenant/create", tenant).await;
        assert_eq!(status, StatusCode::OK);
    }
    let cases = [
        (json!({}), vec!["T1", "T2", "T3"]),
        (json!({ "tenantIds": ["T1", "T3"] }), vec!["T1", "T3"]),
        (json!({ "tenantNames": ["Beta"] }), vec!["T2"]),
        (json!({ "tenantSelfProvisioningDomains": ["beta.com"] }), vec!["T2"]),
        (json!({ "customAttributes": { "tier": 2 } }), vec!["T3"]),
        (json!({ "tenantIds": ["T1", "T2"], "tenantNames": ["Beta"] }), vec!["T2"]),
    ];
    for (filters, expected) in cases {
        let mut body = json!({ "tenantIds": null, "tenantNames": null, "tenantSelfProvisioningDomains": null, "customAttributes": null });
        for (key, value) in filters.as_object().expect("filters are an object") {
            body[key] = value.clone();
        }
        let (status, response) = app.post("/v1/mgmt/tenant/search", body).await;
        assert_eq!(status, StatusCode::OK, "filters {filters}: {response}");
        let ids: Vec<&str> = response["tenants"]
            .as_array()
            .expect("tenants is an array")
            .iter()
            .filter_map(|tenant| tenant["id"].as_str())
            .collect();
        assert_eq!(ids, expected, "filters {filters}");
    }
}

#[tokio::test]
async fn auth_failures_are_unauthorized() {
    let app = test_app();
    app.create_user(sdk_create_body("ada")).await;
    let credentials = [
        None,
        Some("P-first:secret"),
        Some("Basic P-first:secret"),
        Some("Bearer P-first"),
        Some("Bearer P-first:"),
        Some("Bearer :secret"),
        Some("Bearer P-first:wrong"),
        Some("Bearer P-second:secret"),
        Some("Bearer P-unknown:secret"),
    ];
    let requests = [
        (Method::GET, "/v1/mgmt/user?loginId=ada", None),
        (Method::POST, "/v1/mgmt/user/create", Some(sdk_create_body("eve").to_string())),
        (Method::POST, "/v2/mgmt/user/search", Some("{}".to_owned())),
        (Method::GET, "/v1/mgmt/tenant/all", None),
        (Method::POST, "/v1/mgmt/tenant/create", Some(json!({ "name": "Eve" }).to_string())),
    ];
    for auth in credentials {
        for (method, path, body) in &requests {
            let (status, response) = app.send(method.clone(), path, auth, body.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with {auth:?}");
            assert_error(&response, "S040100", "Authorization");
        }
    }
    assert_eq!(app.audit_actions(), ["UserCreated"], "no rejected call changed anything");
}

#[tokio::test]
async fn oversized_body_is_rejected() {
    let app = test_app_with(ApiSettings {
        max_body_bytes: 1024,
        ..ApiSettings::default()
    });
    let mut body = sdk_create_body("ada");
    body["customAttributes"] = json!({ "padding": "x".repeat(2048) });

    for path in ["/v1/mgmt/user/create", "/v1/mgmt/tenant/search"] {
        let (status, response) = app.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert_error(&response, "S041300", "1024");
    }
}

#[tokio::test]
async fn projects_are_isolated() {
    let app = test_app();
    app.create_tenant("T1", "Acme").await;
    let ada = app.create_user(sdk_create_body("ada")).await;
    let user_id = ada["userId"].as_str().expect("userId is a string");

    let by_login = app
        .send(Method::GET, "/v1/mgmt/user?loginId=ada", Some(OTHER_AUTH), None)
        .await;
    assert_eq!(by_login.0, StatusCode::NOT_FOUND);
    let by_id = app
        .send(Method::GET, &format!("/v1/mgmt/user?userId={user_id}"), Some(OTHER_AUTH), None)
        .await;
    assert_eq!(by_id.0, StatusCode::NOT_FOUND);
    let search = app
        .send(Method::POST, "/v2/mgmt/user/search", Some(OTHER_AUTH), Some("{}".to_owned()))
        .await;
    assert_eq!(search.1, json!({ "users": [], "total": 0 }));
    let delete = json!({ "loginId": "ada" }).to_string();
    let deleted = app
        .send(Method::POST, "/v1/mgmt/user/delete", Some(OTHER_AUTH), Some(delete))
        .await;
    assert_eq!(deleted.0, StatusCode::NOT_FOUND);
    let tenants = app.send(Method::GET, "/v1/mgmt/tenant/all", Some(OTHER_AUTH), None).await;
    assert_eq!(tenants.1, json!({ "tenants": [] }));
    let tenant = app.send(Method::GET, "/v1/mgmt/tenant?id=T1", Some(OTHER_AUTH), None).await;
    assert_eq!(tenant.0, StatusCode::NOT_FOUND);

    // The same login id is free in the other project.
    let created = app
        .send(Method::POST, "/v1/mgmt/user/create", Some(OTHER_AUTH), Some(sdk_create_body("ada").to_string()))
        .await;
    assert_eq!(created.0, StatusCode::OK);
    let (status, still) = app.get("/v1/mgmt/user?loginId=ada").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(still["user"], ada);
}
