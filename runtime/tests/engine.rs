//! The engine against hostile and broken guests: each failure becomes a step
//! error of the right kind, and the host keeps working afterwards.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice::engine::{ErrorKind, LoadError, StepLimits, StepOutput, World};
use sluice::host::{ConnectorBinding, HostContext};
use sluice::store::{Actor, IdentityStore, MemoryStore};

fn host_context() -> HostContext {
    HostContext {
        project: "test".to_owned(),
        flow_id: "engine-test".to_owned(),
        run_id: "run-1".to_owned(),
        step_id: "step".to_owned(),
        store: Arc::new(MemoryStore::new()),
        actor: Actor::new("test"),
        connector: ConnectorBinding::default(),
    }
}

fn limits() -> StepLimits {
    StepLimits {
        timeout: Duration::from_millis(200),
        memory_bytes: 16 << 20,
        ..StepLimits::default()
    }
}

fn run(reference: &str, config: Value, limits: &StepLimits) -> Result<StepOutput, sluice::engine::StepFailure> {
    let component = common::load_guest(reference).expect("fixture loads");
    common::engine().run_step(&component, config.to_string(), json!({"client": {}}).to_string(), limits, host_context())
}

/// Checks that a healthy step still runs after a hostile one.
fn assert_host_still_works() {
    let output = run("fixture:echo", json!({"ping": 1}), &limits()).expect("echo runs");
    let StepOutput::Action { value, .. } = output else {
        panic!("echo is an action");
    };
    assert_eq!(value["config"]["ping"], 1);
}

#[test]
fn echo_returns_config_and_context() {
    let output = run("fixture:echo", json!({"a": "b"}), &limits()).expect("echo runs");
    let StepOutput::Action { value, user, tenant } = output else {
        panic!("echo is an action");
    };
    assert_eq!(value["config"], json!({"a": "b"}));
    assert_eq!(value["context"], json!({"client": {}}));
    assert!(user.is_none());
    assert!(tenant.is_none());
}

#[test]
fn trapping_guest_is_trap_error() {
    let failure = run("fixture:trap", json!({}), &limits()).expect_err("trap fails");
    assert_eq!(failure.kind, ErrorKind::Trap);
    assert_eq!(
        failure.message,
        "the component trapped: wasm trap: wasm `unreachable` instruction executed"
    );
    assert_host_still_works();
}

#[test]
fn panic_message_is_reported() {
    let failure = run("fixture:trap", json!({"mode": "panic"}), &limits()).expect_err("panic fails");
    assert_eq!(failure.kind, ErrorKind::Trap);
    assert!(
        failure.message.contains("the trap fixture panics on purpose"),
        "message: {}",
        failure.message
    );
}

#[test]
fn each_step_starts_from_fresh_memory() {
    // Buffers below, at and above the memory the engine keeps resident
    // between steps, so both ways of resetting a memory slot are used.
    for buffer_bytes in [512 << 10, 4 << 10, 2 << 20, 512 << 10] {
        let output = run("fixture:static-state", json!({"bufferBytes": buffer_bytes}), &limits())
            .expect("static-state runs");
        let StepOutput::Action { value, .. } = output else {
            panic!("static-state is an action");
        };
        assert_eq!(value["calls"], 1, "a static kept its value from an earlier step ({buffer_bytes} bytes)");
        assert_eq!(value["bufferFound"], false, "the heap kept an earlier step's buffer ({buffer_bytes} bytes)");
    }
}

#[test]
fn endless_loop_stops_at_deadline() {
    let started = Instant::now();
    let failure = run("fixture:spin", json!({}), &limits()).expect_err("spin fails");
    assert_eq!(failure.kind, ErrorKind::Timeout);
    assert!(failure.message.contains("200 ms"), "message: {}", failure.message);
    // Generous bound: the point is that the loop was interrupted at all.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_host_still_works();
}

#[test]
fn memory_bomb_hits_memory_limit() {
    // "abort": the guest's allocator aborts on failure, which traps.
    let failure = run("fixture:memory-hog", json!({"onFailure": "abort"}), &limits()).expect_err("memory hog fails");
    assert_eq!(failure.kind, ErrorKind::MemoryLimit);
    assert!(failure.message.contains("16 MiB"), "message: {}", failure.message);
    assert_host_still_works();
}

#[test]
fn handled_allocation_failure_is_memory_limit() {
    // "error": the guest catches the failed allocation and returns an error.
    let failure = run("fixture:memory-hog", json!({"onFailure": "error"}), &limits()).expect_err("memory hog fails");
    assert_eq!(failure.kind, ErrorKind::MemoryLimit);
    assert!(failure.message.contains("allocation failed"), "message: {}", failure.message);
    assert_host_still_works();
}

#[test]
fn output_over_limit_is_rejected() {
    let small = StepLimits {
        output_bytes: 64,
        ..limits()
    };
    let failure = run("fixture:echo", json!({"padding": "x".repeat(200)}), &small).expect_err("too large");
    assert_eq!(failure.kind, ErrorKind::OutputLimit);
}

#[test]
fn wrong_world_rejected_at_load() {
    let err = common::load_guest("fixture:wrong-world").expect_err("not a Sluice world");
    let LoadError::WrongWorld { found, .. } = &err else {
        panic!("expected a wrong-world error, got {err}");
    };
    assert!(found.contains("fixture:other/thing"), "found: {found}");
    let message = err.to_string();
    assert!(message.contains("sluice:flow/action-step@0.1.0"), "message: {message}");
    assert!(message.contains("fixture:wrong-world"), "message: {message}");
}

#[test]
fn garbage_bytes_rejected_at_load() {
    let err = common::engine()
        .load("fixture:garbage", b"not a component")
        .expect_err("garbage is rejected");
    assert!(matches!(err, LoadError::Invalid { .. }), "got {err}");
}

#[test]
fn builtins_have_expected_worlds() {
    let registry = common::builtins();
    let condition = registry.get("builtin:condition").expect("condition is built in");
    assert_eq!(condition.world(), World::Condition);
    let load_user = registry.get("builtin:load-user").expect("load-user is built in");
    assert_eq!(load_user.world(), World::Action);
}

#[test]
fn cache_serves_second_load() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let settings = sluice::engine::EngineSettings {
        cache_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let engine = sluice::engine::Engine::new(settings).expect("engine starts");
    let bytes = std::fs::read(common::guest_path("fixture:echo")).expect("fixture readable");
    let first = engine.load("fixture:echo", &bytes).expect("first load compiles");
    let cached: Vec<_> = walk(dir.path());
    assert_eq!(cached.len(), 1, "one compiled artifact: {cached:?}");
    let written = std::fs::metadata(&cached[0]).and_then(|m| m.modified()).expect("artifact mtime");
    let second = engine.load("fixture:echo", &bytes).expect("second load reads the cache");
    assert_eq!(first.digest(), second.digest());
    let after = std::fs::metadata(&cached[0]).and_then(|m| m.modified()).expect("artifact mtime");
    assert_eq!(written, after, "the second load must not rewrite the artifact");
    assert_eq!(walk(dir.path()).len(), 1);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Creates an engine of its own with `settings`, sharing the test cache.
fn engine_with(settings: sluice::engine::EngineSettings) -> Arc<sluice::engine::Engine> {
    let settings = sluice::engine::EngineSettings {
        cache_dir: Some(std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
        ..settings
    };
    Arc::new(sluice::engine::Engine::new(settings).expect("engine starts"))
}

/// Runs a fixture on `engine` in the project of `host`.
fn run_on(
    engine: &sluice::engine::Engine,
    reference: &str,
    config: Value,
    limits: &StepLimits,
    host: HostContext,
) -> Result<StepOutput, sluice::engine::StepFailure> {
    let bytes = std::fs::read(common::guest_path(reference)).expect("fixture readable");
    let component = engine.load(reference, &bytes).expect("fixture loads");
    engine.run_step(&component, config.to_string(), json!({"client": {}}).to_string(), limits, host)
}

fn action_value(output: StepOutput) -> Value {
    let StepOutput::Action { value, .. } = output else {
        panic!("expected an action output");
    };
    value
}

#[test]
fn deep_recursion_is_stack_overflow() {
    let failure = run("fixture:recurse", json!({}), &limits()).expect_err("endless recursion fails");
    assert_eq!(failure.kind, ErrorKind::StackOverflow);
    assert!(failure.message.contains("512 KiB"), "message: {}", failure.message);
    assert!(failure.message.contains("`wasm_stack_kib`"), "message: {}", failure.message);
    assert_host_still_works();
}

#[test]
fn wasm_stack_setting_bounds_recursion() {
    let recursion = json!({"depth": 5_000});
    let output = run("fixture:recurse", recursion.clone(), &limits()).expect("5,000 levels fit 512 KiB");
    assert_eq!(action_value(output)["depth"], 5_000);

    let small = engine_with(sluice::engine::EngineSettings {
        max_wasm_stack: 32 << 10,
        max_instances: 2,
        ..Default::default()
    });
    let failure = run_on(&small, "fixture:recurse", recursion, &limits(), host_context())
        .expect_err("5,000 levels overflow 32 KiB");
    assert_eq!(failure.kind, ErrorKind::StackOverflow);
    assert!(failure.message.contains("32 KiB"), "message: {}", failure.message);
    let echo = run_on(&small, "fixture:echo", json!({"ping": 2}), &limits(), host_context()).expect("echo fits 32 KiB");
    assert_eq!(action_value(echo)["config"]["ping"], 2);
}

#[test]
fn fuel_budget_stops_endless_loop() {
    let metered = engine_with(sluice::engine::EngineSettings {
        fuel: true,
        max_instances: 2,
        ..Default::default()
    });
    let budget = StepLimits {
        timeout: Duration::from_secs(60),
        fuel: Some(2_000_000),
        ..limits()
    };
    let failure = run_on(&metered, "fixture:spin", json!({}), &budget, host_context()).expect_err("spin fails");
    assert_eq!(failure.kind, ErrorKind::FuelExhausted);
    assert!(failure.message.contains("2000000 fuel units"), "message: {}", failure.message);
    assert!(failure.message.contains("`step_fuel`"), "message: {}", failure.message);

    let echo = run_on(&metered, "fixture:echo", json!({"ping": 3}), &budget, host_context()).expect("echo fits the budget");
    assert_eq!(action_value(echo)["config"]["ping"], 3);
}

#[test]
fn fuel_budget_needs_metering_engine() {
    let budget = StepLimits {
        fuel: Some(1_000),
        ..limits()
    };
    let failure = run("fixture:echo", json!({}), &budget).expect_err("the shared engine counts no fuel");
    assert_eq!(failure.kind, ErrorKind::InvalidConfig);
    assert!(failure.message.contains("`step_fuel`"), "message: {}", failure.message);
}

#[test]
fn fuel_setting_changes_cache_folder() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let bytes = std::fs::read(common::guest_path("fixture:echo")).expect("fixture readable");
    for fuel in [false, true] {
        let engine = sluice::engine::Engine::new(sluice::engine::EngineSettings {
            cache_dir: Some(dir.path().to_path_buf()),
            max_instances: 2,
            fuel,
            ..Default::default()
        })
        .expect("engine starts");
        engine.load("fixture:echo", &bytes).expect("echo compiles");
    }
    let folders: Vec<_> = std::fs::read_dir(dir.path()).expect("readable").flatten().collect();
    assert_eq!(folders.len(), 2, "fuel metering changes the compiled code, so it needs a cache folder of its own");
}

#[test]
fn huge_output_hits_output_limit() {
    let failure = run("fixture:huge-output", json!({"bytes": 2 << 20}), &StepLimits::default())
        .expect_err("2 MiB is over the 1 MiB default");
    assert_eq!(failure.kind, ErrorKind::OutputLimit);
    assert!(failure.message.contains("limit of 1048576 bytes"), "message: {}", failure.message);
    assert!(failure.message.contains("`max_step_output_bytes`"), "message: {}", failure.message);
    assert_host_still_works();
}

#[test]
fn host_call_flood_hits_call_limit() {
    let few_calls = StepLimits {
        host_calls: 100,
        ..limits()
    };
    for mode in ["load", "log"] {
        let failure = run("fixture:host-flood", json!({"mode": mode, "calls": 5_000}), &few_calls)
            .expect_err("5,000 calls are over 100");
        assert_eq!(failure.kind, ErrorKind::HostCallLimit, "mode {mode}");
        assert!(failure.message.contains("more than 100 host calls"), "message: {}", failure.message);
        assert!(failure.message.contains("`max_step_host_calls`"), "message: {}", failure.message);
    }
    let output = run("fixture:host-flood", json!({"mode": "load", "calls": 100}), &few_calls).expect("100 calls fit");
    assert_eq!(action_value(output), json!({"calls": 100, "failed": 100}), "the users do not exist");
    assert_host_still_works();
}

/// A guest that ignores the errors of its calls would go on calling for
/// days. The broken limit traps, so the step ends long before its deadline.
#[test]
fn host_call_limit_stops_guest_at_once() {
    let deadline = Duration::from_secs(20);
    let few_calls = StepLimits {
        host_calls: 100,
        timeout: deadline,
        ..limits()
    };
    let started = Instant::now();
    let failure = run("fixture:host-flood", json!({"mode": "load", "calls": 1_000_000_000_000_u64}), &few_calls)
        .expect_err("the calls are over 100");

    assert_eq!(failure.kind, ErrorKind::HostCallLimit);
    assert!(
        started.elapsed() < deadline / 2,
        "the step ran {:?}, so the guest went on after the limit until the deadline",
        started.elapsed()
    );
}

#[test]
fn oversized_host_call_data_rejected() {
    let small_calls = StepLimits {
        host_call_bytes: 1024,
        ..limits()
    };
    for (mode, call) in [("log-line", "log.log"), ("audit", "audit.emit"), ("create-user", "users.create")] {
        let store = Arc::new(MemoryStore::new());
        let host = HostContext {
            store: Arc::clone(&store) as _,
            ..host_context()
        };
        let failure = run_on(&common::engine(), "fixture:host-flood", json!({"mode": mode, "bytes": 4096}), &small_calls, host)
            .expect_err("4 KiB is over 1 KiB");
        assert_eq!(failure.kind, ErrorKind::HostDataLimit, "mode {mode}");
        assert!(failure.message.contains(&format!("to `{call}`")), "message: {}", failure.message);
        assert!(failure.message.contains("limit of 1024 bytes"), "message: {}", failure.message);
        assert!(failure.message.contains("`max_step_host_call_bytes`"), "message: {}", failure.message);
        assert!(store.audit_events("test").expect("audit readable").is_empty(), "mode {mode} wrote nothing");
    }
    let output = run("fixture:host-flood", json!({"mode": "audit", "bytes": 100}), &small_calls).expect("100 bytes fit");
    assert_eq!(action_value(output), json!({"calls": 1, "failed": 0}));
}

#[test]
fn ambient_probe_finds_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.set_nonblocking(true).expect("non-blocking listener");
    let address = listener.local_addr().expect("local address");
    let store = Arc::new(MemoryStore::new());
    let other = sluice::model::User {
        user_id: "U-other".to_owned(),
        login_ids: vec!["ada@other.example".to_owned()],
        ..Default::default()
    };
    store.seed("other-project", vec![other], Vec::new()).expect("seed the other project");
    let host = HostContext {
        store: Arc::clone(&store) as _,
        ..host_context()
    };

    let output = run_on(
        &common::engine(),
        "fixture:ambient-probe",
        json!({"socket": address.to_string(), "loginId": "ada@other.example"}),
        &limits(),
        host,
    )
    .expect("the probe reports instead of failing");
    let report = action_value(output);

    assert_eq!(report["env"], json!([]), "report: {report}");
    assert_eq!(report["args"], json!([]), "report: {report}");
    // wasi-libc names the current folder "/" when nothing is preopened; it
    // is a name only, as the listing of "." below shows.
    assert!(report["cwd"]["error"].is_string() || report["cwd"]["ok"] == "/", "report: {report}");
    for probe in ["passwd", "currentDir", "rootDir", "socket"] {
        assert!(report[probe]["ok"].is_null(), "{probe} must fail: {report}");
        assert!(report[probe]["error"].is_string(), "{probe} must report an error: {report}");
    }
    assert_eq!(report["user"]["error"], "not-found", "report: {report}");
    match listener.accept() {
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the probe must not reach the listener: {other:?}"),
    }
}

#[test]
fn instance_cap_is_resource_limit() {
    let capped = engine_with(sluice::engine::EngineSettings {
        max_instances: 2,
        step_resources: sluice::engine::StepResources {
            instances: 1,
            ..Default::default()
        },
        ..Default::default()
    });
    let failure = run_on(&capped, "fixture:echo", json!({}), &limits(), host_context()).expect_err("echo needs several instances");
    assert_eq!(failure.kind, ErrorKind::ResourceLimit);
    assert!(failure.message.contains("resource limit exceeded"), "message: {}", failure.message);
    assert!(failure.message.contains("`step_max_instances`"), "message: {}", failure.message);
}

#[test]
fn table_cap_is_resource_limit() {
    let capped = engine_with(sluice::engine::EngineSettings {
        max_instances: 2,
        step_resources: sluice::engine::StepResources {
            table_elements: 1,
            ..Default::default()
        },
        ..Default::default()
    });
    let failure = run_on(&capped, "fixture:echo", json!({}), &limits(), host_context()).expect_err("echo's table is larger");
    assert_eq!(failure.kind, ErrorKind::ResourceLimit);
    assert!(failure.message.contains("`step_max_table_elements`"), "message: {}", failure.message);
}

#[test]
fn full_instance_pool_is_capacity_error() {
    use axum::routing::get;

    // The receiver holds each request until the test releases it, so the
    // connector step keeps the pool's only instance slot.
    let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
    let entered_tx = Arc::new(std::sync::Mutex::new(entered_tx));
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let handler_release = Arc::clone(&release);
    let app = axum::Router::new().route(
        "/hold",
        get(move || {
            let entered_tx = Arc::clone(&entered_tx);
            let release = Arc::clone(&handler_release);
            async move {
                entered_tx.lock().expect("sender lock").send(()).expect("test waits");
                let _permit = release.acquire().await.expect("semaphore open");
                "released"
            }
        }),
    );
    let base = common::serve_on_loopback(app);

    let engine = engine_with(sluice::engine::EngineSettings {
        max_instances: 1,
        egress: sluice::engine::EgressPolicy {
            allowed_private: vec!["127.0.0.1/32".parse().expect("network")],
            ..Default::default()
        },
        ..Default::default()
    });
    let fetch = {
        let bytes = std::fs::read(common::guest_path("fixture:fetch-any")).expect("fixture readable");
        Arc::new(engine.load("fixture:fetch-any", &bytes).expect("fixture loads"))
    };
    let holder = {
        let (engine, fetch) = (Arc::clone(&engine), Arc::clone(&fetch));
        let host = HostContext {
            connector: ConnectorBinding {
                allowed_origins: vec![base.clone()],
                ..ConnectorBinding::default()
            },
            ..host_context()
        };
        let config = json!({"url": format!("{base}/hold")}).to_string();
        let limits = StepLimits {
            timeout: Duration::from_secs(60),
            ..limits()
        };
        std::thread::spawn(move || engine.run_step(&fetch, config, String::new(), &limits, host))
    };
    entered.recv().expect("the connector reached the receiver");

    let failure = run_on(&engine, "fixture:echo", json!({}), &limits(), host_context()).expect_err("the only slot is taken");
    assert_eq!(failure.kind, ErrorKind::Capacity);
    assert!(failure.message.contains("pool size 1"), "message: {}", failure.message);
    assert!(failure.message.contains("`max_concurrent_runs`"), "message: {}", failure.message);

    release.add_permits(1);
    let held_output = holder.join().expect("the holding step does not panic").expect("the held step finishes");
    let StepOutput::Connector(value) = held_output else {
        panic!("fetch-any is a connector");
    };
    assert_eq!(value["body"], "released");
    let echo = run_on(&engine, "fixture:echo", json!({"ping": 4}), &limits(), host_context()).expect("the slot is free again");
    assert_eq!(action_value(echo)["config"]["ping"], 4);
}
