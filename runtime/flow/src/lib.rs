//! Flow documents for Sluice: the document model, the `{{ path }}` template
//! language, validation and compilation into the form the engine runs.
//!
//! [`validate`] parses a JSON flow document, reports every problem at once
//! and, when there is none, returns a [`CompiledFlow`] whose templates are
//! parsed and whose edges point at step indexes.
//!
//! ```
//! use sluice_flow::{ComponentCatalog, World, validate};
//!
//! struct Builtins;
//!
//! impl ComponentCatalog for Builtins {
//!     fn world(&self, reference: &str) -> Option<World> {
//!         (reference == "builtin:load-user").then_some(World::Action)
//!     }
//!     fn references(&self) -> Vec<String> {
//!         vec!["builtin:load-user".to_owned()]
//!     }
//! }
//!
//! let flow = validate(
//!     r#"{
//!         "id": "load", "type": "management", "start": "load",
//!         "steps": [
//!             { "id": "load", "kind": "action", "component": "builtin:load-user",
//!               "config": { "loginId": "{{client.email}}" }, "next": { "success": "done" } },
//!             { "id": "done", "kind": "end",
//!               "outputs": [ { "key": "userId", "type": "string", "value": "{{user.userId}}" } ] }
//!         ]
//!     }"#,
//!     &Builtins,
//! )
//! .map_err(|problems| sluice_flow::format_problems(&problems))?;
//!
//! let context = serde_json::json!({ "client": { "email": "ada@example.com" } });
//! let config = flow.steps[flow.start].config.render(&context);
//! assert_eq!(config, serde_json::json!({ "loginId": "ada@example.com" }));
//! # Ok::<(), String>(())
//! ```

mod catalog;
mod model;
mod path;
mod problem;
mod suggest;
mod template;
mod validate;

pub use catalog::{ComponentCatalog, World, check_reference};
pub use model::{
    CompiledFlow, CompiledOutput, CompiledStep, ErrorHandling, FlowLimits, OutputType, RetryPolicy,
    StepKind, StepLimits, Trigger,
};
pub use path::{ContextPath, NAMESPACES, Segment, lookup};
pub use problem::{Problem, format_problems};
pub use template::{TemplateError, TextPart, ValueTemplate};
pub use validate::validate;
