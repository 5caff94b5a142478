//! Identity records as the host stores them and as the API returns them.
//!
//! Field names follow Descope's management API (camelCase JSON), so the same
//! types serve the store, the flow context (`user.*`, `tenant.*`,
//! `triggeringEvent.*`) and the HTTP responses.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Lifecycle status of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
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
    /// Returns the status name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::Invited => "invited",
            Self::Expired => "expired",
        }
    }
}

/// A user's membership in one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserTenant {
    /// Id of the tenant.
    pub tenant_id: String,
    /// Display name of the tenant.
    #[serde(default)]
    pub tenant_name: String,
    /// Roles inside the tenant.
    #[serde(default)]
    pub role_names: Vec<String>,
}

/// A user of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Identifier assigned at creation.
    pub user_id: String,
    /// Login ids; the first is the primary one.
    pub login_ids: Vec<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Full display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub family_name: Option<String>,
    /// Lifecycle status.
    #[serde(default)]
    pub status: UserStatus,
    /// Whether the email address was verified.
    #[serde(default)]
    pub verified_email: bool,
    /// Whether the phone number was verified.
    #[serde(default)]
    pub verified_phone: bool,
    /// Project-level roles.
    #[serde(default)]
    pub role_names: Vec<String>,
    /// Tenant memberships.
    #[serde(default)]
    pub user_tenants: Vec<UserTenant>,
    /// Custom attributes.
    #[serde(default)]
    pub custom_attributes: Map<String, Value>,
    /// Creation time in seconds since the Unix epoch.
    #[serde(default)]
    pub created_time: u64,
}

/// Fields of a new user, or the full replacement of an existing one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    /// Primary login id, unique within the project.
    pub login_id: String,
    /// Extra login ids.
    #[serde(default)]
    pub additional_login_ids: Vec<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Full display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub family_name: Option<String>,
    /// Initial status; enabled when absent.
    #[serde(default)]
    pub status: Option<UserStatus>,
    /// Whether the email address is verified.
    #[serde(default)]
    pub verified_email: bool,
    /// Whether the phone number is verified.
    #[serde(default)]
    pub verified_phone: bool,
    /// Project-level roles.
    #[serde(default)]
    pub role_names: Vec<String>,
    /// Tenant memberships.
    #[serde(default)]
    pub user_tenants: Vec<UserTenant>,
    /// Custom attributes.
    #[serde(default)]
    pub custom_attributes: Map<String, Value>,
}

impl NewUser {
    /// Returns every login id of the new user, primary first.
    pub fn login_ids(&self) -> Vec<String> {
        let mut ids = vec![self.login_id.clone()];
        ids.extend(self.additional_login_ids.iter().cloned());
        ids
    }

    /// Builds the stored user with the id and creation time (seconds since
    /// the Unix epoch) the store assigned. A missing status becomes `enabled`.
    pub fn into_user(self, user_id: String, created_time: u64) -> User {
        User {
            user_id,
            login_ids: self.login_ids(),
            email: self.email,
            phone: self.phone,
            name: self.name,
            given_name: self.given_name,
            family_name: self.family_name,
            status: self.status.unwrap_or_default(),
            verified_email: self.verified_email,
            verified_phone: self.verified_phone,
            role_names: self.role_names,
            user_tenants: self.user_tenants,
            custom_attributes: self.custom_attributes,
            created_time,
        }
    }
}

/// Query for a user search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UserQuery {
    /// Match any of these login ids.
    #[serde(default)]
    pub login_ids: Vec<String>,
    /// Match any of these statuses.
    #[serde(default)]
    pub statuses: Vec<UserStatus>,
    /// Match members of any of these tenants.
    #[serde(default)]
    pub tenant_ids: Vec<String>,
    /// Match holders of any of these roles.
    #[serde(default)]
    pub role_names: Vec<String>,
    /// Case-insensitive text matched against login ids, email, phone and name.
    #[serde(default)]
    pub text: Option<String>,
    /// Zero-based page number.
    #[serde(default)]
    pub page: u32,
    /// Users per page; 0 means the default.
    #[serde(default)]
    pub limit: u32,
}

/// Default and maximum page size of a user search.
pub const MAX_PAGE_SIZE: u32 = 100;

impl UserQuery {
    /// Returns whether `user` matches every filter of the query.
    pub fn matches(&self, user: &User) -> bool {
        let login_match = self.login_ids.is_empty()
            || user.login_ids.iter().any(|id| self.login_ids.contains(id));
        let status_match = self.statuses.is_empty() || self.statuses.contains(&user.status);
        let tenant_match = self.tenant_ids.is_empty()
            || user
                .user_tenants
                .iter()
                .any(|t| self.tenant_ids.contains(&t.tenant_id));
        let role_match = self.role_names.is_empty()
            || user.role_names.iter().any(|r| self.role_names.contains(r))
            || user
                .user_tenants
                .iter()
                .flat_map(|t| &t.role_names)
                .any(|r| self.role_names.contains(r));
        let text_match = match &self.text {
            None => true,
            Some(text) if text.is_empty() => true,
            Some(text) => {
                let needle = text.to_lowercase();
                let fields = user
                    .login_ids
                    .iter()
                    .chain(user.email.iter())
                    .chain(user.phone.iter())
                    .chain(user.name.iter());
                fields
                    .into_iter()
                    .any(|field| field.to_lowercase().contains(&needle))
            }
        };
        login_match && status_match && tenant_match && role_match && text_match
    }

    /// Returns the effective page size.
    pub fn page_size(&self) -> u32 {
        if self.limit == 0 {
            MAX_PAGE_SIZE
        } else {
            self.limit.min(MAX_PAGE_SIZE)
        }
    }
}

/// A tenant of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// Tenant id, unique within the project.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email domains whose users may join by themselves.
    #[serde(default)]
    pub self_provisioning_domains: Vec<String>,
    /// Custom attributes.
    #[serde(default)]
    pub custom_attributes: Map<String, Value>,
}

/// Severity of an audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
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

/// A recorded audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// Identifier assigned by the host.
    pub id: String,
    /// Project the event belongs to.
    pub project_id: String,
    /// Event name, for example `UserCreated`.
    pub action: String,
    /// Severity.
    #[serde(rename = "type")]
    pub audit_type: AuditType,
    /// Time of the event in milliseconds since the Unix epoch.
    pub occurred: u64,
    /// Id of the actor that caused the event.
    pub actor_id: String,
    /// The user the event is about.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Login ids of that user at the time of the event.
    #[serde(default)]
    pub external_ids: Vec<String>,
    /// Tenants the event is about.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Network address of the caller.
    #[serde(default)]
    pub remote_address: Option<String>,
    /// Event details.
    #[serde(default)]
    pub data: Map<String, Value>,
}

/// An audit event before the store assigns its id and time.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewAuditEvent {
    /// Event name.
    pub action: String,
    /// Severity.
    pub audit_type: AuditType,
    /// Id of the actor that caused the event.
    pub actor_id: String,
    /// The user the event is about.
    pub user_id: Option<String>,
    /// Tenants the event is about.
    pub tenants: Vec<String>,
    /// Network address of the caller.
    pub remote_address: Option<String>,
    /// Event details.
    pub data: Map<String, Value>,
}

/// Maximum length of an audit action name, in bytes, for events that
/// flows and API clients record.
pub const MAX_AUDIT_ACTION_LEN: usize = 128;

/// Page size of an audit search that gives no limit.
pub const DEFAULT_AUDIT_PAGE_SIZE: u32 = 100;

/// Maximum page size of an audit search. Larger limits are lowered to it.
pub const MAX_AUDIT_PAGE_SIZE: u32 = 1000;

/// Filters and paging of an audit search. Every filter is optional, and an
/// event must pass all the filters that are set. An empty list sets no
/// filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    /// Events about any of these user ids.
    pub user_ids: Vec<String>,
    /// Events with any of these actions.
    pub actions: Vec<String>,
    /// Actions to leave out.
    pub excluded_actions: Vec<String>,
    /// Events from any of these devices. Sluice records no device, so a
    /// non-empty list matches no event.
    pub devices: Vec<String>,
    /// Events of any of these authentication methods. Sluice records no
    /// method, so a non-empty list matches no event.
    pub methods: Vec<String>,
    /// Events from any of these countries. Sluice records no geo, so a
    /// non-empty list matches no event.
    pub geos: Vec<String>,
    /// Events from any of these network addresses.
    pub remote_addresses: Vec<String>,
    /// Events whose user had any of these login ids when the event was
    /// recorded.
    pub external_ids: Vec<String>,
    /// Events about any of these tenants.
    pub tenants: Vec<String>,
    /// Whether events about no tenant pass the `tenants` filter as well.
    /// Without a `tenants` filter every event passes it anyway.
    pub no_tenants: bool,
    /// Text that the action, user id, actor id, an external id, a tenant,
    /// the remote address or the data as JSON text must contain, ignoring
    /// case. Empty text sets no filter.
    pub text: Option<String>,
    /// Earliest time of an event, inclusive, in milliseconds since the Unix
    /// epoch.
    pub from: Option<i64>,
    /// Latest time of an event, inclusive, in milliseconds since the Unix
    /// epoch.
    pub to: Option<i64>,
    /// Zero-based page number.
    pub page: u32,
    /// Events per page: [`DEFAULT_AUDIT_PAGE_SIZE`] when 0, and at most
    /// [`MAX_AUDIT_PAGE_SIZE`].
    pub limit: u32,
}

impl AuditQuery {
    /// Returns whether the query filters on a field that Sluice does not
    /// record (device, method, geo), so that no event can match it.
    pub fn filters_unrecorded_fields(&self) -> bool {
        !self.devices.is_empty() || !self.methods.is_empty() || !self.geos.is_empty()
    }

    /// Returns the text filter in lower case, or `None` when there is none.
    pub fn text_lowercase(&self) -> Option<String> {
        self.text
            .as_deref()
            .filter(|text| !text.is_empty())
            .map(str::to_lowercase)
    }

    /// Returns whether `event` passes every filter of the query.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        let listed = |filter: &[String], value: Option<&String>| filter.is_empty() || value.is_some_and(|v| filter.contains(v));
        let any_listed = |filter: &[String], values: &[String]| filter.is_empty() || values.iter().any(|v| filter.contains(v));

        let tenant_match = any_listed(&self.tenants, &event.tenants) || (self.no_tenants && event.tenants.is_empty());
        let occurred = i64::try_from(event.occurred).unwrap_or(i64::MAX);
        let time_match = self.from.is_none_or(|from| occurred >= from) && self.to.is_none_or(|to| occurred <= to);
        let text_match = self
            .text_lowercase()
            .is_none_or(|needle| audit_text_matches(event, &needle));

        !self.filters_unrecorded_fields()
            && listed(&self.user_ids, event.user_id.as_ref())
            && listed(&self.actions, Some(&event.action))
            && !self.excluded_actions.contains(&event.action)
            && listed(&self.remote_addresses, event.remote_address.as_ref())
            && any_listed(&self.external_ids, &event.external_ids)
            && tenant_match
            && time_match
            && text_match
    }

    /// Returns the effective page size.
    pub fn page_size(&self) -> u32 {
        if self.limit == 0 {
            DEFAULT_AUDIT_PAGE_SIZE
        } else {
            self.limit.min(MAX_AUDIT_PAGE_SIZE)
        }
    }

    /// Returns the number of matching events before the requested page.
    pub fn offset(&self) -> u64 {
        u64::from(self.page) * u64::from(self.page_size())
    }
}

/// Returns whether any text field of `event` contains `needle_lowercase`
/// ignoring case. The data is matched as its compact JSON text, the form
/// both stores keep.
fn audit_text_matches(event: &AuditEvent, needle_lowercase: &str) -> bool {
    let fields = [
        Some(event.action.as_str()),
        event.user_id.as_deref(),
        Some(event.actor_id.as_str()),
        event.remote_address.as_deref(),
    ];
    // serde_json fails only on map keys that are not strings, and these are strings.
    let data = serde_json::to_string(&event.data).unwrap_or_default();
    fields
        .into_iter()
        .flatten()
        .chain(event.external_ids.iter().map(String::as_str))
        .chain(event.tenants.iter().map(String::as_str))
        .chain(std::iter::once(data.as_str()))
        .any(|field| contains_ignoring_case(field, needle_lowercase))
}

/// Returns whether `haystack` contains `needle_lowercase` once both are in
/// lower case (Unicode lower case, as [`str::to_lowercase`] defines it).
/// The SQLite store runs this same function inside its queries, so both
/// stores match text the same way.
pub fn contains_ignoring_case(haystack: &str, needle_lowercase: &str) -> bool {
    haystack.to_lowercase().contains(needle_lowercase)
}
