//! Emit audit events. Available to actions. Events emitted by a run name
//! the run as their actor, and they can start other flows.
//!
//! ```no_run
//! use sluice_sdk::{audit, AuditType, NewAuditEvent, StepError};
//!
//! # fn example() -> Result<(), StepError> {
//! let mut event = NewAuditEvent::new("UserReviewed");
//! event.audit_type = AuditType::Warn;
//! event.user_id = Some("U1".into());
//! event.data.insert("reason".into(), "manual check".into());
//! let stored = audit::emit(&event)?;
//! # let _ = stored;
//! # Ok(())
//! # }
//! ```

use crate::error::StepError;
use crate::host;
use crate::types::{AuditEvent, NewAuditEvent};

/// Records an audit event and returns it as stored, with its id, time and
/// actor.
///
/// # Errors
///
/// Returns [`StepError::InvalidConfig`] when the action name is empty.
pub fn emit(event: &NewAuditEvent) -> Result<AuditEvent, StepError> {
    host::audit::emit(event)
}
