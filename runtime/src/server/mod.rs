//! `sluice serve`: the management API on the embedded SQLite store.

pub mod bootstrap;
pub mod config;
pub mod http;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use self::config::ServerConfig;
use crate::api::{ApiSettings, AppState};
use crate::connectors::ConnectorResolver;
use crate::engine::{
    EgressClient, EgressPolicy, Engine, EngineSettings, StepLimits, StepResources, read_ca_file,
};
use crate::executor::{RunSettings, Runtime};
use crate::oauth::cimd::{CimdResolver, CimdSettings};
use crate::oauth::cimd_cache::CacheBounds;
use crate::priority::HeavyFlows;
use crate::registry::ComponentRegistry;
use crate::publish::PublishedComponents;
use crate::secrets::SecretKey;
use crate::store::{Backend, SqliteStore, TriggerQueue};
use crate::triggers::{TriggerSettings, Triggers};

/// File name of the database inside the data folder.
pub const DATABASE_FILE: &str = "sluice.db";

/// Opens the store in the data folder, creating both when missing.
///
/// # Errors
///
/// Fails when the folder cannot be created or the database cannot be opened.
pub fn open_store(data_dir: &Path) -> anyhow::Result<Arc<SqliteStore>> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data folder {}", data_dir.display()))?;
    let store = SqliteStore::open(&data_dir.join(DATABASE_FILE))
        .with_context(|| format!("cannot open the database in {}", data_dir.display()))?;
    Ok(Arc::new(store))
}

/// Builds everything the server needs and serves until SIGINT or SIGTERM,
/// then lets in-flight requests finish.
///
/// # Errors
///
/// Fails when the store, the engine, a flow file or the listener cannot be set up.
pub async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    // Check `public_url` before anything starts; the value is used once the
    // listener's address is known.
    config.public_base_url(config.listen).map_err(anyhow::Error::msg)?;
    let store = open_store(&config.data_dir)?;
    let queue: Arc<dyn TriggerQueue> = Arc::clone(&store) as _;
    let backend: Arc<dyn Backend> = store;
    let project = {
        let backend = Arc::clone(&backend);
        tokio::task::spawn_blocking(move || bootstrap::ensure_project(backend.as_ref())).await??
    };

    let egress = EgressPolicy {
        allowed_private: config
            .allowed_private_networks()
            .map_err(anyhow::Error::msg)?,
        timeout: Duration::from_millis(config.egress_timeout_ms.max(1)),
        max_response_bytes: config.egress_max_response_bytes,
    };
    let cimd = cimd_resolver(&config, egress.clone())?;
    let secret_key = SecretKey::load_or_create(config.secret_key.as_deref(), &config.data_dir)?;
    let engine = Arc::new(
        Engine::new(EngineSettings {
            cache_dir: Some(
                config
                    .cache_dir
                    .clone()
                    .unwrap_or_else(|| config.data_dir.join("cache")),
            ),
            max_instances: u32::try_from(config.max_concurrent_runs)
                .unwrap_or(u32::MAX)
                .max(16),
            max_memory_bytes: mib_to_bytes(config.max_step_memory_mib),
            egress,
            fuel: config.step_fuel > 0,
            max_wasm_stack: to_usize(config.wasm_stack_kib.saturating_mul(1 << 10)),
            step_resources: StepResources {
                instances: to_usize(config.step_max_instances),
                tables: to_usize(config.step_max_tables),
                table_elements: to_usize(config.step_max_table_elements),
            },
            ..EngineSettings::default()
        })
        .map_err(|err| anyhow::anyhow!("cannot start the component engine: {err:#}"))?,
    );
    let mut registry = ComponentRegistry::with_builtins(&engine)?;
    let flow_documents = match &config.flows {
        Some(folder) => bootstrap::read_flow_folder(&engine, &mut registry, folder)?,
        None => Vec::new(),
    };

    let run_settings = run_settings(&config);
    let connectors = Arc::new(ConnectorResolver::new(
        Arc::clone(&backend) as _,
        secret_key,
    ));
    let published = Arc::new(PublishedComponents::new(Arc::clone(&backend) as _, Arc::clone(&engine)));
    let runtime = Runtime::new(
        engine,
        Arc::new(registry),
        Arc::clone(&backend) as _,
        run_settings,
    )
    .with_connectors(Arc::clone(&connectors))
    .with_published(published)
    .with_heavy_flows(heavy_flows(&config));
    let state = AppState::new(
        Arc::clone(&backend),
        runtime,
        ApiSettings {
            max_body_bytes: config.max_body_bytes,
            max_concurrent_runs: config.max_concurrent_runs,
            registrations_per_minute: config.registrations_per_minute,
            max_concurrent_runs_per_project: config.max_concurrent_runs_per_project,
            body_read_timeout: Duration::from_millis(config.body_read_timeout_ms.max(1)),
        },
    );
    for document in flow_documents {
        bootstrap::deploy_if_changed(&state, &project, document).await?;
    }
    state.set_trigger_queue(Arc::clone(&queue));
    state.set_connector_resolver(connectors);
    state.set_cimd_resolver(cimd);
    let triggers = Triggers::start(state.clone(), queue, trigger_settings(&config)).await?;

    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; pick another address with --listen",
                config.listen
            )
        })?;
    let address = listener.local_addr()?;
    let public_url = config.public_base_url(address).map_err(anyhow::Error::msg)?;
    state.set_public_url(&public_url);
    tracing::info!(listen = %address, data_dir = %config.data_dir.display(), "Sluice is serving");
    println!("Sluice is listening on http://{address}");

    let limits = http::HttpLimits {
        max_headers: config.max_headers.max(1),
        max_header_bytes: config.max_header_bytes.max(1),
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms.max(1)),
        max_connections: config.max_connections,
    };
    warn_if_near_open_file_limit(config.max_connections);
    let shutdown_state = state.clone();
    http::serve_http(listener, crate::api::router(state.clone()), limits, async move {
        shutdown.await;
        shutdown_state.set_ready(false);
        tracing::info!("Shutting down: finishing requests in progress");
    })
    .await;
    let background = state.background_runs();
    background.close();
    if !background.is_empty() {
        tracing::info!(
            runs = background.len(),
            "Waiting for asynchronous runs to finish"
        );
    }
    background.wait().await;
    triggers.shutdown().await;
    tracing::info!("Sluice stopped");
    Ok(())
}

/// Returns the set of CPU-heavy flows the settings choose, and logs the
/// choice once, because it changes how runs are scheduled.
fn heavy_flows(config: &ServerConfig) -> Arc<HeavyFlows> {
    let threshold = (config.low_priority_cpu_ms > 0).then(|| Duration::from_millis(config.low_priority_cpu_ms));
    if threshold.is_some() {
        tracing::info!(
            low_priority_cpu_ms = config.low_priority_cpu_ms,
            low_priority_seconds = config.low_priority_seconds,
            "Flows whose runs use more CPU than `low_priority_cpu_ms` get low CPU priority for `low_priority_seconds`"
        );
    } else {
        tracing::info!("`low_priority_cpu_ms` is 0, so every run keeps normal CPU priority");
    }
    Arc::new(HeavyFlows::new(threshold, Duration::from_secs(config.low_priority_seconds)))
}

/// File descriptors kept free for the store, the component cache and the
/// connections of connectors, beside the client connections.
const RESERVED_FILE_DESCRIPTORS: u64 = 256;

/// Logs a warning when `max_connections` open connections, with the
/// reserved descriptors, could exceed the process's open-file limit, since
/// the listener would then fail to accept before it reaches the limit.
fn warn_if_near_open_file_limit(max_connections: usize) {
    #[cfg(unix)]
    {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        let wanted = u64::try_from(max_connections).unwrap_or(u64::MAX).saturating_add(RESERVED_FILE_DESCRIPTORS);
        if let Some(open_files) = limit.current
            && wanted > open_files
        {
            tracing::warn!(
                max_connections,
                open_file_limit = open_files,
                "`max_connections` plus {RESERVED_FILE_DESCRIPTORS} is above the open-file limit; \
                 raise the limit (ulimit -n) or lower `max_connections`"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = max_connections;
}

/// Returns the run and step limits the settings choose.
fn run_settings(config: &ServerConfig) -> RunSettings {
    let fuel = (config.step_fuel > 0).then_some(config.step_fuel);
    RunSettings {
        max_steps: config.max_steps,
        run_timeout: Duration::from_millis(config.run_timeout_ms),
        default_limits: StepLimits {
            timeout: Duration::from_millis(config.step_timeout_ms),
            memory_bytes: mib_to_bytes(config.step_memory_mib),
            output_bytes: to_usize(config.step_output_bytes),
            host_calls: u32::try_from(config.step_host_calls).unwrap_or(u32::MAX),
            host_call_bytes: to_usize(config.step_host_call_bytes),
            fuel,
        },
        max_limits: StepLimits {
            timeout: Duration::from_millis(config.max_step_timeout_ms),
            memory_bytes: mib_to_bytes(config.max_step_memory_mib),
            output_bytes: to_usize(config.max_step_output_bytes),
            host_calls: u32::try_from(config.max_step_host_calls).unwrap_or(u32::MAX),
            host_call_bytes: to_usize(config.max_step_host_call_bytes),
            fuel,
        },
    }
}

fn mib_to_bytes(mib: u64) -> usize {
    to_usize(mib.saturating_mul(1 << 20))
}

fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

fn trigger_settings(config: &ServerConfig) -> TriggerSettings {
    let defaults = TriggerSettings::default();
    TriggerSettings {
        workers: config.trigger_workers.max(1),
        max_attempts: config.trigger_max_attempts.max(1),
        backoff: Duration::from_millis(config.trigger_backoff_ms),
        max_depth: config.trigger_max_depth,
        // A claim outlives the longest run: the run deadline ends every run.
        lease: defaults.lease.max(Duration::from_millis(config.run_timeout_ms)),
        retention: (config.audit_retention_days > 0)
            .then(|| Duration::from_secs(config.audit_retention_days.saturating_mul(86_400))),
        ..defaults
    }
}

/// Registers the SIGINT and SIGTERM handlers at once, so a signal that
/// arrives right after start still shuts the server down gracefully, and
/// returns a future that completes on the first of them.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if let Err(err) = tokio::signal::ctrl_c().await {
                tracing::error!(error = %err, "Cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        })
    }
}

/// Builds the Client ID Metadata Document resolver from the settings.
fn cimd_resolver(config: &ServerConfig, egress: EgressPolicy) -> anyhow::Result<CimdResolver> {
    let extra_roots = match &config.egress_extra_ca_file {
        Some(path) => read_ca_file(path)
            .map_err(|err| anyhow::anyhow!("invalid setting `egress_extra_ca_file`: {err}"))?,
        None => Vec::new(),
    };
    let client = EgressClient::new(egress, extra_roots)
        .map_err(|err| anyhow::anyhow!("invalid setting `egress_extra_ca_file`: {err}"))?;
    let defaults = CimdSettings::default();
    let settings = CimdSettings {
        max_document_bytes: config.cimd_max_document_bytes.max(1),
        cache: CacheBounds {
            min_ttl: Duration::from_secs(config.cimd_cache_min_ttl_secs),
            max_ttl: Duration::from_secs(config.cimd_cache_max_ttl_secs.max(config.cimd_cache_min_ttl_secs)),
            ..defaults.cache
        },
        max_entries: config.cimd_cache_max_entries.max(1),
        ..defaults
    };
    Ok(CimdResolver::new(client, settings))
}
