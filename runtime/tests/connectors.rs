//! Connector steps against an HTTP receiver on loopback: authentication
//! added by the host, HMAC signatures, timeouts, retries, rate limits,
//! response size, and the egress policy against a connector that tries to
//! reach what it should not.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use sluice::connectors::{ConnectorAuth, ConnectorInstance, ConnectorResolver};
use sluice::engine::{EgressPolicy, Engine, EngineSettings};
use sluice::executor::{RunReport, RunRequest, RunSettings, RunStatus, Runtime};
use sluice::registry::ComponentRegistry;
use sluice::secrets::SecretKey;
use sluice::store::{ConnectorStore, MemoryStore, StoredConnector};

const PROJECT: &str = "P1";
/// Reference under which the fetch-any fixture is loaded, in the form flows accept.
const FETCH_ANY: &str = "tests/fetch-any@0.1.0";
const TOKEN: &str = "tok-5ecret-value";
const HMAC_KEY: &str = "hmac-5ecret-key";

/// What the receiver saw of each request.
#[derive(Debug, Clone)]
struct Seen {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    failures_left: Arc<AtomicU32>,
    tokens_issued: Arc<AtomicU32>,
}

impl Receiver {
    fn record(&self, path: &str, headers: &HeaderMap, body: &Bytes) {
        tracing::debug!(path, "Receiver got a request");
        self.seen.lock().expect("lock").push(Seen {
            headers: headers.clone(),
            body: body.clone(),
        });
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// Starts the receiver on a free loopback port and returns its base URL.
fn start_receiver(receiver: Receiver) -> String {
    let app = Router::new()
        .route("/ok", post(ok).get(ok))
        .route("/slow", get(slow))
        .route("/flaky", get(flaky))
        .route("/limited", get(limited))
        .route("/big", get(big))
        .route("/redirect", get(redirect))
        .route("/signed", post(signed))
        .route("/token", post(token))
        .with_state(receiver);
    common::serve_on_loopback(app)
}

async fn ok(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    receiver.record("/ok", &headers, &body);
    axum::Json(json!({ "ok": true })).into_response()
}

async fn slow(State(receiver): State<Receiver>, headers: HeaderMap) -> Response {
    receiver.record("/slow", &headers, &Bytes::new());
    tokio::time::sleep(Duration::from_secs(3)).await;
    "late".into_response()
}

async fn flaky(State(receiver): State<Receiver>, headers: HeaderMap) -> Response {
    receiver.record("/flaky", &headers, &Bytes::new());
    let left = receiver.failures_left.load(Ordering::SeqCst);
    if left > 0 {
        receiver.failures_left.store(left - 1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
    }
    axum::Json(json!({ "recovered": true })).into_response()
}

async fn limited() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, "7")],
        "slow down",
    )
        .into_response()
}

async fn big() -> Response {
    "x".repeat(256 * 1024).into_response()
}

async fn redirect() -> Response {
    // 127.0.0.2 is loopback too, but another origin than the instance's.
    (
        StatusCode::FOUND,
        [(header::LOCATION, "http://127.0.0.2:9/ok")],
    )
        .into_response()
}

/// Issues tokens to the client `sluice` with the secret `cs`, as an OAuth2 token endpoint.
async fn token(State(receiver): State<Receiver>, body: String) -> Response {
    let form: Vec<(String, String)> = body
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    let has = |key: &str, value: &str| form.iter().any(|(k, v)| k == key && v == value);
    if !(has("grant_type", "client_credentials") && has("client_id", "sluice") && has("client_secret", "cs")) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "error": "invalid_client" }))).into_response();
    }
    let issued = receiver.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    axum::Json(json!({ "access_token": format!("at-{issued}"), "token_type": "Bearer", "expires_in": 3600 }))
        .into_response()
}

async fn signed(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    receiver.record("/signed", &headers, &body);
    let expected = format!(
        "sha256={}",
        sluice_component_http::sign(HMAC_KEY.as_bytes(), &body)
    );
    let given = headers
        .get("x-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if given == expected {
        axum::Json(json!({ "verified": true })).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "bad signature").into_response()
    }
}

fn engine(allowed_private: &[&str]) -> Arc<Engine> {
    let settings = EngineSettings {
        cache_dir: Some(
            std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache"),
        ),
        max_instances: 16,
        egress: EgressPolicy {
            allowed_private: allowed_private
                .iter()
                .map(|net| net.parse().expect("network"))
                .collect(),
            timeout: Duration::from_millis(500),
            max_response_bytes: 64 * 1024,
        },
        ..EngineSettings::default()
    };
    Arc::new(Engine::new(settings).expect("engine starts"))
}

struct Setup {
    runtime: Runtime,
    store: Arc<MemoryStore>,
    resolver: Arc<ConnectorResolver>,
}

fn setup(allowed_private: &[&str]) -> Setup {
    let engine = engine(allowed_private);
    let mut registry = ComponentRegistry::with_builtins(&engine).expect("built-ins load");
    let fixture = std::fs::read(common::guest_path("fixture:fetch-any")).expect("fixture built");
    registry.insert(engine.load(FETCH_ANY, &fixture).expect("fixture loads"));
    let store = Arc::new(MemoryStore::new());
    let (key, _) = SecretKey::generate();
    let resolver = Arc::new(ConnectorResolver::new(Arc::clone(&store) as _, key));
    let runtime = Runtime::new(
        engine,
        Arc::new(registry),
        Arc::clone(&store) as _,
        RunSettings::default(),
    )
    .with_connectors(Arc::clone(&resolver));
    Setup {
        runtime,
        store,
        resolver,
    }
}

fn add_instance(
    setup: &Setup,
    name: &str,
    component: &str,
    base_url: &str,
    secrets: &[(&str, &str)],
) {
    let secrets: BTreeMap<String, String> = secrets
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let instance = ConnectorInstance {
        name: name.to_owned(),
        component: component.to_owned(),
        base_url: base_url.to_owned(),
        auth: if secrets.contains_key("token") {
            ConnectorAuth::Bearer
        } else {
            ConnectorAuth::None
        },
        headers: BTreeMap::from([("x-team".to_owned(), "identity".to_owned())]),
        config: BTreeMap::new(),
        secret_names: secrets.keys().cloned().collect(),
        created: 0,
        updated: 0,
    };
    let stored = StoredConnector {
        sealed_secrets: setup.resolver.seal(&secrets),
        instance,
    };
    setup
        .store
        .create_connector(PROJECT, &stored)
        .expect("instance stored");
}

/// Runs a one-step flow whose connector step has `step` merged in.
fn run(setup: &Setup, step: Value) -> RunReport {
    let mut connector = json!({
        "id": "call", "kind": "connector", "component": "builtin:http", "connector": "receiver",
        "onError": "custom", "next": { "success": "done", "error": "failed" }
    });
    for (key, value) in step.as_object().expect("object") {
        connector[key] = value.clone();
    }
    let flow = json!({
        "id": "call-receiver", "type": "management", "start": "call",
        "steps": [
            connector,
            { "id": "done", "kind": "end", "outputs": [
                { "key": "result", "type": "object", "value": "{{connectors.call}}" } ] },
            { "id": "failed", "kind": "end", "outputs": [
                { "key": "error", "type": "object", "value": "{{connectors.call.error}}" } ] }
        ]
    });
    let compiled =
        sluice_flow::validate(&flow.to_string(), setup.runtime.components()).expect("valid flow");
    setup.runtime.run(
        &compiled,
        RunRequest {
            project: PROJECT.to_owned(),
            input: Map::new(),
            keep_step_outputs: true,
            ..RunRequest::default()
        },
    )
}

fn error_of(report: &RunReport) -> (String, String) {
    let error = &report.output["error"];
    (
        error["kind"].as_str().unwrap_or_default().to_owned(),
        error["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn request_carries_instance_auth_headers_and_signature() {
    let receiver = Receiver::default();
    let base = start_receiver(receiver.clone());
    let setup = setup(&["127.0.0.1/32"]);
    add_instance(
        &setup,
        "receiver",
        "builtin:http",
        &base,
        &[("token", TOKEN), ("hmacSecret", HMAC_KEY)],
    );

    let report = run(
        &setup,
        json!({ "config": { "path": "/ok", "body": { "hello": "world" } } }),
    );
    assert_eq!(report.status, RunStatus::Completed, "{report:?}");
    assert_eq!(report.output["result"]["status"], 200);
    assert_eq!(report.output["result"]["body"], json!({ "ok": true }));
    let seen = receiver.seen();
    assert_eq!(
        seen[0].headers["authorization"],
        format!("Bearer {TOKEN}").as_str()
    );
    assert_eq!(seen[0].headers["x-team"], "identity");
    assert_eq!(seen[0].body.as_ref(), br#"{"hello":"world"}"#);

    let signed = run(
        &setup,
        json!({ "config": { "path": "/signed", "body": { "event": "UserCreated" },
                            "hmac": { "header": "x-signature", "secret": "hmacSecret", "prefix": "sha256=" } } }),
    );
    assert_eq!(
        signed.output["result"]["body"],
        json!({ "verified": true }),
        "{signed:?}"
    );

    // The trace keeps the step's output but never a secret.
    let trace = serde_json::to_string(&signed.trace).expect("trace serializes");
    assert!(
        !trace.contains(TOKEN) && !trace.contains(HMAC_KEY),
        "secret in trace: {trace}"
    );
}

#[test]
fn slow_receiver_times_out() {
    let base = start_receiver(Receiver::default());
    let setup = setup(&["127.0.0.1/32"]);
    add_instance(&setup, "receiver", "builtin:http", &base, &[]);
    let report = run(&setup, json!({ "config": { "path": "/slow" } }));
    let (kind, message) = error_of(&report);
    assert_eq!(kind, "upstream-failure", "{message}");
    assert!(message.to_lowercase().contains("timeout"), "{message}");
}

#[test]
fn server_error_is_retried_until_it_recovers() {
    let receiver = Receiver::default();
    receiver.failures_left.store(2, Ordering::SeqCst);
    let base = start_receiver(receiver.clone());
    let setup = setup(&["127.0.0.1/32"]);
    add_instance(&setup, "receiver", "builtin:http", &base, &[]);
    let report = run(
        &setup,
        json!({ "config": { "path": "/flaky" }, "retry": { "attempts": 3, "backoffMs": 10, "on": ["upstream-failure"] } }),
    );
    assert_eq!(
        report.output["result"]["body"],
        json!({ "recovered": true }),
        "{report:?}"
    );
    assert_eq!(report.trace[0].attempts, 3);
    assert_eq!(receiver.seen().len(), 3);
}

#[test]
fn rate_limit_reports_retry_after() {
    let base = start_receiver(Receiver::default());
    let setup = setup(&["127.0.0.1/32"]);
    add_instance(&setup, "receiver", "builtin:http", &base, &[]);
    let (kind, message) = error_of(&run(&setup, json!({ "config": { "path": "/limited" } })));
    assert_eq!(kind, "upstream-failure");
    assert!(
        message.contains("429") && message.contains("Retry-After: 7"),
        "{message}"
    );
}

#[test]
fn oversized_response_is_cut_off() {
    let base = start_receiver(Receiver::default());
    let setup = setup(&["127.0.0.1/32"]);
    add_instance(&setup, "receiver", "builtin:http", &base, &[]);
    let (kind, message) = error_of(&run(&setup, json!({ "config": { "path": "/big" } })));
    assert_eq!(kind, "upstream-failure");
    assert!(
        message.contains("HttpResponseBodySize") || message.to_lowercase().contains("body size"),
        "{message}"
    );
}

#[test]
fn undeclared_host_and_redirect_are_denied() {
    let receiver = Receiver::default();
    let base = start_receiver(receiver.clone());
    let setup = setup(&["127.0.0.0/8"]);
    add_instance(&setup, "receiver", FETCH_ANY, &base, &[]);
    let fetch = |url: String, follow: bool| {
        run(
            &setup,
            json!({ "component": FETCH_ANY, "config": { "url": url, "followRedirect": follow } }),
        )
    };

    let report = fetch("http://127.0.0.2:9/ok".to_owned(), false);
    let (kind, message) = error_of(&report);
    assert_eq!(kind, "denied", "{message}");
    assert!(
        message.contains("http://127.0.0.2:9") && message.contains("allow-list"),
        "{message}"
    );

    let report = fetch(format!("{base}/redirect"), true);
    let (kind, message) = error_of(&report);
    assert_eq!(
        kind, "denied",
        "the redirect target is checked like any request: {message}"
    );
    assert!(message.contains("127.0.0.2"), "{message}");

    let allowed = fetch(format!("{base}/ok"), false);
    assert_eq!(allowed.output["result"]["status"], 200, "{allowed:?}");
}

#[test]
fn private_address_is_denied_unless_allowed() {
    let receiver = Receiver::default();
    let base = start_receiver(receiver.clone());
    let setup = setup(&[]);
    add_instance(&setup, "receiver", "builtin:http", &base, &[]);
    let (kind, message) = error_of(&run(&setup, json!({ "config": { "path": "/ok" } })));
    assert_eq!(kind, "denied", "{message}");
    assert!(message.contains("private address 127.0.0.1"), "{message}");
    assert!(
        message.contains("egress_allowed_private"),
        "the message names the setting: {message}"
    );
    assert!(receiver.seen().is_empty(), "nothing reached the receiver");
}

#[test]
fn connector_sees_only_its_own_instance_secrets() {
    let base = start_receiver(Receiver::default());
    let setup = setup(&["127.0.0.1/32"]);
    add_instance(
        &setup,
        "receiver",
        FETCH_ANY,
        &base,
        &[("mine", "own-value")],
    );
    add_instance(
        &setup,
        "other",
        FETCH_ANY,
        &base,
        &[("theirs", "other-value")],
    );
    let read = |secret: &str| {
        run(
            &setup,
            json!({ "component": FETCH_ANY, "config": { "url": format!("{base}/ok"), "secret": secret } }),
        )
    };
    assert_eq!(read("mine").output["result"]["secret"], "own-value");
    assert_eq!(read("theirs").output["result"]["secret"], Value::Null);

    // An instance of another component is refused with the fix.
    let (kind, message) = error_of(&run(&setup, json!({ "connector": "other" })));
    assert_eq!(kind, "invalid-config", "{message}");
    assert!(
        message.contains(FETCH_ANY) && message.contains("builtin:http"),
        "{message}"
    );
    let (kind, message) = error_of(&run(&setup, json!({ "connector": "missing" })));
    assert_eq!(kind, "not-found");
    assert!(message.contains("/v1/mgmt/connector/create"), "{message}");
}

#[test]
fn oauth2_token_is_fetched_once_and_sent() {
    let receiver = Receiver::default();
    let base = start_receiver(receiver.clone());
    let setup = setup(&["127.0.0.1/32"]);
    let add = |name: &str, secret: &str| {
        let instance = ConnectorInstance {
            name: name.to_owned(),
            component: "builtin:http".to_owned(),
            base_url: base.clone(),
            auth: ConnectorAuth::OAuth2ClientCredentials {
                token_url: format!("{base}/token"),
                client_id: "sluice".to_owned(),
                scope: Some("crm.write".to_owned()),
            },
            headers: BTreeMap::new(),
            config: BTreeMap::new(),
            secret_names: vec!["clientSecret".to_owned()],
            created: 0,
            updated: 0,
        };
        let secrets = BTreeMap::from([("clientSecret".to_owned(), secret.to_owned())]);
        let stored = StoredConnector { sealed_secrets: setup.resolver.seal(&secrets), instance };
        setup.store.create_connector(PROJECT, &stored).expect("instance stored");
    };
    add("receiver", "cs");
    add("wrong", "not-the-secret");

    for _ in 0..2 {
        let report = run(&setup, json!({ "config": { "path": "/ok" } }));
        assert_eq!(report.output["result"]["status"], 200, "{report:?}");
    }
    assert_eq!(receiver.tokens_issued.load(Ordering::SeqCst), 1, "the token is reused");
    let seen = receiver.seen();
    assert!(seen.iter().all(|request| request.headers["authorization"] == "Bearer at-1"), "{seen:?}");

    let (kind, message) = error_of(&run(&setup, json!({ "connector": "wrong", "config": { "path": "/ok" } })));
    assert_eq!(kind, "upstream-failure", "{message}");
    assert!(message.contains("/token"), "{message}");
    assert!(message.contains("invalid_client"), "{message}");
}

#[test]
fn async_step_does_not_wait_for_the_response() {
    let receiver = Receiver::default();
    let base = start_receiver(receiver.clone());
    let setup = setup(&["127.0.0.1/32"]);
    add_instance(&setup, "receiver", "builtin:http", &base, &[]);
    let report = run(&setup, json!({ "config": { "path": "/slow", "async": true, "timeoutMs": 5000 } }));
    assert_eq!(report.output["result"], json!({ "async": true }), "{report:?}");
    assert!(report.duration_us < 1_000_000, "the run did not wait for the 3 s response: {} µs", report.duration_us);
    let started = std::time::Instant::now();
    while receiver.seen().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "the detached request never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }

    // `async` never reaches the component, which rejects unknown fields.
    let in_line = run(&setup, json!({ "config": { "path": "/ok", "async": false } }));
    assert_eq!(in_line.output["result"]["status"], 200, "{in_line:?}");
}
