-- Schema version 1: projects, identity data, flows and runs.
--
-- Every table carries the project id in its primary key or in a unique
-- constraint, and every query of the store filters by it.

-- The sequence number orders projects by creation.
CREATE TABLE projects (
    sequence INTEGER PRIMARY KEY,
    project TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created INTEGER NOT NULL
) STRICT;

-- Only the SHA-256 of a key's secret is stored, never the secret.
CREATE TABLE management_keys (
    project TEXT NOT NULL REFERENCES projects (project) ON DELETE CASCADE,
    key_id TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (project, key_id)
) STRICT;

CREATE TABLE tenants (
    project TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    -- JSON array of strings.
    self_provisioning_domains TEXT NOT NULL,
    -- JSON object.
    custom_attributes TEXT NOT NULL,
    PRIMARY KEY (project, tenant_id)
) STRICT;

CREATE TABLE users (
    project TEXT NOT NULL,
    user_id TEXT NOT NULL,
    -- JSON array of strings in the user's order, primary first. The
    -- login_ids table indexes the same values for lookups and uniqueness.
    login_ids TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    name TEXT,
    given_name TEXT,
    family_name TEXT,
    status TEXT NOT NULL,
    verified_email INTEGER NOT NULL CHECK (verified_email IN (0, 1)),
    verified_phone INTEGER NOT NULL CHECK (verified_phone IN (0, 1)),
    -- JSON array of strings.
    role_names TEXT NOT NULL,
    -- JSON object.
    custom_attributes TEXT NOT NULL,
    created_time INTEGER NOT NULL,
    PRIMARY KEY (project, user_id)
) STRICT;

-- A login id belongs to at most one user of a project.
CREATE TABLE login_ids (
    project TEXT NOT NULL,
    login_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (project, login_id),
    FOREIGN KEY (project, user_id) REFERENCES users (project, user_id) ON DELETE CASCADE
) STRICT;

CREATE INDEX login_ids_by_user ON login_ids (project, user_id);

-- Tenant memberships. The tenant name is not copied here: loading a user
-- joins the tenants table, so a renamed tenant shows its new name at once,
-- and deleting a tenant removes its memberships.
CREATE TABLE user_tenants (
    project TEXT NOT NULL,
    user_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    -- JSON array of strings.
    role_names TEXT NOT NULL,
    PRIMARY KEY (project, user_id, position),
    FOREIGN KEY (project, user_id) REFERENCES users (project, user_id) ON DELETE CASCADE,
    FOREIGN KEY (project, tenant_id) REFERENCES tenants (project, tenant_id) ON DELETE CASCADE
) STRICT;

CREATE INDEX user_tenants_by_tenant ON user_tenants (project, tenant_id);

CREATE TABLE consents (
    project TEXT NOT NULL,
    user_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    PRIMARY KEY (project, user_id, app_id, scope),
    FOREIGN KEY (project, user_id) REFERENCES users (project, user_id) ON DELETE CASCADE
) STRICT;

-- The sequence number orders the events of a project as they were recorded.
CREATE TABLE audit_events (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    event_id TEXT NOT NULL,
    action TEXT NOT NULL,
    audit_type TEXT NOT NULL,
    occurred INTEGER NOT NULL,
    actor_id TEXT NOT NULL,
    user_id TEXT,
    -- JSON array of strings.
    external_ids TEXT NOT NULL,
    -- JSON array of strings.
    tenants TEXT NOT NULL,
    remote_address TEXT,
    -- JSON object.
    data TEXT NOT NULL,
    UNIQUE (project, event_id)
) STRICT;

CREATE INDEX audit_events_by_project ON audit_events (project, sequence);

CREATE TABLE flow_versions (
    project TEXT NOT NULL,
    flow_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    -- The flow document as JSON.
    document TEXT NOT NULL,
    active INTEGER NOT NULL CHECK (active IN (0, 1)),
    created INTEGER NOT NULL,
    PRIMARY KEY (project, flow_id, version)
) STRICT;

-- At most one active version per flow. Deploying and activating clear the
-- old active version before they set the new one.
CREATE UNIQUE INDEX flow_versions_one_active ON flow_versions (project, flow_id) WHERE active = 1;

-- The sequence number breaks ties between runs created in the same
-- millisecond, so listing keeps insertion order among them.
CREATE TABLE runs (
    sequence INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    run_id TEXT NOT NULL,
    flow_id TEXT NOT NULL,
    flow_version INTEGER NOT NULL,
    status TEXT NOT NULL,
    -- input, output, error and trace are JSON values.
    input TEXT NOT NULL,
    output TEXT NOT NULL,
    error TEXT NOT NULL,
    trace TEXT NOT NULL,
    created INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    UNIQUE (project, run_id)
) STRICT;

CREATE INDEX runs_newest_first ON runs (project, created DESC, sequence DESC);
CREATE INDEX runs_of_flow_newest_first ON runs (project, flow_id, created DESC, sequence DESC);
