//! Helpers shared by the host's integration tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

pub mod app;
pub mod server;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use sluice::engine::{Engine, EngineSettings, LoadedComponent};
use sluice::registry::{ComponentRegistry, GUEST_FILES};

/// Returns the engine shared by a test binary. Its compiled-component cache
/// is under the target folder, so test runs after the first skip compilation.
pub fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    Arc::clone(ENGINE.get_or_init(|| {
        let settings = EngineSettings {
            cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
            ..EngineSettings::default()
        };
        Arc::new(Engine::new(settings).expect("engine starts"))
    }))
}

/// Returns the built-in components, loaded once per test binary.
pub fn builtins() -> ComponentRegistry {
    static REGISTRY: OnceLock<ComponentRegistry> = OnceLock::new();
    REGISTRY
        .get_or_init(|| ComponentRegistry::with_builtins(&engine()).expect("built-ins load"))
        .clone()
}

/// Returns the path of a guest built with the host, by reference such as
/// `fixture:trap`.
pub fn guest_path(reference: &str) -> PathBuf {
    let (_, path) = GUEST_FILES
        .iter()
        .find(|(name, _)| *name == reference)
        .unwrap_or_else(|| panic!("no guest `{reference}` was built; see runtime/build.rs"));
    PathBuf::from(path)
}

/// Loads a fixture or example component.
pub fn load_guest(reference: &str) -> Result<LoadedComponent, sluice::engine::LoadError> {
    let bytes = std::fs::read(guest_path(reference)).expect("guest file is readable");
    engine().load(reference, &bytes)
}

/// Returns the path of a file under `runtime/tests/`.
pub fn test_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join(relative)
}

/// Returns the repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("runtime/ is inside the repository")
        .to_path_buf()
}

/// Serves `app` on a free port of 127.0.0.1 from a thread of its own and
/// returns the base URL, such as `http://127.0.0.1:40123`. The server runs
/// until the test process exits.
pub fn serve_on_loopback(app: axum::Router) -> String {
    let (ready, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("test server runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
            ready.send(listener.local_addr().expect("local address")).expect("send the address");
            axum::serve(listener, app).await.expect("test server serves");
        });
    });
    format!("http://{}", address.recv().expect("test server address"))
}
