//! Storage of identity data, scoped by project.
//!
//! [`IdentityStore`] is the one boundary between the host calls (and later
//! the HTTP API) and the storage backend. Every change to a user or a tenant
//! records its audit event in the same operation, so a backend with
//! transactions writes both or neither.

mod memory;
mod oauth;
mod queue;
mod records;
mod sqlite;

pub use memory::MemoryStore;
pub use oauth::{ClientChange, OAuthStore};
pub use queue::{
    AttemptOutcome, NewTriggeredRun, SequencedEvent, TriggerQueue, TriggeredRun, TriggeredState,
};
pub use records::{
    Backend, ComponentStore, ConnectorStore, FlowStore, FlowVersion, ManagementKey, ProjectStore, RunRecord,
    RunStore, StoredConnector,
};
pub use sqlite::SqliteStore;

use crate::model::{AuditEvent, AuditQuery, NewAuditEvent, NewUser, Tenant, User, UserQuery};

/// Failure of a store operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The named object does not exist in the project.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// Kind of object: `user`, `tenant`.
        kind: &'static str,
        /// The id or login id that was looked up.
        id: String,
    },
    /// The change conflicts with existing data, such as a taken login id.
    #[error("{0}")]
    Conflict(String),
    /// The change is invalid, such as an empty login id.
    #[error("{0}")]
    Invalid(String),
    /// The backend failed.
    #[error("store failure: {0}")]
    Backend(String),
}

/// Author of a change, recorded as the audit event's actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Actor id: a management key id, a user id, or `flow:<flow id>:<run id>`.
    pub id: String,
    /// Network address of the caller, when the change came over the network.
    pub remote_address: Option<String>,
}

impl Actor {
    /// Creates an actor with no network address.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            remote_address: None,
        }
    }
}

/// A change to apply to a loaded user inside the store's transaction.
pub type UserChange<'a> = &'a mut dyn FnMut(&mut User) -> Result<(), StoreError>;

/// A change to apply to a loaded tenant inside the store's transaction.
pub type TenantChange<'a> = &'a mut dyn FnMut(&mut Tenant) -> Result<(), StoreError>;

/// Storage of users, tenants, consent and audit events for many projects.
///
/// Methods that change data take the audit action name and the actor, and
/// record the audit event together with the change.
pub trait IdentityStore: Send + Sync {
    /// Loads a user by user id.
    fn load_user(&self, project: &str, user_id: &str) -> Result<User, StoreError>;
    /// Loads a user by any of its login ids.
    fn load_user_by_login_id(&self, project: &str, login_id: &str) -> Result<User, StoreError>;
    /// Creates a user and records `UserCreated`.
    fn create_user(&self, project: &str, user: NewUser, actor: &Actor) -> Result<User, StoreError>;
    /// Loads a user, applies `change` and saves it, recording `audit_action`
    /// unless the change left the user as it was.
    fn modify_user(
        &self,
        project: &str,
        user_id: &str,
        audit_action: &str,
        actor: &Actor,
        change: UserChange<'_>,
    ) -> Result<User, StoreError>;
    /// Deletes a user and records `UserDeleted`.
    fn delete_user(&self, project: &str, user_id: &str, actor: &Actor) -> Result<(), StoreError>;
    /// Returns one page of the users that match `query` and the total count.
    fn search_users(
        &self,
        project: &str,
        query: &UserQuery,
    ) -> Result<(Vec<User>, u32), StoreError>;

    /// Loads a tenant.
    fn load_tenant(&self, project: &str, tenant_id: &str) -> Result<Tenant, StoreError>;
    /// Creates a tenant and records `TenantCreated`. An empty id is replaced
    /// by a generated one.
    fn create_tenant(
        &self,
        project: &str,
        tenant: Tenant,
        actor: &Actor,
    ) -> Result<Tenant, StoreError>;
    /// Loads a tenant, applies `change` and saves it, recording `TenantModified`.
    fn modify_tenant(
        &self,
        project: &str,
        tenant_id: &str,
        actor: &Actor,
        change: TenantChange<'_>,
    ) -> Result<Tenant, StoreError>;
    /// Deletes a tenant, removes it from every user and records `TenantDeleted`.
    fn delete_tenant(
        &self,
        project: &str,
        tenant_id: &str,
        actor: &Actor,
    ) -> Result<(), StoreError>;
    /// Returns every tenant of the project, ordered by id.
    fn list_tenants(&self, project: &str) -> Result<Vec<Tenant>, StoreError>;

    /// Adds `scopes` to the user's consent for `app_id` and returns the
    /// scopes granted afterwards. Records `ConsentGranted`.
    fn grant_consent(
        &self,
        project: &str,
        user_id: &str,
        app_id: &str,
        scopes: &[String],
        actor: &Actor,
    ) -> Result<Vec<String>, StoreError>;
    /// Removes `scopes` (all when empty) and returns the scopes still granted.
    /// Records `ConsentRevoked`.
    fn revoke_consent(
        &self,
        project: &str,
        user_id: &str,
        app_id: &str,
        scopes: &[String],
        actor: &Actor,
    ) -> Result<Vec<String>, StoreError>;

    /// Records an audit event and returns it as stored.
    fn record_audit(&self, project: &str, event: NewAuditEvent) -> Result<AuditEvent, StoreError>;
    /// Returns the audit events of a project, oldest first.
    fn audit_events(&self, project: &str) -> Result<Vec<AuditEvent>, StoreError>;
    /// Returns one page of the audit events that match `query`, newest
    /// (most recently recorded) first, and the number of matching events on
    /// all pages.
    fn search_audit(
        &self,
        project: &str,
        query: &AuditQuery,
    ) -> Result<(Vec<AuditEvent>, u32), StoreError>;
}

/// Returns the current time in milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}
