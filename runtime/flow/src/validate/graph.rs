//! Checks across steps: edges, the start step, context keys, template reads
//! and reachability.

use std::collections::{HashMap, HashSet};

use super::reader::{Reporter, member};
use super::step::quoted_list;
use super::{Header, ReadStep};
use crate::model::StepKind;
use crate::problem::{Part, Problems};
use crate::suggest::closest;

/// Maximum number of step ids listed in a fix.
const MAX_LISTED_IDS: usize = 10;

/// Runs the checks that need every step and returns the index of the start
/// step when it exists.
pub(super) fn check(
    header: &Header<'_>,
    steps: &[ReadStep<'_>],
    problems: &mut Problems,
) -> Option<usize> {
    let index_of: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .filter_map(|(index, step)| Some((step.id?, index)))
        .collect();
    let ids: Vec<&str> = steps.iter().filter_map(|step| step.id).collect();

    let successors = check_edges(steps, &index_of, &ids, problems);
    let start = header.start.and_then(|start| match index_of.get(start) {
        Some(&index) => Some(index),
        None => {
            Reporter::new(problems, Part::Document, None).report(
                "start",
                format!("step {start:?} does not exist"),
                target_fix(start, &ids),
            );
            None
        }
    });
    check_context_keys(steps, problems);
    check_reads(steps, problems);
    check_reachability(steps, &successors, start, problems);
    start
}

/// Reports edges to missing steps and returns the successors of each step.
fn check_edges(
    steps: &[ReadStep<'_>],
    index_of: &HashMap<&str, usize>,
    ids: &[&str],
    problems: &mut Problems,
) -> Vec<Vec<usize>> {
    let mut successors = vec![Vec::new(); steps.len()];
    for (index, step) in steps.iter().enumerate() {
        let Some(draft) = &step.draft else { continue };
        let mut reporter = Reporter::new(problems, Part::Step(index), step.id);
        for &(outcome, target) in &draft.edges {
            match index_of.get(target) {
                Some(&next) => successors[index].push(next),
                None => reporter.report(
                    &member("next", outcome),
                    format!("step {target:?} does not exist"),
                    target_fix(target, ids),
                ),
            }
        }
    }
    successors
}

fn target_fix(target: &str, ids: &[&str]) -> String {
    let close = closest(target, ids.iter().copied());
    if !close.is_empty() {
        return format!("did you mean {}?", quoted_list(&close, " or "));
    }
    let mut listed = ids
        .iter()
        .take(MAX_LISTED_IDS)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > MAX_LISTED_IDS {
        listed.push_str(", …");
    }
    if listed.is_empty() {
        "add the step it should name".to_owned()
    } else {
        format!("point it at one of: {listed}")
    }
}

/// Reports steps that would store their results at the same context key.
fn check_context_keys(steps: &[ReadStep<'_>], problems: &mut Problems) {
    let mut owners: HashMap<(&str, &str), &str> = HashMap::new();
    for (index, step) in steps.iter().enumerate() {
        let Some(draft) = &step.draft else { continue };
        let (Some(namespace), Some(key), Some(id)) = (
            draft.kind.and_then(StepKind::namespace),
            &draft.context_key,
            step.id,
        ) else {
            continue;
        };
        match owners.get(&(namespace, key.as_str())) {
            Some(owner) => Reporter::new(problems, Part::Step(index), step.id).report(
                "contextKey",
                format!("context key {key:?} is also used by step {owner:?}, so both results would be stored at {namespace}.{key}"),
                "set a different contextKey on one of the two steps",
            ),
            None => {
                owners.insert((namespace, key.as_str()), id);
            }
        }
    }
}

/// Reports templates that read `actions.<key>` or `connectors.<key>` when no
/// step of that namespace stores its result at that key.
fn check_reads(steps: &[ReadStep<'_>], problems: &mut Problems) {
    let mut keys: HashMap<&str, Vec<&str>> = HashMap::new();
    // Keys of steps whose kind is unknown could belong to either namespace;
    // their kind is already reported, so reads of them are not.
    let mut uncertain: HashSet<&str> = HashSet::new();
    for step in steps {
        let Some(draft) = &step.draft else { continue };
        match (draft.kind.and_then(StepKind::namespace), &draft.context_key) {
            (Some(namespace), Some(key)) => keys.entry(namespace).or_default().push(key),
            _ if draft.kind.is_none() => uncertain.extend(step.id),
            _ => {}
        }
    }

    for (index, step) in steps.iter().enumerate() {
        let Some(draft) = &step.draft else { continue };
        let mut reporter = Reporter::new(problems, Part::Step(index), step.id);
        for (location, namespace, key) in &draft.reads {
            let known = keys.get(namespace).map(Vec::as_slice).unwrap_or_default();
            if known.contains(&key.as_str()) || uncertain.contains(key.as_str()) {
                continue;
            }
            let (other, kind, a_kind) = match *namespace {
                "actions" => ("connectors", "action", "an action"),
                _ => ("actions", "connector", "a connector"),
            };
            let in_other = keys
                .get(other)
                .is_some_and(|other_keys| other_keys.contains(&key.as_str()));
            let close = closest(key, known.iter().copied());
            let fix = if in_other {
                format!(
                    "the step with context key {key:?} is not {a_kind} step, so read {other}.{key} instead"
                )
            } else if let Some(close) = close.first() {
                format!("did you mean {namespace}.{close}?")
            } else {
                format!(
                    "correct the key, or set contextKey to {key:?} on the {kind} step whose result this reads"
                )
            };
            reporter.report(
                location,
                format!("reads {namespace}.{key}, but no {kind} step has the context key {key:?}"),
                fix,
            );
        }
    }
}

/// Reports steps that no path from the start step reaches, and a flow in
/// which no End step can be reached.
fn check_reachability(
    steps: &[ReadStep<'_>],
    successors: &[Vec<usize>],
    start: Option<usize>,
    problems: &mut Problems,
) {
    let has_end = steps.iter().any(|step| {
        step.draft
            .as_ref()
            .is_some_and(|draft| draft.kind == Some(StepKind::End))
    });
    if !steps.is_empty() && !has_end {
        Reporter::new(problems, Part::Graph, None).report(
            "",
            "the flow has no end step",
            "add a step of kind end with the outputs the run returns, and point the last edges at it",
        );
    }
    let Some(start) = start else { return };

    let mut reached = vec![false; steps.len()];
    let mut pending = vec![start];
    reached[start] = true;
    while let Some(index) = pending.pop() {
        for &next in &successors[index] {
            if !reached[next] {
                reached[next] = true;
                pending.push(next);
            }
        }
    }

    let start_id = steps[start].id.unwrap_or_default();
    for (index, step) in steps.iter().enumerate() {
        // A step without a usable id cannot be the target of an edge, and
        // its id is already reported.
        if !reached[index] && step.draft.is_some() && step.id.is_some() {
            Reporter::new(problems, Part::Step(index), step.id).report(
                "",
                format!("the step is not reachable from the start step {start_id:?}"),
                "add an edge to it from a reachable step, or remove it",
            );
        }
    }

    let end_reached = steps.iter().zip(&reached).any(|(step, &reached)| {
        reached
            && step
                .draft
                .as_ref()
                .is_some_and(|draft| draft.kind == Some(StepKind::End))
    });
    if has_end && !end_reached {
        Reporter::new(problems, Part::Graph, None).report(
            "",
            format!("no end step is reachable from the start step {start_id:?}"),
            "point an edge of a reachable step at an end step",
        );
    }
}
