//! Run slots against a server listening on loopback: the limit per project
//! and for the server, and 429 with `Retry-After`. A slot comes back after
//! its run ends, also when the client went away. Graceful shutdown lets a
//! run in progress finish.
//!
//! The slow run is a connector step that calls a receiver on loopback,
//! which holds every request until the test releases it. So the test
//! decides when each run ends, and no run burns CPU while it waits.

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};
use sluice::api::auth::hash_secret;
use sluice::api::{ApiSettings, AppState, router};
use sluice::connectors::{ConnectorAuth, ConnectorInstance, ConnectorResolver};
use sluice::engine::{EgressPolicy, Engine, EngineSettings, StepLimits};
use sluice::executor::{RunSettings, Runtime};
use sluice::registry::ComponentRegistry;
use sluice::secrets::SecretKey;
use sluice::server::http::{HttpLimits, serve_http};
use sluice::store::{ConnectorStore, ManagementKey, MemoryStore, ProjectStore, StoredConnector};
use tokio::sync::{oneshot, watch};

const FIRST: &str = "P-first";
const SECOND: &str = "P-second";

fn auth(project: &str) -> String {
    format!("Bearer {project}:{project}-secret")
}

/// The receiver's requests in progress and the switch that releases them.
struct Hold {
    arrived: AtomicUsize,
    released: watch::Sender<bool>,
}

async fn hold_request(State(hold): State<Arc<Hold>>) -> axum::Json<Value> {
    hold.arrived.fetch_add(1, Ordering::SeqCst);
    let mut released = hold.released.subscribe();
    let _ = released.wait_for(|released| *released).await;
    axum::Json(json!({ "held": true }))
}

/// Returns a flow whose one connector step waits for the receiver.
fn held_flow() -> Value {
    json!({
        "id": "held", "type": "management", "trigger": { "api": true }, "start": "call",
        "steps": [
            { "id": "call", "kind": "connector", "component": "builtin:http", "connector": "receiver",
              "config": { "path": "/hold" }, "next": { "success": "done" } },
            { "id": "done", "kind": "end", "outputs": [
                { "key": "held", "type": "boolean", "value": "{{connectors.call.body.held}}" } ] }
        ]
    })
}

/// Returns a flow that ends at once.
fn quick_flow() -> Value {
    json!({
        "id": "quick", "type": "management", "trigger": { "api": true }, "start": "check",
        "steps": [
            { "id": "check", "kind": "condition", "component": "builtin:condition",
              "config": { "all": [ { "key": "client.n", "operator": "equals", "value": 1 } ] },
              "next": { "true": "done", "false": "done" } },
            { "id": "done", "kind": "end", "outputs": [
                { "key": "n", "type": "number", "value": "{{client.n}}" } ] }
        ]
    })
}

/// A server on loopback with two projects, each with the `held` and
/// `quick` flows and a connector instance `receiver` that points at the
/// holding receiver.
struct TestServer {
    base: String,
    hold: Arc<Hold>,
    shutdown: Option<oneshot::Sender<()>>,
    stopped: std::sync::mpsc::Receiver<()>,
}

impl TestServer {
    fn start(settings: ApiSettings) -> Self {
        let (released, _) = watch::channel(false);
        let hold = Arc::new(Hold {
            arrived: AtomicUsize::new(0),
            released,
        });
        let receiver = common::serve_on_loopback(
            Router::new()
                .route("/hold", get(hold_request))
                .with_state(Arc::clone(&hold)),
        );

        let engine = Arc::new(
            Engine::new(EngineSettings {
                cache_dir: Some(
                    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache"),
                ),
                max_instances: 16,
                egress: EgressPolicy {
                    allowed_private: vec!["127.0.0.1/32".parse().expect("network")],
                    timeout: Duration::from_secs(120),
                    max_response_bytes: 64 * 1024,
                },
                ..EngineSettings::default()
            })
            .expect("engine starts"),
        );
        let registry = ComponentRegistry::with_builtins(&engine).expect("built-ins load");
        let store = Arc::new(MemoryStore::new());
        let (key, _) = SecretKey::generate();
        let resolver = Arc::new(ConnectorResolver::new(Arc::clone(&store) as _, key));
        for project in [FIRST, SECOND] {
            store
                .create_project(project, project)
                .expect("project is created");
            store
                .add_key(&ManagementKey {
                    id: format!("K-{project}"),
                    project: project.to_owned(),
                    name: "test key".to_owned(),
                    secret_hash: hash_secret(&format!("{project}-secret")),
                    created: 0,
                })
                .expect("key is added");
            let instance = ConnectorInstance {
                name: "receiver".to_owned(),
                component: "builtin:http".to_owned(),
                base_url: receiver.clone(),
                auth: ConnectorAuth::None,
                headers: BTreeMap::new(),
                config: BTreeMap::new(),
                secret_names: Vec::new(),
                created: 0,
                updated: 0,
            };
            let stored = StoredConnector {
                sealed_secrets: resolver.seal(&BTreeMap::new()),
                instance,
            };
            store
                .create_connector(project, &stored)
                .expect("instance stored");
        }
        // The receiver keeps a step waiting for as long as the test wants, so
        // the step deadline is the highest a flow may request.
        let run_settings = RunSettings {
            default_limits: StepLimits {
                timeout: Duration::from_secs(30),
                ..StepLimits::default()
            },
            ..RunSettings::default()
        };
        let runtime = Runtime::new(
            engine,
            Arc::new(registry),
            Arc::clone(&store) as _,
            run_settings,
        )
        .with_connectors(Arc::clone(&resolver));
        let state = AppState::new(store, runtime, settings);
        state.set_connector_resolver(resolver);

        let (shutdown, shutdown_rx) = oneshot::channel();
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let (stopped_tx, stopped) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            runtime.block_on(async move {
                for project in [FIRST, SECOND] {
                    for flow in [held_flow(), quick_flow()] {
                        state.deploy(project, flow).await.expect("flow deploys");
                    }
                }
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind a loopback port");
                address_tx
                    .send(listener.local_addr().expect("local address"))
                    .expect("send the address");
                serve_http(listener, router(state), HttpLimits::default(), async {
                    let _ = shutdown_rx.await;
                })
                .await;
                let _ = stopped_tx.send(());
            });
        });
        let address = address_rx.recv().expect("server address");
        Self {
            base: format!("http://{address}"),
            hold,
            shutdown: Some(shutdown),
            stopped,
        }
    }

    /// Waits until `count` requests reached the receiver.
    fn wait_for_held(&self, count: usize) {
        for _ in 0..1200 {
            if self.hold.arrived.load(Ordering::SeqCst) >= count {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{count} runs never reached the receiver");
    }

    fn release(&self) {
        self.hold.released.send_replace(true);
    }
}

/// A response: status, `Retry-After` and the JSON body.
struct Reply {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

fn post(base: &str, project: &str, path: &str, body: &Value) -> Reply {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let mut response = agent
        .post(&format!("{base}{path}"))
        .header("Authorization", &auth(project))
        .send_json(body)
        .expect("request reaches the server");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        retry_after,
        body,
    }
}

fn run(base: &str, project: &str, flow: &str) -> Reply {
    post(
        base,
        project,
        "/v1/mgmt/flow/run",
        &json!({ "flowId": flow, "input": { "n": 1 } }),
    )
}

fn run_async(base: &str, project: &str, flow: &str) -> Reply {
    post(
        base,
        project,
        "/v1/mgmt/flow/async/run",
        &json!({ "flowId": flow, "input": { "n": 1 } }),
    )
}

/// Starts a held run of `project` on a thread of its own.
fn start_held_run(server: &TestServer, project: &str) -> std::thread::JoinHandle<Reply> {
    let base = server.base.clone();
    let project = project.to_owned();
    std::thread::spawn(move || run(&base, &project, "held"))
}

fn assert_too_many(reply: &Reply, setting: &str, project: Option<&str>) {
    assert_eq!(reply.status, 429, "body: {}", reply.body);
    assert_eq!(reply.retry_after.as_deref(), Some("1"));
    assert_eq!(reply.body["errorCode"], "S042900");
    assert_eq!(reply.body["errorDescription"], "Too many requests");
    let message = reply.body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("`{setting}`")),
        "message: {message}"
    );
    if let Some(project) = project {
        assert!(
            message.contains(&format!("`{project}`")),
            "message: {message}"
        );
    }
}

#[test]
fn project_slots_fill_and_come_back() {
    let server = TestServer::start(ApiSettings {
        max_concurrent_runs: 10,
        max_concurrent_runs_per_project: 2,
        ..ApiSettings::default()
    });
    let held = [
        start_held_run(&server, FIRST),
        start_held_run(&server, FIRST),
    ];
    server.wait_for_held(2);

    let refused = run(&server.base, FIRST, "quick");
    assert_too_many(&refused, "max_concurrent_runs_per_project", Some(FIRST));
    let refused_async = run_async(&server.base, FIRST, "quick");
    assert_too_many(
        &refused_async,
        "max_concurrent_runs_per_project",
        Some(FIRST),
    );

    let other = run(&server.base, SECOND, "quick");
    assert_eq!(
        other.status, 200,
        "another project still runs: {}",
        other.body
    );
    assert_eq!(other.body["output"]["n"], 1);
    let other_async = run_async(&server.base, SECOND, "quick");
    assert_eq!(other_async.status, 200, "body: {}", other_async.body);

    server.release();
    for handle in held {
        let reply = handle.join().expect("held run thread");
        assert_eq!(reply.status, 200, "body: {}", reply.body);
        assert_eq!(reply.body["output"]["held"], true);
    }
    let again = run(&server.base, FIRST, "quick");
    assert_eq!(again.status, 200, "the slots came back: {}", again.body);
}

#[test]
fn server_limit_applies_across_projects() {
    let server = TestServer::start(ApiSettings {
        max_concurrent_runs: 1,
        max_concurrent_runs_per_project: 5,
        ..ApiSettings::default()
    });
    let held = start_held_run(&server, FIRST);
    server.wait_for_held(1);

    let refused = run(&server.base, SECOND, "quick");
    assert_too_many(&refused, "max_concurrent_runs", None);

    server.release();
    assert_eq!(held.join().expect("held run thread").status, 200);
    assert_eq!(run(&server.base, SECOND, "quick").status, 200);
}

#[test]
fn disconnected_client_keeps_slot_until_run_ends() {
    let server = TestServer::start(ApiSettings {
        max_concurrent_runs_per_project: 1,
        ..ApiSettings::default()
    });
    let body = json!({ "flowId": "held" }).to_string();
    let address = server.base.trim_start_matches("http://");
    let mut client = std::net::TcpStream::connect(address).expect("connect");
    write!(
        client,
        "POST /v1/mgmt/flow/run HTTP/1.1\r\nHost: {address}\r\nAuthorization: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        auth(FIRST),
        body.len()
    )
    .expect("send the request");
    server.wait_for_held(1);
    client
        .shutdown(std::net::Shutdown::Both)
        .expect("close the connection");
    drop(client);

    // The run goes on without its client and keeps its slot.
    let refused = run(&server.base, FIRST, "quick");
    assert_too_many(&refused, "max_concurrent_runs_per_project", Some(FIRST));

    server.release();
    let mut finished = Value::Null;
    for _ in 0..600 {
        let runs = post(
            &server.base,
            FIRST,
            "/v1/mgmt/flow/runs",
            &json!({ "flowId": "held" }),
        );
        if let Some(run) = runs.body["runs"].as_array().and_then(|runs| runs.first()) {
            finished = run.clone();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        finished["status"], "completed",
        "the run was stored whole: {finished}"
    );

    let mut after = run(&server.base, FIRST, "quick");
    for _ in 0..600 {
        if after.status != 429 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        after = run(&server.base, FIRST, "quick");
    }
    assert_eq!(after.status, 200, "the slot came back: {}", after.body);
    let runs = post(
        &server.base,
        FIRST,
        "/v1/mgmt/flow/runs",
        &json!({ "flowId": "held" }),
    );
    assert_eq!(
        runs.body["runs"].as_array().map(Vec::len),
        Some(1),
        "runs: {}",
        runs.body
    );
}

#[test]
fn shutdown_lets_run_in_progress_finish() {
    let mut server = TestServer::start(ApiSettings::default());
    let held = start_held_run(&server, FIRST);
    server.wait_for_held(1);

    server
        .shutdown
        .take()
        .expect("shutdown sender")
        .send(())
        .expect("server is running");
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut refused = false;
    for _ in 0..600 {
        if std::net::TcpStream::connect(&address).is_err() {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(refused, "the listener closes when shutdown starts");
    assert!(
        server.stopped.try_recv().is_err(),
        "the server waits for the run in progress"
    );

    server.release();
    let reply = held.join().expect("held run thread");
    assert_eq!(reply.status, 200, "body: {}", reply.body);
    assert_eq!(reply.body["output"]["held"], true);
    server
        .stopped
        .recv_timeout(Duration::from_secs(60))
        .expect("the server stops after the run");
}
