//! Built-in action `builtin:generate-audit-event`: emits a custom audit
//! event, which can start other flows.
//!
//! Config: `{"action": "UserReviewed", "type": "warn", "data": {"reason":
//! "{{client.reason}}"}, "userId": "U2abc", "tenants": ["acme"]}`. Only
//! `action` is required. `type` is `info` (the default), `warn` or
//! `error`. `userId` defaults to the current user, if any. The result,
//! stored at `actions.<key>`, is the event as stored, with its id, time and
//! actor.

use serde::Deserialize;
use sluice_sdk::{
    Action, ActionOutput, AuditType, Context, JsonObject, NewAuditEvent, StepError, audit,
};

/// The step's configuration.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Event name.
    pub action: String,
    /// Severity.
    #[serde(rename = "type", default)]
    pub audit_type: AuditType,
    /// Event details.
    #[serde(default)]
    pub data: JsonObject,
    /// The user the event is about; the current user when absent.
    pub user_id: Option<String>,
    /// Tenants the event is about.
    #[serde(default)]
    pub tenants: Vec<String>,
}

/// The built-in generate-audit-event action.
pub struct GenerateAuditEvent;

impl Action for GenerateAuditEvent {
    type Config = Config;

    fn run(config: Config, context: &Context) -> Result<ActionOutput, StepError> {
        if config.action.trim().is_empty() {
            return Err(StepError::invalid_config(
                "invalid config field `action`: it is empty; name the event",
            ));
        }
        let user_id = config
            .user_id
            .filter(|user_id| !user_id.is_empty())
            .or_else(|| context.user_id().map(str::to_string));

        let stored = audit::emit(&NewAuditEvent {
            action: config.action,
            audit_type: config.audit_type,
            user_id,
            tenants: config.tenants,
            data: config.data,
        })?;
        ActionOutput::serialize(&stored)
    }
}

sluice_sdk::export_action!(GenerateAuditEvent);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use sluice_sdk::mock::{MockHost, run_action};

    fn run(config: Value, context: Value) -> Result<ActionOutput, StepError> {
        run_action::<GenerateAuditEvent>(config, context)
    }

    #[test]
    fn emits_event_for_current_user() {
        let host = MockHost::new().with_time(100).install();
        let config = json!({"action": "UserReviewed", "data": {"reason": "manual"}});

        let output = run(config, json!({"user": {"userId": "U1"}})).expect("emit succeeds");

        let events = host.audit_events();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "UserReviewed");
        assert_eq!(events[0].audit_type, AuditType::Info);
        assert_eq!(events[0].user_id.as_deref(), Some("U1"));
        assert_eq!(output.value["id"], json!(events[0].id));
        assert_eq!(output.value["type"], "info");
        assert_eq!(output.value["occurred"], 100_000);
        assert_eq!(output.value["data"], json!({"reason": "manual"}));
    }

    #[test]
    fn uses_given_user_type_and_tenants() {
        let host = MockHost::new().install();
        let config =
            json!({"action": "Checked", "type": "warn", "userId": "U7", "tenants": ["acme"]});

        run(config, json!({"user": {"userId": "U1"}})).expect("emit succeeds");

        let event = host.audit_events().pop().expect("one event");
        assert_eq!(event.audit_type, AuditType::Warn);
        assert_eq!(event.user_id.as_deref(), Some("U7"));
        assert_eq!(event.tenants, vec!["acme"]);
    }

    #[test]
    fn without_user_has_no_user_id() {
        let host = MockHost::new().install();

        run(json!({"action": "Tick"}), json!({})).expect("emit succeeds");

        assert_eq!(host.audit_events()[0].user_id, None);
    }

    #[test]
    fn invalid_config_is_rejected() {
        let _host = MockHost::new().install();
        let cases = [
            (json!({}), "action"),
            (json!({"action": " "}), "action"),
            (json!({"action": "A", "type": "fatal"}), "type"),
            (json!({"action": "A", "data": "text"}), "data"),
        ];
        for (config, field) in cases {
            let error = run(config.clone(), json!({})).expect_err("invalid config");
            assert_eq!(error.kind(), "invalid-config", "{config}");
            assert!(error.message().contains(field), "{config}: {error}");
        }
    }
}
