//! Validation of flow documents and compilation into [`CompiledFlow`].

mod graph;
mod outputs;
mod reader;
mod step;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use self::reader::Reporter;
use self::step::{StepDraft, read_step};
use crate::catalog::ComponentCatalog;
use crate::model::{CompiledFlow, CompiledStep, FlowLimits, Trigger};
use crate::problem::{Part, Problem, Problems};

/// Top-level fields of a flow document. `$schema` is accepted for editors
/// and ignored.
const DOCUMENT_FIELDS: [&str; 9] = [
    "id",
    "name",
    "description",
    "type",
    "version",
    "trigger",
    "limits",
    "start",
    "steps",
];

/// Parses and validates a flow document and compiles it.
///
/// # Errors
///
/// Returns every problem found, in document order. Invalid JSON yields a
/// single problem with the line and column. Otherwise each step is checked on
/// its own, so one broken step does not hide the problems of the others.
pub fn validate(text: &str, catalog: &dyn ComponentCatalog) -> Result<CompiledFlow, Vec<Problem>> {
    let document: Value = match serde_json::from_str(text) {
        Ok(document) => document,
        Err(error) => return Err(vec![syntax_problem(&error)]),
    };

    // TODO: members of one JSON object are checked in key order, not in
    // document order, because serde_json's Map keeps keys sorted unless its
    // `preserve_order` feature is on. Remove once the workspace enables it.
    let mut problems = Problems::default();
    let header = read_header(&document, &mut problems);
    let steps = read_steps(&document, catalog, &mut problems);
    let start = graph::check(&header, &steps, &mut problems);
    if !problems.is_empty() {
        return Err(problems.into_sorted());
    }
    assemble(header, steps, start, &document).ok_or_else(|| {
        vec![Problem {
            step: None,
            location: String::new(),
            message: "internal error: the flow passed validation but could not be compiled"
                .to_owned(),
            fix: "report this as a bug in sluice-flow, with the flow document".to_owned(),
        }]
    })
}

fn syntax_problem(error: &serde_json::Error) -> Problem {
    let text = error.to_string();
    // serde_json appends " at line L column C", which the location repeats.
    let message = match text.rfind(" at line ") {
        Some(end) => &text[..end],
        None => &text,
    };
    Problem {
        step: None,
        location: format!("line {}, column {}", error.line(), error.column()),
        message: format!("invalid JSON: {message}"),
        fix: "correct the JSON syntax at that position".to_owned(),
    }
}

/// Top-level fields as far as they could be read.
struct Header<'v> {
    id: Option<&'v str>,
    name: Option<&'v str>,
    description: Option<&'v str>,
    version: Option<u32>,
    trigger: Option<Trigger>,
    limits: FlowLimits,
    start: Option<&'v str>,
}

fn read_header<'v>(document: &'v Value, problems: &mut Problems) -> Header<'v> {
    let mut header = Header {
        id: None,
        name: None,
        description: None,
        version: Some(1),
        trigger: Some(Trigger::default()),
        limits: FlowLimits::default(),
        start: None,
    };
    let mut reporter = Reporter::new(problems, Part::Document, None);
    let Some(root) = reporter.object(
        document,
        "",
        "write the flow as a JSON object with id, type, start and steps",
    ) else {
        return header;
    };
    reporter.unknown_fields(root, "", &DOCUMENT_FIELDS, &["$schema"]);

    header.id = match root.get("id") {
        Some(value) => reporter.non_empty_string(value, "id", "welcome-user"),
        None => {
            reporter.missing("id", "give the flow an id, such as \"welcome-user\"");
            None
        }
    };
    header.name = match root.get("name") {
        Some(value) => reporter.string(value, "name", "Welcome a new user"),
        None => header.id,
    };
    header.description = match root.get("description") {
        Some(value) => reporter.string(value, "description", "Tags new users"),
        None => Some(""),
    };
    match root.get("type") {
        None => reporter.missing("type", "add \"type\": \"management\""),
        Some(value) => match reporter.string(value, "type", "management") {
            Some("management") | None => {}
            Some(other) => reporter.report(
                "type",
                format!("flow type {other:?} is not supported: Sluice runs only management flows"),
                "set type to \"management\", and move interactive parts to an interactive flow",
            ),
        },
    }
    if let Some(value) = root.get("version") {
        header.version = reporter
            .integer(value, "version", 1, u64::from(u32::MAX), 1)
            .and_then(|version| u32::try_from(version).ok());
    }
    if let Some(value) = root.get("trigger") {
        header.trigger = read_trigger(value, &mut reporter);
    }
    if let Some(value) = root.get("limits") {
        header.limits = read_flow_limits(value, &mut reporter);
    }
    header.start = match root.get("start") {
        Some(value) => reporter.non_empty_string(value, "start", "load-user"),
        None => {
            reporter.missing("start", "set start to the id of the first step");
            None
        }
    };
    header
}

fn read_trigger(value: &Value, reporter: &mut Reporter<'_>) -> Option<Trigger> {
    let example = "{\"api\": true, \"auditEvents\": [\"UserCreated\"]}";
    let map = reporter.object(
        value,
        "trigger",
        &format!("write the trigger as an object, such as {example}"),
    )?;
    let mut trigger = Trigger::default();
    let mut valid = true;

    if let Some(value) = map.get("api") {
        match reporter.boolean(value, "trigger.api") {
            Some(api) => trigger.api = api,
            None => valid = false,
        }
    }
    if let Some(value) = map.get("auditEvents") {
        match read_audit_events(value, reporter) {
            Some(events) => trigger.audit_events = events,
            None => valid = false,
        }
    }
    if let Some(value) = map.get("ownEvents") {
        match reporter.boolean(value, "trigger.ownEvents") {
            Some(own_events) => trigger.own_events = own_events,
            None => valid = false,
        }
    }
    match map.get("schedule") {
        None | Some(Value::Null) => {}
        Some(value) => match reporter.string(value, "trigger.schedule", "0 3 * * *") {
            Some(schedule) => trigger.schedule = Some(schedule.to_owned()),
            None => valid = false,
        },
    }
    reporter.unknown_fields(
        map,
        "trigger",
        &["api", "auditEvents", "ownEvents", "schedule"],
        &[],
    );
    valid.then_some(trigger)
}

fn read_flow_limits(value: &Value, reporter: &mut Reporter<'_>) -> FlowLimits {
    let mut limits = FlowLimits::default();
    let Some(map) = reporter.object(
        value,
        "limits",
        "write the run's limits as an object, such as {\"timeoutMs\": 5000}",
    ) else {
        return limits;
    };
    if let Some(value) = map.get("timeoutMs") {
        limits.timeout_ms = reporter.integer(value, "limits.timeoutMs", 1, u64::MAX, 5000);
    }
    if let Some(value) = map.get("maxSteps") {
        limits.max_steps = reporter.integer(value, "limits.maxSteps", 1, u64::MAX, 100);
    }
    reporter.unknown_fields(map, "limits", &["timeoutMs", "maxSteps"], &[]);
    limits
}

fn read_audit_events(value: &Value, reporter: &mut Reporter<'_>) -> Option<Vec<String>> {
    let items = reporter.array(
        value,
        "trigger.auditEvents",
        "list audit event types as strings, such as [\"UserCreated\"]",
    )?;
    let mut events: Vec<String> = Vec::with_capacity(items.len());
    let mut valid = true;
    for (index, item) in items.iter().enumerate() {
        let location = format!("trigger.auditEvents[{index}]");
        let Some(event) = reporter.non_empty_string(item, &location, "UserCreated") else {
            valid = false;
            continue;
        };
        if events.iter().any(|seen| seen == event) {
            reporter.report(
                &location,
                format!("audit event type {event:?} is listed twice"),
                "remove the second entry",
            );
        }
        events.push(event.to_owned());
    }
    valid.then_some(events)
}

/// A step as far as it could be read, with the id other steps can use for it.
pub(super) struct ReadStep<'v> {
    /// Id, unless it is missing, invalid or a duplicate.
    id: Option<&'v str>,
    /// `None` when the step is not an object.
    draft: Option<StepDraft<'v>>,
}

fn read_steps<'v>(
    document: &'v Value,
    catalog: &dyn ComponentCatalog,
    problems: &mut Problems,
) -> Vec<ReadStep<'v>> {
    let Some(root) = document.as_object() else {
        return Vec::new();
    };
    let mut reporter = Reporter::new(problems, Part::Document, None);
    let Some(value) = root.get("steps") else {
        reporter.missing("steps", "list the steps of the flow, at least one end step");
        return Vec::new();
    };
    let Some(items) = reporter.array(value, "steps", "write steps as an array of step objects")
    else {
        return Vec::new();
    };
    if items.is_empty() {
        reporter.report(
            "steps",
            "the flow has no steps",
            "add the steps, at least one end step",
        );
    }

    let mut first_index: HashMap<&str, usize> = HashMap::new();
    let mut steps = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let mut id = item
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.trim().is_empty());
        if let Some(duplicate) = id {
            if let Some(&first) = first_index.get(duplicate) {
                Reporter::new(problems, Part::Step(index), None).report(
                    "id",
                    format!("step id {duplicate:?} is already used by steps[{first}]"),
                    "give each step a unique id",
                );
                id = None;
            } else {
                first_index.insert(duplicate, index);
            }
        }

        let mut reporter = Reporter::new(problems, Part::Step(index), id);
        let draft = reporter
            .object(item, "", "write each step as an object with id and kind")
            .map(|map| read_step(map, catalog, &mut reporter));
        steps.push(ReadStep { id, draft });
    }
    steps
}

/// Builds the compiled flow. Returns `None` only when a field that validation
/// requires is absent, which validation reports first.
fn assemble(
    header: Header<'_>,
    steps: Vec<ReadStep<'_>>,
    start: Option<usize>,
    document: &Value,
) -> Option<CompiledFlow> {
    let index_of: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .filter_map(|(index, step)| Some((step.id?, index)))
        .collect();

    let mut compiled = Vec::with_capacity(steps.len());
    for step in steps {
        let draft = step.draft?;
        let mut next = BTreeMap::new();
        for (outcome, target) in draft.edges {
            next.insert(outcome.to_owned(), *index_of.get(target)?);
        }
        let id = step.id?.to_owned();
        compiled.push(CompiledStep {
            context_key: draft.context_key.unwrap_or_else(|| id.clone()),
            id,
            kind: draft.kind?,
            component: draft.component,
            connector: draft.connector,
            config: draft.config,
            on_error: draft.on_error,
            next,
            outputs: draft.outputs,
            limits: draft.limits,
            retry: draft.retry,
        });
    }

    Some(CompiledFlow {
        id: header.id?.to_owned(),
        name: header.name?.to_owned(),
        description: header.description?.to_owned(),
        version: header.version?,
        trigger: header.trigger?,
        start: start?,
        steps: compiled,
        limits: header.limits,
        document: document.clone(),
    })
}
