//! Publishing a third-party component with the CLI to a real server, then
//! running it in a deployed flow, with the manifest's egress hosts enforced.

mod common;

use std::path::Path;
use std::process::Command;

use axum::Router;
use axum::routing::get;
use serde_json::json;

use common::server::{KEY, PROJECT, Server};

/// Starts a receiver that serves `GET /ok` and returns its base URL.
fn start_receiver() -> String {
    let app = Router::new().route(
        "/ok",
        get(|| async { axum::Json(json!({ "from": "receiver" })) }),
    );
    common::serve_on_loopback(app)
}

/// Runs `sluice component publish` and returns the exit code and output.
fn publish(server: &Server, wasm: &Path, manifest: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["component", "publish"])
        .arg(wasm)
        .arg("--manifest")
        .arg(manifest)
        .args(["--url", &server.base])
        .env("SLUICE_PROJECT_ID", PROJECT)
        .env("SLUICE_MANAGEMENT_KEY", KEY)
        .output()
        .expect("sluice runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

fn write_manifest(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write manifest");
    path
}

#[test]
fn published_connector_runs_in_deployed_flow() {
    let base = start_receiver();
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start_with_env(
        dir.path(),
        &[("SLUICE_EGRESS_ALLOWED_PRIVATE", "[\"127.0.0.1/32\"]")],
    );
    let wasm = common::guest_path("fixture:fetch-any");
    let manifest = write_manifest(
        dir.path(),
        "fetch.toml",
        &format!(
            "id = \"acme/fetch\"\nversion = \"1.0.0\"\nworld = \"connector\"\negress = [\"{base}\"]\n"
        ),
    );

    let (code, output) = publish(&server, &wasm, &manifest);
    assert_eq!(code, 0, "{output}");
    assert!(output.contains("Published acme/fetch@1.0.0"), "{output}");

    let (code, output) = publish(&server, &wasm, &manifest);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("already published"), "{output}");

    let flow = json!({
        "id": "fetch-flow", "type": "management", "start": "fetch",
        "steps": [
            { "id": "fetch", "kind": "connector", "component": "acme/fetch@1.0.0",
              "config": { "url": "{{client.url}}" }, "next": { "success": "done" } },
            { "id": "done", "kind": "end", "outputs": [
                { "key": "status", "type": "number", "value": "{{connectors.fetch.status}}" } ] }
        ]
    });
    let (status, body) = server.post("/v1/mgmt/flow/import", json!({ "flow": flow }));
    assert_eq!(status, 200, "{body}");

    let (status, body) = server.post(
        "/v1/mgmt/flow/run",
        json!({ "flowId": "fetch-flow", "input": { "url": format!("{base}/ok") } }),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output"]["status"], 200);

    let (status, body) = server.post(
        "/v1/mgmt/flow/run",
        json!({ "flowId": "fetch-flow", "input": { "url": "http://127.0.0.2:9/ok" } }),
    );
    assert_eq!(status, 422, "{body}");
    let message = body["errorMessage"].as_str().expect("message");
    assert!(
        message.contains("denied") && message.contains("127.0.0.2"),
        "{message}"
    );

    // An instance may use the published connector; an unknown one is refused.
    let (status, body) = server.post(
        "/v1/mgmt/connector/create",
        json!({ "name": "fetcher", "component": "acme/fetch@1.0.0", "baseUrl": base }),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.post(
        "/v1/mgmt/connector/create",
        json!({ "name": "elsewhere", "component": "other/none@1.0.0", "baseUrl": base }),
    );
    assert_eq!(status, 400, "{body}");

    let (status, body) = server.post(
        "/v1/mgmt/component/delete",
        json!({ "reference": "acme/fetch@1.0.0" }),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("fetch-flow version 1")),
        "{body}"
    );

    let (status, _) = server.post("/v1/mgmt/flow/delete", json!({ "ids": ["fetch-flow"] }));
    assert_eq!(status, 200);
    let (status, body) = server.post(
        "/v1/mgmt/component/delete",
        json!({ "reference": "acme/fetch@1.0.0" }),
    );
    assert_eq!(status, 200, "{body}");
    let (_, listed) = server.post("/v1/mgmt/component/list", json!({}));
    assert_eq!(listed["components"], json!([]));
    server.stop();
}

#[test]
fn bad_publications_are_rejected_with_the_reason() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    let wasm = common::guest_path("fixture:fetch-any");

    let wrong_world = write_manifest(
        dir.path(),
        "world.toml",
        "id = \"acme/fetch\"\nversion = \"1.0.0\"\nworld = \"action\"\n",
    );
    let (code, output) = publish(&server, &wasm, &wrong_world);
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("implements the connector world"),
        "{output}"
    );

    let not_wasm = dir.path().join("broken.wasm");
    std::fs::write(&not_wasm, b"not a component").expect("write");
    let fine = write_manifest(
        dir.path(),
        "fine.toml",
        "id = \"acme/fetch\"\nversion = \"1.0.0\"\nworld = \"connector\"\n",
    );
    let (code, output) = publish(&server, &not_wasm, &fine);
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("invalid `wasm`"), "{output}");
    assert!(output.contains("magic"), "{output}");
    assert!(!output.trim_end().ends_with('['), "the whole compiler message: {output}");

    let bad_manifest = write_manifest(
        dir.path(),
        "bad.toml",
        "id = \"Acme\"\nversion = \"one\"\nworld = \"connector\"\negress = [\"api.acme.test\"]\n",
    );
    let (code, output) = publish(&server, &wasm, &bad_manifest);
    assert_eq!(code, 2, "{output}");
    assert!(
        output.contains("`id`") && output.contains("not an origin"),
        "{output}"
    );

    let (status, body) = server.post(
        "/v1/mgmt/component/publish",
        json!({ "manifest": { "id": "acme/x" } }),
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.post(
        "/v1/mgmt/component/delete",
        json!({ "reference": "acme/none@1.0.0" }),
    );
    assert_eq!(status, 404, "{body}");
    server.stop();
}
