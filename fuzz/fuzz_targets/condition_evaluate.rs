//! Fuzzes the built-in condition component (`components/condition`), built
//! natively: config parsing with `Expression::parse`, evaluation, and the
//! component entry point through the SDK's mock host.
//!
//! Input: a JSON config, then optionally a NUL byte and a JSON context.
//! Checks, besides the absence of panics:
//! - a rejected config is an `invalid-config` error;
//! - the component returns the branch that `Expression::evaluate` computes;
//! - `not` negates, and `all` and `any` of one expression equal it;
//! - `x and not x` is false and `x or not x` is true;
//! - swapping `equals` for `not-equals`, or `is-empty` for `is-not-empty`,
//!   negates a predicate.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use sluice_component_condition::{Expression, PredicateCondition};
use sluice_fuzz::{sample_context, split_at_nul};
use sluice_sdk::Context;
use sluice_sdk::mock::evaluate_condition;

fuzz_target!(|data: &[u8]| {
    let (config_bytes, context_bytes) = split_at_nul(data);
    let Ok(config) = serde_json::from_slice::<Value>(config_bytes) else {
        return;
    };
    // The host always passes an object, and the SDK rejects anything else
    // as an internal error, so other contexts are replaced.
    let context_value = context_bytes
        .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok())
        .filter(Value::is_object)
        .unwrap_or_else(sample_context);
    let context = Context::new(context_value.clone());

    let component_branch = evaluate_condition::<PredicateCondition>(config.clone(), context_value);
    let expression = match Expression::parse(&config) {
        Ok(expression) => expression,
        Err(error) => {
            assert_eq!(error.kind(), "invalid-config", "{error}");
            let component_error = component_branch.expect_err("the component accepted an invalid config");
            assert_eq!(component_error.kind(), "invalid-config", "{component_error}");
            return;
        }
    };

    let result = expression.evaluate(&context);
    assert_eq!(expression.evaluate(&context), result, "evaluation is not deterministic");
    match component_branch {
        Ok(branch) => assert_eq!(branch, result.to_string()),
        Err(error) => panic!("the component failed on a valid config: {error}"),
    }

    // Each wrapper adds one level of nesting, so a config at the nesting
    // limit is rejected once wrapped. Only wrappers that parse are checked.
    let wrapped = [
        (json!({ "not": config }), !result),
        (json!({ "all": [config] }), result),
        (json!({ "any": [config] }), result),
        (json!({ "all": [config, { "not": config }] }), false),
        (json!({ "any": [config, { "not": config }] }), true),
    ];
    for (wrapper, expected) in wrapped {
        if let Ok(expression) = Expression::parse(&wrapper) {
            assert_eq!(expression.evaluate(&context), expected, "{wrapper}");
        }
    }

    if let Some(swapped) = with_negated_operator(&config) {
        let negated = Expression::parse(&swapped).expect("the negated predicate parses");
        assert_eq!(negated.evaluate(&context), !result, "{swapped}");
    }
});

/// Returns the predicate with its operator replaced by the negated one, when
/// the config is a predicate whose operator has a negation.
fn with_negated_operator(config: &Value) -> Option<Value> {
    let operator = config.get("operator")?.as_str()?;
    let negated = match operator {
        "equals" => "not-equals",
        "not-equals" => "equals",
        "is-empty" => "is-not-empty",
        "is-not-empty" => "is-empty",
        _ => return None,
    };
    let mut swapped = config.clone();
    swapped["operator"] = Value::String(negated.to_owned());
    Some(swapped)
}
