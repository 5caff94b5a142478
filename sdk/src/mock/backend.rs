//! Host calls routed to the mock host installed on the current thread. The
//! modules and signatures mirror those of the wasm host adapter.

pub(crate) mod users {
    use serde_json::Value;

    use crate::error::StepError;
    use crate::mock::with_state;
    use crate::types::{NewUser, User, UserPage, UserPatch, UserQuery, UserStatus};

    pub(crate) fn load_by_login_id(login_id: &str) -> Result<User, StepError> {
        with_state(|state| state.load_user_by_login_id(login_id))
    }

    pub(crate) fn load(user_id: &str) -> Result<User, StepError> {
        with_state(|state| state.load_user(user_id))
    }

    pub(crate) fn create(new_user: &NewUser) -> Result<User, StepError> {
        with_state(|state| state.create_user(new_user))
    }

    pub(crate) fn update(user_id: &str, new_user: &NewUser) -> Result<User, StepError> {
        with_state(|state| state.update_user(user_id, new_user))
    }

    pub(crate) fn patch(user_id: &str, patch: &UserPatch) -> Result<User, StepError> {
        with_state(|state| state.patch_user(user_id, patch))
    }

    pub(crate) fn delete(user_id: &str) -> Result<(), StepError> {
        with_state(|state| state.delete_user(user_id))
    }

    pub(crate) fn set_status(user_id: &str, status: UserStatus) -> Result<User, StepError> {
        with_state(|state| state.set_status(user_id, status))
    }

    pub(crate) fn set_custom_attribute(
        user_id: &str,
        key: &str,
        value: &Value,
    ) -> Result<User, StepError> {
        with_state(|state| state.set_custom_attribute(user_id, key, value))
    }

    pub(crate) fn set_roles(
        user_id: &str,
        tenant_id: Option<&str>,
        role_names: &[String],
    ) -> Result<User, StepError> {
        with_state(|state| {
            state.change_roles(user_id, tenant_id, |roles| {
                roles.clear();
                for role in role_names {
                    if !roles.contains(role) {
                        roles.push(role.clone());
                    }
                }
            })
        })
    }

    pub(crate) fn add_roles(
        user_id: &str,
        tenant_id: Option<&str>,
        role_names: &[String],
    ) -> Result<User, StepError> {
        with_state(|state| {
            state.change_roles(user_id, tenant_id, |roles| {
                for role in role_names {
                    if !roles.contains(role) {
                        roles.push(role.clone());
                    }
                }
            })
        })
    }

    pub(crate) fn remove_roles(
        user_id: &str,
        tenant_id: Option<&str>,
        role_names: &[String],
    ) -> Result<User, StepError> {
        with_state(|state| {
            state.change_roles(user_id, tenant_id, |roles| {
                roles.retain(|role| !role_names.contains(role))
            })
        })
    }

    pub(crate) fn add_tenant(
        user_id: &str,
        tenant_id: &str,
        role_names: &[String],
    ) -> Result<User, StepError> {
        with_state(|state| state.add_tenant(user_id, tenant_id, role_names))
    }

    pub(crate) fn remove_tenant(user_id: &str, tenant_id: &str) -> Result<User, StepError> {
        with_state(|state| state.remove_tenant(user_id, tenant_id))
    }

    pub(crate) fn search(query: &UserQuery) -> Result<UserPage, StepError> {
        with_state(|state| state.search_users(query))
    }
}

pub(crate) mod tenants {
    use crate::error::StepError;
    use crate::mock::with_state;
    use crate::types::Tenant;

    pub(crate) fn load(tenant_id: &str) -> Result<Tenant, StepError> {
        with_state(|state| state.load_tenant(tenant_id))
    }

    pub(crate) fn create(new_tenant: &Tenant) -> Result<Tenant, StepError> {
        with_state(|state| state.create_tenant(new_tenant))
    }

    pub(crate) fn update(changed: &Tenant) -> Result<Tenant, StepError> {
        with_state(|state| state.update_tenant(changed))
    }

    pub(crate) fn delete(tenant_id: &str) -> Result<(), StepError> {
        with_state(|state| state.delete_tenant(tenant_id))
    }
}

pub(crate) mod consent {
    use crate::error::StepError;
    use crate::mock::with_state;

    pub(crate) fn grant(
        user_id: &str,
        app_id: &str,
        scopes: &[String],
    ) -> Result<Vec<String>, StepError> {
        with_state(|state| state.grant_consent(user_id, app_id, scopes))
    }

    pub(crate) fn revoke(
        user_id: &str,
        app_id: &str,
        scopes: &[String],
    ) -> Result<Vec<String>, StepError> {
        with_state(|state| state.revoke_consent(user_id, app_id, scopes))
    }
}

pub(crate) mod audit {
    use crate::error::StepError;
    use crate::mock::with_state;
    use crate::types::{AuditEvent, NewAuditEvent};

    pub(crate) fn emit(event: &NewAuditEvent) -> Result<AuditEvent, StepError> {
        with_state(|state| state.emit_audit_event(event))
    }
}

pub(crate) mod log {
    use crate::log::Level;
    use crate::mock::with_state;

    pub(crate) fn log(level: Level, message: &str) {
        with_state(|state| state.log(level, message));
    }
}

pub(crate) mod config {
    use crate::mock::with_state;

    pub(crate) fn get(key: &str) -> Option<String> {
        with_state(|state| state.config.get(key).cloned())
    }

    pub(crate) fn secret(name: &str) -> Option<String> {
        with_state(|state| state.secrets.get(name).cloned())
    }
}

pub(crate) mod http {
    use crate::error::StepError;
    use crate::http::{Request, Response, UrlParts};
    use crate::mock::with_state;

    pub(crate) fn send(request: &Request, _url: &UrlParts<'_>) -> Result<Response, StepError> {
        with_state(|state| state.send(request))
    }
}
