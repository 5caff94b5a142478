//! MCP servers and their registered clients: Sluice's own management calls
//! under `/v1/mgmt/mcp`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::error::ApiError;
use super::json::ApiJson;
use super::{AppState, blocking};
use crate::oauth::clients::{CLIENT_DELETED, CLIENT_VERIFICATION_CHANGED};
use crate::oauth::metadata::{issuer, metadata_url};
use crate::oauth::{McpServer, RegistrationSettings, Verification, validate_server};
use crate::store::now_millis;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/mgmt/mcp/server", get(load_server))
        .route("/v1/mgmt/mcp/server/create", post(create_server))
        .route("/v1/mgmt/mcp/server/update", post(update_server))
        .route("/v1/mgmt/mcp/server/delete", post(delete_server))
        .route("/v1/mgmt/mcp/server/list", post(list_servers))
        .route("/v1/mgmt/mcp/client/list", post(list_clients))
        .route("/v1/mgmt/mcp/client/status", post(set_client_status))
        .route("/v1/mgmt/mcp/client/delete", post(delete_client))
}

/// Body of create and update. Update keeps the fields it does not send;
/// `null` clears an optional field.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServerBody {
    id: Option<String>,
    name: Option<String>,
    description: Option<String>,
    approved_scopes: Option<Vec<String>>,
    approved_callback_urls: Option<Vec<String>>,
    registration: Option<RegistrationSettings>,
    #[serde(default, with = "optional_field")]
    registration_flow_id: Option<Option<String>>,
    #[serde(default, with = "optional_field")]
    authorization_endpoint: Option<Option<String>>,
    #[serde(default, with = "optional_field")]
    token_endpoint: Option<Option<String>>,
}

/// Reads a field that may be absent (`None`), `null` (`Some(None)`) or set.
mod optional_field {
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(deserializer).map(Some)
    }
}

impl ServerBody {
    /// Applies the fields the body sends to `server`.
    fn apply(self, server: &mut McpServer) {
        if let Some(name) = self.name {
            server.name = name;
        }
        if let Some(description) = self.description {
            server.description = description;
        }
        if let Some(scopes) = self.approved_scopes {
            server.approved_scopes = scopes;
        }
        if let Some(urls) = self.approved_callback_urls {
            server.approved_callback_urls = urls;
        }
        if let Some(registration) = self.registration {
            server.registration = registration;
        }
        if let Some(flow_id) = self.registration_flow_id {
            server.registration_flow_id = flow_id.filter(|id| !id.is_empty());
        }
        if let Some(endpoint) = self.authorization_endpoint {
            server.authorization_endpoint = endpoint.filter(|url| !url.is_empty());
        }
        if let Some(endpoint) = self.token_endpoint {
            server.token_endpoint = endpoint.filter(|url| !url.is_empty());
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdBody {
    id: Option<String>,
}

impl AppState {
    /// Returns what responses show of a server: the record with its issuer
    /// and metadata URLs.
    fn shown_server(&self, project: &str, server: &McpServer) -> Result<Value, ApiError> {
        let public_url = self.public_url()?;
        let mut shown = serde_json::to_value(server).map_err(ApiError::internal)?;
        if let Value::Object(fields) = &mut shown {
            fields.insert(
                "issuer".to_owned(),
                Value::from(issuer(&public_url, project, &server.id)),
            );
            fields.insert(
                "metadataUrl".to_owned(),
                Value::from(metadata_url(&public_url, project, &server.id)),
            );
        }
        Ok(shown)
    }

    /// Checks a server record and that its registration flow is deployed.
    async fn check_server(&self, project: &str, server: &McpServer) -> Result<(), ApiError> {
        let mut problems = validate_server(server);
        if let Some(flow_id) = &server.registration_flow_id
            && problems.is_empty()
            && let Err(error) = self.deployed_flow(project, flow_id).await
        {
            if error.status == StatusCode::NOT_FOUND {
                problems.push(format!(
                    "`registrationFlowId` {flow_id:?} names no deployed flow: deploy the flow first, or leave the field out"
                ));
            } else {
                return Err(error);
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(format!(
                "invalid MCP server: {}",
                problems.join("; ")
            )))
        }
    }
}

fn required_id(id: Option<String>) -> Result<String, ApiError> {
    id.filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::missing("id"))
}

async fn create_server(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ServerBody>,
) -> Result<Json<Value>, ApiError> {
    let now = now_millis();
    let id = body
        .id
        .clone()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("mcp-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
    if body.name.as_deref().is_none_or(str::is_empty) {
        return Err(ApiError::missing("name"));
    }
    let mut server = McpServer {
        id,
        name: String::new(),
        description: String::new(),
        approved_scopes: Vec::new(),
        approved_callback_urls: Vec::new(),
        registration: RegistrationSettings::default(),
        registration_flow_id: None,
        authorization_endpoint: None,
        token_endpoint: None,
        created: now,
        updated: now,
    };
    body.apply(&mut server);
    state.check_server(&caller.project, &server).await?;
    let backend = state.backend();
    let project = caller.project.clone();
    let stored = server.clone();
    blocking(move || Ok(backend.create_mcp_server(&project, &stored)?)).await?;
    tracing::info!(project.id = %caller.project, mcp.server.id = %server.id, "Created MCP server");
    Ok(Json(
        json!({ "server": state.shown_server(&caller.project, &server)? }),
    ))
}

async fn update_server(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(mut body): ApiJson<ServerBody>,
) -> Result<Json<Value>, ApiError> {
    let id = required_id(body.id.take())?;
    let backend = state.backend();
    let project = caller.project.clone();
    let target = id.clone();
    let mut server = blocking(move || Ok(backend.load_mcp_server(&project, &target)?))
        .await?
        .ok_or_else(|| ApiError::not_found("MCP server", &id))?;
    body.apply(&mut server);
    server.updated = now_millis();
    state.check_server(&caller.project, &server).await?;
    let backend = state.backend();
    let project = caller.project.clone();
    let stored = server.clone();
    blocking(move || Ok(backend.replace_mcp_server(&project, &stored)?)).await?;
    tracing::info!(project.id = %caller.project, mcp.server.id = %server.id, "Updated MCP server");
    Ok(Json(
        json!({ "server": state.shown_server(&caller.project, &server)? }),
    ))
}

async fn delete_server(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<IdBody>,
) -> Result<Json<Value>, ApiError> {
    let id = required_id(body.id)?;
    let backend = state.backend();
    let project = caller.project.clone();
    let target = id.clone();
    let deleted = blocking(move || Ok(backend.delete_mcp_server(&project, &target)?)).await?;
    if !deleted {
        return Err(ApiError::not_found("MCP server", &id));
    }
    tracing::info!(project.id = %caller.project, mcp.server.id = %id, "Deleted MCP server and its clients");
    Ok(Json(json!({})))
}

/// Lists the project's MCP servers. The body has no fields but must still be
/// empty or a JSON object.
async fn list_servers(
    State(state): State<AppState>,
    caller: Caller,
    _: ApiJson<IgnoredAny>,
) -> Result<Json<Value>, ApiError> {
    let backend = state.backend();
    let project = caller.project.clone();
    let servers = blocking(move || Ok(backend.list_mcp_servers(&project)?)).await?;
    let shown = servers
        .iter()
        .map(|server| state.shown_server(&caller.project, server))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "servers": shown })))
}

#[derive(Debug, Deserialize)]
struct IdQuery {
    id: Option<String>,
}

async fn load_server(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<IdQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = required_id(query.id)?;
    let backend = state.backend();
    let project = caller.project.clone();
    let target = id.clone();
    let server = blocking(move || Ok(backend.load_mcp_server(&project, &target)?))
        .await?
        .ok_or_else(|| ApiError::not_found("MCP server", &id))?;
    Ok(Json(
        json!({ "server": state.shown_server(&caller.project, &server)? }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClientListBody {
    server_id: Option<String>,
    /// Only clients with this status, when set.
    status: Option<String>,
}

async fn list_clients(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ClientListBody>,
) -> Result<Json<Value>, ApiError> {
    let server_id = body
        .server_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::missing("serverId"))?;
    let status = body.status.map(|text| parse_status(&text)).transpose()?;
    let backend = state.backend();
    let project = caller.project.clone();
    let clients = blocking(move || {
        if backend.load_mcp_server(&project, &server_id)?.is_none() {
            return Err(ApiError::not_found("MCP server", &server_id));
        }
        Ok(backend.list_mcp_clients(&project, &server_id)?)
    })
    .await?;
    let shown: Vec<Value> = clients
        .iter()
        .filter(|client| status.is_none_or(|status| client.verification == status))
        .map(crate::oauth::RegisteredClient::summary)
        .collect();
    Ok(Json(json!({ "clients": shown })))
}

fn parse_status(text: &str) -> Result<Verification, ApiError> {
    Verification::parse(text).ok_or_else(|| {
        ApiError::invalid(format!(
            "`status` {text:?} is invalid: use \"verified\" or \"unverified\""
        ))
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClientStatusBody {
    client_id: Option<String>,
    status: Option<String>,
}

async fn set_client_status(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ClientStatusBody>,
) -> Result<Json<Value>, ApiError> {
    let client_id = body
        .client_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::missing("clientId"))?;
    let status = parse_status(&body.status.ok_or_else(|| ApiError::missing("status"))?)?;
    let backend = state.backend();
    let project = caller.project.clone();
    let actor = caller.actor();
    let client = blocking(move || {
        Ok(
            backend.modify_mcp_client(&project, &client_id, &mut |client| {
                let previous = client.verification;
                if previous == status {
                    return Ok(None);
                }
                client.verification = status;
                client.updated = now_millis();
                let mut extra = Map::new();
                extra.insert("previousStatus".to_owned(), Value::from(previous.as_str()));
                Ok(Some(client.event(
                    CLIENT_VERIFICATION_CHANGED,
                    &actor,
                    extra,
                )))
            })?,
        )
    })
    .await?;
    tracing::info!(
        project.id = %caller.project,
        mcp.server.id = %client.server_id,
        mcp.client.id = %client.client_id,
        status = client.verification.as_str(),
        "Set MCP client verification status"
    );
    Ok(Json(json!({ "client": client.summary() })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClientIdBody {
    client_id: Option<String>,
}

async fn delete_client(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ClientIdBody>,
) -> Result<Json<Value>, ApiError> {
    let client_id = body
        .client_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::missing("clientId"))?;
    let backend = state.backend();
    let project = caller.project.clone();
    let actor = caller.actor();
    let target = client_id.clone();
    let deleted = blocking(move || {
        let Some(client) = backend.load_mcp_client(&project, &target)? else {
            return Ok(false);
        };
        Ok(backend.delete_mcp_client(
            &project,
            &target,
            client.event(CLIENT_DELETED, &actor, Map::new()),
        )?)
    })
    .await?;
    if !deleted {
        return Err(ApiError::not_found("MCP client", &client_id));
    }
    tracing::info!(project.id = %caller.project, mcp.client.id = %client_id, "Deleted MCP client");
    Ok(Json(json!({})))
}
