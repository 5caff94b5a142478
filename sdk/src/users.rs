//! Read and change users of the run's project. Available to actions.
//!
//! ```no_run
//! use sluice_sdk::{users, NewUser, StepError, UserPatch};
//!
//! # fn example() -> Result<(), StepError> {
//! let user = match users::load_by_login_id("ada@example.com") {
//!     Ok(user) => user,
//!     Err(error) if error.is_not_found() => users::create(&NewUser {
//!         email: Some("ada@example.com".into()),
//!         ..NewUser::new("ada@example.com")
//!     })?,
//!     Err(error) => return Err(error),
//! };
//! users::add_roles(&user.user_id, None, &["reviewer"])?;
//! users::patch(&user.user_id, &UserPatch { given_name: Some("Ada".into()), ..UserPatch::default() })?;
//! # Ok(())
//! # }
//! ```
//!
//! Every function returns [`StepError::NotFound`] when the user (or a tenant
//! it names) does not exist, and the user as stored after the change.

use serde_json::Value;

use crate::context::Context;
use crate::error::StepError;
use crate::host;
use crate::types::{NewUser, User, UserPage, UserPatch, UserQuery, UserStatus};

fn owned<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    names.iter().map(|name| name.as_ref().to_string()).collect()
}

/// Loads the user with this login id.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when no user has the login id.
pub fn load_by_login_id(login_id: &str) -> Result<User, StepError> {
    host::users::load_by_login_id(login_id)
}

/// Loads the user with this user id.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when the user does not exist.
pub fn load(user_id: &str) -> Result<User, StepError> {
    host::users::load(user_id)
}

/// Creates a user.
///
/// # Errors
///
/// Returns [`StepError::InvalidConfig`] when a login id is empty or already
/// taken, and [`StepError::NotFound`] when a tenant membership names a
/// tenant that does not exist.
pub fn create(user: &NewUser) -> Result<User, StepError> {
    host::users::create(user)
}

/// Replaces every field of the user with the fields of `user`, keeping its
/// user id and creation time. Use [`patch`] to change only some fields.
///
/// # Errors
///
/// As [`create`], plus [`StepError::NotFound`] when the user does not exist.
pub fn update(user_id: &str, user: &NewUser) -> Result<User, StepError> {
    host::users::update(user_id, user)
}

/// Changes only the fields present in `patch`. Custom attributes merge into
/// the user's, and a `null` value removes a key.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when the user does not exist.
pub fn patch(user_id: &str, patch: &UserPatch) -> Result<User, StepError> {
    host::users::patch(user_id, patch)
}

/// Deletes the user.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when the user does not exist.
pub fn delete(user_id: &str) -> Result<(), StepError> {
    host::users::delete(user_id)
}

/// Sets the user's status.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when the user does not exist.
pub fn set_status(user_id: &str, status: UserStatus) -> Result<User, StepError> {
    host::users::set_status(user_id, status)
}

/// Sets one custom attribute; `Value::Null` removes it.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when the user does not exist.
pub fn set_custom_attribute(user_id: &str, key: &str, value: &Value) -> Result<User, StepError> {
    host::users::set_custom_attribute(user_id, key, value)
}

/// Replaces the user's roles: inside `tenant_id` when given, otherwise the
/// project-level roles.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when the user does not exist, and
/// [`StepError::InvalidConfig`] when the user is not a member of the tenant.
pub fn set_roles<S: AsRef<str>>(
    user_id: &str,
    tenant_id: Option<&str>,
    role_names: &[S],
) -> Result<User, StepError> {
    host::users::set_roles(user_id, tenant_id, &owned(role_names))
}

/// Adds roles, inside `tenant_id` when given, otherwise at project level.
/// A role the user already has is not added twice.
///
/// # Errors
///
/// As [`set_roles`].
pub fn add_roles<S: AsRef<str>>(
    user_id: &str,
    tenant_id: Option<&str>,
    role_names: &[S],
) -> Result<User, StepError> {
    host::users::add_roles(user_id, tenant_id, &owned(role_names))
}

/// Removes roles, inside `tenant_id` when given, otherwise at project level.
/// Roles the user does not hold are ignored.
///
/// # Errors
///
/// As [`set_roles`].
pub fn remove_roles<S: AsRef<str>>(
    user_id: &str,
    tenant_id: Option<&str>,
    role_names: &[S],
) -> Result<User, StepError> {
    host::users::remove_roles(user_id, tenant_id, &owned(role_names))
}

/// Adds the user to a tenant with the given roles.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when the user or the tenant does not
/// exist.
pub fn add_tenant<S: AsRef<str>>(
    user_id: &str,
    tenant_id: &str,
    role_names: &[S],
) -> Result<User, StepError> {
    host::users::add_tenant(user_id, tenant_id, &owned(role_names))
}

/// Removes the user from a tenant.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when the user does not exist.
pub fn remove_tenant(user_id: &str, tenant_id: &str) -> Result<User, StepError> {
    host::users::remove_tenant(user_id, tenant_id)
}

/// Finds users that match the query, one page at a time.
///
/// # Errors
///
/// Returns the host's error when the search fails.
pub fn search(query: &UserQuery) -> Result<UserPage, StepError> {
    host::users::search(query)
}

/// Loads the user a step acts on: the user with `user_id` when given, else
/// the user with `login_id`, else the flow's current user (`user.userId` in
/// the context). Built-in actions take their target this way.
///
/// # Errors
///
/// Returns [`StepError::InvalidConfig`] when both ids are given or one is
/// empty, and [`StepError::NotFound`] when the user does not exist or no id
/// is given and the flow has no current user.
pub fn load_target(
    user_id: Option<&str>,
    login_id: Option<&str>,
    context: &Context,
) -> Result<User, StepError> {
    match (user_id, login_id) {
        (Some(_), Some(_)) => Err(StepError::invalid_config(
            "invalid config: give either `userId` or `loginId`, not both",
        )),
        (Some(""), None) => Err(StepError::invalid_config(
            "invalid config field `userId`: it is empty",
        )),
        (None, Some("")) => Err(StepError::invalid_config(
            "invalid config field `loginId`: it is empty",
        )),
        (Some(user_id), None) => load(user_id),
        (None, Some(login_id)) => load_by_login_id(login_id),
        (None, None) => {
            let user_id = context.user_id().ok_or_else(|| {
                StepError::not_found(
                    "the flow has no current user; set `userId` or `loginId`, or load a user in an earlier step",
                )
            })?;
            load(user_id)
        }
    }
}
