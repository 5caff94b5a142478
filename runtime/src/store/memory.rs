//! An in-memory [`IdentityStore`] for local runs and tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use serde_json::{Map, Value};

use super::{
    Actor, ClientChange, ComponentStore, ConnectorStore, FlowStore, FlowVersion, IdentityStore, ManagementKey, ProjectStore,
    OAuthStore, RunRecord, RunStore, StoreError, StoredConnector, TenantChange, UserChange, now_millis,
};
use crate::oauth::{McpServer, RegisteredClient};
use crate::model::{
    AuditEvent, AuditQuery, AuditType, NewAuditEvent, NewUser, Tenant, User, UserQuery,
};

/// Identity data of all projects, held in memory behind one lock.
///
/// Each operation takes the lock once, so a change and its audit event are
/// applied together.
#[derive(Debug, Default)]
pub struct MemoryStore {
    projects: Mutex<HashMap<String, ProjectData>>,
    records: Mutex<Records>,
}

/// Projects, keys, flows and runs, for the server traits.
#[derive(Debug, Default)]
struct Records {
    /// Project id to name.
    projects: BTreeMap<String, String>,
    keys: Vec<ManagementKey>,
    /// (project, flow id) to versions, oldest first.
    flows: BTreeMap<(String, String), Vec<FlowVersion>>,
    /// Runs in insertion order.
    runs: Vec<RunRecord>,
    /// (project, instance name) to connector instance.
    connectors: BTreeMap<(String, String), StoredConnector>,
    /// (project, component id, version) to published component.
    components: BTreeMap<(String, String, String), crate::publish::StoredComponent>,
    /// (project, server id) to MCP server.
    mcp_servers: BTreeMap<(String, String), McpServer>,
    /// (project, client id) to registered client.
    mcp_clients: BTreeMap<(String, String), RegisteredClient>,
}

#[derive(Debug, Default)]
struct ProjectData {
    users: BTreeMap<String, User>,
    /// Login id to user id.
    login_ids: HashMap<String, String>,
    tenants: BTreeMap<String, Tenant>,
    /// (user id, app id) to granted scopes.
    consents: HashMap<(String, String), BTreeSet<String>>,
    audit: Vec<AuditEvent>,
}

impl ProjectData {
    fn generate_id(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", uuid::Uuid::new_v4().simple())
    }

    fn user(&self, user_id: &str) -> Result<&User, StoreError> {
        self.users.get(user_id).ok_or_else(|| StoreError::NotFound {
            kind: "user",
            id: user_id.to_owned(),
        })
    }

    fn record(&mut self, project: &str, event: NewAuditEvent) -> AuditEvent {
        let external_ids = event
            .user_id
            .as_deref()
            .and_then(|id| self.users.get(id))
            .map(|user| user.login_ids.clone())
            .unwrap_or_default();
        let stored = AuditEvent {
            id: self.generate_id("A"),
            project_id: project.to_owned(),
            action: event.action,
            audit_type: event.audit_type,
            occurred: now_millis(),
            actor_id: event.actor_id,
            user_id: event.user_id,
            external_ids,
            tenants: event.tenants,
            remote_address: event.remote_address,
            data: event.data,
        };
        self.audit.push(stored.clone());
        stored
    }

    fn record_change(
        &mut self,
        project: &str,
        action: &str,
        actor: &Actor,
        user_id: Option<&str>,
        tenants: Vec<String>,
    ) {
        self.record(
            project,
            NewAuditEvent {
                action: action.to_owned(),
                audit_type: AuditType::Info,
                actor_id: actor.id.clone(),
                user_id: user_id.map(str::to_owned),
                tenants,
                remote_address: actor.remote_address.clone(),
                data: Map::new(),
            },
        );
    }

    /// Checks that every tenant the user belongs to exists and fills in the
    /// tenant names.
    fn resolve_tenants(&self, user: &mut User) -> Result<(), StoreError> {
        for membership in &mut user.user_tenants {
            let tenant =
                self.tenants
                    .get(&membership.tenant_id)
                    .ok_or_else(|| StoreError::NotFound {
                        kind: "tenant",
                        id: membership.tenant_id.clone(),
                    })?;
            membership.tenant_name.clone_from(&tenant.name);
        }
        Ok(())
    }

    /// Checks that the user's login ids are valid and not used by another user.
    fn check_login_ids(&self, user: &User) -> Result<(), StoreError> {
        if user.login_ids.is_empty() {
            return Err(StoreError::Invalid(
                "a user needs at least one login id".to_owned(),
            ));
        }
        for login_id in &user.login_ids {
            if login_id.trim().is_empty() {
                return Err(StoreError::Invalid("login id must not be empty".to_owned()));
            }
            if let Some(owner) = self.login_ids.get(login_id)
                && owner != &user.user_id
            {
                return Err(StoreError::Conflict(format!(
                    "login id `{login_id}` is already used by another user"
                )));
            }
        }
        Ok(())
    }

    fn save_user(&mut self, user: User) {
        if let Some(old) = self.users.get(&user.user_id) {
            for login_id in &old.login_ids {
                self.login_ids.remove(login_id);
            }
        }
        for login_id in &user.login_ids {
            self.login_ids
                .insert(login_id.clone(), user.user_id.clone());
        }
        self.users.insert(user.user_id.clone(), user);
    }
}

impl MemoryStore {
    /// Creates an empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_records<R>(&self, f: impl FnOnce(&mut Records) -> R) -> R {
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut records)
    }

    /// Runs `f` with the records and the project's identity data locked, in
    /// that order, so a client change and its audit event apply together.
    fn with_records_and_project<R>(&self, project: &str, f: impl FnOnce(&mut Records, &mut ProjectData) -> R) -> R {
        self.with_records(|records| self.with_project(project, |data| f(records, data)))
    }

    fn with_project<R>(&self, project: &str, f: impl FnOnce(&mut ProjectData) -> R) -> R {
        let mut projects = self
            .projects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(projects.entry(project.to_owned()).or_default())
    }

    /// Inserts users and tenants as they are, without audit events: for
    /// seeding a store from a fixture. Tenants are inserted first.
    ///
    /// # Errors
    ///
    /// Fails when a user has no login id, shares one with another user, or
    /// belongs to a tenant that is not in the store.
    pub fn seed(
        &self,
        project: &str,
        users: Vec<User>,
        tenants: Vec<Tenant>,
    ) -> Result<(), StoreError> {
        self.with_project(project, |data| {
            for tenant in tenants {
                data.tenants.insert(tenant.id.clone(), tenant);
            }
            for mut user in users {
                if user.user_id.is_empty() {
                    user.user_id = data.generate_id("U");
                }
                if user.created_time == 0 {
                    user.created_time = now_millis() / 1000;
                }
                data.check_login_ids(&user)?;
                data.resolve_tenants(&mut user)?;
                data.save_user(user);
            }
            Ok(())
        })
    }
}

impl IdentityStore for MemoryStore {
    fn load_user(&self, project: &str, user_id: &str) -> Result<User, StoreError> {
        self.with_project(project, |data| data.user(user_id).cloned())
    }

    fn load_user_by_login_id(&self, project: &str, login_id: &str) -> Result<User, StoreError> {
        self.with_project(project, |data| {
            let user_id = data
                .login_ids
                .get(login_id)
                .ok_or_else(|| StoreError::NotFound {
                    kind: "user",
                    id: login_id.to_owned(),
                })?;
            data.user(user_id).cloned()
        })
    }

    fn create_user(&self, project: &str, new: NewUser, actor: &Actor) -> Result<User, StoreError> {
        self.with_project(project, |data| {
            let mut user = new.into_user(data.generate_id("U"), now_millis() / 1000);
            data.check_login_ids(&user)?;
            data.resolve_tenants(&mut user)?;
            let tenants = user
                .user_tenants
                .iter()
                .map(|t| t.tenant_id.clone())
                .collect();
            data.save_user(user.clone());
            data.record_change(project, "UserCreated", actor, Some(&user.user_id), tenants);
            Ok(user)
        })
    }

    fn modify_user(
        &self,
        project: &str,
        user_id: &str,
        audit_action: &str,
        actor: &Actor,
        change: UserChange<'_>,
    ) -> Result<User, StoreError> {
        self.with_project(project, |data| {
            let before = data.user(user_id)?.clone();
            let mut user = before.clone();
            change(&mut user)?;
            user.user_id = before.user_id.clone();
            user.created_time = before.created_time;
            data.check_login_ids(&user)?;
            data.resolve_tenants(&mut user)?;
            if user != before {
                let tenants = user
                    .user_tenants
                    .iter()
                    .map(|t| t.tenant_id.clone())
                    .collect();
                data.save_user(user.clone());
                data.record_change(project, audit_action, actor, Some(user_id), tenants);
            }
            Ok(user)
        })
    }

    fn delete_user(&self, project: &str, user_id: &str, actor: &Actor) -> Result<(), StoreError> {
        self.with_project(project, |data| {
            let user = data.user(user_id)?.clone();
            let tenants = user
                .user_tenants
                .iter()
                .map(|t| t.tenant_id.clone())
                .collect();
            data.record_change(project, "UserDeleted", actor, Some(user_id), tenants);
            for login_id in &user.login_ids {
                data.login_ids.remove(login_id);
            }
            data.users.remove(user_id);
            data.consents.retain(|(user, _), _| user != user_id);
            Ok(())
        })
    }

    fn search_users(
        &self,
        project: &str,
        query: &UserQuery,
    ) -> Result<(Vec<User>, u32), StoreError> {
        self.with_project(project, |data| {
            let matching: Vec<&User> = data.users.values().filter(|u| query.matches(u)).collect();
            let total = u32::try_from(matching.len()).unwrap_or(u32::MAX);
            let size = query.page_size() as usize;
            let page = matching
                .into_iter()
                .skip(size.saturating_mul(query.page as usize))
                .take(size)
                .cloned()
                .collect();
            Ok((page, total))
        })
    }

    fn load_tenant(&self, project: &str, tenant_id: &str) -> Result<Tenant, StoreError> {
        self.with_project(project, |data| {
            data.tenants
                .get(tenant_id)
                .cloned()
                .ok_or_else(|| StoreError::NotFound {
                    kind: "tenant",
                    id: tenant_id.to_owned(),
                })
        })
    }

    fn create_tenant(
        &self,
        project: &str,
        mut tenant: Tenant,
        actor: &Actor,
    ) -> Result<Tenant, StoreError> {
        self.with_project(project, |data| {
            if tenant.id.is_empty() {
                tenant.id = data.generate_id("T");
            }
            if tenant.name.trim().is_empty() {
                return Err(StoreError::Invalid(
                    "tenant name must not be empty".to_owned(),
                ));
            }
            if data.tenants.contains_key(&tenant.id) {
                return Err(StoreError::Conflict(format!(
                    "tenant id `{}` is already used",
                    tenant.id
                )));
            }
            data.tenants.insert(tenant.id.clone(), tenant.clone());
            data.record_change(
                project,
                "TenantCreated",
                actor,
                None,
                vec![tenant.id.clone()],
            );
            Ok(tenant)
        })
    }

    fn modify_tenant(
        &self,
        project: &str,
        tenant_id: &str,
        actor: &Actor,
        change: TenantChange<'_>,
    ) -> Result<Tenant, StoreError> {
        self.with_project(project, |data| {
            let before =
                data.tenants
                    .get(tenant_id)
                    .cloned()
                    .ok_or_else(|| StoreError::NotFound {
                        kind: "tenant",
                        id: tenant_id.to_owned(),
                    })?;
            let mut tenant = before.clone();
            change(&mut tenant)?;
            tenant.id = before.id.clone();
            if tenant.name.trim().is_empty() {
                return Err(StoreError::Invalid(
                    "tenant name must not be empty".to_owned(),
                ));
            }
            if tenant != before {
                if tenant.name != before.name {
                    for user in data.users.values_mut() {
                        for membership in &mut user.user_tenants {
                            if membership.tenant_id == tenant.id {
                                membership.tenant_name.clone_from(&tenant.name);
                            }
                        }
                    }
                }
                data.tenants.insert(tenant.id.clone(), tenant.clone());
                data.record_change(
                    project,
                    "TenantModified",
                    actor,
                    None,
                    vec![tenant.id.clone()],
                );
            }
            Ok(tenant)
        })
    }

    fn delete_tenant(
        &self,
        project: &str,
        tenant_id: &str,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        self.with_project(project, |data| {
            if data.tenants.remove(tenant_id).is_none() {
                return Err(StoreError::NotFound {
                    kind: "tenant",
                    id: tenant_id.to_owned(),
                });
            }
            for user in data.users.values_mut() {
                user.user_tenants.retain(|t| t.tenant_id != tenant_id);
            }
            data.record_change(
                project,
                "TenantDeleted",
                actor,
                None,
                vec![tenant_id.to_owned()],
            );
            Ok(())
        })
    }

    fn list_tenants(&self, project: &str) -> Result<Vec<Tenant>, StoreError> {
        self.with_project(project, |data| Ok(data.tenants.values().cloned().collect()))
    }

    fn grant_consent(
        &self,
        project: &str,
        user_id: &str,
        app_id: &str,
        scopes: &[String],
        actor: &Actor,
    ) -> Result<Vec<String>, StoreError> {
        self.with_project(project, |data| {
            data.user(user_id)?;
            if app_id.trim().is_empty() {
                return Err(StoreError::Invalid("app id must not be empty".to_owned()));
            }
            let granted = data
                .consents
                .entry((user_id.to_owned(), app_id.to_owned()))
                .or_default();
            granted.extend(scopes.iter().cloned());
            let result: Vec<String> = granted.iter().cloned().collect();
            let mut event = consent_event("ConsentGranted", actor, user_id, app_id, scopes);
            event
                .data
                .insert("granted".to_owned(), Value::from(result.clone()));
            data.record(project, event);
            Ok(result)
        })
    }

    fn revoke_consent(
        &self,
        project: &str,
        user_id: &str,
        app_id: &str,
        scopes: &[String],
        actor: &Actor,
    ) -> Result<Vec<String>, StoreError> {
        self.with_project(project, |data| {
            data.user(user_id)?;
            let key = (user_id.to_owned(), app_id.to_owned());
            let remaining: Vec<String> = match data.consents.get_mut(&key) {
                Some(granted) if !scopes.is_empty() => {
                    for scope in scopes {
                        granted.remove(scope);
                    }
                    granted.iter().cloned().collect()
                }
                _ => Vec::new(),
            };
            if remaining.is_empty() {
                data.consents.remove(&key);
            }
            let mut event = consent_event("ConsentRevoked", actor, user_id, app_id, scopes);
            event
                .data
                .insert("granted".to_owned(), Value::from(remaining.clone()));
            data.record(project, event);
            Ok(remaining)
        })
    }

    fn record_audit(&self, project: &str, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        if event.action.trim().is_empty() {
            return Err(StoreError::Invalid(
                "audit action must not be empty".to_owned(),
            ));
        }
        Ok(self.with_project(project, |data| data.record(project, event)))
    }

    fn audit_events(&self, project: &str) -> Result<Vec<AuditEvent>, StoreError> {
        self.with_project(project, |data| Ok(data.audit.clone()))
    }

    fn search_audit(
        &self,
        project: &str,
        query: &AuditQuery,
    ) -> Result<(Vec<AuditEvent>, u32), StoreError> {
        self.with_project(project, |data| {
            let matching: Vec<&AuditEvent> = data
                .audit
                .iter()
                .rev()
                .filter(|event| query.matches(event))
                .collect();
            let total = u32::try_from(matching.len()).unwrap_or(u32::MAX);
            let page = matching
                .into_iter()
                .skip(usize::try_from(query.offset()).unwrap_or(usize::MAX))
                .take(query.page_size() as usize)
                .cloned()
                .collect();
            Ok((page, total))
        })
    }
}

fn consent_event(
    action: &str,
    actor: &Actor,
    user_id: &str,
    app_id: &str,
    scopes: &[String],
) -> NewAuditEvent {
    let mut data = Map::new();
    data.insert("appId".to_owned(), Value::from(app_id));
    data.insert("scopes".to_owned(), Value::from(scopes.to_vec()));
    NewAuditEvent {
        action: action.to_owned(),
        audit_type: AuditType::Info,
        actor_id: actor.id.clone(),
        user_id: Some(user_id.to_owned()),
        tenants: Vec::new(),
        remote_address: actor.remote_address.clone(),
        data,
    }
}

impl ProjectStore for MemoryStore {
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.with_records(|records| records.projects.is_empty()))
    }

    fn create_project(&self, project: &str, name: &str) -> Result<(), StoreError> {
        self.with_records(|records| {
            if records.projects.contains_key(project) {
                return Err(StoreError::Conflict(format!(
                    "project `{project}` already exists"
                )));
            }
            records.projects.insert(project.to_owned(), name.to_owned());
            Ok(())
        })
    }

    fn projects(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.with_records(|records| records.projects.keys().cloned().collect()))
    }

    fn project_exists(&self, project: &str) -> Result<bool, StoreError> {
        Ok(self.with_records(|records| records.projects.contains_key(project)))
    }

    fn add_key(&self, key: &ManagementKey) -> Result<(), StoreError> {
        self.with_records(|records| {
            if !records.projects.contains_key(&key.project) {
                return Err(StoreError::NotFound {
                    kind: "project",
                    id: key.project.clone(),
                });
            }
            records.keys.push(key.clone());
            Ok(())
        })
    }

    fn keys(&self, project: &str) -> Result<Vec<ManagementKey>, StoreError> {
        Ok(self.with_records(|records| {
            records
                .keys
                .iter()
                .filter(|k| k.project == project)
                .cloned()
                .collect()
        }))
    }
}

impl FlowStore for MemoryStore {
    fn deploy_flow(
        &self,
        project: &str,
        flow_id: &str,
        document: &Value,
    ) -> Result<FlowVersion, StoreError> {
        self.with_records(|records| {
            let versions = records
                .flows
                .entry((project.to_owned(), flow_id.to_owned()))
                .or_default();
            for version in versions.iter_mut() {
                version.active = false;
            }
            let deployed = FlowVersion {
                flow_id: flow_id.to_owned(),
                version: versions.last().map_or(1, |v| v.version + 1),
                document: document.clone(),
                active: true,
                created: now_millis() / 1000,
            };
            versions.push(deployed.clone());
            Ok(deployed)
        })
    }

    fn active_flow(&self, project: &str, flow_id: &str) -> Result<Option<FlowVersion>, StoreError> {
        Ok(self.with_records(|records| {
            records
                .flows
                .get(&(project.to_owned(), flow_id.to_owned()))
                .and_then(|versions| versions.iter().find(|v| v.active).cloned())
        }))
    }

    fn active_flows(&self, project: &str) -> Result<Vec<FlowVersion>, StoreError> {
        Ok(self.with_records(|records| {
            records
                .flows
                .iter()
                .filter(|((p, _), _)| p == project)
                .filter_map(|(_, versions)| versions.iter().find(|v| v.active).cloned())
                .collect()
        }))
    }

    fn flow_versions(&self, project: &str, flow_id: &str) -> Result<Vec<FlowVersion>, StoreError> {
        Ok(self.with_records(|records| {
            records
                .flows
                .get(&(project.to_owned(), flow_id.to_owned()))
                .cloned()
                .unwrap_or_default()
        }))
    }

    fn activate_flow_version(
        &self,
        project: &str,
        flow_id: &str,
        version: u32,
    ) -> Result<FlowVersion, StoreError> {
        self.with_records(|records| {
            let not_found = || StoreError::NotFound {
                kind: "flow version",
                id: format!("{flow_id}@{version}"),
            };
            let versions = records
                .flows
                .get_mut(&(project.to_owned(), flow_id.to_owned()))
                .ok_or_else(not_found)?;
            if !versions.iter().any(|v| v.version == version) {
                return Err(not_found());
            }
            let mut activated = None;
            for candidate in versions.iter_mut() {
                candidate.active = candidate.version == version;
                if candidate.active {
                    activated = Some(candidate.clone());
                }
            }
            activated.ok_or_else(not_found)
        })
    }

    fn delete_flow(&self, project: &str, flow_id: &str) -> Result<bool, StoreError> {
        Ok(self.with_records(|records| {
            records
                .flows
                .remove(&(project.to_owned(), flow_id.to_owned()))
                .is_some()
        }))
    }
}

impl RunStore for MemoryStore {
    fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.with_records(|records| {
            if records
                .runs
                .iter()
                .any(|r| r.project == run.project && r.run_id == run.run_id)
            {
                return Err(StoreError::Conflict(format!(
                    "run `{}` already exists",
                    run.run_id
                )));
            }
            records.runs.push(run.clone());
            Ok(())
        })
    }

    fn update_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.with_records(|records| {
            let stored = records
                .runs
                .iter_mut()
                .find(|r| r.project == run.project && r.run_id == run.run_id)
                .ok_or_else(|| StoreError::NotFound {
                    kind: "run",
                    id: run.run_id.clone(),
                })?;
            *stored = run.clone();
            Ok(())
        })
    }

    fn load_run(&self, project: &str, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        Ok(self.with_records(|records| {
            records
                .runs
                .iter()
                .find(|r| r.project == project && r.run_id == run_id)
                .cloned()
        }))
    }

    fn list_runs(
        &self,
        project: &str,
        flow_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        Ok(self.with_records(|records| {
            records
                .runs
                .iter()
                .rev()
                .filter(|r| r.project == project && flow_id.is_none_or(|id| r.flow_id == id))
                .take(limit as usize)
                .cloned()
                .collect()
        }))
    }
}

impl ConnectorStore for MemoryStore {
    fn create_connector(
        &self,
        project: &str,
        connector: &StoredConnector,
    ) -> Result<(), StoreError> {
        self.with_records(|records| {
            let key = (project.to_owned(), connector.instance.name.clone());
            if records.connectors.contains_key(&key) {
                return Err(StoreError::Conflict(format!(
                    "connector instance `{}` already exists; update it or pick another name",
                    connector.instance.name
                )));
            }
            records.connectors.insert(key, connector.clone());
            Ok(())
        })
    }

    fn replace_connector(
        &self,
        project: &str,
        connector: &StoredConnector,
    ) -> Result<(), StoreError> {
        self.with_records(|records| {
            let key = (project.to_owned(), connector.instance.name.clone());
            let Some(stored) = records.connectors.get_mut(&key) else {
                return Err(StoreError::NotFound {
                    kind: "connector instance",
                    id: connector.instance.name.clone(),
                });
            };
            *stored = connector.clone();
            Ok(())
        })
    }

    fn load_connector(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Option<StoredConnector>, StoreError> {
        self.with_records(|records| {
            Ok(records
                .connectors
                .get(&(project.to_owned(), name.to_owned()))
                .cloned())
        })
    }

    fn list_connectors(&self, project: &str) -> Result<Vec<StoredConnector>, StoreError> {
        self.with_records(|records| {
            Ok(records
                .connectors
                .iter()
                .filter(|((owner, _), _)| owner == project)
                .map(|(_, connector)| connector.clone())
                .collect())
        })
    }

    fn delete_connector(&self, project: &str, name: &str) -> Result<bool, StoreError> {
        self.with_records(|records| {
            Ok(records
                .connectors
                .remove(&(project.to_owned(), name.to_owned()))
                .is_some())
        })
    }
}

impl ComponentStore for MemoryStore {
    fn insert_component(&self, project: &str, component: &crate::publish::StoredComponent) -> Result<(), StoreError> {
        self.with_records(|records| {
            let manifest = &component.manifest;
            let key = (project.to_owned(), manifest.id.clone(), manifest.version.clone());
            if records.components.contains_key(&key) {
                return Err(StoreError::Conflict(format!(
                    "component `{}` is already published; versions are immutable, so publish a new version",
                    manifest.reference()
                )));
            }
            records.components.insert(key, component.clone());
            Ok(())
        })
    }

    fn load_component(
        &self,
        project: &str,
        id: &str,
        version: &str,
    ) -> Result<Option<crate::publish::StoredComponent>, StoreError> {
        self.with_records(|records| {
            Ok(records
                .components
                .get(&(project.to_owned(), id.to_owned(), version.to_owned()))
                .cloned())
        })
    }

    fn list_components(&self, project: &str) -> Result<Vec<crate::publish::ComponentManifest>, StoreError> {
        self.with_records(|records| {
            Ok(records
                .components
                .iter()
                .filter(|((owner, _, _), _)| owner == project)
                .map(|(_, component)| component.manifest.clone())
                .collect())
        })
    }

    fn delete_component(&self, project: &str, id: &str, version: &str) -> Result<bool, StoreError> {
        self.with_records(|records| {
            Ok(records
                .components
                .remove(&(project.to_owned(), id.to_owned(), version.to_owned()))
                .is_some())
        })
    }
}

impl OAuthStore for MemoryStore {
    fn create_mcp_server(&self, project: &str, server: &McpServer) -> Result<(), StoreError> {
        self.with_records(|records| {
            let key = (project.to_owned(), server.id.clone());
            if records.mcp_servers.contains_key(&key) {
                return Err(StoreError::Conflict(format!(
                    "MCP server `{}` already exists; update it or pick another id",
                    server.id
                )));
            }
            records.mcp_servers.insert(key, server.clone());
            Ok(())
        })
    }

    fn replace_mcp_server(&self, project: &str, server: &McpServer) -> Result<(), StoreError> {
        self.with_records(|records| {
            let Some(stored) = records.mcp_servers.get_mut(&(project.to_owned(), server.id.clone())) else {
                return Err(StoreError::NotFound {
                    kind: "MCP server",
                    id: server.id.clone(),
                });
            };
            *stored = server.clone();
            Ok(())
        })
    }

    fn load_mcp_server(&self, project: &str, server_id: &str) -> Result<Option<McpServer>, StoreError> {
        self.with_records(|records| Ok(records.mcp_servers.get(&(project.to_owned(), server_id.to_owned())).cloned()))
    }

    fn list_mcp_servers(&self, project: &str) -> Result<Vec<McpServer>, StoreError> {
        self.with_records(|records| {
            Ok(records
                .mcp_servers
                .iter()
                .filter(|((owner, _), _)| owner == project)
                .map(|(_, server)| server.clone())
                .collect())
        })
    }

    fn delete_mcp_server(&self, project: &str, server_id: &str) -> Result<bool, StoreError> {
        self.with_records(|records| {
            let existed = records
                .mcp_servers
                .remove(&(project.to_owned(), server_id.to_owned()))
                .is_some();
            records
                .mcp_clients
                .retain(|(owner, _), client| !(owner == project && client.server_id == server_id));
            Ok(existed)
        })
    }

    fn insert_mcp_client(&self, project: &str, client: &RegisteredClient, event: NewAuditEvent) -> Result<(), StoreError> {
        self.with_records_and_project(project, |records, data| {
            if !records.mcp_servers.contains_key(&(project.to_owned(), client.server_id.clone())) {
                return Err(StoreError::NotFound {
                    kind: "MCP server",
                    id: client.server_id.clone(),
                });
            }
            let key = (project.to_owned(), client.client_id.clone());
            if records.mcp_clients.contains_key(&key) {
                return Err(StoreError::Conflict(format!("MCP client `{}` already exists", client.client_id)));
            }
            records.mcp_clients.insert(key, client.clone());
            data.record(project, event);
            Ok(())
        })
    }

    fn modify_mcp_client(
        &self,
        project: &str,
        client_id: &str,
        change: ClientChange<'_>,
    ) -> Result<RegisteredClient, StoreError> {
        self.with_records_and_project(project, |records, data| {
            let Some(stored) = records.mcp_clients.get_mut(&(project.to_owned(), client_id.to_owned())) else {
                return Err(StoreError::NotFound {
                    kind: "MCP client",
                    id: client_id.to_owned(),
                });
            };
            let mut client = stored.clone();
            let event = change(&mut client)?;
            *stored = client.clone();
            if let Some(event) = event {
                data.record(project, event);
            }
            Ok(client)
        })
    }

    fn load_mcp_client(&self, project: &str, client_id: &str) -> Result<Option<RegisteredClient>, StoreError> {
        self.with_records(|records| Ok(records.mcp_clients.get(&(project.to_owned(), client_id.to_owned())).cloned()))
    }

    fn list_mcp_clients(&self, project: &str, server_id: &str) -> Result<Vec<RegisteredClient>, StoreError> {
        self.with_records(|records| {
            let mut clients: Vec<RegisteredClient> = records
                .mcp_clients
                .iter()
                .filter(|((owner, _), client)| owner == project && client.server_id == server_id)
                .map(|(_, client)| client.clone())
                .collect();
            clients.sort_by(|a, b| (a.issued_at, &a.client_id).cmp(&(b.issued_at, &b.client_id)));
            Ok(clients)
        })
    }

    fn delete_mcp_client(&self, project: &str, client_id: &str, event: NewAuditEvent) -> Result<bool, StoreError> {
        self.with_records_and_project(project, |records, data| {
            let existed = records
                .mcp_clients
                .remove(&(project.to_owned(), client_id.to_owned()))
                .is_some();
            if existed {
                data.record(project, event);
            }
            Ok(existed)
        })
    }
}
