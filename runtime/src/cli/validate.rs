//! `sluice flow validate`.

use std::path::PathBuf;

use super::{EXIT_FAILED, EngineArgs, usage_error};
use crate::engine::Engine;
use crate::flow_file::{FlowFileError, load_flow_file};
use crate::registry::ComponentRegistry;

/// Arguments of `sluice flow validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Flow files to check.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
}

pub(super) fn validate(args: &ValidateArgs) -> u8 {
    let engine = match Engine::new(args.engine.settings()) {
        Ok(engine) => engine,
        Err(err) => return usage_error(format!("cannot start the component engine: {err:#}")),
    };
    let mut registry = match ComponentRegistry::with_builtins(&engine) {
        Ok(registry) => registry,
        Err(err) => return usage_error(err),
    };
    let mut code = 0;
    for file in &args.files {
        match load_flow_file(&engine, &mut registry, file) {
            Ok(flow) => println!("{}: valid flow `{}` (version {})", file.display(), flow.id, flow.version),
            Err(FlowFileError::Unreadable(message)) => code = code.max(usage_error(message)),
            Err(FlowFileError::Invalid { problems }) => {
                println!("{}: {} problem{}", file.display(), problems.len(), if problems.len() == 1 { "" } else { "s" });
                print!("{}", sluice_flow::format_problems(&problems));
                code = code.max(EXIT_FAILED);
            }
        }
    }
    code
}
