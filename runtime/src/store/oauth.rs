//! Storage of MCP servers and the OAuth clients registered with them.

use super::StoreError;
use crate::model::NewAuditEvent;
use crate::oauth::{McpServer, RegisteredClient};

/// A change to apply to a loaded client inside the store's transaction. It
/// returns the audit event to record with the change, if any.
pub type ClientChange<'a> =
    &'a mut dyn FnMut(&mut RegisteredClient) -> Result<Option<NewAuditEvent>, StoreError>;

/// MCP servers and their registered clients, scoped by project.
///
/// Client changes take their audit event, so a backend with transactions
/// writes the change and the event together or not at all.
pub trait OAuthStore: Send + Sync {
    /// Stores a new server. Fails with [`StoreError::Conflict`] when the
    /// project has a server with that id.
    fn create_mcp_server(&self, project: &str, server: &McpServer) -> Result<(), StoreError>;
    /// Replaces a server. Fails with [`StoreError::NotFound`] when it does not exist.
    fn replace_mcp_server(&self, project: &str, server: &McpServer) -> Result<(), StoreError>;
    /// Loads a server by id.
    fn load_mcp_server(
        &self,
        project: &str,
        server_id: &str,
    ) -> Result<Option<McpServer>, StoreError>;
    /// Returns every server of the project, by id.
    fn list_mcp_servers(&self, project: &str) -> Result<Vec<McpServer>, StoreError>;
    /// Deletes a server together with its clients; returns whether it existed.
    fn delete_mcp_server(&self, project: &str, server_id: &str) -> Result<bool, StoreError>;

    /// Stores a newly registered client and records `event`. Fails with
    /// [`StoreError::NotFound`] when its server does not exist and with
    /// [`StoreError::Conflict`] when the client id is taken.
    fn insert_mcp_client(
        &self,
        project: &str,
        client: &RegisteredClient,
        event: NewAuditEvent,
    ) -> Result<(), StoreError>;
    /// Loads a client, applies `change`, saves it and records the audit event
    /// the change returns. Fails with [`StoreError::NotFound`] when the client
    /// does not exist; nothing is written when `change` fails.
    fn modify_mcp_client(
        &self,
        project: &str,
        client_id: &str,
        change: ClientChange<'_>,
    ) -> Result<RegisteredClient, StoreError>;
    /// Loads a client by id.
    fn load_mcp_client(
        &self,
        project: &str,
        client_id: &str,
    ) -> Result<Option<RegisteredClient>, StoreError>;
    /// Returns the clients of one server, oldest first.
    fn list_mcp_clients(
        &self,
        project: &str,
        server_id: &str,
    ) -> Result<Vec<RegisteredClient>, StoreError>;
    /// Deletes a client and records `event`; returns whether it existed.
    /// Nothing is recorded when it did not.
    fn delete_mcp_client(
        &self,
        project: &str,
        client_id: &str,
        event: NewAuditEvent,
    ) -> Result<bool, StoreError>;
}
