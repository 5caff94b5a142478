//! Validation problems and their order.

use std::fmt;

use serde::Serialize;

/// One thing wrong with a flow document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// Id of the step the problem is in, when the step has a usable id.
    pub step: Option<String>,
    /// JSON path of the field, such as `next.success` or `config.all[0].value`.
    /// Relative to the step when `step` is set, otherwise from the document
    /// root (`start`, `steps[3].id`). Empty when the problem concerns the
    /// whole step or the whole flow.
    pub location: String,
    /// Description of the problem, naming the value involved.
    pub message: String,
    /// Change that fixes the problem.
    pub fix: String,
}

impl fmt::Display for Problem {
    /// Writes one line: `step "tag", next.success: <message>. Fix: <fix>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.step, self.location.as_str()) {
            (Some(step), "") => write!(f, "step {step:?}")?,
            (Some(step), location) => write!(f, "step {step:?}, {location}")?,
            (None, "") => f.write_str("flow")?,
            (None, location) => f.write_str(location)?,
        }
        write!(f, ": {}. Fix: {}", self.message, self.fix)
    }
}

/// Formats problems one per line, each line ending with a newline.
pub fn format_problems(problems: &[Problem]) -> String {
    let mut out = String::new();
    for problem in problems {
        out.push_str(&problem.to_string());
        out.push('\n');
    }
    out
}

/// Which part of the document a problem belongs to, for sorting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Part {
    /// A top-level field.
    Document,
    /// The step at this index in `steps`.
    Step(usize),
    /// The flow as a whole, such as "no End step is reachable".
    Graph,
}

/// Top-level fields in the order the docs present them.
const DOCUMENT_FIELDS: [&str; 9] = [
    "$schema",
    "id",
    "name",
    "description",
    "type",
    "version",
    "trigger",
    "start",
    "steps",
];

/// Step fields in the order the docs present them. The empty name is
/// the whole step, and fields not listed sort last.
const STEP_FIELDS: [&str; 13] = [
    "",
    "id",
    "kind",
    "screen",
    "form",
    "component",
    "config",
    "contextKey",
    "onError",
    "next",
    "outputs",
    "limits",
    "retry",
];

/// Problems in the order they were found, with the key that sorts them into
/// document order.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    entries: Vec<((Part, usize), Problem)>,
}

impl Problems {
    /// Adds a problem. `field` is the location relative to `part` and decides
    /// the order inside it.
    pub(crate) fn push(&mut self, part: Part, field: &str, problem: Problem) {
        let first = field.split(['.', '[']).next().unwrap_or_default();
        let order = match part {
            Part::Document => DOCUMENT_FIELDS.iter().position(|name| *name == first),
            Part::Step(_) => STEP_FIELDS.iter().position(|name| *name == first),
            Part::Graph => Some(0),
        };
        self.entries
            .push(((part, order.unwrap_or(usize::MAX)), problem));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Returns the problems in document order. Problems at the same field
    /// keep the order in which they were found.
    pub(crate) fn into_sorted(mut self) -> Vec<Problem> {
        self.entries.sort_by_key(|(key, _)| *key);
        self.entries
            .into_iter()
            .map(|(_, problem)| problem)
            .collect()
    }
}
