//! Registered OAuth clients of an MCP server and their metadata.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Whether an operator (or the registration flow) trusts a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verification {
    /// The client is trusted.
    Verified,
    /// The client registered but is not trusted.
    Unverified,
}

impl Verification {
    /// Returns the name used in JSON and audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Unverified => "unverified",
        }
    }

    /// Parses `verified` or `unverified`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "verified" => Some(Self::Verified),
            "unverified" => Some(Self::Unverified),
            _ => None,
        }
    }
}

/// Client metadata as RFC 7591 §2 names it, after validation and defaults.
///
/// Fields Sluice does not know are kept in `extra` and returned as sent,
/// as RFC 7591 §3.2.1 allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientMetadata {
    /// Redirect URIs, each HTTPS or http on a loopback host.
    pub redirect_uris: Vec<String>,
    /// `none`, `client_secret_basic` or `client_secret_post`.
    pub token_endpoint_auth_method: String,
    /// OAuth grant types the client uses.
    pub grant_types: Vec<String>,
    /// OAuth response types the client uses.
    pub response_types: Vec<String>,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Home page of the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// Logo of the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Space-separated scopes the client may request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Contact addresses of the people responsible for the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<String>,
    /// Terms of service of the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// Privacy policy of the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// URL of the client's JSON Web Key Set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Identifier of the client software, the same for every instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// Version of the client software.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    /// Other metadata fields, kept and returned unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ClientMetadata {
    /// Returns whether the client authenticates at the token endpoint with
    /// a secret, so it gets a `client_secret`.
    pub fn is_confidential(&self) -> bool {
        self.token_endpoint_auth_method != "none"
    }
}

/// A dynamically registered client as stored. The client secret and the
/// registration access token are kept only as SHA-256 hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredClient {
    /// OAuth `client_id`, generated at registration.
    pub client_id: String,
    /// The MCP server the client registered with.
    pub server_id: String,
    /// The registered metadata.
    pub metadata: ClientMetadata,
    /// Whether the client is trusted.
    pub verification: Verification,
    /// SHA-256 of the client secret, lowercase hex; `None` for public clients.
    pub client_secret_hash: Option<String>,
    /// SHA-256 of the RFC 7592 registration access token, lowercase hex.
    pub registration_token_hash: String,
    /// Registration time in seconds since the Unix epoch (`client_id_issued_at`).
    pub issued_at: u64,
    /// Time of the last change in milliseconds since the Unix epoch.
    pub updated: u64,
}

impl RegisteredClient {
    /// Returns what the management API shows of the client: everything but
    /// the secret hashes.
    pub fn summary(&self) -> Value {
        serde_json::json!({
            "clientId": self.client_id,
            "serverId": self.server_id,
            "clientName": self.metadata.client_name,
            "verification": self.verification,
            "confidential": self.metadata.is_confidential(),
            "clientIdIssuedAt": self.issued_at,
            "updated": self.updated,
            "metadata": self.metadata,
        })
    }
}

/// Audit action recorded when a client registers.
pub const CLIENT_REGISTERED: &str = "McpClientRegistered";
/// Audit action recorded when the registration flow rejects a registration.
pub const CLIENT_REGISTRATION_REJECTED: &str = "McpClientRegistrationRejected";
/// Audit action recorded when an operator changes a client's verification status.
pub const CLIENT_VERIFICATION_CHANGED: &str = "McpClientVerificationChanged";
/// Audit action recorded when a client's metadata changes through RFC 7592.
pub const CLIENT_UPDATED: &str = "McpClientUpdated";
/// Audit action recorded when a client is deleted.
pub const CLIENT_DELETED: &str = "McpClientDeleted";

/// Builds an audit event about a client. `data` has `serverId`, `clientId`,
/// `clientName` and `status`, plus the entries of `extra`.
pub fn client_event(
    action: &str,
    server_id: &str,
    client_id: &str,
    client_name: Option<&str>,
    status: &str,
    actor: &crate::store::Actor,
    extra: Map<String, Value>,
) -> crate::model::NewAuditEvent {
    let mut data = Map::new();
    data.insert("serverId".to_owned(), Value::from(server_id));
    data.insert("clientId".to_owned(), Value::from(client_id));
    data.insert(
        "clientName".to_owned(),
        client_name.map_or(Value::Null, Value::from),
    );
    data.insert("status".to_owned(), Value::from(status));
    data.extend(extra);
    crate::model::NewAuditEvent {
        action: action.to_owned(),
        audit_type: if action == CLIENT_REGISTRATION_REJECTED {
            crate::model::AuditType::Warn
        } else {
            crate::model::AuditType::Info
        },
        actor_id: actor.id.clone(),
        user_id: None,
        tenants: Vec::new(),
        remote_address: actor.remote_address.clone(),
        data,
    }
}

impl RegisteredClient {
    /// Builds an audit event of `action` about this client by `actor`.
    pub fn event(
        &self,
        action: &str,
        actor: &crate::store::Actor,
        extra: Map<String, Value>,
    ) -> crate::model::NewAuditEvent {
        client_event(
            action,
            &self.server_id,
            &self.client_id,
            self.metadata.client_name.as_deref(),
            self.verification.as_str(),
            actor,
            extra,
        )
    }
}
