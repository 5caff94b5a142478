//! Built-in action `builtin:update-tenant`: changes a tenant and makes it
//! the flow's current tenant.
//!
//! Config: `{"id": "acme", "name": "Acme Inc", "selfProvisioningDomains":
//! ["acme.com"], "customAttributes": {"plan": "pro", "trial": null}}`.
//! `id` is required; only the other fields present change. Custom
//! attributes merge into the tenant's, and `null` removes a key, as they do
//! for users. The result, stored at `actions.<key>`, is the tenant after the
//! change.

use serde::Deserialize;
use sluice_sdk::{Action, ActionOutput, Context, JsonObject, StepError, tenants};

/// The step's configuration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Id of the tenant to change.
    pub id: String,
    /// New display name.
    pub name: Option<String>,
    /// New list of self-provisioning domains.
    pub self_provisioning_domains: Option<Vec<String>>,
    /// Custom attributes to merge; `null` removes a key.
    pub custom_attributes: Option<JsonObject>,
}

/// The built-in update-tenant action.
pub struct UpdateTenant;

impl Action for UpdateTenant {
    type Config = Config;

    fn run(config: Config, _context: &Context) -> Result<ActionOutput, StepError> {
        if config.id.is_empty() {
            return Err(StepError::invalid_config(
                "invalid config field `id`: it is empty",
            ));
        }
        let mut tenant = tenants::load(&config.id)?;

        if let Some(name) = config.name {
            tenant.name = name;
        }
        if let Some(domains) = config.self_provisioning_domains {
            tenant.self_provisioning_domains = domains;
        }
        for (key, value) in config.custom_attributes.unwrap_or_default() {
            if value.is_null() {
                tenant.custom_attributes.remove(&key);
            } else {
                tenant.custom_attributes.insert(key, value);
            }
        }

        let tenant = tenants::update(&tenant)?;
        Ok(ActionOutput::tenant(tenant))
    }
}

sluice_sdk::export_action!(UpdateTenant);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use sluice_sdk::Tenant;
    use sluice_sdk::mock::{MockHost, run_action};

    fn acme() -> Tenant {
        let mut tenant = Tenant::new("acme", "Acme");
        tenant.self_provisioning_domains = vec!["acme.com".into()];
        tenant.custom_attributes.insert("trial".into(), json!(true));
        tenant
    }

    fn run(config: Value) -> Result<ActionOutput, StepError> {
        run_action::<UpdateTenant>(config, json!({}))
    }

    #[test]
    fn changes_only_given_fields() {
        let host = MockHost::new().with_tenant(acme()).install();

        let output = run(json!({"id": "acme", "name": "Acme Inc"})).expect("update succeeds");

        let tenant = host.tenant("acme").expect("tenant exists");
        assert_eq!(tenant.name, "Acme Inc");
        assert_eq!(tenant.self_provisioning_domains, vec!["acme.com"]);
        assert_eq!(output.tenant, Some(tenant));
    }

    #[test]
    fn merges_custom_attributes() {
        let host = MockHost::new().with_tenant(acme()).install();

        run(json!({"id": "acme", "customAttributes": {"plan": "pro", "trial": null}}))
            .expect("update succeeds");

        let tenant = host.tenant("acme").expect("tenant exists");
        assert_eq!(
            Value::Object(tenant.custom_attributes),
            json!({"plan": "pro"})
        );
    }

    #[test]
    fn replaces_domains() {
        let host = MockHost::new().with_tenant(acme()).install();

        run(json!({"id": "acme", "selfProvisioningDomains": []})).expect("update succeeds");

        assert_eq!(
            host.tenant("acme")
                .map(|tenant| tenant.self_provisioning_domains.len()),
            Some(0)
        );
    }

    #[test]
    fn missing_tenant_is_not_found() {
        let _host = MockHost::new().install();

        let error = run(json!({"id": "nope", "name": "x"})).expect_err("no such tenant");

        assert_eq!(error.kind(), "not-found");
    }

    #[test]
    fn id_is_required() {
        let _host = MockHost::new().install();

        let missing = run(json!({"name": "x"})).expect_err("id is missing");
        assert!(missing.message().contains("id"), "{missing}");
        let empty = run(json!({"id": ""})).expect_err("id is empty");
        assert_eq!(empty.kind(), "invalid-config");
    }
}
