//! Request bodies of the management API, one module per group of calls.
//!
//! Each body decodes with [`crate::json::parse_body`]. Its methods check
//! what needs no store and return [`crate::BodyError`]s that name the field.

pub mod audit;
pub mod flows;
pub mod tenants;
pub mod users;
