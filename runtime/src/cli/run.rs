//! `sluice run`: one local run of a flow file against an in-memory store.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{EXIT_FAILED, EngineArgs, usage_error};
use crate::engine::Engine;
use crate::executor::{RunRequest, RunSettings, RunStatus, Runtime};
use crate::flow_file::{FlowFileError, load_flow_file};
use crate::model::{Tenant, User};
use crate::registry::ComponentRegistry;
use crate::store::MemoryStore;

/// Project id of local runs.
const LOCAL_PROJECT: &str = "local";

/// Arguments of `sluice run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Flow file to run.
    #[arg(value_name = "FLOW")]
    flow: PathBuf,
    /// Run inputs as a JSON object, available to the flow as `client.*`.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    input: String,
    /// JSON file with `users` and `tenants` arrays to seed the in-memory store.
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
    /// Audit event, as a JSON object, that the run treats as its trigger
    /// (`triggeringEvent.*`).
    #[arg(long, value_name = "JSON")]
    event: Option<String>,
    /// Print every step with its component, duration, outcome and output.
    #[arg(long)]
    trace: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

/// Seed data for the in-memory store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    #[serde(default)]
    users: Vec<User>,
    #[serde(default)]
    tenants: Vec<Tenant>,
}

pub(super) fn run(args: &RunArgs) -> u8 {
    let input: Map<String, Value> = match serde_json::from_str(&args.input) {
        Ok(input) => input,
        Err(err) => {
            return usage_error(format!(
                "--input `{}` is not a JSON object ({err}); pass one such as --input '{{\"email\": \"a@b.c\"}}'",
                args.input
            ));
        }
    };
    let event: Option<Value> = match &args.event {
        None => None,
        Some(text) => match serde_json::from_str::<Map<String, Value>>(text) {
            Ok(event) => Some(Value::Object(event)),
            Err(err) => return usage_error(format!("--event must be a JSON object ({err})")),
        },
    };
    let store = MemoryStore::new();
    if let Some(path) = &args.users {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) => return usage_error(format!("cannot read --users file {}: {err}", path.display())),
        };
        let fixture: Fixture = match serde_json::from_str(&text) {
            Ok(fixture) => fixture,
            Err(err) => return usage_error(format!("--users file {} is not a valid fixture ({err}); expected {{\"users\": [...], \"tenants\": [...]}}", path.display())),
        };
        if let Err(err) = store.seed(LOCAL_PROJECT, fixture.users, fixture.tenants) {
            return usage_error(format!("--users file {}: {err}", path.display()));
        }
    }

    let engine = match Engine::new(args.engine.settings()) {
        Ok(engine) => engine,
        Err(err) => return usage_error(format!("cannot start the component engine: {err:#}")),
    };
    let mut registry = match ComponentRegistry::with_builtins(&engine) {
        Ok(registry) => registry,
        Err(err) => return usage_error(err),
    };
    let flow = match load_flow_file(&engine, &mut registry, &args.flow) {
        Ok(flow) => flow,
        Err(FlowFileError::Unreadable(message)) => return usage_error(message),
        Err(FlowFileError::Invalid { problems }) => {
            eprintln!("error: flow file {} is invalid:", args.flow.display());
            eprint!("{}", sluice_flow::format_problems(&problems));
            return EXIT_FAILED;
        }
    };

    let runtime = Runtime::new(Arc::new(engine), Arc::new(registry), Arc::new(store), RunSettings::default());
    let report = runtime.run(
        &flow,
        RunRequest {
            project: LOCAL_PROJECT.to_owned(),
            input,
            triggering_event: event,
            run_id: None,
            keep_step_outputs: args.trace,
        },
    );

    let printed = if args.trace {
        json!({
            "status": report.status,
            "output": report.output,
            "error": report.error,
            "trace": report.trace,
        })
    } else {
        Value::Object(report.output.clone())
    };
    if args.trace || report.status == RunStatus::Completed {
        println!("{}", serde_json::to_string_pretty(&printed).unwrap_or_default());
    }
    match report.error {
        Some(failure) => {
            eprintln!("error: {failure}");
            EXIT_FAILED
        }
        None => 0,
    }
}
