//! Configuration and secrets bound to a connector instance. Available to
//! connectors. A connector sees only its own values.
//!
//! ```no_run
//! use sluice_sdk::{config, StepError};
//!
//! # fn example() -> Result<(), StepError> {
//! let base_url = config::get("baseUrl")
//!     .ok_or_else(|| StepError::invalid_config("the connector has no `baseUrl` setting"))?;
//! let token = config::secret("apiToken")
//!     .ok_or_else(|| StepError::invalid_config("the connector has no `apiToken` secret"))?;
//! # let _ = (base_url, token);
//! # Ok(())
//! # }
//! ```

use crate::host;

/// Returns a configuration value, such as a base URL, or `None`.
pub fn get(key: &str) -> Option<String> {
    host::config::get(key)
}

/// Returns a secret, such as an API token, or `None`. Do not log it or put
/// it in the step result: the host keeps secrets out of its own logs, but it
/// stores what the step returns.
pub fn secret(name: &str) -> Option<String> {
    host::config::secret(name)
}
