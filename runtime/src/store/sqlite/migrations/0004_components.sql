-- Schema version 4: published components.

-- One row per published version. Versions are immutable, so a row is
-- inserted once and only ever deleted. `manifest` is JSON.
CREATE TABLE components (
    project TEXT NOT NULL,
    component_id TEXT NOT NULL,
    version TEXT NOT NULL,
    manifest TEXT NOT NULL,
    wasm BLOB NOT NULL,
    digest TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (project, component_id, version)
) STRICT;
