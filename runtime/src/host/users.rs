//! `sluice:flow/users`: read and change users of the run's project.

use serde_json::Value;

use super::PayloadBytes;
use super::convert::{new_user_from_wit, parse_object, user_query_from_wit};
use super::HostError;
use crate::engine::StepState;
use crate::engine::bindings::action::sluice::flow::users::Host;
use crate::engine::bindings::types::{NewUser, StepError, User, UserPage, UserPatch, UserQuery, UserStatus};
use crate::model;
use crate::store::StoreError;

const USER_MODIFIED: &str = "UserModified";

impl StepState {
    /// Applies `change` to a user and returns the stored result.
    fn change_user(
        &mut self,
        call: &str,
        bytes: usize,
        user_id: &str,
        audit_action: &str,
        mut change: impl FnMut(&mut model::User) -> Result<(), StoreError>,
    ) -> Result<User, HostError> {
        self.host.charge(call, bytes.saturating_add(user_id.len()))?;
        let ctx = &self.host.context;
        let user = ctx
            .store
            .modify_user(&ctx.project, user_id, audit_action, &ctx.actor, &mut change)?;
        Ok(user.into())
    }
}

/// Adds `roles` to `target` without duplicates.
fn add_unique(target: &mut Vec<String>, roles: &[String]) {
    for role in roles {
        if !target.contains(role) {
            target.push(role.clone());
        }
    }
}

/// Returns the role list to change: the project's, or the one of a tenant
/// the user belongs to.
fn role_list<'a>(
    user: &'a mut model::User,
    tenant_id: Option<&str>,
) -> Result<&'a mut Vec<String>, StoreError> {
    match tenant_id {
        None => Ok(&mut user.role_names),
        Some(tenant_id) => user
            .user_tenants
            .iter_mut()
            .find(|t| t.tenant_id == tenant_id)
            .map(|t| &mut t.role_names)
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "the user is not a member of tenant `{tenant_id}`; add the tenant first"
                ))
            }),
    }
}

impl Host for StepState {
    fn load_by_login_id(&mut self, login_id: String) -> Result<User, HostError> {
        self.host.charge("users.load-by-login-id", login_id.len())?;
        let ctx = &self.host.context;
        Ok(ctx.store.load_user_by_login_id(&ctx.project, &login_id)?.into())
    }

    fn load(&mut self, user_id: String) -> Result<User, HostError> {
        self.host.charge("users.load", user_id.len())?;
        let ctx = &self.host.context;
        Ok(ctx.store.load_user(&ctx.project, &user_id)?.into())
    }

    fn create(&mut self, user: NewUser) -> Result<User, HostError> {
        self.host.charge("users.create", user.payload_bytes())?;
        let new = new_user_from_wit(user)?;
        let ctx = &self.host.context;
        Ok(ctx.store.create_user(&ctx.project, new, &ctx.actor)?.into())
    }

    fn update(&mut self, user_id: String, user: NewUser) -> Result<User, HostError> {
        let bytes = user.payload_bytes();
        let new = new_user_from_wit(user)?;
        self.change_user("users.update", bytes, &user_id, USER_MODIFIED, |stored| {
            stored.login_ids = new.login_ids();
            stored.email.clone_from(&new.email);
            stored.phone.clone_from(&new.phone);
            stored.name.clone_from(&new.name);
            stored.given_name.clone_from(&new.given_name);
            stored.family_name.clone_from(&new.family_name);
            stored.status = new.status.unwrap_or(stored.status);
            stored.verified_email = new.verified_email;
            stored.verified_phone = new.verified_phone;
            stored.role_names.clone_from(&new.role_names);
            stored.user_tenants.clone_from(&new.user_tenants);
            stored.custom_attributes.clone_from(&new.custom_attributes);
            Ok(())
        })
    }

    fn patch(&mut self, user_id: String, patch: UserPatch) -> Result<User, HostError> {
        let bytes = patch.payload_bytes();
        let attributes = match &patch.custom_attributes {
            Some(json) => Some(parse_object(json, "customAttributes")?),
            None => None,
        };
        self.change_user("users.patch", bytes, &user_id, USER_MODIFIED, |stored| {
            if let Some(email) = &patch.email {
                stored.email = Some(email.clone());
            }
            if let Some(phone) = &patch.phone {
                stored.phone = Some(phone.clone());
            }
            if let Some(name) = &patch.name {
                stored.name = Some(name.clone());
            }
            if let Some(given_name) = &patch.given_name {
                stored.given_name = Some(given_name.clone());
            }
            if let Some(family_name) = &patch.family_name {
                stored.family_name = Some(family_name.clone());
            }
            if let Some(verified) = patch.verified_email {
                stored.verified_email = verified;
            }
            if let Some(verified) = patch.verified_phone {
                stored.verified_phone = verified;
            }
            if let Some(attributes) = &attributes {
                for (key, value) in attributes {
                    if value.is_null() {
                        stored.custom_attributes.remove(key);
                    } else {
                        stored.custom_attributes.insert(key.clone(), value.clone());
                    }
                }
            }
            Ok(())
        })
    }

    fn delete(&mut self, user_id: String) -> Result<(), HostError> {
        self.host.charge("users.delete", user_id.len())?;
        let ctx = &self.host.context;
        Ok(ctx.store.delete_user(&ctx.project, &user_id, &ctx.actor)?)
    }

    fn set_status(&mut self, user_id: String, status: UserStatus) -> Result<User, HostError> {
        let status = model::UserStatus::from(status);
        self.change_user("users.set-status", 0, &user_id, "UserStatusChanged", |stored| {
            stored.status = status;
            Ok(())
        })
    }

    fn set_custom_attribute(&mut self, user_id: String, key: String, value: String) -> Result<User, HostError> {
        let bytes = key.len().saturating_add(value.len());
        if key.trim().is_empty() {
            return Err(StepError::InvalidConfig(
                "custom attribute key must not be empty".to_owned(),
            ).into());
        }
        let value: Value = serde_json::from_str(&value).map_err(|err| {
            StepError::InvalidConfig(format!(
                "value of custom attribute `{key}` is not valid JSON: {err}"
            ))
        })?;
        self.change_user("users.set-custom-attribute", bytes, &user_id, USER_MODIFIED, |stored| {
            if value.is_null() {
                stored.custom_attributes.remove(&key);
            } else {
                stored.custom_attributes.insert(key.clone(), value.clone());
            }
            Ok(())
        })
    }

    fn set_roles(&mut self, user_id: String, tenant_id: Option<String>, role_names: Vec<String>) -> Result<User, HostError> {
        let bytes = tenant_id.payload_bytes().saturating_add(role_names.payload_bytes());
        self.change_user("users.set-roles", bytes, &user_id, USER_MODIFIED, |stored| {
            let roles = role_list(stored, tenant_id.as_deref())?;
            roles.clear();
            add_unique(roles, &role_names);
            Ok(())
        })
    }

    fn add_roles(&mut self, user_id: String, tenant_id: Option<String>, role_names: Vec<String>) -> Result<User, HostError> {
        let bytes = tenant_id.payload_bytes().saturating_add(role_names.payload_bytes());
        self.change_user("users.add-roles", bytes, &user_id, USER_MODIFIED, |stored| {
            add_unique(role_list(stored, tenant_id.as_deref())?, &role_names);
            Ok(())
        })
    }

    fn remove_roles(&mut self, user_id: String, tenant_id: Option<String>, role_names: Vec<String>) -> Result<User, HostError> {
        let bytes = tenant_id.payload_bytes().saturating_add(role_names.payload_bytes());
        self.change_user("users.remove-roles", bytes, &user_id, USER_MODIFIED, |stored| {
            role_list(stored, tenant_id.as_deref())?.retain(|r| !role_names.contains(r));
            Ok(())
        })
    }

    fn add_tenant(&mut self, user_id: String, tenant_id: String, role_names: Vec<String>) -> Result<User, HostError> {
        let bytes = tenant_id.len().saturating_add(role_names.payload_bytes());
        self.change_user("users.add-tenant", bytes, &user_id, USER_MODIFIED, |stored| {
            match stored.user_tenants.iter_mut().find(|t| t.tenant_id == tenant_id) {
                Some(membership) => add_unique(&mut membership.role_names, &role_names),
                None => {
                    let mut roles = Vec::new();
                    add_unique(&mut roles, &role_names);
                    stored.user_tenants.push(model::UserTenant {
                        tenant_id: tenant_id.clone(),
                        tenant_name: String::new(),
                        role_names: roles,
                    });
                }
            }
            Ok(())
        })
    }

    fn remove_tenant(&mut self, user_id: String, tenant_id: String) -> Result<User, HostError> {
        self.change_user("users.remove-tenant", tenant_id.len(), &user_id, USER_MODIFIED, |stored| {
            stored.user_tenants.retain(|t| t.tenant_id != tenant_id);
            Ok(())
        })
    }

    fn search(&mut self, query: UserQuery) -> Result<UserPage, HostError> {
        self.host.charge("users.search", query.payload_bytes())?;
        let query = user_query_from_wit(query);
        let ctx = &self.host.context;
        let (users, total) = ctx.store.search_users(&ctx.project, &query)?;
        Ok(UserPage {
            users: users.into_iter().map(Into::into).collect(),
            total,
        })
    }
}
