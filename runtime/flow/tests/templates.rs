//! Template parsing and rendering, context look-ups and output coercion.

use serde_json::{Value, json};
use sluice_flow::{OutputType, ValueTemplate, lookup};

fn context() -> Value {
    json!({
        "client": { "email": "ada@example.com", "plan": "pro", "seats": 5, "trial": false, "note": null },
        "user": {
            "userId": "U1",
            "loginIds": ["ada@example.com", "+15550100"],
            "name": "Ada Lovelace",
            "customAttributes": { "team": "Analytical Engine", "city": "Zürich" }
        },
        "tenant": { "id": "T1" },
        "triggeringEvent": { "data": { "ids": [[1, 2], [3, 4]] } },
        "actions": { "lookup": { "items": [ { "id": "crm-1" }, { "id": "crm-2" } ] } },
        "connectors": {}
    })
}

fn render(template: Value) -> Value {
    ValueTemplate::parse(&template)
        .unwrap_or_else(|error| panic!("{template} should parse: {error}"))
        .render(&context())
}

#[test]
fn whole_expression_keeps_type() {
    assert_eq!(render(json!("{{client.seats}}")), json!(5));
    assert_eq!(render(json!("{{client.trial}}")), json!(false));
    assert_eq!(
        render(json!("{{user.loginIds}}")),
        json!(["ada@example.com", "+15550100"])
    );
    assert_eq!(
        render(json!("{{user.customAttributes}}")),
        context()["user"]["customAttributes"]
    );
    assert_eq!(render(json!("{{client.email}}")), json!("ada@example.com"));
}

#[test]
fn whole_expression_allows_surrounding_whitespace() {
    assert_eq!(render(json!("  {{ client.seats }}\n")), json!(5));
}

#[test]
fn whole_expression_missing_is_null() {
    assert_eq!(render(json!("{{client.missing}}")), Value::Null);
    assert_eq!(render(json!("{{client.email.deeper}}")), Value::Null);
    assert_eq!(render(json!("{{client.note}}")), Value::Null);
}

#[test]
fn interpolation_writes_values_as_text() {
    assert_eq!(
        render(json!(
            "{{user.name}} has {{client.seats}} seats, trial {{client.trial}}"
        )),
        json!("Ada Lovelace has 5 seats, trial false")
    );
    assert_eq!(
        render(json!("ids: {{user.loginIds}}")),
        json!(r#"ids: ["ada@example.com","+15550100"]"#)
    );
    assert_eq!(
        render(json!("tenant {{tenant}}")),
        json!(r#"tenant {"id":"T1"}"#)
    );
}

#[test]
fn interpolation_of_missing_and_null_is_empty() {
    assert_eq!(render(json!("[{{client.missing}}]")), json!("[]"));
    assert_eq!(render(json!("[{{client.note}}]")), json!("[]"));
}

#[test]
fn two_expressions_without_text_interpolate() {
    assert_eq!(
        render(json!("{{client.seats}}{{client.seats}}")),
        json!("55")
    );
}

#[test]
fn indexes_read_array_items() {
    assert_eq!(
        render(json!("{{actions.lookup.items[1].id}}")),
        json!("crm-2")
    );
    assert_eq!(
        render(json!("{{triggeringEvent.data.ids[1][0]}}")),
        json!(3)
    );
    assert_eq!(render(json!("{{actions.lookup.items[9].id}}")), Value::Null);
    assert_eq!(render(json!("{{user.name[0]}}")), Value::Null);
}

#[test]
fn unicode_text_and_values_survive() {
    assert_eq!(
        render(json!("Grüße aus {{user.customAttributes.city}} ✓")),
        json!("Grüße aus Zürich ✓")
    );
    let keyed = json!({ "client": { "straße": "ok" } });
    let template = ValueTemplate::parse(&json!("{{client.straße}}")).expect("unicode key parses");
    assert_eq!(template.render(&keyed), json!("ok"));
}

#[test]
fn nested_objects_and_arrays_render() {
    let rendered = render(json!({
        "loginId": "{{client.email}}",
        "fixed": 1,
        "attributes": { "plan": "{{client.plan}}", "tags": ["vip", "{{client.seats}}", "seat {{client.seats}}"] },
        "keep": [true, null]
    }));
    assert_eq!(
        rendered,
        json!({
            "loginId": "ada@example.com",
            "fixed": 1,
            "attributes": { "plan": "pro", "tags": ["vip", 5, "seat 5"] },
            "keep": [true, null]
        })
    );
}

#[test]
fn object_keys_are_not_templates() {
    assert_eq!(
        render(json!({ "{{client.plan}}": 1 })),
        json!({ "{{client.plan}}": 1 })
    );
}

#[test]
fn values_without_expressions_are_literal() {
    for value in [
        json!({ "a": [1, "text", { "b": null }] }),
        json!("no braces"),
        json!("a } b }}"),
        json!(3),
    ] {
        let template = ValueTemplate::parse(&value).expect("literal parses");
        assert!(template.is_literal(), "{value} should be literal");
        assert_eq!(template.as_literal(), Some(&value));
    }
    let template =
        ValueTemplate::parse(&json!({ "a": ["{{user.userId}}"] })).expect("template parses");
    assert!(!template.is_literal());
}

#[test]
fn parse_errors_name_location() {
    let error = ValueTemplate::parse(&json!({ "a": { "b": ["ok", "{{user.email"] } }))
        .expect_err("unclosed");
    assert_eq!(error.location, ".a.b[1]");
    assert!(error.message.contains("is not closed"), "{}", error.message);
}

#[test]
fn parse_rejects_invalid_expressions() {
    let cases = [
        ("{{}}", "empty expression"),
        ("x {{   }} y", "empty expression"),
        ("{{user.email", "is not closed"),
        ("{{client.items[]}}", "invalid index"),
        ("{{client.items[x]}}", "invalid index"),
        ("{{client.items[-1]}}", "invalid index"),
        ("{{client.items[0}}", "invalid index"),
        ("{{client.items[0]x}}", "invalid index"),
        ("{{usr.email}}", "is not a context namespace"),
        ("{{secrets.token}}", "is not a context namespace"),
        ("{{[0]}}", "does not follow a key"),
        ("{{user.e mail}}", "invalid character"),
        ("{{user.email | upper}}", "invalid character"),
        ("{{user..email}}", "empty segment"),
        ("{{user.}}", "empty segment"),
        ("{{ {{user.email}} }}", "invalid character"),
    ];
    for (text, expected) in cases {
        let error = ValueTemplate::parse(&json!(text)).expect_err(text);
        assert!(
            error.message.contains(expected),
            "{text}: {}",
            error.message
        );
        assert!(!error.fix.is_empty(), "{text} has no fix");
    }
}

#[test]
fn unknown_namespace_suggests_close_name() {
    let error = ValueTemplate::parse(&json!("{{usr.email}}")).expect_err("unknown namespace");
    assert!(error.fix.contains("\"user\""), "{}", error.fix);
}

#[test]
fn visit_paths_reports_locations() {
    let template =
        ValueTemplate::parse(&json!({ "a": "{{user.email}}", "b": ["x {{actions.lookup.id}}"] }))
            .expect("template parses");
    let mut seen = Vec::new();
    template.visit_paths(&mut |location, path| seen.push((location.to_owned(), path.to_string())));
    assert_eq!(
        seen,
        vec![
            (".a".to_owned(), "user.email".to_owned()),
            (".b[0]".to_owned(), "actions.lookup.id".to_owned())
        ]
    );
}

#[test]
fn lookup_reads_dotted_paths() {
    let context = context();
    assert_eq!(lookup(&context, "user.userId"), Some(&json!("U1")));
    assert_eq!(
        lookup(&context, "user.loginIds[1]"),
        Some(&json!("+15550100"))
    );
    assert_eq!(
        lookup(&context, "triggeringEvent.data.ids[0][1]"),
        Some(&json!(2))
    );
    assert_eq!(
        lookup(&context, "actions.lookup.items[0].id"),
        Some(&json!("crm-1"))
    );
    assert_eq!(lookup(&context, "tenant"), Some(&json!({ "id": "T1" })));
    assert_eq!(lookup(&context, "client.note"), Some(&Value::Null));
}

#[test]
fn lookup_returns_none_for_missing_or_malformed() {
    let context = context();
    for path in [
        "",
        "user.missing",
        "user.loginIds[5]",
        "user.loginIds.0",
        "user..userId",
        "user.",
        ".user",
        "user.loginIds[x]",
        "user.loginIds[0",
        "user.loginIds[0]x",
        "user[0]",
        "[0]",
    ] {
        assert_eq!(lookup(&context, path), None, "{path:?}");
    }
}

#[test]
fn coerce_string() {
    assert_eq!(OutputType::String.coerce(json!("a")), Ok(json!("a")));
    assert_eq!(OutputType::String.coerce(json!(42)), Ok(json!("42")));
    assert_eq!(OutputType::String.coerce(json!(1.5)), Ok(json!("1.5")));
    assert_eq!(OutputType::String.coerce(json!(true)), Ok(json!("true")));
    assert_eq!(
        OutputType::String.coerce(json!({ "a": 1 })),
        Err("expected a string, found an object".to_owned())
    );
    assert_eq!(
        OutputType::String.coerce(json!([1])),
        Err("expected a string, found an array".to_owned())
    );
}

#[test]
fn coerce_number() {
    assert_eq!(OutputType::Number.coerce(json!(7)), Ok(json!(7)));
    assert_eq!(OutputType::Number.coerce(json!("42")), Ok(json!(42)));
    assert_eq!(
        OutputType::Number.coerce(json!(" -1.25 ")),
        Ok(json!(-1.25))
    );
    assert_eq!(
        OutputType::Number.coerce(json!("abc")),
        Err("expected a number, found the string \"abc\"".to_owned())
    );
    assert!(OutputType::Number.coerce(json!("")).is_err());
    assert!(OutputType::Number.coerce(json!("NaN")).is_err());
    assert!(OutputType::Number.coerce(json!("1e400")).is_err());
    assert_eq!(
        OutputType::Number.coerce(json!(true)),
        Err("expected a number, found true".to_owned())
    );
}

#[test]
fn coerce_boolean() {
    assert_eq!(OutputType::Boolean.coerce(json!(false)), Ok(json!(false)));
    assert_eq!(OutputType::Boolean.coerce(json!("true")), Ok(json!(true)));
    assert_eq!(OutputType::Boolean.coerce(json!("false")), Ok(json!(false)));
    assert_eq!(
        OutputType::Boolean.coerce(json!("yes")),
        Err("expected a boolean, found the string \"yes\"".to_owned())
    );
    assert_eq!(
        OutputType::Boolean.coerce(json!(1)),
        Err("expected a boolean, found the number 1".to_owned())
    );
}

#[test]
fn coerce_object_and_array() {
    assert_eq!(
        OutputType::Object.coerce(json!({ "a": 1 })),
        Ok(json!({ "a": 1 }))
    );
    assert_eq!(OutputType::Array.coerce(json!([1, 2])), Ok(json!([1, 2])));
    assert_eq!(
        OutputType::Object.coerce(json!("{\"a\": 1}")),
        Err("expected an object, found the string \"{\\\"a\\\": 1}\"".to_owned())
    );
    assert_eq!(
        OutputType::Array.coerce(json!({})),
        Err("expected an array, found an object".to_owned())
    );
}

#[test]
fn coerce_passes_null_for_every_type() {
    for output_type in OutputType::ALL {
        assert_eq!(
            output_type.coerce(Value::Null),
            Ok(Value::Null),
            "{output_type}"
        );
    }
}

#[test]
fn coerce_shortens_long_strings() {
    let long = "x".repeat(100);
    let error = OutputType::Number
        .coerce(json!(long))
        .expect_err("not a number");
    assert!(!error.contains(&long), "{error}");
    assert!(error.ends_with('…'), "{error}");
}
