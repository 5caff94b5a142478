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
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value, json};

use super::auth::Caller;
use super::error::ApiError;
use super::json::ApiJson;
use super::{AppState, blocking};
use crate::model::{AuditEvent, AuditQuery, AuditType, MAX_AUDIT_ACTION_LEN, NewAuditEvent};
use crate::store::StoreError;

/// Prefix of the actor ids of events that flow runs record
/// (`flow:<flow id>:<run id>`). API clients may not use it, so such events
/// always come from a run.
const FLOW_ACTOR_PREFIX: &str = "flow:";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/mgmt/audit/search", post(search_audit))
        .route("/v1/mgmt/audit/event", post(create_event))
}

/// Search filters as the Python SDK's `search` sends them. It always sends
/// `noTenants`, and the other filters only when the caller set them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchBody {
    user_ids: Option<Vec<String>>,
    actions: Option<Vec<String>>,
    excluded_actions: Option<Vec<String>>,
    devices: Option<Vec<String>>,
    methods: Option<Vec<String>>,
    geos: Option<Vec<String>>,
    remote_addresses: Option<Vec<String>>,
    /// Login ids; the SDK's `login_ids` argument is sent under this name.
    external_ids: Option<Vec<String>>,
    tenants: Option<Vec<String>>,
    no_tenants: Option<bool>,
    text: Option<String>,
    /// Milliseconds since the Unix epoch. Descope's Python SDK 2.16.1 sends
    /// a whole number, but earlier releases send a float such as
    /// `1733000000000.0`, so any JSON number is accepted.
    from: Option<Number>,
    /// Milliseconds since the Unix epoch, as `from`.
    to: Option<Number>,
    page: Option<u32>,
    limit: Option<u32>,
}

/// Rounding direction of a fractional time bound.
#[derive(Debug, Clone, Copy)]
enum Rounding {
    /// Up, for a lower bound: `from` 1000.5 lets events at 1001 ms through.
    Up,
    /// Down, for an upper bound: `to` 1000.5 lets events at 1000 ms through.
    Down,
}

/// Converts a time bound to whole milliseconds, rounding a fraction so the
/// bound keeps the same events. Values beyond the range of `i64` are
/// clamped to it, which keeps them beyond every recorded time.
fn millis(value: &Number, rounding: Rounding) -> i64 {
    if let Some(whole) = value.as_i64() {
        return whole;
    }
    if value.as_u64().is_some() {
        return i64::MAX;
    }
    let float = value.as_f64().unwrap_or_default();
    let rounded = match rounding {
        Rounding::Up => float.ceil(),
        Rounding::Down => float.floor(),
    };
    // `as` saturates at the ends of the `i64` range.
    rounded as i64
}

impl SearchBody {
    fn into_query(self) -> AuditQuery {
        AuditQuery {
            user_ids: self.user_ids.unwrap_or_default(),
            actions: self.actions.unwrap_or_default(),
            excluded_actions: self.excluded_actions.unwrap_or_default(),
            devices: self.devices.unwrap_or_default(),
            methods: self.methods.unwrap_or_default(),
            geos: self.geos.unwrap_or_default(),
            remote_addresses: self.remote_addresses.unwrap_or_default(),
            external_ids: self.external_ids.unwrap_or_default(),
            tenants: self.tenants.unwrap_or_default(),
            no_tenants: self.no_tenants.unwrap_or(false),
            text: self.text,
            from: self.from.as_ref().map(|from| millis(from, Rounding::Up)),
            to: self.to.as_ref().map(|to| millis(to, Rounding::Down)),
            page: self.page.unwrap_or(0),
            limit: self.limit.unwrap_or(0),
        }
    }
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

/// Body of a custom audit event as the Python SDK's `create_event` sends
/// it: `userId` and `data` only when the caller set them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventBody {
    action: Option<String>,
    #[serde(rename = "type")]
    audit_type: Option<String>,
    actor_id: Option<String>,
    tenant_id: Option<String>,
    user_id: Option<String>,
    data: Option<Value>,
}

/// A checked custom event, before the store checks its tenant and user.
#[derive(Debug)]
struct CustomEvent {
    action: String,
    audit_type: AuditType,
    actor_id: String,
    tenant_id: Option<String>,
    user_id: Option<String>,
    data: Map<String, Value>,
}

impl EventBody {
    /// Checks every field that does not need the store, in body order.
    fn check(self) -> Result<CustomEvent, ApiError> {
        let action = self.action.unwrap_or_default();
        let action = action.trim();
        if action.is_empty() {
            return Err(ApiError::missing_with_hint("action", "send the event name, such as `InvoicePaid`"));
        }
        if action.len() > MAX_AUDIT_ACTION_LEN {
            return Err(ApiError::invalid(format!(
                "invalid field `action`: the name is {} bytes long and the maximum is {MAX_AUDIT_ACTION_LEN}. Send a shorter name",
                action.len()
            )));
        }

        let audit_type = match self.audit_type.as_deref() {
            None | Some("") => {
                return Err(ApiError::missing_with_hint("type", "send `info`, `warn` or `error`"));
            }
            Some("info") => AuditType::Info,
            Some("warn") => AuditType::Warn,
            Some("error") => AuditType::Error,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "invalid field `type`: expected `info`, `warn` or `error`, got `{other}`"
                )));
            }
        };

        let actor_id = self.actor_id.filter(|id| !id.is_empty()).ok_or_else(|| {
            ApiError::missing_with_hint("actorId", "send the id of whoever caused the event, such as a user id or a service name")
        })?;
        if actor_id.starts_with(FLOW_ACTOR_PREFIX) {
            return Err(ApiError::invalid(format!(
                "invalid field `actorId`: `{actor_id}` starts with `{FLOW_ACTOR_PREFIX}`, which marks events recorded by flow runs. Use an actor id without that prefix"
            )));
        }

        let data = match self.data {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(data)) => data,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "invalid field `data`: expected a JSON object, got {}",
                    json_type_name(&other)
                )));
            }
        };

        Ok(CustomEvent {
            action: action.to_owned(),
            audit_type,
            actor_id,
            tenant_id: self.tenant_id.filter(|id| !id.is_empty()),
            user_id: self.user_id.filter(|id| !id.is_empty()),
            data,
        })
    }
}

/// Returns the JSON type of `value` with an article, for messages.
fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
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
