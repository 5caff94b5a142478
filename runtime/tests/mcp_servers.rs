//! MCP server records and the client list through the management API,
//! in-process, and the OAuth store on both backends.

mod common;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use sluice::api::ApiSettings;
use sluice::model::{AuditQuery, AuditType, NewAuditEvent};
use sluice::oauth::{
    ClientMetadata, McpServer, RegisteredClient, RegistrationSettings, Verification,
};
use sluice::store::{IdentityStore, MemoryStore, OAuthStore, SqliteStore, StoreError};

use common::app::{OTHER_AUTH, PROJECT, PUBLIC_URL, TestApp};

fn docs_server() -> Value {
    json!({
        "id": "docs",
        "name": "Docs MCP",
        "description": "Search the product docs",
        "approvedScopes": ["docs:read"],
        "approvedCallbackUrls": [],
        "registration": { "dynamicClientRegistration": true, "clientIdMetadataDocuments": true, "approvedCimdDomains": ["example.com"] },
        "authorizationEndpoint": "https://auth.example.com/authorize",
        "tokenEndpoint": "https://auth.example.com/token"
    })
}

#[tokio::test]
async fn server_create_load_update_delete() {
    let app = TestApp::new(ApiSettings::default());

    let (status, created) = app.post("/v1/mgmt/mcp/server/create", docs_server()).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let server = &created["server"];
    assert_eq!(
        server["issuer"],
        format!("{PUBLIC_URL}/oauth/{PROJECT}/docs")
    );
    assert_eq!(
        server["metadataUrl"],
        format!("{PUBLIC_URL}/.well-known/oauth-authorization-server/oauth/{PROJECT}/docs")
    );
    assert_eq!(
        server["registration"]["approvedCimdDomains"],
        json!(["example.com"])
    );

    let (status, duplicate) = app.post("/v1/mgmt/mcp/server/create", docs_server()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{duplicate}");

    let (status, loaded) = app.get("/v1/mgmt/mcp/server?id=docs").await;
    assert_eq!(status, StatusCode::OK, "{loaded}");
    assert_eq!(loaded["server"]["name"], "Docs MCP");

    let (status, updated) = app
        .post(
            "/v1/mgmt/mcp/server/update",
            json!({ "id": "docs", "name": "Docs", "tokenEndpoint": null }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["server"]["name"], "Docs");
    assert_eq!(updated["server"]["description"], "Search the product docs");
    assert!(
        updated["server"].get("tokenEndpoint").is_none(),
        "{updated}"
    );

    let (_, listed) = app.post("/v1/mgmt/mcp/server/list", json!({})).await;
    assert_eq!(
        listed["servers"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    let (status, _) = app
        .post("/v1/mgmt/mcp/server/delete", json!({ "id": "docs" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get("/v1/mgmt/mcp/server?id=docs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post("/v1/mgmt/mcp/server/delete", json!({ "id": "docs" }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn server_validation_names_every_field() {
    let app = TestApp::new(ApiSettings::default());
    let (status, error) = app
        .post(
            "/v1/mgmt/mcp/server/create",
            json!({
                "id": "bad id",
                "name": "Bad",
                "approvedScopes": ["two words"],
                "approvedCallbackUrls": ["http://app.example.com/cb"],
                "registration": { "approvedCimdDomains": ["https://example.com/"] },
                "authorizationEndpoint": "not a url",
                "registrationFlowId": "no-such-flow"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let message = error["errorMessage"].as_str().unwrap_or_default();
    for field in [
        "`id`",
        "`approvedScopes[0]`",
        "`approvedCallbackUrls[0]`",
        "`registration.approvedCimdDomains[0]`",
        "`authorizationEndpoint`",
    ] {
        assert!(message.contains(field), "{field} missing from: {message}");
    }

    let (status, error) = app
        .post(
            "/v1/mgmt/mcp/server/create",
            json!({ "id": "docs", "name": "Docs", "registrationFlowId": "no-such-flow" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("`registrationFlowId`"),
        "{error}"
    );

    let (status, error) = app
        .post("/v1/mgmt/mcp/server/create", json!({ "id": "docs" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["errorCode"], "E011002");

    let (status, error) = app
        .post(
            "/v1/mgmt/mcp/server/create",
            json!({ "name": "x", "colour": "blue" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        error["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("colour"),
        "{error}"
    );
}

#[tokio::test]
async fn servers_are_scoped_by_project() {
    let app = TestApp::new(ApiSettings::default());
    let (status, _) = app.post("/v1/mgmt/mcp/server/create", docs_server()).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = app
        .post_as(
            OTHER_AUTH,
            "/v1/mgmt/mcp/server/update",
            json!({ "id": "docs", "name": "Taken" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = app
        .post_as(OTHER_AUTH, "/v1/mgmt/mcp/server/list", json!({}))
        .await;
    assert_eq!(listed["servers"], json!([]));
    let (status, _) = app
        .post_as(
            OTHER_AUTH,
            "/v1/mgmt/mcp/client/list",
            json!({ "serverId": "docs" }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The same id in another project is a different server.
    let (status, created) = app
        .post_as(OTHER_AUTH, "/v1/mgmt/mcp/server/create", docs_server())
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(
        created["server"]["issuer"],
        format!("{PUBLIC_URL}/oauth/P-second/docs")
    );
}

fn server(id: &str) -> McpServer {
    McpServer {
        id: id.to_owned(),
        name: id.to_owned(),
        description: String::new(),
        approved_scopes: Vec::new(),
        approved_callback_urls: Vec::new(),
        registration: RegistrationSettings::default(),
        registration_flow_id: None,
        authorization_endpoint: None,
        token_endpoint: None,
        created: 0,
        updated: 0,
    }
}

fn client(id: &str, server_id: &str) -> RegisteredClient {
    RegisteredClient {
        client_id: id.to_owned(),
        server_id: server_id.to_owned(),
        metadata: ClientMetadata {
            redirect_uris: vec!["http://127.0.0.1/cb".to_owned()],
            token_endpoint_auth_method: "none".to_owned(),
            grant_types: vec!["authorization_code".to_owned()],
            response_types: vec!["code".to_owned()],
            client_name: Some("Agent".to_owned()),
            client_uri: None,
            logo_uri: None,
            scope: None,
            contacts: Vec::new(),
            tos_uri: None,
            policy_uri: None,
            jwks_uri: None,
            software_id: None,
            software_version: None,
            extra: Map::new(),
        },
        verification: Verification::Unverified,
        client_secret_hash: None,
        registration_token_hash: "00".repeat(32),
        issued_at: 1,
        updated: 1,
    }
}

fn event(action: &str) -> NewAuditEvent {
    NewAuditEvent {
        action: action.to_owned(),
        audit_type: AuditType::Info,
        actor_id: "test".to_owned(),
        user_id: None,
        tenants: Vec::new(),
        remote_address: None,
        data: Map::new(),
    }
}

fn store_contract<S: OAuthStore + IdentityStore>(store: &S) {
    store
        .create_mcp_server("P1", &server("docs"))
        .expect("server is created");
    assert!(matches!(
        store.create_mcp_server("P1", &server("docs")),
        Err(StoreError::Conflict(_))
    ));
    store
        .create_mcp_server("P2", &server("docs"))
        .expect("same id in another project");

    let missing_server = client("c0", "nope");
    assert!(matches!(
        store.insert_mcp_client("P1", &missing_server, event("McpClientRegistered")),
        Err(StoreError::NotFound { .. })
    ));
    store
        .insert_mcp_client("P1", &client("c1", "docs"), event("McpClientRegistered"))
        .expect("client is stored");
    assert_eq!(store.load_mcp_client("P2", "c1"), Ok(None));
    assert_eq!(
        store
            .list_mcp_clients("P2", "docs")
            .map(|clients| clients.len()),
        Ok(0)
    );

    let failed = store.modify_mcp_client("P1", "c1", &mut |client| {
        client.verification = Verification::Verified;
        Err(StoreError::Invalid("change fails".to_owned()))
    });
    assert!(failed.is_err());
    let loaded = store
        .load_mcp_client("P1", "c1")
        .expect("load")
        .expect("client exists");
    assert_eq!(
        loaded.verification,
        Verification::Unverified,
        "a failed change writes nothing"
    );

    store
        .modify_mcp_client("P1", "c1", &mut |client| {
            client.verification = Verification::Verified;
            Ok(Some(event("McpClientVerificationChanged")))
        })
        .expect("status changes");
    let loaded = store
        .load_mcp_client("P1", "c1")
        .expect("load")
        .expect("client exists");
    assert_eq!(loaded.verification, Verification::Verified);

    let (events, _) = store
        .search_audit("P1", &AuditQuery::default())
        .expect("audit search");
    let actions: Vec<&str> = events.iter().map(|event| event.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["McpClientVerificationChanged", "McpClientRegistered"]
    );
    assert_eq!(
        store
            .search_audit("P2", &AuditQuery::default())
            .map(|(events, _)| events.len()),
        Ok(0)
    );

    assert_eq!(
        store.delete_mcp_client("P2", "c1", event("McpClientDeleted")),
        Ok(false)
    );
    store
        .insert_mcp_client("P1", &client("c2", "docs"), event("McpClientRegistered"))
        .expect("second client");
    assert_eq!(store.delete_mcp_server("P1", "docs"), Ok(true));
    assert_eq!(
        store.load_mcp_client("P1", "c2"),
        Ok(None),
        "clients go with their server"
    );
    assert!(store.load_mcp_server("P2", "docs").expect("load").is_some());
}

#[test]
fn memory_store_keeps_the_contract() {
    store_contract(&MemoryStore::new());
}

#[test]
fn sqlite_store_keeps_the_contract() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let store = SqliteStore::open(&dir.path().join("sluice.db")).expect("open the store");
    store_contract(&store);
}
