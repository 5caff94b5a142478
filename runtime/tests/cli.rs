//! The `sluice` binary end to end: exit codes, messages and output.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn sluice(args: &[&str]) -> Output {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache");
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_CACHE_DIR", cache)
        .env_remove("SLUICE_LOG")
        .output()
        .expect("sluice binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn fixture(relative: &str) -> String {
    common::test_file(relative).display().to_string()
}

#[test]
fn run_prints_end_outputs() {
    let output = sluice(&[
        "run",
        &fixture("flows/welcome-acme-user/flow.json"),
        "--input",
        r#"{"email": "ada@acme.com", "plan": "pro"}"#,
        "--users",
        &fixture("cli/users.json"),
    ]);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let printed: Value = serde_json::from_str(&stdout(&output)).expect("stdout is JSON");
    assert_eq!(printed["userId"], "U1");
    assert_eq!(printed["plan"], "pro");
    assert_eq!(printed["welcomed"], true);
}

#[test]
fn run_with_trace_lists_steps() {
    let output = sluice(&[
        "run",
        &fixture("flows/welcome-acme-user/flow.json"),
        "--input",
        r#"{"email": "ada@acme.com", "plan": "pro"}"#,
        "--users",
        &fixture("cli/users.json"),
        "--trace",
    ]);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let printed: Value = serde_json::from_str(&stdout(&output)).expect("stdout is JSON");
    let trace = printed["trace"].as_array().expect("trace is an array");
    let steps: Vec<&str> = trace.iter().filter_map(|s| s["stepId"].as_str()).collect();
    assert_eq!(steps, ["load", "is-acme", "tag", "record", "done"]);
    assert_eq!(trace[0]["component"], "builtin:load-user");
    assert_eq!(trace[1]["outcome"], "true");
    assert!(trace[0]["durationUs"].is_u64());
    assert_eq!(trace[0]["output"]["email"], "ada@acme.com");
}

#[test]
fn failed_run_exits_one() {
    let output = sluice(&[
        "run",
        &fixture("flows/welcome-acme-user/flow.json"),
        "--input",
        r#"{"email": "nobody@acme.com"}"#,
    ]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("step \"load\" failed (not-found)"), "stderr: {message}");
}

#[test]
fn validate_reports_every_problem() {
    let output = sluice(&["flow", "validate", &fixture("cli/three-mistakes.json")]);
    assert_eq!(output.status.code(), Some(1));
    let printed = stdout(&output);
    assert!(printed.contains("3 problems"), "stdout: {printed}");
    assert!(printed.contains("builtin:load-usr"), "stdout: {printed}");
    assert!(printed.contains("\"nowhere\""), "stdout: {printed}");
    assert!(printed.contains("unclosed") || printed.contains("{{"), "stdout: {printed}");
}

#[test]
fn validate_accepts_valid_flow() {
    let output = sluice(&["flow", "validate", &fixture("flows/welcome-acme-user/flow.json")]);
    assert!(output.status.success(), "stdout: {}", stdout(&output));
    assert!(stdout(&output).contains("valid flow `welcome-acme-user`"));
}

#[test]
fn invalid_input_json_exits_two() {
    let output = sluice(&["run", &fixture("flows/welcome-acme-user/flow.json"), "--input", "{not json"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.starts_with("error: --input `{not json` is not a JSON object"), "stderr: {message}");
    assert_eq!(message.lines().count(), 1, "one-line error: {message}");
}

#[test]
fn missing_flow_file_exits_two() {
    let output = sluice(&["run", "/nonexistent/flow.json"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("/nonexistent/flow.json"), "stderr: {message}");
    assert_eq!(message.lines().count(), 1, "one-line error: {message}");
}

#[test]
fn unreadable_users_file_exits_two() {
    let output = sluice(&[
        "run",
        &fixture("flows/welcome-acme-user/flow.json"),
        "--users",
        &fixture("cli/not-a-fixture.json"),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not-a-fixture.json"), "stderr: {}", stderr(&output));
}

#[test]
fn unknown_flag_exits_two() {
    let output = sluice(&["run", "--frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--frobnicate"), "stderr: {}", stderr(&output));
}

#[test]
fn example_component_runs_as_step() {
    // The example flow names the component where `cargo build --target
    // wasm32-wasip2 --profile wasm` puts it. Point a copy at the build
    // script's output instead, which is the same crate built the same way.
    let example = common::repo_root().join("examples/assign-tenant-by-domain");
    let text = std::fs::read_to_string(example.join("flow.json")).expect("example flow readable");
    let mut flow: Value = serde_json::from_str(&text).expect("example flow is JSON");
    let wasm = common::guest_path("example:assign-tenant-by-domain");
    for step in flow["steps"].as_array_mut().expect("steps") {
        if step["component"].as_str().is_some_and(|c| c.starts_with("file:")) {
            step["component"] = Value::from(format!("file:{}", wasm.display()));
        }
    }
    let dir = tempfile::tempdir().expect("temporary folder");
    let flow_path = dir.path().join("flow.json");
    std::fs::write(&flow_path, flow.to_string()).expect("flow copy written");

    let output = sluice(&[
        "run",
        &flow_path.display().to_string(),
        "--input",
        r#"{"loginId": "ada@acme.com"}"#,
        "--users",
        &example.join("users.json").display().to_string(),
    ]);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let printed: Value = serde_json::from_str(&stdout(&output)).expect("stdout is JSON");
    assert_eq!(printed["tenantId"], "tenant-acme", "output: {printed}");
}

#[test]
fn missing_component_file_reported_once() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let flow = serde_json::json!({
        "id": "missing-file", "type": "management", "start": "go",
        "steps": [
            { "id": "go", "kind": "action", "component": "file:nothing-here.wasm", "next": { "success": "done" } },
            { "id": "done", "kind": "end", "outputs": [] }
        ]
    });
    let path = dir.path().join("flow.json");
    std::fs::write(&path, flow.to_string()).expect("flow written");
    let output = sluice(&["flow", "validate", &path.display().to_string()]);
    assert_eq!(output.status.code(), Some(1));
    let printed = stdout(&output);
    assert!(printed.contains("1 problem"), "stdout: {printed}");
    assert!(printed.contains("step \"go\""), "stdout: {printed}");
    assert!(printed.contains("nothing-here.wasm"), "stdout: {printed}");
    assert!(printed.contains("cargo build --target wasm32-wasip2"), "stdout: {printed}");
}
