//! The compiled form of a valid flow.

mod common;

use std::fs;

use serde_json::json;
use sluice_flow::{ErrorHandling, OutputType, Problem, StepKind, World, format_problems, validate};

use common::TestCatalog;

fn welcome_user() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/valid/welcome-user.json");
    fs::read_to_string(path).expect("fixture is readable")
}

#[test]
fn compiled_flow_has_header_fields() {
    let flow = validate(&welcome_user(), &TestCatalog).expect("valid flow");
    assert_eq!(flow.id, "welcome-user");
    assert_eq!(flow.name, "Welcome a new user");
    assert_eq!(flow.version, 1);
    assert!(flow.trigger.api);
    assert_eq!(flow.trigger.audit_events, vec!["UserCreated".to_owned()]);
    assert_eq!(flow.trigger.schedule, None);
    assert_eq!(flow.steps[flow.start].id, "load");
    assert_eq!(flow.document["id"], json!("welcome-user"));
}

#[test]
fn compiled_steps_resolve_edges_to_indexes() {
    let flow = validate(&welcome_user(), &TestCatalog).expect("valid flow");
    let ids: Vec<&str> = flow.steps.iter().map(|step| step.id.as_str()).collect();
    assert_eq!(ids, ["load", "is-acme", "tag", "done", "failed"]);

    let tag = &flow.steps[2];
    assert_eq!(tag.kind, StepKind::Action);
    assert_eq!(tag.component.as_deref(), Some("builtin:update-user"));
    assert_eq!(tag.on_error, ErrorHandling::Custom);
    assert_eq!(tag.next.get("success"), Some(&3));
    assert_eq!(tag.next.get("error"), Some(&4));
    assert_eq!(tag.limits.timeout_ms, Some(500));
    assert_eq!(tag.limits.memory_mib, Some(32));
    assert_eq!(tag.context_key, "tag");

    let condition = &flow.steps[1];
    assert_eq!(condition.next.get("true"), Some(&2));
    assert_eq!(condition.next.get("false"), Some(&3));
    assert!(condition.config.is_literal());
}

#[test]
fn context_key_defaults_to_id() {
    let flow = validate(&welcome_user(), &TestCatalog).expect("valid flow");
    assert_eq!(flow.steps[0].context_key, "loadUser");
    assert_eq!(flow.steps[2].context_key, "tag");
    assert_eq!(flow.step_index("failed"), Some(4));
}

#[test]
fn compiled_config_renders_context() {
    let flow = validate(&welcome_user(), &TestCatalog).expect("valid flow");
    let context = json!({ "client": { "plan": "gold" } });
    assert_eq!(
        flow.steps[2].config.render(&context),
        json!({ "customAttributes": { "plan": "gold" } })
    );
}

#[test]
fn compiled_outputs_keep_types() {
    let flow = validate(&welcome_user(), &TestCatalog).expect("valid flow");
    let done = &flow.steps[3];
    assert_eq!(done.kind, StepKind::End);
    assert_eq!(done.component, None);
    assert!(done.next.is_empty());
    let outputs: Vec<(&str, OutputType)> = done
        .outputs
        .iter()
        .map(|output| (output.key.as_str(), output.output_type))
        .collect();
    assert_eq!(
        outputs,
        [("userId", OutputType::String), ("plan", OutputType::String)]
    );
}

#[test]
fn defaults_apply_when_fields_are_absent() {
    let text = r#"{ "id": "ping", "type": "management", "start": "done",
        "steps": [ { "id": "done", "kind": "end", "outputs": [] } ] }"#;
    let flow = validate(text, &TestCatalog).expect("valid flow");
    assert_eq!(flow.name, "ping");
    assert_eq!(flow.description, "");
    assert_eq!(flow.version, 1);
    assert!(flow.trigger.api);
    assert!(flow.trigger.audit_events.is_empty());
}

#[test]
fn retry_policy_is_compiled() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/valid/notify-crm-with-retry.json"
    );
    let flow = validate(
        &fs::read_to_string(path).expect("fixture is readable"),
        &TestCatalog,
    )
    .expect("valid flow");
    let retry = flow.steps[0].retry.as_ref().expect("retry policy");
    assert_eq!(retry.attempts, 3);
    assert_eq!(retry.backoff_ms, 200);
    assert_eq!(retry.on, ["timeout", "upstream-failure"]);
    assert_eq!(flow.steps[0].on_error, ErrorHandling::Ignore);
    assert_eq!(flow.steps[2].context_key, "slack");
    assert_eq!(
        flow.steps[3].next.get("true"),
        Some(&2),
        "cycles are allowed"
    );
}

#[test]
fn problem_display_is_one_line() {
    let problem = Problem {
        step: Some("tag".to_owned()),
        location: "next.success".to_owned(),
        message: "step \"dne\" does not exist".to_owned(),
        fix: "point it at one of: done, failed".to_owned(),
    };
    assert_eq!(
        problem.to_string(),
        "step \"tag\", next.success: step \"dne\" does not exist. Fix: point it at one of: done, failed"
    );
    assert_eq!(
        format_problems(&[problem.clone(), problem]).lines().count(),
        2
    );
}

#[test]
fn problem_serializes_camel_case() {
    let problem = Problem {
        step: None,
        location: "start".to_owned(),
        message: "m".to_owned(),
        fix: "f".to_owned(),
    };
    assert_eq!(
        serde_json::to_value(&problem).expect("serializable"),
        json!({ "step": null, "location": "start", "message": "m", "fix": "f" })
    );
}

#[test]
fn enums_serialize_as_document_names() {
    assert_eq!(
        serde_json::to_value(World::Connector).expect("serializable"),
        json!("connector")
    );
    assert_eq!(
        serde_json::to_value(StepKind::End).expect("serializable"),
        json!("end")
    );
    assert_eq!(
        serde_json::to_value(ErrorHandling::Custom).expect("serializable"),
        json!("custom")
    );
    assert_eq!(
        serde_json::to_value(OutputType::Boolean).expect("serializable"),
        json!("boolean")
    );
    let flow = validate(&welcome_user(), &TestCatalog).expect("valid flow");
    assert_eq!(
        serde_json::to_value(&flow.trigger).expect("serializable"),
        json!({ "api": true, "auditEvents": ["UserCreated"], "ownEvents": false, "schedule": null })
    );
}

#[test]
fn world_parses_from_name() {
    assert_eq!("condition".parse::<World>(), Ok(World::Condition));
    assert!("screen".parse::<World>().is_err());
}
