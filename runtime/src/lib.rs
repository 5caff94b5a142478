//! Sluice: a self-hosted runtime for identity management flows.
//!
//! A flow is a graph of steps, each a WebAssembly component that targets one
//! of the `sluice:flow` worlds. The [`engine`] loads and runs components in a
//! sandbox, the [`executor`] walks a validated flow from its start step to an
//! End step, and the [`store`] keeps the users, tenants and audit events that
//! the `action` world's host calls read and change.

pub mod api;
pub mod cli;
pub mod connectors;
pub mod engine;
pub mod executor;
pub mod flow_file;
pub mod host;
pub mod metrics;
pub mod oauth;
pub mod priority;
pub mod publish;
/// Identity records as the host stores them and as the API returns them.
pub use sluice_model::identity as model;
pub mod registry;
pub mod secrets;
pub mod server;
pub mod store;
pub mod triggers;
