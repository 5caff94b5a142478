//! [`ProjectStore`], [`FlowStore`] and [`RunStore`] on SQLite.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::{ExecuteCached, SqliteStore, backend, from_json, not_found, to_json};
use crate::publish::{ComponentManifest, StoredComponent};
use crate::store::{
    ComponentStore, ConnectorStore, FlowStore, FlowVersion, ManagementKey, ProjectStore, RunRecord, RunStore,
    StoreError, StoredConnector, now_millis,
};

fn project_exists(connection: &Connection, project: &str) -> Result<bool, StoreError> {
    connection
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM projects WHERE project = ?1)",
            params![project],
            |row| row.get(0),
        )
        .map_err(backend("looking up a project"))
}

impl ProjectStore for SqliteStore {
    fn is_empty(&self) -> Result<bool, StoreError> {
        const OPERATION: &str = "counting projects";
        self.read(OPERATION, |connection| {
            connection
                .query_row("SELECT NOT EXISTS (SELECT 1 FROM projects)", [], |row| {
                    row.get(0)
                })
                .map_err(backend(OPERATION))
        })
    }

    fn create_project(&self, project: &str, name: &str) -> Result<(), StoreError> {
        const OPERATION: &str = "creating a project";
        self.write(OPERATION, |connection| {
            if project_exists(connection, project)? {
                return Err(StoreError::Conflict(format!(
                    "project `{project}` already exists"
                )));
            }
            connection
                .execute_cached(
                    "INSERT INTO projects (project, name, created) VALUES (?1, ?2, ?3)",
                    params![project, name, now_millis() / 1000],
                )
                .map_err(backend(OPERATION))?;
            Ok(())
        })
    }

    fn projects(&self) -> Result<Vec<String>, StoreError> {
        const OPERATION: &str = "listing projects";
        self.read(OPERATION, |connection| {
            let mut statement = connection
                .prepare_cached("SELECT project FROM projects ORDER BY sequence")
                .map_err(backend(OPERATION))?;
            statement
                .query_map([], |row| row.get(0))
                .and_then(Iterator::collect)
                .map_err(backend(OPERATION))
        })
    }

    fn project_exists(&self, project: &str) -> Result<bool, StoreError> {
        self.read("looking up a project", |connection| {
            project_exists(connection, project)
        })
    }

    fn add_key(&self, key: &ManagementKey) -> Result<(), StoreError> {
        const OPERATION: &str = "adding a management key";
        self.write(OPERATION, |connection| {
            if !project_exists(connection, &key.project)? {
                return Err(not_found("project", &key.project));
            }
            let inserted = connection
                .execute_cached(
                    "INSERT INTO management_keys (project, key_id, name, secret_hash, created)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT DO NOTHING",
                    params![key.project, key.id, key.name, key.secret_hash, key.created],
                )
                .map_err(backend(OPERATION))?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "management key `{}` already exists in project `{}`",
                    key.id, key.project
                )));
            }
            Ok(())
        })
    }

    fn keys(&self, project: &str) -> Result<Vec<ManagementKey>, StoreError> {
        const OPERATION: &str = "loading management keys";
        self.read(OPERATION, |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT key_id, name, secret_hash, created FROM management_keys
                     WHERE project = ?1
                     ORDER BY created, key_id",
                )
                .map_err(backend(OPERATION))?;
            statement
                .query_map(params![project], |row| {
                    Ok(ManagementKey {
                        id: row.get(0)?,
                        project: project.to_owned(),
                        name: row.get(1)?,
                        secret_hash: row.get(2)?,
                        created: row.get(3)?,
                    })
                })
                .and_then(Iterator::collect)
                .map_err(backend(OPERATION))
        })
    }
}

/// A `flow_versions` row before its document is parsed.
type FlowVersionRow = (String, u32, String, bool, u64);

/// Runs a query whose columns are `flow_id, version, document, active, created`.
fn query_flow_versions(
    connection: &Connection,
    operation: &str,
    sql: &str,
    parameters: impl rusqlite::Params,
) -> Result<Vec<FlowVersion>, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(backend(operation))?;
    let rows: Vec<FlowVersionRow> = statement
        .query_map(parameters, |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .and_then(Iterator::collect)
        .map_err(backend(operation))?;
    rows.into_iter()
        .map(|(flow_id, version, document, active, created)| {
            Ok(FlowVersion {
                flow_id,
                version,
                document: from_json(&document, "flow_versions.document")?,
                active,
                created,
            })
        })
        .collect()
}

fn load_flow_version(
    connection: &Connection,
    operation: &str,
    project: &str,
    flow_id: &str,
    version: u32,
) -> Result<Option<FlowVersion>, StoreError> {
    Ok(query_flow_versions(
        connection,
        operation,
        "SELECT flow_id, version, document, active, created FROM flow_versions
         WHERE project = ?1 AND flow_id = ?2 AND version = ?3",
        params![project, flow_id, version],
    )?
    .pop())
}

/// Marks every version of the flow inactive. Run before setting the new
/// active version: the `flow_versions_one_active` index allows one at a time.
fn deactivate_flow(
    connection: &Connection,
    operation: &str,
    project: &str,
    flow_id: &str,
) -> Result<(), StoreError> {
    connection
        .execute_cached(
            "UPDATE flow_versions SET active = 0 WHERE project = ?1 AND flow_id = ?2 AND active = 1",
            params![project, flow_id],
        )
        .map_err(backend(operation))?;
    Ok(())
}

impl FlowStore for SqliteStore {
    fn deploy_flow(
        &self,
        project: &str,
        flow_id: &str,
        document: &Value,
    ) -> Result<FlowVersion, StoreError> {
        const OPERATION: &str = "deploying a flow";
        self.write(OPERATION, |connection| {
            let latest: u32 = connection
                .query_row(
                    "SELECT COALESCE(MAX(version), 0) FROM flow_versions WHERE project = ?1 AND flow_id = ?2",
                    params![project, flow_id],
                    |row| row.get(0),
                )
                .map_err(backend(OPERATION))?;
            let deployed = FlowVersion {
                flow_id: flow_id.to_owned(),
                version: latest + 1,
                document: document.clone(),
                active: true,
                created: now_millis() / 1000,
            };
            deactivate_flow(connection, OPERATION, project, flow_id)?;
            connection
                .execute_cached(
                    "INSERT INTO flow_versions (project, flow_id, version, document, active, created)
                     VALUES (?1, ?2, ?3, ?4, 1, ?5)",
                    params![
                        project,
                        flow_id,
                        deployed.version,
                        to_json(document, "flow_versions.document")?,
                        deployed.created,
                    ],
                )
                .map_err(backend(OPERATION))?;
            Ok(deployed)
        })
    }

    fn active_flow(&self, project: &str, flow_id: &str) -> Result<Option<FlowVersion>, StoreError> {
        const OPERATION: &str = "loading the active flow version";
        self.read(OPERATION, |connection| {
            Ok(query_flow_versions(
                connection,
                OPERATION,
                "SELECT flow_id, version, document, active, created FROM flow_versions
                 WHERE project = ?1 AND flow_id = ?2 AND active = 1",
                params![project, flow_id],
            )?
            .pop())
        })
    }

    fn active_flows(&self, project: &str) -> Result<Vec<FlowVersion>, StoreError> {
        const OPERATION: &str = "loading the active flows";
        self.read(OPERATION, |connection| {
            query_flow_versions(
                connection,
                OPERATION,
                "SELECT flow_id, version, document, active, created FROM flow_versions
                 WHERE project = ?1 AND active = 1
                 ORDER BY flow_id",
                params![project],
            )
        })
    }

    fn flow_versions(&self, project: &str, flow_id: &str) -> Result<Vec<FlowVersion>, StoreError> {
        const OPERATION: &str = "loading flow versions";
        self.read(OPERATION, |connection| {
            query_flow_versions(
                connection,
                OPERATION,
                "SELECT flow_id, version, document, active, created FROM flow_versions
                 WHERE project = ?1 AND flow_id = ?2
                 ORDER BY version",
                params![project, flow_id],
            )
        })
    }

    fn activate_flow_version(
        &self,
        project: &str,
        flow_id: &str,
        version: u32,
    ) -> Result<FlowVersion, StoreError> {
        const OPERATION: &str = "activating a flow version";
        self.write(OPERATION, |connection| {
            let mut activated = load_flow_version(connection, OPERATION, project, flow_id, version)?
                .ok_or_else(|| not_found("flow version", format!("{flow_id}@{version}")))?;
            deactivate_flow(connection, OPERATION, project, flow_id)?;
            connection
                .execute_cached(
                    "UPDATE flow_versions SET active = 1 WHERE project = ?1 AND flow_id = ?2 AND version = ?3",
                    params![project, flow_id, version],
                )
                .map_err(backend(OPERATION))?;
            activated.active = true;
            Ok(activated)
        })
    }

    fn delete_flow(&self, project: &str, flow_id: &str) -> Result<bool, StoreError> {
        const OPERATION: &str = "deleting a flow";
        self.write(OPERATION, |connection| {
            let deleted = connection
                .execute_cached(
                    "DELETE FROM flow_versions WHERE project = ?1 AND flow_id = ?2",
                    params![project, flow_id],
                )
                .map_err(backend(OPERATION))?;
            Ok(deleted > 0)
        })
    }
}

/// Columns of a run, in the order [`run_from_row`] reads them.
const RUN_COLUMNS: &str = "run_id, project, flow_id, flow_version, status, input, output, error, trace, created, duration_us";

/// A `runs` row before its JSON columns are parsed.
struct RunRow {
    run_id: String,
    project: String,
    flow_id: String,
    flow_version: u32,
    status: String,
    input: String,
    output: String,
    error: String,
    trace: String,
    created: u64,
    duration_us: u64,
}

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        run_id: row.get(0)?,
        project: row.get(1)?,
        flow_id: row.get(2)?,
        flow_version: row.get(3)?,
        status: row.get(4)?,
        input: row.get(5)?,
        output: row.get(6)?,
        error: row.get(7)?,
        trace: row.get(8)?,
        created: row.get(9)?,
        duration_us: row.get(10)?,
    })
}

impl RunRow {
    fn into_record(self) -> Result<RunRecord, StoreError> {
        Ok(RunRecord {
            run_id: self.run_id,
            project: self.project,
            flow_id: self.flow_id,
            flow_version: self.flow_version,
            status: self.status,
            input: from_json(&self.input, "runs.input")?,
            output: from_json(&self.output, "runs.output")?,
            error: from_json(&self.error, "runs.error")?,
            trace: from_json(&self.trace, "runs.trace")?,
            created: self.created,
            duration_us: self.duration_us,
        })
    }
}

fn query_runs(
    connection: &Connection,
    operation: &str,
    sql: &str,
    parameters: impl rusqlite::Params,
) -> Result<Vec<RunRecord>, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(backend(operation))?;
    let rows: Vec<RunRow> = statement
        .query_map(parameters, run_from_row)
        .and_then(Iterator::collect)
        .map_err(backend(operation))?;
    rows.into_iter().map(RunRow::into_record).collect()
}

/// Inserts a run row inside the caller's transaction.
pub(super) fn insert_run(connection: &Connection, run: &RunRecord) -> Result<(), StoreError> {
    const OPERATION: &str = "inserting a run";
    let inserted = connection
        .execute_cached(
            "INSERT INTO runs (run_id, project, flow_id, flow_version, status, input, output, error, trace,
                               created, duration_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (project, run_id) DO NOTHING",
            params![
                run.run_id,
                run.project,
                run.flow_id,
                run.flow_version,
                run.status,
                to_json(&run.input, "runs.input")?,
                to_json(&run.output, "runs.output")?,
                to_json(&run.error, "runs.error")?,
                to_json(&run.trace, "runs.trace")?,
                run.created,
                run.duration_us,
            ],
        )
        .map_err(backend(OPERATION))?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!(
            "run `{}` already exists",
            run.run_id
        )));
    }
    Ok(())
}

/// Replaces a run row inside the caller's transaction.
pub(super) fn update_run(connection: &Connection, run: &RunRecord) -> Result<(), StoreError> {
    const OPERATION: &str = "updating a run";
    let updated = connection
        .execute_cached(
            "UPDATE runs SET flow_id = ?3, flow_version = ?4, status = ?5, input = ?6, output = ?7,
                             error = ?8, trace = ?9, created = ?10, duration_us = ?11
             WHERE run_id = ?1 AND project = ?2",
            params![
                run.run_id,
                run.project,
                run.flow_id,
                run.flow_version,
                run.status,
                to_json(&run.input, "runs.input")?,
                to_json(&run.output, "runs.output")?,
                to_json(&run.error, "runs.error")?,
                to_json(&run.trace, "runs.trace")?,
                run.created,
                run.duration_us,
            ],
        )
        .map_err(backend(OPERATION))?;
    if updated == 0 {
        return Err(not_found("run", &run.run_id));
    }
    Ok(())
}

impl RunStore for SqliteStore {
    fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.write("inserting a run", |connection| insert_run(connection, run))
    }

    fn insert_runs(&self, runs: &[RunRecord]) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        self.write("inserting runs", |connection| {
            let mut results = Vec::with_capacity(runs.len());
            for run in runs {
                match insert_run(connection, run) {
                    // A failed statement may leave the transaction unusable,
                    // so the whole batch fails and rolls back.
                    Err(err @ StoreError::Backend(_)) => return Err(err),
                    result => results.push(result),
                }
            }
            Ok(results)
        })
    }

    fn update_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.write("updating a run", |connection| update_run(connection, run))
    }

    fn load_run(&self, project: &str, run_id: &str) -> Result<Option<RunRecord>, StoreError> {
        const OPERATION: &str = "loading a run";
        self.read(OPERATION, |connection| {
            let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE project = ?1 AND run_id = ?2");
            Ok(query_runs(connection, OPERATION, &sql, params![project, run_id])?.pop())
        })
    }

    fn list_runs(
        &self,
        project: &str,
        flow_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        const OPERATION: &str = "listing runs";
        self.read(OPERATION, |connection| {
            let sql = match flow_id {
                Some(_) => format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE project = ?1 AND flow_id = ?2
                     ORDER BY created DESC, sequence DESC LIMIT ?3"
                ),
                None => format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE project = ?1
                     ORDER BY created DESC, sequence DESC LIMIT ?3"
                ),
            };
            // Without a flow id the SQL does not use `?2`. SQLite still counts it
            // as a parameter because `?3` follows it, so binding three values works.
            query_runs(
                connection,
                OPERATION,
                &sql,
                params![project, flow_id, limit],
            )
        })
    }
}

fn connector_from_row(
    name: &str,
    document: &str,
    secrets: Vec<u8>,
) -> Result<StoredConnector, StoreError> {
    let instance = from_json(document, "connectors.document")
        .map_err(|err| StoreError::Backend(format!("connector `{name}`: {err}")))?;
    Ok(StoredConnector {
        instance,
        sealed_secrets: secrets,
    })
}

impl ConnectorStore for SqliteStore {
    fn create_connector(
        &self,
        project: &str,
        connector: &StoredConnector,
    ) -> Result<(), StoreError> {
        const OPERATION: &str = "creating a connector instance";
        self.write(OPERATION, |connection| {
            let inserted = connection
                .execute_cached(
                    "INSERT INTO connectors (project, name, document, secrets) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (project, name) DO NOTHING",
                    params![
                        project,
                        connector.instance.name,
                        to_json(&connector.instance, "connectors.document")?,
                        connector.sealed_secrets,
                    ],
                )
                .map_err(backend(OPERATION))?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "connector instance `{}` already exists; update it or pick another name",
                    connector.instance.name
                )));
            }
            Ok(())
        })
    }

    fn replace_connector(
        &self,
        project: &str,
        connector: &StoredConnector,
    ) -> Result<(), StoreError> {
        const OPERATION: &str = "updating a connector instance";
        self.write(OPERATION, |connection| {
            let updated = connection
                .execute_cached(
                    "UPDATE connectors SET document = ?3, secrets = ?4 WHERE project = ?1 AND name = ?2",
                    params![
                        project,
                        connector.instance.name,
                        to_json(&connector.instance, "connectors.document")?,
                        connector.sealed_secrets,
                    ],
                )
                .map_err(backend(OPERATION))?;
            if updated == 0 {
                return Err(not_found("connector instance", &connector.instance.name));
            }
            Ok(())
        })
    }

    fn load_connector(
        &self,
        project: &str,
        name: &str,
    ) -> Result<Option<StoredConnector>, StoreError> {
        const OPERATION: &str = "loading a connector instance";
        self.read(OPERATION, |connection| {
            let row = connection
                .prepare_cached(
                    "SELECT document, secrets FROM connectors WHERE project = ?1 AND name = ?2",
                )
                .map_err(backend(OPERATION))?
                .query_row(params![project, name], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
                })
                .optional()
                .map_err(backend(OPERATION))?;
            row.map(|(document, secrets)| connector_from_row(name, &document, secrets))
                .transpose()
        })
    }

    fn list_connectors(&self, project: &str) -> Result<Vec<StoredConnector>, StoreError> {
        const OPERATION: &str = "listing connector instances";
        self.read(OPERATION, |connection| {
            let mut statement = connection
                .prepare_cached("SELECT name, document, secrets FROM connectors WHERE project = ?1 ORDER BY name")
                .map_err(backend(OPERATION))?;
            let rows = statement
                .query_map(params![project], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, Vec<u8>>(2)?))
                })
                .map_err(backend(OPERATION))?;
            rows.map(|row| {
                let (name, document, secrets) = row.map_err(backend(OPERATION))?;
                connector_from_row(&name, &document, secrets)
            })
            .collect()
        })
    }

    fn delete_connector(&self, project: &str, name: &str) -> Result<bool, StoreError> {
        const OPERATION: &str = "deleting a connector instance";
        self.write(OPERATION, |connection| {
            let deleted = connection
                .execute_cached(
                    "DELETE FROM connectors WHERE project = ?1 AND name = ?2",
                    params![project, name],
                )
                .map_err(backend(OPERATION))?;
            Ok(deleted > 0)
        })
    }
}

impl ComponentStore for SqliteStore {
    fn insert_component(&self, project: &str, component: &StoredComponent) -> Result<(), StoreError> {
        const OPERATION: &str = "publishing a component";
        let manifest = &component.manifest;
        self.write(OPERATION, |connection| {
            let inserted = connection
                .execute_cached(
                    "INSERT INTO components (project, component_id, version, manifest, wasm, digest, created)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (project, component_id, version) DO NOTHING",
                    params![
                        project,
                        manifest.id,
                        manifest.version,
                        to_json(manifest, "components.manifest")?,
                        component.wasm,
                        component.digest,
                        component.created,
                    ],
                )
                .map_err(backend(OPERATION))?;
            if inserted == 0 {
                return Err(StoreError::Conflict(format!(
                    "component `{}` is already published; versions are immutable, so publish a new version",
                    manifest.reference()
                )));
            }
            Ok(())
        })
    }

    fn load_component(&self, project: &str, id: &str, version: &str) -> Result<Option<StoredComponent>, StoreError> {
        const OPERATION: &str = "loading a published component";
        self.read(OPERATION, |connection| {
            let row = connection
                .prepare_cached(
                    "SELECT manifest, wasm, digest, created FROM components
                     WHERE project = ?1 AND component_id = ?2 AND version = ?3",
                )
                .map_err(backend(OPERATION))?
                .query_row(params![project, id, version], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Vec<u8>>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, u64>(3)?,
                    ))
                })
                .optional()
                .map_err(backend(OPERATION))?;
            row.map(|(manifest, wasm, digest, created)| {
                Ok(StoredComponent {
                    manifest: from_json(&manifest, "components.manifest")?,
                    wasm,
                    digest,
                    created,
                })
            })
            .transpose()
        })
    }

    fn list_components(&self, project: &str) -> Result<Vec<ComponentManifest>, StoreError> {
        const OPERATION: &str = "listing published components";
        self.read(OPERATION, |connection| {
            let mut statement = connection
                .prepare_cached(
                    "SELECT manifest FROM components WHERE project = ?1 ORDER BY component_id, created, version",
                )
                .map_err(backend(OPERATION))?;
            let rows = statement
                .query_map(params![project], |row| row.get::<_, String>(0))
                .map_err(backend(OPERATION))?;
            rows.map(|row| from_json(&row.map_err(backend(OPERATION))?, "components.manifest"))
                .collect()
        })
    }

    fn delete_component(&self, project: &str, id: &str, version: &str) -> Result<bool, StoreError> {
        const OPERATION: &str = "deleting a published component";
        self.write(OPERATION, |connection| {
            let deleted = connection
                .execute_cached(
                    "DELETE FROM components WHERE project = ?1 AND component_id = ?2 AND version = ?3",
                    params![project, id, version],
                )
                .map_err(backend(OPERATION))?;
            Ok(deleted > 0)
        })
    }
}
