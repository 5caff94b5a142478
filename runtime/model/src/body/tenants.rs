//! Bodies of the tenant calls, with Descope's field names.
//!
//! They follow `descope/management/tenant.py` and `_tenant_base.py` of
//! Descope's Python SDK 2.16.1. Settings that Sluice does not store
//! (`enforceSSO`, `disabled`, `federatedAppIds`, …) are accepted and ignored.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::users::attributes_match;
use crate::error::BodyError;
use crate::identity::Tenant;

/// Fields of the create, update and patch bodies. The Python SDK sends
/// `"id": null` on create when the caller gives no id.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantFields {
    /// Tenant id. Create generates one when it is absent or empty.
    pub id: Option<String>,
    /// Tenant name.
    pub name: Option<String>,
    /// Email domains whose users may join the tenant.
    pub self_provisioning_domains: Option<Vec<String>>,
    /// Custom attributes.
    pub custom_attributes: Option<Map<String, Value>>,
}

impl TenantFields {
    /// Returns the tenant id.
    ///
    /// # Errors
    ///
    /// [`BodyError::Missing`] when `id` is absent or empty.
    pub fn required_id(&self) -> Result<String, BodyError> {
        self.id.clone().filter(|id| !id.is_empty()).ok_or_else(|| BodyError::missing("id"))
    }

    /// Returns the tenant name.
    ///
    /// # Errors
    ///
    /// [`BodyError::Missing`] when `name` is absent or empty.
    pub fn required_name(&self) -> Result<String, BodyError> {
        self.name.clone().filter(|name| !name.is_empty()).ok_or_else(|| BodyError::missing("name"))
    }
}

/// Body of `tenant/delete`. The SDK's `cascade` flag is accepted and
/// ignored.
#[derive(Debug, Deserialize)]
pub struct DeleteBody {
    /// Id of the tenant to delete.
    pub id: Option<String>,
}

/// Search filters as the Python SDK's `search_all` sends them, each one
/// `null` when unset.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchBody {
    /// Only tenants with one of these ids.
    pub tenant_ids: Option<Vec<String>>,
    /// Only tenants with one of these names.
    pub tenant_names: Option<Vec<String>>,
    /// Only tenants with one of these domains.
    pub tenant_self_provisioning_domains: Option<Vec<String>>,
    /// Only tenants whose custom attributes match these.
    pub custom_attributes: Option<Map<String, Value>>,
}

impl SearchBody {
    /// Returns whether the tenant passes every filter. Ids and names match
    /// exactly, domains match when the tenant has any of them.
    pub fn matches(&self, tenant: &Tenant) -> bool {
        let id_match = self.tenant_ids.as_ref().is_none_or(|ids| ids.is_empty() || ids.contains(&tenant.id));
        let name_match = self
            .tenant_names
            .as_ref()
            .is_none_or(|names| names.is_empty() || names.contains(&tenant.name));
        let domain_match = self.tenant_self_provisioning_domains.as_ref().is_none_or(|domains| {
            domains.is_empty() || tenant.self_provisioning_domains.iter().any(|domain| domains.contains(domain))
        });
        let attribute_match = self
            .custom_attributes
            .as_ref()
            .is_none_or(|filter| attributes_match(&tenant.custom_attributes, filter));
        id_match && name_match && domain_match && attribute_match
    }
}
