//! Templates: JSON values whose strings may contain `{{ path }}` expressions
//! that read the flow context.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::path::ContextPath;

/// A JSON value with its `{{ path }}` expressions parsed, ready to render.
///
/// Object keys are never templates: only string values are scanned.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueTemplate {
    /// A value with no expression anywhere inside; renders to a copy of itself.
    Literal(Value),
    /// A string that is exactly one expression, with optional whitespace
    /// around it. Renders to the value at the path with its JSON type, or
    /// `null` when the path is missing.
    Expression(ContextPath),
    /// A string with text around or between expressions. Renders to a string.
    Text(Vec<TextPart>),
    /// An object with at least one expression among its values.
    Object(Vec<(String, ValueTemplate)>),
    /// An array with at least one expression among its items.
    Array(Vec<ValueTemplate>),
}

/// A piece of a [`ValueTemplate::Text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextPart {
    /// Text copied as it is.
    Text(Box<str>),
    /// An expression replaced by the value at its path, as text.
    Expression(ContextPath),
}

/// An invalid `{{ ... }}` expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", location_prefix(.location))]
pub struct TemplateError {
    /// Location of the string inside the parsed value, such as
    /// `.customAttributes.plan` or `[0]`; empty for the value itself.
    pub location: String,
    /// Description of the problem, naming the expression.
    pub message: String,
    /// Change that fixes the expression.
    pub fix: String,
}

fn location_prefix(location: &str) -> String {
    if location.is_empty() {
        String::new()
    } else {
        format!("at {location}: ")
    }
}

impl TemplateError {
    pub(crate) fn new(message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            location: String::new(),
            message: message.into(),
            fix: fix.into(),
        }
    }
}

impl ValueTemplate {
    /// Parses every string inside `value` as a template.
    ///
    /// # Errors
    ///
    /// Returns the first invalid expression in document order; use the
    /// flow validation to see all of them.
    pub fn parse(value: &Value) -> Result<Self, TemplateError> {
        let mut errors = Vec::new();
        let template = Self::parse_collecting(value, &mut String::new(), &mut errors);
        match errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(template),
        }
    }

    /// Parses like [`ValueTemplate::parse`] but pushes every error to
    /// `errors`. A string with an error becomes a literal so parsing goes on.
    /// `location` is the location of `value` and is restored on return.
    pub(crate) fn parse_collecting(
        value: &Value,
        location: &mut String,
        errors: &mut Vec<TemplateError>,
    ) -> Self {
        match value {
            Value::String(text) => match parse_text(text) {
                Ok(Some(template)) => template,
                Ok(None) => Self::Literal(value.clone()),
                Err(mut error) => {
                    error.location.clone_from(location);
                    errors.push(error);
                    Self::Literal(value.clone())
                }
            },
            Value::Array(items) => {
                let length = location.len();
                let mut templates = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    // Writing to a String cannot fail.
                    let _ = write!(location, "[{index}]");
                    templates.push(Self::parse_collecting(item, location, errors));
                    location.truncate(length);
                }
                if templates.iter().all(Self::is_literal) {
                    Self::Literal(value.clone())
                } else {
                    Self::Array(templates)
                }
            }
            Value::Object(map) => {
                let length = location.len();
                let mut entries = Vec::with_capacity(map.len());
                for (key, member) in map {
                    push_key(location, key);
                    entries.push((
                        key.clone(),
                        Self::parse_collecting(member, location, errors),
                    ));
                    location.truncate(length);
                }
                if entries.iter().all(|(_, template)| template.is_literal()) {
                    Self::Literal(value.clone())
                } else {
                    Self::Object(entries)
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => Self::Literal(value.clone()),
        }
    }

    /// Renders the template against the flow context.
    ///
    /// A whole-string expression keeps the JSON type of the value it reads
    /// (`null` when missing). Text with expressions becomes a string in which
    /// strings appear raw, numbers and booleans as JSON text, objects and
    /// arrays as compact JSON, and `null` or missing values as nothing.
    pub fn render(&self, context: &Value) -> Value {
        match self {
            Self::Literal(value) => value.clone(),
            Self::Expression(path) => path.get(context).cloned().unwrap_or(Value::Null),
            Self::Text(parts) => Value::String(render_text(parts, context)),
            Self::Object(entries) => {
                let mut map = Map::new();
                for (key, template) in entries {
                    map.insert(key.clone(), template.render(context));
                }
                Value::Object(map)
            }
            Self::Array(items) => {
                Value::Array(items.iter().map(|item| item.render(context)).collect())
            }
        }
    }

    /// Returns whether the template contains no expression, so that rendering
    /// returns the same value for every context.
    pub fn is_literal(&self) -> bool {
        matches!(self, Self::Literal(_))
    }

    /// Returns the value when the template is a literal.
    pub fn as_literal(&self) -> Option<&Value> {
        match self {
            Self::Literal(value) => Some(value),
            _ => None,
        }
    }

    /// Calls `visit` with the location and path of every expression, in
    /// document order. Locations have the form of [`TemplateError::location`].
    pub fn visit_paths(&self, visit: &mut dyn FnMut(&str, &ContextPath)) {
        self.visit_paths_at(&mut String::new(), visit);
    }

    fn visit_paths_at(&self, location: &mut String, visit: &mut dyn FnMut(&str, &ContextPath)) {
        let length = location.len();
        match self {
            Self::Literal(_) => {}
            Self::Expression(path) => visit(location, path),
            Self::Text(parts) => {
                for part in parts {
                    if let TextPart::Expression(path) = part {
                        visit(location, path);
                    }
                }
            }
            Self::Object(entries) => {
                for (key, template) in entries {
                    push_key(location, key);
                    template.visit_paths_at(location, visit);
                    location.truncate(length);
                }
            }
            Self::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    let _ = write!(location, "[{index}]");
                    item.visit_paths_at(location, visit);
                    location.truncate(length);
                }
            }
        }
    }
}

/// Appends `.key`, or `["key"]` when the key is not a plain name.
fn push_key(location: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if plain {
        location.push('.');
        location.push_str(key);
    } else {
        let _ = write!(location, "[{key:?}]");
    }
}

/// Parses a string; returns `None` when it contains no `{{`.
fn parse_text(text: &str) -> Result<Option<ValueTemplate>, TemplateError> {
    if !text.contains("{{") {
        return Ok(None);
    }

    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(TextPart::Text(rest[..open].into()));
        }
        let after_open = &rest[open + 2..];
        let Some(close) = after_open.find("}}") else {
            let position = text.len() - rest.len() + open;
            return Err(TemplateError::new(
                format!(
                    "the expression at character {} of {text:?} is not closed",
                    text[..position].chars().count() + 1
                ),
                "close the expression with }}",
            ));
        };
        let expression = after_open[..close].trim();
        let path = ContextPath::parse(expression).map_err(|mut error| {
            if expression.is_empty() {
                error.message = format!("{text:?} contains an empty expression {{{{}}}}");
            }
            error
        })?;
        parts.push(TextPart::Expression(path));
        rest = &after_open[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(TextPart::Text(rest.into()));
    }

    let mut expressions = parts
        .iter()
        .filter(|part| matches!(part, TextPart::Expression(_)));
    let single = expressions.next().filter(|_| expressions.next().is_none());
    let only_whitespace = parts.iter().all(|part| match part {
        TextPart::Text(text) => text.trim().is_empty(),
        TextPart::Expression(_) => true,
    });
    if let (Some(TextPart::Expression(path)), true) = (single, only_whitespace) {
        return Ok(Some(ValueTemplate::Expression(path.clone())));
    }
    Ok(Some(ValueTemplate::Text(parts)))
}

fn render_text(parts: &[TextPart], context: &Value) -> String {
    let capacity = parts
        .iter()
        .map(|part| match part {
            TextPart::Text(text) => text.len(),
            TextPart::Expression(_) => 16,
        })
        .sum();
    let mut out = String::with_capacity(capacity);
    for part in parts {
        match part {
            TextPart::Text(text) => out.push_str(text),
            TextPart::Expression(path) => match path.get(context) {
                None | Some(Value::Null) => {}
                Some(Value::String(text)) => out.push_str(text),
                Some(Value::Bool(flag)) => out.push_str(if *flag { "true" } else { "false" }),
                // Writing to a String cannot fail. `Value`'s Display is compact JSON.
                Some(Value::Number(number)) => {
                    let _ = write!(out, "{number}");
                }
                Some(other) => {
                    let _ = write!(out, "{other}");
                }
            },
        }
    }
    out
}
