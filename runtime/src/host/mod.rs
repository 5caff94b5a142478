//! Host calls of the `sluice:flow` worlds, one file per WIT interface.
//!
//! Every call acts inside the project of the run that owns the step: the
//! project id comes from [`HostContext`], never from the guest, so a guest
//! cannot name another project.

mod audit;
mod connector_config;
mod consent;
pub(crate) mod convert;
mod log;
mod payload;
mod tenants;
mod users;

use std::collections::HashMap;
use std::sync::Arc;

use crate::engine::bindings::types::StepError;
use crate::engine::{ErrorKind, StepFailure};

pub(crate) use self::payload::PayloadBytes;
use crate::store::{Actor, IdentityStore};

/// Scope of the host calls of one step: the ids, the store and the actor.
#[derive(Clone)]
pub struct HostContext {
    /// Project of the run.
    pub project: String,
    /// Flow being run.
    pub flow_id: String,
    /// Run id.
    pub run_id: String,
    /// Step being run.
    pub step_id: String,
    /// Store of users, tenants and audit events.
    pub store: Arc<dyn IdentityStore>,
    /// Actor recorded on changes made by the step.
    pub actor: Actor,
    /// Configuration and secrets of the connector instance, for connector steps.
    pub connector: ConnectorBinding,
}

impl std::fmt::Debug for HostContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostContext")
            .field("project", &self.project)
            .field("flow_id", &self.flow_id)
            .field("run_id", &self.run_id)
            .field("step_id", &self.step_id)
            .finish_non_exhaustive()
    }
}

/// Configuration, secrets and egress rules bound to a connector step.
#[derive(Clone, Default)]
pub struct ConnectorBinding {
    /// Plain settings such as the base URL.
    pub config: HashMap<String, String>,
    /// Secrets such as tokens; never logged.
    pub secrets: HashMap<String, String>,
    /// Origins the connector may reach, as `scheme://host:port`; empty denies all.
    pub allowed_origins: Vec<String>,
    /// Headers the host adds to requests to the first allowed origin, the
    /// instance's base URL: default headers and authentication. They may
    /// carry secrets, so they are never logged.
    pub injected_headers: Vec<(String, String)>,
}

impl std::fmt::Debug for ConnectorBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorBinding")
            .field("config", &self.config)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("allowed_origins", &self.allowed_origins)
            .field(
                "injected_headers",
                &self
                    .injected_headers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Per-step host state: the context plus the host-call budget.
#[derive(Debug)]
pub(crate) struct HostState {
    pub(crate) context: HostContext,
    calls_left: u32,
    call_limit: u32,
    call_bytes_limit: usize,
    /// The first host-call limit the step broke. It fails the step whatever
    /// the guest returns, because a guest may ignore the error of its call.
    pub(crate) violation: Option<StepFailure>,
}

impl HostState {
    pub(crate) fn new(context: HostContext, call_limit: u32, call_bytes_limit: usize) -> Self {
        Self {
            context,
            calls_left: call_limit,
            call_limit,
            call_bytes_limit,
            violation: None,
        }
    }

    /// Counts one call of `call` that passes `bytes` of data, and fails once
    /// the step's call budget is spent or when `bytes` is over the per-call
    /// limit. After the first failure every further call fails at once.
    ///
    /// A failure is [`HostError::Limit`], which traps, so the guest stops at
    /// the call that broke the limit.
    pub(crate) fn charge(&mut self, call: &str, bytes: usize) -> Result<(), HostError> {
        if self.violation.is_some() {
            return Err(HostError::Limit);
        }
        if self.calls_left == 0 {
            return Err(self.violate(StepFailure::new(
                ErrorKind::HostCallLimit,
                format!(
                    "the step made more than {} host calls; a step may raise its limit with \
                     `limits.hostCalls`, or a component with `host_calls` in its manifest, up to the \
                     server setting `max_step_host_calls`",
                    self.call_limit
                ),
            )));
        }
        if bytes > self.call_bytes_limit {
            return Err(self.violate(StepFailure::new(
                ErrorKind::HostDataLimit,
                format!(
                    "the step passed {bytes} bytes to `{call}`, more than the limit of {} bytes per \
                     host call; a step may raise it with `limits.hostCallBytes`, or a component with \
                     `host_call_bytes` in its manifest, up to the server setting `max_step_host_call_bytes`",
                    self.call_bytes_limit
                ),
            )));
        }
        self.calls_left -= 1;
        Ok(())
    }

    fn violate(&mut self, failure: StepFailure) -> HostError {
        self.violation = Some(failure);
        HostError::Limit
    }
}

/// Error of a host call.
#[derive(Debug)]
pub enum HostError {
    /// A failure the guest receives as its `step-error`.
    Step(StepError),
    /// A broken host-call limit, recorded in the step's state. It traps, so
    /// the guest stops at the call, and the step fails with the limit's kind.
    Limit,
}

impl From<StepError> for HostError {
    fn from(error: StepError) -> Self {
        Self::Step(error)
    }
}

impl From<crate::store::StoreError> for HostError {
    fn from(error: crate::store::StoreError) -> Self {
        Self::Step(error.into())
    }
}

/// Returns the trap that stops a guest after it broke a host-call limit.
pub(crate) fn limit_trap() -> wasmtime::Error {
    wasmtime::Error::msg("the step broke a host-call limit")
}
