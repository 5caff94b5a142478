//! Runs started by audit events, against a real `sluice serve` process:
//! matching, the event in the context, self-triggering, chain depth, retry,
//! dead runs and replay, and a SIGKILL in the middle of a stream of events.

mod common;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice::store::{IdentityStore, RunStore, SqliteStore};

use common::server::{PROJECT, Server};

/// Calls `check` until it returns `Some`, for at most `limit`.
fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn import(server: &Server, flow: Value) {
    let (status, body) = server.post("/v1/mgmt/flow/import", json!({ "flow": flow }));
    assert_eq!(status, 200, "import: {body}");
}

fn runs_of(server: &Server, flow_id: &str) -> Vec<Value> {
    let (status, body) = server.post("/v1/mgmt/flow/runs", json!({ "flowId": flow_id, "limit": 1000 }));
    assert_eq!(status, 200, "list runs: {body}");
    body["runs"].as_array().cloned().unwrap_or_default()
}

fn run_detail(server: &Server, run_id: &str) -> Value {
    let (status, body) = server.call("GET", &format!("/v1/mgmt/flow/runs/{run_id}"), None, Some(&auth()));
    assert_eq!(status, 200, "get run: {body}");
    body["run"].clone()
}

fn auth() -> String {
    format!("{PROJECT}:{}", common::server::KEY)
}

fn send_event(server: &Server, action: &str, user_id: Option<&str>, data: Value) {
    let mut body = json!({ "action": action, "type": "info", "actorId": "scim-service", "tenantId": "", "data": data });
    if let Some(user_id) = user_id {
        body["userId"] = json!(user_id);
    }
    let (status, response) = server.post("/v1/mgmt/audit/event", body);
    assert_eq!(status, 200, "custom event: {response}");
}

fn create_user(server: &Server, login_id: &str) -> Value {
    let (status, body) = server.post("/v1/mgmt/user/create", json!({ "loginId": login_id, "email": login_id }));
    assert_eq!(status, 200, "create user: {body}");
    body["user"].clone()
}

fn load_user(server: &Server, login_id: &str) -> Value {
    let (status, body) = server.call("GET", &format!("/v1/mgmt/user?loginId={login_id}"), None, Some(&auth()));
    assert_eq!(status, 200, "load user: {body}");
    body["user"].clone()
}

/// Waits until every run of `flow_id` has left the queue and returns them.
fn settled_runs(server: &Server, flow_id: &str, expected: usize) -> Vec<Value> {
    wait_for(Duration::from_secs(20), &format!("{expected} settled runs of {flow_id}"), || {
        let runs = runs_of(server, flow_id);
        let settled = runs
            .iter()
            .all(|run| matches!(run["status"].as_str(), Some("completed" | "failed" | "dead")));
        (runs.len() >= expected && settled).then_some(runs)
    })
}

#[test]
fn user_created_starts_flow_with_event_in_context() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    import(
        &server,
        json!({
            "id": "tag-new-user", "type": "management",
            "trigger": { "api": false, "auditEvents": ["UserCreated"] },
            "start": "load",
            "steps": [
                { "id": "load", "kind": "action", "component": "builtin:load-user",
                  "config": { "from": "triggeringEvent" }, "next": { "success": "tag" } },
                { "id": "tag", "kind": "action", "component": "builtin:update-user",
                  "config": { "customAttributes": { "onboarding": "started", "cause": "{{triggeringEvent.action}}",
                                                    "actor": "{{triggeringEvent.actorId}}" } },
                  "next": { "success": "done" } },
                { "id": "done", "kind": "end", "outputs": [
                    { "key": "userId", "type": "string", "value": "{{triggeringEvent.userId}}" } ] }
            ]
        }),
    );

    let created = create_user(&server, "ada@example.com");
    let user = wait_for(Duration::from_secs(20), "the flow's custom attribute", || {
        let user = load_user(&server, "ada@example.com");
        (user["customAttributes"]["onboarding"] == "started").then_some(user)
    });
    assert_eq!(user["customAttributes"]["cause"], "UserCreated");
    assert!(
        user["customAttributes"]["actor"].as_str().is_some_and(|actor| !actor.starts_with("flow:")),
        "the triggering event's actor is the management key: {user}"
    );

    let runs = settled_runs(&server, "tag-new-user", 1);
    assert_eq!(runs.len(), 1, "one run per event: {runs:?}");
    assert_eq!(runs[0]["status"], "completed");
    let detail = run_detail(&server, runs[0]["runId"].as_str().expect("run id"));
    assert_eq!(detail["output"]["userId"], created["userId"]);
    assert_eq!(detail["input"]["triggeringEvent"]["action"], "UserCreated", "the run shows its event: {detail}");
    assert_eq!(detail["input"]["triggeringEvent"]["userId"], created["userId"]);

    // The flow's own change is a UserModified event, which it does not list,
    // and deleting the user is not listed either: still one run.
    let (status, _) = server.post("/v1/mgmt/user/delete", json!({ "loginId": "ada@example.com" }));
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runs_of(&server, "tag-new-user").len(), 1);
    server.stop();
}

#[test]
fn condition_on_event_data_filters_runs() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    let user = create_user(&server, "grace@example.com");
    let user_id = user["userId"].as_str().expect("user id");

    send_event(&server, "LoginFailed", Some(user_id), json!({ "failures": 2 }));
    let runs = settled_runs(&server, "disable-after-failed-logins", 1);
    let detail = run_detail(&server, runs[0]["runId"].as_str().expect("run id"));
    assert_eq!(detail["output"]["status"], "enabled", "two failures keep the user: {detail}");
    assert_eq!(load_user(&server, "grace@example.com")["status"], "enabled");

    send_event(&server, "LoginFailed", Some(user_id), json!({ "failures": 5 }));
    settled_runs(&server, "disable-after-failed-logins", 2);
    assert_eq!(load_user(&server, "grace@example.com")["status"], "disabled");

    // An event type no flow lists starts nothing.
    send_event(&server, "LoginSucceeded", Some(user_id), json!({}));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(runs_of(&server, "disable-after-failed-logins").len(), 2);
    server.stop();
}

fn echo_flow(id: &str, own_events: bool) -> Value {
    json!({
        "id": id, "type": "management",
        "trigger": { "api": false, "auditEvents": ["Ping"], "ownEvents": own_events },
        "start": "echo",
        "steps": [
            { "id": "echo", "kind": "action", "component": "builtin:generate-audit-event",
              "config": { "action": "Ping", "data": { "from": id } }, "next": { "success": "done" } },
            { "id": "done", "kind": "end", "outputs": [] }
        ]
    })
}

#[test]
fn flow_is_not_started_by_its_own_events() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    import(&server, echo_flow("echo-once", false));

    send_event(&server, "Ping", None, json!({}));
    settled_runs(&server, "echo-once", 1);
    std::thread::sleep(Duration::from_millis(500));
    let runs = runs_of(&server, "echo-once");
    assert_eq!(runs.len(), 1, "the run's own Ping starts nothing: {runs:?}");
    server.stop();
}

#[test]
fn chain_of_triggered_runs_stops_at_depth_limit() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start_with_env(dir.path(), &[("SLUICE_TRIGGER_MAX_DEPTH", "3")]);
    import(&server, echo_flow("echo-forever", true));

    send_event(&server, "Ping", None, json!({}));
    let runs = wait_for(Duration::from_secs(20), "a dead run", || {
        let runs = runs_of(&server, "echo-forever");
        runs.iter().any(|run| run["status"] == "dead").then_some(runs)
    });
    std::thread::sleep(Duration::from_millis(500));
    let runs_after = runs_of(&server, "echo-forever");
    assert_eq!(runs_after.len(), runs.len(), "nothing runs after the dead run");
    let completed = runs.iter().filter(|run| run["status"] == "completed").count();
    assert_eq!(completed, 3, "depths 1 to 3 run: {runs:?}");
    assert_eq!(runs.len(), 4, "depth 4 is refused: {runs:?}");

    let (status, dead) = server.post("/v1/mgmt/flow/runs/dead", json!({ "flowId": "echo-forever" }));
    assert_eq!(status, 200);
    let dead = dead["runs"].as_array().expect("dead runs");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["depth"], 4);
    assert_eq!(dead[0]["attempts"], 0, "a refused run never starts");
    let reason = dead[0]["reason"].as_str().expect("reason");
    assert!(reason.contains("depth limit of 3"), "reason: {reason}");
    assert!(reason.contains("trigger_max_depth"), "the reason names the setting: {reason}");
    server.stop();
}

#[test]
fn failed_run_is_retried_then_dead_then_replayed() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start_with_env(
        dir.path(),
        &[("SLUICE_TRIGGER_MAX_ATTEMPTS", "3"), ("SLUICE_TRIGGER_BACKOFF_MS", "50")],
    );
    import(
        &server,
        json!({
            "id": "greet-invitee", "type": "management",
            "trigger": { "api": false, "auditEvents": ["InviteAccepted"] },
            "start": "load",
            "steps": [
                { "id": "load", "kind": "action", "component": "builtin:load-user",
                  "config": { "loginId": "{{triggeringEvent.data.loginId}}" }, "next": { "success": "tag" } },
                { "id": "tag", "kind": "action", "component": "builtin:update-user",
                  "config": { "customAttributes": { "greeted": true } }, "next": { "success": "done" } },
                { "id": "done", "kind": "end", "outputs": [] }
            ]
        }),
    );

    send_event(&server, "InviteAccepted", None, json!({ "loginId": "late@example.com" }));
    let dead = wait_for(Duration::from_secs(20), "the run to be dead", || {
        let (_, body) = server.post("/v1/mgmt/flow/runs/dead", json!({}));
        let runs = body["runs"].as_array().cloned().unwrap_or_default();
        (!runs.is_empty()).then_some(runs)
    });
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["attempts"], 3, "three attempts before dead: {dead:?}");
    let reason = dead[0]["reason"].as_str().expect("reason");
    assert!(reason.contains("late@example.com"), "the reason carries the step error: {reason}");
    let run_id = dead[0]["runId"].as_str().expect("run id").to_owned();
    assert_eq!(run_detail(&server, &run_id)["status"], "dead");

    // Replaying an unknown run, or sending neither field, is an error.
    let (status, body) = server.post("/v1/mgmt/flow/runs/replay", json!({ "runId": "nope" }));
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.post("/v1/mgmt/flow/runs/replay", json!({}));
    assert_eq!(status, 400, "{body}");

    create_user(&server, "late@example.com");
    let (status, body) = server.post("/v1/mgmt/flow/runs/replay", json!({ "runId": run_id }));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["replayed"], 1);
    wait_for(Duration::from_secs(20), "the replayed run to complete", || {
        (run_detail(&server, &run_id)["status"] == "completed").then_some(())
    });
    assert_eq!(load_user(&server, "late@example.com")["customAttributes"]["greeted"], true);
    let (_, body) = server.post("/v1/mgmt/flow/runs/dead", json!({}));
    assert_eq!(body["runs"], json!([]));
    server.stop();
}

/// Kills the server with SIGKILL while events arrive, restarts it, and
/// checks that every recorded event got exactly one completed run.
#[test]
fn every_event_runs_once_across_a_crash() {
    const EVENTS: usize = 300;
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    import(
        &server,
        json!({
            "id": "count-tick", "type": "management",
            "trigger": { "api": false, "auditEvents": ["Tick"] },
            "start": "tock",
            "steps": [
                { "id": "tock", "kind": "action", "component": "builtin:generate-audit-event",
                  "config": { "action": "Tock", "data": { "n": "{{triggeringEvent.data.n}}" } },
                  "next": { "success": "done" } },
                { "id": "done", "kind": "end", "outputs": [] }
            ]
        }),
    );

    let base = server.base.clone();
    let sender = std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let mut acknowledged = 0;
        for n in 0..EVENTS {
            let sent = agent
                .post(&format!("{base}/v1/mgmt/audit/event"))
                .header("Authorization", &format!("Bearer {}", auth()))
                .send_json(json!({ "action": "Tick", "type": "info", "actorId": "clock", "tenantId": "", "data": { "n": n } }));
            match sent {
                Ok(response) if response.status() == 200 => acknowledged += 1,
                _ => break,
            }
        }
        acknowledged
    });
    // Kill once part of the stream has been sent and runs are in flight.
    wait_for(Duration::from_secs(30), "some runs", || (runs_of(&server, "count-tick").len() >= 40).then_some(()));
    server.kill();
    let acknowledged = sender.join().expect("sender thread");
    assert!((40..EVENTS).contains(&acknowledged), "the kill landed mid-stream: {acknowledged} sent");

    let server = Server::start(dir.path());
    let ticks = wait_for(Duration::from_secs(60), "every tick's run to complete", || {
        let ticks = count_ticks(&server);
        let runs = runs_of(&server, "count-tick");
        let done = runs.len() == ticks && runs.iter().all(|run| run["status"] == "completed");
        done.then_some(ticks)
    });
    assert!(ticks >= acknowledged, "every acknowledged event is stored: {ticks} < {acknowledged}");
    server.stop();

    let store = SqliteStore::open(&dir.path().join("sluice.db")).expect("open the database");
    let runs = store.list_runs(PROJECT, Some("count-tick"), 10_000).expect("list runs");
    assert_eq!(runs.len(), ticks, "one run per Tick event");
    let events = store.audit_events(PROJECT).expect("audit events");
    let mut seen: Vec<u64> = events
        .iter()
        .filter(|event| event.action == "Tock")
        .filter_map(|event| event.data.get("n").and_then(Value::as_u64))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), ticks, "every Tick produced a Tock");
}

/// Counts the stored Tick events by searching the audit trail.
fn count_ticks(server: &Server) -> usize {
    let (status, body) = server.post("/v1/mgmt/audit/search", json!({ "actions": ["Tick"], "limit": 1000 }));
    assert_eq!(status, 200, "audit search: {body}");
    usize::try_from(body["total"].as_u64().expect("total")).expect("count fits")
}
