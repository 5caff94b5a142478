//! Built-in action `builtin:load-user`: loads a user and makes it the
//! flow's current user.
//!
//! Config, exactly one of:
//!
//! - `{"loginId": "ada@example.com"}`
//! - `{"userId": "U2abc"}`
//! - `{"from": "triggeringEvent"}`: the user of the audit event that started
//!   the run (`triggeringEvent.userId`).
//!
//! The result, stored at `actions.<key>`, is the user.

use serde::Deserialize;
use sluice_sdk::{Action, ActionOutput, Context, StepError, users};

/// A source of the user id other than the config.
#[derive(Debug, Clone, Copy, Deserialize)]
pub enum Source {
    /// The `userId` of the audit event that started the run.
    #[serde(rename = "triggeringEvent")]
    TriggeringEvent,
}

/// The step's configuration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Login id of the user.
    pub login_id: Option<String>,
    /// User id of the user.
    pub user_id: Option<String>,
    /// Another place to read the user id from.
    pub from: Option<Source>,
}

/// The built-in load-user action.
pub struct LoadUser;

impl Action for LoadUser {
    type Config = Config;

    fn run(config: Config, context: &Context) -> Result<ActionOutput, StepError> {
        let user = match (config.login_id, config.user_id, config.from) {
            (Some(login_id), None, None) => {
                if login_id.is_empty() {
                    return Err(StepError::invalid_config(
                        "invalid config field `loginId`: it is empty; check the template that fills it",
                    ));
                }
                users::load_by_login_id(&login_id)?
            }
            (None, Some(user_id), None) => {
                if user_id.is_empty() {
                    return Err(StepError::invalid_config(
                        "invalid config field `userId`: it is empty; check the template that fills it",
                    ));
                }
                users::load(&user_id)?
            }
            (None, None, Some(Source::TriggeringEvent)) => {
                let user_id = context
                    .get("triggeringEvent.userId")
                    .and_then(|value| value.as_str())
                    .filter(|user_id| !user_id.is_empty())
                    .ok_or_else(|| {
                        StepError::not_found(
                            "the run has no triggering event with a `userId`; \
                             start the flow from an audit event about a user, or set `loginId` or `userId`",
                        )
                    })?;
                users::load(user_id)?
            }
            _ => {
                return Err(StepError::invalid_config(
                    "invalid config: set exactly one of `loginId`, `userId` and `from` (\"triggeringEvent\")",
                ));
            }
        };
        Ok(ActionOutput::user(user))
    }
}

sluice_sdk::export_action!(LoadUser);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use sluice_sdk::User;
    use sluice_sdk::mock::{MockHost, run_action};

    fn ada() -> User {
        User {
            user_id: "U1".into(),
            login_ids: vec!["ada@example.com".into()],
            email: Some("ada@example.com".into()),
            ..User::default()
        }
    }

    fn run(config: Value, context: Value) -> Result<ActionOutput, StepError> {
        run_action::<LoadUser>(config, context)
    }

    #[test]
    fn loads_by_login_id() {
        let _host = MockHost::new().with_user(ada()).install();

        let output = run(json!({"loginId": "ada@example.com"}), json!({})).expect("user exists");

        assert_eq!(output.user, Some(ada()));
        assert_eq!(output.value["userId"], "U1");
        assert_eq!(output.value["email"], "ada@example.com");
    }

    #[test]
    fn loads_by_user_id() {
        let _host = MockHost::new().with_user(ada()).install();

        let output = run(json!({"userId": "U1"}), json!({})).expect("user exists");

        assert_eq!(output.user.map(|user| user.user_id), Some("U1".into()));
    }

    #[test]
    fn loads_triggering_event_user() {
        let _host = MockHost::new().with_user(ada()).install();
        let context = json!({"triggeringEvent": {"action": "UserCreated", "userId": "U1"}});

        let output = run(json!({"from": "triggeringEvent"}), context).expect("user exists");

        assert_eq!(output.user.map(|user| user.user_id), Some("U1".into()));
    }

    #[test]
    fn triggering_event_without_user_is_not_found() {
        let _host = MockHost::new().with_user(ada()).install();

        let error = run(json!({"from": "triggeringEvent"}), json!({})).expect_err("no event");

        assert_eq!(error.kind(), "not-found");
    }

    #[test]
    fn missing_user_is_not_found() {
        let _host = MockHost::new().install();

        let error =
            run(json!({"loginId": "nobody@example.com"}), json!({})).expect_err("no such user");

        assert_eq!(error.kind(), "not-found");
        assert!(error.message().contains("nobody@example.com"), "{error}");
    }

    #[test]
    fn config_needs_exactly_one_source() {
        let _host = MockHost::new().install();
        let cases = [
            json!({}),
            json!({"loginId": "a", "userId": "U1"}),
            json!({"loginId": ""}),
            json!({"userId": ""}),
            json!({"from": "somewhere"}),
            json!({"loginID": "a"}),
        ];
        for config in cases {
            let error = run(config.clone(), json!({})).expect_err("invalid config");
            assert_eq!(error.kind(), "invalid-config", "{config}: {error}");
        }
    }
}
