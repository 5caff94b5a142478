//! Audit search and custom audit events on Descope's paths, with its field
//! names.
//!
//! Paths and bodies follow `descope/management/audit.py` of Descope's
//! Python SDK 2.16.1. As in the user and tenant calls, body fields that
//! Sluice does not know are ignored, and every optional field accepts both
//! absent and `null`.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sluice_model::body::audit::{EventBody, SearchBody};

use super::auth::Caller;
use super::error::ApiError;
use super::json::ApiJson;
use super::{AppState, blocking};
use crate::model::{AuditEvent, AuditType, NewAuditEvent};
use crate::store::StoreError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/mgmt/audit/search", post(search_audit))
        .route("/v1/mgmt/audit/event", post(create_event))
}

/// An audit event with Descope's fields. Descope's SDK reads each field
/// with a default, and Sluice sends an empty string or list for what it
/// does not record (device, method, geo) or what the event lacks.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditRecord<'a> {
    project_id: &'a str,
    user_id: &'a str,
    action: &'a str,
    #[serde(rename = "type")]
    audit_type: AuditType,
    actor_id: &'a str,
    /// Milliseconds since the Unix epoch.
    occurred: u64,
    device: &'a str,
    method: &'a str,
    geo: &'a str,
    remote_address: &'a str,
    external_ids: &'a [String],
    tenants: &'a [String],
    data: &'a Map<String, Value>,
}

impl<'a> From<&'a AuditEvent> for AuditRecord<'a> {
    fn from(event: &'a AuditEvent) -> Self {
        Self {
            project_id: &event.project_id,
            user_id: event.user_id.as_deref().unwrap_or_default(),
            action: &event.action,
            audit_type: event.audit_type,
            actor_id: &event.actor_id,
            occurred: event.occurred,
            device: "",
            method: "",
            geo: "",
            remote_address: event.remote_address.as_deref().unwrap_or_default(),
            external_ids: &event.external_ids,
            tenants: &event.tenants,
            data: &event.data,
        }
    }
}

/// Searches the project's audit events: `{"audits": [...], "total": n}`,
/// newest first, with `total` counting the matches on all pages. Unlike
/// Descope, which searches the last 30 days, Sluice searches every event
/// it keeps.
async fn search_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SearchBody>,
) -> Result<Json<Value>, ApiError> {
    let query = body.into_query();
    let backend = state.backend();
    let project = caller.project.clone();
    let (events, total) = blocking(move || Ok(backend.search_audit(&project, &query)?)).await?;
    let audits: Vec<AuditRecord<'_>> = events.iter().map(AuditRecord::from).collect();
    Ok(Json(json!({ "audits": audits, "total": total })))
}

/// Records a custom audit event with the caller's network address and
/// returns `{}`. A non-empty `tenantId` must name a tenant of the project
/// and `userId`, when given, a user of the project.
async fn create_event(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<EventBody>,
) -> Result<Json<Value>, ApiError> {
    let event = body.check()?;
    let backend = state.backend();
    let project = caller.project.clone();
    let remote_address = caller.remote_address.clone();
    blocking(move || {
        // NOTE: The tenant and the user are checked before the event is
        // recorded, in separate store calls, so one deleted in between is
        // still named by the event. The store has no call that checks and
        // records in one transaction.
        if let Some(tenant_id) = &event.tenant_id {
            match backend.load_tenant(&project, tenant_id) {
                Ok(_) => {}
                Err(StoreError::NotFound { .. }) => {
                    return Err(ApiError::invalid(format!(
                        "invalid field `tenantId`: tenant `{tenant_id}` not found in the project. Create the tenant first, or send an empty `tenantId` for an event about no tenant"
                    )));
                }
                Err(err) => return Err(err.into()),
            }
        }
        if let Some(user_id) = &event.user_id {
            match backend.load_user(&project, user_id) {
                Ok(_) => {}
                Err(StoreError::NotFound { .. }) => {
                    return Err(ApiError::invalid(format!(
                        "invalid field `userId`: user `{user_id}` not found in the project. Send the user id (not a login id) of an existing user, or leave `userId` out"
                    )));
                }
                Err(err) => return Err(err.into()),
            }
        }
        backend.record_audit(
            &project,
            NewAuditEvent {
                action: event.action,
                audit_type: event.audit_type,
                actor_id: event.actor_id,
                user_id: event.user_id,
                tenants: event.tenant_id.into_iter().collect(),
                remote_address,
                data: event.data,
            },
        )?;
        Ok(())
    })
    .await?;
    Ok(Json(json!({})))
}
