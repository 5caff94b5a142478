//! Fuzzes `sluice_flow::validate`, the parser and validator of flow documents.
//!
//! Checks, besides the absence of panics:
//! - a rejected document gets at least one problem, each with a message and
//!   a fix, and the same problems on a second call;
//! - an accepted document compiles to a consistent graph: unique step ids,
//!   edges and start inside the step list, components of the step's world;
//! - the compiled flow's stored `document` validates again to the same graph.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_flow::{ComponentCatalog, CompiledFlow, Problem, StepKind, validate};
use sluice_fuzz::FuzzCatalog;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match validate(text, &FuzzCatalog) {
        Ok(flow) => check_compiled(&flow),
        Err(problems) => check_problems(text, &problems),
    }
});

fn check_problems(text: &str, problems: &[Problem]) {
    assert!(!problems.is_empty(), "a rejected flow has no problem");
    for problem in problems {
        assert!(!problem.message.is_empty(), "problem without a message: {problem:?}");
        assert!(!problem.fix.is_empty(), "problem without a fix: {problem:?}");
    }
    let again = validate(text, &FuzzCatalog).expect_err("the second validation accepted the flow");
    assert_eq!(problems, again.as_slice(), "two validations disagree");
}

fn check_compiled(flow: &CompiledFlow) {
    assert!(!flow.id.is_empty(), "compiled flow without an id");
    assert!(flow.version >= 1, "version {} is below 1", flow.version);
    assert!(flow.start < flow.steps.len(), "start index {} is out of range", flow.start);

    for (index, step) in flow.steps.iter().enumerate() {
        assert_eq!(flow.step_index(&step.id), Some(index), "step id {:?} is not unique", step.id);
        for (outcome, &target) in &step.next {
            assert!(
                target < flow.steps.len(),
                "step {:?}: edge {outcome:?} points at index {target}, out of range",
                step.id
            );
        }
        match step.kind {
            StepKind::End => {
                assert!(step.component.is_none(), "End step {:?} has a component", step.id);
                assert!(step.next.is_empty(), "End step {:?} has edges", step.id);
            }
            kind => {
                let component = step
                    .component
                    .as_deref()
                    .unwrap_or_else(|| panic!("{kind} step {:?} has no component", step.id));
                assert_eq!(
                    FuzzCatalog.world(component),
                    kind.world(),
                    "step {:?}: component {component:?} has the wrong world",
                    step.id
                );
                assert!(step.outputs.is_empty(), "{kind} step {:?} has outputs", step.id);
            }
        }
    }

    // The stored document must validate again to the same graph, because the
    // server stores it and compiles it again on restart and on rollback.
    let stored = flow.document.to_string();
    let again = match validate(&stored, &FuzzCatalog) {
        Ok(again) => again,
        Err(problems) => panic!(
            "the stored document of a valid flow is invalid:\n{}",
            sluice_flow::format_problems(&problems)
        ),
    };
    assert_eq!(flow.id, again.id);
    assert_eq!(flow.start, again.start);
    assert_eq!(flow.trigger, again.trigger);
    assert_eq!(flow.steps.len(), again.steps.len());
    for (step, step_again) in flow.steps.iter().zip(&again.steps) {
        assert_eq!(step.id, step_again.id);
        assert_eq!(step.kind, step_again.kind);
        assert_eq!(step.component, step_again.component);
        assert_eq!(step.next, step_again.next);
        assert_eq!(step.config, step_again.config);
        assert_eq!(step.context_key, step_again.context_key);
    }
}
