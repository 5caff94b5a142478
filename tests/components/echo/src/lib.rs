//! Test fixture: an action that returns its input, so executor tests can
//! check template rendering and the context a step receives.
//!
//! The result is `{"config": <rendered config>, "context": <flow context>}`.

use serde_json::{Value, json};
use sluice_sdk::{Action, ActionOutput, Context, StepError};

/// The echoing action.
pub struct Echo;

impl Action for Echo {
    type Config = Value;

    fn run(config: Value, context: &Context) -> Result<ActionOutput, StepError> {
        Ok(ActionOutput::value(
            json!({"config": config, "context": context.as_value()}),
        ))
    }
}

sluice_sdk::export_action!(Echo);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::mock::run_action;

    #[test]
    fn echo_returns_config_and_context() {
        let config = json!({"greeting": "hello", "list": [1, 2]});
        let context = json!({"client": {"name": "Ada"}});

        let output = run_action::<Echo>(config.clone(), context.clone()).expect("echo never fails");

        assert_eq!(output.value, json!({"config": config, "context": context}));
        assert_eq!(output.user, None);
    }
}
