//! Hostile components in flows: each one ends its run with the error kind
//! of the limit it hits, in the run trace, while healthy flows that run at
//! the same time keep returning correct outputs. The server test checks that
//! the limit settings reach the engine through the configuration.

mod common;

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use sluice::engine::{Engine, EngineSettings};
use sluice::executor::{RunReport, RunRequest, RunSettings, RunStatus, Runtime};
use sluice::model::User;
use sluice::priority::HeavyFlows;
use sluice::registry::ComponentRegistry;
use sluice::store::MemoryStore;
use sluice_flow::CompiledFlow;

use common::server::{KEY, PROJECT, Server};

const FIXTURES: [&str; 8] = [
    "fixture:echo",
    "fixture:spin",
    "fixture:memory-hog",
    "fixture:recurse",
    "fixture:huge-output",
    "fixture:trap",
    "fixture:host-flood",
    "fixture:ambient-probe",
];

/// Fuel budget every step gets unless it requests less: large enough that
/// only a step's own budget or its deadline stops a loop.
const HOST_FUEL: u64 = 1 << 40;

/// Returns a runtime on a fuel-counting engine with every fixture loaded,
/// and its store, where another project has a user.
fn runtime() -> (Runtime, Arc<MemoryStore>) {
    let engine = Arc::new(
        Engine::new(EngineSettings {
            cache_dir: Some(
                std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache"),
            ),
            max_instances: 32,
            fuel: true,
            ..EngineSettings::default()
        })
        .expect("engine starts"),
    );
    let mut registry = ComponentRegistry::with_builtins(&engine).expect("built-ins load");
    for reference in FIXTURES {
        let bytes = std::fs::read(common::guest_path(reference)).expect("fixture readable");
        registry.insert(
            engine
                .load(&flow_reference(reference), &bytes)
                .expect("fixture loads"),
        );
    }
    let store = Arc::new(MemoryStore::new());
    let stranger = User {
        user_id: "U-stranger".to_owned(),
        login_ids: vec!["stranger@other.example".to_owned()],
        ..User::default()
    };
    store
        .seed("other-project", vec![stranger], Vec::new())
        .expect("seed the other project");
    let defaults = RunSettings::default();
    let settings = RunSettings {
        default_limits: sluice::engine::StepLimits {
            fuel: Some(HOST_FUEL),
            ..defaults.default_limits
        },
        max_limits: sluice::engine::StepLimits {
            fuel: Some(HOST_FUEL),
            ..defaults.max_limits
        },
        ..defaults
    };
    let runtime = Runtime::new(
        engine,
        Arc::new(registry),
        Arc::clone(&store) as _,
        settings,
    );
    (runtime, store)
}

/// Returns the reference flows use for a fixture, such as `tests/spin@0.1.0`
/// for `fixture:spin`, because flows accept only publisher/name@version.
fn flow_reference(fixture: &str) -> String {
    format!("tests/{}@0.1.0", fixture.trim_start_matches("fixture:"))
}

/// Compiles a flow of one action step with `config` and `limits`, then End.
fn one_step_flow(
    runtime: &Runtime,
    id: &str,
    component: &str,
    config: Value,
    limits: Value,
    flow_limits: Value,
) -> CompiledFlow {
    let mut document = json!({
        "id": id, "type": "management", "start": "hostile",
        "steps": [
            { "id": "hostile", "kind": "action", "component": flow_reference(component), "config": config,
              "limits": limits, "next": { "success": "done" } },
            { "id": "done", "kind": "end", "outputs": [
                { "key": "result", "type": "object", "value": "{{actions.hostile}}" } ] }
        ]
    });
    if !flow_limits.is_null() {
        document["limits"] = flow_limits;
    }
    let catalog = runtime.catalog("hostile").expect("catalog");
    sluice_flow::validate(&document.to_string(), catalog.as_ref()).unwrap_or_else(|problems| {
        panic!(
            "flow {id} is invalid: {}",
            sluice_flow::format_problems(&problems)
        )
    })
}

/// A flow that returns its input `n`. Its generous deadline keeps a busy
/// machine from failing it while hostile steps share the cores.
fn healthy_flow(runtime: &Runtime) -> CompiledFlow {
    let document = json!({
        "id": "healthy", "type": "management", "start": "echo",
        "steps": [
            { "id": "echo", "kind": "action", "component": flow_reference("fixture:echo"),
              "config": { "n": "{{client.n}}" }, "next": { "success": "done" },
              "limits": { "timeoutMs": 20000 } },
            { "id": "done", "kind": "end", "outputs": [
                { "key": "n", "type": "number", "value": "{{actions.echo.config.n}}" } ] }
        ]
    });
    let catalog = runtime.catalog("hostile").expect("catalog");
    sluice_flow::validate(&document.to_string(), catalog.as_ref()).expect("healthy flow is valid")
}

fn run(runtime: &Runtime, flow: &CompiledFlow, input: Value) -> RunReport {
    let Value::Object(input) = input else {
        panic!("input must be an object");
    };
    runtime.run(
        flow,
        RunRequest {
            project: "hostile".to_owned(),
            input,
            keep_step_outputs: true,
            ..RunRequest::default()
        },
    )
}

/// One hostile flow and the error kind its step must end with.
struct Case {
    name: &'static str,
    component: &'static str,
    config: Value,
    limits: Value,
    flow_limits: Value,
    kind: &'static str,
}

fn cases() -> Vec<Case> {
    let case = |name, component, config, limits, kind| Case {
        name,
        component,
        config,
        limits,
        flow_limits: Value::Null,
        kind,
    };
    vec![
        case(
            "endless-loop",
            "fixture:spin",
            json!({}),
            json!({ "timeoutMs": 300 }),
            "timeout",
        ),
        case(
            "fuel-budget",
            "fixture:spin",
            json!({}),
            json!({ "timeoutMs": 30000, "fuel": 5_000_000 }),
            "fuel-exhausted",
        ),
        case(
            "memory-bomb",
            "fixture:memory-hog",
            json!({ "onFailure": "abort" }),
            json!({ "memoryMib": 16 }),
            "memory-limit",
        ),
        case(
            "deep-recursion",
            "fixture:recurse",
            json!({}),
            json!({}),
            "stack-overflow",
        ),
        case(
            "huge-output",
            "fixture:huge-output",
            json!({ "bytes": 2 << 20 }),
            json!({}),
            "output-limit",
        ),
        case(
            "trap",
            "fixture:trap",
            json!({ "mode": "unreachable" }),
            json!({}),
            "trap",
        ),
        case(
            "panic",
            "fixture:trap",
            json!({ "mode": "panic" }),
            json!({}),
            "trap",
        ),
        case(
            "call-flood",
            "fixture:host-flood",
            json!({ "mode": "load", "calls": 100_000 }),
            json!({ "hostCalls": 200 }),
            "host-call-limit",
        ),
        case(
            "log-flood",
            "fixture:host-flood",
            json!({ "mode": "log", "calls": 100_000 }),
            json!({ "hostCalls": 200 }),
            "host-call-limit",
        ),
        case(
            "big-audit",
            "fixture:host-flood",
            json!({ "mode": "audit", "bytes": 8192 }),
            json!({ "hostCallBytes": 4096 }),
            "host-data-limit",
        ),
        case(
            "big-log-line",
            "fixture:host-flood",
            json!({ "mode": "log-line", "bytes": 8192 }),
            json!({ "hostCallBytes": 4096 }),
            "host-data-limit",
        ),
        Case {
            name: "run-deadline",
            component: "fixture:spin",
            config: json!({}),
            limits: json!({ "timeoutMs": 30000 }),
            flow_limits: json!({ "timeoutMs": 300 }),
            kind: "run-timeout",
        },
    ]
}

/// Checks that a hostile run failed at its step with `kind`, in both the
/// run's error and the step's trace entry.
fn assert_failed_with(report: &RunReport, name: &str, kind: &str) {
    assert_eq!(report.status, RunStatus::Failed, "{name}: {report:?}");
    let error = report.error.as_ref().expect("a failed run has an error");
    assert_eq!(error.kind, kind, "{name}: {}", error.message);
    assert_eq!(error.step_id.as_deref(), Some("hostile"), "{name}");
    let step = report
        .trace
        .iter()
        .find(|step| step.step_id == "hostile")
        .expect("the hostile step is traced");
    let step_error = step.error.as_ref().expect("the hostile step failed");
    assert_eq!(
        step_error.kind.as_str(),
        kind,
        "{name}: {}",
        step_error.message
    );
}

#[test]
fn hostile_steps_fail_with_their_kind() {
    let (runtime, _store) = runtime();
    for case in cases() {
        let flow = one_step_flow(
            &runtime,
            case.name,
            case.component,
            case.config,
            case.limits,
            case.flow_limits,
        );
        let report = run(&runtime, &flow, json!({}));
        assert_failed_with(&report, case.name, case.kind);
    }
}

#[test]
fn run_deadline_message_names_setting() {
    let (runtime, _store) = runtime();
    let flow = one_step_flow(
        &runtime,
        "run-deadline",
        "fixture:spin",
        json!({}),
        json!({ "timeoutMs": 30000 }),
        json!({ "timeoutMs": 300 }),
    );
    let report = run(&runtime, &flow, json!({}));
    let error = report.error.expect("the run failed");
    assert_eq!(error.kind, "run-timeout");
    assert!(
        error
            .message
            .contains("deadline of 300 ms while this step ran"),
        "{}",
        error.message
    );
    assert!(
        error.message.contains("`run_timeout_ms`"),
        "{}",
        error.message
    );
}

#[test]
fn ambient_probe_sees_nothing_in_flow() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let (runtime, _store) = runtime();
    let config = json!({ "socket": listener.local_addr().expect("address").to_string(), "loginId": "stranger@other.example" });
    let flow = one_step_flow(
        &runtime,
        "probe",
        "fixture:ambient-probe",
        config,
        json!({}),
        Value::Null,
    );

    let report = run(&runtime, &flow, json!({}));

    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    let seen = &report.output["result"];
    assert_eq!(seen["env"], json!([]), "{seen}");
    assert!(seen["passwd"]["error"].is_string(), "{seen}");
    assert!(seen["rootDir"]["error"].is_string(), "{seen}");
    assert!(seen["socket"]["error"].is_string(), "{seen}");
    assert_eq!(seen["user"]["error"], "not-found", "{seen}");
    assert!(
        matches!(listener.accept(), Err(err) if err.kind() == std::io::ErrorKind::WouldBlock),
        "the probe must not reach the listener"
    );
}

#[test]
fn healthy_flow_unaffected_by_hostile_ones() {
    let (runtime, _store) = runtime();
    let healthy = healthy_flow(&runtime);
    let hostile: Vec<_> = cases()
        .into_iter()
        .map(|case| {
            let flow = one_step_flow(
                &runtime,
                case.name,
                case.component,
                case.config,
                case.limits,
                case.flow_limits,
            );
            (case.name, case.kind, flow)
        })
        .collect();

    std::thread::scope(|scope| {
        let runs: Vec<_> = hostile
            .iter()
            .map(|(name, kind, flow)| {
                let runtime = &runtime;
                scope.spawn(move || (name, kind, run(runtime, flow, json!({}))))
            })
            .collect();
        let healthy_runs: Vec<_> = (0..2)
            .map(|worker| {
                let (runtime, healthy) = (&runtime, &healthy);
                scope.spawn(move || {
                    for n in 0..50 {
                        let n = worker * 1000 + n;
                        let report = run(runtime, healthy, json!({ "n": n }));
                        assert_eq!(report.status, RunStatus::Completed, "{report:?}");
                        let mut expected = Map::new();
                        expected.insert("n".to_owned(), json!(n));
                        assert_eq!(report.output, expected);
                    }
                })
            })
            .collect();
        for handle in healthy_runs {
            handle.join().expect("healthy runs succeed");
        }
        for handle in runs {
            let (name, kind, report) = handle
                .join()
                .expect("a hostile run does not panic the host");
            assert_failed_with(&report, name, kind);
        }
    });
}

/// Publishes a fixture under `id@1.0.0` with `limits` in its manifest.
fn publish(server: &Server, fixture: &str, id: &str, limits: Value) {
    let wasm = std::fs::read(common::guest_path(fixture)).expect("fixture readable");
    let body = json!({
        "manifest": { "id": id, "version": "1.0.0", "world": "action", "limits": limits },
        "wasm": base64::engine::general_purpose::STANDARD.encode(wasm),
    });
    let (status, body) = server.post("/v1/mgmt/component/publish", body);
    assert_eq!(status, 200, "{body}");
}

/// Deploys and runs a one-step flow, and returns the kind and message of
/// the step's error from the stored run trace.
fn failed_step(
    server: &Server,
    flow_id: &str,
    component: &str,
    config: Value,
    limits: Value,
) -> (String, String) {
    let flow = json!({
        "id": flow_id, "type": "management", "start": "hostile",
        "steps": [
            { "id": "hostile", "kind": "action", "component": component, "config": config,
              "limits": limits, "next": { "success": "done" } },
            { "id": "done", "kind": "end", "outputs": [] }
        ]
    });
    let (status, body) = server.post("/v1/mgmt/flow/import", json!({ "flow": flow }));
    assert_eq!(status, 200, "{body}");

    let (status, body) = server.post(
        "/v1/mgmt/flow/run",
        json!({ "flowId": flow_id, "input": {} }),
    );
    assert_eq!(status, 422, "{body}");
    let message = body["errorMessage"].as_str().expect("error message");
    let run_id = message
        .rsplit_once("(run `")
        .and_then(|(_, rest)| rest.strip_suffix("`)"))
        .unwrap_or_else(|| panic!("no run id in {message}"));

    let (status, run) = server.call(
        "GET",
        &format!("/v1/mgmt/flow/runs/{run_id}"),
        None,
        Some(&format!("{PROJECT}:{KEY}")),
    );
    assert_eq!(status, 200, "{run}");
    let steps = run["run"]["trace"]
        .as_array()
        .unwrap_or_else(|| panic!("no trace in {run}"));
    let step = steps
        .iter()
        .find(|step| step["stepId"] == "hostile")
        .unwrap_or_else(|| panic!("no hostile step in {run}"));
    (
        step["error"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        step["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[test]
fn server_settings_reach_the_engine() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start_with_env(
        dir.path(),
        &[
            ("SLUICE_STEP_FUEL", "50000000"),
            ("SLUICE_MAX_STEP_HOST_CALLS", "150"),
            ("SLUICE_STEP_HOST_CALLS", "100"),
            ("SLUICE_WASM_STACK_KIB", "64"),
            ("SLUICE_MAX_STEP_TIMEOUT_MS", "60000"),
        ],
    );
    publish(
        &server,
        "fixture:spin",
        "acme/spin",
        json!({ "timeout_ms": 60000 }),
    );
    publish(
        &server,
        "fixture:host-flood",
        "acme/flood",
        json!({ "host_calls": 50 }),
    );
    publish(&server, "fixture:recurse", "acme/recurse", json!({}));

    // The operator's fuel budget stops the loop long before the manifest's minute.
    let (kind, message) = failed_step(&server, "spin", "acme/spin@1.0.0", json!({}), json!({}));
    assert_eq!(kind, "fuel-exhausted", "{message}");
    assert!(message.contains("50000000 fuel units"), "{message}");

    // The manifest lowers the call limit, and a step that requests more gets the maximum.
    let flood = json!({ "mode": "load", "calls": 1000 });
    let (kind, message) = failed_step(
        &server,
        "flood-manifest",
        "acme/flood@1.0.0",
        flood.clone(),
        json!({}),
    );
    assert_eq!(kind, "host-call-limit", "{message}");
    assert!(message.contains("more than 50 host calls"), "{message}");
    let (kind, message) = failed_step(
        &server,
        "flood-step",
        "acme/flood@1.0.0",
        flood,
        json!({ "hostCalls": 100000 }),
    );
    assert_eq!(kind, "host-call-limit", "{message}");
    assert!(message.contains("more than 150 host calls"), "{message}");

    // 5,000 levels fit the default 512 KiB stack but not this server's 64 KiB.
    let (kind, message) = failed_step(
        &server,
        "recurse",
        "acme/recurse@1.0.0",
        json!({ "depth": 5000 }),
        json!({}),
    );
    assert_eq!(kind, "stack-overflow", "{message}");
    assert!(message.contains("64 KiB"), "{message}");

    let (status, body) = server.post(
        "/v1/mgmt/component/publish",
        json!({
            "manifest": { "id": "acme/stack", "version": "1.0.0", "world": "action", "limits": { "wasm_stack_kib": 2048 } },
            "wasm": base64::engine::general_purpose::STANDARD.encode(b"unused"),
        }),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("`wasm_stack_kib`")),
        "{body}"
    );
    server.stop();
}

/// Compiles a flow whose only step loops forever with `step` fields merged
/// in, under a run deadline of `run_timeout_ms`.
fn spin_flow(runtime: &Runtime, run_timeout_ms: u64, step: Value) -> CompiledFlow {
    let mut spin = json!({
        "id": "hostile", "kind": "action", "component": flow_reference("fixture:spin"),
        "next": { "success": "done" }
    });
    for (key, value) in step.as_object().expect("step fields are an object") {
        spin[key] = value.clone();
    }
    let document = json!({
        "id": "spin", "type": "management", "start": "hostile",
        "limits": { "timeoutMs": run_timeout_ms },
        "steps": [spin, { "id": "done", "kind": "end", "outputs": [] }]
    });
    let catalog = runtime.catalog("hostile").expect("catalog");
    sluice_flow::validate(&document.to_string(), catalog.as_ref()).expect("spin flow is valid")
}

#[test]
fn run_deadline_overrides_error_handling() {
    let (runtime, _store) = runtime();
    let flow = spin_flow(
        &runtime,
        300,
        json!({ "onError": "ignore", "limits": { "timeoutMs": 30000 } }),
    );

    let report = run(&runtime, &flow, json!({}));

    assert_failed_with(&report, "ignored run deadline", "run-timeout");
    assert!(
        report.trace.iter().all(|step| step.step_id != "done"),
        "the run must not go on to the End step: {:?}",
        report.trace
    );
}

#[test]
fn retry_after_run_deadline_not_attempted() {
    let (runtime, _store) = runtime();
    let flow = spin_flow(
        &runtime,
        5_000,
        json!({
            "limits": { "timeoutMs": 100 },
            "retry": { "attempts": 5, "backoffMs": 60000, "on": ["timeout"] }
        }),
    );

    let report = run(&runtime, &flow, json!({}));

    assert_failed_with(&report, "retry past the deadline", "run-timeout");
    let step = &report.trace[0];
    assert_eq!(
        step.attempts, 1,
        "the wait before a second attempt ends after the run's deadline"
    );
    let message = &step.error.as_ref().expect("the step failed").message;
    assert!(
        message.contains("before the next retry of this step"),
        "{message}"
    );
    assert!(
        message.contains("timeout: the step ran past its deadline of 100 ms"),
        "{message}"
    );
}

#[test]
fn flow_step_limit_lowers_max_steps() {
    let (runtime, _store) = runtime();
    let document = json!({
        "id": "loop", "type": "management", "start": "again",
        "limits": { "maxSteps": 5 },
        "steps": [
            { "id": "again", "kind": "condition", "component": "builtin:condition",
              "config": { "all": [ { "key": "client.forever", "operator": "is-true" } ] },
              "next": { "true": "again", "false": "done" } },
            { "id": "done", "kind": "end", "outputs": [] }
        ]
    });
    let catalog = runtime.catalog("hostile").expect("catalog");
    let flow =
        sluice_flow::validate(&document.to_string(), catalog.as_ref()).expect("loop flow is valid");

    let report = run(&runtime, &flow, json!({ "forever": true }));

    let error = report.error.expect("the loop fails");
    assert_eq!(error.kind, "step-limit");
    assert_eq!(report.trace.len(), 5, "{:?}", report.trace);
    assert!(error.message.contains("took 5 steps"), "{}", error.message);
    assert!(error.message.contains("`max_steps`"), "{}", error.message);
}

#[test]
fn spinning_flow_marked_heavy_healthy_not() {
    let (runtime, _store) = runtime();
    let heavy_flows = Arc::new(HeavyFlows::new(
        Some(std::time::Duration::from_millis(5)),
        std::time::Duration::from_secs(60),
    ));
    let runtime = runtime.with_heavy_flows(Arc::clone(&heavy_flows));
    let spin = spin_flow(&runtime, 60_000, json!({ "limits": { "timeoutMs": 200 } }));
    let healthy = healthy_flow(&runtime);

    let report = run(&runtime, &spin, json!({}));
    assert_failed_with(&report, "spin until the step deadline", "timeout");
    let report = run(&runtime, &healthy, json!({ "n": 1 }));
    assert_eq!(report.status, RunStatus::Completed);

    assert!(runtime.is_heavy("hostile", "spin"), "200 ms of spinning is above 5 ms of CPU");
    assert!(!runtime.is_heavy("hostile", "healthy"));
    assert!(!runtime.is_heavy("other-project", "spin"), "the mark belongs to one project");
}

#[test]
fn heavy_flow_runs_at_low_priority_on_server() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start_with_env(dir.path(), &[("SLUICE_LOW_PRIORITY_CPU_MS", "5")]);
    publish(&server, "fixture:spin", "acme/spin", json!({ "timeout_ms": 300 }));

    // The first run uses about 300 ms of CPU and marks the flow, so the
    // second one starts on a low-priority thread and still ends at its
    // deadline.
    for attempt in 1..=2 {
        let (kind, message) = failed_step(&server, "spin", "acme/spin@1.0.0", json!({}), json!({}));
        assert_eq!(kind, "timeout", "run {attempt}: {message}");
    }

    let (status, metrics) = server.call("GET", "/metrics", None, None);
    assert_eq!(status, 200);
    let text = metrics.as_str().unwrap_or_default();
    assert!(
        text.contains(r#"sluice_low_priority_runs_total{flow="spin"} 1"#),
        "metrics:\n{text}"
    );
    server.stop();
}
