//! Client look-up for the operator's authorization server: a `client_id`
//! becomes a registered client of an MCP server, or a client described by a
//! Client ID Metadata Document.
//!
//! Sluice does not serve the authorization endpoint. The operator's login
//! service calls `POST /v1/mgmt/mcp/client/resolve` when a client starts an
//! authorization request, and uses the redirect URIs and status returned.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::error::ApiError;
use super::json::ApiJson;
use super::{AppState, blocking};
use crate::model::AuditType;
use crate::oauth::Verification;
use crate::oauth::cimd::{
    CLIENT_METADATA_REJECTED, CLIENT_METADATA_RESOLVED, CimdClient, ResolutionEvent,
    ResolutionObserver, ServerCimdPolicy, is_metadata_document_url,
};
use crate::oauth::clients::client_event;
use crate::store::{Actor, Backend};

/// Status of a client resolved from a metadata document. The operator's
/// list of approved CIMD domains is the trust decision for such clients,
/// and a document from any other host is rejected, never returned
/// unverified.
const METADATA_DOCUMENT_STATUS: Verification = Verification::Verified;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/mgmt/mcp/client/resolve", post(resolve_client))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResolveBody {
    server_id: Option<String>,
    client_id: Option<String>,
}

async fn resolve_client(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ResolveBody>,
) -> Result<Json<Value>, ApiError> {
    let server_id = body
        .server_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::missing("serverId"))?;
    let client_id = body
        .client_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::missing("clientId"))?;
    let from_document = is_metadata_document_url(&client_id);

    let backend = state.backend();
    let project = caller.project.clone();
    let (target_server, target_client) = (server_id.clone(), client_id.clone());
    let (server, registered) = blocking(move || {
        let server = backend
            .load_mcp_server(&project, &target_server)?
            .ok_or_else(|| ApiError::not_found("MCP server", &target_server))?;
        let registered = if from_document {
            None
        } else {
            backend.load_mcp_client(&project, &target_client)?
        };
        Ok((server, registered))
    })
    .await?;

    if !from_document {
        let client = registered
            .filter(|client| client.server_id == server.id)
            .ok_or_else(|| ApiError::not_found("MCP client", &client_id))?;
        let mut shown = client.summary();
        shown["source"] = Value::from("registration");
        return Ok(Json(json!({ "client": shown })));
    }

    let policy = ServerCimdPolicy {
        enabled: server.registration.client_id_metadata_documents,
        approved_domains: &server.registration.approved_cimd_domains,
        metadata: server.metadata_policy(),
    };
    let client = state
        .cimd_resolver()
        .resolve(&caller.project, &server.id, &client_id, policy)
        .await
        .map_err(|err| {
            tracing::info!(project.id = %caller.project, mcp.server.id = %server.id, client.id = %client_id, error = %err, "MCP client look-up rejected");
            ApiError::invalid(err.to_string())
        })?;
    Ok(Json(
        json!({ "client": document_client_summary(&server.id, &client) }),
    ))
}

/// Returns what the API shows of a client resolved from a metadata
/// document, in the shape of a registered client's summary.
fn document_client_summary(server_id: &str, client: &CimdClient) -> Value {
    json!({
        "clientId": client.client_id,
        "serverId": server_id,
        "clientName": client.metadata.client_name,
        "verification": METADATA_DOCUMENT_STATUS,
        "confidential": client.metadata.is_confidential(),
        "source": "metadataDocument",
        "fetched": client.fetched,
        "metadata": client.metadata,
    })
}

/// Returns an observer that records an audit event when the resolver
/// fetches a document it has not seen before for a server (the first fetch
/// since the server started, or changed content), and when a fetch or its
/// validation fails. Refetches of an unchanged document and cache hits
/// record nothing.
pub(super) fn audit_observer(backend: Arc<dyn Backend>) -> ResolutionObserver {
    Arc::new(move |event| {
        let (project, record) = match event {
            ResolutionEvent::Resolved {
                new_document: false,
                ..
            } => return,
            ResolutionEvent::Resolved {
                project,
                server,
                client_id,
                client_name,
                ..
            } => {
                let actor = Actor::new(format!("mcp:{server}"));
                let record = client_event(
                    CLIENT_METADATA_RESOLVED,
                    &server,
                    &client_id,
                    client_name.as_deref(),
                    METADATA_DOCUMENT_STATUS.as_str(),
                    &actor,
                    Map::new(),
                );
                (project, record)
            }
            ResolutionEvent::Failed {
                project,
                server,
                client_id,
                reason,
            } => {
                let actor = Actor::new(format!("mcp:{server}"));
                let mut extra = Map::new();
                extra.insert("reason".to_owned(), Value::from(reason));
                let mut record = client_event(
                    CLIENT_METADATA_REJECTED,
                    &server,
                    &client_id,
                    None,
                    "rejected",
                    &actor,
                    extra,
                );
                record.audit_type = AuditType::Warn;
                (project, record)
            }
        };
        let backend = Arc::clone(&backend);
        let write = move || {
            if let Err(err) = backend.record_audit(&project, record) {
                tracing::error!(project.id = %project, error = %err, "Recording a Client ID Metadata Document audit event failed");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn_blocking(write)),
            Err(_) => write(),
        }
    })
}
