//! `sluice:flow/tenants`: read and change tenants of the run's project.

use super::PayloadBytes;
use super::convert::tenant_from_wit;
use super::HostError;
use crate::engine::StepState;
use crate::engine::bindings::action::sluice::flow::tenants::Host;
use crate::engine::bindings::types::Tenant;

impl Host for StepState {
    fn load(&mut self, tenant_id: String) -> Result<Tenant, HostError> {
        self.host.charge("tenants.load", tenant_id.len())?;
        let ctx = &self.host.context;
        Ok(ctx.store.load_tenant(&ctx.project, &tenant_id)?.into())
    }

    fn create(&mut self, tenant: Tenant) -> Result<Tenant, HostError> {
        self.host.charge("tenants.create", tenant.payload_bytes())?;
        let tenant = tenant_from_wit(tenant)?;
        let ctx = &self.host.context;
        Ok(ctx.store.create_tenant(&ctx.project, tenant, &ctx.actor)?.into())
    }

    fn update(&mut self, tenant: Tenant) -> Result<Tenant, HostError> {
        self.host.charge("tenants.update", tenant.payload_bytes())?;
        let new = tenant_from_wit(tenant)?;
        let ctx = &self.host.context;
        let updated = ctx.store.modify_tenant(&ctx.project, &new.id, &ctx.actor, &mut |stored| {
            stored.name.clone_from(&new.name);
            stored
                .self_provisioning_domains
                .clone_from(&new.self_provisioning_domains);
            stored.custom_attributes.clone_from(&new.custom_attributes);
            Ok(())
        })?;
        Ok(updated.into())
    }

    fn delete(&mut self, tenant_id: String) -> Result<(), HostError> {
        self.host.charge("tenants.delete", tenant_id.len())?;
        let ctx = &self.host.context;
        Ok(ctx.store.delete_tenant(&ctx.project, &tenant_id, &ctx.actor)?)
    }
}
