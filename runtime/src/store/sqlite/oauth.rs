//! [`OAuthStore`] on SQLite.

use rusqlite::{Connection, OptionalExtension, params};

use super::identity::record;
use super::{ExecuteCached, SqliteStore, backend, from_json, not_found, to_json};
use crate::model::NewAuditEvent;
use crate::oauth::{McpServer, RegisteredClient};
use crate::store::{ClientChange, OAuthStore, StoreError};

fn load_client(
    connection: &Connection,
    project: &str,
    client_id: &str,
) -> Result<Option<RegisteredClient>, StoreError> {
    const OPERATION: &str = "loading an MCP client";
    let document: Option<String> = connection
        .prepare_cached("SELECT document FROM mcp_clients WHERE project = ?1 AND client_id = ?2")
        .map_err(backend(OPERATION))?
        .query_row(params![project, client_id], |row| row.get(0))
        .optional()
        .map_err(backend(OPERATION))?;
    document
        .map(|text| from_json(&text, "mcp_clients.document"))
        .transpose()
}

impl OAuthStore for SqliteStore {
    fn create_mcp_server(&self, project: &str, server: &McpServer) -> Result<(), StoreError> {
        const OPERATION: &str = "creating an MCP server";
        self.write(OPERATION, |connection| {
            let inserted = connection
                .execute_cached(
                    "INSERT INTO mcp_servers (project, server_id, document) VALUES (?1, ?2, ?3)
                     ON CONFLICT (project, server_id) DO NOTHING",
                    params![project, server.id, to_json(server, "mcp_servers.document")?],
                )
                .map_err(backend(OPERATION))?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "MCP server `{}` already exists; update it or pick another id",
                    server.id
                )));
            }
            Ok(())
        })
    }

    fn replace_mcp_server(&self, project: &str, server: &McpServer) -> Result<(), StoreError> {
        const OPERATION: &str = "updating an MCP server";
        self.write(OPERATION, |connection| {
            let updated = connection
                .execute_cached(
                    "UPDATE mcp_servers SET document = ?3 WHERE project = ?1 AND server_id = ?2",
                    params![project, server.id, to_json(server, "mcp_servers.document")?],
                )
                .map_err(backend(OPERATION))?;
            if updated == 0 {
                return Err(not_found("MCP server", &server.id));
            }
            Ok(())
        })
    }

    fn load_mcp_server(
        &self,
        project: &str,
        server_id: &str,
    ) -> Result<Option<McpServer>, StoreError> {
        const OPERATION: &str = "loading an MCP server";
        self.read(OPERATION, |connection| {
            let document: Option<String> = connection
                .prepare_cached(
                    "SELECT document FROM mcp_servers WHERE project = ?1 AND server_id = ?2",
                )
                .map_err(backend(OPERATION))?
                .query_row(params![project, server_id], |row| row.get(0))
                .optional()
                .map_err(backend(OPERATION))?;
            document
                .map(|text| from_json(&text, "mcp_servers.document"))
                .transpose()
        })
    }

    fn list_mcp_servers(&self, project: &str) -> Result<Vec<McpServer>, StoreError> {
        const OPERATION: &str = "listing MCP servers";
        self.read(OPERATION, |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT document FROM mcp_servers WHERE project = ?1 ORDER BY server_id",
                )
                .map_err(backend(OPERATION))?;
            let rows = statement
                .query_map(params![project], |row| row.get::<_, String>(0))
                .map_err(backend(OPERATION))?;
            rows.map(|row| from_json(&row.map_err(backend(OPERATION))?, "mcp_servers.document"))
                .collect()
        })
    }

    fn delete_mcp_server(&self, project: &str, server_id: &str) -> Result<bool, StoreError> {
        const OPERATION: &str = "deleting an MCP server";
        self.write(OPERATION, |connection| {
            let deleted = connection
                .execute_cached(
                    "DELETE FROM mcp_servers WHERE project = ?1 AND server_id = ?2",
                    params![project, server_id],
                )
                .map_err(backend(OPERATION))?;
            Ok(deleted > 0)
        })
    }

    fn insert_mcp_client(
        &self,
        project: &str,
        client: &RegisteredClient,
        event: NewAuditEvent,
    ) -> Result<(), StoreError> {
        const OPERATION: &str = "registering an MCP client";
        self.write(OPERATION, |connection| {
            let server_exists: bool = connection
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM mcp_servers WHERE project = ?1 AND server_id = ?2)")
                .map_err(backend(OPERATION))?
                .query_row(params![project, client.server_id], |row| row.get(0))
                .map_err(backend(OPERATION))?;
            if !server_exists {
                return Err(not_found("MCP server", &client.server_id));
            }
            let inserted = connection
                .execute_cached(
                    "INSERT INTO mcp_clients (project, client_id, server_id, document, issued_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (project, client_id) DO NOTHING",
                    params![
                        project,
                        client.client_id,
                        client.server_id,
                        to_json(client, "mcp_clients.document")?,
                        client.issued_at,
                    ],
                )
                .map_err(backend(OPERATION))?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("MCP client `{}` already exists", client.client_id)));
            }
            record(connection, project, event)?;
            Ok(())
        })
    }

    fn modify_mcp_client(
        &self,
        project: &str,
        client_id: &str,
        change: ClientChange<'_>,
    ) -> Result<RegisteredClient, StoreError> {
        const OPERATION: &str = "updating an MCP client";
        self.write(OPERATION, |connection| {
            let mut client = load_client(connection, project, client_id)?
                .ok_or_else(|| not_found("MCP client", client_id))?;
            let event = change(&mut client)?;
            connection
                .execute_cached(
                    "UPDATE mcp_clients SET document = ?3 WHERE project = ?1 AND client_id = ?2",
                    params![
                        project,
                        client_id,
                        to_json(&client, "mcp_clients.document")?
                    ],
                )
                .map_err(backend(OPERATION))?;
            if let Some(event) = event {
                record(connection, project, event)?;
            }
            Ok(client)
        })
    }

    fn load_mcp_client(
        &self,
        project: &str,
        client_id: &str,
    ) -> Result<Option<RegisteredClient>, StoreError> {
        self.read("loading an MCP client", |connection| {
            load_client(connection, project, client_id)
        })
    }

    fn list_mcp_clients(
        &self,
        project: &str,
        server_id: &str,
    ) -> Result<Vec<RegisteredClient>, StoreError> {
        const OPERATION: &str = "listing MCP clients";
        self.read(OPERATION, |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT document FROM mcp_clients WHERE project = ?1 AND server_id = ?2 ORDER BY issued_at, client_id",
                )
                .map_err(backend(OPERATION))?;
            let rows = statement
                .query_map(params![project, server_id], |row| row.get::<_, String>(0))
                .map_err(backend(OPERATION))?;
            rows.map(|row| from_json(&row.map_err(backend(OPERATION))?, "mcp_clients.document"))
                .collect()
        })
    }

    fn delete_mcp_client(
        &self,
        project: &str,
        client_id: &str,
        event: NewAuditEvent,
    ) -> Result<bool, StoreError> {
        const OPERATION: &str = "deleting an MCP client";
        self.write(OPERATION, |connection| {
            let deleted = connection
                .execute_cached(
                    "DELETE FROM mcp_clients WHERE project = ?1 AND client_id = ?2",
                    params![project, client_id],
                )
                .map_err(backend(OPERATION))?;
            if deleted == 0 {
                return Ok(false);
            }
            record(connection, project, event)?;
            Ok(true)
        })
    }
}
