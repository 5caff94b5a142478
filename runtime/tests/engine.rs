//! The engine against hostile and broken guests: each failure becomes a step
//! error of the right kind, and the host keeps working afterwards.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice::engine::{ErrorKind, LoadError, StepLimits, StepOutput, World};
use sluice::host::{ConnectorBinding, HostContext};
use sluice::store::{Actor, MemoryStore};

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
