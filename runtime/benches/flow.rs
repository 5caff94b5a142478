//! Per-step and per-flow cost of the sandbox.
//!
//! - `step/noop`: instantiate a guest that returns `{}` without reading its
//!   input, and call it once: the fixed cost of a step.
//! - `step/echo`: instantiate a guest that parses and returns its input, with
//!   an empty config and context, and call it once (no host call).
//! - `step/load-user`: instantiate the built-in load-user action in a fresh
//!   store and call it once (one host call inside).
//! - `flow/five-steps-wasm`: load user, condition, update user, audit event,
//!   End, through the executor and the built-in components.
//! - `flow/five-steps-native`: the same logic written as plain Rust against
//!   the same in-memory store, with no Wasm.
//!
//! Run with `cargo bench -p sluice --bench flow`. With `BENCH_FUEL=1` the
//! engine counts fuel and each `step/*` run gets a budget of 100 million
//! units, which shows what the `step_fuel` setting costs.
//!
//! To count instructions instead of time, run the bench binary under
//! callgrind with a smaller instance pool, because valgrind cannot reserve
//! the address space of the default one (about 4 GiB per memory slot):
//!
//! ```sh
//! SLUICE_BENCH_MAX_INSTANCES=2 valgrind --tool=callgrind \
//!     target/release/deps/flow-<hash> --bench step/echo --profile-time 5
//! ```

#![expect(missing_docs, reason = "criterion_group! generates undocumented functions")]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use sluice::engine::{Engine, EngineSettings, StepLimits};
use sluice::executor::{RunRequest, RunSettings, Runtime};
use sluice::host::{ConnectorBinding, HostContext};
use sluice::model::{NewAuditEvent, User, UserStatus};
use sluice::registry::ComponentRegistry;
use sluice::store::{Actor, IdentityStore, MemoryStore};

const PROJECT: &str = "bench";

const FLOW: &str = r#"{
  "id": "bench-five-steps", "type": "management", "start": "load",
  "steps": [
    { "id": "load", "kind": "action", "component": "builtin:load-user",
      "config": { "loginId": "{{client.email}}" }, "next": { "success": "check" } },
    { "id": "check", "kind": "condition", "component": "builtin:condition",
      "config": { "all": [ { "key": "user.email", "operator": "ends-with", "value": "@acme.com" } ] },
      "next": { "true": "update", "false": "done" } },
    { "id": "update", "kind": "action", "component": "builtin:update-user",
      "config": { "customAttributes": { "plan": "{{client.plan}}" } }, "next": { "success": "audit" } },
    { "id": "audit", "kind": "action", "component": "builtin:generate-audit-event",
      "config": { "action": "PlanChanged", "data": { "plan": "{{client.plan}}" } }, "next": { "success": "done" } },
    { "id": "done", "kind": "end", "outputs": [ { "key": "userId", "type": "string", "value": "{{user.userId}}" } ] }
  ]
}"#;

fn seeded_store() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let user = User {
        user_id: "U1".to_owned(),
        login_ids: vec!["ada@acme.com".to_owned()],
        email: Some("ada@acme.com".to_owned()),
        status: UserStatus::Enabled,
        ..User::default()
    };
    store.seed(PROJECT, vec![user], Vec::new()).expect("seed");
    store
}

/// Fuel budget of each `step/*` run when `BENCH_FUEL` is set, which also
/// turns fuel on in the engine; `None` leaves fuel off, as by default.
fn bench_fuel() -> Option<u64> {
    std::env::var_os("BENCH_FUEL").map(|_| 100_000_000)
}

fn engine() -> Arc<Engine> {
    let cache = std::env::temp_dir().join("sluice-bench-cache");
    let defaults = EngineSettings::default();
    let max_instances = match std::env::var("SLUICE_BENCH_MAX_INSTANCES") {
        Ok(text) => text.parse().unwrap_or_else(|_| {
            panic!("invalid SLUICE_BENCH_MAX_INSTANCES `{text}`: expected a whole number such as 2")
        }),
        Err(_) => defaults.max_instances,
    };
    Arc::new(
        Engine::new(EngineSettings {
            cache_dir: Some(cache),
            max_instances,
            fuel: bench_fuel().is_some(),
            ..defaults
        })
        .expect("engine"),
    )
}

fn bench_step(c: &mut Criterion) {
    let engine = engine();
    let registry = ComponentRegistry::with_builtins(&engine).expect("builtins");
    let component = Arc::clone(registry.get("builtin:load-user").expect("load-user"));
    let store: Arc<dyn IdentityStore> = seeded_store();
    let host = HostContext {
        project: PROJECT.to_owned(),
        flow_id: "bench".to_owned(),
        run_id: "bench".to_owned(),
        step_id: "load".to_owned(),
        store,
        actor: Actor::new("bench"),
        connector: ConnectorBinding::default(),
    };
    let limits = StepLimits {
        fuel: bench_fuel(),
        ..StepLimits::default()
    };
    let config = json!({ "loginId": "ada@acme.com" }).to_string();
    let context = json!({ "client": { "email": "ada@acme.com" } }).to_string();
    let noop = load_fixture(&engine, "fixture:noop");
    c.bench_function("step/noop", |b| {
        b.iter(|| {
            let output = engine
                .run_step(&noop, "{}".to_owned(), "{}".to_owned(), &limits, host.clone())
                .expect("step runs");
            black_box(output);
        });
    });
    let echo = load_fixture(&engine, "fixture:echo");
    c.bench_function("step/echo", |b| {
        b.iter(|| {
            let output = engine
                .run_step(&echo, "{}".to_owned(), "{}".to_owned(), &limits, host.clone())
                .expect("step runs");
            black_box(output);
        });
    });
    c.bench_function("step/load-user", |b| {
        b.iter(|| {
            let output = engine
                .run_step(&component, config.clone(), context.clone(), &limits, host.clone())
                .expect("step runs");
            black_box(output);
        });
    });
}

/// Loads a test fixture that the build script built next to the host.
fn load_fixture(engine: &Engine, reference: &str) -> sluice::engine::LoadedComponent {
    let path = sluice::registry::GUEST_FILES
        .iter()
        .find(|(name, _)| *name == reference)
        .map(|(_, path)| *path)
        .unwrap_or_else(|| panic!("fixture `{reference}` was not built; see runtime/build.rs"));
    let bytes = std::fs::read(path).unwrap_or_else(|err| panic!("cannot read `{path}`: {err}"));
    engine.load(reference, &bytes).unwrap_or_else(|err| panic!("fixture `{reference}` does not load: {err}"))
}

fn bench_flows(c: &mut Criterion) {
    let engine = engine();
    let registry = Arc::new(ComponentRegistry::with_builtins(&engine).expect("builtins"));
    let flow = sluice_flow::validate(FLOW, registry.as_ref()).expect("flow is valid");
    let store: Arc<dyn IdentityStore> = seeded_store();
    let runtime = Runtime::new(Arc::clone(&engine), registry, Arc::clone(&store), RunSettings::default());
    let mut input = Map::new();
    input.insert("email".to_owned(), Value::from("ada@acme.com"));
    input.insert("plan".to_owned(), Value::from("pro"));

    c.bench_function("flow/five-steps-wasm", |b| {
        b.iter(|| {
            let report = runtime.run(
                &flow,
                RunRequest {
                    project: PROJECT.to_owned(),
                    input: input.clone(),
                    ..RunRequest::default()
                },
            );
            assert!(report.error.is_none(), "{:?}", report.error);
            black_box(report);
        });
    });

    let native_store = seeded_store();
    c.bench_function("flow/five-steps-native", |b| {
        b.iter(|| black_box(native_five_steps(native_store.as_ref(), &input)));
    });
}

/// Runs the benchmark flow as plain Rust: the same store calls and the same
/// JSON handling of inputs and outputs, with no sandbox.
fn native_five_steps(store: &dyn IdentityStore, input: &Map<String, Value>) -> Map<String, Value> {
    let actor = Actor::new("flow:bench");
    let email = input.get("email").and_then(Value::as_str).unwrap_or_default();
    let plan = input.get("plan").cloned().unwrap_or(Value::Null);
    let user = store.load_user_by_login_id(PROJECT, email).expect("user exists");
    let mut output = Map::new();
    if user.email.as_deref().is_some_and(|e| e.ends_with("@acme.com")) {
        let updated = store
            .modify_user(PROJECT, &user.user_id, "UserModified", &actor, &mut |u| {
                u.custom_attributes.insert("plan".to_owned(), plan.clone());
                Ok(())
            })
            .expect("update");
        let mut data = Map::new();
        data.insert("plan".to_owned(), plan.clone());
        store
            .record_audit(
                PROJECT,
                NewAuditEvent {
                    action: "PlanChanged".to_owned(),
                    actor_id: actor.id.clone(),
                    user_id: Some(updated.user_id.clone()),
                    data,
                    ..NewAuditEvent::default()
                },
            )
            .expect("audit");
        output.insert("userId".to_owned(), Value::from(updated.user_id));
    } else {
        output.insert("userId".to_owned(), Value::from(user.user_id));
    }
    output
}

criterion_group!(benches, bench_step, bench_flows);
criterion_main!(benches);
