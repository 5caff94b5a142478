//! Connector instances through the API of a real server: write-only secrets,
//! validation errors, and the SCIM example posting an alert to a
//! Slack-compatible receiver on loopback when a custom audit event arrives.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};

use common::server::Server;

const TOKEN: &str = "tok-never-shown-123";

/// Starts a Slack-compatible webhook receiver and returns its URL and the
/// bodies it received.
fn start_webhook() -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State(received): State<Arc<Mutex<Vec<Value>>>>, body: Bytes| async move {
                    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    received.lock().expect("lock").push(value);
                    "ok"
                },
            ),
        )
        .with_state(Arc::clone(&received));
    (format!("{}/hook", common::serve_on_loopback(app)), received)
}

#[test]
fn secrets_are_write_only_and_instances_validated() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    let crm = json!({
        "name": "crm", "component": "builtin:http", "baseUrl": "https://crm.example.test/api",
        "auth": { "type": "bearer" }, "headers": { "x-team": "identity" },
        "secrets": { "token": TOKEN, "hmacSecret": "hmac-never-shown" }
    });
    let (status, created) = server.post("/v1/mgmt/connector/create", crm.clone());
    assert_eq!(status, 200, "{created}");
    assert_eq!(
        created["connector"]["secretNames"],
        json!(["hmacSecret", "token"])
    );

    let (status, duplicate) = server.post("/v1/mgmt/connector/create", crm);
    assert_eq!(status, 409, "{duplicate}");

    let (_, listed) = server.post("/v1/mgmt/connector/list", json!({}));
    let (_, loaded) = server.call("GET", "/v1/mgmt/connector?name=crm", None, Some(&auth()));
    for body in [&created, &listed, &loaded] {
        let text = body.to_string();
        assert!(
            !text.contains(TOKEN) && !text.contains("hmac-never-shown"),
            "secret in a response: {text}"
        );
    }
    assert_eq!(
        loaded["connector"]["baseUrl"],
        "https://crm.example.test/api"
    );

    // Removing the token that bearer authentication needs is refused.
    let (status, body) = server.post(
        "/v1/mgmt/connector/update",
        json!({ "name": "crm", "secrets": { "token": null } }),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("secret `token`")),
        "{body}"
    );

    let cases = [
        (
            json!({ "name": "x", "component": "builtin:load-user", "baseUrl": "https://a.test" }),
            "not a connector",
        ),
        (
            json!({ "name": "x", "component": "builtin:http", "baseUrl": "ftp://a.test" }),
            "`baseUrl`",
        ),
        (
            json!({ "name": "bad name", "component": "builtin:http", "baseUrl": "https://a.test" }),
            "`name`",
        ),
        (
            json!({ "name": "x", "component": "builtin:http", "baseUrl": "https://a.test", "color": 1 }),
            "color",
        ),
    ];
    for (request, expected) in cases {
        let (status, body) = server.post("/v1/mgmt/connector/create", request.clone());
        assert_eq!(status, 400, "{request}: {body}");
        assert!(
            body["errorMessage"]
                .as_str()
                .is_some_and(|m| m.contains(expected)),
            "{request}: {body}"
        );
    }

    let (status, _) = server.post("/v1/mgmt/connector/delete", json!({ "name": "crm" }));
    assert_eq!(status, 200);
    let (status, _) = server.post("/v1/mgmt/connector/delete", json!({ "name": "crm" }));
    assert_eq!(status, 404);
    server.stop();
}

fn auth() -> String {
    format!("{}:{}", common::server::PROJECT, common::server::KEY)
}

#[test]
fn scim_failure_event_posts_slack_alert() {
    let (webhook, received) = start_webhook();
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start_with_env(
        dir.path(),
        &[("SLUICE_EGRESS_ALLOWED_PRIVATE", "[\"127.0.0.1/32\"]")],
    );
    let (status, body) = server.post(
        "/v1/mgmt/connector/create",
        json!({ "name": "admin-alerts", "component": "builtin:slack-webhook", "baseUrl": webhook }),
    );
    assert_eq!(status, 200, "{body}");

    let (status, body) = server.post(
        "/v1/mgmt/audit/event",
        json!({ "action": "ScimProvisioningFailed", "type": "error", "actorId": "scim-service", "tenantId": "",
                "data": { "directory": "okta-main", "reason": "token expired" } }),
    );
    assert_eq!(status, 200, "{body}");

    let started = Instant::now();
    let message = loop {
        if let Some(message) = received.lock().expect("lock").first().cloned() {
            break message;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no alert reached the webhook"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = message["text"].as_str().expect("text");
    assert!(
        text.contains("okta-main") && text.contains("token expired"),
        "{message}"
    );
    assert_eq!(message["username"], "Sluice");

    // The run also recorded the AdminAlert event, marked as delivered.
    let alert = loop {
        let (_, found) = server.post(
            "/v1/mgmt/audit/search",
            json!({ "actions": ["AdminAlert"] }),
        );
        if let Some(alert) = found["audits"]
            .as_array()
            .and_then(|audits| audits.first())
            .cloned()
        {
            break alert;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no AdminAlert event"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(alert["data"]["notified"], true, "{alert}");
    assert_eq!(alert["data"]["directory"], "okta-main");
    server.stop();
}

#[test]
fn secrets_stay_out_of_logs_and_traces() {
    let (webhook, received) = start_webhook();
    let dir = tempfile::tempdir().expect("temporary folder");
    let log = dir.path().join("server.log");
    let server = Server::start_logging_to(
        dir.path(),
        &[("SLUICE_EGRESS_ALLOWED_PRIVATE", "[\"127.0.0.1/32\"]")],
        &log,
    );
    let base = webhook.trim_end_matches("/hook").to_owned();
    let (status, body) = server.post(
        "/v1/mgmt/connector/create",
        json!({ "name": "crm", "component": "builtin:http", "baseUrl": base, "auth": { "type": "bearer" },
                "secrets": { "token": TOKEN, "hmacSecret": "hmac-never-shown" } }),
    );
    assert_eq!(status, 200, "{body}");
    let flow = json!({
        "id": "post-crm", "type": "management", "start": "post",
        "steps": [
            { "id": "post", "kind": "connector", "component": "builtin:http", "connector": "crm",
              "config": { "path": "/hook", "body": { "hello": "crm" },
                          "hmac": { "header": "x-signature", "secret": "hmacSecret" } },
              "next": { "success": "done" } },
            { "id": "done", "kind": "end", "outputs": [
                { "key": "status", "type": "number", "value": "{{connectors.post.status}}" } ] }
        ]
    });
    let (status, body) = server.post("/v1/mgmt/flow/import", json!({ "flow": flow }));
    assert_eq!(status, 200, "{body}");
    let (status, run) = server.post("/v1/mgmt/flow/run", json!({ "flowId": "post-crm" }));
    assert_eq!(status, 200, "{run}");
    assert_eq!(received.lock().expect("lock").len(), 1, "the request reached the receiver");
    let run_id = run["executionId"].as_str().expect("execution id");
    let (_, detail) = server.call("GET", &format!("/v1/mgmt/flow/runs/{run_id}"), None, Some(&auth()));
    server.stop();

    let logged = std::fs::read_to_string(&log).expect("read the log");
    assert!(logged.contains("Created connector instance"), "the log was captured: {logged}");
    for secret in [TOKEN, "hmac-never-shown"] {
        assert!(!logged.contains(secret), "secret in the log");
        assert!(!detail.to_string().contains(secret), "secret in the run trace: {detail}");
    }
}

#[test]
fn invite_follow_up_sends_email_to_invited_user() {
    let (api, received) = start_webhook();
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start_with_env(dir.path(), &[("SLUICE_EGRESS_ALLOWED_PRIVATE", "[\"127.0.0.1/32\"]")]);
    let (status, body) = server.post(
        "/v1/mgmt/connector/create",
        json!({ "name": "invite-mailer", "component": "builtin:email-gateway", "baseUrl": api,
                "config": { "from": "no-reply@example.test" } }),
    );
    assert_eq!(status, 200, "{body}");
    let (status, created) = server.post(
        "/v1/mgmt/user/create",
        json!({ "loginId": "lin@example.test", "email": "lin@example.test", "name": "Lin", "invite": true }),
    );
    assert_eq!(status, 200, "{created}");
    let user_id = created["user"]["userId"].as_str().expect("user id").to_owned();
    let status_now = created["user"]["status"].as_str().unwrap_or_default().to_owned();
    if status_now != "invited" {
        let (status, body) =
            server.post("/v1/mgmt/user/update/status", json!({ "loginId": "lin@example.test", "status": "invited" }));
        assert_eq!(status, 200, "{body}");
    }

    let (status, body) = server.post(
        "/v1/mgmt/audit/event",
        json!({ "action": "InviteReminderDue", "type": "info", "actorId": "scheduler", "tenantId": "", "userId": user_id }),
    );
    assert_eq!(status, 200, "{body}");
    let started = Instant::now();
    let email = loop {
        if let Some(email) = received.lock().expect("lock").first().cloned() {
            break email;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no email reached the API");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(email["to"], json!(["lin@example.test"]));
    assert_eq!(email["from"], "no-reply@example.test");
    assert_eq!(email["tag"], "invite-follow-up");
    assert!(email["text"].as_str().is_some_and(|text| text.starts_with("Hi Lin")), "{email}");
    server.stop();
}
