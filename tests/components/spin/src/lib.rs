//! Test fixture: an action that never returns, so engine tests can check
//! that the step deadline (epoch interruption) stops it.

use serde_json::Value;
use sluice_sdk::{Action, ActionOutput, Context, StepError};

/// The action that loops forever.
pub struct Spin;

impl Action for Spin {
    type Config = Value;

    fn run(_config: Value, _context: &Context) -> Result<ActionOutput, StepError> {
        let mut counter: u64 = 0;
        loop {
            // `black_box` keeps the optimizer from reasoning about the loop.
            counter = std::hint::black_box(counter.wrapping_add(1));
        }
    }
}

sluice_sdk::export_action!(Spin);
