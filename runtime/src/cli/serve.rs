//! `sluice serve` and `sluice key create`.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{EXIT_FAILED, usage_error};
use crate::server::config::{FlagOverrides, ServerConfig};
use crate::server::{bootstrap, open_store};

/// Arguments of `sluice serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Folder of the database and component cache [default: ./sluice-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Folder of flow files to deploy at start.
    #[arg(long, value_name = "DIR")]
    flows: Option<PathBuf>,
    /// TOML file with settings; environment variables (SLUICE_LISTEN,
    /// SLUICE_DATA_DIR, …) override it and flags override both.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub(super) fn serve(args: &ServeArgs) -> u8 {
    let flags = FlagOverrides {
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        flows: args.flows.clone(),
    };
    let config = match ServerConfig::load(args.config.as_deref(), &flags) {
        Ok(config) => config,
        Err(message) => return usage_error(message),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return usage_error(format!("cannot start the async runtime: {err}")),
    };
    match runtime.block_on(crate::server::serve(config)) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {err:#}");
            EXIT_FAILED
        }
    }
}

/// Arguments of `sluice key create`.
#[derive(Debug, clap::Args)]
pub struct KeyCreateArgs {
    /// Project to create the key for [default: the first project].
    #[arg(long, value_name = "ID")]
    project: Option<String>,
    /// Label of the key, shown in listings and logs.
    #[arg(long, default_value = "cli")]
    name: String,
    /// Folder of the database [default: ./sluice-data, or SLUICE_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

pub(super) fn create_key(args: &KeyCreateArgs) -> u8 {
    let flags = FlagOverrides {
        data_dir: args.data_dir.clone(),
        ..FlagOverrides::default()
    };
    let config = match ServerConfig::load(None, &flags) {
        Ok(config) => config,
        Err(message) => return usage_error(message),
    };
    let store = match open_store(&config.data_dir) {
        Ok(store) => store,
        Err(err) => return usage_error(format!("{err:#}")),
    };
    let project = match &args.project {
        Some(project) => project.clone(),
        None => match crate::store::ProjectStore::projects(store.as_ref()).map(|p| p.into_iter().next()) {
            Ok(Some(project)) => project,
            Ok(None) => return usage_error(format!(
                "no project in {}; start `sluice serve` once to create one, or pass --data-dir",
                config.data_dir.display()
            )),
            Err(err) => return usage_error(err),
        },
    };
    match bootstrap::create_key(store.as_ref(), &project, &args.name, None) {
        Ok(key) => {
            println!("Created management key {} for project {project}. The key is shown only now:", key.id);
            println!("{}", key.secret);
            0
        }
        Err(err) => usage_error(format!("cannot create a key for project `{project}`: {err:#}")),
    }
}
