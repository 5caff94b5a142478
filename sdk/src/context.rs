//! The flow context a step reads, and the key paths that address it.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::StepError;
use crate::types::{AuditEvent, Tenant, User};

/// The flow context: one JSON object with the namespaces `client` (run
/// inputs), `user` (the current user), `tenant` (the current tenant),
/// `triggeringEvent` (the audit event that started the run),
/// `actions.<key>` and `connectors.<key>` (results of earlier steps).
///
/// # Example
///
/// ```
/// use serde_json::json;
/// use sluice_sdk::Context;
///
/// let context = Context::new(json!({
///     "client": {"loginId": "ada@example.com"},
///     "user": {"userId": "U1", "loginIds": ["ada@example.com", "ada"]},
/// }));
///
/// assert_eq!(context.get("client.loginId"), Some(&json!("ada@example.com")));
/// assert_eq!(context.get("user.loginIds[1]"), Some(&json!("ada")));
/// assert_eq!(context.user().map(|user| user.user_id), Some("U1".to_string()));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    value: Value,
}

/// An empty context: an empty JSON object.
impl Default for Context {
    fn default() -> Self {
        Context {
            value: Value::Object(Map::new()),
        }
    }
}

impl Context {
    /// Wraps a context value. Anything other than an object reads as an
    /// empty context.
    pub fn new(value: Value) -> Self {
        let value = match value {
            Value::Object(_) => value,
            _ => Value::Object(Map::new()),
        };
        Context { value }
    }

    /// Parses the context JSON the host passes to a step. Empty text reads
    /// as an empty context.
    ///
    /// # Errors
    ///
    /// Returns [`StepError::Internal`] when the text is not a JSON object,
    /// because the host always sends one.
    pub fn from_json(text: &str) -> Result<Self, StepError> {
        if text.trim().is_empty() {
            return Ok(Context::default());
        }
        match serde_json::from_str(text) {
            Ok(value @ Value::Object(_)) => Ok(Context { value }),
            Ok(other) => Err(StepError::internal(format!(
                "the flow context must be a JSON object, got {}",
                json_type_name(&other)
            ))),
            Err(error) => Err(StepError::internal(format!(
                "the flow context is not valid JSON: {error}"
            ))),
        }
    }

    /// Returns the value at a key path such as `user.email`,
    /// `actions.load.userTenants[0].tenantId` or `client.ids[2]`, or `None`
    /// when any part of the path is missing or the path is malformed.
    pub fn get(&self, path: &str) -> Option<&Value> {
        self.try_get(path).ok().flatten()
    }

    /// Returns the value at a key path like [`Context::get`], but reports a
    /// malformed path instead of treating it as missing.
    ///
    /// # Errors
    ///
    /// Returns [`StepError::InvalidConfig`] naming the path when it is
    /// malformed, for example `user..email` or `ids[x]`.
    pub fn try_get(&self, path: &str) -> Result<Option<&Value>, StepError> {
        let segments = parse_path(path)?;
        Ok(lookup(&self.value, &segments))
    }

    /// Returns the value at a key path deserialized as `T`, or `None` when
    /// the path is missing or holds `null`.
    ///
    /// # Errors
    ///
    /// Returns [`StepError::InvalidConfig`] when the path is malformed or the
    /// value does not deserialize as `T`.
    pub fn get_as<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, StepError> {
        match self.try_get(path)? {
            None | Some(Value::Null) => Ok(None),
            Some(value) => T::deserialize(value).map(Some).map_err(|error| {
                StepError::invalid_config(format!(
                    "context value `{path}` has the wrong type: {error}"
                ))
            }),
        }
    }

    /// Returns the run inputs, the `client` namespace.
    pub fn client(&self) -> Option<&Map<String, Value>> {
        self.value.get("client").and_then(Value::as_object)
    }

    /// Returns the flow's current user, or `None` when the context has no
    /// user: `user` is missing, `null`, has no `userId`, or does not read as
    /// a user.
    pub fn user(&self) -> Option<User> {
        let user: User = self.record("user")?;
        (!user.user_id.is_empty()).then_some(user)
    }

    /// Returns the user id of the flow's current user, without reading the
    /// rest of the user.
    pub fn user_id(&self) -> Option<&str> {
        self.get("user.userId")
            .and_then(Value::as_str)
            .filter(|user_id| !user_id.is_empty())
    }

    /// Returns the flow's current tenant, or `None` when `tenant` is
    /// missing, `null`, has no `id`, or does not read as a tenant.
    pub fn tenant(&self) -> Option<Tenant> {
        let tenant: Tenant = self.record("tenant")?;
        (!tenant.id.is_empty()).then_some(tenant)
    }

    /// Returns the audit event that started the run, or `None` when the run
    /// was started another way (an API call) or the event does not read as
    /// an audit event.
    pub fn triggering_event(&self) -> Option<AuditEvent> {
        let event: AuditEvent = self.record("triggeringEvent")?;
        (!event.action.is_empty() || !event.id.is_empty()).then_some(event)
    }

    /// Returns the result an earlier action stored under `key`.
    pub fn action_result(&self, key: &str) -> Option<&Value> {
        self.value.get("actions")?.get(key)
    }

    /// Returns the result an earlier connector stored under `key`.
    pub fn connector_result(&self, key: &str) -> Option<&Value> {
        self.value.get("connectors")?.get(key)
    }

    /// Returns the whole context.
    pub fn as_value(&self) -> &Value {
        &self.value
    }

    /// Consumes the context and returns its value.
    pub fn into_value(self) -> Value {
        self.value
    }

    fn record<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let value = self.value.get(key)?;
        if !value.is_object() {
            return None;
        }
        T::deserialize(value).ok()
    }
}

/// One step of a key path: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `a.b[0][1].c` into keys and indexes.
fn parse_path(path: &str) -> Result<Vec<Segment<'_>>, StepError> {
    let malformed = |reason: &str| {
        StepError::invalid_config(format!(
            "malformed key path `{path}`: {reason}; write keys separated by dots with \
             array indexes in brackets, such as `user.userTenants[0].tenantId`"
        ))
    };
    if path.is_empty() {
        return Err(malformed("it is empty"));
    }

    let mut segments = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(bracket) => part.split_at(bracket),
            None => (part, ""),
        };
        if key.is_empty() {
            return Err(malformed("a key is empty"));
        }
        segments.push(Segment::Key(key));
        while !rest.is_empty() {
            let Some(inner) = rest.strip_prefix('[') else {
                return Err(malformed("text follows a closing bracket"));
            };
            let Some(close) = inner.find(']') else {
                return Err(malformed("a bracket is not closed"));
            };
            let index = inner[..close]
                .parse::<usize>()
                .map_err(|_| malformed("an index is not a non-negative integer"))?;
            segments.push(Segment::Index(index));
            rest = &inner[close + 1..];
        }
    }
    Ok(segments)
}

fn lookup<'v>(root: &'v Value, segments: &[Segment<'_>]) -> Option<&'v Value> {
    segments
        .iter()
        .try_fold(root, |value, segment| match segment {
            Segment::Key(key) => value.as_object()?.get(*key),
            Segment::Index(index) => value.as_array()?.get(*index),
        })
}

/// Returns the JSON type name of a value, for error messages.
pub(crate) fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Context {
        Context::new(json!({
            "client": {"loginId": "ada@example.com", "ids": [[1, 2], [3]]},
            "user": {"userId": "U1", "email": "ada@example.com", "userTenants": [{"tenantId": "t1"}]},
            "actions": {"load": {"userId": "U1"}},
            "connectors": {"crm": {"score": 7}},
        }))
    }

    #[test]
    fn get_follows_keys_and_indexes() {
        let context = sample();

        assert_eq!(
            context.get("client.loginId"),
            Some(&json!("ada@example.com"))
        );
        assert_eq!(
            context.get("user.userTenants[0].tenantId"),
            Some(&json!("t1"))
        );
        assert_eq!(context.get("client.ids[0][1]"), Some(&json!(2)));
        assert_eq!(context.get("client.ids[1][0]"), Some(&json!(3)));
    }

    #[test]
    fn get_returns_none_for_missing_parts() {
        let context = sample();

        assert_eq!(context.get("client.missing"), None);
        assert_eq!(context.get("client.ids[5]"), None);
        assert_eq!(context.get("client.loginId.deeper"), None);
        assert_eq!(context.get("client[0]"), None);
    }

    #[test]
    fn try_get_rejects_malformed_paths() {
        let context = sample();
        for path in [
            "",
            "user..email",
            ".user",
            "ids[x]",
            "ids[0",
            "ids[0]x",
            "[0]",
            "ids[-1]",
        ] {
            let error = context.try_get(path).expect_err(path);
            assert_eq!(error.kind(), "invalid-config", "{path}");
            assert!(error.message().contains(path), "{path}: {error}");
        }
    }

    #[test]
    fn typed_accessors_read_namespaces() {
        let context = sample();

        assert_eq!(
            context.user().map(|user| user.email),
            Some(Some("ada@example.com".into()))
        );
        assert_eq!(context.user_id(), Some("U1"));
        assert_eq!(context.tenant(), None);
        assert_eq!(context.triggering_event(), None);
        assert_eq!(
            context.action_result("load"),
            Some(&json!({"userId": "U1"}))
        );
        assert_eq!(context.connector_result("crm"), Some(&json!({"score": 7})));
        assert_eq!(context.client().map(Map::len), Some(2));
    }

    #[test]
    fn user_without_id_is_none() {
        let context = Context::new(json!({"user": {}}));

        assert_eq!(context.user(), None);
        assert_eq!(context.user_id(), None);
    }

    #[test]
    fn get_as_reports_type_mismatch() {
        let context = sample();

        assert_eq!(
            context.get_as::<String>("user.email"),
            Ok(Some("ada@example.com".into()))
        );
        assert_eq!(context.get_as::<String>("user.phone"), Ok(None));
        let error = context
            .get_as::<u32>("user.email")
            .expect_err("a string is no number");
        assert_eq!(error.kind(), "invalid-config");
    }

    #[test]
    fn from_json_requires_object() {
        assert_eq!(
            Context::from_json("").map(|context| context.into_value()),
            Ok(json!({}))
        );
        assert!(Context::from_json("[1]").is_err());
        assert!(Context::from_json("{").is_err());
    }
}
