//! The durable queue of runs that audit events start.
//!
//! The dispatcher reads audit events in the order they were recorded, from a
//! stored cursor, and enqueues one run per (event, flow). Workers claim
//! queued runs, execute them and report the outcome. Every step is one store
//! transaction, so a crash at any point leaves either the state before the
//! step or the state after it.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Notify;

use super::{RunRecord, StoreError};
use crate::model::AuditEvent;

/// An audit event with its position in the order of recording, which is
/// shared by every project.
#[derive(Debug, Clone, PartialEq)]
pub struct SequencedEvent {
    /// Position of the event; later events have higher numbers.
    pub sequence: u64,
    /// The event.
    pub event: AuditEvent,
}

/// A run to enqueue for an audit event.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTriggeredRun {
    /// Run id.
    pub run_id: String,
    /// Flow to run.
    pub flow_id: String,
    /// Active flow version when the run was enqueued.
    pub flow_version: u32,
    /// The triggering event; its project is the run's project.
    pub event: AuditEvent,
    /// Position in a chain of triggered runs, 1 for an event no triggered run caused.
    pub depth: u32,
    /// When set, the run is stored as dead at once with this reason, such as
    /// a chain that reached the depth limit.
    pub dead_reason: Option<String>,
}

/// State of a triggered run in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggeredState {
    /// Waiting for a worker, possibly until a retry time.
    Queued,
    /// Claimed by a worker.
    Running,
    /// Finished; no further attempt is made.
    Done,
    /// Failed on every attempt or refused; kept for replay.
    Dead,
}

impl TriggeredState {
    /// Returns the name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    /// Parses a stored name.
    ///
    /// # Errors
    ///
    /// Fails with [`StoreError::Backend`] for a name no version of Sluice writes.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "queued" => Ok(Self::Queued),
            "running" => Ok(Self::Running),
            "done" => Ok(Self::Done),
            "dead" => Ok(Self::Dead),
            other => Err(StoreError::Backend(format!("stored triggered run state `{other}` is not a known state"))),
        }
    }
}

/// A triggered run as the queue stores it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggeredRun {
    /// Run id; the run's record in the run store has the same id.
    pub run_id: String,
    /// Project of the run.
    pub project: String,
    /// Flow to run.
    pub flow_id: String,
    /// The triggering event.
    pub event: AuditEvent,
    /// Position in a chain of triggered runs.
    pub depth: u32,
    /// Queue state.
    pub state: TriggeredState,
    /// Attempts started so far.
    pub attempts: u32,
    /// Unix milliseconds: when a queued run may next be claimed, or when a
    /// running run's claim expires.
    pub due: u64,
    /// Failure of the last attempt, or the reason the run is dead.
    pub last_error: Option<String>,
    /// Enqueue time in Unix milliseconds.
    pub created: u64,
}

/// Outcome of one attempt of a triggered run.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    /// The run completed; it leaves the queue.
    Done,
    /// The attempt failed and another one is due at this Unix millisecond.
    Retry {
        /// When the next attempt may start.
        due: u64,
        /// Failure of the attempt.
        error: String,
    },
    /// The run failed for good and is kept as dead.
    Dead {
        /// Reason the run is dead.
        reason: String,
    },
}

/// The durable queue of triggered runs.
///
/// A backend keeps the queue, the audit events and the run records in one
/// database, so that enqueueing, claiming and finishing each change the queue
/// and the run record in one transaction.
pub trait TriggerQueue: Send + Sync {
    /// Returns up to `limit` audit events of every project recorded after the
    /// dispatch cursor, oldest first.
    fn undispatched_events(&self, limit: u32) -> Result<Vec<SequencedEvent>, StoreError>;

    /// Enqueues `runs`, inserts their run records with status `queued` (or
    /// `dead`), and moves the dispatch cursor to `cursor`, all in one
    /// transaction. A run whose (project, event, flow) is already in the
    /// queue is skipped. Returns the number of runs enqueued.
    fn enqueue(&self, runs: &[NewTriggeredRun], cursor: u64) -> Result<u32, StoreError>;

    /// Claims the oldest queued run due at `now` (or a running run whose
    /// claim expired), marks it running until `lease_until`, counts the
    /// attempt and returns it. Returns `None` when nothing is due.
    fn claim(&self, now: u64, lease_until: u64) -> Result<Option<TriggeredRun>, StoreError>;

    /// Stores the record of a finished attempt and moves the run to the state
    /// `outcome` names, in one transaction.
    fn finish_attempt(&self, record: &RunRecord, outcome: &AttemptOutcome) -> Result<(), StoreError>;

    /// Returns every claimed run to the queue, for a start after a crash
    /// when no other process works on the same queue. Returns how many.
    fn release_claims(&self) -> Result<u32, StoreError>;

    /// Returns the depth of a triggered run, or `None` when `run_id` is not
    /// a triggered run of the project (an API run, or an unknown id).
    fn triggered_depth(&self, project: &str, run_id: &str) -> Result<Option<u32>, StoreError>;

    /// Returns the dead runs of a project, oldest first, optionally of one flow.
    fn dead_runs(&self, project: &str, flow_id: Option<&str>, limit: u32) -> Result<Vec<TriggeredRun>, StoreError>;

    /// Moves dead runs of a project back to the queue, due at `now`, with
    /// their attempt counts reset: the run `run_id`, or every dead run when
    /// it is `None`. Returns how many runs were moved.
    fn replay_dead(&self, project: &str, run_id: Option<&str>, now: u64) -> Result<u32, StoreError>;

    /// Deletes audit events that occurred before `before` (Unix
    /// milliseconds) and that the dispatcher has already read, together with
    /// the finished queue entries of that age. Returns the number of audit
    /// events deleted.
    fn purge_before(&self, before: u64) -> Result<u64, StoreError>;

    /// Returns the notifier that the store wakes after each commit that
    /// recorded an audit event, so the dispatcher need not poll.
    fn audit_notifier(&self) -> Arc<Notify>;
}
