//! The compiled form of a flow that the engine runs.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Number, Value};

use crate::catalog::World;
use crate::template::ValueTemplate;

/// A validated flow, ready to run.
#[derive(Debug, Clone)]
pub struct CompiledFlow {
    /// Flow id, unique within a project.
    pub id: String,
    /// Display name; the id when the document has none.
    pub name: String,
    /// Free text; empty when the document has none.
    pub description: String,
    /// Document version, 1 or more.
    pub version: u32,
    /// Conditions that start a run.
    pub trigger: Trigger,
    /// Index into `steps` of the first step.
    pub start: usize,
    /// Steps in document order.
    pub steps: Vec<CompiledStep>,
    /// Limits of a whole run.
    pub limits: FlowLimits,
    /// The document as parsed, for storing and exporting.
    pub document: Value,
}

impl CompiledFlow {
    /// Returns the index of the step with this id.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|step| step.id == id)
    }
}

/// Conditions that start a run of a flow: API calls, audit events and,
/// later, schedules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    /// Whether the run API may start the flow.
    pub api: bool,
    /// Audit event types, such as `UserCreated`, that start the flow.
    pub audit_events: Vec<String>,
    /// Whether audit events caused by this flow's own runs start it again.
    /// Off by default, so a flow that changes the user who triggered it does
    /// not start itself in a loop.
    pub own_events: bool,
    /// Reserved for schedules; stored as written and not interpreted yet.
    pub schedule: Option<String>,
}

impl Default for Trigger {
    fn default() -> Self {
        Self {
            api: true,
            audit_events: Vec::new(),
            own_events: false,
            schedule: None,
        }
    }
}

/// Kind of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// Runs an action component; its result lands at `actions.<key>`.
    Action,
    /// Runs a connector component; its result lands at `connectors.<key>`.
    Connector,
    /// Runs a condition component and follows the branch it names.
    Condition,
    /// Ends the run and returns its outputs.
    End,
}

impl StepKind {
    /// Returns the kind as written in flow documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Action => "action",
            Self::Connector => "connector",
            Self::Condition => "condition",
            Self::End => "end",
        }
    }

    /// Returns the world a component of this step must implement; `None` for
    /// End steps, which run no component.
    pub fn world(self) -> Option<World> {
        match self {
            Self::Action => Some(World::Action),
            Self::Connector => Some(World::Connector),
            Self::Condition => Some(World::Condition),
            Self::End => None,
        }
    }

    /// Returns the context namespace that stores the step's result:
    /// `actions` or `connectors`. Conditions and End steps store nothing.
    pub fn namespace(self) -> Option<&'static str> {
        match self {
            Self::Action => Some("actions"),
            Self::Connector => Some("connectors"),
            Self::Condition | Self::End => None,
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error handling mode of a step: the action taken when the step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorHandling {
    /// The run fails.
    #[default]
    Automatic,
    /// The run goes on along the `success` edge. The error is stored at the
    /// step's context key as `{"error": {"kind", "message"}}`.
    Ignore,
    /// The run follows the `error` edge.
    Custom,
}

impl ErrorHandling {
    /// Returns the mode as written in flow documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Automatic => "automatic",
            Self::Ignore => "ignore",
            Self::Custom => "custom",
        }
    }
}

/// Per-step resource limits; `None` keeps the host's default. The host
/// caps each at the operator's maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepLimits {
    /// Maximum wall-clock time of one run of the step, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Maximum linear memory of the component, in MiB.
    pub memory_mib: Option<u64>,
    /// Instruction budget in fuel units; the host applies it only when its
    /// operator turned fuel on.
    pub fuel: Option<u64>,
    /// Maximum size of the step's JSON output, in bytes.
    pub output_bytes: Option<u64>,
    /// Maximum number of host calls the step may make.
    pub host_calls: Option<u64>,
    /// Maximum data the step may pass in one host call, in bytes.
    pub host_call_bytes: Option<u64>,
}

/// Limits of a whole run of the flow; `None` keeps the host's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowLimits {
    /// Maximum wall-clock time of one run, in milliseconds. The host caps
    /// it at the operator's `run_timeout_ms`.
    pub timeout_ms: Option<u64>,
    /// Maximum number of steps one run may take, End included. The host
    /// caps it at the operator's `max_steps`.
    pub max_steps: Option<u64>,
}

/// Retry policy of a step.
///
/// NOTE: reserved. This crate parses and validates the policy; check that
/// the engine applies it before relying on retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Maximum number of attempts, including the first one; 1 or more.
    pub attempts: u32,
    /// Wait between attempts, in milliseconds.
    pub backoff_ms: u64,
    /// Error kinds that cause a retry, such as `timeout` or `upstream-failure`.
    pub on: Vec<String>,
}

/// One step of a compiled flow.
#[derive(Debug, Clone)]
pub struct CompiledStep {
    /// Step id, unique within the flow.
    pub id: String,
    /// Step kind.
    pub kind: StepKind,
    /// Component reference; `None` for End steps.
    pub component: Option<String>,
    /// Name of the project's connector instance that a connector step runs
    /// with: its base URL, authentication and secrets. `None` runs the
    /// connector with no instance, so it can reach no host.
    pub connector: Option<String>,
    /// Configuration to render before each run; an empty object when the
    /// document has none.
    pub config: ValueTemplate,
    /// Key under `actions` or `connectors` where the result is stored;
    /// the step id unless the document sets `contextKey`. Conditions and End
    /// steps store nothing and carry their id here.
    pub context_key: String,
    /// Action taken when the step fails.
    pub on_error: ErrorHandling,
    /// Outcome (`success`, `error` or a branch name) to the index of the next
    /// step. Empty for End steps.
    pub next: BTreeMap<String, usize>,
    /// Outputs of an End step; empty for other kinds.
    pub outputs: Vec<CompiledOutput>,
    /// Resource limits.
    pub limits: StepLimits,
    /// Retry policy, if any.
    pub retry: Option<RetryPolicy>,
}

/// One output of an End step.
#[derive(Debug, Clone)]
pub struct CompiledOutput {
    /// Key in the run's output object.
    pub key: String,
    /// Type the rendered value is coerced to.
    pub output_type: OutputType,
    /// Value to render.
    pub value: ValueTemplate,
}

/// Declared type of an End step output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputType {
    /// A JSON string.
    String,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A JSON object.
    Object,
    /// A JSON array.
    Array,
}

impl OutputType {
    /// All types, in the order the docs list them.
    pub const ALL: [Self; 5] = [
        Self::String,
        Self::Number,
        Self::Boolean,
        Self::Object,
        Self::Array,
    ];

    /// Returns the type as written in flow documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::Array => "array",
        }
    }

    /// Parses the name used in flow documents.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|output_type| output_type.as_str() == name)
    }

    /// Converts a rendered value to this type.
    ///
    /// `null` passes for every type, so a missing optional value yields
    /// `null` instead of failing the run. `number` also accepts a string
    /// holding a JSON number (surrounding whitespace ignored), `boolean`
    /// accepts the strings `"true"` and `"false"`, and `string` accepts
    /// numbers and booleans, written as JSON text.
    ///
    /// # Errors
    ///
    /// Returns a message such as `expected a number, found the string "abc"`.
    pub fn coerce(&self, value: Value) -> Result<Value, String> {
        match (self, value) {
            (_, Value::Null) => Ok(Value::Null),
            (Self::String, Value::String(text)) => Ok(Value::String(text)),
            (Self::String, Value::Number(number)) => Ok(Value::String(number.to_string())),
            (Self::String, Value::Bool(flag)) => Ok(Value::String(flag.to_string())),
            (Self::Number, Value::Number(number)) => Ok(Value::Number(number)),
            (Self::Number, Value::String(text)) => match text.trim().parse::<Number>() {
                Ok(number) => Ok(Value::Number(number)),
                Err(_) => Err(self.mismatch(&Value::String(text))),
            },
            (Self::Boolean, Value::Bool(flag)) => Ok(Value::Bool(flag)),
            (Self::Boolean, Value::String(text)) if text == "true" => Ok(Value::Bool(true)),
            (Self::Boolean, Value::String(text)) if text == "false" => Ok(Value::Bool(false)),
            (Self::Object, Value::Object(map)) => Ok(Value::Object(map)),
            (Self::Array, Value::Array(items)) => Ok(Value::Array(items)),
            (_, other) => Err(self.mismatch(&other)),
        }
    }

    fn mismatch(self, found: &Value) -> String {
        let expected = match self {
            Self::String => "a string",
            Self::Number => "a number",
            Self::Boolean => "a boolean",
            Self::Object => "an object",
            Self::Array => "an array",
        };
        format!("expected {expected}, found {}", describe(found))
    }
}

impl fmt::Display for OutputType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Describes a JSON value for a message: `the string "abc"`, `the number 3`,
/// `true`, `null`, `an object`, `an array`. Long strings are shortened.
pub(crate) fn describe(value: &Value) -> String {
    const MAX_CHARS: usize = 40;
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => format!("the number {number}"),
        Value::String(text) if text.chars().count() > MAX_CHARS => {
            let start: String = text.chars().take(MAX_CHARS).collect();
            format!("the string {start:?}…")
        }
        Value::String(text) => format!("the string {text:?}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}
