//! A `sluice serve` process on loopback for end-to-end tests.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub const PROJECT: &str = "Ptestproject";
pub const KEY: &str = "test-management-key";

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    /// Base URL such as `http://127.0.0.1:40123`.
    pub base: String,
}

impl Server {
    /// Starts a server on a free port with the example flows deployed.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with_env(data_dir, &[])
    }

    /// Starts a server like [`Server::start`] with extra environment variables.
    pub fn start_with_env(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::spawn(data_dir, env, Stdio::inherit())
    }

    /// Starts a server like [`Server::start_with_env`] that logs at debug
    /// level into `log_file`, for tests that search the log.
    pub fn start_logging_to(data_dir: &Path, env: &[(&str, &str)], log_file: &Path) -> Self {
        let file = std::fs::File::create(log_file).expect("create the log file");
        let mut env = env.to_vec();
        env.push(("SLUICE_LOG", "debug"));
        Self::spawn(data_dir, &env, Stdio::from(file))
    }

    fn spawn(data_dir: &Path, env: &[(&str, &str)], stderr: Stdio) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--flows")
            .arg(super::repo_root().join("examples/flows"))
            .env("SLUICE_PROJECT_ID", PROJECT)
            .env("SLUICE_MANAGEMENT_KEY", KEY)
            .env("SLUICE_LOG", "warn")
            .env("SLUICE_CACHE_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("server-cache"))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("sluice serve starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("server printed its address before exiting")
                .expect("stdout is readable");
            if let Some(address) = line.strip_prefix("Sluice is listening on ") {
                break address.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, base }
    }

    /// Stops the server with SIGTERM and checks that it exits cleanly.
    pub fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("server exits");
        assert!(exit.success(), "graceful shutdown exits with 0, got {exit}");
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it to exit.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL reaches the server");
        let _ = self.child.wait();
    }

    /// Sends a request and returns the status and the JSON (or text) body.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>, auth: Option<&str>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let url = format!("{}{path}", self.base);
        let auth_header = auth.map(|credentials| format!("Bearer {credentials}"));
        let mut response = match method {
            "GET" => {
                let mut request = agent.get(&url);
                if let Some(header) = &auth_header {
                    request = request.header("Authorization", header);
                }
                request.call()
            }
            _ => {
                let mut request = agent.post(&url);
                if let Some(header) = &auth_header {
                    request = request.header("Authorization", header);
                }
                request.send_json(body.unwrap_or_else(|| json!({})))
            }
        }
        .expect("request reaches the server");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// Sends an authenticated POST.
    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body), Some(&format!("{PROJECT}:{KEY}")))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

