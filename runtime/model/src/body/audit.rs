//! Bodies of the audit calls, with Descope's field names.
//!
//! They follow `descope/management/audit.py` of Descope's Python SDK
//! 2.16.1. Fields that Sluice does not know are ignored, and every optional
//! field accepts both absent and `null`.

use serde::Deserialize;
use serde_json::{Map, Number, Value};

use crate::error::BodyError;
use crate::json::json_type_name;
use crate::identity::{AuditQuery, AuditType, MAX_AUDIT_ACTION_LEN};

/// Prefix of the actor ids of events that flow runs record
/// (`flow:<flow id>:<run id>`). API clients may not use it, so such events
/// always come from a run.
pub const FLOW_ACTOR_PREFIX: &str = "flow:";

/// Search filters as the Python SDK's `search` sends them. It always sends
/// `noTenants`, and the other filters only when the caller set them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchBody {
    /// Only events about one of these users.
    pub user_ids: Option<Vec<String>>,
    /// Only events with one of these actions.
    pub actions: Option<Vec<String>>,
    /// Only events with none of these actions.
    pub excluded_actions: Option<Vec<String>>,
    /// Only events from one of these devices. Sluice records no device.
    pub devices: Option<Vec<String>>,
    /// Only events of one of these methods. Sluice records no method.
    pub methods: Option<Vec<String>>,
    /// Only events from one of these countries. Sluice records no country.
    pub geos: Option<Vec<String>>,
    /// Only events from one of these network addresses.
    pub remote_addresses: Option<Vec<String>>,
    /// Login ids; the SDK's `login_ids` argument is sent under this name.
    pub external_ids: Option<Vec<String>>,
    /// Only events about one of these tenants.
    pub tenants: Option<Vec<String>>,
    /// Only events about no tenant.
    pub no_tenants: Option<bool>,
    /// Only events with this text in one of their fields.
    pub text: Option<String>,
    /// Milliseconds since the Unix epoch. Descope's Python SDK 2.16.1 sends
    /// a whole number, but earlier releases send a float such as
    /// `1733000000000.0`, so any JSON number is accepted.
    pub from: Option<Number>,
    /// Milliseconds since the Unix epoch, as `from`.
    pub to: Option<Number>,
    /// Page number, from 0.
    pub page: Option<u32>,
    /// Events per page. 0 takes the default.
    pub limit: Option<u32>,
}

/// Rounding direction of a fractional time bound.
#[derive(Debug, Clone, Copy)]
pub enum Rounding {
    /// Up, for a lower bound: `from` 1000.5 lets events at 1001 ms through.
    Up,
    /// Down, for an upper bound: `to` 1000.5 lets events at 1000 ms through.
    Down,
}

/// Converts a time bound to whole milliseconds, rounding a fraction so the
/// bound keeps the same events. Values beyond the range of `i64` are
/// clamped to it, which keeps them beyond every recorded time.
pub fn millis(value: &Number, rounding: Rounding) -> i64 {
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
    /// Returns the store query of these filters, with the time bounds in
    /// whole milliseconds.
    pub fn into_query(self) -> AuditQuery {
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

/// Body of a custom audit event as the Python SDK's `create_event` sends
/// it: `userId` and `data` only when the caller set them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    /// Event name, such as `InvoicePaid`.
    pub action: Option<String>,
    /// `info`, `warn` or `error`.
    #[serde(rename = "type")]
    pub audit_type: Option<String>,
    /// Id of the actor that caused the event, such as a user id or a
    /// service name.
    pub actor_id: Option<String>,
    /// Tenant the event is about.
    pub tenant_id: Option<String>,
    /// User id of the user the event is about.
    pub user_id: Option<String>,
    /// Details of the event: a JSON object.
    pub data: Option<Value>,
}

/// A checked custom event, before the store checks its tenant and user.
#[derive(Debug)]
pub struct CustomEvent {
    /// Event name, trimmed.
    pub action: String,
    /// Severity.
    pub audit_type: AuditType,
    /// Id of the actor that caused the event.
    pub actor_id: String,
    /// Tenant the event is about, when not empty.
    pub tenant_id: Option<String>,
    /// User the event is about, when not empty.
    pub user_id: Option<String>,
    /// Details of the event.
    pub data: Map<String, Value>,
}

impl EventBody {
    /// Checks every field that does not need the store, in body order.
    ///
    /// # Errors
    ///
    /// [`BodyError::Missing`] for an absent action, type or actor, and
    /// [`BodyError::Invalid`] for a value the call does not allow.
    pub fn check(self) -> Result<CustomEvent, BodyError> {
        let action = self.action.unwrap_or_default();
        let action = action.trim();
        if action.is_empty() {
            return Err(BodyError::missing_with_hint("action", "send the event name, such as `InvoicePaid`"));
        }
        if action.len() > MAX_AUDIT_ACTION_LEN {
            return Err(BodyError::Invalid(format!(
                "invalid field `action`: the name is {} bytes long and the maximum is {MAX_AUDIT_ACTION_LEN}. Send a shorter name",
                action.len()
            )));
        }

        let audit_type = match self.audit_type.as_deref() {
            None | Some("") => {
                return Err(BodyError::missing_with_hint("type", "send `info`, `warn` or `error`"));
            }
            Some("info") => AuditType::Info,
            Some("warn") => AuditType::Warn,
            Some("error") => AuditType::Error,
            Some(other) => {
                return Err(BodyError::Invalid(format!(
                    "invalid field `type`: expected `info`, `warn` or `error`, got `{other}`"
                )));
            }
        };

        let actor_id = self.actor_id.filter(|id| !id.is_empty()).ok_or_else(|| {
            BodyError::missing_with_hint("actorId", "send the id of whoever caused the event, such as a user id or a service name")
        })?;
        if actor_id.starts_with(FLOW_ACTOR_PREFIX) {
            return Err(BodyError::Invalid(format!(
                "invalid field `actorId`: `{actor_id}` starts with `{FLOW_ACTOR_PREFIX}`, which marks events recorded by flow runs. Use an actor id without that prefix"
            )));
        }

        let data = match self.data {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(data)) => data,
            Some(other) => {
                return Err(BodyError::Invalid(format!(
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
