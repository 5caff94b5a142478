//! [`TriggerQueue`] on SQLite: the dispatch cursor and `triggered_runs`.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::identity::{AUDIT_COLUMNS, audit_event_from_row};
use super::records::{insert_run, update_run};
use super::{ExecuteCached, SqliteStore, backend, from_json, to_json};
use crate::store::{
    AttemptOutcome, NewTriggeredRun, RunRecord, SequencedEvent, StoreError, TriggerQueue, TriggeredRun,
    TriggeredState,
};

/// Columns read by [`triggered_from_row`], in its order.
const TRIGGERED_COLUMNS: &str = "run_id, project, flow_id, event, depth, state, attempts, due, last_error, created";

/// The columns of a `triggered_runs` row as SQLite returns them.
type TriggeredRow = (String, String, String, String, u32, String, u32, u64, Option<String>, u64);

fn triggered_row(row: &Row<'_>) -> rusqlite::Result<TriggeredRow> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
    ))
}

fn triggered_from_row(row: TriggeredRow) -> Result<TriggeredRun, StoreError> {
    let (run_id, project, flow_id, event, depth, state, attempts, due, last_error, created) = row;
    Ok(TriggeredRun {
        run_id,
        project,
        flow_id,
        event: from_json(&event, "triggered_runs.event")?,
        depth,
        state: TriggeredState::parse(&state)?,
        attempts,
        due,
        last_error,
        created,
    })
}

fn query_triggered(
    connection: &Connection,
    operation: &str,
    sql: &str,
    parameters: impl rusqlite::Params,
) -> Result<Vec<TriggeredRun>, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(backend(operation))?;
    let rows = statement.query_map(parameters, triggered_row).map_err(backend(operation))?;
    rows.map(|row| triggered_from_row(row.map_err(backend(operation))?))
        .collect()
}

/// Sets the status of a run record without touching the rest of it.
fn set_run_status(connection: &Connection, operation: &str, project: &str, run_id: &str, status: &str) -> Result<(), StoreError> {
    connection
        .execute_cached(
            "UPDATE runs SET status = ?3 WHERE project = ?1 AND run_id = ?2",
            params![project, run_id, status],
        )
        .map_err(backend(operation))?;
    Ok(())
}

impl TriggerQueue for SqliteStore {
    fn undispatched_events(&self, limit: u32) -> Result<Vec<SequencedEvent>, StoreError> {
        const OPERATION: &str = "reading audit events to dispatch";
        self.read(OPERATION, |connection| {
            // The project and sequence follow the columns that
            // `audit_event_from_row` reads, at indexes 10 and 11.
            let sql = format!(
                "SELECT {AUDIT_COLUMNS}, project, sequence FROM audit_events
                 WHERE sequence > (SELECT last_sequence FROM trigger_cursor WHERE id = 1)
                 ORDER BY sequence
                 LIMIT ?1"
            );
            let mut statement = connection.prepare_cached(&sql).map_err(backend(OPERATION))?;
            let mut rows = statement.query(params![limit]).map_err(backend(OPERATION))?;
            let mut events = Vec::new();
            while let Some(row) = rows.next().map_err(backend(OPERATION))? {
                let project: String = row.get(10).map_err(backend(OPERATION))?;
                events.push(SequencedEvent {
                    sequence: row.get(11).map_err(backend(OPERATION))?,
                    event: audit_event_from_row(&project, row)?,
                });
            }
            Ok(events)
        })
    }

    fn enqueue(&self, runs: &[NewTriggeredRun], cursor: u64) -> Result<u32, StoreError> {
        const OPERATION: &str = "enqueueing triggered runs";
        let now = crate::store::now_millis();
        self.write(OPERATION, |connection| {
            let mut enqueued = 0;
            for run in runs {
                let state = if run.dead_reason.is_some() { TriggeredState::Dead } else { TriggeredState::Queued };
                let inserted = connection
                    .execute_cached(
                        "INSERT INTO triggered_runs (project, run_id, event_id, flow_id, event, depth, state,
                                                     attempts, due, last_error, created)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?8)
                         ON CONFLICT (project, event_id, flow_id) DO NOTHING",
                        params![
                            run.event.project_id,
                            run.run_id,
                            run.event.id,
                            run.flow_id,
                            to_json(&run.event, "triggered_runs.event")?,
                            run.depth,
                            state.as_str(),
                            now,
                            run.dead_reason,
                        ],
                    )
                    .map_err(backend(OPERATION))?;
                if inserted == 0 {
                    continue;
                }
                enqueued += 1;
                insert_run(connection, &queued_record(run, state, now))?;
            }
            connection
                .execute_cached(
                    "UPDATE trigger_cursor SET last_sequence = max(last_sequence, ?1) WHERE id = 1",
                    params![cursor],
                )
                .map_err(backend(OPERATION))?;
            Ok(enqueued)
        })
    }

    fn claim(&self, now: u64, lease_until: u64) -> Result<Option<TriggeredRun>, StoreError> {
        const OPERATION: &str = "claiming a triggered run";
        self.write(OPERATION, |connection| {
            let sql = format!(
                "UPDATE triggered_runs SET state = 'running', attempts = attempts + 1, due = ?2
                 WHERE sequence = (
                     SELECT sequence FROM triggered_runs
                     WHERE state IN ('queued', 'running') AND due <= ?1
                     ORDER BY due, sequence
                     LIMIT 1)
                 RETURNING {TRIGGERED_COLUMNS}"
            );
            let claimed = connection
                .prepare_cached(&sql)
                .map_err(backend(OPERATION))?
                .query_row(params![now, lease_until], triggered_row)
                .optional()
                .map_err(backend(OPERATION))?;
            let Some(row) = claimed else {
                return Ok(None);
            };
            let run = triggered_from_row(row)?;
            set_run_status(connection, OPERATION, &run.project, &run.run_id, "running")?;
            Ok(Some(run))
        })
    }

    fn finish_attempt(&self, record: &RunRecord, outcome: &AttemptOutcome) -> Result<(), StoreError> {
        const OPERATION: &str = "finishing a triggered run";
        let (state, due, error, status) = match outcome {
            AttemptOutcome::Done => (TriggeredState::Done, 0, None, record.status.as_str()),
            AttemptOutcome::Retry { due, error } => (TriggeredState::Queued, *due, Some(error.as_str()), "queued"),
            AttemptOutcome::Dead { reason } => (TriggeredState::Dead, 0, Some(reason.as_str()), "dead"),
        };
        self.write(OPERATION, |connection| {
            let updated = connection
                .execute_cached(
                    "UPDATE triggered_runs SET state = ?3, due = ?4, last_error = ?5
                     WHERE project = ?1 AND run_id = ?2",
                    params![record.project, record.run_id, state.as_str(), due, error],
                )
                .map_err(backend(OPERATION))?;
            if updated == 0 {
                return Err(super::not_found("triggered run", &record.run_id));
            }
            let mut stored = record.clone();
            status.clone_into(&mut stored.status);
            update_run(connection, &stored)
        })
    }

    fn release_claims(&self) -> Result<u32, StoreError> {
        const OPERATION: &str = "releasing claimed triggered runs";
        self.write(OPERATION, |connection| {
            connection
                .execute_cached(
                    "UPDATE runs SET status = 'queued'
                     WHERE (project, run_id) IN (SELECT project, run_id FROM triggered_runs WHERE state = 'running')",
                    [],
                )
                .map_err(backend(OPERATION))?;
            let released = connection
                .execute_cached("UPDATE triggered_runs SET state = 'queued', due = 0 WHERE state = 'running'", [])
                .map_err(backend(OPERATION))?;
            Ok(u32::try_from(released).unwrap_or(u32::MAX))
        })
    }

    fn triggered_depth(&self, project: &str, run_id: &str) -> Result<Option<u32>, StoreError> {
        const OPERATION: &str = "reading the depth of a triggered run";
        self.read(OPERATION, |connection| {
            connection
                .prepare_cached("SELECT depth FROM triggered_runs WHERE project = ?1 AND run_id = ?2")
                .map_err(backend(OPERATION))?
                .query_row(params![project, run_id], |row| row.get(0))
                .optional()
                .map_err(backend(OPERATION))
        })
    }

    fn dead_runs(&self, project: &str, flow_id: Option<&str>, limit: u32) -> Result<Vec<TriggeredRun>, StoreError> {
        const OPERATION: &str = "listing dead runs";
        self.read(OPERATION, |connection| {
            let sql = format!(
                "SELECT {TRIGGERED_COLUMNS} FROM triggered_runs
                 WHERE project = ?1 AND state = 'dead' AND (?2 IS NULL OR flow_id = ?2)
                 ORDER BY sequence
                 LIMIT ?3"
            );
            query_triggered(connection, OPERATION, &sql, params![project, flow_id, limit])
        })
    }

    fn replay_dead(&self, project: &str, run_id: Option<&str>, now: u64) -> Result<u32, StoreError> {
        const OPERATION: &str = "replaying dead runs";
        self.write(OPERATION, |connection| {
            connection
                .execute_cached(
                    "UPDATE runs SET status = 'queued'
                     WHERE (project, run_id) IN (
                         SELECT project, run_id FROM triggered_runs
                         WHERE project = ?1 AND state = 'dead' AND (?2 IS NULL OR run_id = ?2))",
                    params![project, run_id],
                )
                .map_err(backend(OPERATION))?;
            let replayed = connection
                .execute_cached(
                    "UPDATE triggered_runs SET state = 'queued', attempts = 0, due = ?3
                     WHERE project = ?1 AND state = 'dead' AND (?2 IS NULL OR run_id = ?2)",
                    params![project, run_id, now],
                )
                .map_err(backend(OPERATION))?;
            Ok(u32::try_from(replayed).unwrap_or(u32::MAX))
        })
    }

    fn purge_before(&self, before: u64) -> Result<u64, StoreError> {
        const OPERATION: &str = "deleting old audit events";
        self.write(OPERATION, |connection| {
            let deleted = connection
                .execute_cached(
                    "DELETE FROM audit_events
                     WHERE occurred < ?1 AND sequence <= (SELECT last_sequence FROM trigger_cursor WHERE id = 1)",
                    params![before],
                )
                .map_err(backend(OPERATION))?;
            connection
                .execute_cached("DELETE FROM triggered_runs WHERE state = 'done' AND created < ?1", params![before])
                .map_err(backend(OPERATION))?;
            Ok(deleted as u64)
        })
    }

    fn audit_notifier(&self) -> std::sync::Arc<tokio::sync::Notify> {
        std::sync::Arc::clone(&self.audit_recorded)
    }
}

/// Returns the run record stored when a triggered run is enqueued.
fn queued_record(run: &NewTriggeredRun, state: TriggeredState, now: u64) -> RunRecord {
    let (status, error) = match &run.dead_reason {
        Some(reason) => ("dead", serde_json::json!({ "kind": "dead", "message": reason })),
        None => (state.as_str(), serde_json::Value::Null),
    };
    RunRecord {
        run_id: run.run_id.clone(),
        project: run.event.project_id.clone(),
        flow_id: run.flow_id.clone(),
        flow_version: run.flow_version,
        status: status.to_owned(),
        input: serde_json::json!({ "triggeringEvent": run.event }),
        output: serde_json::Value::Null,
        error,
        trace: serde_json::Value::Array(Vec::new()),
        created: now,
        duration_us: 0,
    }
}
