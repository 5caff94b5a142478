//! Loading a flow document from a file, with the components it references.

use std::path::Path;

use sluice_flow::{CompiledFlow, Problem};

use crate::engine::Engine;
use crate::registry::ComponentRegistry;

/// Why a flow file could not be loaded.
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
        for message in registry.load_file_references(engine, &document, base_dir) {
            problems.push(Problem {
                step: None,
                location: "steps".to_owned(),
                message,
                fix: "build the component, or point `component` at an existing file".to_owned(),
            });
        }
    }
    match sluice_flow::validate(&text, registry) {
        Ok(flow) if problems.is_empty() => Ok(flow),
        Ok(_) => Err(FlowFileError::Invalid { problems }),
        Err(mut found) => {
            problems.append(&mut found);
            Err(FlowFileError::Invalid { problems })
        }
    }
}
