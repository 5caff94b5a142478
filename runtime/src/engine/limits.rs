//! Limits that bound one step: time, memory and output size.

use std::time::Duration;

/// Limits applied to one step run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepLimits {
    /// Wall-clock time the step may run before it is interrupted.
    pub timeout: Duration,
    /// Maximum size of each linear memory, in bytes.
    pub memory_bytes: usize,
    /// Maximum size of the step's JSON output, in bytes.
    pub output_bytes: usize,
    /// Maximum number of host calls the step may make.
    pub host_calls: u32,
}

impl Default for StepLimits {
    /// Returns one second, 64 MiB of linear memory, 1 MiB of output and 1,000
    /// host calls: generous for identity work, small enough that a runaway
    /// guest cannot starve the host.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            memory_bytes: 64 << 20,
            output_bytes: 1 << 20,
            host_calls: 1_000,
        }
    }
}

/// A [`wasmtime::ResourceLimiter`] that caps linear memory and remembers
/// whether the cap was hit, so a failed allocation is reported as a memory
/// limit rather than as the trap the guest turns it into.
#[derive(Debug)]
pub(crate) struct StepLimiter {
    memory_bytes: usize,
    pub(crate) memory_exceeded: bool,
}

/// Tables and instances a single step may create. A Rust guest needs one or
/// two of each; the margin leaves room for other toolchains.
const MAX_TABLES: usize = 20;
const MAX_INSTANCES: usize = 50;
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl StepLimiter {
    pub(crate) fn new(memory_bytes: usize) -> Self {
        Self {
            memory_bytes,
            memory_exceeded: false,
        }
    }
}

impl wasmtime::ResourceLimiter for StepLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_INSTANCES
    }
}
