//! Built-in action `builtin:set-client-verification`: decides the OAuth
//! client registration that a client registration flow runs for.
//!
//! Config: `{"status": "verified"}`, `{"status": "unverified"}`, or
//! `{"reject": "redirect URIs must be under example.com"}`. Both fields
//! take templates, such as `{"reject": "{{client.metadata.client_name}} is
//! not allowed"}`. Exactly one of them is required.
//!
//! The action makes no host call. Its result, `{"decision": "verified" |
//! "unverified" | "rejected", "reason"?}`, is what the registration endpoint
//! reads from the run after it ends: the last successful step of this
//! action decides. The action fails with `invalid-config` in a run that has
//! no `client.registration`, because only the registration endpoint starts
//! runs whose decision is applied.

use serde::Deserialize;
use serde_json::json;
use sluice_sdk::{Action, ActionOutput, Context, StepError};

/// Maximum length of a rejection reason, in bytes. The reason becomes the
/// `error_description` of the registration response.
pub const MAX_REASON_BYTES: usize = 512;

/// The step's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `verified` or `unverified`.
    pub status: Option<String>,
    /// Reason to reject the registration.
    pub reject: Option<String>,
}

/// The built-in set-client-verification action.
pub struct SetClientVerification;

impl Action for SetClientVerification {
    type Config = Config;

    fn run(config: Config, context: &Context) -> Result<ActionOutput, StepError> {
        if context.get("client.registration.serverId").is_none() {
            return Err(StepError::invalid_config(
                "this action decides a client registration, so it runs only in the client registration flow \
                 of an MCP server; this run has no `client.registration`",
            ));
        }
        let decision = match (config.status, config.reject) {
            (Some(status), None) => match status.as_str() {
                "verified" | "unverified" => json!({ "decision": status }),
                _ => {
                    return Err(StepError::invalid_config(format!(
                        "invalid config field `status`: {status:?} is not a status; use \"verified\" or \"unverified\""
                    )));
                }
            },
            (None, Some(reason)) => {
                let reason = reason.trim();
                if reason.is_empty() || reason.len() > MAX_REASON_BYTES {
                    return Err(StepError::invalid_config(format!(
                        "invalid config field `reject`: write a reason of 1 to {MAX_REASON_BYTES} bytes"
                    )));
                }
                json!({ "decision": "rejected", "reason": reason })
            }
            (Some(_), Some(_)) => {
                return Err(StepError::invalid_config(
                    "invalid config: set either `status` or `reject`, not both",
                ));
            }
            (None, None) => {
                return Err(StepError::invalid_config(
                    "invalid config: set `status` (\"verified\" or \"unverified\") or `reject` (a reason)",
                ));
            }
        };
        Ok(ActionOutput::value(decision))
    }
}

sluice_sdk::export_action!(SetClientVerification);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use sluice_sdk::mock::{MockHost, run_action};

    fn registration() -> Value {
        json!({"client": {"registration": {"serverId": "docs"}}})
    }

    fn run(config: Value, context: Value) -> Result<ActionOutput, StepError> {
        run_action::<SetClientVerification>(config, context)
    }

    #[test]
    fn status_becomes_decision() {
        let _host = MockHost::new().install();

        let verified = run(json!({"status": "verified"}), registration()).expect("verified");
        let unverified = run(json!({"status": "unverified"}), registration()).expect("unverified");

        assert_eq!(verified.value, json!({"decision": "verified"}));
        assert_eq!(unverified.value, json!({"decision": "unverified"}));
    }

    #[test]
    fn reject_carries_reason() {
        let _host = MockHost::new().install();

        let output = run(json!({"reject": " no name "}), registration()).expect("rejected");

        assert_eq!(
            output.value,
            json!({"decision": "rejected", "reason": "no name"})
        );
    }

    #[test]
    fn outside_registration_is_invalid_config() {
        let _host = MockHost::new().install();

        let error =
            run(json!({"status": "verified"}), json!({"client": {}})).expect_err("no registration");

        assert_eq!(error.kind(), "invalid-config");
        assert!(error.message().contains("client.registration"), "{error}");
    }

    #[test]
    fn invalid_config_is_rejected() {
        let _host = MockHost::new().install();
        let cases = [
            (json!({}), "`status`"),
            (json!({"status": "trusted"}), "`status`"),
            (json!({"status": "verified", "reject": "x"}), "not both"),
            (json!({"reject": ""}), "`reject`"),
            (
                json!({"reject": "x".repeat(MAX_REASON_BYTES + 1)}),
                "`reject`",
            ),
            (json!({"state": "verified"}), "state"),
        ];
        for (config, expected) in cases {
            let error = run(config.clone(), registration()).expect_err("invalid config");
            assert_eq!(error.kind(), "invalid-config", "{config}");
            assert!(error.message().contains(expected), "{config}: {error}");
        }
    }
}
