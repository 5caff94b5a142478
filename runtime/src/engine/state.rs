//! The data of one step's `Store`.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use std::sync::Arc;

use super::egress::{EgressHooks, EgressPolicy};
use super::limits::{StepLimiter, StepLimits, StepResources};
use crate::host::{HostContext, HostState};

/// Bytes of a guest's stderr kept to explain a panic.
const STDERR_CAPTURE_BYTES: usize = 4096;

/// Everything a running step may reach. A new one is made for every step.
pub struct StepState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    egress: EgressHooks,
    pub(crate) limiter: StepLimiter,
    pub(crate) host: HostState,
    pub(crate) stderr: MemoryOutputPipe,
}

impl StepState {
    pub(crate) fn new(
        context: HostContext,
        limits: &StepLimits,
        resources: StepResources,
        egress: Arc<EgressPolicy>,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        // No environment, arguments, preopened directories, sockets or
        // inherited stdio: WASI gives the guest clocks and randomness only.
        // Stderr goes to a bounded in-memory pipe so a panic message can be
        // reported with the trap.
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let egress = EgressHooks::new(
            context.connector.allowed_origins.clone(),
            context.connector.injected_headers.clone(),
            egress,
            context.step_id.clone(),
        );
        Self {
            wasi,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            egress,
            limiter: StepLimiter::new(limits.memory_bytes, resources),
            host: HostState::new(context, limits.host_calls, limits.host_call_bytes),
            stderr,
        }
    }

    /// Returns what the guest wrote to stderr, trimmed, as text.
    pub(crate) fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_owned()
    }

    /// Returns the egress denial recorded during the step, if any.
    pub(crate) fn egress_denial(&self) -> Option<String> {
        self.egress.denial()
    }
}

impl WasiView for StepState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StepState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

impl super::bindings::types::Host for StepState {
    fn convert_step_error(&mut self, error: crate::host::HostError) -> wasmtime::Result<super::bindings::types::StepError> {
        match error {
            crate::host::HostError::Step(error) => Ok(error),
            crate::host::HostError::Limit => Err(crate::host::limit_trap()),
        }
    }
}
