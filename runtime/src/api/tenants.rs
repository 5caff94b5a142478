//! Tenant management calls on Descope's paths, with its request field names.
//!
//! Paths, methods and body fields follow `descope/management/tenant.py` and
//! `_tenant_base.py` of Descope's Python SDK 2.16.1. Settings that Sluice
//! does not store (`enforceSSO`, `disabled`, `federatedAppIds`, …) are
//! accepted and ignored.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_model::body::tenants::{DeleteBody, SearchBody, TenantFields};

use super::auth::Caller;
use super::error::ApiError;
use super::json::ApiJson;
use super::{AppState, blocking};
use crate::model::Tenant;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/mgmt/tenant", get(load_tenant))
        .route("/v1/mgmt/tenant/all", get(load_all_tenants))
        .route("/v1/mgmt/tenant/create", post(create_tenant))
        .route("/v1/mgmt/tenant/update", post(update_tenant))
        .route("/v1/mgmt/tenant/patch", patch(patch_tenant))
        .route("/v1/mgmt/tenant/delete", post(delete_tenant))
        .route("/v1/mgmt/tenant/search", post(search_tenants))
}

/// Creates a tenant and returns `{"id"}`. The store generates the id when
/// it is absent or empty, and a taken id is a 409.
async fn create_tenant(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<TenantFields>,
) -> Result<Json<Value>, ApiError> {
    let tenant = Tenant {
        name: body.required_name()?,
        id: body.id.unwrap_or_default(),
        self_provisioning_domains: body.self_provisioning_domains.unwrap_or_default(),
        custom_attributes: body.custom_attributes.unwrap_or_default(),
    };
    let backend = state.backend();
    let project = caller.project.clone();
    let actor = caller.actor();
    let created = blocking(move || Ok(backend.create_tenant(&project, tenant, &actor)?)).await?;
    Ok(Json(json!({ "id": created.id })))
}

/// Replaces a tenant's name, domains and custom attributes. As in
/// Descope's update, absent domains and attributes clear the stored ones.
async fn update_tenant(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<TenantFields>,
) -> Result<Json<Value>, ApiError> {
    let id = body.required_id()?;
    let name = body.required_name()?;
    change_tenant(&state, &caller, id, move |tenant| {
        tenant.name.clone_from(&name);
        tenant.self_provisioning_domains = body.self_provisioning_domains.clone().unwrap_or_default();
        tenant.custom_attributes = body.custom_attributes.clone().unwrap_or_default();
    })
    .await
}

/// Sets the fields present in the body and leaves the others as stored.
/// Custom attributes are merged key by key.
async fn patch_tenant(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<TenantFields>,
) -> Result<Json<Value>, ApiError> {
    let id = body.required_id()?;
    change_tenant(&state, &caller, id, move |tenant| {
        if let Some(name) = &body.name {
            tenant.name.clone_from(name);
        }
        if let Some(domains) = &body.self_provisioning_domains {
            tenant.self_provisioning_domains.clone_from(domains);
        }
        for (key, value) in body.custom_attributes.iter().flatten() {
            tenant.custom_attributes.insert(key.clone(), value.clone());
        }
    })
    .await
}

/// Applies `change` to a tenant in the store's transaction and returns `{}`,
/// as Descope's update and patch do.
async fn change_tenant<F>(state: &AppState, caller: &Caller, tenant_id: String, mut change: F) -> Result<Json<Value>, ApiError>
where
    F: FnMut(&mut Tenant) + Send + 'static,
{
    let backend = state.backend();
    let project = caller.project.clone();
    let actor = caller.actor();
    blocking(move || {
        backend.modify_tenant(&project, &tenant_id, &actor, &mut |tenant| {
            change(tenant);
            Ok(())
        })?;
        Ok(())
    })
    .await?;
    Ok(Json(json!({})))
}

/// Deletes a tenant and removes it from every user. The SDK's `cascade`
/// flag is accepted and ignored, because the store always removes the
/// memberships.
async fn delete_tenant(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<DeleteBody>,
) -> Result<Json<Value>, ApiError> {
    let id = body.id.filter(|id| !id.is_empty()).ok_or_else(|| ApiError::missing("id"))?;
    let backend = state.backend();
    let project = caller.project.clone();
    let actor = caller.actor();
    blocking(move || Ok(backend.delete_tenant(&project, &id, &actor)?)).await?;
    Ok(Json(json!({})))
}

#[derive(Debug, Deserialize)]
struct LoadQuery {
    id: Option<String>,
}

/// Loads one tenant. As in Descope's API, the response has the tenant's
/// fields at the top level, not wrapped in `{"tenant"}`.
async fn load_tenant(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<LoadQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let id = query.id.filter(|id| !id.is_empty()).ok_or_else(|| ApiError::missing("id"))?;
    let backend = state.backend();
    let project = caller.project.clone();
    let tenant = blocking(move || Ok(backend.load_tenant(&project, &id)?)).await?;
    Ok(Json(json!(tenant)))
}

async fn load_all_tenants(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let backend = state.backend();
    let project = caller.project.clone();
    let tenants = blocking(move || Ok(backend.list_tenants(&project)?)).await?;
    Ok(Json(json!({ "tenants": tenants })))
}

/// Searches tenants: `{"tenants": [...]}` ordered by id, without paging,
/// as the SDK expects.
async fn search_tenants(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SearchBody>,
) -> Result<Json<Value>, ApiError> {
    let backend = state.backend();
    let project = caller.project.clone();
    let tenants = blocking(move || Ok(backend.list_tenants(&project)?)).await?;
    let matching: Vec<&Tenant> = tenants.iter().filter(|tenant| body.matches(tenant)).collect();
    Ok(Json(json!({ "tenants": matching })))
}
