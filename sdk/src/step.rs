//! The traits a component implements, one per world, and the shared path
//! that turns the host's JSON input into their arguments.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::context::Context;
use crate::error::StepError;
use crate::output::ActionOutput;

/// A step that reads and changes identity data: users, tenants, consent and
/// audit events. Export it with [`export_action!`](crate::export_action).
///
/// # Example
///
/// ```no_run
/// use sluice_sdk::{users, Action, ActionOutput, Context, StepError};
///
/// #[derive(serde::Deserialize)]
/// #[serde(rename_all = "camelCase")]
/// struct Config {
///     login_id: String,
/// }
///
/// struct LoadUser;
///
/// impl Action for LoadUser {
///     type Config = Config;
///
///     fn run(config: Config, _context: &Context) -> Result<ActionOutput, StepError> {
///         let user = users::load_by_login_id(&config.login_id)?;
///         Ok(ActionOutput::user(user))
///     }
/// }
///
/// sluice_sdk::export_action!(LoadUser);
/// ```
pub trait Action {
    /// The step's configuration, read from the rendered config JSON.
    type Config: DeserializeOwned;

    /// Runs the action once.
    ///
    /// # Errors
    ///
    /// Returns the [`StepError`] the engine records for the step; the step's
    /// error handling decides what happens next.
    fn run(config: Self::Config, context: &Context) -> Result<ActionOutput, StepError>;
}

/// A pure step that picks a branch from its configuration and the context.
/// Export it with [`export_condition!`](crate::export_condition).
///
/// # Example
///
/// ```no_run
/// use sluice_sdk::{Condition, Context, StepError};
///
/// #[derive(serde::Deserialize)]
/// struct Config {
///     domain: String,
/// }
///
/// struct EmailDomain;
///
/// impl Condition for EmailDomain {
///     type Config = Config;
///
///     fn evaluate(config: Config, context: &Context) -> Result<String, StepError> {
///         let email = context.get("user.email").and_then(|email| email.as_str()).unwrap_or("");
///         let suffix = format!("@{}", config.domain);
///         Ok(if email.ends_with(&suffix) { "match" } else { "other" }.to_string())
///     }
/// }
///
/// sluice_sdk::export_condition!(EmailDomain);
/// ```
pub trait Condition {
    /// The step's configuration, read from the rendered config JSON.
    type Config: DeserializeOwned;

    /// Evaluates the condition and returns the name of the branch to follow,
    /// such as `true` or `false`.
    ///
    /// # Errors
    ///
    /// Returns a [`StepError`] when the condition cannot be evaluated, for
    /// example because its configuration is invalid.
    fn evaluate(config: Self::Config, context: &Context) -> Result<String, StepError>;
}

/// A step that reaches an outside system over HTTP. A connector gets no flow
/// context: it sees only its configuration, which the flow author fills from
/// the context with templates. Export it with
/// [`export_connector!`](crate::export_connector).
///
/// # Example
///
/// ```no_run
/// use sluice_sdk::{config, http, Connector, StepError};
///
/// #[derive(serde::Deserialize)]
/// struct Config {
///     email: String,
/// }
///
/// struct RiskScore;
///
/// impl Connector for RiskScore {
///     type Config = Config;
///
///     fn run(config: Config) -> Result<serde_json::Value, StepError> {
///         let base_url = config::get("baseUrl")
///             .ok_or_else(|| StepError::invalid_config("the connector has no `baseUrl` setting"))?;
///         let token = config::secret("apiToken").unwrap_or_default();
///         let request = http::Request::post(format!("{base_url}/score"))
///             .bearer_auth(&token)
///             .json(&serde_json::json!({"email": config.email}))?;
///         http::send(request)?.error_for_status()?.json()
///     }
/// }
///
/// sluice_sdk::export_connector!(RiskScore);
/// ```
pub trait Connector {
    /// The step's configuration, read from the rendered config JSON.
    type Config: DeserializeOwned;

    /// Runs the connector once. The result is stored in the context at
    /// `connectors.<context key>`.
    ///
    /// # Errors
    ///
    /// Returns a [`StepError`]; map transport and HTTP failures to
    /// [`StepError::UpstreamFailure`].
    fn run(config: Self::Config) -> Result<Value, StepError>;
}

/// Reads a step configuration from the rendered config JSON. Empty text
/// reads as `{}`.
///
/// # Errors
///
/// Returns [`StepError::InvalidConfig`] naming the field that failed, such as
/// ``invalid config field `roles.set[0]`: invalid type: integer `1`, expected a string``.
pub fn parse_config<T: DeserializeOwned>(text: &str) -> Result<T, StepError> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let config = serde_path_to_error::deserialize(&mut deserializer).map_err(config_error)?;
    deserializer
        .end()
        .map_err(|error| StepError::invalid_config(format!("invalid config: {error}")))?;
    Ok(config)
}

fn config_error(error: serde_path_to_error::Error<serde_json::Error>) -> StepError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if path == "." || path.is_empty() {
        StepError::invalid_config(format!("invalid config: {inner}"))
    } else {
        StepError::invalid_config(format!("invalid config field `{path}`: {inner}"))
    }
}

/// Runs an action from the JSON text the host passes. The wasm export and
/// [`mock::run_action`](crate::mock::run_action) both go through here.
#[cfg(any(not(target_arch = "wasm32"), feature = "action"))]
pub(crate) fn run_action<T: Action>(
    config: &str,
    context: &str,
) -> Result<ActionOutput, StepError> {
    let config = parse_config::<T::Config>(config)?;
    let context = Context::from_json(context)?;
    T::run(config, &context)
}

/// Evaluates a condition from the JSON text the host passes.
#[cfg(any(not(target_arch = "wasm32"), feature = "condition"))]
pub(crate) fn evaluate_condition<T: Condition>(
    config: &str,
    context: &str,
) -> Result<String, StepError> {
    let config = parse_config::<T::Config>(config)?;
    let context = Context::from_json(context)?;
    T::evaluate(config, &context)
}

/// Runs a connector from the JSON text the host passes and serializes its
/// result.
#[cfg(any(not(target_arch = "wasm32"), feature = "connector"))]
pub(crate) fn run_connector<T: Connector>(config: &str) -> Result<Value, StepError> {
    let config = parse_config::<T::Config>(config)?;
    T::run(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[expect(
        dead_code,
        reason = "only the deserializer reads these fields in these tests"
    )]
    struct Sample {
        login_id: String,
        #[serde(default)]
        roles: Option<Roles>,
    }

    #[derive(Debug, Deserialize)]
    #[expect(
        dead_code,
        reason = "only the deserializer reads these fields in these tests"
    )]
    struct Roles {
        set: Vec<String>,
    }

    #[test]
    fn parse_config_names_missing_field() {
        let error = parse_config::<Sample>("{}").expect_err("loginId is required");

        assert_eq!(error.kind(), "invalid-config");
        assert!(
            error.message().contains("missing field `loginId`"),
            "{error}"
        );
    }

    #[test]
    fn parse_config_names_nested_path() {
        let error = parse_config::<Sample>(r#"{"loginId": "a", "roles": {"set": ["x", 1]}}"#)
            .expect_err("a number is no role name");

        assert!(error.message().contains("`roles.set[1]`"), "{error}");
    }

    #[test]
    fn parse_config_reads_empty_text_as_object() {
        let error = parse_config::<Sample>("").expect_err("loginId is required");
        assert!(error.message().contains("loginId"), "{error}");

        let value: Value = parse_config("  ").expect("empty config reads as {}");
        assert_eq!(value, serde_json::json!({}));
    }

    #[test]
    fn parse_config_rejects_trailing_text() {
        let error = parse_config::<Value>("{} x").expect_err("trailing text");
        assert_eq!(error.kind(), "invalid-config");
    }
}
