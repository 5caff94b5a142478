//! The components loaded on a host, by reference.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::engine::{Engine, LoadError, LoadedComponent, World};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

pub use generated::{BUILTIN_COMPONENTS, GUEST_FILES};

/// Prefix of references that name a component file relative to the flow file.
pub const FILE_PREFIX: &str = "file:";

/// Loaded components by reference, such as `builtin:load-user`.
#[derive(Debug, Default, Clone)]
pub struct ComponentRegistry {
    components: HashMap<String, Arc<LoadedComponent>>,
}

impl ComponentRegistry {
    /// Creates an empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a registry holding every built-in component.
    ///
    /// # Errors
    ///
    /// Fails when a built-in does not load, which means the build is broken.
    pub fn with_builtins(engine: &Engine) -> Result<Self, LoadError> {
        let mut registry = Self::new();
        for (reference, bytes) in BUILTIN_COMPONENTS {
            registry.insert(engine.load(reference, bytes)?);
        }
        Ok(registry)
    }

    /// Adds a component, replacing one with the same reference.
    pub fn insert(&mut self, component: LoadedComponent) {
        self.components
            .insert(component.reference().to_owned(), Arc::new(component));
    }

    /// Returns the component with this reference.
    pub fn get(&self, reference: &str) -> Option<&Arc<LoadedComponent>> {
        self.components.get(reference)
    }

    /// Loads every `file:` component that a flow document references,
    /// resolving paths against `base_dir`, and returns the step id and a
    /// message for each component that failed. References that are already
    /// loaded are skipped.
    pub fn load_file_references(&mut self, engine: &Engine, document: &Value, base_dir: &Path) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        let steps = document.get("steps").and_then(Value::as_array);
        for step in steps.into_iter().flatten() {
            let Some(reference) = step.get("component").and_then(Value::as_str) else {
                continue;
            };
            let step_id = step.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            let Some(path) = reference.strip_prefix(FILE_PREFIX) else {
                continue;
            };
            if self.components.contains_key(reference) {
                continue;
            }
            let full_path = base_dir.join(path);
            let bytes = match std::fs::read(&full_path) {
                Ok(bytes) => bytes,
                Err(err) => {
                    errors.push((
                        step_id,
                        format!("cannot read component file {}: {err}", full_path.display()),
                    ));
                    continue;
                }
            };
            match engine.load(reference, &bytes) {
                Ok(component) => self.insert(component),
                Err(err) => errors.push((step_id, err.to_string())),
            }
        }
        errors
    }
}

impl sluice_flow::ComponentCatalog for ComponentRegistry {
    fn world(&self, reference: &str) -> Option<World> {
        self.components.get(reference).map(|c| c.world())
    }

    fn references(&self) -> Vec<String> {
        let mut references: Vec<String> = self.components.keys().cloned().collect();
        references.sort();
        references
    }
}
