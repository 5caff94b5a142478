//! Built-in condition `builtin:condition`: follows the `true` or `false`
//! branch depending on predicates over the flow context.
//!
//! The config is one expression:
//!
//! - a predicate `{"key": "user.email", "operator": "ends-with", "value": "@acme.com"}`,
//!   where `key` is a context key path (dots, and `[n]` for array indexes);
//! - `{"all": [expression, ...]}`, true when every expression is true (an
//!   empty list is true);
//! - `{"any": [expression, ...]}`, true when at least one expression is
//!   true (an empty list is false);
//! - `{"not": expression}`, the negation;
//! - `{"every": {"key": "client.metadata.redirect_uris", "match": expression}}`,
//!   true when the key is an array and every element makes `match` true (an
//!   empty array is true, a missing key or a non-array is false). Inside
//!   `match` the element is the context value `item`, so
//!   `{"key": "item", "operator": "starts-with", "value": "https://"}` tests it;
//! - `{"some": {"key": ..., "match": expression}}`, true when at least one
//!   element makes `match` true.
//!
//! See [`Operator`] for the operators. The whole config is checked before
//! anything is evaluated, so a typo in a branch that would not be reached
//! still fails the step with `invalid-config`.

mod expression;
mod operator;

use serde_json::Value;
use sluice_sdk::{Condition, Context, StepError};

pub use expression::Expression;
pub use operator::Operator;

/// The built-in condition step.
pub struct PredicateCondition;

impl Condition for PredicateCondition {
    type Config = Value;

    fn evaluate(config: Value, context: &Context) -> Result<String, StepError> {
        let expression = Expression::parse(&config)?;
        let branch = expression.evaluate(context);
        Ok(branch.to_string())
    }
}

sluice_sdk::export_condition!(PredicateCondition);

#[cfg(test)]
mod tests;
