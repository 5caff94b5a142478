//! Test fixture: an action that allocates until allocation fails, so
//! engine tests can check the linear memory cap.
//!
//! Config:
//!
//! - `chunkBytes`: bytes per allocation, 1 MiB by default. Every byte is
//!   written, so the memory is really used.
//! - `onFailure`: `"error"` (the default) returns an `internal` step error
//!   with the number of bytes allocated; `"abort"` lets the Rust
//!   allocation failure handler abort, which traps.

use serde_json::{Value, json};
use sluice_sdk::{Action, ActionOutput, Context, StepError};

const DEFAULT_CHUNK_BYTES: usize = 1024 * 1024;

/// The allocating action.
pub struct MemoryHog;

impl Action for MemoryHog {
    type Config = Value;

    fn run(config: Value, _context: &Context) -> Result<ActionOutput, StepError> {
        let chunk_bytes = match config.get("chunkBytes") {
            None => DEFAULT_CHUNK_BYTES,
            Some(value) => value
                .as_u64()
                .and_then(|bytes| usize::try_from(bytes).ok())
                .filter(|bytes| *bytes > 0)
                .ok_or_else(|| {
                    StepError::invalid_config(
                        "invalid config field `chunkBytes`: expected a positive integer",
                    )
                })?,
        };
        let abort = match config
            .get("onFailure")
            .and_then(Value::as_str)
            .unwrap_or("error")
        {
            "error" => false,
            "abort" => true,
            other => {
                return Err(StepError::invalid_config(format!(
                    "invalid config field `onFailure`: \"{other}\"; use \"error\" or \"abort\""
                )));
            }
        };

        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let mut allocated: usize = 0;
        loop {
            if abort {
                chunks.push(vec![1; chunk_bytes]);
            } else {
                let mut chunk = Vec::new();
                if chunk.try_reserve_exact(chunk_bytes).is_err() || chunks.try_reserve(1).is_err() {
                    return Err(StepError::internal(format!(
                        "allocation failed after {allocated} bytes in chunks of {chunk_bytes} bytes"
                    )));
                }
                chunk.resize(chunk_bytes, 1);
                chunks.push(chunk);
            }
            allocated += chunk_bytes;
            // Unreachable in practice: a wasm32 memory ends at 4 GiB.
            if allocated == usize::MAX {
                return Ok(ActionOutput::value(json!({"allocated": allocated})));
            }
        }
    }
}

sluice_sdk::export_action!(MemoryHog);
