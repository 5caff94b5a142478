//! The OAuth authorization-server surface for MCP clients.

pub mod cimd;
pub mod cimd_cache;
