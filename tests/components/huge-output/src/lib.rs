//! Test fixture: an action that returns as much output as its config requests,
//! so engine tests can check the output size limit on data the guest makes
//! itself rather than data it was given.
//!
//! Config `{"bytes": 4194304}` returns `{"padding": "xxx…"}` with that many
//! `x` characters.

use serde_json::{Value, json};
use sluice_sdk::{Action, ActionOutput, Context, StepError};

/// The action with the large result.
pub struct HugeOutput;

impl Action for HugeOutput {
    type Config = Value;

    fn run(config: Value, _context: &Context) -> Result<ActionOutput, StepError> {
        let bytes = config
            .get("bytes")
            .and_then(Value::as_u64)
            .and_then(|bytes| usize::try_from(bytes).ok())
            .ok_or_else(|| {
                StepError::invalid_config(
                    "missing config field `bytes`: set the output size in bytes",
                )
            })?;
        Ok(ActionOutput::value(json!({"padding": "x".repeat(bytes)})))
    }
}

sluice_sdk::export_action!(HugeOutput);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::mock::run_action;

    #[test]
    fn output_has_requested_size() {
        let output = run_action::<HugeOutput>(json!({"bytes": 5}), json!({})).expect("runs");

        assert_eq!(output.value, json!({"padding": "xxxxx"}));
    }
}
