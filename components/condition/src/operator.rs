//! Predicate operators and how each compares a context value.

use regex::Regex;
use serde_json::Value;

/// A comparison between a context value (the *actual* value, absent when
/// the key path leads nowhere) and the predicate's `value`.
///
/// Values of different JSON types compare loosely where templates make that
/// common: a number equals a string that parses as the same number, and a
/// boolean equals the string `"true"` or `"false"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `equals`: the values are equal. An absent value equals `null`.
    Equals,
    /// `not-equals`: the negation of `equals`.
    NotEquals,
    /// `contains`: a string contains the text, or an array contains an
    /// element equal to the value.
    Contains,
    /// `starts-with`: a string starts with the text.
    StartsWith,
    /// `ends-with`: a string ends with the text.
    EndsWith,
    /// `matches`: a string matches the regular expression, in the syntax
    /// of the `regex` crate. The match may be anywhere unless anchored.
    /// Unicode `\w`, `\d`, `\s` and `(?i)` work, but Unicode properties
    /// such as `\p{L}` are not compiled in, to keep the component small.
    Matches,
    /// `greater-than`: both values are numbers or numeric strings, and the
    /// actual one is greater.
    GreaterThan,
    /// `greater-than-or-equal`.
    GreaterThanOrEqual,
    /// `less-than`.
    LessThan,
    /// `less-than-or-equal`.
    LessThanOrEqual,
    /// `is-empty`: absent, `null`, `""`, `[]` or `{}`.
    IsEmpty,
    /// `is-not-empty`: the negation of `is-empty`.
    IsNotEmpty,
    /// `is-true`: `true` or the string `"true"` in any case.
    IsTrue,
    /// `is-false`: `false` or the string `"false"` in any case.
    IsFalse,
    /// `exists`: present and not `null`.
    Exists,
    /// `in`: equal to an element of the value, which must be an array.
    In,
    /// `in-domain`: a URL or host name whose host is one of the domains in
    /// the value (an array of host names) or a subdomain of one, ignoring
    /// ASCII case. `https://app.example.com/cb` is in `["example.com"]`;
    /// `https://badexample.com` is not. A port and user information are
    /// ignored, and an IPv6 host is compared without its brackets.
    InDomain,
}

/// The predicate's `value`, checked and prepared for its operator.
#[derive(Debug)]
pub enum Operand {
    /// The operator takes no value.
    None,
    /// Any JSON value.
    Json(Value),
    /// Text for the string operators.
    Text(String),
    /// A compiled regular expression.
    Pattern(Regex),
    /// A number for the comparisons.
    Number(f64),
    /// The candidates of `in`.
    List(Vec<Value>),
}

impl Operator {
    /// Every operator name, in documentation order.
    pub const NAMES: [&'static str; 17] = [
        "equals",
        "not-equals",
        "contains",
        "starts-with",
        "ends-with",
        "matches",
        "greater-than",
        "greater-than-or-equal",
        "less-than",
        "less-than-or-equal",
        "is-empty",
        "is-not-empty",
        "is-true",
        "is-false",
        "exists",
        "in",
        "in-domain",
    ];

    /// Returns the operator with this name, as listed in [`Operator::NAMES`].
    pub fn from_name(name: &str) -> Option<Operator> {
        let operator = match name {
            "equals" => Operator::Equals,
            "not-equals" => Operator::NotEquals,
            "contains" => Operator::Contains,
            "starts-with" => Operator::StartsWith,
            "ends-with" => Operator::EndsWith,
            "matches" => Operator::Matches,
            "greater-than" => Operator::GreaterThan,
            "greater-than-or-equal" => Operator::GreaterThanOrEqual,
            "less-than" => Operator::LessThan,
            "less-than-or-equal" => Operator::LessThanOrEqual,
            "is-empty" => Operator::IsEmpty,
            "is-not-empty" => Operator::IsNotEmpty,
            "is-true" => Operator::IsTrue,
            "is-false" => Operator::IsFalse,
            "exists" => Operator::Exists,
            "in" => Operator::In,
            "in-domain" => Operator::InDomain,
            _ => return None,
        };
        Some(operator)
    }

    /// Checks the predicate's `value` for this operator.
    ///
    /// # Errors
    ///
    /// Returns what is wrong with the value, for the caller to put in an
    /// `invalid-config` error.
    pub fn check_operand(self, value: Option<&Value>) -> Result<Operand, String> {
        use Operator::*;
        match self {
            IsEmpty | IsNotEmpty | IsTrue | IsFalse | Exists => Ok(Operand::None),
            Equals | NotEquals | Contains => value
                .cloned()
                .map(Operand::Json)
                .ok_or_else(|| "missing; this operator compares against a value".to_string()),
            StartsWith | EndsWith => match value {
                Some(Value::String(text)) => Ok(Operand::Text(text.clone())),
                Some(Value::Number(number)) => Ok(Operand::Text(number.to_string())),
                _ => Err("expected a string".to_string()),
            },
            Matches => match value {
                Some(Value::String(pattern)) => Regex::new(pattern)
                    .map(Operand::Pattern)
                    .map_err(|error| format!("invalid regular expression \"{pattern}\": {error}")),
                _ => Err("expected a regular expression string".to_string()),
            },
            GreaterThan | GreaterThanOrEqual | LessThan | LessThanOrEqual => value
                .and_then(as_number)
                .map(Operand::Number)
                .ok_or_else(|| "expected a number or a numeric string".to_string()),
            In => match value {
                Some(Value::Array(items)) => Ok(Operand::List(items.clone())),
                _ => Err("expected an array of candidate values".to_string()),
            },
            InDomain => match value {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| match item {
                        Value::String(domain) if !domain.is_empty() && !domain.contains(['/', ':', '@']) => {
                            Ok(Value::String(domain.trim_end_matches('.').to_ascii_lowercase()))
                        }
                        _ => Err(format!("{item} is not a host name such as \"example.com\"")),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Operand::List),
                _ => Err("expected an array of host names such as [\"example.com\"]".to_string()),
            },
        }
    }

    /// Applies the operator to the actual value, `None` when the key path
    /// leads nowhere.
    pub fn apply(self, actual: Option<&Value>, operand: &Operand) -> bool {
        use Operator::*;
        match (self, operand) {
            (Equals, Operand::Json(expected)) => {
                loosely_equal(actual.unwrap_or(&Value::Null), expected)
            }
            (NotEquals, Operand::Json(expected)) => {
                !loosely_equal(actual.unwrap_or(&Value::Null), expected)
            }
            (Contains, Operand::Json(expected)) => contains(actual, expected),
            (StartsWith, Operand::Text(text)) => {
                as_text(actual).is_some_and(|actual| actual.starts_with(text.as_str()))
            }
            (EndsWith, Operand::Text(text)) => {
                as_text(actual).is_some_and(|actual| actual.ends_with(text.as_str()))
            }
            (Matches, Operand::Pattern(pattern)) => {
                as_text(actual).is_some_and(|actual| pattern.is_match(&actual))
            }
            (GreaterThan, Operand::Number(bound)) => actual
                .and_then(as_number)
                .is_some_and(|number| number > *bound),
            (GreaterThanOrEqual, Operand::Number(bound)) => actual
                .and_then(as_number)
                .is_some_and(|number| number >= *bound),
            (LessThan, Operand::Number(bound)) => actual
                .and_then(as_number)
                .is_some_and(|number| number < *bound),
            (LessThanOrEqual, Operand::Number(bound)) => actual
                .and_then(as_number)
                .is_some_and(|number| number <= *bound),
            (IsEmpty, _) => is_empty(actual),
            (IsNotEmpty, _) => !is_empty(actual),
            (IsTrue, _) => as_bool(actual) == Some(true),
            (IsFalse, _) => as_bool(actual) == Some(false),
            (Exists, _) => actual.is_some_and(|value| !value.is_null()),
            (In, Operand::List(candidates)) => {
                let actual = actual.unwrap_or(&Value::Null);
                candidates
                    .iter()
                    .any(|candidate| loosely_equal(actual, candidate))
            }
            (InDomain, Operand::List(domains)) => {
                let Some(host) = as_text(actual).as_deref().and_then(host_of) else {
                    return false;
                };
                domains.iter().filter_map(Value::as_str).any(|domain| {
                    host == domain || host.strip_suffix(domain).is_some_and(|rest| rest.ends_with('.'))
                })
            }
            // `check_operand` pairs every operator with its operand kind.
            _ => false,
        }
    }
}

/// Returns the lowercase host of a URL (`scheme://[user@]host[:port]/...`)
/// or of a bare host name, or `None` when there is none.
fn host_of(text: &str) -> Option<String> {
    let rest = match text.split_once("://") {
        Some((_, rest)) => rest,
        None => text,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_and_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = if let Some(bracketed) = host_and_port.strip_prefix('[') {
        bracketed.split_once(']')?.0
    } else {
        host_and_port.split(':').next().unwrap_or_default()
    };
    let host = host.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Reads a number or a numeric string. Non-finite values are not numbers.
fn as_number(value: &Value) -> Option<f64> {
    let number = match value {
        Value::Number(number) => number.as_f64()?,
        Value::String(text) => text.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    number.is_finite().then_some(number)
}

/// Reads a string, or a number as its decimal text.
fn as_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn as_bool(value: Option<&Value>) -> Option<bool> {
    match value? {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Some(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn is_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(text)) => text.is_empty(),
        Some(Value::Array(items)) => items.is_empty(),
        Some(Value::Object(fields)) => fields.is_empty(),
        Some(Value::Bool(_) | Value::Number(_)) => false,
    }
}

fn loosely_equal(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(_), Value::Number(_))
        | (Value::Number(_), Value::String(_))
        | (Value::String(_), Value::Number(_)) => match (as_number(actual), as_number(expected)) {
            (Some(left), Some(right)) => left == right,
            _ => false,
        },
        (Value::Bool(_), Value::String(_)) | (Value::String(_), Value::Bool(_)) => {
            as_bool(Some(actual)).is_some() && as_bool(Some(actual)) == as_bool(Some(expected))
        }
        _ => actual == expected,
    }
}

fn contains(actual: Option<&Value>, expected: &Value) -> bool {
    match actual {
        Some(Value::String(text)) => match expected {
            Value::String(needle) => text.contains(needle.as_str()),
            Value::Number(number) => text.contains(&number.to_string()),
            _ => false,
        },
        Some(Value::Array(items)) => items.iter().any(|item| loosely_equal(item, expected)),
        _ => false,
    }
}
