//! Runs started by audit events: the dispatcher, the workers and the
//! retention task.
//!
//! The dispatcher reads new audit events from the store, matches each to the
//! active flows whose trigger lists its action, and enqueues one run per
//! (event, flow). Workers claim queued runs, execute them and store the
//! outcome: done, a retry after an exponential backoff, or dead after the
//! last attempt. Every step is one store transaction, so after a crash the
//! queue resumes where it stopped and no (event, flow) pair runs twice,
//! although a run that was in progress when the process died starts again.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::{Notify, watch};
use tokio_util::task::TaskTracker;

use crate::api::{AppState, FlowTrigger, run_record};
use crate::executor::{RunRequest, RunStatus};
use crate::store::{AttemptOutcome, NewTriggeredRun, TriggerQueue, TriggeredRun, now_millis};

/// Prefix of the actor id of changes made by a flow run:
/// `flow:<flow id>:<run id>`.
const RUN_ACTOR_PREFIX: &str = "flow:";

/// Audit events the dispatcher reads in one batch.
const DISPATCH_BATCH: u32 = 256;

/// How often idle tasks look at the store without being woken, which is
/// what picks up retries that have become due.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How often the retention task deletes old audit events.
const PURGE_INTERVAL: Duration = Duration::from_secs(3_600);

/// Settings of triggered runs.
#[derive(Debug, Clone)]
pub struct TriggerSettings {
    /// Workers executing triggered runs at once.
    pub workers: usize,
    /// Attempts of a run before it is kept as dead; 1 means no retry.
    pub max_attempts: u32,
    /// Delay before the first retry; each further retry doubles it.
    pub backoff: Duration,
    /// Maximum delay between two attempts.
    pub max_backoff: Duration,
    /// Maximum length of a chain of runs triggered by events of earlier triggered runs.
    pub max_depth: u32,
    /// How long a claim lasts before another worker may take the run over.
    /// It must exceed the longest run.
    pub lease: Duration,
    /// Age after which audit events are deleted; `None` keeps them forever.
    pub retention: Option<Duration>,
}

impl Default for TriggerSettings {
    fn default() -> Self {
        Self {
            workers: 4,
            max_attempts: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            max_depth: 8,
            lease: Duration::from_secs(600),
            retention: Some(Duration::from_secs(90 * 86_400)),
        }
    }
}

/// The background tasks of triggered runs.
#[derive(Debug)]
pub struct Triggers {
    tasks: TaskTracker,
    stop: watch::Sender<bool>,
}

impl Triggers {
    /// Returns claimed runs left by a previous process to the queue, then
    /// starts the dispatcher, the workers and the retention task.
    ///
    /// `queue` must be the store behind `state`. Only one process may work
    /// on a queue: claims are released at start.
    ///
    /// # Errors
    ///
    /// Fails when the claims cannot be released.
    pub async fn start(state: AppState, queue: Arc<dyn TriggerQueue>, settings: TriggerSettings) -> anyhow::Result<Self> {
        let released = {
            let queue = Arc::clone(&queue);
            tokio::task::spawn_blocking(move || queue.release_claims()).await??
        };
        if released > 0 {
            tracing::info!(runs = released, "Returned runs interrupted by the last stop to the queue");
        }
        let (stop, stopped) = watch::channel(false);
        let work = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            state,
            queue,
            settings,
            work,
        });
        let tasks = TaskTracker::new();
        tasks.spawn(Arc::clone(&shared).dispatch(stopped.clone()));
        for _ in 0..shared.settings.workers.max(1) {
            tasks.spawn(Arc::clone(&shared).work(stopped.clone()));
        }
        if shared.settings.retention.is_some() {
            tasks.spawn(Arc::clone(&shared).purge(stopped));
        }
        tasks.close();
        Ok(Self { tasks, stop })
    }

    /// Stops claiming runs and waits for the runs in progress to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.tasks.wait().await;
    }
}

struct Shared {
    state: AppState,
    queue: Arc<dyn TriggerQueue>,
    settings: TriggerSettings,
    /// Woken when runs were enqueued.
    work: Arc<Notify>,
}

/// Waits until `stopped` turns true or its sender is gone.
async fn wait_for_stop(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

impl Shared {
    async fn dispatch(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let recorded = self.queue.audit_notifier();
        loop {
            // Registered before the store is read, so an event committed
            // while this batch is handled wakes the next iteration.
            let notified = recorded.notified();
            match self.dispatch_batch().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => tracing::error!(error = %err, "Dispatching audit events failed; retrying"),
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = wait_for_stop(&mut stopped) => return,
            }
        }
    }

    /// Enqueues the runs of one batch of new audit events. Returns whether a
    /// full batch was read, so more may be waiting.
    async fn dispatch_batch(&self) -> anyhow::Result<bool> {
        let queue = Arc::clone(&self.queue);
        let events = tokio::task::spawn_blocking(move || queue.undispatched_events(DISPATCH_BATCH)).await??;
        let Some(last) = events.last() else {
            return Ok(false);
        };
        let cursor = last.sequence;
        let mut runs = Vec::new();
        for sequenced in &events {
            let event = &sequenced.event;
            let flows = self
                .state
                .flow_triggers(&event.project_id)
                .await
                .map_err(|err| anyhow::anyhow!(err.message))?;
            let cause = run_of_actor(&event.actor_id);
            let mut chain_depth = None;
            for flow in flows.iter().filter(|flow| flow.audit_events.contains(&event.action)) {
                if let Some((cause_flow, _)) = cause
                    && cause_flow == flow.flow_id
                    && !flow.own_events
                {
                    continue;
                }
                let depth = match chain_depth {
                    Some(depth) => depth,
                    None => {
                        let found = self.depth_after(&event.project_id, cause).await?;
                        chain_depth = Some(found);
                        found
                    }
                };
                runs.push(self.new_run(flow, event.clone(), depth, cause));
            }
        }
        let enqueued = {
            let queue = Arc::clone(&self.queue);
            tokio::task::spawn_blocking(move || queue.enqueue(&runs, cursor)).await??
        };
        if enqueued > 0 {
            tracing::debug!(runs = enqueued, cursor, "Enqueued triggered runs");
            self.work.notify_waiters();
        }
        Ok(events.len() >= DISPATCH_BATCH as usize)
    }

    /// Returns the depth of a run triggered by an event that `cause` caused.
    async fn depth_after(&self, project: &str, cause: Option<(&str, &str)>) -> anyhow::Result<u32> {
        let Some((_, run_id)) = cause else {
            return Ok(1);
        };
        let queue = Arc::clone(&self.queue);
        let (project, run_id) = (project.to_owned(), run_id.to_owned());
        let parent = tokio::task::spawn_blocking(move || queue.triggered_depth(&project, &run_id)).await??;
        // A run started through the API has depth 0.
        Ok(parent.unwrap_or(0).saturating_add(1))
    }

    fn new_run(&self, flow: &FlowTrigger, event: crate::model::AuditEvent, depth: u32, cause: Option<(&str, &str)>) -> NewTriggeredRun {
        let max_depth = self.settings.max_depth;
        let dead_reason = (depth > max_depth).then(|| {
            let cause_run = cause.map_or("", |(_, run)| run);
            format!(
                "the chain of triggered runs reached the depth limit of {max_depth}: event `{}` ({}) was \
                 recorded by run `{cause_run}`, itself started by an audit event. Check whether flows trigger \
                 each other in a loop, or raise `trigger_max_depth`",
                event.id, event.action
            )
        });
        if let Some(reason) = &dead_reason {
            tracing::warn!(project.id = %event.project_id, flow.id = %flow.flow_id, reason = %reason, "Triggered run rejected at the chain depth limit");
        }
        NewTriggeredRun {
            run_id: uuid::Uuid::new_v4().simple().to_string(),
            flow_id: flow.flow_id.clone(),
            flow_version: flow.version,
            event,
            depth,
            dead_reason,
        }
    }

    async fn work(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        loop {
            if *stopped.borrow() {
                return;
            }
            // Enabled before the claim, so runs enqueued between a claim that
            // found nothing and the wait below still wake this worker.
            let notified = self.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let claimed = {
                let queue = Arc::clone(&self.queue);
                let now = now_millis();
                let lease_until = now.saturating_add(millis(self.settings.lease));
                tokio::task::spawn_blocking(move || queue.claim(now, lease_until)).await
            };
            match claimed {
                Ok(Ok(Some(run))) => {
                    self.execute(run).await;
                    continue;
                }
                Ok(Ok(None)) => {}
                Ok(Err(err)) => tracing::error!(error = %err, "Claiming a triggered run failed"),
                Err(err) => tracing::error!(error = %err, "Claiming a triggered run panicked"),
            }
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = wait_for_stop(&mut stopped) => return,
            }
        }
    }

    /// Runs one attempt of a claimed run and stores its outcome.
    async fn execute(&self, run: TriggeredRun) {
        if run.attempts == 1 {
            let waited = now_micros().saturating_sub(run.event.occurred.saturating_mul(1_000));
            self.state.metrics().record_trigger_latency(waited);
        }
        let (record, outcome) = match self.state.deployed_flow(&run.project, &run.flow_id).await {
            Ok(deployed) => {
                let state = self.state.clone();
                let event = serde_json::to_value(&run.event).unwrap_or(Value::Null);
                let (project, run_id) = (run.project.clone(), run.run_id.clone());
                let executed = crate::api::run_blocking(&self.state, &run.project, &run.flow_id, move || {
                    let report = state.runtime().run(
                        &deployed.flow,
                        RunRequest {
                            project: project.clone(),
                            input: Map::new(),
                            triggering_event: Some(event.clone()),
                            run_id: Some(run_id),
                            keep_step_outputs: true,
                        },
                    );
                    state.metrics().record_run(&report);
                    Ok((report.status, run_record(&project, deployed.version, &report, triggered_input(event), 0)))
                })
                .await;
                match executed {
                    Ok((status, record)) => {
                        let outcome = self.outcome(&run, status, &record);
                        (record, outcome)
                    }
                    Err(err) => {
                        let record = failed_record(&run, &format!("the run's thread failed: {}", err.message));
                        let outcome = self.outcome(&run, RunStatus::Failed, &record);
                        (record, outcome)
                    }
                }
            }
            Err(err) => {
                let reason = format!("flow `{}` cannot run: {}", run.flow_id, err.message);
                (failed_record(&run, &reason), AttemptOutcome::Dead { reason })
            }
        };
        let mut record = record;
        record.created = run.created;
        let label = match &outcome {
            AttemptOutcome::Done => "done",
            AttemptOutcome::Retry { .. } => "retry",
            AttemptOutcome::Dead { .. } => "dead",
        };
        self.state.metrics().record_triggered_attempt(&run.flow_id, label);
        if let AttemptOutcome::Dead { reason } = &outcome {
            tracing::warn!(project.id = %run.project, flow.id = %run.flow_id, run.id = %run.run_id, reason = %reason, "Triggered run is dead");
        }
        if let AttemptOutcome::Retry { due, .. } = &outcome {
            // Wake the workers when the retry is due, so it starts on time
            // rather than at the next poll.
            let work = Arc::clone(&self.work);
            let delay = Duration::from_millis(due.saturating_sub(now_millis()));
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                work.notify_waiters();
            });
        }
        let queue = Arc::clone(&self.queue);
        let stored = tokio::task::spawn_blocking(move || queue.finish_attempt(&record, &outcome)).await;
        match stored {
            Ok(Ok(())) => {}
            // The claim expires and another attempt runs the flow again.
            Ok(Err(err)) => tracing::error!(run.id = %run.run_id, error = %err, "Storing a triggered run's outcome failed"),
            Err(err) => tracing::error!(run.id = %run.run_id, error = %err, "Storing a triggered run's outcome panicked"),
        }
    }

    /// Decides what follows an attempt that ended with `status`.
    fn outcome(&self, run: &TriggeredRun, status: RunStatus, record: &crate::store::RunRecord) -> AttemptOutcome {
        if status == RunStatus::Completed {
            return AttemptOutcome::Done;
        }
        let error = record
            .error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the run failed")
            .to_owned();
        if run.attempts >= self.settings.max_attempts {
            return AttemptOutcome::Dead {
                reason: format!("failed on all {} attempts; the last failure: {error}", run.attempts),
            };
        }
        let delay = backoff(&self.settings, run.attempts);
        AttemptOutcome::Retry {
            due: now_millis().saturating_add(millis(delay)),
            error,
        }
    }

    async fn purge(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let Some(retention) = self.settings.retention else {
            return;
        };
        loop {
            let before = now_millis().saturating_sub(millis(retention));
            let queue = Arc::clone(&self.queue);
            match tokio::task::spawn_blocking(move || queue.purge_before(before)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(deleted)) => tracing::info!(events = deleted, "Deleted audit events past the retention period"),
                Ok(Err(err)) => tracing::error!(error = %err, "Deleting old audit events failed"),
                Err(err) => tracing::error!(error = %err, "Deleting old audit events panicked"),
            }
            tokio::select! {
                () = tokio::time::sleep(PURGE_INTERVAL) => {}
                () = wait_for_stop(&mut stopped) => return,
            }
        }
    }
}

/// Returns the flow id and run id of an actor id of the form
/// `flow:<flow id>:<run id>`, or `None` for any other actor.
fn run_of_actor(actor_id: &str) -> Option<(&str, &str)> {
    actor_id.strip_prefix(RUN_ACTOR_PREFIX)?.rsplit_once(':')
}

/// Returns the delay before the attempt after attempt number `attempts`.
fn backoff(settings: &TriggerSettings, attempts: u32) -> Duration {
    let factor = 1u32 << attempts.saturating_sub(1).min(20);
    settings.backoff.saturating_mul(factor).min(settings.max_backoff)
}

/// Returns what a triggered run's record shows as its input: the event that
/// started it, since such a run has no client input.
pub(crate) fn triggered_input(event: Value) -> Value {
    serde_json::json!({ "triggeringEvent": event })
}

fn now_micros() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_micros()).unwrap_or(u64::MAX)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Returns the record of an attempt that failed before or outside the flow.
fn failed_record(run: &TriggeredRun, message: &str) -> crate::store::RunRecord {
    crate::store::RunRecord {
        run_id: run.run_id.clone(),
        project: run.project.clone(),
        flow_id: run.flow_id.clone(),
        flow_version: 0,
        status: "failed".to_owned(),
        input: triggered_input(serde_json::to_value(&run.event).unwrap_or(Value::Null)),
        output: Value::Null,
        error: serde_json::json!({ "stepId": null, "kind": "run-failed", "message": message }),
        trace: Value::Array(Vec::new()),
        created: run.created,
        duration_us: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_actor_is_parsed() {
        assert_eq!(run_of_actor("flow:welcome:abc123"), Some(("welcome", "abc123")));
        assert_eq!(run_of_actor("flow:a:b:c"), Some(("a:b", "c")));
        assert_eq!(run_of_actor("K123"), None);
        assert_eq!(run_of_actor("flow:nocolon"), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let settings = TriggerSettings {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1_000),
            ..TriggerSettings::default()
        };
        assert_eq!(backoff(&settings, 1), Duration::from_millis(100));
        assert_eq!(backoff(&settings, 2), Duration::from_millis(200));
        assert_eq!(backoff(&settings, 4), Duration::from_millis(800));
        assert_eq!(backoff(&settings, 5), Duration::from_millis(1_000));
        assert_eq!(backoff(&settings, 40), Duration::from_millis(1_000));
    }
}
