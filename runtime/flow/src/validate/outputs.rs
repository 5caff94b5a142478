//! Reads the outputs of an End step and checks each value against its type.

use serde_json::Value;

use super::reader::Reporter;
use super::step::parse_template;
use crate::model::{CompiledOutput, OutputType};
use crate::template::ValueTemplate;

pub(super) fn read_outputs(
    value: Option<&Value>,
    reporter: &mut Reporter<'_>,
    reads: &mut Vec<(String, &'static str, String)>,
) -> Vec<CompiledOutput> {
    let example = "[{\"key\": \"userId\", \"type\": \"string\", \"value\": \"{{user.userId}}\"}]";
    let Some(value) = value else {
        reporter.missing(
            "outputs",
            format!("list what the run returns, such as {example}, or write [] to return nothing"),
        );
        return Vec::new();
    };
    let Some(items) = reporter.array(
        value,
        "outputs",
        &format!("write outputs as an array, such as {example}"),
    ) else {
        return Vec::new();
    };

    let mut outputs: Vec<CompiledOutput> = Vec::with_capacity(items.len());
    let mut keys: Vec<&str> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let location = format!("outputs[{index}]");
        let Some(map) = reporter.object(
            item,
            &location,
            &format!("write each output as an object, such as {example}"),
        ) else {
            continue;
        };

        let key_location = format!("{location}.key");
        let key = match map.get("key") {
            Some(value) => reporter.non_empty_string(value, &key_location, "userId"),
            None => {
                reporter.missing(&key_location, "name the output, such as \"userId\"");
                None
            }
        };
        if let Some(key) = key {
            if keys.contains(&key) {
                reporter.report(
                    &key_location,
                    format!("output key {key:?} is used twice in this step"),
                    "give each output of the step its own key",
                );
            }
            keys.push(key);
        }

        let type_location = format!("{location}.type");
        let output_type = match map.get("type") {
            Some(value) => reporter
                .string(value, &type_location, "string")
                .and_then(|name| parse_output_type(name, &type_location, reporter)),
            None => {
                reporter.missing(
                    &type_location,
                    "set type to string, number, boolean, object or array",
                );
                None
            }
        };

        let value_location = format!("{location}.value");
        let Some(value) = map.get("value") else {
            reporter.missing(
                &value_location,
                "set value to a JSON literal or a template such as \"{{user.email}}\"",
            );
            continue;
        };
        reporter.unknown_fields(map, &location, &["key", "type", "value"], &[]);
        let template = parse_template(value, &value_location, reporter, reads);
        if let Some(output_type) = output_type {
            check_output_value(output_type, value, &template, &value_location, reporter);
        }
        if let (Some(key), Some(output_type)) = (key, output_type) {
            outputs.push(CompiledOutput {
                key: key.to_owned(),
                output_type,
                value: template,
            });
        }
    }
    outputs
}

fn parse_output_type(
    name: &str,
    location: &str,
    reporter: &mut Reporter<'_>,
) -> Option<OutputType> {
    let found = OutputType::from_name(name);
    if found.is_none() {
        let names = OutputType::ALL.map(OutputType::as_str);
        reporter.report(
            location,
            format!("unknown output type {name:?}"),
            format!("use one of: {}", names.join(", ")),
        );
    }
    found
}

/// Reports a value that can never have the declared type. Whole-string
/// expressions pass because their type is known only at run time.
fn check_output_value(
    output_type: OutputType,
    value: &Value,
    template: &ValueTemplate,
    location: &str,
    reporter: &mut Reporter<'_>,
) {
    let fix = format!("write a value of type {output_type}, or change type");
    let mismatch = match template {
        ValueTemplate::Literal(literal) => output_type.coerce(literal.clone()).err(),
        ValueTemplate::Expression(_) => None,
        ValueTemplate::Text(_) => matches!(output_type, OutputType::Object | OutputType::Array)
            .then(|| format!("text with expressions always renders a string, found {value}")),
        ValueTemplate::Object(_) => (output_type != OutputType::Object)
            .then(|| output_type.coerce(Value::Object(Default::default())).err())
            .flatten(),
        ValueTemplate::Array(_) => (output_type != OutputType::Array)
            .then(|| output_type.coerce(Value::Array(Vec::new())).err())
            .flatten(),
    };
    if let Some(mismatch) = mismatch {
        let fix = match template {
            ValueTemplate::Text(_) => {
                "make the value a single expression, such as \"{{actions.<key>.<field>}}\", \
                                       or change type to string"
                    .to_owned()
            }
            _ => fix,
        };
        reporter.report(
            location,
            format!("the value does not fit type {output_type}: {mismatch}"),
            fix,
        );
    }
}
