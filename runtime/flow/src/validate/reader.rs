//! Typed reads of JSON fields that report a problem for each wrong value.

use serde_json::{Map, Value};

use crate::model::describe;
use crate::problem::{Part, Problem, Problems};
use crate::suggest::closest;

/// Reports problems for one part of the document: the top level, one step or
/// the flow as a whole.
pub(super) struct Reporter<'p> {
    problems: &'p mut Problems,
    part: Part,
    /// Step id used in messages; `None` at the top level and for steps
    /// without a usable id, whose locations then start at `steps[n]`.
    step: Option<String>,
}

impl<'p> Reporter<'p> {
    pub(super) fn new(problems: &'p mut Problems, part: Part, step: Option<&str>) -> Self {
        Self {
            problems,
            part,
            step: step.map(str::to_owned),
        }
    }

    /// Adds a problem at `field`, a location relative to this part.
    pub(super) fn report(
        &mut self,
        field: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let location = match (&self.step, self.part) {
            (None, Part::Step(index)) if field.is_empty() => format!("steps[{index}]"),
            (None, Part::Step(index)) if field.starts_with('[') => format!("steps[{index}]{field}"),
            (None, Part::Step(index)) => format!("steps[{index}].{field}"),
            _ => field.to_owned(),
        };
        let problem = Problem {
            step: self.step.clone(),
            location,
            message: message.into(),
            fix: fix.into(),
        };
        self.problems.push(self.part, field, problem);
    }

    /// Reports a required field that is absent.
    pub(super) fn missing(&mut self, field: &str, fix: impl Into<String>) {
        self.report(field, "required field is missing", fix);
    }

    /// Reports a field that this step or object does not take.
    pub(super) fn not_allowed(&mut self, field: &str, reason: &str) {
        self.report(field, reason, format!("remove {field}"));
    }

    /// Reports every key of `map` not in `allowed` or `skip`. `prefix` is
    /// the location of `map`, empty for the part itself.
    pub(super) fn unknown_fields(
        &mut self,
        map: &Map<String, Value>,
        prefix: &str,
        allowed: &[&str],
        skip: &[&str],
    ) {
        for key in map.keys() {
            if allowed.contains(&key.as_str()) || skip.contains(&key.as_str()) {
                continue;
            }
            let fix = match closest(key, allowed.iter().copied()).first() {
                Some(close) => format!("did you mean {close:?}? Otherwise remove it"),
                None => format!("remove it; the fields here are: {}", allowed.join(", ")),
            };
            self.report(&member(prefix, key), format!("unknown field {key:?}"), fix);
        }
    }

    /// Reads a string; reports a value of another type.
    pub(super) fn string<'v>(
        &mut self,
        value: &'v Value,
        field: &str,
        example: &str,
    ) -> Option<&'v str> {
        match value {
            Value::String(text) => Some(text),
            other => {
                self.wrong_type(
                    field,
                    "a string",
                    other,
                    &format!("write it in quotes, such as {example:?}"),
                );
                None
            }
        }
    }

    /// Reads a non-empty string; reports an empty one or another type.
    pub(super) fn non_empty_string<'v>(
        &mut self,
        value: &'v Value,
        field: &str,
        example: &str,
    ) -> Option<&'v str> {
        let text = self.string(value, field, example)?;
        if text.trim().is_empty() {
            self.report(
                field,
                "must not be empty",
                format!("write a value such as {example:?}"),
            );
            return None;
        }
        Some(text)
    }

    /// Reads a boolean.
    pub(super) fn boolean(&mut self, value: &Value, field: &str) -> Option<bool> {
        match value {
            Value::Bool(flag) => Some(*flag),
            other => {
                self.wrong_type(
                    field,
                    "a boolean",
                    other,
                    "write true or false without quotes",
                );
                None
            }
        }
    }

    /// Reads an integer between `min` and `max`, inclusive.
    pub(super) fn integer(
        &mut self,
        value: &Value,
        field: &str,
        min: u64,
        max: u64,
        example: u64,
    ) -> Option<u64> {
        let expected = if min == 0 {
            "a non-negative integer"
        } else {
            "a positive integer"
        };
        let fix = format!("write a whole number without quotes, such as {example}");
        match value.as_u64() {
            Some(number) if number < min => {
                self.report(field, format!("expected {expected}, found {number}"), fix);
                None
            }
            Some(number) if number > max => {
                self.report(
                    field,
                    format!("{number} is too large: the maximum is {max}"),
                    fix,
                );
                None
            }
            Some(number) => Some(number),
            None => {
                self.wrong_type(field, expected, value, &fix);
                None
            }
        }
    }

    /// Reads an object.
    pub(super) fn object<'v>(
        &mut self,
        value: &'v Value,
        field: &str,
        fix: &str,
    ) -> Option<&'v Map<String, Value>> {
        match value {
            Value::Object(map) => Some(map),
            other => {
                self.wrong_type(field, "an object", other, fix);
                None
            }
        }
    }

    /// Reads an array.
    pub(super) fn array<'v>(
        &mut self,
        value: &'v Value,
        field: &str,
        fix: &str,
    ) -> Option<&'v Vec<Value>> {
        match value {
            Value::Array(items) => Some(items),
            other => {
                self.wrong_type(field, "an array", other, fix);
                None
            }
        }
    }

    fn wrong_type(&mut self, field: &str, expected: &str, found: &Value, fix: &str) {
        self.report(
            field,
            format!("expected {expected}, found {}", describe(found)),
            fix,
        );
    }
}

/// Returns the location of member `key` inside `prefix`: `prefix.key`, or
/// `prefix["key"]` when the key is not a plain name.
pub(super) fn member(prefix: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    match (prefix.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{prefix}.{key}"),
        (_, false) => format!("{prefix}[{key:?}]"),
    }
}
