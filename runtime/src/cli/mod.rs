//! The `sluice` command line.

mod component;
mod run;
mod serve;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::engine::EngineSettings;

/// Exit code of a run whose flow failed, or of a flow with problems.
pub const EXIT_FAILED: u8 = 1;
/// Exit code of bad usage or unreadable input, as clap uses for bad flags.
pub const EXIT_USAGE: u8 = 2;

/// Sluice runs identity management flows built from WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the management API on the embedded SQLite store.
    Serve(serve::ServeArgs),
    /// Run a flow file once, locally, against an in-memory store.
    Run(run::RunArgs),
    /// Manage management keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Work with flow documents.
    Flow {
        #[command(subcommand)]
        command: FlowCommand,
    },
    /// Manage the components a project publishes.
    Component {
        #[command(subcommand)]
        command: ComponentCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ComponentCommand {
    /// Publish a component version with its manifest to a running server.
    Publish(component::PublishArgs),
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create a management key and print it once.
    Create(serve::KeyCreateArgs),
}

#[derive(Debug, Subcommand)]
enum FlowCommand {
    /// Check flow files and print every problem found.
    Validate(validate::ValidateArgs),
}

/// Options shared by commands that load components.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// Folder for compiled components, so later runs skip compilation.
    /// Defaults to $SLUICE_CACHE_DIR, else $XDG_CACHE_HOME/sluice, else
    /// ~/.cache/sluice.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile components on every start instead of caching them.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
}

impl EngineArgs {
    fn settings(&self) -> EngineSettings {
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        };
        EngineSettings {
            cache_dir,
            ..Default::default()
        }
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SLUICE_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("sluice"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("sluice"))
}

/// Parses the command line, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn" };
    init_logging(default_level);
    let code = match cli.command {
        Command::Serve(args) => serve::serve(&args),
        Command::Key {
            command: KeyCommand::Create(args),
        } => serve::create_key(&args),
        Command::Run(args) => run::run(&args),
        Command::Flow {
            command: FlowCommand::Validate(args),
        } => validate::validate(&args),
        Command::Component {
            command: ComponentCommand::Publish(args),
        } => component::publish(&args),
    };
    ExitCode::from(code)
}

/// Logs to stderr; `SLUICE_LOG` takes a filter such as `sluice=debug`
/// (plain `debug` includes wasmtime's own detail), and defaults to
/// `default_level`.
fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// Prints a one-line error and returns the usage exit code.
fn usage_error(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    EXIT_USAGE
}
