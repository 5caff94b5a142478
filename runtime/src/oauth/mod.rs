//! The OAuth authorization-server surface for MCP clients: MCP server
//! records, RFC 8414 metadata, and Dynamic Client Registration (RFC 7591)
//! with client configuration (RFC 7592).
//!
//! Sluice registers clients and decides whether they are trusted. It does
//! not log users in or issue tokens: the authorization and token endpoints
//! that the metadata advertises belong to the operator's own
//! authorization server.

pub mod cimd;
pub mod cimd_cache;
pub mod clients;
pub mod decision;
pub mod metadata;
pub mod registration;
pub mod servers;

pub use clients::{ClientMetadata, RegisteredClient, Verification};
pub use registration::{
    ErrorCode, MetadataError, MetadataPolicy, check_redirect_uri, validate_client_metadata,
};
pub use servers::{McpServer, RegistrationSettings, validate_server};
