//! Limits that bound one step: time, fuel, memory, tables, instances,
//! host calls and output size.

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
    /// Maximum data the guest may pass in one host call, in bytes: the
    /// strings, lists and JSON text of its arguments added up.
    pub host_call_bytes: usize,
    /// Instruction budget in wasmtime fuel units (about one per Wasm
    /// instruction); `None` runs without one. A budget needs an engine
    /// created with [`EngineSettings::fuel`](super::EngineSettings::fuel).
    pub fuel: Option<u64>,
}

impl Default for StepLimits {
    /// Returns one second, 64 MiB of linear memory, 1 MiB of output, 1,000
    /// host calls of at most 1 MiB each and no instruction budget: generous
    /// for identity work, small enough that a runaway guest cannot starve
    /// the host.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            memory_bytes: 64 << 20,
            output_bytes: 1 << 20,
            host_calls: 1_000,
            host_call_bytes: 1 << 20,
            fuel: None,
        }
    }
}

/// Tables, instances and table elements a single step may create, enforced
/// by the [`wasmtime::ResourceLimiter`] of its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepResources {
    /// Core instances per step; also the cap on linear memories, because a
    /// core instance defines at most one unless the multi-memory proposal
    /// is in use.
    pub instances: usize,
    /// Tables per step.
    pub tables: usize,
    /// Elements per table.
    pub table_elements: usize,
}

impl Default for StepResources {
    /// Returns 50 instances, 20 tables and 20,000 elements per table. A Rust
    /// guest built for wasm32-wasip2 has a few core instances (the program
    /// and small shims), one memory and a few small tables, and the margin
    /// leaves room for other toolchains. 20,000 elements is the pooling
    /// allocator's own default per table in wasmtime 48.
    fn default() -> Self {
        Self {
            instances: 50,
            tables: 20,
            table_elements: 20_000,
        }
    }
}

/// A [`wasmtime::ResourceLimiter`] that caps linear memory, tables and
/// instances, and remembers whether a cap was hit, so a failed allocation is
/// reported as a limit rather than as the trap the guest turns it into.
#[derive(Debug)]
pub(crate) struct StepLimiter {
    memory_bytes: usize,
    resources: StepResources,
    pub(crate) memory_exceeded: bool,
    pub(crate) table_exceeded: bool,
}

impl StepLimiter {
    pub(crate) fn new(memory_bytes: usize, resources: StepResources) -> Self {
        Self {
            memory_bytes,
            resources,
            memory_exceeded: false,
            table_exceeded: false,
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
        if desired > self.resources.table_elements {
            self.table_exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.resources.instances
    }

    fn tables(&self) -> usize {
        self.resources.tables
    }

    fn memories(&self) -> usize {
        self.resources.instances
    }
}
