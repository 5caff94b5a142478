//! The error of a request body that cannot be used.

use std::fmt;

/// The reason a request body was rejected. Every kind is a client error
/// (HTTP 400), and the runtime turns each into Descope's error shape with
/// its own code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// The body is not valid JSON, nests too deep, or a field has the wrong
    /// type. The message names the field when there is one.
    Malformed(String),
    /// A required field is absent or empty.
    Missing {
        /// JSON path of the field, such as `users[2].loginId`.
        field: String,
        /// Advice on the value to send, where the field's name alone is not
        /// enough.
        hint: Option<&'static str>,
    },
    /// A field has a value of the right type that the call does not allow.
    /// The message names the field and the allowed values.
    Invalid(String),
}

impl BodyError {
    /// Creates the error for a required field `field` that is absent or
    /// empty.
    pub fn missing(field: impl Into<String>) -> Self {
        Self::Missing {
            field: field.into(),
            hint: None,
        }
    }

    /// Creates the error for a required field `field` that is absent or
    /// empty, with `hint` on the value to send.
    pub fn missing_with_hint(field: impl Into<String>, hint: &'static str) -> Self {
        Self::Missing {
            field: field.into(),
            hint: Some(hint),
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(message) | Self::Invalid(message) => f.write_str(message),
            Self::Missing { field, hint: None } => write!(f, "missing required field `{field}`"),
            Self::Missing { field, hint: Some(hint) } => write!(f, "missing required field `{field}`: {hint}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// Returns `value` when it is present and not empty, or the error that
/// `field` is missing.
///
/// # Errors
///
/// [`BodyError::Missing`] naming `field` when `value` is absent or empty.
pub fn required(value: Option<String>, field: &str) -> Result<String, BodyError> {
    value.filter(|value| !value.is_empty()).ok_or_else(|| BodyError::missing(field))
}
