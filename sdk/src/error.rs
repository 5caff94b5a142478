//! The error a step returns to the engine.

use std::fmt;

/// Why a step failed.
///
/// The engine maps each case to an error kind in the run trace and then
/// follows the step's error handling (`automatic`, `ignore` or `custom`).
/// Every case carries a message for the person reading that trace, so say
/// what failed, on which value, and what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepError {
    /// The step's configuration is wrong. The message names the field.
    InvalidConfig(String),
    /// A user, tenant or other object the step needs does not exist.
    NotFound(String),
    /// The operation is not allowed, for example by policy.
    Denied(String),
    /// A remote service failed or answered with an error.
    UpstreamFailure(String),
    /// Any other failure inside the component.
    Internal(String),
}

impl StepError {
    /// Creates an [`StepError::InvalidConfig`] error.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        StepError::InvalidConfig(message.into())
    }

    /// Creates a [`StepError::NotFound`] error.
    pub fn not_found(message: impl Into<String>) -> Self {
        StepError::NotFound(message.into())
    }

    /// Creates a [`StepError::Denied`] error.
    pub fn denied(message: impl Into<String>) -> Self {
        StepError::Denied(message.into())
    }

    /// Creates a [`StepError::UpstreamFailure`] error.
    pub fn upstream_failure(message: impl Into<String>) -> Self {
        StepError::UpstreamFailure(message.into())
    }

    /// Creates a [`StepError::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Self {
        StepError::Internal(message.into())
    }

    /// Returns the stable name of the error kind, as the WIT spells the
    /// variant case: `invalid-config`, `not-found`, `denied`,
    /// `upstream-failure` or `internal`.
    pub fn kind(&self) -> &'static str {
        match self {
            StepError::InvalidConfig(_) => "invalid-config",
            StepError::NotFound(_) => "not-found",
            StepError::Denied(_) => "denied",
            StepError::UpstreamFailure(_) => "upstream-failure",
            StepError::Internal(_) => "internal",
        }
    }

    /// Returns the message.
    pub fn message(&self) -> &str {
        match self {
            StepError::InvalidConfig(message)
            | StepError::NotFound(message)
            | StepError::Denied(message)
            | StepError::UpstreamFailure(message)
            | StepError::Internal(message) => message,
        }
    }

    /// Returns whether this is a [`StepError::NotFound`] error, the case an
    /// action most often handles instead of passing on.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StepError::NotFound(_))
    }
}

/// Formats as `<kind>: <message>`, for example
/// `not-found: no user with login id "ada@example.com"`.
impl fmt::Display for StepError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for StepError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_matches_wit_case_names() {
        let cases = [
            (StepError::invalid_config("x"), "invalid-config"),
            (StepError::not_found("x"), "not-found"),
            (StepError::denied("x"), "denied"),
            (StepError::upstream_failure("x"), "upstream-failure"),
            (StepError::internal("x"), "internal"),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind);
        }
    }

    #[test]
    fn display_shows_kind_and_message() {
        let error = StepError::not_found("no user with id \"U1\"");

        assert_eq!(error.to_string(), "not-found: no user with id \"U1\"");
        assert_eq!(error.message(), "no user with id \"U1\"");
    }
}
