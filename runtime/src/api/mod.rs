//! The management API: Descope's paths, field names and error bodies, so
//! Descope's SDKs work when pointed at a Sluice base URL, plus Sluice's own
//! calls for flow versions and runs under the same prefix.

mod audit;
pub mod auth;
mod components;
mod connectors;
pub mod error;
mod flows;
pub mod json;
mod mcp;
mod mcp_resolve;
mod oauth;
mod openapi;
mod run_writer;
mod slots;
mod tenants;
mod users;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use self::json::{BodyLimit, BodyReadTimeout};
use self::slots::RunSlots;
use crate::connectors::ConnectorResolver;
use crate::engine::{EgressClient, EgressPolicy};
use crate::oauth::cimd::{CimdResolver, CimdSettings};
use crate::executor::Runtime;
use crate::metrics::Metrics;
use crate::store::{Backend, TriggerQueue};

pub use self::flows::{DeployedFlow, FlowTrigger, run_record};

/// Settings of the API layer.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Runs that may execute at once; more get 429 with `Retry-After`.
    pub max_concurrent_runs: usize,
    /// Client registrations accepted per minute from one network address.
    /// A token bucket enforces it and allows a burst of this many. More
    /// requests get 429 with `Retry-After`, and 0 turns the limit off.
    pub registrations_per_minute: u32,
    /// Runs of one project that may execute at once; more get 429 with
    /// `Retry-After`.
    pub max_concurrent_runs_per_project: usize,
    /// Time a client has to send a whole request body; slower bodies get 408.
    pub body_read_timeout: Duration,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_concurrent_runs: 64,
            registrations_per_minute: 20,
            max_concurrent_runs_per_project: 64,
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Shared state of every request handler.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    backend: Arc<dyn Backend>,
    runtime: Runtime,
    settings: ApiSettings,
    /// Compiled active flow versions by (project, flow id).
    flows: RwLock<HashMap<(String, String), Arc<DeployedFlow>>>,
    /// Audit event triggers of the active flows, by project.
    flow_triggers: RwLock<HashMap<String, Arc<Vec<FlowTrigger>>>>,
    /// Incremented whenever a flow is deployed, rolled back or deleted, so a
    /// trigger list built from older data is not cached.
    flows_generation: AtomicU64,
    /// Verified key hashes: (project, secret hash) to key id.
    keys: RwLock<HashMap<(String, String), String>>,
    /// Bounds the API runs that execute at once, overall and per project.
    run_slots: Arc<RunSlots>,
    ready: AtomicBool,
    metrics: Metrics,
    /// Asynchronous runs still in progress, awaited on shutdown.
    background: TaskTracker,
    /// Stores the records of synchronous API runs in batches.
    run_writer: run_writer::RunWriter,
    /// Queue of runs started by audit events, when the store keeps one.
    trigger_queue: OnceLock<Arc<dyn TriggerQueue>>,
    /// Seals and opens connector secrets, when connector instances are served.
    connector_resolver: OnceLock<Arc<ConnectorResolver>>,
    /// Resolves Client ID Metadata Documents; a resolver with the default
    /// egress policy and settings when none is set.
    cimd_resolver: OnceLock<Arc<CimdResolver>>,
    /// Base URL that clients reach the server at, without a trailing slash;
    /// the OAuth issuer URLs start with it.
    public_url: OnceLock<String>,
    /// Token buckets of the registration endpoint, by caller address;
    /// `None` when the limit is off.
    registration_limiter: Option<governor::DefaultKeyedRateLimiter<std::net::IpAddr>>,
}

impl AppState {
    /// Creates the state. `runtime` must run against the same `backend`.
    pub fn new(backend: Arc<dyn Backend>, runtime: Runtime, settings: ApiSettings) -> Self {
        let registration_limiter = std::num::NonZeroU32::new(settings.registrations_per_minute)
            .map(|rate| governor::RateLimiter::keyed(governor::Quota::per_minute(rate)));
        let run_slots = RunSlots::new(settings.max_concurrent_runs, settings.max_concurrent_runs_per_project);
        let run_writer = run_writer::RunWriter::start(Arc::clone(&backend));
        Self(Arc::new(Shared {
            backend,
            runtime,
            settings,
            flows: RwLock::new(HashMap::new()),
            flow_triggers: RwLock::new(HashMap::new()),
            flows_generation: AtomicU64::new(0),
            keys: RwLock::new(HashMap::new()),
            run_slots,
            ready: AtomicBool::new(true),
            metrics: Metrics::new(),
            background: TaskTracker::new(),
            run_writer,
            trigger_queue: OnceLock::new(),
            connector_resolver: OnceLock::new(),
            cimd_resolver: OnceLock::new(),
            public_url: OnceLock::new(),
            registration_limiter,
        }))
    }

    /// Returns the store.
    pub fn backend(&self) -> Arc<dyn Backend> {
        Arc::clone(&self.0.backend)
    }

    /// Returns the flow runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.0.runtime
    }

    /// Serves the dead-run and replay calls from `queue`, which must be the
    /// store behind the backend. Only the first call takes effect.
    pub fn set_trigger_queue(&self, queue: Arc<dyn TriggerQueue>) {
        let _ = self.0.trigger_queue.set(queue);
    }

    /// Serves the connector instance calls with `resolver`, which must be
    /// the one the runtime binds connector steps with. Only the first call
    /// takes effect.
    pub fn set_connector_resolver(&self, resolver: Arc<ConnectorResolver>) {
        let _ = self.0.connector_resolver.set(resolver);
    }

    /// Resolves Client ID Metadata Documents with `resolver`, which records
    /// its audit events in the backend. Only the first call, made before the
    /// first resolution, takes effect.
    pub fn set_cimd_resolver(&self, resolver: CimdResolver) {
        let observer = mcp_resolve::audit_observer(self.backend());
        let _ = self.0.cimd_resolver.set(Arc::new(resolver.with_observer(observer)));
    }

    /// Returns the Client ID Metadata Document resolver, one with the
    /// default egress policy and settings when none was set.
    pub(crate) fn cimd_resolver(&self) -> Arc<CimdResolver> {
        Arc::clone(self.0.cimd_resolver.get_or_init(|| {
            let client = EgressClient::new(EgressPolicy::default(), Vec::new())
                .unwrap_or_else(|err| unreachable!("the bundled roots are valid trust anchors: {err}"));
            let observer = mcp_resolve::audit_observer(self.backend());
            Arc::new(CimdResolver::new(client, CimdSettings::default()).with_observer(observer))
        }))
    }

    /// Sets the base URL that clients reach the server at, such as
    /// `https://sluice.example.com`; a trailing slash is dropped. The OAuth
    /// issuer URLs of MCP servers start with it. Only the first call takes effect.
    pub fn set_public_url(&self, url: &str) {
        let _ = self.0.public_url.set(url.trim_end_matches('/').to_owned());
    }

    /// Returns the public base URL.
    pub(crate) fn public_url(&self) -> Result<String, error::ApiError> {
        self.0
            .public_url
            .get()
            .cloned()
            .ok_or_else(|| error::ApiError::internal("this server was set up without a public URL"))
    }

    /// Takes a token from the registration bucket of `address`, or fails
    /// with 429 and the seconds until the next token. A request without a
    /// known address shares one bucket with the others that lack one.
    fn check_registration_rate(&self, address: Option<std::net::IpAddr>) -> Result<(), oauth::OAuthError> {
        use governor::clock::{Clock as _, DefaultClock};

        /// Buckets kept before full ones are dropped, so many addresses cannot grow the map without bound.
        const MAX_TRACKED_ADDRESSES: usize = 10_000;

        let Some(limiter) = &self.0.registration_limiter else {
            return Ok(());
        };
        if limiter.len() > MAX_TRACKED_ADDRESSES {
            limiter.retain_recent();
        }
        let key = address.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            tracing::info!(client.address = %key, retry_after_secs = seconds, "Rate limited a client registration");
            oauth::OAuthError::too_many_requests(seconds.max(1))
        })
    }

    /// Returns the published components of the runtime.
    pub(crate) fn published(&self) -> Result<Arc<crate::publish::PublishedComponents>, error::ApiError> {
        self.runtime()
            .published()
            .cloned()
            .ok_or_else(|| error::ApiError::internal("this server was set up without published components"))
    }

    pub(crate) fn connector_resolver_if_set(&self) -> Option<Arc<ConnectorResolver>> {
        self.0.connector_resolver.get().cloned()
    }

    /// Returns the trigger queue, when one is set.
    pub(crate) fn trigger_queue(&self) -> Option<Arc<dyn TriggerQueue>> {
        self.0.trigger_queue.get().cloned()
    }

    /// Returns the metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// Returns the tracker of asynchronous runs in progress.
    pub fn background_runs(&self) -> &TaskTracker {
        &self.0.background
    }

    /// Marks the server as ready or not (`/readyz`), for example while it
    /// shuts down.
    pub fn set_ready(&self, ready: bool) {
        self.0.ready.store(ready, Ordering::Relaxed);
    }

    pub(crate) fn cached_key(&self, project: &str, secret_hash: &str) -> Option<String> {
        let keys = self
            .0
            .keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.get(&(project.to_owned(), secret_hash.to_owned()))
            .cloned()
    }

    pub(crate) fn cache_key(&self, project: &str, secret_hash: &str, key_id: &str) {
        let mut keys = self
            .0
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.insert(
            (project.to_owned(), secret_hash.to_owned()),
            key_id.to_owned(),
        );
    }
}

/// Builds the router with every route of the API.
pub fn router(state: AppState) -> Router {
    let limit = state.0.settings.max_body_bytes;
    let body_read_timeout = state.0.settings.body_read_timeout;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/mgmt/license", get(license))
        .merge(flows::routes())
        .merge(connectors::routes())
        .merge(mcp::routes())
        .merge(mcp_resolve::routes())
        .merge(oauth::routes())
        .merge(components::routes())
        .merge(users::routes())
        .merge(tenants::routes())
        .merge(audit::routes())
        .merge(openapi::routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::Extension(BodyLimit(limit)))
        .layer(axum::Extension(BodyReadTimeout(body_read_timeout)))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe_request,
        ))
        .with_state(state)
}

/// Returns 404 for a path that is no route of the API, in Descope's error
/// shape, so that clients parse it like every other error.
async fn unknown_route(method: Method, uri: Uri) -> error::ApiError {
    error::ApiError::route_not_found(method.as_str(), uri.path())
}

/// Returns 405 for a route called with a method it does not take, in
/// Descope's error shape.
async fn method_not_allowed(method: Method, uri: Uri) -> error::ApiError {
    error::ApiError::method_not_allowed(method.as_str(), uri.path())
}

/// Opens one span per request and counts the response by route template.
async fn observe_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let span = tracing::info_span!("request", http.method = %method, http.route = %route);
    let started = std::time::Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    state
        .metrics()
        .record_http(method.as_str(), &route, status.as_u16());
    let _entered = span.enter();
    if status.is_server_error() {
        tracing::warn!(
            http.status = status.as_u16(),
            elapsed_us = started.elapsed().as_micros(),
            "Request failed"
        );
    } else {
        tracing::debug!(
            http.status = status.as_u16(),
            elapsed_us = started.elapsed().as_micros(),
            "Request handled"
        );
    }
    response
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics().render(),
    )
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.0.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    }
}

/// Descope's SDKs call this at start when a management key is set and log a
/// warning when it fails, so a success response keeps their start quiet.
async fn license() -> axum::Json<Value> {
    axum::Json(json!({ "rateLimitTier": "self-hosted" }))
}

/// Runs one run of a flow, which blocks: on tokio's blocking pool, or on a
/// low-priority thread of its own when recent runs of the flow used more CPU
/// than the threshold (see [`crate::priority`]).
///
/// # Errors
///
/// Returns the closure's error, or a 500 when the thread panicked or could
/// not start.
pub(crate) async fn run_blocking<T, F>(state: &AppState, project: &str, flow_id: &str, work: F) -> Result<T, error::ApiError>
where
    F: FnOnce() -> Result<T, error::ApiError> + Send + 'static,
    T: Send + 'static,
{
    if state.runtime().is_heavy(project, flow_id) {
        state.metrics().record_low_priority_run(flow_id);
        return crate::priority::run_low_priority(work)
            .await
            .map_err(error::ApiError::internal)?;
    }
    blocking(work).await
}

/// Runs blocking store work on tokio's blocking pool and maps its errors.
///
/// # Errors
///
/// Returns the closure's error, or a 500 when the task panicked.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, error::ApiError>
where
    F: FnOnce() -> Result<T, error::ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(error::ApiError::internal)?
}
