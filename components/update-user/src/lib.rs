//! Built-in action `builtin:update-user`: changes a user and makes the
//! changed user the flow's current user.
//!
//! The target is `userId` or `loginId`, or the current user when neither
//! is set. Every other field is optional and only the fields present
//! change:
//!
//! ```json
//! {
//!   "email": "ada@acme.com", "phone": "+15551234567", "name": "Ada Lovelace",
//!   "givenName": "Ada", "familyName": "Lovelace",
//!   "verifiedEmail": true, "verifiedPhone": false,
//!   "customAttributes": {"plan": "pro", "trial": null},
//!   "status": "disabled",
//!   "tenants": {"add": [{"tenantId": "acme", "roleNames": ["member"]}], "remove": ["old"]},
//!   "roles": {"add": ["admin"], "tenantId": "acme"}
//! }
//! ```
//!
//! Custom attributes merge into the user's, and `null` removes a key.
//! `status` is `enabled` or `disabled`. `roles` takes `set`, `add` and
//! `remove` lists, applied in that order, inside `tenantId` when given and
//! at project level otherwise. Tenant changes apply before role changes, so
//! `roles` may name a tenant that `tenants.add` adds.
//!
//! The result, stored at `actions.<key>`, is the user after every change.

use serde::Deserialize;
use sluice_sdk::{
    Action, ActionOutput, Context, JsonObject, StepError, UserPatch, UserStatus, users,
};

/// A status the action may set. Invitation states belong to the host.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusChange {
    /// The user can sign in.
    Enabled,
    /// The user cannot sign in.
    Disabled,
}

/// Role changes, inside one tenant or at project level.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolesChange {
    /// Replaces the roles.
    pub set: Option<Vec<String>>,
    /// Adds roles.
    #[serde(default)]
    pub add: Vec<String>,
    /// Removes roles.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Tenant whose roles change; project-level roles when absent.
    pub tenant_id: Option<String>,
}

/// A tenant to add the user to.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantMembership {
    /// Id of the tenant.
    pub tenant_id: String,
    /// Roles inside the tenant.
    #[serde(default)]
    pub role_names: Vec<String>,
}

/// Tenant membership changes.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantsChange {
    /// Tenants to add the user to.
    #[serde(default)]
    pub add: Vec<TenantMembership>,
    /// Ids of tenants to remove the user from.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// The step's configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// User id of the target user.
    pub user_id: Option<String>,
    /// Login id of the target user.
    pub login_id: Option<String>,
    /// New email address.
    pub email: Option<String>,
    /// New phone number.
    pub phone: Option<String>,
    /// New display name.
    pub name: Option<String>,
    /// New given name.
    pub given_name: Option<String>,
    /// New family name.
    pub family_name: Option<String>,
    /// New email verification flag.
    pub verified_email: Option<bool>,
    /// New phone verification flag.
    pub verified_phone: Option<bool>,
    /// Custom attributes to merge; `null` removes a key.
    pub custom_attributes: Option<JsonObject>,
    /// New status.
    pub status: Option<StatusChange>,
    /// Role changes.
    pub roles: Option<RolesChange>,
    /// Tenant membership changes.
    pub tenants: Option<TenantsChange>,
}

/// The built-in update-user action.
pub struct UpdateUser;

impl Action for UpdateUser {
    type Config = Config;

    fn run(config: Config, context: &Context) -> Result<ActionOutput, StepError> {
        let mut user = users::load_target(
            config.user_id.as_deref(),
            config.login_id.as_deref(),
            context,
        )?;
        let user_id = user.user_id.clone();

        let patch = UserPatch {
            email: config.email,
            phone: config.phone,
            name: config.name,
            given_name: config.given_name,
            family_name: config.family_name,
            verified_email: config.verified_email,
            verified_phone: config.verified_phone,
            custom_attributes: config.custom_attributes,
        };
        if !patch.is_empty() {
            user = users::patch(&user_id, &patch)?;
        }

        if let Some(status) = config.status {
            let status = match status {
                StatusChange::Enabled => UserStatus::Enabled,
                StatusChange::Disabled => UserStatus::Disabled,
            };
            user = users::set_status(&user_id, status)?;
        }

        if let Some(tenants) = config.tenants {
            for membership in &tenants.add {
                user = users::add_tenant(&user_id, &membership.tenant_id, &membership.role_names)?;
            }
            for tenant_id in &tenants.remove {
                user = users::remove_tenant(&user_id, tenant_id)?;
            }
        }

        if let Some(roles) = config.roles {
            let tenant_id = roles.tenant_id.as_deref();
            if let Some(set) = &roles.set {
                user = users::set_roles(&user_id, tenant_id, set)?;
            }
            if !roles.add.is_empty() {
                user = users::add_roles(&user_id, tenant_id, &roles.add)?;
            }
            if !roles.remove.is_empty() {
                user = users::remove_roles(&user_id, tenant_id, &roles.remove)?;
            }
        }

        Ok(ActionOutput::user(user))
    }
}

sluice_sdk::export_action!(UpdateUser);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use sluice_sdk::mock::{MockHost, run_action};
    use sluice_sdk::{Tenant, User};

    fn ada() -> User {
        let mut user = User {
            user_id: "U1".into(),
            login_ids: vec!["ada@example.com".into()],
            email: Some("ada@example.com".into()),
            role_names: vec!["viewer".into()],
            ..User::default()
        };
        user.custom_attributes.insert("trial".into(), json!(true));
        user
    }

    fn current() -> Value {
        json!({"user": {"userId": "U1"}})
    }

    fn run(config: Value, context: Value) -> Result<ActionOutput, StepError> {
        run_action::<UpdateUser>(config, context)
    }

    #[test]
    fn updates_current_user_fields() {
        let host = MockHost::new().with_user(ada()).install();
        let config = json!({
            "givenName": "Ada",
            "verifiedEmail": true,
            "customAttributes": {"plan": "pro", "trial": null},
        });

        let output = run(config, current()).expect("update succeeds");

        let user = host.user("U1").expect("user exists");
        assert_eq!(user.given_name.as_deref(), Some("Ada"));
        assert!(user.verified_email);
        assert_eq!(
            Value::Object(user.custom_attributes.clone()),
            json!({"plan": "pro"})
        );
        assert_eq!(output.user, Some(user));
        assert_eq!(output.value["givenName"], "Ada");
    }

    #[test]
    fn targets_user_by_login_id() {
        let host = MockHost::new().with_user(ada()).install();

        run(
            json!({"loginId": "ada@example.com", "status": "disabled"}),
            json!({}),
        )
        .expect("update succeeds");

        assert_eq!(
            host.user("U1").map(|user| user.status),
            Some(UserStatus::Disabled)
        );
    }

    #[test]
    fn changes_project_roles() {
        let host = MockHost::new().with_user(ada()).install();

        run(
            json!({"roles": {"set": ["a", "b"], "add": ["c"], "remove": ["a"]}}),
            current(),
        )
        .expect("update succeeds");

        assert_eq!(
            host.user("U1").map(|user| user.role_names),
            Some(vec!["b".into(), "c".into()])
        );
    }

    #[test]
    fn adds_tenant_then_tenant_roles() {
        let host = MockHost::new()
            .with_user(ada())
            .with_tenant(Tenant::new("acme", "Acme"))
            .install();
        let config = json!({
            "tenants": {"add": [{"tenantId": "acme", "roleNames": ["member"]}]},
            "roles": {"add": ["admin"], "tenantId": "acme"},
        });

        run(config, current()).expect("update succeeds");

        let user = host.user("U1").expect("user exists");
        let membership = user.tenant("acme").expect("member of acme");
        assert_eq!(membership.role_names, vec!["member", "admin"]);
        assert_eq!(user.role_names, vec!["viewer"]);
    }

    #[test]
    fn removes_tenant() {
        let host = MockHost::new()
            .with_user(ada())
            .with_tenant(Tenant::new("acme", "Acme"))
            .install();
        run(
            json!({"tenants": {"add": [{"tenantId": "acme"}]}}),
            current(),
        )
        .expect("add succeeds");

        run(json!({"tenants": {"remove": ["acme"]}}), current()).expect("remove succeeds");

        assert_eq!(host.user("U1").map(|user| user.user_tenants.len()), Some(0));
    }

    #[test]
    fn unknown_tenant_is_not_found() {
        let _host = MockHost::new().with_user(ada()).install();

        let error = run(
            json!({"tenants": {"add": [{"tenantId": "nope"}]}}),
            current(),
        )
        .expect_err("no tenant");

        assert_eq!(error.kind(), "not-found");
    }

    #[test]
    fn without_target_is_not_found() {
        let _host = MockHost::new().with_user(ada()).install();

        let error = run(json!({"name": "x"}), json!({})).expect_err("no current user");

        assert_eq!(error.kind(), "not-found");
    }

    #[test]
    fn invalid_fields_are_rejected() {
        let _host = MockHost::new().with_user(ada()).install();
        let cases = [
            (json!({"status": "invited"}), "status"),
            (json!({"roles": {"add": "admin"}}), "roles.add"),
            (json!({"emial": "x"}), "emial"),
            (json!({"customAttributes": [1]}), "customAttributes"),
        ];
        for (config, field) in cases {
            let error = run(config.clone(), current()).expect_err("invalid config");
            assert_eq!(error.kind(), "invalid-config", "{config}");
            assert!(error.message().contains(field), "{config}: {error}");
        }
    }
}
