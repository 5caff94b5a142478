//! `sluice serve` as a real process on loopback: bootstrap, authentication,
//! flows with versions, runs, and data that survives a restart.

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::server::{KEY, PROJECT, Server};

#[test]
fn health_and_auth() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    assert_eq!(server.call("GET", "/healthz", None, None).0, 200);
    assert_eq!(server.call("GET", "/readyz", None, None).0, 200);

    for credentials in [None, Some("no-colon"), Some("Ptestproject:wrong"), Some("Pother:test-management-key")] {
        let (status, body) = server.call("POST", "/v1/mgmt/flow/list", Some(json!({})), credentials);
        assert_eq!(status, 401, "credentials {credentials:?}");
        assert_eq!(body["errorCode"], "S040100", "credentials {credentials:?}");
        assert!(body["errorMessage"].as_str().is_some_and(|m| m.contains("Bearer")));
    }
    let (status, body) = server.call("GET", "/v1/mgmt/license", None, Some(&format!("{PROJECT}:{KEY}")));
    assert_eq!(status, 200);
    assert!(body.get("rateLimitTier").is_some());
    server.stop();
}

#[test]
fn flows_run_version_and_survive_restart() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());

    let (status, listed) = server.post("/v1/mgmt/flow/list", json!({}));
    assert_eq!(status, 200);
    let ids: Vec<&str> = listed["flows"].as_array().expect("flows").iter().filter_map(|f| f["id"].as_str()).collect();
    assert!(ids.contains(&"offboard-user"), "flows: {ids:?}");
    assert_eq!(listed["total"], listed["flows"].as_array().map_or(0, Vec::len));

    // Nested body (Node and Go SDKs) and flat body (Python SDK).
    let (status, nested) = server.post(
        "/v1/mgmt/flow/run",
        json!({"flowId": "offboard-user", "options": {"input": {"loginId": "ghost@example.com"}}}),
    );
    assert_eq!(status, 200, "body: {nested}");
    assert_eq!(nested["output"]["error"], "user `ghost@example.com` not found");
    let (status, flat) = server.post("/v1/mgmt/flow/run", json!({"flowId": "offboard-user", "input": {"loginId": "x"}}));
    assert_eq!(status, 200, "body: {flat}");
    assert_eq!(flat["output"]["error"], "user `x` not found");

    let (status, missing) = server.post("/v1/mgmt/flow/run", json!({"input": {}}));
    assert_eq!(status, 400);
    assert_eq!(missing["errorCode"], "E011002");
    let (status, unknown) = server.post("/v1/mgmt/flow/run", json!({"flowId": "nope"}));
    assert_eq!(status, 404);
    assert!(unknown["errorMessage"].as_str().is_some_and(|m| m.contains("nope")));
    let (status, wrong_type) = server.post("/v1/mgmt/flow/run", json!({"flowId": 42}));
    assert_eq!(status, 400);
    assert!(wrong_type["errorMessage"].as_str().is_some_and(|m| m.contains("flowId")), "body: {wrong_type}");

    // Async run and its result.
    let (status, started) = server.post("/v1/mgmt/flow/async/run", json!({"flowId": "offboard-user", "options": {"input": {"loginId": "a"}}}));
    assert_eq!(status, 200);
    let execution = started["executionId"].as_str().expect("execution id").to_owned();
    let mut result = Value::Null;
    for _ in 0..100 {
        let (_, body) = server.post("/v1/mgmt/flow/async/result", json!({"executionId": execution}));
        if body["status"] != "running" {
            result = body;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(result["status"], "completed", "result: {result}");
    assert_eq!(result["output"]["error"], "user `a` not found");

    // Deploy a new version, roll back to the first.
    let (_, exported) = server.post("/v1/mgmt/flow/export", json!({"flowId": "offboard-user"}));
    let mut document = exported["flow"].clone();
    document["description"] = Value::from("second version");
    let (status, imported) = server.post("/v1/mgmt/flow/import", json!({"flowId": "offboard-user", "flow": document}));
    assert_eq!(status, 200, "body: {imported}");
    assert_eq!(imported["version"], 2);
    let (_, versions) = server.post("/v1/mgmt/flow/versions", json!({"flowId": "offboard-user"}));
    assert_eq!(versions["versions"].as_array().map(Vec::len), Some(2));
    let (status, rolled) = server.post("/v1/mgmt/flow/rollback", json!({"flowId": "offboard-user", "version": 1}));
    assert_eq!(status, 200, "body: {rolled}");
    let (_, after) = server.post("/v1/mgmt/flow/export", json!({"flowId": "offboard-user"}));
    assert_eq!(after["version"], 1);

    // An invalid document is rejected with every problem.
    let (status, invalid) = server.post(
        "/v1/mgmt/flow/import",
        json!({"flow": {"id": "bad", "type": "management", "start": "x", "steps": []}}),
    );
    assert_eq!(status, 400);
    assert!(invalid["errorMessage"].as_str().is_some_and(|m| m.contains("start")), "body: {invalid}");

    let (_, runs) = server.post("/v1/mgmt/flow/runs", json!({"flowId": "offboard-user"}));
    let run_count = runs["runs"].as_array().map_or(0, Vec::len);
    assert_eq!(run_count, 3, "runs: {runs}");
    let run_id = runs["runs"][0]["runId"].as_str().expect("run id").to_owned();
    let (status, run) = server.call("GET", &format!("/v1/mgmt/flow/runs/{run_id}"), None, Some(&format!("{PROJECT}:{KEY}")));
    assert_eq!(status, 200);
    assert_eq!(run["run"]["flowVersion"], 1);
    assert_eq!(run["run"]["trace"][0]["component"], "builtin:load-user");

    let (status, metrics) = server.call("GET", "/metrics", None, None);
    assert_eq!(status, 200);
    let metrics = metrics.as_str().expect("metrics are text").to_owned();
    assert!(
        metrics.contains(r#"sluice_flow_runs_total{flow="offboard-user",outcome="completed"} 3"#),
        "metrics: {metrics}"
    );
    assert!(metrics.contains(r#"route="/v1/mgmt/flow/run",status="200""#), "metrics: {metrics}");
    assert!(metrics.contains(r#"sluice_step_duration_seconds_count{component="builtin:load-user",outcome="not-found"}"#), "metrics: {metrics}");
    server.stop();

    // Restart on the same data folder: versions, the rollback and the runs remain.
    let server = Server::start(dir.path());
    let (_, versions) = server.post("/v1/mgmt/flow/versions", json!({"flowId": "offboard-user"}));
    assert_eq!(versions["versions"].as_array().map(Vec::len), Some(2), "no version added by restart: {versions}");
    let (_, exported) = server.post("/v1/mgmt/flow/export", json!({"flowId": "offboard-user"}));
    assert_eq!(exported["version"], 1);
    let (_, runs) = server.post("/v1/mgmt/flow/runs", json!({"flowId": "offboard-user"}));
    assert_eq!(runs["runs"].as_array().map_or(0, Vec::len), 3);
    server.stop();
}

#[test]
fn oversized_body_is_413() {
    let dir = tempfile::tempdir().expect("temporary folder");
    // A small limit keeps the oversized body within the socket buffers, so
    // the client finishes sending before the server answers and closes.
    let server = Server::start_with_env(dir.path(), &[("SLUICE_MAX_BODY_BYTES", "1024")]);
    let padding = "x".repeat(2048);
    let (status, body) = server.post("/v1/mgmt/flow/run", json!({"flowId": "offboard-user", "input": {"pad": padding}}));
    assert_eq!(status, 413);
    assert_eq!(body["errorCode"], "S041300");
    server.stop();
}

#[test]
fn key_create_adds_working_key() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    server.stop();

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["key", "create", "--name", "ci", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("sluice key create runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(PROJECT), "stdout: {stdout}");
    let secret = stdout.lines().last().expect("the key is printed last").trim().to_owned();
    assert_ne!(secret, KEY);

    let server = Server::start(dir.path());
    let (status, _) = server.call("POST", "/v1/mgmt/flow/list", Some(json!({})), Some(&format!("{PROJECT}:{secret}")));
    assert_eq!(status, 200, "the new key authenticates");
    server.stop();

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["key", "create", "--project", "Pnope", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("sluice key create runs");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("Pnope"));
}

#[test]
fn invalid_setting_stops_start() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("SLUICE_MAX_CONCURRENT_RUNS", "many")
        .output()
        .expect("sluice serve runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("max_concurrent_runs"), "stderr: {stderr}");
    assert!(stderr.contains("SLUICE_MAX_CONCURRENT_RUNS") || stderr.contains("environment"), "stderr: {stderr}");
}

#[test]
fn unreadable_extra_ca_file_stops_start() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let ca_file = dir.path().join("internal-ca.pem");
    std::fs::write(&ca_file, "not a certificate\n").expect("write the CA file");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("SLUICE_EGRESS_EXTRA_CA_FILE", &ca_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sluice serve starts");
    let mut status = None;
    for _ in 0..600 {
        status = child.try_wait().expect("wait for sluice serve");
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if status.is_none() {
        child.kill().expect("stop sluice serve");
        panic!("sluice serve kept running with a CA file that has no certificate");
    }
    let output = child.wait_with_output().expect("sluice serve output");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("egress_extra_ca_file"), "stderr: {stderr}");
    assert!(stderr.contains("internal-ca.pem"), "stderr: {stderr}");
    assert!(stderr.contains("no PEM certificate"), "stderr: {stderr}");
}
