//! The queue of triggered runs in `SqliteStore`: dispatch cursor, one run
//! per (event, flow), claims and leases, outcomes, replay and retention.

use std::path::Path;

use serde_json::{Value, json};
use sluice::model::{AuditEvent, NewAuditEvent};
use sluice::store::{
    AttemptOutcome, IdentityStore, NewTriggeredRun, RunRecord, RunStore, SqliteStore, TriggerQueue,
    TriggeredState,
};

const PROJECT: &str = "P1";

/// A time after every test's events, within SQLite's signed 64-bit integers.
const FAR_FUTURE: u64 = 1 << 62;

fn open(folder: &Path) -> SqliteStore {
    SqliteStore::open(&folder.join("sluice.db")).expect("open the store")
}

fn record(store: &SqliteStore, action: &str) -> AuditEvent {
    store
        .record_audit(
            PROJECT,
            NewAuditEvent {
                action: action.to_owned(),
                actor_id: "K1".to_owned(),
                ..NewAuditEvent::default()
            },
        )
        .expect("record an audit event")
}

fn run_for(event: &AuditEvent, flow_id: &str, run_id: &str) -> NewTriggeredRun {
    NewTriggeredRun {
        run_id: run_id.to_owned(),
        flow_id: flow_id.to_owned(),
        flow_version: 1,
        event: event.clone(),
        depth: 1,
        dead_reason: None,
    }
}

fn finished(run_id: &str, status: &str) -> RunRecord {
    RunRecord {
        run_id: run_id.to_owned(),
        project: PROJECT.to_owned(),
        flow_id: "welcome".to_owned(),
        flow_version: 1,
        status: status.to_owned(),
        input: json!({}),
        output: json!({ "ok": true }),
        error: Value::Null,
        trace: json!([]),
        created: 1,
        duration_us: 42,
    }
}

#[test]
fn events_are_dispatched_once_in_order() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    let first = record(&store, "UserCreated");
    let second = record(&store, "LoginFailed");

    let pending = store.undispatched_events(10).expect("read events");
    let actions: Vec<&str> = pending.iter().map(|e| e.event.action.as_str()).collect();
    assert_eq!(actions, ["UserCreated", "LoginFailed"]);
    assert!(pending[0].sequence < pending[1].sequence);
    assert_eq!(pending[0].event, first);
    assert_eq!(
        store.undispatched_events(1).expect("read events").len(),
        1,
        "the limit applies"
    );

    let runs = [
        run_for(&first, "welcome", "R1"),
        run_for(&first, "audit-copy", "R2"),
    ];
    assert_eq!(
        store.enqueue(&runs, pending[0].sequence).expect("enqueue"),
        2
    );
    // The same (event, flow) pairs again, as after a crash before the cursor
    // moved: nothing new is enqueued, even under new run ids.
    let again = [
        run_for(&first, "welcome", "R3"),
        run_for(&first, "audit-copy", "R4"),
    ];
    assert_eq!(
        store
            .enqueue(&again, pending[0].sequence)
            .expect("enqueue again"),
        0
    );
    assert_eq!(store.load_run(PROJECT, "R3").expect("load run"), None);

    let rest = store.undispatched_events(10).expect("read events");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].event, second);
    assert_eq!(
        store
            .load_run(PROJECT, "R1")
            .expect("load run")
            .expect("run stored")
            .status,
        "queued"
    );

    // The cursor survives reopening the file.
    drop(store);
    let store = open(folder.path());
    assert_eq!(store.undispatched_events(10).expect("read events").len(), 1);
}

#[test]
fn claims_respect_due_time_and_lease() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    let event = record(&store, "UserCreated");
    let cursor = store.undispatched_events(1).expect("read")[0].sequence;
    store
        .enqueue(&[run_for(&event, "welcome", "R1")], cursor)
        .expect("enqueue");

    let now = sluice::store::now_millis();
    let claimed = store
        .claim(now, now + 1_000)
        .expect("claim")
        .expect("a run is due");
    assert_eq!(claimed.run_id, "R1");
    assert_eq!(claimed.state, TriggeredState::Running);
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.event, event);
    assert_eq!(
        store
            .load_run(PROJECT, "R1")
            .expect("load")
            .expect("stored")
            .status,
        "running"
    );
    assert_eq!(
        store.claim(now, now + 1_000).expect("claim"),
        None,
        "a claimed run is not claimed again"
    );

    // Once the lease expires, another worker takes the run over.
    let later = now + 1_001;
    let taken_over = store
        .claim(later, later + 1_000)
        .expect("claim")
        .expect("lease expired");
    assert_eq!(taken_over.attempts, 2);

    store
        .finish_attempt(
            &finished("R1", "failed"),
            &AttemptOutcome::Retry {
                due: later + 5_000,
                error: "user not found".to_owned(),
            },
        )
        .expect("finish");
    assert_eq!(
        store.claim(later + 4_999, later + 9_000).expect("claim"),
        None,
        "not due yet"
    );
    let retried = store
        .claim(later + 5_000, later + 9_000)
        .expect("claim")
        .expect("due");
    assert_eq!(retried.last_error.as_deref(), Some("user not found"));
    assert_eq!(retried.attempts, 3);

    store
        .finish_attempt(&finished("R1", "completed"), &AttemptOutcome::Done)
        .expect("finish");
    let stored = store
        .load_run(PROJECT, "R1")
        .expect("load")
        .expect("stored");
    assert_eq!(stored.status, "completed");
    assert_eq!(stored.output, json!({ "ok": true }));
    assert_eq!(
        store.claim(FAR_FUTURE, FAR_FUTURE).expect("claim"),
        None,
        "a done run is never claimed"
    );
}

#[test]
fn released_claims_run_again_after_restart() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    let event = record(&store, "UserCreated");
    let cursor = store.undispatched_events(1).expect("read")[0].sequence;
    store
        .enqueue(&[run_for(&event, "welcome", "R1")], cursor)
        .expect("enqueue");
    let now = sluice::store::now_millis();
    store
        .claim(now, now + 600_000)
        .expect("claim")
        .expect("due");
    drop(store);

    let store = open(folder.path());
    assert_eq!(
        store.claim(now, now + 1_000).expect("claim"),
        None,
        "the claim outlives the process"
    );
    assert_eq!(store.release_claims().expect("release"), 1);
    assert_eq!(
        store
            .load_run(PROJECT, "R1")
            .expect("load")
            .expect("stored")
            .status,
        "queued"
    );
    let again = store
        .claim(now, now + 1_000)
        .expect("claim")
        .expect("released");
    assert_eq!(again.attempts, 2);
}

#[test]
fn dead_runs_are_listed_and_replayed() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    let event = record(&store, "UserCreated");
    let cursor = store.undispatched_events(1).expect("read")[0].sequence;
    let refused = NewTriggeredRun {
        dead_reason: Some("depth limit".to_owned()),
        depth: 9,
        ..run_for(&event, "loop", "R2")
    };
    store
        .enqueue(&[run_for(&event, "welcome", "R1"), refused], cursor)
        .expect("enqueue");
    assert_eq!(
        store.triggered_depth(PROJECT, "R2").expect("depth"),
        Some(9)
    );
    assert_eq!(
        store.triggered_depth(PROJECT, "api-run").expect("depth"),
        None
    );
    assert_eq!(
        store
            .load_run(PROJECT, "R2")
            .expect("load")
            .expect("stored")
            .status,
        "dead"
    );

    let now = sluice::store::now_millis();
    let claimed = store
        .claim(now, now + 1_000)
        .expect("claim")
        .expect("R1 is due");
    assert_eq!(claimed.run_id, "R1", "a refused run is never claimed");
    store
        .finish_attempt(
            &finished("R1", "failed"),
            &AttemptOutcome::Dead {
                reason: "failed on all 1 attempts".to_owned(),
            },
        )
        .expect("finish");
    assert_eq!(
        store
            .load_run(PROJECT, "R1")
            .expect("load")
            .expect("stored")
            .status,
        "dead"
    );

    let dead = store.dead_runs(PROJECT, None, 10).expect("dead runs");
    let ids: Vec<&str> = dead.iter().map(|run| run.run_id.as_str()).collect();
    assert_eq!(ids, ["R1", "R2"]);
    assert_eq!(dead[1].last_error.as_deref(), Some("depth limit"));
    assert_eq!(
        store
            .dead_runs(PROJECT, Some("loop"), 10)
            .expect("dead runs")
            .len(),
        1
    );
    assert_eq!(
        store.dead_runs("P2", None, 10).expect("dead runs"),
        Vec::new(),
        "scoped by project"
    );

    assert_eq!(
        store.replay_dead("P2", None, now).expect("replay"),
        0,
        "another project replays nothing"
    );
    assert_eq!(
        store.replay_dead(PROJECT, Some("R1"), now).expect("replay"),
        1
    );
    assert_eq!(
        store.replay_dead(PROJECT, Some("R1"), now).expect("replay"),
        0,
        "R1 is no longer dead"
    );
    let replayed = store
        .claim(now, now + 1_000)
        .expect("claim")
        .expect("R1 is queued");
    assert_eq!(
        (replayed.run_id.as_str(), replayed.attempts),
        ("R1", 1),
        "attempts restart"
    );
    assert_eq!(
        store.replay_dead(PROJECT, None, now).expect("replay all"),
        1
    );
    assert!(
        store
            .dead_runs(PROJECT, None, 10)
            .expect("dead runs")
            .is_empty()
    );
}

#[test]
fn retention_keeps_undispatched_events() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    let dispatched = record(&store, "UserCreated");
    let cursor = store.undispatched_events(1).expect("read")[0].sequence;
    store.enqueue(&[], cursor).expect("move the cursor");
    record(&store, "UserModified");

    assert_eq!(
        store.purge_before(FAR_FUTURE).expect("purge"),
        1,
        "only the dispatched event goes"
    );
    let left = store.audit_events(PROJECT).expect("audit events");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].action, "UserModified");
    assert_ne!(left[0].id, dispatched.id);
    assert_eq!(
        store.purge_before(0).expect("purge"),
        0,
        "nothing is older than the epoch"
    );
}

#[test]
fn audit_commit_wakes_the_dispatcher() {
    let store = SqliteStore::open_in_memory().expect("open");
    let notifier = store.audit_notifier();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let notified = notifier.notified();
        record(&store, "UserCreated");
        tokio::time::timeout(std::time::Duration::from_secs(5), notified)
            .await
            .expect("the commit wakes the waiter");
    });
    // A write without an audit event stores no wake-up.
    store
        .insert_run(&finished("R9", "completed"))
        .expect("insert run");
    runtime.block_on(async {
        let woken =
            tokio::time::timeout(std::time::Duration::from_millis(100), notifier.notified()).await;
        assert!(woken.is_err(), "no audit event, no wake-up");
    });
}

#[test]
fn upgrade_does_not_dispatch_old_events() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let path = folder.path().join("sluice.db");
    let store = open(folder.path());
    record(&store, "UserCreated");
    record(&store, "UserModified");
    drop(store);
    // Turn the file back into a schema version 1 database holding events, by
    // dropping what the later migrations created.
    let connection = rusqlite::Connection::open(&path).expect("open the file with rusqlite");
    connection
        .execute_batch(
            "DROP TABLE triggered_runs; DROP TABLE trigger_cursor; DROP TABLE connectors; DROP TABLE components; \
             DROP TABLE mcp_clients; DROP TABLE mcp_servers; PRAGMA user_version = 1;",
        )
        .expect("downgrade the schema");
    drop(connection);

    let store = open(folder.path());
    assert!(
        store.undispatched_events(10).expect("read").is_empty(),
        "events from before the upgrade stay undispatched"
    );
    record(&store, "UserDeleted");
    let pending = store.undispatched_events(10).expect("read");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].event.action, "UserDeleted");
}
