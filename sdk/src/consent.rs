//! Record what a user agreed to share with an application. Available to
//! actions.
//!
//! ```no_run
//! use sluice_sdk::{consent, StepError};
//!
//! # fn example() -> Result<(), StepError> {
//! let granted = consent::grant("U1", "crm", &["profile", "email"])?;
//! let remaining = consent::revoke("U1", "crm", &["email"])?;
//! assert_eq!(remaining, vec!["profile".to_string()]);
//! # let _ = granted;
//! # Ok(())
//! # }
//! ```

use crate::error::StepError;
use crate::host;

fn owned<S: AsRef<str>>(scopes: &[S]) -> Vec<String> {
    scopes
        .iter()
        .map(|scope| scope.as_ref().to_string())
        .collect()
}

/// Grants `scopes` of application `app_id` for the user and returns every
/// scope granted after the change.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when the user does not exist.
pub fn grant<S: AsRef<str>>(
    user_id: &str,
    app_id: &str,
    scopes: &[S],
) -> Result<Vec<String>, StepError> {
    host::consent::grant(user_id, app_id, &owned(scopes))
}

/// Revokes `scopes` of application `app_id`; an empty list revokes all.
/// Returns the scopes still granted after the change.
///
/// # Errors
///
/// Returns [`StepError::NotFound`] when the user does not exist.
pub fn revoke<S: AsRef<str>>(
    user_id: &str,
    app_id: &str,
    scopes: &[S],
) -> Result<Vec<String>, StepError> {
    host::consent::revoke(user_id, app_id, &owned(scopes))
}
