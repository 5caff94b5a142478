//! RFC 8414 authorization-server metadata of an MCP server.

use serde_json::{Map, Value, json};

use super::registration::{AUTH_METHODS, GRANT_TYPES, RESPONSE_TYPES};
use super::servers::McpServer;

/// Returns the issuer URL of a server: `{public_url}/oauth/{project}/{server}`.
/// `public_url` has no trailing slash.
pub fn issuer(public_url: &str, project: &str, server_id: &str) -> String {
    format!("{public_url}/oauth/{project}/{server_id}")
}

/// Returns the metadata URL of a server. RFC 8414 §3.1 inserts
/// `/.well-known/oauth-authorization-server` between the host and the
/// issuer's path.
pub fn metadata_url(public_url: &str, project: &str, server_id: &str) -> String {
    format!("{public_url}/.well-known/oauth-authorization-server/oauth/{project}/{server_id}")
}

/// Builds the metadata document of `server` under `issuer`.
///
/// `authorization_endpoint` and `token_endpoint` appear only when the
/// operator set them, because Sluice serves neither.
pub fn authorization_server_metadata(server: &McpServer, issuer: &str) -> Value {
    let mut document = Map::new();
    document.insert("issuer".to_owned(), Value::from(issuer));
    if let Some(endpoint) = &server.authorization_endpoint {
        document.insert(
            "authorization_endpoint".to_owned(),
            Value::from(endpoint.as_str()),
        );
    }
    if let Some(endpoint) = &server.token_endpoint {
        document.insert("token_endpoint".to_owned(), Value::from(endpoint.as_str()));
    }
    if server.registration.dynamic_client_registration {
        document.insert(
            "registration_endpoint".to_owned(),
            Value::from(format!("{issuer}/register")),
        );
    }
    if !server.approved_scopes.is_empty() {
        document.insert("scopes_supported".to_owned(), json!(server.approved_scopes));
    }
    document.insert("response_types_supported".to_owned(), json!(RESPONSE_TYPES));
    document.insert("grant_types_supported".to_owned(), json!(GRANT_TYPES));
    document.insert(
        "token_endpoint_auth_methods_supported".to_owned(),
        json!(AUTH_METHODS),
    );
    document.insert(
        "code_challenge_methods_supported".to_owned(),
        json!(["S256"]),
    );
    if server.registration.client_id_metadata_documents {
        document.insert(
            "client_id_metadata_document_supported".to_owned(),
            Value::Bool(true),
        );
    }
    Value::Object(document)
}
