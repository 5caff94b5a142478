//! Test fixture: an action that recurses as deep as its config requests, so
//! engine tests can check that a Wasm stack overflow becomes a step error
//! and that the host's Wasm stack size setting takes effect.
//!
//! Config `{"depth": 5000}` makes 5,000 nested calls and returns
//! `{"depth": 5000, "value": <number>}`. Without `depth` the recursion has
//! no practical end, so it runs until the stack overflows.

use serde_json::{Value, json};
use sluice_sdk::{Action, ActionOutput, Context, StepError};

/// The recursing action.
pub struct Recurse;

impl Action for Recurse {
    type Config = Value;

    fn run(config: Value, _context: &Context) -> Result<ActionOutput, StepError> {
        let depth = match config.get("depth") {
            None => u64::MAX,
            Some(value) => value.as_u64().ok_or_else(|| {
                StepError::invalid_config(
                    "invalid config field `depth`: expected a non-negative integer",
                )
            })?,
        };
        let value = descend(depth);
        Ok(ActionOutput::value(json!({"depth": depth, "value": value})))
    }
}

/// Recurses `depth` calls deep. The result depends on every level, and the
/// work after the call is two operations, so the compiler can neither fold
/// the recursion nor turn it into a loop. Each level keeps its state in Wasm
/// locals, so it uses the Wasm stack that the host limits and not the
/// guest's shadow stack in linear memory.
#[inline(never)]
fn descend(depth: u64) -> u64 {
    if depth == 0 {
        return 1;
    }
    let below = descend(depth - 1);
    below.wrapping_mul(31).wrapping_add(depth)
}

sluice_sdk::export_action!(Recurse);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::mock::run_action;

    #[test]
    fn shallow_recursion_returns_depth() {
        let output =
            run_action::<Recurse>(json!({"depth": 3}), json!({})).expect("3 levels fit any stack");

        // descend(0) = 1, then each level multiplies by 31 and adds its depth.
        let expected = ((31 + 1) * 31 + 2) * 31 + 3;
        assert_eq!(output.value, json!({"depth": 3, "value": expected}));
    }
}
