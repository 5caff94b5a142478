//! The result type of actions.

use serde::Serialize;
use serde_json::Value;

use crate::error::StepError;
use crate::types::{Tenant, User};

/// The result of an action.
///
/// The engine stores `value` in the context at `actions.<context key>`. A
/// `user` becomes the flow's current user (`user.*`) and a `tenant` the
/// current tenant (`tenant.*`) for the steps that follow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActionOutput {
    /// The result stored at `actions.<context key>`.
    pub value: Value,
    /// When present, becomes the flow's current user.
    pub user: Option<User>,
    /// When present, becomes the flow's current tenant.
    pub tenant: Option<Tenant>,
}

impl ActionOutput {
    /// Creates an output with only a value.
    pub fn value(value: Value) -> Self {
        ActionOutput {
            value,
            user: None,
            tenant: None,
        }
    }

    /// Creates an output with any serializable value.
    ///
    /// # Errors
    ///
    /// Returns [`StepError::Internal`] when `value` does not serialize to
    /// JSON, for example a map with non-string keys.
    pub fn serialize<T: Serialize>(value: &T) -> Result<Self, StepError> {
        serde_json::to_value(value)
            .map(ActionOutput::value)
            .map_err(|error| {
                StepError::internal(format!(
                    "the action result does not serialize to JSON: {error}"
                ))
            })
    }

    /// Creates an output whose value is the user's JSON and which makes the
    /// user the flow's current user.
    pub fn user(user: User) -> Self {
        ActionOutput {
            value: to_json(&user),
            user: Some(user),
            tenant: None,
        }
    }

    /// Creates an output whose value is the tenant's JSON and which makes
    /// the tenant the flow's current tenant.
    pub fn tenant(tenant: Tenant) -> Self {
        ActionOutput {
            value: to_json(&tenant),
            user: None,
            tenant: Some(tenant),
        }
    }

    /// Replaces the value and keeps the user and tenant.
    pub fn with_value(mut self, value: Value) -> Self {
        self.value = value;
        self
    }

    /// Makes `user` the flow's current user and keeps the value.
    pub fn with_user(mut self, user: User) -> Self {
        self.user = Some(user);
        self
    }

    /// Makes `tenant` the flow's current tenant and keeps the value.
    pub fn with_tenant(mut self, tenant: Tenant) -> Self {
        self.tenant = Some(tenant);
        self
    }
}

/// Serializes an SDK record. The SDK's records contain only strings,
/// numbers, booleans, lists and string-keyed maps, which serde_json always
/// serializes, so the `Null` fallback is never reached.
fn to_json<T: Serialize>(record: &T) -> Value {
    serde_json::to_value(record).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_output_sets_value_and_user() {
        let user = User {
            user_id: "U1".into(),
            ..User::default()
        };
        let output = ActionOutput::user(user.clone());

        assert_eq!(output.value["userId"], "U1");
        assert_eq!(output.user, Some(user));
        assert_eq!(output.tenant, None);
    }

    #[test]
    fn builders_keep_other_parts() {
        let output =
            ActionOutput::tenant(Tenant::new("t1", "Acme")).with_value(json!({"created": true}));

        assert_eq!(output.value, json!({"created": true}));
        assert_eq!(output.tenant.map(|tenant| tenant.id), Some("t1".into()));
    }
}
