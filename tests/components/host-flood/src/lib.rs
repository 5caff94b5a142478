//! Test fixture: an action that floods the host with calls, or passes one
//! call more data than the host allows, so engine tests can check the
//! host-call count and host-call data limits.
//!
//! Config:
//!
//! - `mode`: what to flood the host with.
//!   - `"log"` writes `calls` log lines.
//!   - `"load"` makes `calls` user lookups and ignores their errors.
//!   - `"log-line"` writes one log line of `bytes` bytes.
//!   - `"audit"` emits one audit event whose data carries `bytes` bytes.
//!   - `"create-user"` creates one user with a custom attribute of `bytes` bytes.
//! - `calls`: number of calls for `"log"` and `"load"`, 1,000,000 by default.
//! - `bytes`: payload size for the other modes, 1 MiB by default.
//!
//! The result is `{"calls": <calls made>, "failed": <calls that failed>}`:
//! the fixture ignores every error, so only the host can stop it.

use serde_json::{Value, json};
use sluice_sdk::{
    Action, ActionOutput, Context, NewAuditEvent, NewUser, StepError, audit, log, users,
};

const DEFAULT_CALLS: u64 = 1_000_000;
const DEFAULT_BYTES: u64 = 1 << 20;

/// The flooding action.
pub struct HostFlood;

impl Action for HostFlood {
    type Config = Value;

    fn run(config: Value, _context: &Context) -> Result<ActionOutput, StepError> {
        let number = |field: &str, default: u64| match config.get(field) {
            None => Ok(default),
            Some(value) => value.as_u64().ok_or_else(|| {
                StepError::invalid_config(format!(
                    "invalid config field `{field}`: expected a non-negative integer"
                ))
            }),
        };
        let calls = number("calls", DEFAULT_CALLS)?;
        let bytes = usize::try_from(number("bytes", DEFAULT_BYTES)?)
            .map_err(|_| StepError::invalid_config("invalid config field `bytes`: too large"))?;
        let mode = config.get("mode").and_then(Value::as_str).unwrap_or("log");

        let mut calls_made: u64 = 0;
        let mut failed: u64 = 0;
        let mut count = |result: Result<(), StepError>| {
            calls_made += 1;
            if result.is_err() {
                failed += 1;
            }
        };
        match mode {
            "log" => {
                for index in 0..calls {
                    log::info(&format!("flood line {index}"));
                    count(Ok(()));
                }
            }
            "load" => {
                for index in 0..calls {
                    count(users::load(&format!("U{index}")).map(drop));
                }
            }
            "log-line" => {
                log::info(&"x".repeat(bytes));
                count(Ok(()));
            }
            "audit" => {
                let mut event = NewAuditEvent::new("FloodTested");
                event
                    .data
                    .insert("padding".to_owned(), Value::String("x".repeat(bytes)));
                count(audit::emit(&event).map(drop));
            }
            "create-user" => {
                let mut user = NewUser::new("flood@example.com");
                user.custom_attributes
                    .insert("padding".to_owned(), Value::String("x".repeat(bytes)));
                count(users::create(&user).map(drop));
            }
            other => {
                return Err(StepError::invalid_config(format!(
                    "invalid config field `mode`: \"{other}\"; use \"log\", \"load\", \"log-line\", \"audit\" \
                     or \"create-user\""
                )));
            }
        }
        Ok(ActionOutput::value(
            json!({"calls": calls_made, "failed": failed}),
        ))
    }
}

sluice_sdk::export_action!(HostFlood);
