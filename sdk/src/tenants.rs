//! Read and change tenants of the run's project. Available to actions.
//!
//! ```no_run
//! use sluice_sdk::{tenants, StepError, Tenant};
//!
//! # fn example() -> Result<(), StepError> {
//! let mut tenant = tenants::create(&Tenant::new("", "Acme"))?;
//! tenant.self_provisioning_domains.push("acme.com".into());
//! tenants::update(&tenant)?;
//! # Ok(())
//! # }
//! ```

use crate::error::StepError;
use crate::host;
use crate::types::Tenant;

/// Loads the tenant with this id.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when the tenant does not exist.
pub fn load(tenant_id: &str) -> Result<Tenant, StepError> {
    host::tenants::load(tenant_id)
}

/// Creates a tenant and returns it as stored. An empty id makes the host
/// generate one.
///
/// # Errors
///
/// Returns [`StepError::InvalidConfig`] when the id is already taken or the
/// name is empty.
pub fn create(tenant: &Tenant) -> Result<Tenant, StepError> {
    host::tenants::create(tenant)
}

/// Replaces the name, domains and custom attributes of the tenant with
/// `tenant.id`.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when the tenant does not exist.
pub fn update(tenant: &Tenant) -> Result<Tenant, StepError> {
    host::tenants::update(tenant)
}

/// Deletes the tenant and removes every user from it.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when the tenant does not exist.
pub fn delete(tenant_id: &str) -> Result<(), StepError> {
    host::tenants::delete(tenant_id)
}
