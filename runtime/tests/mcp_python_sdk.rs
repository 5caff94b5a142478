//! The MCP Python SDK, unchanged, against a real `sluice serve`: its OAuth
//! helpers discover an MCP server's metadata and register two clients, and
//! Sluice stores each with the status the example registration flow
//! decides and records the registrations as audit events.
//!
//! The test installs the `mcp` package from PyPI into a virtual environment
//! under the target folder on first use.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::{PROJECT, Server};
use serde_json::{Value, json};

/// Version of the MCP Python SDK the test runs; the helper functions the
/// script imports were read in this release.
const MCP_SDK: &str = "mcp==2.3.0";

/// Returns the Python interpreter of a virtual environment with the SDK.
fn python_with_sdk() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcp-venv");
    let python = venv.join("bin").join("python");
    let marker = venv.join(MCP_SDK);
    if !marker.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs; the test needs Python 3.10 or newer");
        assert!(status.success(), "python3 -m venv failed");
        let status = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                MCP_SDK,
            ])
            .status()
            .expect("pip runs");
        assert!(status.success(), "pip install {MCP_SDK} failed");
        std::fs::write(&marker, b"").expect("marker written");
    }
    python
}

#[test]
fn python_sdk_discovers_and_registers() {
    let python = python_with_sdk();
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());
    let (status, created) = server.post(
        "/v1/mgmt/mcp/server/create",
        json!({
            "id": "docs",
            "name": "Docs MCP",
            "approvedScopes": ["docs:read"],
            "registration": {"approvedCimdDomains": ["example.com"]},
            "registrationFlowId": "verify-mcp-client",
            "authorizationEndpoint": "https://auth.example.com/authorize",
            "tokenEndpoint": "https://auth.example.com/token"
        }),
    );
    assert_eq!(status, 200, "{created}");
    let issuer = created["server"]["issuer"]
        .as_str()
        .expect("issuer")
        .to_owned();
    assert_eq!(issuer, format!("{}/oauth/{PROJECT}/docs", server.base));

    let output = Command::new(&python)
        .arg(common::test_file("mcp/sdk_check.py"))
        .env("SLUICE_ISSUER", &issuer)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "SDK script failed:\nstdout: {stdout}\nstderr: {stderr}"
    );
    let line = stdout.lines().last().expect("the script prints one line");
    let result: Value = serde_json::from_str(line).expect("the script prints JSON");

    assert_eq!(
        result["metadataUrl"],
        format!(
            "{}/.well-known/oauth-authorization-server/oauth/{PROJECT}/docs",
            server.base
        )
    );
    assert_eq!(result["issuer"], issuer);
    assert_eq!(result["registrationEndpoint"], format!("{issuer}/register"));
    assert_eq!(result["codeChallengeMethods"], json!(["S256"]));
    let local = &result["clients"]["local"];
    let remote = &result["clients"]["remote"];
    assert_eq!(local["hasSecret"], false, "{result}");
    assert_eq!(remote["hasSecret"], true, "{result}");

    let (status, listed) = server.post("/v1/mgmt/mcp/client/list", json!({"serverId": "docs"}));
    assert_eq!(status, 200, "{listed}");
    let status_of = |client: &Value| {
        listed["clients"]
            .as_array()
            .and_then(|clients| {
                clients
                    .iter()
                    .find(|listed| listed["clientId"] == client["clientId"])
            })
            .map(|listed| listed["verification"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        status_of(local),
        "verified",
        "a named loopback client: {listed}"
    );
    assert_eq!(
        status_of(remote),
        "unverified",
        "a redirect URI outside example.com: {listed}"
    );

    let (status, found) = server.post(
        "/v1/mgmt/audit/search",
        json!({"actions": ["McpClientRegistered"]}),
    );
    assert_eq!(status, 200, "{found}");
    let audits = found["audits"].as_array().cloned().unwrap_or_default();
    let local_event = audits
        .iter()
        .find(|event| event["data"]["clientId"] == local["clientId"])
        .unwrap_or_else(|| panic!("the local client's registration is in audit search: {found}"));
    assert_eq!(local_event["data"]["status"], "verified");
    assert_eq!(local_event["data"]["clientName"], "Local coding agent");
    assert_eq!(local_event["remoteAddress"], "127.0.0.1");
    assert!(
        audits
            .iter()
            .any(|event| event["data"]["clientId"] == remote["clientId"]),
        "{found}"
    );
    server.stop();
}
