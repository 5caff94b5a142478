//! `sluice:flow/audit`: emit audit events on behalf of the run.

use super::PayloadBytes;
use super::convert::parse_object;
use super::HostError;
use crate::engine::StepState;
use crate::engine::bindings::action::sluice::flow::audit::Host;
use crate::engine::bindings::types::{AuditEvent, NewAuditEvent, StepError};
use crate::model::{self, MAX_AUDIT_ACTION_LEN};

impl Host for StepState {
    fn emit(&mut self, event: NewAuditEvent) -> Result<AuditEvent, HostError> {
        self.host.charge("audit.emit", event.payload_bytes())?;
        let action = event.action.trim();
        if action.is_empty() || action.len() > MAX_AUDIT_ACTION_LEN {
            return Err(StepError::InvalidConfig(format!(
                "audit action must be 1 to {MAX_AUDIT_ACTION_LEN} characters, got {} characters",
                action.len()
            )).into());
        }
        let ctx = &self.host.context;
        let new = model::NewAuditEvent {
            action: action.to_owned(),
            audit_type: event.type_.into(),
            actor_id: ctx.actor.id.clone(),
            user_id: event.user_id,
            tenants: event.tenants,
            remote_address: None,
            data: parse_object(&event.data, "audit event data")?,
        };
        Ok(ctx.store.record_audit(&ctx.project, new)?.into())
    }
}
