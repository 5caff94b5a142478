//! Bodies of the flow calls: runs, asynchronous results, flow documents
//! and their versions, and the run lists.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::BodyError;

/// Run options; Node and Go SDKs nest them under `options`, the Python SDK
/// sends them at the top level.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunOptions {
    /// Inputs of the run, under `client.*` in the flow context.
    #[serde(default)]
    pub input: Option<Map<String, Value>>,
    /// Tenant the run acts for, under `tenant.*` in the flow context.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Descope's dry-run flag. Sluice runs every call.
    #[serde(default)]
    pub preview: Option<bool>,
}

/// Body of `flow/run` and `flow/async/run`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunBody {
    /// Id of the flow to run.
    #[serde(default)]
    pub flow_id: Option<String>,
    /// Options as the Node and Go SDKs send them. They win over the same
    /// options at the top level.
    #[serde(default)]
    pub options: Option<RunOptions>,
    /// Inputs as the Python SDK sends them, at the top level.
    #[serde(default)]
    pub input: Option<Map<String, Value>>,
    /// Tenant as the Python SDK sends it, at the top level.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Dry-run flag as the Python SDK sends it, at the top level.
    #[serde(default)]
    pub preview: Option<bool>,
}

/// The parts of a run request: flow id, inputs and tenant.
pub type RunParts = (String, Map<String, Value>, Option<String>);

impl RunBody {
    /// Returns the flow id, the inputs and the tenant.
    ///
    /// # Errors
    ///
    /// [`BodyError::Missing`] when `flowId` is absent or empty.
    pub fn into_parts(self) -> Result<RunParts, BodyError> {
        let flow_id = self.flow_id.filter(|id| !id.is_empty()).ok_or_else(|| BodyError::missing("flowId"))?;
        let nested = self.options.unwrap_or_default();
        let input = nested.input.or(self.input).unwrap_or_default();
        let tenant = nested.tenant.or(self.tenant);
        // `preview` requests a dry run in Descope; Sluice runs every call.
        let _ = nested.preview.or(self.preview);
        Ok((flow_id, input, tenant))
    }
}

/// Body of `flow/async/result`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionBody {
    /// Run id that `flow/async/run` returned.
    #[serde(default)]
    pub execution_id: Option<String>,
}

/// Body of `flow/delete`.
#[derive(Debug, Deserialize)]
pub struct DeleteBody {
    /// Ids of the flows to delete.
    #[serde(default)]
    pub ids: Vec<String>,
}

/// Body of `flow/import`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportBody {
    /// Id of the flow. When given, it must equal the document's `id`.
    #[serde(default)]
    pub flow_id: Option<String>,
    /// The flow document.
    #[serde(default)]
    pub flow: Option<Value>,
}

/// Body of `flow/export`, `flow/versions` and `flow/rollback`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowVersionBody {
    /// Id of the flow.
    #[serde(default)]
    pub flow_id: Option<String>,
    /// Version number. Without it, export takes the current version.
    #[serde(default)]
    pub version: Option<u32>,
}

/// Body of `flow/runs` and `flow/runs/dead`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRunsBody {
    /// Only runs of this flow.
    #[serde(default)]
    pub flow_id: Option<String>,
    /// Maximum number of runs to return.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Body of `flow/runs/replay`: one dead run, or all of them.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayBody {
    /// Id of the dead run to replay.
    #[serde(default)]
    pub run_id: Option<String>,
    /// Replay every dead run instead of one.
    #[serde(default)]
    pub all: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_body;

    #[test]
    fn top_level_option_of_wrong_type_is_named() {
        let err = parse_body::<RunBody>(br#"{"flowId": "f", "tenant": {"id": "t1"}}"#).expect_err("tenant is a string");
        assert!(err.to_string().starts_with("invalid field `tenant`: "), "message: {err}");
    }

    #[test]
    fn nested_options_win() {
        let body = br#"{"flowId": "f", "tenant": "t0", "input": {"a": 1}, "options": {"tenant": "t1"}}"#;
        let (flow_id, input, tenant) = parse_body::<RunBody>(body).expect("valid").into_parts().expect("has a flow id");
        assert_eq!(flow_id, "f");
        assert_eq!(tenant.as_deref(), Some("t1"));
        assert_eq!(input["a"], 1);
    }
}
