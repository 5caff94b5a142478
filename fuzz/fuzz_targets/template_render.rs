//! Fuzzes the `{{ path }}` template language: `ValueTemplate::parse`,
//! `ValueTemplate::render` and `ContextPath::parse`.
//!
//! Input: template text, then optionally a NUL byte and a JSON context. When
//! the template text is JSON it is parsed as a template value, otherwise as
//! one template string. Checks, besides the absence of panics:
//! - a value without `{{` is a literal that renders to itself;
//! - rendering keeps the keys of objects and the length of arrays;
//! - every parsed path parses again from its text to the same path;
//! - against an empty context, text renders to its literal parts joined.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use sluice_flow::{ContextPath, NAMESPACES, TextPart, ValueTemplate};
use sluice_fuzz::{sample_context, split_at_nul};

fuzz_target!(|data: &[u8]| {
    let (template_bytes, context_bytes) = split_at_nul(data);
    let Ok(template_text) = std::str::from_utf8(template_bytes) else {
        return;
    };
    let context = context_bytes
        .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok())
        .unwrap_or_else(sample_context);

    check_path(template_text.trim());
    check_value(&Value::String(template_text.to_owned()), &context);
    if let Ok(value) = serde_json::from_str::<Value>(template_text) {
        check_value(&value, &context);
    }
});

/// Checks `ContextPath::parse` on the text as a whole.
fn check_path(text: &str) {
    let Ok(path) = ContextPath::parse(text) else {
        return;
    };
    assert_eq!(path.as_str(), text);
    assert!(NAMESPACES.contains(&path.namespace()), "namespace {:?}", path.namespace());
    assert_eq!(ContextPath::parse(path.as_str()).as_ref(), Ok(&path));
}

fn check_value(value: &Value, context: &Value) {
    let template = match ValueTemplate::parse(value) {
        Ok(template) => template,
        Err(error) => {
            assert!(contains_braces(value), "{value} has no {{{{ but failed: {error}");
            assert!(!error.message.is_empty(), "error without a message");
            assert!(!error.fix.is_empty(), "error without a fix: {error}");
            return;
        }
    };

    if !contains_braces(value) {
        assert!(template.is_literal(), "{value} has no {{{{ but is not a literal");
    }
    if let Some(literal) = template.as_literal() {
        assert_eq!(literal, value);
    }

    let rendered = template.render(context);
    assert_eq!(rendered, template.render(context), "rendering is not deterministic");
    if template.is_literal() {
        assert_eq!(&rendered, value);
    }
    check_shape(value, &rendered);

    template.visit_paths(&mut |_location, path| {
        assert_eq!(ContextPath::parse(path.as_str()).as_ref(), Ok(path));
        let _ = path.get(context);
    });

    check_empty_context(&template);
}

/// Returns whether any string inside the value contains `{{`.
fn contains_braces(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains("{{"),
        Value::Array(items) => items.iter().any(contains_braces),
        Value::Object(map) => map.values().any(contains_braces),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Checks that rendering keeps object keys, array lengths and scalars that
/// are not strings.
fn check_shape(value: &Value, rendered: &Value) {
    match (value, rendered) {
        (Value::Object(source), Value::Object(output)) => {
            assert!(source.keys().eq(output.keys()), "rendering changed the keys");
            for (member, member_output) in source.values().zip(output.values()) {
                check_shape(member, member_output);
            }
        }
        (Value::Array(source), Value::Array(output)) => {
            assert_eq!(source.len(), output.len(), "rendering changed the array length");
            for (item, item_output) in source.iter().zip(output) {
                check_shape(item, item_output);
            }
        }
        // A string may render to any type when it is one whole expression.
        (Value::String(_), _) => {}
        (source, output) => assert_eq!(source, output, "rendering changed a scalar"),
    }
}

/// Against an empty context an expression renders to `null` and text to its
/// literal parts joined, because every path is missing.
fn check_empty_context(template: &ValueTemplate) {
    let empty = json!({});
    match template {
        ValueTemplate::Expression(_) => assert_eq!(template.render(&empty), Value::Null),
        ValueTemplate::Text(parts) => {
            let joined: String = parts
                .iter()
                .filter_map(|part| match part {
                    TextPart::Text(text) => Some(&**text),
                    TextPart::Expression(_) => None,
                })
                .collect();
            assert_eq!(template.render(&empty), Value::String(joined));
        }
        ValueTemplate::Object(entries) => {
            for (_, entry) in entries {
                check_empty_context(entry);
            }
        }
        ValueTemplate::Array(items) => items.iter().for_each(check_empty_context),
        ValueTemplate::Literal(_) => {}
    }
}
