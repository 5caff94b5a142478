//! Records that cross the component boundary: users, tenants and audit events.
//!
//! Each type serializes to the camelCase JSON that Descope's management API
//! uses, which is also the shape the host puts into the flow context. Every
//! field has a default when deserializing, so a partial object, such as a
//! context user with only `userId` and `email`, still reads.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON object, used for custom attributes and audit event data.
pub type JsonObject = Map<String, Value>;

/// Lifecycle status of a user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// The user can sign in.
    #[default]
    Enabled,
    /// The user cannot sign in.
    Disabled,
    /// The user was invited and has not signed in yet.
    Invited,
    /// The invitation expired.
    Expired,
}

impl UserStatus {
    /// Every status, in the order the WIT declares them.
    pub const ALL: [UserStatus; 4] = [
        UserStatus::Enabled,
        UserStatus::Disabled,
        UserStatus::Invited,
        UserStatus::Expired,
    ];

    /// Returns the JSON name of the status, such as `enabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Enabled => "enabled",
            UserStatus::Disabled => "disabled",
            UserStatus::Invited => "invited",
            UserStatus::Expired => "expired",
        }
    }
}

impl std::fmt::Display for UserStatus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A user's membership in one tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserTenant {
    /// Id of the tenant.
    pub tenant_id: String,
    /// Display name of the tenant, empty when the tenant has none.
    pub tenant_name: String,
    /// Roles the user holds inside this tenant.
    pub role_names: Vec<String>,
}

impl UserTenant {
    /// Creates a membership in `tenant_id` with the given roles. The host
    /// fills in the tenant name.
    pub fn new(tenant_id: impl Into<String>, role_names: Vec<String>) -> Self {
        UserTenant {
            tenant_id: tenant_id.into(),
            tenant_name: String::new(),
            role_names,
        }
    }
}

/// A user of the project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    /// Identifier assigned by the host when the user was created.
    pub user_id: String,
    /// Login ids (email, phone or any unique name). The first entry is the
    /// primary login id.
    pub login_ids: Vec<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone number in E.164 form.
    pub phone: Option<String>,
    /// Full display name.
    pub name: Option<String>,
    /// Given (first) name.
    pub given_name: Option<String>,
    /// Family (last) name.
    pub family_name: Option<String>,
    /// Lifecycle status.
    pub status: UserStatus,
    /// Whether the email address was verified.
    pub verified_email: bool,
    /// Whether the phone number was verified.
    pub verified_phone: bool,
    /// Project-level roles.
    pub role_names: Vec<String>,
    /// Tenant memberships with their roles.
    pub user_tenants: Vec<UserTenant>,
    /// Custom attributes.
    pub custom_attributes: JsonObject,
    /// Creation time in seconds since the Unix epoch.
    pub created_time: u64,
}

impl User {
    /// Returns the primary login id, the first entry of `login_ids`.
    pub fn login_id(&self) -> Option<&str> {
        self.login_ids.first().map(String::as_str)
    }

    /// Returns the user's membership in `tenant_id`, if any.
    pub fn tenant(&self, tenant_id: &str) -> Option<&UserTenant> {
        self.user_tenants
            .iter()
            .find(|membership| membership.tenant_id == tenant_id)
    }

    /// Converts the user into the fields of [`NewUser`], for a full replace
    /// with [`users::update`](crate::users::update). Login ids after the first
    /// become additional login ids.
    pub fn to_new_user(&self) -> NewUser {
        let mut login_ids = self.login_ids.iter().cloned();
        NewUser {
            login_id: login_ids.next().unwrap_or_default(),
            additional_login_ids: login_ids.collect(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            name: self.name.clone(),
            given_name: self.given_name.clone(),
            family_name: self.family_name.clone(),
            status: Some(self.status),
            verified_email: self.verified_email,
            verified_phone: self.verified_phone,
            role_names: self.role_names.clone(),
            user_tenants: self.user_tenants.clone(),
            custom_attributes: self.custom_attributes.clone(),
        }
    }
}

/// Fields for a new user. Absent fields stay empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewUser {
    /// Primary login id. Must be unique within the project.
    pub login_id: String,
    /// Extra login ids.
    pub additional_login_ids: Vec<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone number in E.164 form.
    pub phone: Option<String>,
    /// Full display name.
    pub name: Option<String>,
    /// Given (first) name.
    pub given_name: Option<String>,
    /// Family (last) name.
    pub family_name: Option<String>,
    /// Initial status; the host uses `enabled` when absent.
    pub status: Option<UserStatus>,
    /// Whether the email address is already verified.
    pub verified_email: bool,
    /// Whether the phone number is already verified.
    pub verified_phone: bool,
    /// Project-level roles.
    pub role_names: Vec<String>,
    /// Tenant memberships.
    pub user_tenants: Vec<UserTenant>,
    /// Custom attributes.
    pub custom_attributes: JsonObject,
}

impl NewUser {
    /// Creates a new user with only a primary login id.
    pub fn new(login_id: impl Into<String>) -> Self {
        NewUser {
            login_id: login_id.into(),
            ..NewUser::default()
        }
    }
}

/// A partial change to a user. Only the fields that are `Some` change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserPatch {
    /// New email address.
    pub email: Option<String>,
    /// New phone number in E.164 form.
    pub phone: Option<String>,
    /// New full display name.
    pub name: Option<String>,
    /// New given name.
    pub given_name: Option<String>,
    /// New family name.
    pub family_name: Option<String>,
    /// New email verification flag.
    pub verified_email: Option<bool>,
    /// New phone verification flag.
    pub verified_phone: Option<bool>,
    /// Custom attributes to merge into the user's. Keys whose value is
    /// `null` are removed.
    pub custom_attributes: Option<JsonObject>,
}

impl UserPatch {
    /// Returns whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == UserPatch::default()
    }
}

/// Query for a user search. Empty lists match every user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserQuery {
    /// Match users with any of these login ids.
    pub login_ids: Vec<String>,
    /// Match users with any of these statuses.
    pub statuses: Vec<UserStatus>,
    /// Match users that belong to any of these tenants.
    pub tenant_ids: Vec<String>,
    /// Match users that hold any of these roles.
    pub role_names: Vec<String>,
    /// Case-insensitive text matched against login ids, email, phone and name.
    pub text: Option<String>,
    /// Zero-based page number.
    pub page: u32,
    /// Users per page, at most 100; 0 means the default of 100.
    pub limit: u32,
}

/// One page of users found by a search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserPage {
    /// Users on this page.
    pub users: Vec<User>,
    /// Number of users that match the query across all pages.
    pub total: u32,
}

/// A tenant of the project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Tenant {
    /// Tenant id, unique within the project. Empty in
    /// [`tenants::create`](crate::tenants::create) asks the host to generate one.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email domains whose users may join the tenant by themselves.
    pub self_provisioning_domains: Vec<String>,
    /// Custom attributes.
    pub custom_attributes: JsonObject,
}

impl Tenant {
    /// Creates a tenant with an id and a name and nothing else.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Tenant {
            id: id.into(),
            name: name.into(),
            ..Tenant::default()
        }
    }
}

/// Severity of an audit event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditType {
    /// Normal activity.
    #[default]
    Info,
    /// Activity worth a look.
    Warn,
    /// A failure.
    Error,
}

impl AuditType {
    /// Returns the JSON name of the severity, such as `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditType::Info => "info",
            AuditType::Warn => "warn",
            AuditType::Error => "error",
        }
    }
}

/// A recorded audit event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuditEvent {
    /// Identifier assigned by the host.
    pub id: String,
    /// Event name, for example `UserCreated` or a custom action name.
    pub action: String,
    /// Severity.
    #[serde(rename = "type")]
    pub audit_type: AuditType,
    /// Time of the event in milliseconds since the Unix epoch.
    pub occurred: u64,
    /// Who caused the event: a user id, a management key id, or a flow run.
    pub actor_id: String,
    /// The user the event is about, if any.
    pub user_id: Option<String>,
    /// Tenants the event is about.
    pub tenants: Vec<String>,
    /// Network address of the caller, if known.
    pub remote_address: Option<String>,
    /// Event details.
    pub data: JsonObject,
}

/// A new audit event emitted by a component.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewAuditEvent {
    /// Event name.
    pub action: String,
    /// Severity.
    #[serde(rename = "type")]
    pub audit_type: AuditType,
    /// The user the event is about, if any.
    pub user_id: Option<String>,
    /// Tenants the event is about.
    pub tenants: Vec<String>,
    /// Event details.
    pub data: JsonObject,
}

impl NewAuditEvent {
    /// Creates an `info` event with only an action name.
    pub fn new(action: impl Into<String>) -> Self {
        NewAuditEvent {
            action: action.into(),
            ..NewAuditEvent::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_serializes_descope_field_names() {
        let user = User {
            user_id: "U1".into(),
            login_ids: vec!["ada@example.com".into()],
            email: Some("ada@example.com".into()),
            given_name: Some("Ada".into()),
            user_tenants: vec![UserTenant::new("t1", vec!["admin".into()])],
            ..User::default()
        };
        let value = serde_json::to_value(&user).expect("user serializes");

        assert_eq!(value["userId"], "U1");
        assert_eq!(value["loginIds"], json!(["ada@example.com"]));
        assert_eq!(value["givenName"], "Ada");
        assert_eq!(value["status"], "enabled");
        assert_eq!(value["verifiedEmail"], false);
        assert_eq!(value["userTenants"][0]["tenantId"], "t1");
        assert_eq!(value["userTenants"][0]["roleNames"], json!(["admin"]));
        assert_eq!(value["customAttributes"], json!({}));
        assert_eq!(value["createdTime"], 0);
    }

    #[test]
    fn partial_user_deserializes() {
        let user: User = serde_json::from_value(json!({"userId": "U1", "status": "disabled"}))
            .expect("partial user reads");

        assert_eq!(user.user_id, "U1");
        assert_eq!(user.status, UserStatus::Disabled);
        assert!(user.login_ids.is_empty());
    }

    #[test]
    fn audit_event_uses_type_key() {
        let event = NewAuditEvent {
            audit_type: AuditType::Warn,
            ..NewAuditEvent::new("Checked")
        };
        let value = serde_json::to_value(&event).expect("event serializes");

        assert_eq!(value["type"], "warn");
        assert_eq!(value["action"], "Checked");
    }

    #[test]
    fn user_to_new_user_splits_login_ids() {
        let user = User {
            login_ids: vec!["a".into(), "b".into(), "c".into()],
            status: UserStatus::Invited,
            ..User::default()
        };
        let new_user = user.to_new_user();

        assert_eq!(new_user.login_id, "a");
        assert_eq!(new_user.additional_login_ids, vec!["b", "c"]);
        assert_eq!(new_user.status, Some(UserStatus::Invited));
    }
}
