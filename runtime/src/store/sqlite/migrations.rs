//! Schema migrations, applied when a store opens.
//!
//! The schema version is SQLite's `user_version` header field. Migration `n`
//! (the n-th entry of [`MIGRATIONS`], counting from 1) takes the schema from
//! version `n - 1` to `n`. A migration runs in its own transaction together
//! with the update of `user_version`, so a failed migration leaves the file
//! at the previous version.

use rusqlite::{Connection, TransactionBehavior};

use super::backend;
use crate::store::StoreError;

/// The SQL of each migration, oldest first. Add new migrations at the end and
/// never change one that has shipped.
const MIGRATIONS: [&str; 5] = [
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_trigger_queue.sql"),
    include_str!("migrations/0003_connectors.sql"),
    include_str!("migrations/0004_components.sql"),
    include_str!("migrations/0005_mcp_servers.sql"),
];

/// Returns the schema version this build creates and reads.
pub(super) fn current_version() -> u32 {
    u32::try_from(MIGRATIONS.len()).unwrap_or(u32::MAX)
}

/// Applies every migration the database has not seen yet. `name` is the file
/// path (or `:memory:`) for error messages.
pub(super) fn migrate(connection: &mut Connection, name: &str) -> Result<(), StoreError> {
    let known = current_version();
    loop {
        let operation = format!("migrating `{name}`");
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend(&operation))?;
        // Read the version inside the write transaction: another process
        // opening the same file may have migrated it in the meantime.
        let found: u32 = transaction
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(backend(&operation))?;
        if found > known {
            return Err(StoreError::Backend(format!(
                "database `{name}` has schema version {found}, but this Sluice reads versions up to {known}. \
                 Open it with the newer Sluice that wrote it"
            )));
        }
        if found == known {
            return Ok(());
        }
        let target = found + 1;
        let operation = format!("migrating `{name}` to schema version {target}");
        let sql = MIGRATIONS[found as usize];
        transaction
            .execute_batch(sql)
            .map_err(backend(&operation))?;
        transaction
            .pragma_update(None, "user_version", target)
            .map_err(backend(&operation))?;
        transaction.commit().map_err(backend(&operation))?;
    }
}
