//! Run slots: the bound on API runs that execute at once, for the whole
//! server and for each project.
//!
//! A run started through the API takes one slot of its project and one of
//! the server, or fails at once with 429 and `Retry-After`. Nothing waits in
//! a queue. The slot is released when the run ends, which can be after the
//! client that started it went away. Runs started by audit events take no
//! slot, because the `trigger_workers` workers already bound them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::error::ApiError;

/// Seconds sent in `Retry-After` when every slot is taken.
const RETRY_AFTER_SECS: u64 = 1;

/// The slots of the server and the number of slots each project holds.
#[derive(Debug)]
pub(crate) struct RunSlots {
    server: Arc<Semaphore>,
    server_limit: usize,
    project_limit: usize,
    /// Slots held by each project; a project with none has no entry.
    held: Mutex<HashMap<String, usize>>,
}

/// One taken slot; dropping it releases the slot of the project and of the server.
#[derive(Debug)]
pub(crate) struct RunSlot {
    _server: OwnedSemaphorePermit,
    _project: ProjectSlot,
}

#[derive(Debug)]
struct ProjectSlot {
    slots: Arc<RunSlots>,
    project: String,
}

impl RunSlots {
    /// Creates the slots. A limit of 0 is read as 1.
    pub(crate) fn new(server_limit: usize, project_limit: usize) -> Arc<Self> {
        let server_limit = server_limit.max(1);
        Arc::new(Self {
            server: Arc::new(Semaphore::new(server_limit)),
            server_limit,
            project_limit: project_limit.max(1),
            held: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for a run of `project`.
    ///
    /// # Errors
    ///
    /// Returns 429 with `Retry-After` when the project or the server has no
    /// free slot. The message names the limit and its setting.
    pub(crate) fn try_take(self: &Arc<Self>, project: &str) -> Result<RunSlot, ApiError> {
        let project_slot = self.try_take_project(project)?;
        let server_slot = Arc::clone(&self.server).try_acquire_owned().map_err(|_| {
            ApiError::too_many_requests(
                format!(
                    "the server already runs {} flows at once, the maximum that the setting \
                     `max_concurrent_runs` allows; retry after {RETRY_AFTER_SECS} s or raise the setting",
                    self.server_limit
                ),
                RETRY_AFTER_SECS,
            )
        })?;
        Ok(RunSlot {
            _server: server_slot,
            _project: project_slot,
        })
    }

    fn try_take_project(self: &Arc<Self>, project: &str) -> Result<ProjectSlot, ApiError> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(project.to_owned()).or_insert(0);
        if *count >= self.project_limit {
            return Err(ApiError::too_many_requests(
                format!(
                    "project `{project}` already runs {} flows at once, the maximum that the setting \
                     `max_concurrent_runs_per_project` allows; retry after {RETRY_AFTER_SECS} s or raise the setting",
                    self.project_limit
                ),
                RETRY_AFTER_SECS,
            ));
        }
        *count += 1;
        Ok(ProjectSlot {
            slots: Arc::clone(self),
            project: project.to_owned(),
        })
    }

    /// Returns the number of slots `project` has taken.
    #[cfg(test)]
    fn held_by(&self, project: &str) -> usize {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(project).copied().unwrap_or(0)
    }
}

impl Drop for ProjectSlot {
    fn drop(&mut self) {
        let mut held = self
            .slots
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.project) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.project);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn project_limit_leaves_other_projects_free() {
        let slots = RunSlots::new(10, 2);
        let first = slots.try_take("P1").expect("first slot");
        let second = slots.try_take("P1").expect("second slot");
        let full = slots.try_take("P1").expect_err("the project is full");
        assert_eq!(full.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(full.retry_after, Some(RETRY_AFTER_SECS));
        assert!(
            full.message.contains("max_concurrent_runs_per_project"),
            "message: {}",
            full.message
        );
        assert!(full.message.contains("`P1`"), "message: {}", full.message);

        let other = slots.try_take("P2").expect("another project still runs");
        drop(other);
        drop(first);
        assert_eq!(slots.held_by("P1"), 1);
        let again = slots.try_take("P1").expect("a released slot is free again");
        drop((second, again));
        assert_eq!(slots.held_by("P1"), 0);
        assert!(
            slots.held.lock().expect("lock").is_empty(),
            "no entry is left for idle projects"
        );
    }

    #[test]
    fn server_limit_applies_across_projects() {
        let slots = RunSlots::new(2, 2);
        let _first = slots.try_take("P1").expect("first slot");
        let _second = slots.try_take("P2").expect("second slot");
        let full = slots.try_take("P3").expect_err("the server is full");
        assert!(
            full.message.contains("`max_concurrent_runs`"),
            "message: {}",
            full.message
        );
        assert_eq!(
            slots.held_by("P3"),
            0,
            "a refused run holds no project slot"
        );
    }
}
