//! Helpers shared by the fuzz targets in `fuzz_targets/`.

use serde_json::{Value, json};
use sluice_flow::{ComponentCatalog, World};
use sluice_model::BodyError;
use sluice_model::json::{MAX_JSON_DEPTH, parse_body};

/// Components a fuzzed flow may use, with their worlds: the built-ins and a
/// few third-party references, like the catalog of `sluice-flow`'s tests.
const COMPONENTS: [(&str, World); 11] = [
    ("builtin:condition", World::Condition),
    ("builtin:load-user", World::Action),
    ("builtin:update-user", World::Action),
    ("builtin:delete-user", World::Action),
    ("builtin:create-tenant", World::Action),
    ("builtin:update-tenant", World::Action),
    ("builtin:update-consent", World::Action),
    ("builtin:generate-audit-event", World::Action),
    ("acme/slack@1.2.0", World::Connector),
    ("acme/crm-lookup@2.0.0", World::Connector),
    ("file:./components/check-domain.wasm", World::Condition),
];

/// A fixed component catalog, so that validation does not depend on files.
pub struct FuzzCatalog;

impl ComponentCatalog for FuzzCatalog {
    fn world(&self, reference: &str) -> Option<World> {
        COMPONENTS
            .iter()
            .find(|(name, _)| *name == reference)
            .map(|(_, world)| *world)
    }

    fn references(&self) -> Vec<String> {
        COMPONENTS
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect()
    }
}

/// Splits fuzz input at its first NUL byte into a main part and an optional
/// second part, so one input can carry a document and a context.
pub fn split_at_nul(data: &[u8]) -> (&[u8], Option<&[u8]>) {
    match data.iter().position(|&byte| byte == 0) {
        Some(index) => (&data[..index], Some(&data[index + 1..])),
        None => (data, None),
    }
}

/// Returns a flow context with every namespace and every JSON type, for
/// inputs that carry no context of their own.
pub fn sample_context() -> Value {
    json!({
        "client": {
            "email": "ada@acme.com",
            "plan": "pro",
            "age": "42",
            "score": 7.5,
            "count": 3,
            "tags": ["beta", "staff"],
            "flag": "TRUE",
            "empty": "",
            "nothing": null,
            "nested": {"list": [{"id": "a"}, {"id": "b"}]}
        },
        "user": {
            "userId": "U1",
            "loginIds": ["ada@acme.com", "ada"],
            "email": "ada@acme.com",
            "verifiedEmail": true,
            "phone": null,
            "roleNames": [],
            "customAttributes": {"plan": "pro", "seats": 5},
            "userTenants": [{"tenantId": "t1", "roleNames": ["admin"]}]
        },
        "tenant": {"id": "t1", "name": "Acme", "selfProvisioningDomains": ["acme.com"]},
        "triggeringEvent": {"action": "LoginFailed", "data": {"attempts": 5}},
        "actions": {"load": {"userId": "U1"}},
        "connectors": {"crm": {"items": [1, 2, 3]}}
    })
}

/// Checks that `parse_body` reads a blank body as `{}` and otherwise accepts
/// exactly the bodies that serde_json parses as one JSON object nesting no
/// deeper than `MAX_JSON_DEPTH`. Returns the value when it is accepted.
pub fn check_parse_body(body: &[u8]) -> Option<Value> {
    let decoded = parse_body::<Value>(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        assert_eq!(decoded, Ok(json!({})));
        return decoded.ok();
    }
    let expected = serde_json::from_slice::<Value>(body)
        .map_err(|error| error.to_string())
        .and_then(|value| {
            let depth = nesting(&value);
            if depth > MAX_JSON_DEPTH {
                Err(format!("nests {depth} levels"))
            } else if !value.is_object() {
                Err("is not an object".to_owned())
            } else {
                Ok(value)
            }
        });
    match (decoded, expected) {
        (Ok(decoded), Ok(expected)) => {
            assert_eq!(decoded, expected);
            Some(decoded)
        }
        (Err(BodyError::Malformed(message)), Err(_)) => {
            assert!(!message.is_empty());
            None
        }
        (decoded, expected) => panic!("parse_body returned {decoded:?}, serde_json returned {expected:?}"),
    }
}

/// Returns how many arrays and objects nest in `value`, itself included.
pub fn nesting(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(nesting).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.values().map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}
