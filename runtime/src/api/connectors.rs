//! Connector instances: Sluice's own calls under `/v1/mgmt/connector`.
//!
//! Secrets are write-only. A create or update takes them in `secrets`, the
//! store keeps them sealed, and no response, log line or run trace contains
//! them: responses list only their names.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use super::auth::Caller;
use super::error::ApiError;
use super::json::ApiJson;
use super::{AppState, blocking};
use crate::connectors::{ConnectorAuth, ConnectorInstance, ConnectorResolver, validate_instance};

use crate::engine::World;
use crate::store::{StoredConnector, now_millis};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/mgmt/connector", get(load_connector))
        .route("/v1/mgmt/connector/create", post(create_connector))
        .route("/v1/mgmt/connector/update", post(update_connector))
        .route("/v1/mgmt/connector/delete", post(delete_connector))
        .route("/v1/mgmt/connector/list", post(list_connectors))
}

/// Body of create and update. Update keeps the fields it does not send.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConnectorBody {
    name: Option<String>,
    component: Option<String>,
    base_url: Option<String>,
    auth: Option<ConnectorAuth>,
    headers: Option<BTreeMap<String, String>>,
    config: Option<BTreeMap<String, String>>,
    /// Secret name to value; on update, `null` removes a secret.
    #[serde(default)]
    secrets: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Deserialize)]
struct NameBody {
    name: Option<String>,
}

impl AppState {
    fn connector_resolver(&self) -> Result<Arc<ConnectorResolver>, ApiError> {
        self.connector_resolver_if_set()
            .ok_or_else(|| ApiError::internal("this server was set up without connector instances"))
    }
}

/// Returns what responses show of an instance: everything but secret values.
fn shown(instance: &ConnectorInstance) -> Value {
    serde_json::to_value(instance).unwrap_or(Value::Null)
}

/// Checks that `reference` names a connector that the project's flows can
/// run: a built-in one or one the project published.
fn check_component(state: &AppState, project: &str, reference: &str) -> Result<(), ApiError> {
    let world = state.runtime().catalog(project)?.world(reference);
    match world {
        Some(World::Connector) => Ok(()),
        Some(_) => Err(ApiError::invalid(format!(
            "`component` `{reference}` is not a connector: name a component of the connector world, such as \
             `builtin:http` or `builtin:slack-webhook`"
        ))),
        None => Err(ApiError::invalid(format!(
            "`component` `{reference}` is neither built in nor published in this project: use `builtin:http`, \
             `builtin:slack-webhook`, `builtin:email-gateway` or publish the connector first"
        ))),
    }
}

fn check_instance(instance: &ConnectorInstance, secret_names: &[String]) -> Result<(), ApiError> {
    let problems = validate_instance(instance, secret_names);
    if problems.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(format!(
        "invalid connector instance: {}",
        problems.join("; ")
    )))
}

async fn create_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ConnectorBody>,
) -> Result<Json<Value>, ApiError> {
    let resolver = state.connector_resolver()?;
    let name = body
        .name
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::missing("name"))?;
    let component = body
        .component
        .ok_or_else(|| ApiError::missing("component"))?;
    let base_url = body.base_url.ok_or_else(|| ApiError::missing("baseUrl"))?;
    check_component(&state, &caller.project, &component)?;
    let mut secrets = BTreeMap::new();
    for (secret, value) in body.secrets {
        let value = value.ok_or_else(|| {
            ApiError::invalid(format!(
                "`secrets.{secret}` is null: send the secret's value"
            ))
        })?;
        secrets.insert(secret, value);
    }
    let now = now_millis();
    let instance = ConnectorInstance {
        name,
        component,
        base_url,
        auth: body.auth.unwrap_or_default(),
        headers: body.headers.unwrap_or_default(),
        config: body.config.unwrap_or_default(),
        secret_names: secrets.keys().cloned().collect(),
        created: now,
        updated: now,
    };
    check_instance(&instance, &instance.secret_names)?;
    let stored = StoredConnector {
        sealed_secrets: if secrets.is_empty() {
            Vec::new()
        } else {
            resolver.seal(&secrets)
        },
        instance: instance.clone(),
    };
    let backend = state.backend();
    let project = caller.project.clone();
    blocking(move || Ok(backend.create_connector(&project, &stored)?)).await?;
    tracing::info!(project.id = %caller.project, connector = %instance.name, "Created connector instance");
    Ok(Json(json!({ "connector": shown(&instance) })))
}

async fn update_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ConnectorBody>,
) -> Result<Json<Value>, ApiError> {
    let resolver = state.connector_resolver()?;
    let name = body
        .name
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::missing("name"))?;
    if let Some(component) = &body.component {
        check_component(&state, &caller.project, component)?;
    }
    let backend = state.backend();
    let project = caller.project.clone();
    let instance = blocking(move || {
        let stored = backend
            .load_connector(&project, &name)?
            .ok_or_else(|| ApiError::not_found("connector instance", &name))?;
        let mut secrets = resolver.open(&stored)?;
        for (secret, value) in body.secrets {
            match value {
                Some(value) => secrets.insert(secret, value),
                None => secrets.remove(&secret),
            };
        }
        let mut instance = stored.instance;
        if let Some(component) = body.component {
            instance.component = component;
        }
        if let Some(base_url) = body.base_url {
            instance.base_url = base_url;
        }
        if let Some(auth) = body.auth {
            instance.auth = auth;
        }
        if let Some(headers) = body.headers {
            instance.headers = headers;
        }
        if let Some(config) = body.config {
            instance.config = config;
        }
        instance.secret_names = secrets.keys().cloned().collect();
        instance.updated = now_millis();
        check_instance(&instance, &instance.secret_names)?;
        let stored = StoredConnector {
            sealed_secrets: if secrets.is_empty() {
                Vec::new()
            } else {
                resolver.seal(&secrets)
            },
            instance: instance.clone(),
        };
        backend.replace_connector(&project, &stored)?;
        Ok(instance)
    })
    .await?;
    tracing::info!(project.id = %caller.project, connector = %instance.name, "Updated connector instance");
    Ok(Json(json!({ "connector": shown(&instance) })))
}

async fn delete_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NameBody>,
) -> Result<Json<Value>, ApiError> {
    let name = body
        .name
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::missing("name"))?;
    let backend = state.backend();
    let project = caller.project.clone();
    let target = name.clone();
    let deleted = blocking(move || Ok(backend.delete_connector(&project, &target)?)).await?;
    if !deleted {
        return Err(ApiError::not_found("connector instance", &name));
    }
    tracing::info!(project.id = %caller.project, connector = %name, "Deleted connector instance");
    Ok(Json(json!({})))
}

/// Lists the project's connector instances. The body has no fields but must
/// still be empty or a JSON object.
async fn list_connectors(
    State(state): State<AppState>,
    caller: Caller,
    _: ApiJson<IgnoredAny>,
) -> Result<Json<Value>, ApiError> {
    let backend = state.backend();
    let project = caller.project.clone();
    let connectors = blocking(move || Ok(backend.list_connectors(&project)?)).await?;
    let listed: Vec<Value> = connectors
        .iter()
        .map(|stored| shown(&stored.instance))
        .collect();
    Ok(Json(json!({ "connectors": listed })))
}

#[derive(Debug, Deserialize)]
struct NameQuery {
    name: Option<String>,
}

async fn load_connector(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<NameQuery>,
) -> Result<Json<Value>, ApiError> {
    let name = query
        .name
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::missing("name"))?;
    let backend = state.backend();
    let project = caller.project.clone();
    let target = name.clone();
    let stored = blocking(move || Ok(backend.load_connector(&project, &target)?))
        .await?
        .ok_or_else(|| ApiError::not_found("connector instance", &name))?;
    Ok(Json(json!({ "connector": shown(&stored.instance) })))
}
