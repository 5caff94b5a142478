//! Bodies of the user calls, with Descope's field names.
//!
//! They follow `descope/management/user.py` and `_user_base.py` of
//! Descope's Python SDK 2.16.1. That SDK sends `null` for every argument the
//! caller left unset, so every optional field accepts both absent and
//! `null`. Fields that Sluice does not know are ignored.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{BodyError, required};
use crate::identity::{NewUser, User, UserStatus, UserTenant};

/// A tenant membership in a request body.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantRoles {
    /// Tenant id.
    pub tenant_id: Option<String>,
    /// Roles in that tenant.
    pub role_names: Option<Vec<String>>,
}

/// User fields of the create, update and patch bodies.
///
/// Fields of Descope's users that Sluice does not store (`middleName`,
/// `picture`, `ssoAppIds`, `password`, `test`, invitation settings) are
/// accepted and ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserFields {
    /// Login id of the user.
    pub login_id: Option<String>,
    /// Login ids besides `loginId`.
    pub additional_login_ids: Option<Vec<String>>,
    /// Email address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// The Python SDK sends `displayName`, and responses carry it as `name`.
    #[serde(alias = "name")]
    pub display_name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Status: `enabled`, `disabled`, `invited` or `expired`.
    pub status: Option<UserStatus>,
    /// Whether the email address is verified.
    pub verified_email: Option<bool>,
    /// Whether the phone number is verified.
    pub verified_phone: Option<bool>,
    /// Role names.
    pub role_names: Option<Vec<String>>,
    /// Tenant memberships, each with its roles.
    pub user_tenants: Option<Vec<TenantRoles>>,
    /// Custom attributes.
    pub custom_attributes: Option<Map<String, Value>>,
    /// Create only: the user starts as `invited` unless `status` is given.
    pub invite: Option<bool>,
}

impl UserFields {
    /// Checks the fields and returns the login id. `path` prefixes field
    /// names in errors, such as `users[2].` in a batch.
    ///
    /// # Errors
    ///
    /// [`BodyError::Missing`] for a missing login id or membership tenant.
    pub fn check(&self, path: &str) -> Result<String, BodyError> {
        let login_id = required(self.login_id.clone(), &format!("{path}loginId"))?;
        for (index, membership) in self.user_tenants.iter().flatten().enumerate() {
            if membership.tenant_id.as_deref().is_none_or(str::is_empty) {
                return Err(BodyError::missing(format!("{path}userTenants[{index}].tenantId")));
            }
        }
        Ok(login_id)
    }

    /// Returns the requested tenant memberships. Call [`Self::check`] first,
    /// because it rejects a membership without a tenant id.
    pub fn memberships(&self) -> Option<Vec<UserTenant>> {
        self.user_tenants.as_ref().map(|memberships| {
            memberships
                .iter()
                .map(|membership| UserTenant {
                    tenant_id: membership.tenant_id.clone().unwrap_or_default(),
                    tenant_name: String::new(),
                    role_names: membership.role_names.clone().unwrap_or_default(),
                })
                .collect()
        })
    }

    /// Checks the fields and returns the user to create. `path` prefixes
    /// field names in errors, as in [`Self::check`].
    ///
    /// # Errors
    ///
    /// [`BodyError::Missing`] for a missing login id or membership tenant.
    pub fn into_new_user(self, path: &str) -> Result<NewUser, BodyError> {
        let login_id = self.check(path)?;
        let user_tenants = self.memberships().unwrap_or_default();
        let status = match (self.status, self.invite) {
            (Some(status), _) => Some(status),
            (None, Some(true)) => Some(UserStatus::Invited),
            (None, _) => None,
        };
        Ok(NewUser {
            login_id,
            additional_login_ids: self.additional_login_ids.unwrap_or_default(),
            email: self.email,
            phone: self.phone,
            name: self.display_name,
            given_name: self.given_name,
            family_name: self.family_name,
            status,
            verified_email: self.verified_email.unwrap_or(false),
            verified_phone: self.verified_phone.unwrap_or(false),
            role_names: self.role_names.unwrap_or_default(),
            user_tenants,
            custom_attributes: self.custom_attributes.unwrap_or_default(),
        })
    }

    /// Replaces the user's fields with these, as Descope's update does:
    /// an absent field clears the stored value.
    ///
    /// NOTE: Three fields keep their stored value when absent, because the
    /// Python SDK's `update` sends them only when set: `status`, the
    /// verified flags and `additionalLoginIds`.
    pub fn replace(&self, login_id: &str, user: &mut User) {
        if let Some(additional) = &self.additional_login_ids {
            user.login_ids = std::iter::once(login_id.to_owned()).chain(additional.iter().cloned()).collect();
        }
        user.email.clone_from(&self.email);
        user.phone.clone_from(&self.phone);
        user.name.clone_from(&self.display_name);
        user.given_name.clone_from(&self.given_name);
        user.family_name.clone_from(&self.family_name);
        if let Some(status) = self.status {
            user.status = status;
        }
        if let Some(verified) = self.verified_email {
            user.verified_email = verified;
        }
        if let Some(verified) = self.verified_phone {
            user.verified_phone = verified;
        }
        user.role_names = self.role_names.clone().unwrap_or_default();
        user.user_tenants = self.memberships().unwrap_or_default();
        user.custom_attributes = self.custom_attributes.clone().unwrap_or_default();
    }

    /// Sets the fields that are present and leaves the others as stored.
    /// An empty text value removes the field.
    pub fn apply_patch(&self, user: &mut User) {
        if let Some(additional) = &self.additional_login_ids {
            let primary = user.login_ids.first().cloned().unwrap_or_default();
            user.login_ids = std::iter::once(primary).chain(additional.iter().cloned()).collect();
        }

        let texts = [
            (&self.email, &mut user.email),
            (&self.phone, &mut user.phone),
            (&self.display_name, &mut user.name),
            (&self.given_name, &mut user.given_name),
            (&self.family_name, &mut user.family_name),
        ];
        for (requested, stored) in texts {
            if let Some(value) = requested {
                *stored = Some(value.clone()).filter(|value| !value.is_empty());
            }
        }

        if let Some(status) = self.status {
            user.status = status;
        }
        if let Some(verified) = self.verified_email {
            user.verified_email = verified;
        }
        if let Some(verified) = self.verified_phone {
            user.verified_phone = verified;
        }

        if let Some(roles) = &self.role_names {
            user.role_names.clone_from(roles);
        }
        if let Some(memberships) = self.memberships() {
            user.user_tenants = memberships;
        }

        // NOTE: Custom attributes are merged key by key, so a patch never drops
        // an attribute it does not name; Descope's own merge rule is not
        // documented in its SDK.
        if let Some(attributes) = &self.custom_attributes {
            for (key, value) in attributes {
                user.custom_attributes.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Body of `users/load` and `user/delete/batch`: users by user id.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdsBody {
    /// User ids.
    pub user_ids: Option<Vec<String>>,
}

/// Body of `user/create/batch`.
#[derive(Debug, Deserialize)]
pub struct CreateBatchBody {
    /// The users to create, each with the fields of `user/create`.
    pub users: Option<Vec<UserFields>>,
    /// Whether the users start as `invited`, unless a user sets its own `invite`.
    pub invite: Option<bool>,
}

/// Body of `user/patch/batch`.
#[derive(Debug, Deserialize)]
pub struct PatchBatchBody {
    /// The patches, each with the fields of `user/patch`.
    pub users: Option<Vec<UserFields>>,
}

/// Body of `user/delete`: the user by login id or, as `delete_by_user_id`
/// sends it, by user id.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteBody {
    /// Login id of the user.
    pub login_id: Option<String>,
    /// User id of the user.
    pub user_id: Option<String>,
}

/// Search filters as the Python SDK's `search_all` sends them. Filters the
/// SDK has and Sluice does not (`sort`, time ranges, `ssoAppIds`,
/// `tenantRoleNames`, families, lock reasons) are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchBody {
    /// Only users in one of these tenants.
    pub tenant_ids: Option<Vec<String>>,
    /// Only users with one of these project roles.
    pub role_names: Option<Vec<String>>,
    /// Only users with one of these statuses.
    pub statuses: Option<Vec<UserStatus>>,
    /// Only users with this text in a login id, email, phone or name.
    pub text: Option<String>,
    /// Only users with one of these login ids.
    pub login_ids: Option<Vec<String>>,
    /// Only users with one of these user ids.
    pub user_ids: Option<Vec<String>>,
    /// Only users with one of these email addresses.
    pub emails: Option<Vec<String>>,
    /// Only users with one of these phone numbers.
    pub phones: Option<Vec<String>>,
    /// Only users whose custom attributes match these (see [`attributes_match`]).
    pub custom_attributes: Option<Map<String, Value>>,
    /// Page number, from 0.
    pub page: Option<u32>,
    /// Users per page, at most 100. 0 takes the default.
    pub limit: Option<u32>,
    /// Whether to search test users only. Sluice has none.
    pub test_users_only: Option<bool>,
}

/// Body of `user/update/status`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusBody {
    /// Login id of the user.
    pub login_id: Option<String>,
    /// New status: `enabled` or `disabled`.
    pub status: Option<UserStatus>,
}

/// Body of `user/update/loginid`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginIdBody {
    /// Login id of the user.
    pub login_id: Option<String>,
    /// The login id that replaces `loginId`. Empty removes `loginId`.
    pub new_login_id: Option<String>,
}

/// Body of the email and phone updates. `failOnConflict` is accepted and
/// ignored, because Sluice does not turn an email or phone into a login id.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactBody {
    /// Login id of the user.
    pub login_id: Option<String>,
    /// New email address for `user/update/email`. Empty or absent removes it.
    pub email: Option<String>,
    /// New phone number for `user/update/phone`. Empty or absent removes it.
    pub phone: Option<String>,
    /// Whether the new address is verified.
    pub verified: Option<bool>,
}

/// Body of `user/update/name`. Only the name fields present are changed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NameBody {
    /// Login id of the user.
    pub login_id: Option<String>,
    /// Display name. Empty removes it.
    pub display_name: Option<String>,
    /// Given name. Empty removes it.
    pub given_name: Option<String>,
    /// Family name. Empty removes it.
    pub family_name: Option<String>,
}

/// Body of `user/update/customAttribute`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomAttributeBody {
    /// Login id of the user.
    pub login_id: Option<String>,
    /// Name of the custom attribute.
    pub attribute_key: Option<String>,
    /// New value of the custom attribute.
    pub attribute_value: Option<Value>,
}

/// Body of the role calls: project roles without `tenantId`, the roles
/// inside that tenant with it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolesBody {
    /// Login id of the user.
    pub login_id: Option<String>,
    /// The tenant whose roles change. Without it, the project roles change.
    pub tenant_id: Option<String>,
    /// The roles to set, add or remove.
    pub role_names: Option<Vec<String>>,
}

/// Body of `user/update/tenant/add` and `user/update/tenant/remove`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantBody {
    /// Login id of the user.
    pub login_id: Option<String>,
    /// The tenant to add or remove.
    pub tenant_id: Option<String>,
}

/// Returns whether `attributes` has every key of `filter` with a matching
/// value: an equal value, or one of the values when the filter is an array.
pub fn attributes_match(attributes: &Map<String, Value>, filter: &Map<String, Value>) -> bool {
    filter.iter().all(|(key, wanted)| {
        attributes.get(key).is_some_and(|actual| match wanted {
            Value::Array(options) => actual == wanted || options.contains(actual),
            _ => actual == wanted,
        })
    })
}
