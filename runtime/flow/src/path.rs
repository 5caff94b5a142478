//! Context paths: dotted keys with `[n]` indexes, such as
//! `actions.lookup.items[0].id`.

use std::fmt;

use serde_json::Value;

use crate::suggest::closest;
use crate::template::TemplateError;

/// Namespaces at the root of the flow context.
pub const NAMESPACES: [&str; 6] = [
    "client",
    "user",
    "tenant",
    "triggeringEvent",
    "connectors",
    "actions",
];

/// One segment of a [`ContextPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Key of an object member.
    Key(Box<str>),
    /// Zero-based index into an array.
    Index(usize),
}

/// A parsed path into the flow context whose first segment is one of
/// [`NAMESPACES`].
///
/// Keys contain letters, digits, `_` and `-`; indexes are written `[n]`
/// after a key. Parsing happens once, so reading a value only walks the
/// segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextPath {
    text: Box<str>,
    segments: Box<[Segment]>,
}

impl ContextPath {
    /// Parses a path such as `user.email` or `actions.lookup.items[0].id`.
    ///
    /// # Errors
    ///
    /// Returns a [`TemplateError`] with an empty location when the path is
    /// empty, has an empty segment, an invalid character or index, or starts
    /// with a name that is not a namespace.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        if text.is_empty() {
            return Err(TemplateError::new(
                "the expression is empty",
                "write a context path between the braces, such as {{user.email}}, or remove the braces",
            ));
        }

        let mut segments = Vec::new();
        for part in text.split('.') {
            parse_part(text, part, &mut segments)?;
        }

        let Some(Segment::Key(namespace)) = segments.first() else {
            return Err(TemplateError::new(
                format!("the path {text:?} does not start with a namespace"),
                namespace_fix(""),
            ));
        };
        if !NAMESPACES.contains(&&**namespace) {
            return Err(TemplateError::new(
                format!("{namespace:?} in {text:?} is not a context namespace"),
                namespace_fix(namespace),
            ));
        }

        Ok(Self {
            text: text.into(),
            segments: segments.into(),
        })
    }

    /// Returns the value at this path, or `None` when a key or index along
    /// the way is missing or the value there has the wrong shape.
    pub fn get<'a>(&self, context: &'a Value) -> Option<&'a Value> {
        let mut current = context;
        for segment in &self.segments {
            current = match (segment, current) {
                (Segment::Key(key), Value::Object(map)) => map.get(&**key)?,
                (Segment::Index(index), Value::Array(items)) => items.get(*index)?,
                _ => return None,
            };
        }
        Some(current)
    }

    /// Returns the path as written, without surrounding whitespace.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Returns the segments; the first one is always a namespace key.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Returns the namespace, the first segment.
    pub fn namespace(&self) -> &str {
        match self.segments.first() {
            Some(Segment::Key(key)) => key,
            // `parse` rejects paths that do not start with a key.
            _ => "",
        }
    }
}

impl fmt::Display for ContextPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses one dot-separated part, a key followed by any number of `[n]`.
fn parse_part(path: &str, part: &str, segments: &mut Vec<Segment>) -> Result<(), TemplateError> {
    if part.is_empty() {
        return Err(TemplateError::new(
            format!("the path {path:?} has an empty segment"),
            "remove the extra dot, or write the missing key between the dots",
        ));
    }

    let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
    if key.is_empty() {
        return Err(TemplateError::new(
            format!("the index in {path:?} does not follow a key"),
            "write the key before the index, such as items[0]",
        ));
    }
    if let Some(bad) = key.chars().find(|&c| !is_key_char(c)) {
        return Err(TemplateError::new(
            format!("the path {path:?} contains the invalid character {bad:?}"),
            "use only letters, digits, _ and - in keys, . between keys and [n] for indexes; \
             filters and expressions are not supported",
        ));
    }
    segments.push(Segment::Key(key.into()));

    while !rest.is_empty() {
        let index = rest
            .strip_prefix('[')
            .and_then(|after| after.split_once(']'))
            .and_then(|(digits, after)| Some((parse_index(digits)?, after)));
        let Some((index, after)) = index else {
            return Err(TemplateError::new(
                format!("the path {path:?} has an invalid index after {key:?}"),
                "write an index as a non-negative integer in brackets, such as items[0]",
            ));
        };
        segments.push(Segment::Index(index));
        rest = after;
    }
    Ok(())
}

fn parse_index(digits: &str) -> Option<usize> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Returns whether `text` can be a key of a [`ContextPath`]: not empty, and
/// only letters, digits, `_` and `-`.
pub(crate) fn is_key(text: &str) -> bool {
    !text.is_empty() && text.chars().all(is_key_char)
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

fn namespace_fix(found: &str) -> String {
    let mut fix = format!("start the path with one of: {}", NAMESPACES.join(", "));
    if let Some(close) = closest(found, NAMESPACES).first() {
        fix = format!("did you mean {close:?}? Otherwise {fix}");
    }
    fix
}

/// Returns the value at a dotted `path` with optional `[n]` indexes, such as
/// `user.email` or `actions.lookup.items[0].id`.
///
/// Unlike [`ContextPath`], this accepts any key text without `.` or `[` and
/// any first segment. It returns `None` when the path is empty or malformed,
/// or when a key or index is missing. A numeric key (`items.0`) reads an
/// object member named `0`, never an array element.
pub fn lookup<'a>(context: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return None;
    }

    let mut current = context;
    for part in path.split('.') {
        let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        if key.is_empty() {
            return None;
        }
        current = current.as_object()?.get(key)?;

        while !rest.is_empty() {
            let (digits, after) = rest.strip_prefix('[')?.split_once(']')?;
            current = current.as_array()?.get(parse_index(digits)?)?;
            rest = after;
        }
    }
    Some(current)
}
