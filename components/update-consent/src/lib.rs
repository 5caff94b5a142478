//! Built-in action `builtin:update-consent`: grants or revokes the scopes a
//! user agreed to share with an application.
//!
//! Config: `{"appId": "crm", "grant": ["profile"], "revoke": ["email"]}`,
//! with the user as `userId` or `loginId`, or the current user when neither
//! is set. At least one of `grant` and `revoke` is required; with both,
//! the grant applies first. An empty `revoke` list revokes every scope of
//! the application. The result, stored at `actions.<key>`, is
//! `{"appId": "...", "scopes": [...]}` with the scopes granted after the
//! change.

use serde::Deserialize;
use serde_json::json;
use sluice_sdk::{Action, ActionOutput, Context, StepError, consent, users};

/// The step's configuration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// User id of the target user.
    pub user_id: Option<String>,
    /// Login id of the target user.
    pub login_id: Option<String>,
    /// Application the consent is for.
    pub app_id: String,
    /// Scopes to grant.
    pub grant: Option<Vec<String>>,
    /// Scopes to revoke; an empty list revokes all.
    pub revoke: Option<Vec<String>>,
}

/// The built-in update-consent action.
pub struct UpdateConsent;

impl Action for UpdateConsent {
    type Config = Config;

    fn run(config: Config, context: &Context) -> Result<ActionOutput, StepError> {
        if config.app_id.is_empty() {
            return Err(StepError::invalid_config(
                "invalid config field `appId`: it is empty",
            ));
        }
        if config.grant.is_none() && config.revoke.is_none() {
            return Err(StepError::invalid_config(
                "invalid config: set `grant`, `revoke` or both to a list of scopes",
            ));
        }
        let user = users::load_target(
            config.user_id.as_deref(),
            config.login_id.as_deref(),
            context,
        )?;

        let mut scopes = Vec::new();
        if let Some(grant) = &config.grant {
            scopes = consent::grant(&user.user_id, &config.app_id, grant)?;
        }
        if let Some(revoke) = &config.revoke {
            scopes = consent::revoke(&user.user_id, &config.app_id, revoke)?;
        }

        Ok(ActionOutput::value(
            json!({"appId": config.app_id, "scopes": scopes}),
        ))
    }
}

sluice_sdk::export_action!(UpdateConsent);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use sluice_sdk::User;
    use sluice_sdk::mock::{MockHost, run_action};

    fn ada() -> User {
        User {
            user_id: "U1".into(),
            login_ids: vec!["ada".into()],
            ..User::default()
        }
    }

    fn current() -> Value {
        json!({"user": {"userId": "U1"}})
    }

    fn run(config: Value, context: Value) -> Result<ActionOutput, StepError> {
        run_action::<UpdateConsent>(config, context)
    }

    #[test]
    fn grants_scopes() {
        let host = MockHost::new().with_user(ada()).install();

        let output = run(
            json!({"appId": "crm", "grant": ["profile", "email"]}),
            current(),
        )
        .expect("grant succeeds");

        assert_eq!(
            output.value,
            json!({"appId": "crm", "scopes": ["profile", "email"]})
        );
        assert_eq!(host.consents("U1", "crm"), vec!["profile", "email"]);
    }

    #[test]
    fn grants_then_revokes() {
        let host = MockHost::new()
            .with_user(ada())
            .with_consent("U1", "crm", &["email"])
            .install();
        let config =
            json!({"loginId": "ada", "appId": "crm", "grant": ["profile"], "revoke": ["email"]});

        let output = run(config, json!({})).expect("update succeeds");

        assert_eq!(output.value["scopes"], json!(["profile"]));
        assert_eq!(host.consents("U1", "crm"), vec!["profile"]);
    }

    #[test]
    fn empty_revoke_revokes_all() {
        let host = MockHost::new()
            .with_user(ada())
            .with_consent("U1", "crm", &["a", "b"])
            .install();

        let output =
            run(json!({"appId": "crm", "revoke": []}), current()).expect("revoke succeeds");

        assert_eq!(output.value["scopes"], json!([]));
        assert!(host.consents("U1", "crm").is_empty());
    }

    #[test]
    fn needs_grant_or_revoke() {
        let _host = MockHost::new().with_user(ada()).install();

        let error = run(json!({"appId": "crm"}), current()).expect_err("nothing to change");

        assert_eq!(error.kind(), "invalid-config");
    }

    #[test]
    fn missing_user_is_not_found() {
        let _host = MockHost::new().install();

        let error = run(
            json!({"userId": "U9", "appId": "crm", "grant": ["a"]}),
            json!({}),
        )
        .expect_err("no user");

        assert_eq!(error.kind(), "not-found");
    }
}
