//! Built-in action `builtin:delete-user`: deletes a user.
//!
//! The target is `userId` or `loginId`, or the current user when neither
//! is set. The result, stored at `actions.<key>`, is
//! `{"deleted": "<user id>"}`.
//!
//! NOTE: An action output can set the current user but not clear it, so
//! after deleting the current user, `user.*` still contains the deleted user's
//! data for later steps.

use serde::Deserialize;
use serde_json::json;
use sluice_sdk::{Action, ActionOutput, Context, StepError, users};

/// The step's configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// User id of the target user.
    pub user_id: Option<String>,
    /// Login id of the target user.
    pub login_id: Option<String>,
}

/// The built-in delete-user action.
pub struct DeleteUser;

impl Action for DeleteUser {
    type Config = Config;

    fn run(config: Config, context: &Context) -> Result<ActionOutput, StepError> {
        let user = users::load_target(
            config.user_id.as_deref(),
            config.login_id.as_deref(),
            context,
        )?;
        users::delete(&user.user_id)?;
        Ok(ActionOutput::value(json!({"deleted": user.user_id})))
    }
}

sluice_sdk::export_action!(DeleteUser);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use sluice_sdk::User;
    use sluice_sdk::mock::{MockHost, run_action};

    fn user(user_id: &str, login_id: &str) -> User {
        User {
            user_id: user_id.into(),
            login_ids: vec![login_id.into()],
            ..User::default()
        }
    }

    fn run(config: Value, context: Value) -> Result<ActionOutput, StepError> {
        run_action::<DeleteUser>(config, context)
    }

    #[test]
    fn deletes_current_user() {
        let host = MockHost::new()
            .with_user(user("U1", "ada"))
            .with_user(user("U2", "bob"))
            .install();

        let output = run(json!({}), json!({"user": {"userId": "U1"}})).expect("delete succeeds");

        assert_eq!(output.value, json!({"deleted": "U1"}));
        assert_eq!(host.users().len(), 1);
        assert!(host.user("U1").is_none());
    }

    #[test]
    fn deletes_by_login_id() {
        let host = MockHost::new().with_user(user("U1", "ada")).install();

        let output = run(json!({"loginId": "ada"}), json!({})).expect("delete succeeds");

        assert_eq!(output.value, json!({"deleted": "U1"}));
        assert!(host.users().is_empty());
    }

    #[test]
    fn missing_user_is_not_found() {
        let _host = MockHost::new().install();

        let error = run(json!({"userId": "U9"}), json!({})).expect_err("no such user");

        assert_eq!(error.kind(), "not-found");
    }
}
