//! Flow fixtures run end to end on the real engine and built-in components.
//!
//! Each folder under `tests/flows/` contains `flow.json`, `run.json` (the run's
//! `input`, seed `users` and `tenants`, an optional triggering `event`) and
//! `expected.json` (status, output, error and the steps taken). Run with
//! `BLESS=1` to rewrite `expected.json` from what the host does now.

mod common;

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sluice::executor::{RunRequest, RunSettings, Runtime};
use sluice::flow_file::load_flow_file;
use sluice::model::{Tenant, User};
use sluice::store::{IdentityStore, MemoryStore};

const PROJECT: &str = "fixtures";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunFile {
    #[serde(default)]
    input: Map<String, Value>,
    #[serde(default)]
    users: Vec<User>,
    #[serde(default)]
    tenants: Vec<Tenant>,
    #[serde(default)]
    event: Option<Value>,
}

fn run_case(dir: &Path) -> Value {
    let run: RunFile = serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).expect("run.json readable"))
        .expect("run.json is valid");
    let store = Arc::new(MemoryStore::new());
    store.seed(PROJECT, run.users, run.tenants).expect("seed data is valid");

    let engine = common::engine();
    let mut registry = common::builtins();
    let flow = load_flow_file(&engine, &mut registry, &dir.join("flow.json"))
        .unwrap_or_else(|err| panic!("{}: flow does not load: {err:?}", dir.display()));
    let store_handle: Arc<dyn IdentityStore> = store.clone();
    let runtime = Runtime::new(engine, Arc::new(registry), store_handle, RunSettings {
        max_steps: 8,
        ..RunSettings::default()
    });
    let report = runtime.run(
        &flow,
        RunRequest {
            project: PROJECT.to_owned(),
            input: run.input,
            triggering_event: run.event,
            run_id: Some("fixture-run".to_owned()),
            keep_step_outputs: false,
        },
    );
    let steps: Vec<String> = report
        .trace
        .iter()
        .map(|step| match &step.error {
            Some(error) => format!("{} -> {} ({})", step.step_id, step.outcome, error.kind),
            None => format!("{} -> {}", step.step_id, step.outcome),
        })
        .collect();
    let audit: Vec<String> = store
        .audit_events(PROJECT)
        .expect("audit readable")
        .into_iter()
        .map(|event| format!("{} by {}", event.action, event.actor_id))
        .collect();
    json!({
        "status": report.status,
        "output": report.output,
        "error": report.error,
        "steps": steps,
        "audit": audit,
    })
}

#[test]
fn flow_fixtures_match_expected() {
    let root = common::test_file("flows");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .expect("tests/flows exists")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "expected at least five flow fixtures, found {}", cases.len());

    let bless = std::env::var_os("BLESS").is_some();
    let mut mismatches = Vec::new();
    for case in &cases {
        let actual = run_case(case);
        let expected_path = case.join("expected.json");
        if bless {
            let text = serde_json::to_string_pretty(&actual).expect("serializable") + "\n";
            std::fs::write(&expected_path, text).expect("expected.json writable");
            continue;
        }
        let expected: Value = std::fs::read_to_string(&expected_path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null);
        if expected != actual {
            mismatches.push(format!(
                "{}:\n  expected {expected}\n  actual   {actual}",
                case.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "flow fixtures differ (rerun with BLESS=1 if the change is intended):\n{}",
        mismatches.join("\n")
    );
}
