//! Test fixture: an action that traps, so engine tests can check that a
//! guest fault becomes a step error and not a host failure.
//!
//! Config `{"mode": "unreachable"}` (the default) executes the wasm
//! `unreachable` instruction. With `{"mode": "panic"}` the action panics
//! instead: the panic message goes to the guest's stderr, and then the abort
//! traps as well (wasm32 targets always abort on panic).

use serde_json::Value;
use sluice_sdk::{Action, ActionOutput, Context, StepError};

/// The trapping action.
pub struct Trap;

impl Action for Trap {
    type Config = Value;

    fn run(config: Value, _context: &Context) -> Result<ActionOutput, StepError> {
        match config
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("unreachable")
        {
            "panic" => panic!("the trap fixture panics on purpose"),
            "unreachable" => trap(),
            other => Err(StepError::invalid_config(format!(
                "invalid config field `mode`: \"{other}\"; use \"unreachable\" or \"panic\""
            ))),
        }
    }
}

#[cfg(target_arch = "wasm32")]
fn trap() -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(not(target_arch = "wasm32"))]
fn trap() -> ! {
    std::process::abort()
}

sluice_sdk::export_action!(Trap);
