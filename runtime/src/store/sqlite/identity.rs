//! [`IdentityStore`] on SQLite: users, tenants, consent and audit events.
//!
//! Validation and audit events follow [`MemoryStore`](crate::store::MemoryStore):
//! the same checks in the same order, the same errors, and an audit event in
//! the same transaction as the change it records.

use std::collections::{BTreeSet, HashMap};

use rusqlite::functions::FunctionFlags;
use rusqlite::types::{ToSql, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::{Map, Value};

use super::{ExecuteCached, SqliteStore, backend, from_json, not_found, to_json};
use crate::model::{
    AuditEvent, AuditQuery, AuditType, NewAuditEvent, NewUser, Tenant, User, UserQuery, UserStatus, UserTenant, contains_ignoring_case,
};
use crate::store::{Actor, IdentityStore, StoreError, TenantChange, UserChange, now_millis};

/// Returns a new id: `prefix` followed by a random UUID without hyphens.
fn generate_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// A `users` row before its JSON columns are parsed.
struct UserRow {
    user_id: String,
    login_ids: String,
    email: Option<String>,
    phone: Option<String>,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    status: String,
    verified_email: bool,
    verified_phone: bool,
    role_names: String,
    custom_attributes: String,
    created_time: u64,
}

impl UserRow {
    fn into_user(self, user_tenants: Vec<UserTenant>) -> Result<User, StoreError> {
        Ok(User {
            login_ids: from_json(&self.login_ids, "users.login_ids")?,
            email: self.email,
            phone: self.phone,
            name: self.name,
            given_name: self.given_name,
            family_name: self.family_name,
            status: parse_status(&self.status)?,
            verified_email: self.verified_email,
            verified_phone: self.verified_phone,
            role_names: from_json(&self.role_names, "users.role_names")?,
            user_tenants,
            custom_attributes: from_json(&self.custom_attributes, "users.custom_attributes")?,
            created_time: self.created_time,
            user_id: self.user_id,
        })
    }
}

fn parse_status(text: &str) -> Result<UserStatus, StoreError> {
    serde_json::from_value(Value::from(text))
        .map_err(|_| StoreError::Backend(format!("stored user status `{text}` is not a known status")))
}

fn parse_audit_type(text: &str) -> Result<AuditType, StoreError> {
    serde_json::from_value(Value::from(text))
        .map_err(|_| StoreError::Backend(format!("stored audit type `{text}` is not a known type")))
}

fn audit_type_name(audit_type: AuditType) -> &'static str {
    match audit_type {
        AuditType::Info => "info",
        AuditType::Warn => "warn",
        AuditType::Error => "error",
    }
}

/// Loads the users of a project ordered by user id: all of them, or only
/// `user_id` when given.
fn load_users(connection: &Connection, project: &str, user_id: Option<&str>) -> Result<Vec<User>, StoreError> {
    const OPERATION: &str = "loading users";
    let mut memberships: HashMap<String, Vec<UserTenant>> = HashMap::new();
    let mut statement = connection
        .prepare_cached(
            "SELECT m.user_id, m.tenant_id, t.name, m.role_names
             FROM user_tenants AS m
             JOIN tenants AS t ON t.project = m.project AND t.tenant_id = m.tenant_id
             WHERE m.project = ?1 AND (?2 IS NULL OR m.user_id = ?2)
             ORDER BY m.user_id, m.position",
        )
        .map_err(backend(OPERATION))?;
    let rows = statement
        .query_map(params![project, user_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get::<_, String>(3)?,
            ))
        })
        .map_err(backend(OPERATION))?;
    for row in rows {
        let (owner, tenant_id, tenant_name, role_names) = row.map_err(backend(OPERATION))?;
        memberships.entry(owner).or_default().push(UserTenant {
            tenant_id,
            tenant_name,
            role_names: from_json(&role_names, "user_tenants.role_names")?,
        });
    }

    let mut statement = connection
        .prepare_cached(
            "SELECT user_id, login_ids, email, phone, name, given_name, family_name, status,
                    verified_email, verified_phone, role_names, custom_attributes, created_time
             FROM users
             WHERE project = ?1 AND (?2 IS NULL OR user_id = ?2)
             ORDER BY user_id",
        )
        .map_err(backend(OPERATION))?;
    let rows = statement
        .query_map(params![project, user_id], |row| {
            Ok(UserRow {
                user_id: row.get(0)?,
                login_ids: row.get(1)?,
                email: row.get(2)?,
                phone: row.get(3)?,
                name: row.get(4)?,
                given_name: row.get(5)?,
                family_name: row.get(6)?,
                status: row.get(7)?,
                verified_email: row.get(8)?,
                verified_phone: row.get(9)?,
                role_names: row.get(10)?,
                custom_attributes: row.get(11)?,
                created_time: row.get(12)?,
            })
        })
        .map_err(backend(OPERATION))?;
    let mut users = Vec::new();
    for row in rows {
        let row = row.map_err(backend(OPERATION))?;
        let user_tenants = memberships.remove(&row.user_id).unwrap_or_default();
        users.push(row.into_user(user_tenants)?);
    }
    Ok(users)
}

fn load_user(connection: &Connection, project: &str, user_id: &str) -> Result<User, StoreError> {
    load_users(connection, project, Some(user_id))?
        .pop()
        .ok_or_else(|| not_found("user", user_id))
}

/// Returns the id of the user that owns `login_id` in the project.
fn login_id_owner(connection: &Connection, project: &str, login_id: &str) -> Result<Option<String>, StoreError> {
    connection
        .prepare_cached("SELECT user_id FROM login_ids WHERE project = ?1 AND login_id = ?2")
        .and_then(|mut statement| {
            statement
                .query_row(params![project, login_id], |row| row.get(0))
                .optional()
        })
        .map_err(backend("looking up a login id"))
}

/// Checks that the user's login ids are valid and not used by another user.
fn check_login_ids(connection: &Connection, project: &str, user: &User) -> Result<(), StoreError> {
    if user.login_ids.is_empty() {
        return Err(StoreError::Invalid("a user needs at least one login id".to_owned()));
    }
    for login_id in &user.login_ids {
        if login_id.trim().is_empty() {
            return Err(StoreError::Invalid("login id must not be empty".to_owned()));
        }
        if let Some(owner) = login_id_owner(connection, project, login_id)?
            && owner != user.user_id
        {
            return Err(StoreError::Conflict(format!(
                "login id `{login_id}` is already used by another user"
            )));
        }
    }
    Ok(())
}

/// Checks that every tenant the user belongs to exists and fills in the
/// tenant names.
fn resolve_tenants(connection: &Connection, project: &str, user: &mut User) -> Result<(), StoreError> {
    for membership in &mut user.user_tenants {
        let tenant = load_tenant(connection, project, &membership.tenant_id)?;
        membership.tenant_name = tenant.name;
    }
    Ok(())
}

/// Inserts a new user (`exists` false) or replaces a stored one, with its
/// login ids and tenant memberships.
fn save_user(connection: &Connection, project: &str, user: &User, exists: bool) -> Result<(), StoreError> {
    const OPERATION: &str = "saving a user";
    let login_ids = to_json(&user.login_ids, "users.login_ids")?;
    let role_names = to_json(&user.role_names, "users.role_names")?;
    let custom_attributes = to_json(&user.custom_attributes, "users.custom_attributes")?;
    let sql = if exists {
        "UPDATE users SET login_ids = ?3, email = ?4, phone = ?5, name = ?6, given_name = ?7,
                family_name = ?8, status = ?9, verified_email = ?10, verified_phone = ?11,
                role_names = ?12, custom_attributes = ?13, created_time = ?14
         WHERE project = ?1 AND user_id = ?2"
    } else {
        "INSERT INTO users (project, user_id, login_ids, email, phone, name, given_name, family_name,
                            status, verified_email, verified_phone, role_names, custom_attributes, created_time)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    };
    connection
        .execute_cached(
            sql,
            params![
                project,
                user.user_id,
                login_ids,
                user.email,
                user.phone,
                user.name,
                user.given_name,
                user.family_name,
                user.status.as_str(),
                user.verified_email,
                user.verified_phone,
                role_names,
                custom_attributes,
                user.created_time,
            ],
        )
        .map_err(backend(OPERATION))?;

    connection
        .execute_cached(
            "DELETE FROM login_ids WHERE project = ?1 AND user_id = ?2",
            params![project, user.user_id],
        )
        .map_err(backend(OPERATION))?;
    // The same login id listed twice for one user is one row of the index.
    let distinct: BTreeSet<&String> = user.login_ids.iter().collect();
    for login_id in distinct {
        connection
            .execute_cached(
                "INSERT INTO login_ids (project, login_id, user_id) VALUES (?1, ?2, ?3)",
                params![project, login_id, user.user_id],
            )
            .map_err(backend(OPERATION))?;
    }

    connection
        .execute_cached(
            "DELETE FROM user_tenants WHERE project = ?1 AND user_id = ?2",
            params![project, user.user_id],
        )
        .map_err(backend(OPERATION))?;
    for (position, membership) in user.user_tenants.iter().enumerate() {
        connection
            .execute_cached(
                "INSERT INTO user_tenants (project, user_id, position, tenant_id, role_names)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    project,
                    user.user_id,
                    position,
                    membership.tenant_id,
                    to_json(&membership.role_names, "user_tenants.role_names")?,
                ],
            )
            .map_err(backend(OPERATION))?;
    }
    Ok(())
}

fn load_tenant(connection: &Connection, project: &str, tenant_id: &str) -> Result<Tenant, StoreError> {
    load_tenants(connection, project, Some(tenant_id))?
        .pop()
        .ok_or_else(|| not_found("tenant", tenant_id))
}

/// Loads the tenants of a project ordered by id: all of them, or only
/// `tenant_id` when given.
fn load_tenants(connection: &Connection, project: &str, tenant_id: Option<&str>) -> Result<Vec<Tenant>, StoreError> {
    const OPERATION: &str = "loading tenants";
    let mut statement = connection
        .prepare_cached(
            "SELECT tenant_id, name, self_provisioning_domains, custom_attributes
             FROM tenants
             WHERE project = ?1 AND (?2 IS NULL OR tenant_id = ?2)
             ORDER BY tenant_id",
        )
        .map_err(backend(OPERATION))?;
    let rows = statement
        .query_map(params![project, tenant_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        })
        .map_err(backend(OPERATION))?;
    let mut tenants = Vec::new();
    for row in rows {
        let (id, name, domains, custom_attributes) = row.map_err(backend(OPERATION))?;
        tenants.push(Tenant {
            id,
            name,
            self_provisioning_domains: from_json(&domains, "tenants.self_provisioning_domains")?,
            custom_attributes: from_json(&custom_attributes, "tenants.custom_attributes")?,
        });
    }
    Ok(tenants)
}

fn check_tenant_name(tenant: &Tenant) -> Result<(), StoreError> {
    if tenant.name.trim().is_empty() {
        return Err(StoreError::Invalid("tenant name must not be empty".to_owned()));
    }
    Ok(())
}

/// Returns the scopes granted to `app_id` by the user, in byte order.
fn granted_scopes(
    connection: &Connection,
    project: &str,
    user_id: &str,
    app_id: &str,
) -> Result<Vec<String>, StoreError> {
    const OPERATION: &str = "loading consent";
    let mut statement = connection
        .prepare_cached("SELECT scope FROM consents WHERE project = ?1 AND user_id = ?2 AND app_id = ?3 ORDER BY scope")
        .map_err(backend(OPERATION))?;
    let scopes = statement
        .query_map(params![project, user_id, app_id], |row| row.get(0))
        .and_then(Iterator::collect)
        .map_err(backend(OPERATION))?;
    Ok(scopes)
}

/// Stores an audit event. Its external ids are the login ids of its user
/// as stored at this point of the transaction.
pub(super) fn record(connection: &Connection, project: &str, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
    const OPERATION: &str = "recording an audit event";
    let external_ids = match event.user_id.as_deref() {
        Some(user_id) => {
            let login_ids: Option<String> = connection
                .prepare_cached("SELECT login_ids FROM users WHERE project = ?1 AND user_id = ?2")
                .and_then(|mut statement| {
                    statement
                        .query_row(params![project, user_id], |row| row.get(0))
                        .optional()
                })
                .map_err(backend(OPERATION))?;
            match login_ids {
                Some(text) => from_json(&text, "users.login_ids")?,
                None => Vec::new(),
            }
        }
        None => Vec::new(),
    };
    let stored = AuditEvent {
        id: generate_id("A"),
        project_id: project.to_owned(),
        action: event.action,
        audit_type: event.audit_type,
        occurred: now_millis(),
        actor_id: event.actor_id,
        user_id: event.user_id,
        external_ids,
        tenants: event.tenants,
        remote_address: event.remote_address,
        data: event.data,
    };
    connection
        .execute_cached(
            "INSERT INTO audit_events (project, event_id, action, audit_type, occurred, actor_id, user_id,
                                       external_ids, tenants, remote_address, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                project,
                stored.id,
                stored.action,
                audit_type_name(stored.audit_type),
                stored.occurred,
                stored.actor_id,
                stored.user_id,
                to_json(&stored.external_ids, "audit_events.external_ids")?,
                to_json(&stored.tenants, "audit_events.tenants")?,
                stored.remote_address,
                to_json(&stored.data, "audit_events.data")?,
            ],
        )
        .map_err(backend(OPERATION))?;
    Ok(stored)
}

/// Records an `Info` event of `action` by `actor` about a user or tenants.
fn record_change(
    connection: &Connection,
    project: &str,
    action: &str,
    actor: &Actor,
    user_id: Option<&str>,
    tenants: Vec<String>,
) -> Result<AuditEvent, StoreError> {
    record(
        connection,
        project,
        NewAuditEvent {
            action: action.to_owned(),
            audit_type: AuditType::Info,
            actor_id: actor.id.clone(),
            user_id: user_id.map(str::to_owned),
            tenants,
            remote_address: actor.remote_address.clone(),
            data: Map::new(),
        },
    )
}

fn consent_event(
    action: &str,
    actor: &Actor,
    user_id: &str,
    app_id: &str,
    scopes: &[String],
    granted: &[String],
) -> NewAuditEvent {
    let mut data = Map::new();
    data.insert("appId".to_owned(), Value::from(app_id));
    data.insert("scopes".to_owned(), Value::from(scopes.to_vec()));
    data.insert("granted".to_owned(), Value::from(granted.to_vec()));
    NewAuditEvent {
        action: action.to_owned(),
        audit_type: AuditType::Info,
        actor_id: actor.id.clone(),
        user_id: Some(user_id.to_owned()),
        tenants: Vec::new(),
        remote_address: actor.remote_address.clone(),
        data,
    }
}

/// Name of the SQL function `sluice_contains_text(haystack, needle)`, which
/// [`AUDIT_FILTER`] calls. It returns 1 when the text `haystack` contains
/// `needle` ignoring case, and 0 otherwise or when either is not text.
/// `needle` must be in lower case.
const CONTAINS_TEXT_FUNCTION: &str = "sluice_contains_text";

/// Adds the SQL functions the queries of this module call to `connection`.
/// Functions belong to a connection, so every connection needs this once.
pub(super) fn register_functions(connection: &Connection) -> rusqlite::Result<()> {
    connection.create_scalar_function(
        CONTAINS_TEXT_FUNCTION,
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |context| {
            let ValueRef::Text(needle) = context.get_raw(1) else {
                return Ok(false);
            };
            let ValueRef::Text(haystack) = context.get_raw(0) else {
                return Ok(false);
            };
            // Both come from Rust strings that the store wrote, so they are UTF-8.
            let (Ok(haystack), Ok(needle)) = (std::str::from_utf8(haystack), std::str::from_utf8(needle)) else {
                return Ok(false);
            };
            Ok(contains_ignoring_case(haystack, needle))
        },
    )
}

/// Columns of an audit event, in the order [`audit_event_from_row`] reads them.
pub(super) const AUDIT_COLUMNS: &str =
    "event_id, action, audit_type, occurred, actor_id, user_id, external_ids, tenants, remote_address, data";

/// The filter of an audit search as a `WHERE` clause that mirrors
/// [`AuditQuery::matches`]. Its parameters are those of
/// [`AuditFilter::parameters`], where each list is a JSON array, or NULL
/// when the filter is not set.
const AUDIT_FILTER: &str = "
    project = ?1
    AND (?2 IS NULL OR user_id IN (SELECT f.value FROM json_each(?2) AS f))
    AND (?3 IS NULL OR action IN (SELECT f.value FROM json_each(?3) AS f))
    AND (?4 IS NULL OR action NOT IN (SELECT f.value FROM json_each(?4) AS f))
    AND (?5 IS NULL OR remote_address IN (SELECT f.value FROM json_each(?5) AS f))
    AND (?6 IS NULL OR EXISTS (
        SELECT 1 FROM json_each(audit_events.external_ids) AS e
        WHERE e.value IN (SELECT f.value FROM json_each(?6) AS f)))
    AND (?7 IS NULL
        OR EXISTS (
            SELECT 1 FROM json_each(audit_events.tenants) AS t
            WHERE t.value IN (SELECT f.value FROM json_each(?7) AS f))
        OR (?8 AND json_array_length(audit_events.tenants) = 0))
    AND (?9 IS NULL
        OR sluice_contains_text(action, ?9)
        OR sluice_contains_text(user_id, ?9)
        OR sluice_contains_text(actor_id, ?9)
        OR sluice_contains_text(remote_address, ?9)
        OR sluice_contains_text(data, ?9)
        OR EXISTS (
            SELECT 1 FROM json_each(audit_events.external_ids) AS e
            WHERE sluice_contains_text(e.value, ?9))
        OR EXISTS (
            SELECT 1 FROM json_each(audit_events.tenants) AS t
            WHERE sluice_contains_text(t.value, ?9)))
    AND (?10 IS NULL OR occurred >= ?10)
    AND (?11 IS NULL OR occurred <= ?11)";

/// The bound values of [`AUDIT_FILTER`].
struct AuditFilter<'a> {
    project: &'a str,
    user_ids: Option<String>,
    actions: Option<String>,
    excluded_actions: Option<String>,
    remote_addresses: Option<String>,
    external_ids: Option<String>,
    tenants: Option<String>,
    no_tenants: bool,
    text: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

impl<'a> AuditFilter<'a> {
    fn new(project: &'a str, query: &AuditQuery) -> Result<Self, StoreError> {
        let list = |values: &[String]| -> Result<Option<String>, StoreError> {
            if values.is_empty() {
                return Ok(None);
            }
            to_json(&values, "audit search filter").map(Some)
        };
        Ok(Self {
            project,
            user_ids: list(&query.user_ids)?,
            actions: list(&query.actions)?,
            excluded_actions: list(&query.excluded_actions)?,
            remote_addresses: list(&query.remote_addresses)?,
            external_ids: list(&query.external_ids)?,
            tenants: list(&query.tenants)?,
            no_tenants: query.no_tenants,
            text: query.text_lowercase(),
            from: query.from,
            to: query.to,
        })
    }

    /// Returns the values of `?1` to `?11`.
    fn parameters(&self) -> [&dyn ToSql; 11] {
        [
            &self.project,
            &self.user_ids,
            &self.actions,
            &self.excluded_actions,
            &self.remote_addresses,
            &self.external_ids,
            &self.tenants,
            &self.no_tenants,
            &self.text,
            &self.from,
            &self.to,
        ]
    }
}

/// Reads an audit event from a row of [`AUDIT_COLUMNS`].
pub(super) fn audit_event_from_row(project: &str, row: &Row<'_>) -> Result<AuditEvent, StoreError> {
    const OPERATION: &str = "reading an audit event";
    let column = |index| row.get::<_, String>(index).map_err(backend(OPERATION));
    let optional = |index| row.get::<_, Option<String>>(index).map_err(backend(OPERATION));
    Ok(AuditEvent {
        id: column(0)?,
        project_id: project.to_owned(),
        action: column(1)?,
        audit_type: parse_audit_type(&column(2)?)?,
        occurred: row.get(3).map_err(backend(OPERATION))?,
        actor_id: column(4)?,
        user_id: optional(5)?,
        external_ids: from_json(&column(6)?, "audit_events.external_ids")?,
        tenants: from_json(&column(7)?, "audit_events.tenants")?,
        remote_address: optional(8)?,
        data: from_json(&column(9)?, "audit_events.data")?,
    })
}

fn tenant_ids(user: &User) -> Vec<String> {
    user.user_tenants.iter().map(|t| t.tenant_id.clone()).collect()
}

impl IdentityStore for SqliteStore {
    fn load_user(&self, project: &str, user_id: &str) -> Result<User, StoreError> {
        self.read("loading a user", |connection| load_user(connection, project, user_id))
    }

    fn load_user_by_login_id(&self, project: &str, login_id: &str) -> Result<User, StoreError> {
        self.read("loading a user by login id", |connection| {
            let user_id = login_id_owner(connection, project, login_id)?.ok_or_else(|| not_found("user", login_id))?;
            load_user(connection, project, &user_id)
        })
    }

    fn create_user(&self, project: &str, new: NewUser, actor: &Actor) -> Result<User, StoreError> {
        self.write("creating a user", |connection| {
            let mut user = new.into_user(generate_id("U"), now_millis() / 1000);
            check_login_ids(connection, project, &user)?;
            resolve_tenants(connection, project, &mut user)?;
            save_user(connection, project, &user, false)?;
            record_change(
                connection,
                project,
                "UserCreated",
                actor,
                Some(&user.user_id),
                tenant_ids(&user),
            )?;
            Ok(user)
        })
    }

    fn modify_user(
        &self,
        project: &str,
        user_id: &str,
        audit_action: &str,
        actor: &Actor,
        change: UserChange<'_>,
    ) -> Result<User, StoreError> {
        self.write("modifying a user", |connection| {
            let before = load_user(connection, project, user_id)?;
            let mut user = before.clone();
            change(&mut user)?;
            user.user_id.clone_from(&before.user_id);
            user.created_time = before.created_time;
            check_login_ids(connection, project, &user)?;
            resolve_tenants(connection, project, &mut user)?;
            if user != before {
                save_user(connection, project, &user, true)?;
                record_change(
                    connection,
                    project,
                    audit_action,
                    actor,
                    Some(user_id),
                    tenant_ids(&user),
                )?;
            }
            Ok(user)
        })
    }

    fn delete_user(&self, project: &str, user_id: &str, actor: &Actor) -> Result<(), StoreError> {
        self.write("deleting a user", |connection| {
            let user = load_user(connection, project, user_id)?;
            // Recorded before the delete, so the event carries the login ids.
            record_change(
                connection,
                project,
                "UserDeleted",
                actor,
                Some(user_id),
                tenant_ids(&user),
            )?;
            // Login ids, memberships and consent go with the row (ON DELETE CASCADE).
            connection
                .execute_cached(
                    "DELETE FROM users WHERE project = ?1 AND user_id = ?2",
                    params![project, user_id],
                )
                .map_err(backend("deleting a user"))?;
            Ok(())
        })
    }

    fn search_users(&self, project: &str, query: &UserQuery) -> Result<(Vec<User>, u32), StoreError> {
        // NOTE: this loads every user of the project and filters with
        // `UserQuery::matches`, so its cost grows with the project. Filtering
        // in SQL needs the login id, status, tenant and role filters as joins
        // and the text match as a LIKE over the same fields.
        self.read("searching users", |connection| {
            let matching: Vec<User> = load_users(connection, project, None)?
                .into_iter()
                .filter(|user| query.matches(user))
                .collect();
            let total = u32::try_from(matching.len()).unwrap_or(u32::MAX);
            let size = query.page_size() as usize;
            let page = matching
                .into_iter()
                .skip(size.saturating_mul(query.page as usize))
                .take(size)
                .collect();
            Ok((page, total))
        })
    }

    fn load_tenant(&self, project: &str, tenant_id: &str) -> Result<Tenant, StoreError> {
        self.read("loading a tenant", |connection| {
            load_tenant(connection, project, tenant_id)
        })
    }

    fn create_tenant(&self, project: &str, mut tenant: Tenant, actor: &Actor) -> Result<Tenant, StoreError> {
        const OPERATION: &str = "creating a tenant";
        self.write(OPERATION, |connection| {
            if tenant.id.is_empty() {
                tenant.id = generate_id("T");
            }
            check_tenant_name(&tenant)?;
            if !load_tenants(connection, project, Some(&tenant.id))?.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "tenant id `{}` is already used",
                    tenant.id
                )));
            }
            connection
                .execute_cached(
                    "INSERT INTO tenants (project, tenant_id, name, self_provisioning_domains, custom_attributes)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        project,
                        tenant.id,
                        tenant.name,
                        to_json(&tenant.self_provisioning_domains, "tenants.self_provisioning_domains")?,
                        to_json(&tenant.custom_attributes, "tenants.custom_attributes")?,
                    ],
                )
                .map_err(backend(OPERATION))?;
            record_change(
                connection,
                project,
                "TenantCreated",
                actor,
                None,
                vec![tenant.id.clone()],
            )?;
            Ok(tenant)
        })
    }

    fn modify_tenant(
        &self,
        project: &str,
        tenant_id: &str,
        actor: &Actor,
        change: TenantChange<'_>,
    ) -> Result<Tenant, StoreError> {
        const OPERATION: &str = "modifying a tenant";
        self.write(OPERATION, |connection| {
            let before = load_tenant(connection, project, tenant_id)?;
            let mut tenant = before.clone();
            change(&mut tenant)?;
            tenant.id.clone_from(&before.id);
            check_tenant_name(&tenant)?;
            if tenant != before {
                // Members see the new name at once: loading a user joins the tenants table.
                connection
                    .execute_cached(
                        "UPDATE tenants SET name = ?3, self_provisioning_domains = ?4, custom_attributes = ?5
                         WHERE project = ?1 AND tenant_id = ?2",
                        params![
                            project,
                            tenant.id,
                            tenant.name,
                            to_json(&tenant.self_provisioning_domains, "tenants.self_provisioning_domains")?,
                            to_json(&tenant.custom_attributes, "tenants.custom_attributes")?,
                        ],
                    )
                    .map_err(backend(OPERATION))?;
                record_change(
                    connection,
                    project,
                    "TenantModified",
                    actor,
                    None,
                    vec![tenant.id.clone()],
                )?;
            }
            Ok(tenant)
        })
    }

    fn delete_tenant(&self, project: &str, tenant_id: &str, actor: &Actor) -> Result<(), StoreError> {
        const OPERATION: &str = "deleting a tenant";
        self.write(OPERATION, |connection| {
            // Memberships of the tenant go with the row (ON DELETE CASCADE).
            let deleted = connection
                .execute_cached(
                    "DELETE FROM tenants WHERE project = ?1 AND tenant_id = ?2",
                    params![project, tenant_id],
                )
                .map_err(backend(OPERATION))?;
            if deleted == 0 {
                return Err(not_found("tenant", tenant_id));
            }
            record_change(
                connection,
                project,
                "TenantDeleted",
                actor,
                None,
                vec![tenant_id.to_owned()],
            )?;
            Ok(())
        })
    }

    fn list_tenants(&self, project: &str) -> Result<Vec<Tenant>, StoreError> {
        self.read("listing tenants", |connection| load_tenants(connection, project, None))
    }

    fn grant_consent(
        &self,
        project: &str,
        user_id: &str,
        app_id: &str,
        scopes: &[String],
        actor: &Actor,
    ) -> Result<Vec<String>, StoreError> {
        const OPERATION: &str = "granting consent";
        self.write(OPERATION, |connection| {
            load_user(connection, project, user_id)?;
            if app_id.trim().is_empty() {
                return Err(StoreError::Invalid("app id must not be empty".to_owned()));
            }
            for scope in scopes {
                connection
                    .execute_cached(
                        "INSERT INTO consents (project, user_id, app_id, scope) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT DO NOTHING",
                        params![project, user_id, app_id, scope],
                    )
                    .map_err(backend(OPERATION))?;
            }
            let granted = granted_scopes(connection, project, user_id, app_id)?;
            record(
                connection,
                project,
                consent_event("ConsentGranted", actor, user_id, app_id, scopes, &granted),
            )?;
            Ok(granted)
        })
    }

    fn revoke_consent(
        &self,
        project: &str,
        user_id: &str,
        app_id: &str,
        scopes: &[String],
        actor: &Actor,
    ) -> Result<Vec<String>, StoreError> {
        const OPERATION: &str = "revoking consent";
        self.write(OPERATION, |connection| {
            load_user(connection, project, user_id)?;
            if scopes.is_empty() {
                connection
                    .execute_cached(
                        "DELETE FROM consents WHERE project = ?1 AND user_id = ?2 AND app_id = ?3",
                        params![project, user_id, app_id],
                    )
                    .map_err(backend(OPERATION))?;
            }
            for scope in scopes {
                connection
                    .execute_cached(
                        "DELETE FROM consents WHERE project = ?1 AND user_id = ?2 AND app_id = ?3 AND scope = ?4",
                        params![project, user_id, app_id, scope],
                    )
                    .map_err(backend(OPERATION))?;
            }
            let remaining = granted_scopes(connection, project, user_id, app_id)?;
            record(
                connection,
                project,
                consent_event("ConsentRevoked", actor, user_id, app_id, scopes, &remaining),
            )?;
            Ok(remaining)
        })
    }

    fn record_audit(&self, project: &str, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        if event.action.trim().is_empty() {
            return Err(StoreError::Invalid("audit action must not be empty".to_owned()));
        }
        self.write("recording an audit event", |connection| {
            record(connection, project, event)
        })
    }

    fn audit_events(&self, project: &str) -> Result<Vec<AuditEvent>, StoreError> {
        const OPERATION: &str = "loading audit events";
        self.read(OPERATION, |connection| {
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE project = ?1 ORDER BY sequence"
                ))
                .map_err(backend(OPERATION))?;
            let mut rows = statement.query(params![project]).map_err(backend(OPERATION))?;
            let mut events = Vec::new();
            while let Some(row) = rows.next().map_err(backend(OPERATION))? {
                events.push(audit_event_from_row(project, row)?);
            }
            Ok(events)
        })
    }

    fn search_audit(&self, project: &str, query: &AuditQuery) -> Result<(Vec<AuditEvent>, u32), StoreError> {
        const OPERATION: &str = "searching audit events";
        if query.filters_unrecorded_fields() {
            return Ok((Vec::new(), 0));
        }
        // TODO: Every search reads all of the project's events through
        // `audit_events_by_project` and filters them row by row, so its cost
        // grows with the project's history even for a narrow time range or
        // action. Add an index on (project, occurred) or (project, action) in
        // a new migration once projects keep enough events for this to show.
        let filter = AuditFilter::new(project, query)?;
        // Page and count run in one read transaction, so they see the same events.
        self.read(OPERATION, |connection| {
            let total: u32 = connection
                .prepare_cached(&format!("SELECT COUNT(*) FROM audit_events WHERE {AUDIT_FILTER}"))
                .and_then(|mut statement| statement.query_row(&filter.parameters()[..], |row| row.get::<_, i64>(0)))
                .map_err(backend(OPERATION))
                .map(|count| u32::try_from(count).unwrap_or(u32::MAX))?;

            let limit = i64::from(query.page_size());
            let offset = i64::try_from(query.offset()).unwrap_or(i64::MAX);
            let mut parameters = filter.parameters().to_vec();
            parameters.push(&limit);
            parameters.push(&offset);
            let mut statement = connection
                .prepare_cached(&format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE {AUDIT_FILTER}
                     ORDER BY sequence DESC LIMIT ?12 OFFSET ?13"
                ))
                .map_err(backend(OPERATION))?;
            let mut rows = statement.query(&parameters[..]).map_err(backend(OPERATION))?;
            let mut events = Vec::new();
            while let Some(row) = rows.next().map_err(backend(OPERATION))? {
                events.push(audit_event_from_row(project, row)?);
            }
            Ok((events, total))
        })
    }
}
