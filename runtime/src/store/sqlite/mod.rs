//! A [`Backend`](super::Backend) that keeps every project in one SQLite file.
//!
//! One writer connection behind a mutex runs every change in an immediate
//! transaction, so a change and its audit event are committed together or not
//! at all. Reads run on separate read-only connections: in WAL mode they see
//! the last committed state and do not wait for the writer. A store opened
//! with [`SqliteStore::open_in_memory`] has no reader connections and reads
//! through the writer.

mod checkpoint;
mod identity;
mod migrations;
mod oauth;
mod queue;
mod records;

use std::fmt::Display;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::hooks::Action;
use rusqlite::{Connection, OpenFlags, Params, Transaction, TransactionBehavior};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use super::StoreError;

/// How long a connection waits for a lock held by another connection (of
/// this or another process) before the operation fails as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Read-only connections kept open between reads. Reads beyond this many at
/// once open a connection of their own and close it afterwards, because every
/// idle connection keeps its own page cache. A new connection reads the
/// schema and prepares its statements again, so this many should cover the
/// reads of a busy server: with 4, a load of 16 concurrent runs opened a
/// connection for most reads.
const MAX_IDLE_READERS: usize = 32;

/// Prepared statements kept per connection. The store has more distinct
/// statements than rusqlite's default of 16, and a statement evicted from the
/// cache is parsed again on its next use.
const STATEMENT_CACHE_CAPACITY: usize = 128;

/// Users, tenants, consent, audit events, projects, management keys, flow
/// versions and runs of every project, in one SQLite database.
///
/// Every query filters by project id, so a call for one project never reads
/// or changes another project's rows.
#[derive(Debug)]
pub struct SqliteStore {
    writer: Mutex<Connection>,
    /// `None` for an in-memory database, which a second connection cannot open.
    readers: Option<ReaderPool>,
    /// Set by the writer's update hook when a row enters `audit_events`, and
    /// cleared when the transaction ends.
    audit_pending: Arc<AtomicBool>,
    /// Woken after each commit that recorded an audit event.
    audit_recorded: Arc<Notify>,
    /// `None` for an in-memory database, which keeps no log.
    _checkpointer: Option<checkpoint::Checkpointer>,
}

/// Idle read-only connections to the database file.
#[derive(Debug)]
struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file and its parent folders
    /// when they are missing, and migrates its schema to the current version.
    ///
    /// # Errors
    ///
    /// Fails with [`StoreError::Backend`] when the folder or file cannot be
    /// created or opened, when a migration fails, or when the file was written
    /// by a newer Sluice whose schema version this one does not know.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            fs::create_dir_all(parent)
                .map_err(|err| StoreError::Backend(format!("creating folder `{}` failed: {err}", parent.display())))?;
        }
        let connection = Connection::open(path)
            .map_err(|err| StoreError::Backend(format!("opening database `{}` failed: {err}", path.display())))?;
        let mut writer = configure_writer(connection, path)?;
        migrations::migrate(&mut writer, &path.display().to_string())?;
        let readers = ReaderPool {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        };
        Self::with_writer(writer, Some(readers), &path.display().to_string())
    }

    /// Opens an empty database that lives in memory and is gone when the
    /// store is dropped: for tests.
    ///
    /// # Errors
    ///
    /// Fails with [`StoreError::Backend`] when SQLite cannot create the
    /// database or a migration fails.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let connection = Connection::open_in_memory()
            .map_err(|err| StoreError::Backend(format!("opening an in-memory database failed: {err}")))?;
        let mut writer = configure_writer(connection, Path::new(":memory:"))?;
        migrations::migrate(&mut writer, ":memory:")?;
        Self::with_writer(writer, None, ":memory:")
    }

    /// Wraps a migrated writer connection, watching it for audit events.
    fn with_writer(mut writer: Connection, readers: Option<ReaderPool>, name: &str) -> Result<Self, StoreError> {
        let audit_pending = Arc::new(AtomicBool::new(false));
        let pending = Arc::clone(&audit_pending);
        writer.update_hook(Some(move |action: Action, _database: &str, table: &str, _row: i64| {
            if action == Action::SQLITE_INSERT && table == "audit_events" {
                pending.store(true, Ordering::Relaxed);
            }
        }))
        .map_err(|err| StoreError::Backend(format!("watching `{name}` for audit events failed: {err}")))?;
        let checkpointer = match &readers {
            Some(pool) => {
                writer
                    .pragma_update(None, "wal_autocheckpoint", checkpoint::FALLBACK_PAGES)
                    .map_err(|err| StoreError::Backend(format!("setting wal_autocheckpoint on `{name}` failed: {err}")))?;
                Some(checkpoint::Checkpointer::start(&pool.path)?)
            }
            None => None,
        };
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            audit_pending,
            audit_recorded: Arc::new(Notify::new()),
            _checkpointer: checkpointer,
        })
    }

    fn lock_writer(&self) -> MutexGuard<'_, Connection> {
        // A panic inside a change unwinds through the transaction's drop,
        // which rolls it back, so the connection is usable afterwards.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `work` in an immediate transaction on the writer connection and
    /// commits it when `work` succeeds. When `work` fails, the transaction
    /// rolls back and nothing is written.
    ///
    /// `work` must not call the store again: the writer lock is not reentrant.
    fn write<R>(
        &self,
        operation: &str,
        work: impl FnOnce(&Transaction<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut writer = self.lock_writer();
        let transaction = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend(operation))?;
        self.audit_pending.store(false, Ordering::Relaxed);
        let result = work(&transaction)?;
        transaction.commit().map_err(backend(operation))?;
        if self.audit_pending.swap(false, Ordering::Relaxed) {
            self.audit_recorded.notify_one();
        }
        Ok(result)
    }

    /// Runs `work` in a read transaction, so every query in it sees the same
    /// committed state.
    fn read<R>(
        &self,
        operation: &str,
        work: impl FnOnce(&Transaction<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let Some(pool) = &self.readers else {
            let mut writer = self.lock_writer();
            let transaction = writer.transaction().map_err(backend(operation))?;
            return work(&transaction);
        };
        let mut connection = pool.take(operation)?;
        let result = match connection.transaction() {
            Ok(transaction) => work(&transaction),
            Err(err) => Err(backend(operation)(err)),
        };
        pool.give_back(connection);
        result
    }
}

impl ReaderPool {
    fn take(&self, operation: &str) -> Result<Connection, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        if let Some(connection) = idle {
            return Ok(connection);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let connection = Connection::open_with_flags(&self.path, flags).map_err(|err| {
            StoreError::Backend(format!(
                "{operation} failed: opening a reader of `{}` failed: {err}",
                self.path.display()
            ))
        })?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(backend(operation))?;
        set_up_connection(&connection).map_err(backend(operation))?;
        Ok(connection)
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(connection);
        }
    }
}

/// Sets the pragmas of the writer connection. `foreign_keys` is a setting of
/// the connection, so it is set on every open, before any transaction.
fn configure_writer(connection: Connection, path: &Path) -> Result<Connection, StoreError> {
    let fail = |setting: &str, err: rusqlite::Error| {
        StoreError::Backend(format!("setting {setting} on `{}` failed: {err}", path.display()))
    };
    connection
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(|err| fail("the busy timeout", err))?;
    // An in-memory database reports `memory` here and stays that way.
    let _journal_mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|err| fail("journal_mode=WAL", err))?;
    connection
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(|err| fail("synchronous=NORMAL", err))?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .map_err(|err| fail("foreign_keys=ON", err))?;
    set_up_connection(&connection).map_err(|err| fail("the query planner and SQL functions", err))?;
    Ok(connection)
}

/// Settings of every connection, the writer's and each reader's.
///
/// The bundled SQLite is built with `SQLITE_ENABLE_STAT4`. Under it, a
/// statement whose plan may depend on a bound value is compiled again each
/// time new values are bound, so caching it saved nothing, and the parser
/// took about a quarter of the server's CPU under the load bench. The query
/// planner stability guarantee keeps one plan per statement.
fn set_up_connection(connection: &Connection) -> rusqlite::Result<()> {
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    identity::register_functions(connection)
}

/// Statement execution through the connection's statement cache, so a
/// statement run again is not parsed and planned again.
trait ExecuteCached {
    /// Runs `sql` once with `params` and returns the number of changed rows.
    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;
}

impl ExecuteCached for Connection {
    fn execute_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }
}

/// Returns a mapper from a SQLite error to [`StoreError::Backend`] that names
/// the failed operation. The messages of SQLite and rusqlite name tables,
/// columns and constraints rather than the text bound to a statement, so a
/// stored secret hash does not reach the message.
fn backend(operation: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |err| StoreError::Backend(format!("{operation} failed: {err}"))
}

/// Serializes a value for a JSON column.
fn to_json(value: &impl Serialize, column: &str) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|err| StoreError::Backend(format!("encoding column `{column}` as JSON failed: {err}")))
}

/// Parses a JSON column.
fn from_json<T: DeserializeOwned>(text: &str, column: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|err| StoreError::Backend(format!("stored column `{column}` is not valid JSON: {err}")))
}

/// Returns a [`StoreError::NotFound`] for an object of the project.
fn not_found(kind: &'static str, id: impl Display) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ProjectStore;

    #[test]
    fn failed_write_rolls_back() {
        let store = SqliteStore::open_in_memory().expect("open an in-memory store");

        let result: Result<(), StoreError> = store.write("inserting a project", |connection| {
            connection
                .execute_cached(
                    "INSERT INTO projects (project, name, created) VALUES ('P1', 'First', 0)",
                    [],
                )
                .map_err(backend("inserting a project"))?;
            Err(StoreError::Invalid(
                "the change failed after its first statement".to_owned(),
            ))
        });

        assert!(matches!(result, Err(StoreError::Invalid(_))));
        assert_eq!(store.project_exists("P1"), Ok(false));
    }
}
