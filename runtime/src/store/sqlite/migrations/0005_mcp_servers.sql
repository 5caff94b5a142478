-- Schema version 5: MCP servers and their registered OAuth clients.

-- `document` is the server record as JSON.
CREATE TABLE mcp_servers (
    project TEXT NOT NULL,
    server_id TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (project, server_id)
) STRICT;

-- `document` is the registered client as JSON: its metadata, verification
-- status and the SHA-256 hashes of its client secret and registration
-- access token, never the secrets themselves. Deleting a server deletes
-- its clients.
CREATE TABLE mcp_clients (
    project TEXT NOT NULL,
    client_id TEXT NOT NULL,
    server_id TEXT NOT NULL,
    document TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    PRIMARY KEY (project, client_id),
    FOREIGN KEY (project, server_id) REFERENCES mcp_servers (project, server_id) ON DELETE CASCADE
) STRICT;

CREATE INDEX mcp_clients_by_server ON mcp_clients (project, server_id, issued_at);
