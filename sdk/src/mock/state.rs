//! The data of a mock host and the host-call semantics over it.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::LogLine;
use crate::error::StepError;
use crate::http::{Method, Request, Response};
use crate::log::Level;
use crate::types::{
    AuditEvent, JsonObject, NewAuditEvent, NewUser, Tenant, User, UserPage, UserPatch, UserQuery,
    UserStatus, UserTenant,
};

/// November 2023, a fixed time so test expectations do not drift.
const DEFAULT_NOW_SECONDS: u64 = 1_700_000_000;
/// Page size for a search with limit 0, and the largest allowed.
const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug, Clone)]
pub(crate) struct MockState {
    pub(crate) users: Vec<User>,
    pub(crate) tenants: Vec<Tenant>,
    /// Granted scopes by (user id, application id).
    pub(crate) consents: BTreeMap<(String, String), Vec<String>>,
    pub(crate) audit_events: Vec<AuditEvent>,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) config: HashMap<String, String>,
    pub(crate) secrets: HashMap<String, String>,
    /// Canned results by method and URL: a response or a transport error.
    pub(crate) http: HashMap<(Method, String), Result<Response, String>>,
    pub(crate) requests: Vec<Request>,
    pub(crate) now_seconds: u64,
    pub(crate) actor_id: String,
    next_id: u64,
}

impl Default for MockState {
    fn default() -> Self {
        MockState {
            users: Vec::new(),
            tenants: Vec::new(),
            consents: BTreeMap::new(),
            audit_events: Vec::new(),
            logs: Vec::new(),
            config: HashMap::new(),
            secrets: HashMap::new(),
            http: HashMap::new(),
            requests: Vec::new(),
            now_seconds: DEFAULT_NOW_SECONDS,
            actor_id: "run:mock".to_string(),
            next_id: 1,
        }
    }
}

fn user_not_found(user_id: &str) -> StepError {
    StepError::not_found(format!("no user with user id \"{user_id}\""))
}

fn tenant_not_found(tenant_id: &str) -> StepError {
    StepError::not_found(format!("no tenant with id \"{tenant_id}\""))
}

/// Appends the names not in `list` yet, keeping the order.
fn add_unique(list: &mut Vec<String>, names: &[String]) {
    for name in names {
        if !list.contains(name) {
            list.push(name.clone());
        }
    }
}

fn unique(names: &[String]) -> Vec<String> {
    let mut list = Vec::new();
    add_unique(&mut list, names);
    list
}

/// Returns whether a filter list is empty or contains one of `values`.
fn matches_any<'a>(filter: &[String], values: impl IntoIterator<Item = &'a String>) -> bool {
    filter.is_empty() || values.into_iter().any(|value| filter.contains(value))
}

/// Merges `changes` into `attributes`; a `null` value removes the key.
fn merge_attributes(attributes: &mut JsonObject, changes: &JsonObject) {
    for (key, value) in changes {
        if value.is_null() {
            attributes.remove(key);
        } else {
            attributes.insert(key.clone(), value.clone());
        }
    }
}

impl MockState {
    fn generate_id(&mut self, prefix: &str, taken: impl Fn(&MockState, &str) -> bool) -> String {
        loop {
            let id = format!("{prefix}{}", self.next_id);
            self.next_id += 1;
            if !taken(self, &id) {
                return id;
            }
        }
    }

    pub(crate) fn insert_user(&mut self, mut user: User) {
        if user.user_id.is_empty() {
            user.user_id = self.generate_id("U", |state, id| state.user_index(id).is_some());
        }
        match self.user_index(&user.user_id) {
            Some(index) => self.users[index] = user,
            None => self.users.push(user),
        }
    }

    pub(crate) fn insert_tenant(&mut self, mut tenant: Tenant) {
        if tenant.id.is_empty() {
            tenant.id = self.generate_id("T", |state, id| state.tenant_index(id).is_some());
        }
        match self.tenant_index(&tenant.id) {
            Some(index) => self.tenants[index] = tenant,
            None => self.tenants.push(tenant),
        }
    }

    pub(crate) fn set_consent(&mut self, user_id: &str, app_id: &str, scopes: Vec<String>) {
        self.consents
            .insert((user_id.to_string(), app_id.to_string()), scopes);
    }

    pub(crate) fn consent(&self, user_id: &str, app_id: &str) -> Vec<String> {
        self.consents
            .get(&(user_id.to_string(), app_id.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    fn user_index(&self, user_id: &str) -> Option<usize> {
        self.users.iter().position(|user| user.user_id == user_id)
    }

    fn tenant_index(&self, tenant_id: &str) -> Option<usize> {
        self.tenants
            .iter()
            .position(|tenant| tenant.id == tenant_id)
    }

    fn user_mut(&mut self, user_id: &str) -> Result<&mut User, StepError> {
        let index = self
            .user_index(user_id)
            .ok_or_else(|| user_not_found(user_id))?;
        Ok(&mut self.users[index])
    }

    fn tenant_name(&self, tenant_id: &str) -> Result<String, StepError> {
        self.tenant_index(tenant_id)
            .map(|index| self.tenants[index].name.clone())
            .ok_or_else(|| tenant_not_found(tenant_id))
    }

    /// Checks that the login ids are non-empty and not used by any user
    /// other than `owner`.
    fn check_login_ids(&self, login_ids: &[String], owner: Option<&str>) -> Result<(), StepError> {
        for login_id in login_ids {
            if login_id.is_empty() {
                return Err(StepError::invalid_config(
                    "a login id is empty; give every user a non-empty login id",
                ));
            }
            let holder = self.users.iter().find(|user| {
                Some(user.user_id.as_str()) != owner && user.login_ids.contains(login_id)
            });
            if let Some(holder) = holder {
                return Err(StepError::invalid_config(format!(
                    "login id \"{login_id}\" is already used by user \"{}\"",
                    holder.user_id
                )));
            }
        }
        Ok(())
    }

    /// Checks the tenants of a membership list and fills in their names.
    fn resolve_memberships(
        &self,
        memberships: &[UserTenant],
    ) -> Result<Vec<UserTenant>, StepError> {
        memberships
            .iter()
            .map(|membership| {
                Ok(UserTenant {
                    tenant_id: membership.tenant_id.clone(),
                    tenant_name: self.tenant_name(&membership.tenant_id)?,
                    role_names: unique(&membership.role_names),
                })
            })
            .collect()
    }

    fn user_from_fields(
        &self,
        user_id: String,
        created_time: u64,
        fields: &NewUser,
    ) -> Result<User, StepError> {
        let mut login_ids = vec![fields.login_id.clone()];
        add_unique(&mut login_ids, &fields.additional_login_ids);
        self.check_login_ids(&login_ids, Some(&user_id))?;
        Ok(User {
            user_tenants: self.resolve_memberships(&fields.user_tenants)?,
            user_id,
            login_ids,
            email: fields.email.clone(),
            phone: fields.phone.clone(),
            name: fields.name.clone(),
            given_name: fields.given_name.clone(),
            family_name: fields.family_name.clone(),
            status: fields.status.unwrap_or_default(),
            verified_email: fields.verified_email,
            verified_phone: fields.verified_phone,
            role_names: unique(&fields.role_names),
            custom_attributes: fields.custom_attributes.clone(),
            created_time,
        })
    }

    pub(crate) fn load_user_by_login_id(&self, login_id: &str) -> Result<User, StepError> {
        self.users
            .iter()
            .find(|user| user.login_ids.iter().any(|id| id == login_id))
            .cloned()
            .ok_or_else(|| StepError::not_found(format!("no user with login id \"{login_id}\"")))
    }

    pub(crate) fn load_user(&self, user_id: &str) -> Result<User, StepError> {
        self.user_index(user_id)
            .map(|index| self.users[index].clone())
            .ok_or_else(|| user_not_found(user_id))
    }

    pub(crate) fn create_user(&mut self, fields: &NewUser) -> Result<User, StepError> {
        // Check before generating an id, so a failed create leaves no trace.
        let probe = self.user_from_fields(String::new(), 0, fields)?;
        let user_id = self.generate_id("U", |state, id| state.user_index(id).is_some());
        let user = User {
            user_id,
            created_time: self.now_seconds,
            ..probe
        };
        self.users.push(user.clone());
        Ok(user)
    }

    pub(crate) fn update_user(
        &mut self,
        user_id: &str,
        fields: &NewUser,
    ) -> Result<User, StepError> {
        let created_time = self.load_user(user_id)?.created_time;
        let user = self.user_from_fields(user_id.to_string(), created_time, fields)?;
        *self.user_mut(user_id)? = user.clone();
        Ok(user)
    }

    pub(crate) fn patch_user(
        &mut self,
        user_id: &str,
        patch: &UserPatch,
    ) -> Result<User, StepError> {
        let user = self.user_mut(user_id)?;
        let text_fields = [
            (&mut user.email, &patch.email),
            (&mut user.phone, &patch.phone),
            (&mut user.name, &patch.name),
            (&mut user.given_name, &patch.given_name),
            (&mut user.family_name, &patch.family_name),
        ];
        for (field, change) in text_fields {
            if let Some(value) = change {
                *field = Some(value.clone());
            }
        }
        if let Some(verified) = patch.verified_email {
            user.verified_email = verified;
        }
        if let Some(verified) = patch.verified_phone {
            user.verified_phone = verified;
        }
        if let Some(changes) = &patch.custom_attributes {
            merge_attributes(&mut user.custom_attributes, changes);
        }
        Ok(user.clone())
    }

    pub(crate) fn delete_user(&mut self, user_id: &str) -> Result<(), StepError> {
        let index = self
            .user_index(user_id)
            .ok_or_else(|| user_not_found(user_id))?;
        self.users.remove(index);
        self.consents.retain(|(owner, _), _| owner != user_id);
        Ok(())
    }

    pub(crate) fn set_status(
        &mut self,
        user_id: &str,
        status: UserStatus,
    ) -> Result<User, StepError> {
        let user = self.user_mut(user_id)?;
        user.status = status;
        Ok(user.clone())
    }

    pub(crate) fn set_custom_attribute(
        &mut self,
        user_id: &str,
        key: &str,
        value: &Value,
    ) -> Result<User, StepError> {
        if key.is_empty() {
            return Err(StepError::invalid_config(
                "the custom attribute key is empty",
            ));
        }
        let user = self.user_mut(user_id)?;
        let mut change = JsonObject::new();
        change.insert(key.to_string(), value.clone());
        merge_attributes(&mut user.custom_attributes, &change);
        Ok(user.clone())
    }

    /// Applies `change` to the project roles, or to the roles inside
    /// `tenant_id` when given.
    pub(crate) fn change_roles(
        &mut self,
        user_id: &str,
        tenant_id: Option<&str>,
        change: impl FnOnce(&mut Vec<String>),
    ) -> Result<User, StepError> {
        let user = self.user_mut(user_id)?;
        let roles = match tenant_id {
            None => &mut user.role_names,
            Some(tenant_id) => {
                let membership = user
                    .user_tenants
                    .iter_mut()
                    .find(|membership| membership.tenant_id == tenant_id)
                    .ok_or_else(|| {
                        StepError::invalid_config(format!(
                            "user \"{user_id}\" is not a member of tenant \"{tenant_id}\"; add the user to the tenant first"
                        ))
                    })?;
                &mut membership.role_names
            }
        };
        change(roles);
        Ok(user.clone())
    }

    pub(crate) fn add_tenant(
        &mut self,
        user_id: &str,
        tenant_id: &str,
        role_names: &[String],
    ) -> Result<User, StepError> {
        self.load_user(user_id)?;
        let tenant_name = self.tenant_name(tenant_id)?;
        let user = self.user_mut(user_id)?;
        match user
            .user_tenants
            .iter_mut()
            .find(|membership| membership.tenant_id == tenant_id)
        {
            Some(membership) => add_unique(&mut membership.role_names, role_names),
            None => user.user_tenants.push(UserTenant {
                tenant_id: tenant_id.to_string(),
                tenant_name,
                role_names: unique(role_names),
            }),
        }
        Ok(user.clone())
    }

    pub(crate) fn remove_tenant(
        &mut self,
        user_id: &str,
        tenant_id: &str,
    ) -> Result<User, StepError> {
        let user = self.user_mut(user_id)?;
        user.user_tenants
            .retain(|membership| membership.tenant_id != tenant_id);
        Ok(user.clone())
    }

    pub(crate) fn search_users(&self, query: &UserQuery) -> Result<UserPage, StepError> {
        let text = query
            .text
            .as_deref()
            .map(str::to_lowercase)
            .filter(|text| !text.is_empty());
        let matches = |user: &&User| {
            let tenant_ids: Vec<&String> = user
                .user_tenants
                .iter()
                .map(|membership| &membership.tenant_id)
                .collect();
            let roles_held: Vec<&String> = user
                .role_names
                .iter()
                .chain(
                    user.user_tenants
                        .iter()
                        .flat_map(|membership| &membership.role_names),
                )
                .collect();
            let text_matches = text.as_ref().is_none_or(|text| {
                user.login_ids
                    .iter()
                    .chain(&user.email)
                    .chain(&user.phone)
                    .chain(&user.name)
                    .any(|field| field.to_lowercase().contains(text))
            });
            matches_any(&query.login_ids, user.login_ids.iter())
                && (query.statuses.is_empty() || query.statuses.contains(&user.status))
                && matches_any(&query.tenant_ids, tenant_ids)
                && matches_any(&query.role_names, roles_held)
                && text_matches
        };

        let found: Vec<&User> = self.users.iter().filter(matches).collect();
        let limit = match query.limit {
            0 => MAX_PAGE_SIZE,
            limit => limit.min(MAX_PAGE_SIZE),
        } as usize;
        let users = found
            .iter()
            .skip(query.page as usize * limit)
            .take(limit)
            .map(|user| (*user).clone())
            .collect();
        Ok(UserPage {
            users,
            total: u32::try_from(found.len()).unwrap_or(u32::MAX),
        })
    }

    pub(crate) fn load_tenant(&self, tenant_id: &str) -> Result<Tenant, StepError> {
        self.tenant_index(tenant_id)
            .map(|index| self.tenants[index].clone())
            .ok_or_else(|| tenant_not_found(tenant_id))
    }

    pub(crate) fn create_tenant(&mut self, fields: &Tenant) -> Result<Tenant, StepError> {
        if fields.name.trim().is_empty() {
            return Err(StepError::invalid_config(
                "the tenant name is empty; give the tenant a name",
            ));
        }
        if !fields.id.is_empty() && self.tenant_index(&fields.id).is_some() {
            return Err(StepError::invalid_config(format!(
                "tenant id \"{}\" is already used",
                fields.id
            )));
        }
        let mut tenant = fields.clone();
        if tenant.id.is_empty() {
            tenant.id = self.generate_id("T", |state, id| state.tenant_index(id).is_some());
        }
        self.tenants.push(tenant.clone());
        Ok(tenant)
    }

    pub(crate) fn update_tenant(&mut self, fields: &Tenant) -> Result<Tenant, StepError> {
        if fields.name.trim().is_empty() {
            return Err(StepError::invalid_config(
                "the tenant name is empty; give the tenant a name",
            ));
        }
        let index = self
            .tenant_index(&fields.id)
            .ok_or_else(|| tenant_not_found(&fields.id))?;
        self.tenants[index] = fields.clone();
        for membership in self
            .users
            .iter_mut()
            .flat_map(|user| user.user_tenants.iter_mut())
        {
            if membership.tenant_id == fields.id {
                membership.tenant_name = fields.name.clone();
            }
        }
        Ok(fields.clone())
    }

    pub(crate) fn delete_tenant(&mut self, tenant_id: &str) -> Result<(), StepError> {
        let index = self
            .tenant_index(tenant_id)
            .ok_or_else(|| tenant_not_found(tenant_id))?;
        self.tenants.remove(index);
        for user in &mut self.users {
            user.user_tenants
                .retain(|membership| membership.tenant_id != tenant_id);
        }
        Ok(())
    }

    fn check_consent_target(&self, user_id: &str, app_id: &str) -> Result<(), StepError> {
        self.load_user(user_id)?;
        if app_id.is_empty() {
            return Err(StepError::invalid_config("the application id is empty"));
        }
        Ok(())
    }

    pub(crate) fn grant_consent(
        &mut self,
        user_id: &str,
        app_id: &str,
        scopes: &[String],
    ) -> Result<Vec<String>, StepError> {
        self.check_consent_target(user_id, app_id)?;
        let mut granted = self.consent(user_id, app_id);
        add_unique(&mut granted, scopes);
        self.set_consent(user_id, app_id, granted.clone());
        Ok(granted)
    }

    pub(crate) fn revoke_consent(
        &mut self,
        user_id: &str,
        app_id: &str,
        scopes: &[String],
    ) -> Result<Vec<String>, StepError> {
        self.check_consent_target(user_id, app_id)?;
        let mut granted = self.consent(user_id, app_id);
        if scopes.is_empty() {
            granted.clear();
        } else {
            granted.retain(|scope| !scopes.contains(scope));
        }
        if granted.is_empty() {
            self.consents
                .remove(&(user_id.to_string(), app_id.to_string()));
        } else {
            self.set_consent(user_id, app_id, granted.clone());
        }
        Ok(granted)
    }

    pub(crate) fn emit_audit_event(
        &mut self,
        event: &NewAuditEvent,
    ) -> Result<AuditEvent, StepError> {
        if event.action.trim().is_empty() {
            return Err(StepError::invalid_config(
                "the audit event action is empty; name the event",
            ));
        }
        let id = self.generate_id("A", |state, id| {
            state.audit_events.iter().any(|event| event.id == id)
        });
        let stored = AuditEvent {
            id,
            action: event.action.clone(),
            audit_type: event.audit_type,
            occurred: self.now_seconds.saturating_mul(1000),
            actor_id: self.actor_id.clone(),
            user_id: event.user_id.clone(),
            tenants: event.tenants.clone(),
            remote_address: None,
            data: event.data.clone(),
        };
        self.audit_events.push(stored.clone());
        Ok(stored)
    }

    pub(crate) fn log(&mut self, level: Level, message: &str) {
        self.logs.push(LogLine {
            level,
            message: message.to_string(),
        });
    }

    pub(crate) fn send(&mut self, request: &Request) -> Result<Response, StepError> {
        self.requests.push(request.clone());
        match self
            .http
            .get(&(request.method.clone(), request.url.clone()))
        {
            Some(Ok(response)) => Ok(response.clone()),
            Some(Err(message)) => Err(StepError::upstream_failure(format!(
                "{} {} failed: {message}",
                request.method, request.url
            ))),
            None => Err(StepError::upstream_failure(format!(
                "{} {} failed: the mock host has no response for it; add one with MockHost::with_http_response",
                request.method, request.url
            ))),
        }
    }
}
