//! Conversions between the WIT records and the host's model types.

use serde_json::{Map, Value};
use sluice_model::json::json_type_name;

use crate::engine::bindings::types as wit;
use crate::model;
use crate::store::StoreError;

/// Parses a JSON object passed by a guest; an empty string is an empty object.
pub(crate) fn parse_object(json: &str, what: &str) -> Result<Map<String, Value>, wit::StepError> {
    if json.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(wit::StepError::InvalidConfig(format!(
            "{what} must be a JSON object, got {}",
            json_type_name(&other)
        ))),
        Err(err) => Err(wit::StepError::InvalidConfig(format!(
            "{what} is not valid JSON: {err}"
        ))),
    }
}

pub(crate) fn object_to_json(map: &Map<String, Value>) -> String {
    // Serializing a map of JSON values cannot fail.
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_owned())
}

impl From<StoreError> for wit::StepError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { .. } => Self::NotFound(err.to_string()),
            StoreError::Conflict(message) | StoreError::Invalid(message) => {
                Self::InvalidConfig(message)
            }
            StoreError::Backend(_) => Self::Internal(err.to_string()),
        }
    }
}

impl From<wit::UserStatus> for model::UserStatus {
    fn from(status: wit::UserStatus) -> Self {
        match status {
            wit::UserStatus::Enabled => Self::Enabled,
            wit::UserStatus::Disabled => Self::Disabled,
            wit::UserStatus::Invited => Self::Invited,
            wit::UserStatus::Expired => Self::Expired,
        }
    }
}

impl From<model::UserStatus> for wit::UserStatus {
    fn from(status: model::UserStatus) -> Self {
        match status {
            model::UserStatus::Enabled => Self::Enabled,
            model::UserStatus::Disabled => Self::Disabled,
            model::UserStatus::Invited => Self::Invited,
            model::UserStatus::Expired => Self::Expired,
        }
    }
}

impl From<wit::UserTenant> for model::UserTenant {
    fn from(t: wit::UserTenant) -> Self {
        Self {
            tenant_id: t.tenant_id,
            tenant_name: t.tenant_name,
            role_names: t.role_names,
        }
    }
}

impl From<model::UserTenant> for wit::UserTenant {
    fn from(t: model::UserTenant) -> Self {
        Self {
            tenant_id: t.tenant_id,
            tenant_name: t.tenant_name,
            role_names: t.role_names,
        }
    }
}

impl From<model::User> for wit::User {
    fn from(u: model::User) -> Self {
        Self {
            custom_attributes: object_to_json(&u.custom_attributes),
            user_id: u.user_id,
            login_ids: u.login_ids,
            email: u.email,
            phone: u.phone,
            name: u.name,
            given_name: u.given_name,
            family_name: u.family_name,
            status: u.status.into(),
            verified_email: u.verified_email,
            verified_phone: u.verified_phone,
            role_names: u.role_names,
            user_tenants: u.user_tenants.into_iter().map(Into::into).collect(),
            created_time: u.created_time,
        }
    }
}

/// Converts a user returned by a guest into the model, for the flow context.
pub(crate) fn user_from_wit(u: wit::User) -> Result<model::User, String> {
    let custom_attributes = parse_object(&u.custom_attributes, "user.customAttributes")
        .map_err(|err| format!("{err:?}"))?;
    Ok(model::User {
        user_id: u.user_id,
        login_ids: u.login_ids,
        email: u.email,
        phone: u.phone,
        name: u.name,
        given_name: u.given_name,
        family_name: u.family_name,
        status: u.status.into(),
        verified_email: u.verified_email,
        verified_phone: u.verified_phone,
        role_names: u.role_names,
        user_tenants: u.user_tenants.into_iter().map(Into::into).collect(),
        custom_attributes,
        created_time: u.created_time,
    })
}

pub(crate) fn new_user_from_wit(u: wit::NewUser) -> Result<model::NewUser, wit::StepError> {
    Ok(model::NewUser {
        custom_attributes: parse_object(&u.custom_attributes, "customAttributes")?,
        login_id: u.login_id,
        additional_login_ids: u.additional_login_ids,
        email: u.email,
        phone: u.phone,
        name: u.name,
        given_name: u.given_name,
        family_name: u.family_name,
        status: u.status.map(Into::into),
        verified_email: u.verified_email,
        verified_phone: u.verified_phone,
        role_names: u.role_names,
        user_tenants: u.user_tenants.into_iter().map(Into::into).collect(),
    })
}

pub(crate) fn user_query_from_wit(q: wit::UserQuery) -> model::UserQuery {
    model::UserQuery {
        login_ids: q.login_ids,
        statuses: q.statuses.into_iter().map(Into::into).collect(),
        tenant_ids: q.tenant_ids,
        role_names: q.role_names,
        text: q.text,
        page: q.page,
        limit: q.limit,
    }
}

impl From<model::Tenant> for wit::Tenant {
    fn from(t: model::Tenant) -> Self {
        Self {
            custom_attributes: object_to_json(&t.custom_attributes),
            id: t.id,
            name: t.name,
            self_provisioning_domains: t.self_provisioning_domains,
        }
    }
}

pub(crate) fn tenant_from_wit(t: wit::Tenant) -> Result<model::Tenant, wit::StepError> {
    Ok(model::Tenant {
        custom_attributes: parse_object(&t.custom_attributes, "tenant.customAttributes")?,
        id: t.id,
        name: t.name,
        self_provisioning_domains: t.self_provisioning_domains,
    })
}

impl From<wit::AuditType> for model::AuditType {
    fn from(t: wit::AuditType) -> Self {
        match t {
            wit::AuditType::Info => Self::Info,
            wit::AuditType::Warn => Self::Warn,
            wit::AuditType::Error => Self::Error,
        }
    }
}

impl From<model::AuditType> for wit::AuditType {
    fn from(t: model::AuditType) -> Self {
        match t {
            model::AuditType::Info => Self::Info,
            model::AuditType::Warn => Self::Warn,
            model::AuditType::Error => Self::Error,
        }
    }
}

impl From<model::AuditEvent> for wit::AuditEvent {
    fn from(e: model::AuditEvent) -> Self {
        Self {
            data: object_to_json(&e.data),
            id: e.id,
            action: e.action,
            type_: e.audit_type.into(),
            occurred: e.occurred,
            actor_id: e.actor_id,
            user_id: e.user_id,
            tenants: e.tenants,
            remote_address: e.remote_address,
        }
    }
}
