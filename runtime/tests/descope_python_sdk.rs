//! Descope's Python SDK, unchanged, against a real `sluice serve`: it
//! creates a user, runs a flow whose outputs it reads, records a custom
//! audit event and finds it by action and by time.
//!
//! The test installs the `descope` package from PyPI into a virtual
//! environment under the target folder on first use.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::{KEY, PROJECT, Server};
use serde_json::Value;

/// Version of Descope's Python SDK the test runs; its paths and bodies were
/// checked against this release.
const DESCOPE_SDK: &str = "descope==2.16.1";

/// Returns the Python interpreter of a virtual environment with the SDK.
fn python_with_sdk() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("descope-venv");
    let python = venv.join("bin").join("python");
    let marker = venv.join(DESCOPE_SDK);
    if !marker.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs; the test needs Python 3.9 or newer");
        assert!(status.success(), "python3 -m venv failed");
        let status = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", DESCOPE_SDK])
            .status()
            .expect("pip runs");
        assert!(status.success(), "pip install {DESCOPE_SDK} failed");
        std::fs::write(&marker, b"").expect("marker written");
    }
    python
}

#[test]
fn python_sdk_manages_users_flows_audit() {
    let python = python_with_sdk();
    let dir = tempfile::tempdir().expect("temporary folder");
    let server = Server::start(dir.path());

    let output = Command::new(&python)
        .arg(common::test_file("descope/sdk_check.py"))
        .env("SLUICE_BASE_URL", &server.base)
        .env("SLUICE_PROJECT_ID", PROJECT)
        .env("SLUICE_MANAGEMENT_KEY", KEY)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "SDK script failed:\nstdout: {stdout}\nstderr: {stderr}");

    let line = stdout.lines().last().expect("the script prints one line");
    let result: Value = serde_json::from_str(line).expect("the script prints JSON");
    assert_eq!(result["output"]["welcomed"], true, "result: {result}");
    assert_eq!(result["output"]["plan"], "pro", "result: {result}");
    assert_eq!(result["output"]["userId"], result["userId"], "result: {result}");
    assert_eq!(result["output"]["roles"], serde_json::json!(["viewer", "member"]), "result: {result}");

    let audit = &result["audit"];
    assert_eq!(audit["action"], "InvoicePaid", "result: {result}");
    assert_eq!(audit["userId"], result["userId"], "result: {result}");
    assert_eq!(audit["loginIds"], serde_json::json!(["ada@acme.com"]), "result: {result}");
    assert_eq!(audit["tenants"], serde_json::json!(["T-acme"]), "result: {result}");
    assert_eq!(audit["remoteAddress"], "127.0.0.1", "result: {result}");
    assert_eq!(audit["data"], serde_json::json!({ "invoice": "INV-42", "amount": 12 }), "result: {result}");
    server.stop();
}
