//! Example action: adds the flow's current user to the tenant that their
//! email domain maps to.
//!
//! Config:
//!
//! ```json
//! {"domains": {"acme.com": "tenant-acme", "globex.com": "tenant-globex"}, "roleNames": ["member"]}
//! ```
//!
//! Domains match the part of the email after the last `@`, without regard
//! to case and without matching subdomains. When the user's domain has a
//! tenant, the action adds the user to it with `roleNames`, emits the audit
//! event `UserAssignedToTenant`, makes the changed user the current user,
//! and returns `{"assigned": true, "tenantId": "...", "domain": "..."}`.
//! When the user has no email or the domain has no tenant, it changes
//! nothing and returns `{"assigned": false, "domain": ...}`, so the flow can
//! branch on `actions.<key>.assigned` without error handling.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};
use sluice_sdk::{Action, ActionOutput, Context, NewAuditEvent, StepError, audit, users};

/// Name of the audit event emitted for each assignment.
pub const ASSIGNED_EVENT: &str = "UserAssignedToTenant";

/// The step's configuration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Tenant id by email domain.
    pub domains: BTreeMap<String, String>,
    /// Roles the user gets inside the tenant.
    #[serde(default)]
    pub role_names: Vec<String>,
}

/// The assign-tenant-by-domain action.
pub struct AssignTenantByDomain;

impl Action for AssignTenantByDomain {
    type Config = Config;

    fn run(config: Config, context: &Context) -> Result<ActionOutput, StepError> {
        let user = context.user().ok_or_else(|| {
            StepError::not_found(
                "the flow has no current user; load one with builtin:load-user before this step",
            )
        })?;

        let Some(domain) = user.email.as_deref().and_then(email_domain) else {
            sluice_sdk::info!(
                "user {} has no email address, so no tenant is assigned",
                user.user_id
            );
            return Ok(ActionOutput::value(
                json!({"assigned": false, "domain": Value::Null}),
            ));
        };
        let tenant_id = config
            .domains
            .iter()
            .find(|(mapped, _)| mapped.eq_ignore_ascii_case(&domain))
            .map(|(_, tenant_id)| tenant_id.clone());
        let Some(tenant_id) = tenant_id else {
            sluice_sdk::info!("no tenant is mapped to email domain {domain}");
            return Ok(ActionOutput::value(
                json!({"assigned": false, "domain": domain}),
            ));
        };

        let updated = users::add_tenant(&user.user_id, &tenant_id, &config.role_names)?;

        let mut event = NewAuditEvent::new(ASSIGNED_EVENT);
        event.user_id = Some(user.user_id.clone());
        event.tenants = vec![tenant_id.clone()];
        event.data.insert("domain".into(), json!(domain));
        event
            .data
            .insert("roleNames".into(), json!(config.role_names));
        audit::emit(&event)?;

        let result = json!({"assigned": true, "tenantId": tenant_id, "domain": domain});
        Ok(ActionOutput::value(result).with_user(updated))
    }
}

/// Returns the lowercase domain of an email address, the part after the
/// last `@`, or `None` when there is none.
fn email_domain(email: &str) -> Option<String> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

sluice_sdk::export_action!(AssignTenantByDomain);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::mock::{MockHost, context_with_user, run_action};
    use sluice_sdk::{Tenant, User};

    fn user(email: Option<&str>) -> User {
        User {
            user_id: "U1".into(),
            login_ids: vec!["ada".into()],
            email: email.map(str::to_string),
            ..User::default()
        }
    }

    fn config() -> Value {
        json!({"domains": {"acme.com": "tenant-acme", "globex.com": "tenant-globex"}, "roleNames": ["member"]})
    }

    fn host_with(user: &User) -> sluice_sdk::mock::MockGuard {
        MockHost::new()
            .with_user(user.clone())
            .with_tenant(Tenant::new("tenant-acme", "Acme"))
            .with_tenant(Tenant::new("tenant-globex", "Globex"))
            .install()
    }

    #[test]
    fn assigns_mapped_tenant() {
        let ada = user(Some("ada@Acme.com"));
        let host = host_with(&ada);

        let output = run_action::<AssignTenantByDomain>(config(), context_with_user(&ada))
            .expect("assign succeeds");

        assert_eq!(
            output.value,
            json!({"assigned": true, "tenantId": "tenant-acme", "domain": "acme.com"})
        );
        let stored = host.user("U1").expect("user exists");
        let membership = stored.tenant("tenant-acme").expect("member of tenant-acme");
        assert_eq!(membership.role_names, vec!["member"]);
        assert_eq!(output.user, Some(stored));
    }

    #[test]
    fn emits_audit_event() {
        let ada = user(Some("ada@globex.com"));
        let host = host_with(&ada);

        run_action::<AssignTenantByDomain>(config(), context_with_user(&ada))
            .expect("assign succeeds");

        let events = host.audit_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, ASSIGNED_EVENT);
        assert_eq!(events[0].user_id.as_deref(), Some("U1"));
        assert_eq!(events[0].tenants, vec!["tenant-globex"]);
        assert_eq!(events[0].data["domain"], "globex.com");
        assert_eq!(events[0].data["roleNames"], json!(["member"]));
    }

    #[test]
    fn unmapped_domain_is_not_assigned() {
        let bob = user(Some("bob@example.com"));
        let host = host_with(&bob);

        let output = run_action::<AssignTenantByDomain>(config(), context_with_user(&bob))
            .expect("no error");

        assert_eq!(
            output.value,
            json!({"assigned": false, "domain": "example.com"})
        );
        assert_eq!(output.user, None);
        assert!(host.audit_events().is_empty());
        assert!(
            host.user("U1")
                .expect("user exists")
                .user_tenants
                .is_empty()
        );
    }

    #[test]
    fn subdomain_is_not_matched() {
        let eve = user(Some("eve@mail.acme.com"));
        let _host = host_with(&eve);

        let output = run_action::<AssignTenantByDomain>(config(), context_with_user(&eve))
            .expect("no error");

        assert_eq!(output.value["assigned"], false);
    }

    #[test]
    fn user_without_email_is_not_assigned() {
        let nobody = user(None);
        let _host = host_with(&nobody);

        let output = run_action::<AssignTenantByDomain>(config(), context_with_user(&nobody))
            .expect("no error");

        assert_eq!(output.value, json!({"assigned": false, "domain": null}));
    }

    #[test]
    fn missing_tenant_is_not_found() {
        let ada = user(Some("ada@acme.com"));
        let _host = MockHost::new().with_user(ada.clone()).install();

        let error = run_action::<AssignTenantByDomain>(config(), context_with_user(&ada))
            .expect_err("no tenant");

        assert_eq!(error.kind(), "not-found");
    }

    #[test]
    fn without_current_user_is_not_found() {
        let _host = MockHost::new().install();

        let error = run_action::<AssignTenantByDomain>(config(), json!({})).expect_err("no user");

        assert_eq!(error.kind(), "not-found");
    }

    #[test]
    fn domains_are_required() {
        let _host = MockHost::new().install();

        let error = run_action::<AssignTenantByDomain>(json!({"roleNames": []}), json!({}))
            .expect_err("no domains");

        assert_eq!(error.kind(), "invalid-config");
        assert!(error.message().contains("domains"), "{error}");
    }

    #[test]
    fn email_domain_takes_last_at() {
        assert_eq!(email_domain("a@b@Example.COM"), Some("example.com".into()));
        assert_eq!(email_domain("no-at-sign"), None);
        assert_eq!(email_domain("trailing@"), None);
    }
}
