//! Identity records and management API request bodies of Sluice.
//!
//! This crate contains what the runtime reads from API clients and stores,
//! without the engine, the store or the HTTP server:
//!
//! - [`identity`]: users, tenants and audit events, with Descope's field
//!   names;
//! - [`json`]: decoding of a request body with a nesting limit and errors
//!   that name the field;
//! - [`body`]: the request bodies of the user, tenant, flow and audit calls,
//!   with the checks that need no store.
//!
//! It has no dependency on wasmtime, so the fuzz target for API body
//! decoding builds in seconds.

pub mod body;
pub mod error;
pub mod identity;
pub mod json;

pub use error::BodyError;
