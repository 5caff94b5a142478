//! RFC 8414 metadata, RFC 7591 registration and RFC 7592 client
//! configuration of MCP servers, in-process: every RFC 7591 error code, the
//! registration flow's decision, rate limiting, audit events and project
//! isolation.

mod common;

use std::net::SocketAddr;

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use sluice::api::ApiSettings;

use common::app::{AUTH, OTHER_AUTH, OTHER_PROJECT, PROJECT, PUBLIC_URL, Reply, TestApp};

const REGISTER: &str = "/oauth/P-first/docs/register";

fn example_flow() -> Value {
    let path = common::repo_root().join("examples/flows/verify-mcp-client.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("example flow is readable"))
        .expect("example flow is JSON")
}

/// Returns a flow that rejects every registration with a reason naming the client.
fn rejecting_flow() -> Value {
    json!({
        "id": "reject-all", "name": "Reject all", "type": "management", "trigger": {"api": false},
        "start": "reject",
        "steps": [
            {"id": "reject", "kind": "action", "component": "builtin:set-client-verification",
             "config": {"reject": "{{client.metadata.client_name}} is not allowed"}, "next": {"success": "done"}},
            {"id": "done", "kind": "end", "outputs": []}
        ]
    })
}

/// Returns a flow whose decision step fails, because its status is not one
/// the action accepts.
fn failing_flow() -> Value {
    json!({
        "id": "broken-decision", "name": "Broken decision", "type": "management", "trigger": {"api": false},
        "start": "decide",
        "steps": [
            {"id": "decide", "kind": "action", "component": "builtin:set-client-verification",
             "config": {"status": "trusted"}, "next": {"success": "done"}},
            {"id": "done", "kind": "end", "outputs": []}
        ]
    })
}

/// Creates the server `docs` in the first project, with `extra` fields.
async fn app_with_server(settings: ApiSettings, extra: Value) -> TestApp {
    let app = TestApp::new(settings);
    let mut server = json!({
        "id": "docs", "name": "Docs",
        "approvedScopes": ["docs:read", "docs:write"],
        "registration": {"approvedCimdDomains": ["example.com"]},
        "authorizationEndpoint": "https://auth.example.com/authorize",
        "tokenEndpoint": "https://auth.example.com/token"
    });
    if let (Value::Object(fields), Value::Object(extra)) = (&mut server, extra) {
        fields.extend(extra);
    }
    for flow in [example_flow(), rejecting_flow(), failing_flow()] {
        app.state.deploy(PROJECT, flow).await.expect("flow deploys");
    }
    let (status, created) = app.post("/v1/mgmt/mcp/server/create", server).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    app
}

async fn register(app: &TestApp, body: Value) -> Reply {
    app.send(Method::POST, REGISTER, &[], Some(body.to_string()))
        .await
}

async fn register_raw(app: &TestApp, body: &str) -> Reply {
    app.send(Method::POST, REGISTER, &[], Some(body.to_owned()))
        .await
}

fn public_client() -> Value {
    json!({
        "client_name": "Local agent",
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "docs:read"
    })
}

/// Returns the management view of a client of `docs`.
async fn listed_client(app: &TestApp, client_id: &str) -> Value {
    let (status, listed) = app
        .post("/v1/mgmt/mcp/client/list", json!({"serverId": "docs"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    listed["clients"]
        .as_array()
        .and_then(|clients| {
            clients
                .iter()
                .find(|client| client["clientId"] == client_id)
                .cloned()
        })
        .unwrap_or(Value::Null)
}

async fn audit_actions(app: &TestApp, auth: &str) -> Vec<Value> {
    let (status, found) = app.post_as(auth, "/v1/mgmt/audit/search", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    found["audits"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn metadata_follows_rfc_8414() {
    let app = app_with_server(ApiSettings::default(), json!({})).await;

    let reply = app
        .send(
            Method::GET,
            "/.well-known/oauth-authorization-server/oauth/P-first/docs",
            &[],
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let issuer = format!("{PUBLIC_URL}/oauth/{PROJECT}/docs");
    assert_eq!(reply.body["issuer"], issuer);
    assert_eq!(
        reply.body["registration_endpoint"],
        format!("{issuer}/register")
    );
    assert_eq!(
        reply.body["authorization_endpoint"],
        "https://auth.example.com/authorize"
    );
    assert_eq!(
        reply.body["token_endpoint"],
        "https://auth.example.com/token"
    );
    assert_eq!(
        reply.body["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(reply.body["response_types_supported"], json!(["code"]));
    assert_eq!(
        reply.body["scopes_supported"],
        json!(["docs:read", "docs:write"])
    );
    assert_eq!(
        reply.body["token_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert!(
        reply.body["grant_types_supported"]
            .as_array()
            .is_some_and(|grants| grants.contains(&json!("authorization_code")))
    );
    assert!(
        reply
            .body
            .get("client_id_metadata_document_supported")
            .is_none(),
        "CIMD is off by default"
    );

    let (status, _) = app
        .post(
            "/v1/mgmt/mcp/server/update",
            json!({"id": "docs", "registration": {"clientIdMetadataDocuments": true}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let reply = app
        .send(
            Method::GET,
            "/.well-known/oauth-authorization-server/oauth/P-first/docs",
            &[],
            None,
        )
        .await;
    assert_eq!(reply.body["client_id_metadata_document_supported"], true);

    let missing = app
        .send(
            Method::GET,
            "/.well-known/oauth-authorization-server/oauth/P-first/nope",
            &[],
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn public_client_registers_unverified_without_flow() {
    let app = app_with_server(ApiSettings::default(), json!({})).await;

    let reply = register(&app, public_client()).await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        reply
            .headers
            .get(header::CACHE_CONTROL)
            .map(|value| value.as_bytes()),
        Some(&b"no-store"[..])
    );
    let body = &reply.body;
    let client_id = body["client_id"].as_str().expect("client_id is a string");
    assert!(
        body["client_id_issued_at"]
            .as_u64()
            .is_some_and(|issued| issued > 1_700_000_000),
        "{body}"
    );
    assert!(
        body.get("client_secret").is_none(),
        "a public client gets no secret: {body}"
    );
    assert!(body.get("client_secret_expires_at").is_none(), "{body}");
    assert!(
        body["registration_access_token"]
            .as_str()
            .is_some_and(|token| token.len() == 64),
        "{body}"
    );
    assert_eq!(
        body["registration_client_uri"],
        format!("{PUBLIC_URL}/oauth/{PROJECT}/docs/register/{client_id}")
    );
    assert_eq!(
        body["redirect_uris"],
        json!(["http://127.0.0.1:33418/callback"])
    );
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert_eq!(body["client_name"], "Local agent");

    let listed = listed_client(&app, client_id).await;
    assert_eq!(listed["verification"], "unverified");
    assert_eq!(listed["confidential"], false);
    assert!(
        listed
            .to_string()
            .find("registration_access_token")
            .is_none(),
        "{listed}"
    );
}

#[tokio::test]
async fn confidential_client_gets_secret() {
    let app = app_with_server(ApiSettings::default(), json!({})).await;

    let reply = register(
        &app,
        json!({"redirect_uris": ["https://app.example.com/cb"], "client_name": "Web agent", "token_endpoint_auth_method": "client_secret_post"}),
    )
    .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert!(
        reply.body["client_secret"]
            .as_str()
            .is_some_and(|secret| secret.len() == 64),
        "{}",
        reply.body
    );
    assert_eq!(reply.body["client_secret_expires_at"], 0);
    assert_eq!(reply.body["grant_types"], json!(["authorization_code"]));
    assert_eq!(reply.body["response_types"], json!(["code"]));

    let defaulted = register(
        &app,
        json!({"redirect_uris": ["https://app.example.com/cb"]}),
    )
    .await;
    assert_eq!(defaulted.status, StatusCode::CREATED, "{}", defaulted.body);
    assert_eq!(
        defaulted.body["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert!(defaulted.body["client_secret"].is_string());
}

#[tokio::test]
async fn bad_redirect_uris_are_invalid_redirect_uri() {
    let app = app_with_server(ApiSettings::default(), json!({})).await;
    let cases = [
        json!({"redirect_uris": ["http://app.example.com/cb"], "token_endpoint_auth_method": "none"}),
        json!({"redirect_uris": ["https://app.example.com/cb#part"], "token_endpoint_auth_method": "none"}),
        json!({"redirect_uris": ["myapp://callback"], "token_endpoint_auth_method": "none"}),
        json!({"redirect_uris": ["/relative/cb"], "token_endpoint_auth_method": "none"}),
        json!({"redirect_uris": [], "token_endpoint_auth_method": "none"}),
        json!({"token_endpoint_auth_method": "none"}),
    ];
    for body in cases {
        let reply = register(&app, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            reply.body["error"], "invalid_redirect_uri",
            "{body}: {}",
            reply.body
        );
        assert!(
            reply.body["error_description"]
                .as_str()
                .is_some_and(|text| text.contains("redirect_uris")),
            "{}",
            reply.body
        );
    }

    let (status, _) = app
        .post(
            "/v1/mgmt/mcp/server/update",
            json!({"id": "docs", "approvedCallbackUrls": ["https://app.example.com/cb"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let unapproved = register(
        &app,
        json!({"redirect_uris": ["https://app.example.com/other"]}),
    )
    .await;
    assert_eq!(
        unapproved.body["error"], "invalid_redirect_uri",
        "{}",
        unapproved.body
    );
    let approved = register(
        &app,
        json!({"redirect_uris": ["https://app.example.com/cb"]}),
    )
    .await;
    assert_eq!(approved.status, StatusCode::CREATED, "{}", approved.body);
}

#[tokio::test]
async fn bad_metadata_is_invalid_client_metadata() {
    let app = app_with_server(ApiSettings::default(), json!({})).await;
    let cb = json!(["http://localhost:8000/cb"]);
    let cases = [
        (
            json!({"redirect_uris": cb, "grant_types": ["authorization_code"], "response_types": ["token"]}),
            "response_types",
        ),
        (
            json!({"redirect_uris": cb, "grant_types": ["refresh_token"], "response_types": ["code"]}),
            "authorization_code",
        ),
        (
            json!({"redirect_uris": cb, "grant_types": ["implicit"]}),
            "implicit",
        ),
        (
            json!({"redirect_uris": cb, "token_endpoint_auth_method": "private_key_jwt"}),
            "token_endpoint_auth_method",
        ),
        (
            json!({"grant_types": ["client_credentials"], "response_types": [], "token_endpoint_auth_method": "none"}),
            "client_credentials",
        ),
        (
            json!({"redirect_uris": cb, "scope": "docs:read admin"}),
            "\"admin\"",
        ),
        (
            json!({"redirect_uris": cb, "client_name": 7}),
            "client_name",
        ),
        (
            json!({"redirect_uris": "http://localhost:8000/cb"}),
            "redirect_uris",
        ),
        (
            json!({"redirect_uris": cb, "client_uri": "ftp://example.com"}),
            "client_uri",
        ),
        (
            json!({"redirect_uris": cb, "jwks_uri": "https://example.com/jwks", "jwks": {"keys": []}}),
            "jwks",
        ),
        (
            json!({"redirect_uris": cb, "client_name": "x".repeat(3000)}),
            "client_name",
        ),
        (
            json!({"redirect_uris": (0..21).map(|port| format!("http://localhost:{port}/cb")).collect::<Vec<_>>()}),
            "redirect_uris",
        ),
    ];
    for (body, named) in cases {
        let reply = register(&app, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            reply.body["error"], "invalid_client_metadata",
            "{body}: {}",
            reply.body
        );
        let description = reply.body["error_description"].as_str().unwrap_or_default();
        assert!(
            description.contains(named),
            "{named} missing from: {description}"
        );
    }
}

#[tokio::test]
async fn software_statement_is_rejected() {
    let app = app_with_server(ApiSettings::default(), json!({})).await;
    let mut body = public_client();
    body["software_statement"] = json!("eyJhbGciOiJub25lIn0.eyJzb2Z0d2FyZV9pZCI6IngifQ.");

    let reply = register(&app, body).await;

    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body["error"], "invalid_software_statement",
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn malformed_and_oversize_bodies_rejected() {
    let app = app_with_server(ApiSettings::default(), json!({})).await;

    let broken = register_raw(&app, "{\"redirect_uris\": [").await;
    let array = register_raw(&app, "[1, 2]").await;
    let empty = register_raw(&app, "").await;
    let huge = register_raw(
        &app,
        &format!("{{\"client_name\": \"{}\"}}", "x".repeat(70 * 1024)),
    )
    .await;
    let form = app
        .send(
            Method::POST,
            REGISTER,
            &[("content-type", "application/x-www-form-urlencoded")],
            Some("a=b".to_owned()),
        )
        .await;

    for (name, reply) in [
        ("broken", &broken),
        ("array", &array),
        ("empty", &empty),
        ("form", &form),
    ] {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(
            reply.body["error"], "invalid_client_metadata",
            "{name}: {}",
            reply.body
        );
    }
    let deep = register_raw(
        &app,
        &format!(
            "{{\"client_name\": {}1{}}}",
            "[".repeat(1_000),
            "]".repeat(1_000)
        ),
    )
    .await;
    assert_eq!(deep.status, StatusCode::BAD_REQUEST, "{}", deep.body);
    assert_eq!(deep.body["error"], "invalid_client_metadata");
    let description = deep.body["error_description"].as_str().unwrap_or_default();
    assert!(description.contains("`client_name`"), "{description}");
    assert!(description.contains("64 levels"), "{description}");
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        huge.body["error"], "invalid_client_metadata",
        "{}",
        huge.body
    );
    let (_, listed) = app
        .post("/v1/mgmt/mcp/client/list", json!({"serverId": "docs"}))
        .await;
    assert_eq!(
        listed["clients"],
        json!([]),
        "no rejected request stored a client"
    );
}

#[tokio::test]
async fn registration_off_is_forbidden() {
    let app = app_with_server(
        ApiSettings::default(),
        json!({"registration": {"dynamicClientRegistration": false}}),
    )
    .await;

    let reply = register(&app, public_client()).await;
    let metadata = app
        .send(
            Method::GET,
            "/.well-known/oauth-authorization-server/oauth/P-first/docs",
            &[],
            None,
        )
        .await;

    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.body["error"], "access_denied", "{}", reply.body);
    assert!(
        metadata.body.get("registration_endpoint").is_none(),
        "{}",
        metadata.body
    );
}

#[tokio::test]
async fn registration_is_rate_limited_per_address() {
    let settings = ApiSettings {
        registrations_per_minute: 2,
        ..ApiSettings::default()
    };
    let app = app_with_server(settings, json!({})).await;
    let first_peer = SocketAddr::from(([127, 0, 0, 1], 40001));
    let second_peer = SocketAddr::from(([127, 0, 0, 2], 40001));
    let body = Some(public_client().to_string());

    let mut statuses = Vec::new();
    for _ in 0..3 {
        let reply = app
            .send_from(first_peer, Method::POST, REGISTER, &[], body.clone())
            .await;
        statuses.push(reply.status);
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(reply.body["error"], "too_many_requests", "{}", reply.body);
            let retry_after: u64 = reply.headers[header::RETRY_AFTER]
                .to_str()
                .expect("ASCII")
                .parse()
                .expect("seconds");
            assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
        }
    }
    let other = app
        .send_from(second_peer, Method::POST, REGISTER, &[], body)
        .await;

    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert_eq!(
        other.status,
        StatusCode::CREATED,
        "another address has its own bucket"
    );
}

#[tokio::test]
async fn example_flow_decides_verified_and_unverified() {
    let app = app_with_server(
        ApiSettings::default(),
        json!({"registrationFlowId": "verify-mcp-client"}),
    )
    .await;
    let cases = [
        (
            "loopback with name",
            json!({"client_name": "CLI", "redirect_uris": ["http://127.0.0.1:5000/cb", "http://[::1]/cb"], "token_endpoint_auth_method": "none"}),
            "verified",
        ),
        (
            "approved subdomain",
            json!({"client_name": "Web", "redirect_uris": ["https://app.example.com/cb", "http://localhost/cb"]}),
            "verified",
        ),
        (
            "no name",
            json!({"redirect_uris": ["http://127.0.0.1:5000/cb"], "token_endpoint_auth_method": "none"}),
            "unverified",
        ),
        (
            "other domain",
            json!({"client_name": "Web", "redirect_uris": ["https://app.example.com/cb", "https://evil.test/cb"]}),
            "unverified",
        ),
        (
            "look-alike domain",
            json!({"client_name": "Web", "redirect_uris": ["https://badexample.com/cb"]}),
            "unverified",
        ),
    ];
    for (name, body, expected) in cases {
        let reply = register(&app, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{name}: {}", reply.body);
        let client_id = reply.body["client_id"]
            .as_str()
            .expect("client_id")
            .to_owned();
        let listed = listed_client(&app, &client_id).await;
        assert_eq!(listed["verification"], expected, "{name}");
    }

    let (_, runs) = app
        .post("/v1/mgmt/flow/runs", json!({"flowId": "verify-mcp-client"}))
        .await;
    assert_eq!(
        runs["runs"].as_array().map(Vec::len),
        Some(5),
        "every registration run is recorded: {runs}"
    );
}

#[tokio::test]
async fn flow_rejection_stores_nothing() {
    let app = app_with_server(
        ApiSettings::default(),
        json!({"registrationFlowId": "reject-all"}),
    )
    .await;

    let reply = register(&app, public_client()).await;

    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.body["error"], "invalid_client_metadata");
    assert_eq!(
        reply.body["error_description"],
        "Local agent is not allowed"
    );
    let (_, listed) = app
        .post("/v1/mgmt/mcp/client/list", json!({"serverId": "docs"}))
        .await;
    assert_eq!(listed["clients"], json!([]));
    let events = audit_actions(&app, AUTH).await;
    let rejected = events
        .iter()
        .find(|event| event["action"] == "McpClientRegistrationRejected")
        .expect("rejection is audited");
    assert_eq!(rejected["data"]["reason"], "Local agent is not allowed");
    assert_eq!(rejected["data"]["serverId"], "docs");
    assert_eq!(rejected["data"]["status"], "rejected");
}

#[tokio::test]
async fn registration_and_status_change_are_audited() {
    let app = app_with_server(
        ApiSettings::default(),
        json!({"registrationFlowId": "verify-mcp-client"}),
    )
    .await;
    let reply = register(&app, public_client()).await;
    let client_id = reply.body["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();

    let (status, changed) = app
        .post(
            "/v1/mgmt/mcp/client/status",
            json!({"clientId": client_id, "status": "unverified"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["client"]["verification"], "unverified");
    let (status, bad) = app
        .post(
            "/v1/mgmt/mcp/client/status",
            json!({"clientId": client_id, "status": "trusted"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (status, _) = app
        .post(
            "/v1/mgmt/mcp/client/status",
            json!({"clientId": "nope", "status": "verified"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, only_verified) = app
        .post(
            "/v1/mgmt/mcp/client/list",
            json!({"serverId": "docs", "status": "verified"}),
        )
        .await;
    assert_eq!(only_verified["clients"], json!([]));

    let (status, found) = app
        .post(
            "/v1/mgmt/audit/search",
            json!({"actions": ["McpClientRegistered", "McpClientVerificationChanged"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let audits = found["audits"].as_array().cloned().unwrap_or_default();
    let registered = audits
        .iter()
        .find(|event| event["action"] == "McpClientRegistered")
        .expect("registration is audited");
    assert_eq!(registered["data"]["clientId"], client_id);
    assert_eq!(registered["data"]["clientName"], "Local agent");
    assert_eq!(registered["data"]["status"], "verified");
    assert_eq!(registered["data"]["serverId"], "docs");
    let changed = audits
        .iter()
        .find(|event| event["action"] == "McpClientVerificationChanged")
        .expect("change is audited");
    assert_eq!(changed["data"]["status"], "unverified");
    assert_eq!(changed["data"]["previousStatus"], "verified");
    assert_eq!(changed["actorId"], "K-first");
}

#[tokio::test]
async fn client_configuration_needs_its_token() {
    let app = app_with_server(
        ApiSettings::default(),
        json!({"registrationFlowId": "verify-mcp-client"}),
    )
    .await;
    let first = register(&app, public_client()).await.body;
    let second = register(&app, public_client()).await.body;
    let client_id = first["client_id"].as_str().expect("client_id").to_owned();
    let path = format!("/oauth/P-first/docs/register/{client_id}");
    let token = format!(
        "Bearer {}",
        first["registration_access_token"].as_str().expect("token")
    );
    let other_token = format!(
        "Bearer {}",
        second["registration_access_token"].as_str().expect("token")
    );

    let read = app
        .send(Method::GET, &path, &[("authorization", &token)], None)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["client_id"], client_id);
    assert_eq!(read.body["client_name"], "Local agent");
    assert_eq!(read.body["registration_access_token"], first["registration_access_token"]);
    assert!(read.body.get("client_secret").is_none(), "{}", read.body);
    for auth in [
        None,
        Some(other_token.as_str()),
        Some("Bearer wrong"),
        Some(AUTH),
    ] {
        let headers: Vec<(&str, &str)> = auth
            .map(|auth| vec![("authorization", auth)])
            .unwrap_or_default();
        let denied = app.send(Method::GET, &path, &headers, None).await;
        assert_eq!(denied.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(denied.body["error"], "invalid_token");
        assert!(denied.headers.contains_key(header::WWW_AUTHENTICATE));
    }
    let elsewhere = app
        .send(
            Method::GET,
            &format!("/oauth/P-second/docs/register/{client_id}"),
            &[("authorization", &token)],
            None,
        )
        .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::UNAUTHORIZED,
        "another project's path does not reach the client"
    );

    let mut update = public_client();
    update["client_id"] = json!(client_id);
    update["client_name"] = Value::Null;
    let updated = app
        .send(
            Method::PUT,
            &path,
            &[("authorization", &token)],
            Some(update.to_string()),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert!(
        updated.body.get("client_name").is_none(),
        "{}",
        updated.body
    );
    assert_eq!(
        listed_client(&app, &client_id).await["verification"],
        "unverified",
        "the flow decides again"
    );

    let mut bad_update = public_client();
    bad_update["client_id"] = json!(client_id);
    bad_update["redirect_uris"] = json!(["http://example.com/cb"]);
    let rejected = app
        .send(
            Method::PUT,
            &path,
            &[("authorization", &token)],
            Some(bad_update.to_string()),
        )
        .await;
    assert_eq!(
        rejected.body["error"], "invalid_redirect_uri",
        "{}",
        rejected.body
    );
    let unnamed = app
        .send(
            Method::PUT,
            &path,
            &[("authorization", &token)],
            Some(public_client().to_string()),
        )
        .await;
    assert_eq!(unnamed.status, StatusCode::BAD_REQUEST, "{}", unnamed.body);

    let denied = app
        .send(
            Method::DELETE,
            &path,
            &[("authorization", &other_token)],
            None,
        )
        .await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    let deleted = app
        .send(Method::DELETE, &path, &[("authorization", &token)], None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let after_delete = app
        .send(Method::GET, &path, &[("authorization", &token)], None)
        .await;
    assert_eq!(after_delete.status, StatusCode::UNAUTHORIZED);
    let actions: Vec<Value> = audit_actions(&app, AUTH)
        .await
        .iter()
        .map(|event| event["action"].clone())
        .collect();
    assert!(actions.contains(&json!("McpClientUpdated")), "{actions:?}");
    assert!(actions.contains(&json!("McpClientDeleted")), "{actions:?}");
}

#[tokio::test]
async fn projects_do_not_share_clients() {
    let app = app_with_server(ApiSettings::default(), json!({})).await;
    let reply = register(&app, public_client()).await;
    let client_id = reply.body["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();

    let other_path = register_at(&app, OTHER_PROJECT).await;
    let (status, _) = app
        .post_as(
            OTHER_AUTH,
            "/v1/mgmt/mcp/client/status",
            json!({"clientId": client_id, "status": "verified"}),
        )
        .await;
    let other_events = audit_actions(&app, OTHER_AUTH).await;

    assert_eq!(
        other_path.status,
        StatusCode::NOT_FOUND,
        "{}",
        other_path.body
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(other_events.is_empty(), "{other_events:?}");
    assert_eq!(
        listed_client(&app, &client_id).await["verification"],
        "unverified"
    );
}

async fn register_at(app: &TestApp, project: &str) -> Reply {
    app.send(
        Method::POST,
        &format!("/oauth/{project}/docs/register"),
        &[],
        Some(public_client().to_string()),
    )
    .await
}

#[tokio::test]
async fn failed_flow_registers_nothing() {
    let app = app_with_server(ApiSettings::default(), json!({"registrationFlowId": "broken-decision"})).await;

    let reply = register(&app, public_client()).await;

    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", reply.body);
    assert_eq!(reply.body["error"], "server_error");
    let description = reply.body["error_description"].as_str().unwrap_or_default();
    assert!(description.contains("run `"), "the description names the run: {description}");
    let (_, listed) = app.post("/v1/mgmt/mcp/client/list", json!({"serverId": "docs"})).await;
    assert_eq!(listed["clients"], json!([]));
    let (_, runs) = app.post("/v1/mgmt/flow/runs", json!({"flowId": "broken-decision"})).await;
    assert_eq!(runs["runs"][0]["status"], "failed", "{runs}");
}

#[tokio::test]
async fn undeployed_flow_registers_nothing() {
    let app = app_with_server(ApiSettings::default(), json!({"registrationFlowId": "verify-mcp-client"})).await;
    let (status, deleted) = app.post("/v1/mgmt/flow/delete", json!({"ids": ["verify-mcp-client"]})).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");

    let reply = register(&app, public_client()).await;

    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", reply.body);
    assert_eq!(reply.body["error"], "server_error");
    let (_, listed) = app.post("/v1/mgmt/mcp/client/list", json!({"serverId": "docs"})).await;
    assert_eq!(listed["clients"], json!([]));
}
