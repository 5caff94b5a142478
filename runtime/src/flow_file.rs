//! Loading a flow document from a file, with the components it references.

use std::path::Path;

use sluice_flow::{CompiledFlow, Problem};

use crate::engine::Engine;
use crate::registry::ComponentRegistry;

/// Reason a flow file could not be loaded.
#[derive(Debug)]
pub enum FlowFileError {
    /// The file cannot be read.
    Unreadable(String),
    /// The document has problems; every one is listed.
    Invalid {
        /// The problems, in document order.
        problems: Vec<Problem>,
    },
}

/// Reads a flow file, loads the `file:` components it references (relative
/// to the file's folder) and validates it against `registry`.
///
/// # Errors
///
/// Returns [`FlowFileError::Unreadable`] when the file cannot be read and
/// [`FlowFileError::Invalid`] with every problem otherwise.
pub fn load_flow_file(engine: &Engine, registry: &mut ComponentRegistry, path: &Path) -> Result<CompiledFlow, FlowFileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| FlowFileError::Unreadable(format!("cannot read flow file {}: {err}", path.display())))?;
    let base_dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut problems = Vec::new();
    if let Ok(document) = serde_json::from_str::<serde_json::Value>(&text) {
        for (step, message) in registry.load_file_references(engine, &document, base_dir) {
            problems.push(Problem {
                step: Some(step),
                location: "component".to_owned(),
                message,
                fix: "build the component with `cargo build --target wasm32-wasip2 --release -p <crate>`, \
                      or point `component` at the built .wasm file, relative to the flow file"
                    .to_owned(),
            });
        }
    }
    match sluice_flow::validate(&text, registry) {
        Ok(flow) if problems.is_empty() => Ok(flow),
        Ok(_) => Err(FlowFileError::Invalid { problems }),
        Err(found) => {
            // A component file that failed to load is also "not installed"
            // for the validator; report it once, with the load error.
            let failed_steps: Vec<Option<String>> = problems.iter().map(|p| p.step.clone()).collect();
            problems.extend(
                found
                    .into_iter()
                    .filter(|p| !(p.location == "component" && failed_steps.contains(&p.step))),
            );
            Err(FlowFileError::Invalid { problems })
        }
    }
}
