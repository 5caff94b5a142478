//! The expression tree of a condition config: predicates and groups.

use serde_json::{Map, Value};
use sluice_sdk::{Context, StepError};

use crate::operator::{Operand, Operator};

/// Deepest nesting of groups accepted. It keeps the recursive parser and
/// evaluator well inside a 64 KiB guest stack.
const MAX_DEPTH: usize = 32;

/// Context key of the current element inside an `every` or `some` group.
pub const ELEMENT_KEY: &str = "item";

/// A parsed condition.
#[derive(Debug)]
pub enum Expression {
    /// True when every expression is true.
    All(Vec<Expression>),
    /// True when at least one expression is true.
    Any(Vec<Expression>),
    /// True when the expression is false.
    Not(Box<Expression>),
    /// True when the value at `key` is an array and every element (or,
    /// with `any_element`, at least one) makes `condition` true. The
    /// element is the context value `item` while `condition` runs.
    Each {
        /// Context key path of the array.
        key: String,
        /// Whether one matching element is enough (`some`) rather than all (`every`).
        any_element: bool,
        /// The condition each element is tested with.
        condition: Box<Expression>,
    },
    /// One comparison against a context value.
    Predicate {
        /// Context key path of the value to test.
        key: String,
        /// Comparison to apply.
        operator: Operator,
        /// The `value` of the predicate, checked for the operator.
        operand: Operand,
    },
}

fn invalid(path: &str, message: impl std::fmt::Display) -> StepError {
    if path.is_empty() {
        StepError::invalid_config(format!("invalid config: {message}"))
    } else {
        StepError::invalid_config(format!("invalid config field `{path}`: {message}"))
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Expression {
    /// Parses and checks a condition config: key paths, operators, operand
    /// types and regular expressions.
    ///
    /// # Errors
    ///
    /// Returns [`StepError::InvalidConfig`] naming the field of the first
    /// problem found.
    pub fn parse(config: &Value) -> Result<Expression, StepError> {
        parse_at(config, "", 0)
    }

    /// Evaluates the expression against the context.
    pub fn evaluate(&self, context: &Context) -> bool {
        match self {
            Expression::All(items) => items.iter().all(|item| item.evaluate(context)),
            Expression::Any(items) => items.iter().any(|item| item.evaluate(context)),
            Expression::Not(item) => !item.evaluate(context),
            Expression::Each {
                key,
                any_element,
                condition,
            } => {
                let Some(Value::Array(elements)) = context.get(key) else {
                    return false;
                };
                let mut root = match context.as_value() {
                    Value::Object(fields) => fields.clone(),
                    _ => Map::new(),
                };
                let mut test = |element: &Value| {
                    root.insert(ELEMENT_KEY.to_owned(), element.clone());
                    condition.evaluate(&Context::new(Value::Object(root.clone())))
                };
                if *any_element {
                    elements.iter().any(&mut test)
                } else {
                    elements.iter().all(&mut test)
                }
            }
            Expression::Predicate {
                key,
                operator,
                operand,
            } => operator.apply(context.get(key), operand),
        }
    }
}

fn parse_at(value: &Value, path: &str, depth: usize) -> Result<Expression, StepError> {
    if depth > MAX_DEPTH {
        return Err(invalid(
            path,
            format!("groups are nested more than {MAX_DEPTH} levels deep"),
        ));
    }
    let Value::Object(object) = value else {
        return Err(invalid(
            path,
            "expected an object: a predicate with `key` and `operator`, or a group `all`, `any` or `not`",
        ));
    };

    let groups: Vec<&str> = ["all", "any", "not", "every", "some"]
        .into_iter()
        .filter(|name| object.contains_key(*name))
        .collect();
    match groups.as_slice() {
        [] => parse_predicate(object, path),
        [group] if object.len() == 1 => parse_group(group, &object[*group], path, depth),
        [group] => Err(invalid(
            path,
            format!("a `{group}` group takes no other fields; wrap predicates in the group's list"),
        )),
        _ => Err(invalid(
            path,
            format!(
                "an object contains one group, found {}; nest them, for example {{\"all\": [{{\"any\": [...]}}, ...]}}",
                groups.join(" and ")
            ),
        )),
    }
}

fn parse_group(
    group: &str,
    items: &Value,
    path: &str,
    depth: usize,
) -> Result<Expression, StepError> {
    let group_path = join(path, group);
    if group == "every" || group == "some" {
        return parse_each(group, items, &group_path, depth);
    }
    if group == "not" {
        let inner = parse_at(items, &group_path, depth + 1)?;
        return Ok(Expression::Not(Box::new(inner)));
    }

    let Value::Array(items) = items else {
        return Err(invalid(
            &group_path,
            "expected a list of predicates or groups",
        ));
    };
    let parsed = items
        .iter()
        .enumerate()
        .map(|(index, item)| parse_at(item, &format!("{group_path}[{index}]"), depth + 1))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match group {
        "all" => Expression::All(parsed),
        _ => Expression::Any(parsed),
    })
}

/// Parses `{"every" | "some": {"key": "<array path>", "match": expression}}`.
fn parse_each(group: &str, body: &Value, path: &str, depth: usize) -> Result<Expression, StepError> {
    let Value::Object(fields) = body else {
        return Err(invalid(
            path,
            "expected an object with `key` (the array) and `match` (the condition each `item` is tested with)",
        ));
    };
    for field in fields.keys() {
        if !matches!(field.as_str(), "key" | "match") {
            return Err(invalid(
                &join(path, field),
                format!("unknown field; an `{group}` group has `key` and `match`"),
            ));
        }
    }
    let key_path = join(path, "key");
    let key = match fields.get("key") {
        Some(Value::String(key)) => key.clone(),
        _ => return Err(invalid(&key_path, "expected the context key path of an array, such as `client.metadata.redirect_uris`")),
    };
    Context::default()
        .try_get(&key)
        .map_err(|error| invalid(&key_path, error.message()))?;
    let Some(condition) = fields.get("match") else {
        return Err(invalid(&join(path, "match"), "missing; give the condition each `item` is tested with"));
    };
    let condition = parse_at(condition, &join(path, "match"), depth + 1)?;
    Ok(Expression::Each {
        key,
        any_element: group == "some",
        condition: Box::new(condition),
    })
}

fn parse_predicate(object: &Map<String, Value>, path: &str) -> Result<Expression, StepError> {
    for field in object.keys() {
        if !matches!(field.as_str(), "key" | "operator" | "value") {
            return Err(invalid(
                &join(path, field),
                "unknown field; a predicate has `key`, `operator` and `value`",
            ));
        }
    }

    let key_path = join(path, "key");
    let key = match object.get("key") {
        Some(Value::String(key)) => key.clone(),
        Some(_) => {
            return Err(invalid(
                &key_path,
                "expected a context key path string such as `user.email`",
            ));
        }
        None => {
            return Err(invalid(
                &key_path,
                "missing; name the context value to test, such as `user.email`",
            ));
        }
    };
    // Reject a malformed path now rather than treating it as missing later.
    Context::default()
        .try_get(&key)
        .map_err(|error| invalid(&key_path, error.message()))?;

    let operator_path = join(path, "operator");
    let operator = match object.get("operator") {
        Some(Value::String(name)) => Operator::from_name(name).ok_or_else(|| {
            invalid(
                &operator_path,
                format!(
                    "unknown operator \"{name}\"; valid operators: {}",
                    Operator::NAMES.join(", ")
                ),
            )
        })?,
        Some(_) | None => {
            return Err(invalid(
                &operator_path,
                format!("expected one of: {}", Operator::NAMES.join(", ")),
            ));
        }
    };

    let operand = operator
        .check_operand(object.get("value"))
        .map_err(|message| invalid(&join(path, "value"), message))?;
    Ok(Expression::Predicate {
        key,
        operator,
        operand,
    })
}
