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
mod tenants;
mod users;

use std::collections::HashMap;
use std::sync::Arc;

use crate::engine::bindings::types::StepError;
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
    pub(crate) calls_left: u32,
    pub(crate) call_limit_hit: bool,
}

impl HostState {
    pub(crate) fn new(context: HostContext, call_limit: u32) -> Self {
        Self {
            context,
            calls_left: call_limit,
            call_limit_hit: false,
        }
    }

    /// Counts one host call and fails once the step's budget is spent.
    pub(crate) fn charge(&mut self) -> Result<(), StepError> {
        if self.calls_left == 0 {
            self.call_limit_hit = true;
            return Err(StepError::Denied(
                "the step made more host calls than its limit allows".to_owned(),
            ));
        }
        self.calls_left -= 1;
        Ok(())
    }
}
