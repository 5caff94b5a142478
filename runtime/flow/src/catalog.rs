//! Component references and the catalog that resolves them.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The WIT world a component implements, which fixes the step kinds it can
/// serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// `sluice:flow/action`: reads and changes identity data.
    Action,
    /// `sluice:flow/connector`: calls outside systems over HTTP.
    Connector,
    /// `sluice:flow/condition`: picks a branch.
    Condition,
}

impl World {
    /// Returns the world name as written in WIT and in flow documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Action => "action",
            Self::Connector => "connector",
            Self::Condition => "condition",
        }
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for World {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "action" => Ok(Self::Action),
            "connector" => Ok(Self::Connector),
            "condition" => Ok(Self::Condition),
            other => Err(format!(
                "unknown world {other:?}: expected action, connector or condition"
            )),
        }
    }
}

/// Components installed in the host, which flows may reference.
pub trait ComponentCatalog {
    /// Returns the world of the component named by `reference`, or `None`
    /// when no such component exists. `file:` references are relative to the
    /// flow file; resolving them is up to the implementation.
    fn world(&self, reference: &str) -> Option<World>;

    /// Returns every reference the catalog resolves, used to suggest close
    /// names for unknown ones.
    fn references(&self) -> Vec<String>;
}

/// Checks the form of a component reference: `builtin:<name>`,
/// `<publisher>/<name>@<semver>` or `file:<path>`.
///
/// Returns what is wrong, for a validation message.
pub fn check_reference(reference: &str) -> Result<(), String> {
    if let Some(name) = reference.strip_prefix("builtin:") {
        return if is_name(name) {
            Ok(())
        } else {
            Err(format!(
                "built-in component name {name:?} is invalid: names use lowercase letters, digits and -"
            ))
        };
    }
    if let Some(path) = reference.strip_prefix("file:") {
        return if path.trim().is_empty() {
            Err("the file: reference has no path".to_owned())
        } else {
            Ok(())
        };
    }

    let Some((publisher, rest)) = reference.split_once('/') else {
        return Err(format!("{reference:?} is not a component reference"));
    };
    let Some((name, version)) = rest.split_once('@') else {
        return Err(format!(
            "{reference:?} has no version: write <publisher>/<name>@<version>"
        ));
    };
    if !is_name(publisher) {
        return Err(format!(
            "publisher {publisher:?} is invalid: names use lowercase letters, digits and -"
        ));
    }
    if !is_name(name) {
        return Err(format!(
            "component name {name:?} is invalid: names use lowercase letters, digits and -"
        ));
    }
    if !is_semver(version) {
        return Err(format!(
            "version {version:?} is not a semantic version such as 1.2.0"
        ));
    }
    Ok(())
}

fn is_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Accepts `MAJOR.MINOR.PATCH` with an optional `-pre-release` and
/// `+build` suffix, as in Semantic Versioning 2.0.0.
fn is_semver(version: &str) -> bool {
    let (version, build) = match version.split_once('+') {
        Some((version, build)) => (version, Some(build)),
        None => (version, None),
    };
    let (core, pre_release) = match version.split_once('-') {
        Some((core, pre_release)) => (core, Some(pre_release)),
        None => (version, None),
    };

    let numbers: Vec<&str> = core.split('.').collect();
    let core_valid = numbers.len() == 3
        && numbers.iter().all(|number| {
            !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
                && (number.len() == 1 || !number.starts_with('0'))
        });
    let identifiers_valid = |text: Option<&str>| {
        text.is_none_or(|text| {
            text.split('.').all(|identifier| {
                !identifier.is_empty()
                    && identifier
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        })
    };
    core_valid && identifiers_valid(pre_release) && identifiers_valid(build)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_forms_accepted() {
        for reference in [
            "builtin:load-user",
            "acme/slack@1.2.0",
            "acme/slack@1.2.0-beta.1+build.5",
            "file:./components/check.wasm",
        ] {
            assert_eq!(check_reference(reference), Ok(()), "{reference}");
        }
    }

    #[test]
    fn reference_forms_rejected() {
        for reference in [
            "builtin:",
            "builtin:Load_User",
            "file:",
            "slack",
            "acme/slack",
            "acme/slack@1.2",
            "acme/slack@01.2.0",
            "Acme/slack@1.2.0",
            "acme/@1.0.0",
        ] {
            assert!(check_reference(reference).is_err(), "{reference}");
        }
    }
}
