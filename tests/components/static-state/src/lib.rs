//! Test fixture: an action that counts its calls in a static and keeps a
//! heap buffer in another, so engine tests can check that every step starts
//! from a fresh instance whose memory contains nothing of an earlier step.
//!
//! Config: `{"bufferBytes": N}` sets the size of the buffer the call fills
//! (default 512 KiB, more than the memory the engine keeps resident between
//! steps). The result is `{"calls": <calls seen by this instance>,
//! "bufferFound": <whether the buffer was already filled>}`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use sluice_sdk::{Action, ActionOutput, Context, StepError};

/// Calls seen by this instance.
static CALLS: AtomicU32 = AtomicU32::new(0);

/// A heap buffer that a later call would find filled if memory leaked.
static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Default size of the buffer, in bytes.
const DEFAULT_BUFFER_BYTES: u64 = 512 << 10;

/// The state-reporting action.
pub struct StaticState;

impl Action for StaticState {
    type Config = Value;

    fn run(config: Value, _context: &Context) -> Result<ActionOutput, StepError> {
        let calls = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
        let bytes = config
            .get("bufferBytes")
            .map_or(Some(DEFAULT_BUFFER_BYTES), Value::as_u64)
            .and_then(|bytes| usize::try_from(bytes).ok())
            .ok_or_else(|| {
                StepError::invalid_config(
                    "invalid config field `bufferBytes`: expected a whole number of bytes",
                )
            })?;
        let mut buffer = BUFFER
            .lock()
            .map_err(|_| StepError::internal("the buffer lock is poisoned"))?;
        let buffer_found = buffer.iter().any(|byte| *byte != 0);
        buffer.clear();
        buffer.resize(bytes, 0xA5);
        Ok(ActionOutput::value(
            json!({"calls": calls, "bufferFound": buffer_found}),
        ))
    }
}

sluice_sdk::export_action!(StaticState);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_sdk::mock::run_action;

    #[test]
    fn second_call_in_one_instance_sees_state() {
        let config = json!({"bufferBytes": 64});

        let first = run_action::<StaticState>(config.clone(), json!({})).expect("first call");
        let second = run_action::<StaticState>(config, json!({})).expect("second call");

        assert_eq!(first.value["bufferFound"], false);
        assert_eq!(second.value["bufferFound"], true);
        assert_eq!(
            second.value["calls"].as_u64(),
            first.value["calls"].as_u64().map(|calls| calls + 1)
        );
    }
}
