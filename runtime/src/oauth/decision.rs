//! The outcome of a client registration flow: what the
//! `builtin:set-client-verification` action decided.
//!
//! The action is pure: it checks its rendered config and returns the
//! decision as its step result. After a registration run ends, the host
//! reads the result of the last such step in the run's trace and applies it
//! to the registration it started the run for. A run that the registration
//! endpoint did not start is never read, so the action has no effect there.

use serde_json::{Map, Value, json};

use super::clients::Verification;
use super::servers::McpServer;
use super::{ClientMetadata, RegisteredClient};
use crate::executor::RunReport;

/// Reference of the built-in action that decides a registration.
pub const SET_CLIENT_VERIFICATION: &str = "builtin:set-client-verification";

/// Decision of a registration flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Register the client with this status.
    Register(Verification),
    /// Reject the registration; the reason goes to `error_description`.
    Reject(String),
}

/// Returns the decision of a completed run: the result of the last
/// successful `builtin:set-client-verification` step, or `unverified` when
/// none ran.
///
/// # Errors
///
/// Returns a message when that step's result does not have the action's
/// shape, which means the component is not the built-in one.
pub fn decision_from_run(report: &RunReport) -> Result<Decision, String> {
    let last = report.trace.iter().rev().find(|step| {
        step.component.as_deref() == Some(SET_CLIENT_VERIFICATION) && step.outcome == "success"
    });
    let Some(step) = last else {
        return Ok(Decision::Register(Verification::Unverified));
    };
    let output = step.output.as_ref().unwrap_or(&Value::Null);
    match output.get("decision").and_then(Value::as_str) {
        Some("rejected") => {
            let reason = output
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("rejected by the registration flow");
            Ok(Decision::Reject(reason.to_owned()))
        }
        Some(status) => Verification::parse(status)
            .map(Decision::Register)
            .ok_or_else(|| {
                format!(
                    "step `{}` returned the unknown decision {status:?}",
                    step.step_id
                )
            }),
        None => Err(format!(
            "step `{}` returned no `decision`: {output}",
            step.step_id
        )),
    }
}

/// Builds the run input of a registration flow, available as `client.*`:
///
/// - `client.metadata`: the validated client metadata with defaults filled in;
/// - `client.server`: the server's `id`, `name`, `approvedScopes`,
///   `approvedCallbackUrls` and `approvedDomains` (its approved CIMD domains);
/// - `client.registration`: `serverId`, `issuer`, `operation` (`register`
///   or `update`), `clientId` for an update, and the caller's `remoteAddress`.
pub fn registration_input(
    server: &McpServer,
    issuer: &str,
    metadata: &ClientMetadata,
    existing: Option<&RegisteredClient>,
    remote_address: Option<&str>,
) -> Map<String, Value> {
    let mut input = Map::new();
    input.insert(
        "metadata".to_owned(),
        serde_json::to_value(metadata).unwrap_or(Value::Null),
    );
    input.insert(
        "server".to_owned(),
        json!({
            "id": server.id,
            "name": server.name,
            "approvedScopes": server.approved_scopes,
            "approvedCallbackUrls": server.approved_callback_urls,
            "approvedDomains": server.registration.approved_cimd_domains,
        }),
    );
    input.insert(
        "registration".to_owned(),
        json!({
            "serverId": server.id,
            "issuer": issuer,
            "operation": if existing.is_some() { "update" } else { "register" },
            "clientId": existing.map(|client| client.client_id.as_str()),
            "remoteAddress": remote_address,
        }),
    );
    input
}
