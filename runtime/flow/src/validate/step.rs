//! Reads and checks one step on its own, without looking at other steps.

use serde_json::{Map, Value};

use super::outputs::read_outputs;
use super::reader::{Reporter, member};
use crate::catalog::{ComponentCatalog, check_reference};
use crate::model::{CompiledOutput, ErrorHandling, RetryPolicy, StepKind, StepLimits};
use crate::path::{Segment, is_key};
use crate::suggest::closest;
use crate::template::{TemplateError, ValueTemplate};

/// Fields a step may have.
const STEP_FIELDS: [&str; 11] = [
    "id",
    "kind",
    "component",
    "connector",
    "config",
    "contextKey",
    "onError",
    "next",
    "outputs",
    "limits",
    "retry",
];

/// Step kinds and fields that need a user in front of a screen.
const INTERACTIVE: [&str; 2] = ["screen", "form"];

/// Parts of one step that could be read, for the cross-step checks and for
/// compilation.
pub(super) struct StepDraft<'v> {
    pub(super) kind: Option<StepKind>,
    pub(super) component: Option<String>,
    /// Name of the connector instance a connector step uses.
    pub(super) connector: Option<String>,
    pub(super) config: ValueTemplate,
    /// Key under `actions` or `connectors`; `None` for other kinds.
    pub(super) context_key: Option<String>,
    pub(super) on_error: ErrorHandling,
    /// `(outcome, target step id)` pairs, checked against the other steps later.
    pub(super) edges: Vec<(&'v str, &'v str)>,
    pub(super) outputs: Vec<CompiledOutput>,
    pub(super) limits: StepLimits,
    pub(super) retry: Option<RetryPolicy>,
    /// Template reads of `actions.<key>` and `connectors.<key>`, as
    /// `(location, namespace, key)`, checked against the other steps later.
    pub(super) reads: Vec<(String, &'static str, String)>,
}

/// Reads one step object and reports what is wrong with it on its own.
pub(super) fn read_step<'v>(
    step: &'v Map<String, Value>,
    catalog: &dyn ComponentCatalog,
    reporter: &mut Reporter<'_>,
) -> StepDraft<'v> {
    let mut draft = StepDraft {
        kind: None,
        component: None,
        connector: None,
        config: ValueTemplate::Literal(Value::Object(Map::new())),
        context_key: None,
        on_error: ErrorHandling::Automatic,
        edges: Vec::new(),
        outputs: Vec::new(),
        limits: StepLimits::default(),
        retry: None,
        reads: Vec::new(),
    };

    let id = read_id(step, reporter);
    let interactive = report_interactive(step, reporter);
    reporter.unknown_fields(step, "", &STEP_FIELDS, &INTERACTIVE);

    if interactive {
        // The interactive problem already gives the fix, and checks for a kind the
        // step does not have would only add noise. The edges still count, so
        // the steps after this one are not reported as unreachable.
        draft.edges = read_next(step.get("next"), None, ErrorHandling::Automatic, reporter);
        return draft;
    }
    draft.kind = match step.get("kind") {
        None => {
            reporter.missing("kind", "set kind to action, connector, condition or end");
            None
        }
        Some(value) => reporter
            .string(value, "kind", "action")
            .and_then(|kind| parse_kind(kind, reporter)),
    };
    let kind = draft.kind;
    let is_end = kind == Some(StepKind::End);

    if is_end {
        for field in [
            "component",
            "connector",
            "config",
            "contextKey",
            "onError",
            "next",
            "limits",
            "retry",
        ] {
            if step.contains_key(field) {
                reporter.not_allowed(
                    field,
                    &format!("end steps do not take {field}: they run no component"),
                );
            }
        }
        draft.outputs = read_outputs(step.get("outputs"), reporter, &mut draft.reads);
        return draft;
    }

    if step.contains_key("outputs") && kind.is_some() {
        reporter.not_allowed("outputs", "only end steps have outputs");
    }
    draft.component = read_component(step.get("component"), kind, catalog, reporter);
    draft.connector = read_connector(step.get("connector"), kind, reporter);
    if let Some(config) = step.get("config")
        && reporter
            .object(config, "config", "write the configuration as a JSON object")
            .is_some()
    {
        draft.config = parse_template(config, "config", reporter, &mut draft.reads);
    }
    draft.context_key = read_context_key(step.get("contextKey"), id, kind, reporter);
    draft.on_error = read_on_error(step.get("onError"), kind, reporter);
    draft.edges = read_next(step.get("next"), kind, draft.on_error, reporter);
    if let Some(limits) = step.get("limits") {
        draft.limits = read_limits(limits, reporter);
    }
    if let Some(retry) = step.get("retry") {
        draft.retry = read_retry(retry, reporter);
    }
    draft
}

/// Reports problems with the `id` field and returns it when usable.
fn read_id<'v>(step: &'v Map<String, Value>, reporter: &mut Reporter<'_>) -> Option<&'v str> {
    let Some(value) = step.get("id") else {
        reporter.missing("id", "give the step a unique id, such as \"load-user\"");
        return None;
    };
    let id = reporter.non_empty_string(value, "id", "load-user")?;
    if !is_key(id) {
        reporter.report(
            "id",
            format!("step id {id:?} contains characters other than letters, digits, _ and -"),
            "rename the step using only letters, digits, _ and -, because the id is also its default context key",
        );
    }
    Some(id)
}

/// Reports a `screen` or `form` kind or field; returns whether there was one.
fn report_interactive(step: &Map<String, Value>, reporter: &mut Reporter<'_>) -> bool {
    let fix = "move the interaction to an interactive flow or remove the step";
    let mut found = false;
    if let Some(kind) = step
        .get("kind")
        .and_then(Value::as_str)
        .filter(|kind| INTERACTIVE.contains(kind))
    {
        reporter.report(
            "kind",
            format!(
                "interactive step kind {kind:?} is not allowed in a management flow: management flows run without a user"
            ),
            fix,
        );
        found = true;
    }
    for field in INTERACTIVE {
        if step.contains_key(field) {
            reporter.report(
                field,
                format!("interactive field {field:?} is not allowed in a management flow: management flows run without a user"),
                fix,
            );
            found = true;
        }
    }
    found
}

fn parse_kind(kind: &str, reporter: &mut Reporter<'_>) -> Option<StepKind> {
    let kinds = [
        StepKind::Action,
        StepKind::Connector,
        StepKind::Condition,
        StepKind::End,
    ];
    if let Some(found) = kinds
        .into_iter()
        .find(|candidate| candidate.as_str() == kind)
    {
        return Some(found);
    }
    let names = kinds.map(StepKind::as_str);
    let fix = match closest(kind, names).first() {
        Some(close) => format!("did you mean {close:?}?"),
        None => format!("use one of: {}", names.join(", ")),
    };
    reporter.report("kind", format!("unknown step kind {kind:?}"), fix);
    None
}

fn read_component(
    value: Option<&Value>,
    kind: Option<StepKind>,
    catalog: &dyn ComponentCatalog,
    reporter: &mut Reporter<'_>,
) -> Option<String> {
    let Some(value) = value else {
        if let Some(kind) = kind {
            reporter.missing(
                "component",
                format!(
                    "name the {kind} component to run, such as \"{}\"",
                    example_component(kind)
                ),
            );
        }
        return None;
    };
    let reference = reporter.non_empty_string(value, "component", "builtin:load-user")?;
    if let Err(message) = check_reference(reference) {
        reporter.report(
            "component",
            message,
            "write builtin:<name>, <publisher>/<name>@<version> or file:<path relative to the flow file>",
        );
        return None;
    }

    let Some(world) = catalog.world(reference) else {
        let references = catalog.references();
        let fix = match closest(reference, references.iter().map(String::as_str)).as_slice() {
            [] => "check the name, or install the component before deploying the flow".to_owned(),
            close => format!("did you mean {}?", quoted_list(close, " or ")),
        };
        reporter.report(
            "component",
            format!("component {reference:?} is not installed"),
            fix,
        );
        return None;
    };
    if let Some(kind) = kind.filter(|kind| kind.world() != Some(world)) {
        reporter.report(
            "component",
            format!(
                "component {reference:?} implements the {world} world, but the step kind is {kind}"
            ),
            format!("set kind to \"{world}\", or use a component that implements the {kind} world"),
        );
    }
    Some(reference.to_owned())
}

fn example_component(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Action | StepKind::End => "builtin:load-user",
        StepKind::Connector => "acme/slack@1.0.0",
        StepKind::Condition => "builtin:condition",
    }
}

/// Reads the connector instance name. Only connector steps take one, and the
/// instance itself is looked up in the project when the flow is deployed.
fn read_connector(
    value: Option<&Value>,
    kind: Option<StepKind>,
    reporter: &mut Reporter<'_>,
) -> Option<String> {
    let value = value?;
    if kind.is_some_and(|kind| kind != StepKind::Connector) {
        reporter.not_allowed("connector", "only connector steps use a connector instance");
        return None;
    }
    let name = reporter.non_empty_string(value, "connector", "slack-alerts")?;
    if !is_key(name) {
        reporter.report(
            "connector",
            format!("connector instance name {name:?} contains characters other than letters, digits, _ and -"),
            "use the name the instance was created with, which has only letters, digits, _ and -",
        );
        return None;
    }
    Some(name.to_owned())
}

fn read_context_key(
    value: Option<&Value>,
    id: Option<&str>,
    kind: Option<StepKind>,
    reporter: &mut Reporter<'_>,
) -> Option<String> {
    let namespace = kind.and_then(StepKind::namespace);
    let Some(value) = value else {
        return namespace.and(id).map(str::to_owned);
    };
    if let (Some(kind), None) = (kind, namespace) {
        reporter.not_allowed(
            "contextKey",
            &format!("{kind} steps do not store a result in the context"),
        );
        return None;
    }
    let key = reporter.non_empty_string(value, "contextKey", "loadUser")?;
    if !is_key(key) {
        reporter.report(
            "contextKey",
            format!("context key {key:?} contains characters other than letters, digits, _ and -"),
            "use only letters, digits, _ and -, so templates can read it as actions.<key>",
        );
        return None;
    }
    namespace.map(|_| key.to_owned())
}

fn read_on_error(
    value: Option<&Value>,
    kind: Option<StepKind>,
    reporter: &mut Reporter<'_>,
) -> ErrorHandling {
    let Some(text) = value.and_then(|value| reporter.string(value, "onError", "automatic")) else {
        return ErrorHandling::Automatic;
    };
    let handling = match text {
        "automatic" => ErrorHandling::Automatic,
        "ignore" => ErrorHandling::Ignore,
        "custom" => ErrorHandling::Custom,
        other => {
            reporter.report(
                "onError",
                format!("unknown error handling {other:?}"),
                "use automatic (fail the run), ignore (continue on success) or custom (follow the error edge)",
            );
            return ErrorHandling::Automatic;
        }
    };
    if handling == ErrorHandling::Ignore && kind == Some(StepKind::Condition) {
        reporter.report(
            "onError",
            "a condition cannot ignore errors because it has no success edge to continue on",
            "use custom with a next.error edge, or automatic",
        );
    }
    handling
}

fn read_next<'v>(
    value: Option<&'v Value>,
    kind: Option<StepKind>,
    on_error: ErrorHandling,
    reporter: &mut Reporter<'_>,
) -> Vec<(&'v str, &'v str)> {
    let fix = "map each outcome to a step id, such as {\"success\": \"done\"}";
    let map = match value {
        Some(value) => reporter.object(value, "next", fix),
        None => None,
    };
    let mut edges = Vec::new();
    for (outcome, target) in map.into_iter().flatten() {
        let location = member("next", outcome);
        if let Some(target) = reporter.non_empty_string(target, &location, "done") {
            edges.push((outcome.as_str(), target));
        }
    }
    let has = |name: &str| map.is_some_and(|map| map.contains_key(name));

    match kind {
        Some(StepKind::Action | StepKind::Connector) => {
            if !has("success") {
                reporter.report(
                    "next.success",
                    "required edge is missing: every action and connector needs a success edge",
                    "add \"success\": \"<step id>\" to next",
                );
            }
            if on_error == ErrorHandling::Custom && !has("error") {
                reporter.report(
                    "next.error",
                    "required edge is missing: onError is custom, so failures follow the error edge",
                    "add \"error\": \"<step id>\" to next, or set onError to automatic or ignore",
                );
            }
            if on_error != ErrorHandling::Custom && has("error") {
                reporter.report(
                    "next.error",
                    format!(
                        "the error edge is never followed because onError is {}",
                        on_error.as_str()
                    ),
                    "set onError to custom, or remove next.error",
                );
            }
            for (outcome, _) in map.into_iter().flatten() {
                if outcome != "success" && outcome != "error" {
                    reporter.report(
                        &member("next", outcome),
                        format!("unknown outcome {outcome:?}: actions and connectors end with success or error"),
                        "rename the outcome to success or error, or branch with a condition step",
                    );
                }
            }
        }
        Some(StepKind::Condition) => {
            if map.is_none_or(Map::is_empty) {
                reporter.report(
                    "next",
                    "a condition needs at least one branch",
                    "map each branch name to a step, such as {\"true\": \"tag\", \"false\": \"done\"}",
                );
            }
            if on_error == ErrorHandling::Custom && !has("error") {
                reporter.report(
                    "next.error",
                    "required edge is missing: onError is custom, so failures follow the error edge",
                    "add \"error\": \"<step id>\" to next, or set onError to automatic",
                );
            }
        }
        Some(StepKind::End) | None => {}
    }
    edges
}

/// Fields of a step's `limits`, with an example value for messages.
const STEP_LIMIT_FIELDS: [(&str, u64); 6] = [
    ("timeoutMs", 500),
    ("memoryMib", 32),
    ("fuel", 100_000_000),
    ("outputBytes", 65_536),
    ("hostCalls", 100),
    ("hostCallBytes", 65_536),
];

fn read_limits(value: &Value, reporter: &mut Reporter<'_>) -> StepLimits {
    let mut limits = StepLimits::default();
    let Some(map) = reporter.object(
        value,
        "limits",
        "write limits as an object, such as {\"timeoutMs\": 500}",
    ) else {
        return limits;
    };
    for (field, example) in STEP_LIMIT_FIELDS {
        let Some(value) = map.get(field) else {
            continue;
        };
        let number = reporter.integer(value, &format!("limits.{field}"), 1, u64::MAX, example);
        match field {
            "timeoutMs" => limits.timeout_ms = number,
            "memoryMib" => limits.memory_mib = number,
            "fuel" => limits.fuel = number,
            "outputBytes" => limits.output_bytes = number,
            "hostCalls" => limits.host_calls = number,
            _ => limits.host_call_bytes = number,
        }
    }
    if map.contains_key("wasmStackKib") {
        reporter.report(
            "limits.wasmStackKib",
            "the Wasm stack size cannot be set per step: wasmtime sets it for the whole engine",
            "remove limits.wasmStackKib, and ask the operator to change the server setting \
             `wasm_stack_kib` if every step needs a larger stack",
        );
    }
    let allowed = STEP_LIMIT_FIELDS.map(|(field, _)| field);
    reporter.unknown_fields(map, "limits", &allowed, &["wasmStackKib"]);
    limits
}

fn read_retry(value: &Value, reporter: &mut Reporter<'_>) -> Option<RetryPolicy> {
    let example = "{\"attempts\": 3, \"backoffMs\": 200, \"on\": [\"timeout\"]}";
    let map = reporter.object(
        value,
        "retry",
        &format!("write retry as an object, such as {example}"),
    )?;
    let attempts = match map.get("attempts") {
        Some(value) => reporter.integer(value, "retry.attempts", 1, u64::from(u32::MAX), 3),
        None => {
            reporter.missing(
                "retry.attempts",
                "set the maximum number of attempts, such as 3",
            );
            None
        }
    };
    let backoff_ms = match map.get("backoffMs") {
        Some(value) => reporter.integer(value, "retry.backoffMs", 0, u64::MAX, 200),
        None => {
            reporter.missing(
                "retry.backoffMs",
                "set the wait between attempts in milliseconds, such as 200",
            );
            None
        }
    };
    let on = match map.get("on") {
        Some(value) => read_error_kinds(value, reporter),
        None => {
            reporter.missing(
                "retry.on",
                "list the error kinds to retry, such as [\"timeout\"]",
            );
            None
        }
    };
    reporter.unknown_fields(map, "retry", &["attempts", "backoffMs", "on"], &[]);

    Some(RetryPolicy {
        attempts: u32::try_from(attempts?).ok()?,
        backoff_ms: backoff_ms?,
        on: on?,
    })
}

fn read_error_kinds(value: &Value, reporter: &mut Reporter<'_>) -> Option<Vec<String>> {
    let items = reporter.array(
        value,
        "retry.on",
        "list error kinds as strings, such as [\"timeout\"]",
    )?;
    let mut kinds = Vec::with_capacity(items.len());
    let mut valid = true;
    for (index, item) in items.iter().enumerate() {
        match reporter.non_empty_string(item, &format!("retry.on[{index}]"), "timeout") {
            Some(kind) => kinds.push(kind.to_owned()),
            None => valid = false,
        }
    }
    valid.then_some(kinds)
}

/// Parses the templates in `value`, reports each error at its location and
/// records reads of `actions.<key>` and `connectors.<key>`.
pub(super) fn parse_template(
    value: &Value,
    location: &str,
    reporter: &mut Reporter<'_>,
    reads: &mut Vec<(String, &'static str, String)>,
) -> ValueTemplate {
    let mut errors: Vec<TemplateError> = Vec::new();
    let template = ValueTemplate::parse_collecting(value, &mut location.to_owned(), &mut errors);
    for error in errors {
        reporter.report(&error.location, error.message, error.fix);
    }

    template.visit_paths(&mut |inner, path| {
        let namespace = match path.namespace() {
            "actions" => "actions",
            "connectors" => "connectors",
            _ => return,
        };
        if let Some(Segment::Key(key)) = path.segments().get(1) {
            reads.push((format!("{location}{inner}"), namespace, key.to_string()));
        }
    });
    template
}

/// Formats names as `"a", "b" or "c"`.
pub(super) fn quoted_list(names: &[&str], last_separator: &str) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("{name:?}")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            format!("{}{last_separator}{last}", rest.join(", "))
        }
        _ => quoted.concat(),
    }
}
