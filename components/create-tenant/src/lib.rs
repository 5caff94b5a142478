//! Built-in action `builtin:create-tenant`: creates a tenant and makes it
//! the flow's current tenant.
//!
//! Config: `{"id": "acme", "name": "Acme", "selfProvisioningDomains":
//! ["acme.com"], "customAttributes": {"plan": "pro"}}`. Only `name` is
//! required; without `id` the host generates one. The result, stored at
//! `actions.<key>`, is the tenant as created.

use serde::Deserialize;
use sluice_sdk::{Action, ActionOutput, Context, JsonObject, StepError, Tenant, tenants};

/// The step's configuration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Tenant id; the host generates one when absent or empty.
    #[serde(default)]
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email domains whose users may join the tenant by themselves.
    #[serde(default)]
    pub self_provisioning_domains: Vec<String>,
    /// Custom attributes.
    #[serde(default)]
    pub custom_attributes: JsonObject,
}

/// The built-in create-tenant action.
pub struct CreateTenant;

impl Action for CreateTenant {
    type Config = Config;

    fn run(config: Config, _context: &Context) -> Result<ActionOutput, StepError> {
        if config.name.trim().is_empty() {
            return Err(StepError::invalid_config(
                "invalid config field `name`: it is empty",
            ));
        }
        let tenant = tenants::create(&Tenant {
            id: config.id,
            name: config.name,
            self_provisioning_domains: config.self_provisioning_domains,
            custom_attributes: config.custom_attributes,
        })?;
        Ok(ActionOutput::tenant(tenant))
    }
}

sluice_sdk::export_action!(CreateTenant);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use sluice_sdk::mock::{MockHost, run_action};

    fn run(config: Value) -> Result<ActionOutput, StepError> {
        run_action::<CreateTenant>(config, json!({}))
    }

    #[test]
    fn creates_tenant_with_fields() {
        let host = MockHost::new().install();
        let config = json!({
            "id": "acme",
            "name": "Acme",
            "selfProvisioningDomains": ["acme.com"],
            "customAttributes": {"plan": "pro"},
        });

        let output = run(config).expect("create succeeds");

        let tenant = host.tenant("acme").expect("tenant exists");
        assert_eq!(tenant.self_provisioning_domains, vec!["acme.com"]);
        assert_eq!(output.tenant, Some(tenant));
        assert_eq!(output.value["id"], "acme");
        assert_eq!(output.value["customAttributes"], json!({"plan": "pro"}));
    }

    #[test]
    fn generates_id_when_absent() {
        let host = MockHost::new().install();

        let output = run(json!({"name": "Acme"})).expect("create succeeds");

        let id = output
            .tenant
            .map(|tenant| tenant.id)
            .expect("tenant is set");
        assert!(!id.is_empty());
        assert!(host.tenant(&id).is_some());
    }

    #[test]
    fn rejects_taken_id_and_missing_name() {
        let _host = MockHost::new()
            .with_tenant(Tenant::new("acme", "Acme"))
            .install();

        let taken = run(json!({"id": "acme", "name": "Other"})).expect_err("id is taken");
        assert_eq!(taken.kind(), "invalid-config");
        let unnamed = run(json!({"id": "new"})).expect_err("name is missing");
        assert!(unnamed.message().contains("name"), "{unnamed}");
        let blank = run(json!({"name": " "})).expect_err("name is blank");
        assert_eq!(blank.kind(), "invalid-config");
    }
}
