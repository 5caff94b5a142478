-- Schema version 2: the durable queue of runs that audit events start.

-- How far the dispatcher has read `audit_events`: every event with a
-- sequence number up to `last_sequence` has been matched to flows. One row.
-- It starts after the events recorded before this migration, so upgrading a
-- database does not start flows for old events.
CREATE TABLE trigger_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_sequence INTEGER NOT NULL
) STRICT;

INSERT INTO trigger_cursor (id, last_sequence) SELECT 1, coalesce(max(sequence), 0) FROM audit_events;

-- One row per (audit event, flow). The unique constraint on the pair is what
-- keeps a flow from running twice for one event, even when the dispatcher
-- reads an event again after a crash. The run itself, with its status and
-- trace, is the `runs` row with the same run id.
CREATE TABLE triggered_runs (
    sequence INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    run_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    flow_id TEXT NOT NULL,
    -- The triggering audit event as JSON, copied so that audit retention
    -- never removes the context of a run still waiting in the queue.
    event TEXT NOT NULL,
    -- Position in a chain of triggered runs: 1 for an event that no
    -- triggered run caused.
    depth INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts INTEGER NOT NULL,
    -- Unix milliseconds: a queued run is not claimed before this time, and a
    -- running run's claim expires at this time.
    due INTEGER NOT NULL,
    last_error TEXT,
    created INTEGER NOT NULL,
    UNIQUE (project, event_id, flow_id),
    UNIQUE (project, run_id)
) STRICT;

CREATE INDEX triggered_runs_by_state ON triggered_runs (state, due);
CREATE INDEX triggered_runs_of_project ON triggered_runs (project, state, sequence);
