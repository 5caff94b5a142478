//! `sluice:flow/log`: guest log messages into the host's structured log.

use super::limit_trap;
use crate::engine::StepState;
use crate::engine::bindings::log::{Host, Level};

/// Maximum length of a guest log message in bytes. Longer messages are cut
/// at a character boundary.
const MAX_MESSAGE_LEN: usize = 4096;

impl Host for StepState {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        // A line over the per-call data limit is not logged, and the step
        // stops with the limit's error.
        self.host.charge("log.log", message.len()).map_err(|_| limit_trap())?;
        let mut end = message.len().min(MAX_MESSAGE_LEN);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let message = &message[..end];
        let ctx = &self.host.context;
        let (flow, run, step) = (&ctx.flow_id, &ctx.run_id, &ctx.step_id);
        match level {
            Level::Trace => tracing::trace!(flow.id = %flow, run.id = %run, step.id = %step, "{message}"),
            Level::Debug => tracing::debug!(flow.id = %flow, run.id = %run, step.id = %step, "{message}"),
            Level::Info => tracing::info!(flow.id = %flow, run.id = %run, step.id = %step, "{message}"),
            Level::Warn => tracing::warn!(flow.id = %flow, run.id = %run, step.id = %step, "{message}"),
            Level::Error => tracing::error!(flow.id = %flow, run.id = %run, step.id = %step, "{message}"),
        }
        Ok(())
    }
}
