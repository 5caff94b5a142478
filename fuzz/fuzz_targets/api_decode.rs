//! Fuzzes the decoding of management API request bodies and the checks
//! that need no store, in `sluice-model`.
//!
//! Input: one byte that picks the body type, then the body. The crate has
//! no wasmtime, so this target builds in seconds and `.ci/run` runs it;
//! `api_body` covers the same bodies through the whole router. Checks,
//! besides the absence of panics:
//! - `parse_body` reads a blank body as `{}` and otherwise accepts exactly
//!   the bodies that serde_json parses as one JSON object nesting no deeper
//!   than `MAX_JSON_DEPTH`;
//! - a JSON object that a body type rejects gets an error that names a
//!   field of the object;
//! - every check of a decoded body agrees with the fields it checks.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value, json};
use sluice_fuzz::check_parse_body;
use sluice_model::BodyError;
use sluice_model::body::audit::{self, EventBody, FLOW_ACTOR_PREFIX, Rounding, millis};
use sluice_model::body::{flows, tenants, users};
use sluice_model::identity::{MAX_AUDIT_ACTION_LEN, Tenant, User, UserStatus};
use sluice_model::json::parse_body;

/// Fields of the body types that also take a second name, with that name.
const ALIASES: [(&str, &str); 1] = [("displayName", "name")];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let Some(Value::Object(value)) = check_parse_body(body) else {
        return;
    };
    match selector % 25 {
        0 => {
            if let Some(decoded) = decode::<users::UserFields>(body, &value) {
                check_user_fields(decoded);
            }
        }
        1 => {
            decode::<users::UserIdsBody>(body, &value);
        }
        2 => {
            let batch = decode::<users::CreateBatchBody>(body, &value);
            for (index, fields) in batch.and_then(|batch| batch.users).into_iter().flatten().enumerate() {
                let path = format!("users[{index}].");
                if let Err(BodyError::Missing { field, .. }) = fields.into_new_user(&path) {
                    assert!(field.starts_with(&path), "`{field}` does not start with `{path}`");
                }
            }
        }
        3 => {
            let batch = decode::<users::PatchBatchBody>(body, &value);
            batch.and_then(|batch| batch.users).into_iter().flatten().for_each(check_user_fields);
        }
        4 => {
            decode::<users::DeleteBody>(body, &value);
        }
        5 => {
            decode::<users::SearchBody>(body, &value);
        }
        6 => {
            decode::<users::StatusBody>(body, &value);
        }
        7 => {
            decode::<users::LoginIdBody>(body, &value);
        }
        8 => {
            decode::<users::ContactBody>(body, &value);
        }
        9 => {
            decode::<users::NameBody>(body, &value);
        }
        10 => {
            decode::<users::CustomAttributeBody>(body, &value);
        }
        11 => {
            decode::<users::RolesBody>(body, &value);
        }
        12 => {
            decode::<users::TenantBody>(body, &value);
        }
        13 => {
            if let Some(decoded) = decode::<tenants::TenantFields>(body, &value) {
                check_tenant_fields(decoded);
            }
        }
        14 => {
            decode::<tenants::DeleteBody>(body, &value);
        }
        15 => {
            if let Some(decoded) = decode::<tenants::SearchBody>(body, &value) {
                check_tenant_search(decoded);
            }
        }
        16 => {
            if let Some(run) = decode::<flows::RunBody>(body, &value) {
                check_run(run, &value);
            }
        }
        17 => {
            decode::<flows::ExecutionBody>(body, &value);
        }
        18 => {
            decode::<flows::DeleteBody>(body, &value);
        }
        19 => {
            decode::<flows::ImportBody>(body, &value);
        }
        20 => {
            decode::<flows::FlowVersionBody>(body, &value);
        }
        21 => {
            decode::<flows::ListRunsBody>(body, &value);
        }
        22 => {
            decode::<flows::ReplayBody>(body, &value);
        }
        23 => {
            if let Some(decoded) = decode::<audit::SearchBody>(body, &value) {
                check_audit_search(decoded);
            }
        }
        _ => {
            if let Some(decoded) = decode::<EventBody>(body, &value) {
                check_event(decoded);
            }
        }
    }
});

/// Decodes `body`, which parses as the JSON object `fields`, into `T`.
/// Every field of every body type is optional, so a rejected object must
/// have a field of the wrong type or a field given twice, and the error
/// must name it.
fn decode<T: DeserializeOwned>(body: &[u8], fields: &Map<String, Value>) -> Option<T> {
    let error = match parse_body::<T>(body) {
        Ok(decoded) => return Some(decoded),
        Err(BodyError::Malformed(message)) => message,
        Err(other) => panic!("decoding returned {other:?}, not a malformed-body error"),
    };
    let field = if let Some(rest) = error.strip_prefix("invalid request body: duplicate field `") {
        rest.split_once('`').map(|(key, _)| key)
    } else {
        error
            .strip_prefix("invalid field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(path, _)| path.split(['.', '[']).next().unwrap_or_default())
    };
    let field = field.unwrap_or_else(|| panic!("the error does not name a field: {error}"));
    // serde names a field by its own name when the body used an alias.
    let sent = fields.contains_key(field) || ALIASES.iter().any(|&(name, alias)| name == field && fields.contains_key(alias));
    assert!(sent, "the error names `{field}`, which is not in the body: {error}");
    None
}

/// Checks `check` and `into_new_user` against the fields, and that a patch
/// sets exactly the fields it names.
fn check_user_fields(fields: users::UserFields) {
    let login_id = fields.login_id.clone().filter(|id| !id.is_empty());
    let unnamed_tenant = fields
        .user_tenants
        .iter()
        .flatten()
        .position(|membership| membership.tenant_id.as_deref().is_none_or(str::is_empty));
    match (fields.check(""), &login_id, unnamed_tenant) {
        (Ok(checked), Some(login_id), None) => assert_eq!(&checked, login_id),
        (Err(BodyError::Missing { field, .. }), None, _) => assert_eq!(field, "loginId"),
        (Err(BodyError::Missing { field, .. }), Some(_), Some(index)) => {
            assert_eq!(field, format!("userTenants[{index}].tenantId"));
        }
        (result, _, _) => panic!("check returned {result:?} for login id {login_id:?}"),
    }

    let mut user = sample_user();
    fields.apply_patch(&mut user);
    let texts = [
        (&fields.email, &user.email, "ada@acme.com"),
        (&fields.phone, &user.phone, "+15550100"),
        (&fields.display_name, &user.name, "Ada"),
        (&fields.given_name, &user.given_name, "Ada"),
        (&fields.family_name, &user.family_name, "Lovelace"),
    ];
    for (requested, stored, before) in texts {
        match requested {
            Some(text) if text.is_empty() => assert_eq!(stored, &None),
            Some(text) => assert_eq!(stored.as_ref(), Some(text)),
            None => assert_eq!(stored.as_deref(), Some(before)),
        }
    }
    assert_eq!(user.login_ids.first().map(String::as_str), Some("ada@acme.com"), "a patch changed the primary login id");
    for (key, value) in fields.custom_attributes.iter().flatten() {
        assert_eq!(user.custom_attributes.get(key), Some(value));
    }
    if fields.custom_attributes.as_ref().is_none_or(|attributes| !attributes.contains_key("plan")) {
        assert_eq!(user.custom_attributes.get("plan"), Some(&json!("pro")), "a patch dropped an attribute it does not name");
    }

    let invite = fields.invite;
    let status = fields.status;
    if let Ok(new_user) = fields.into_new_user("") {
        assert_eq!(Some(&new_user.login_id), login_id.as_ref());
        let expected = status.or(if invite == Some(true) { Some(UserStatus::Invited) } else { None });
        assert_eq!(new_user.status, expected);
    }
}

fn sample_user() -> User {
    let mut custom_attributes = Map::new();
    custom_attributes.insert("plan".to_owned(), json!("pro"));
    User {
        user_id: "U1".to_owned(),
        login_ids: vec!["ada@acme.com".to_owned()],
        email: Some("ada@acme.com".to_owned()),
        phone: Some("+15550100".to_owned()),
        name: Some("Ada".to_owned()),
        given_name: Some("Ada".to_owned()),
        family_name: Some("Lovelace".to_owned()),
        custom_attributes,
        ..User::default()
    }
}

fn check_tenant_fields(fields: tenants::TenantFields) {
    let id = fields.id.clone().filter(|id| !id.is_empty());
    assert_eq!(fields.required_id().ok(), id);
    let name = fields.name.clone().filter(|name| !name.is_empty());
    match fields.required_name() {
        Ok(checked) => assert_eq!(Some(checked), name),
        Err(error) => assert_eq!(error, BodyError::missing("name")),
    }
}

/// Checks that a filter listing the sample tenant's own id, name and domain
/// matches it when every other filter is left out.
fn check_tenant_search(search: tenants::SearchBody) {
    let tenant = Tenant {
        id: "t1".to_owned(),
        name: "Acme".to_owned(),
        self_provisioning_domains: vec!["acme.com".to_owned()],
        custom_attributes: Map::new(),
    };
    let own = tenants::SearchBody {
        tenant_ids: search.tenant_ids.map(|mut ids| {
            ids.push(tenant.id.clone());
            ids
        }),
        tenant_names: search.tenant_names.map(|mut names| {
            names.push(tenant.name.clone());
            names
        }),
        tenant_self_provisioning_domains: search.tenant_self_provisioning_domains.map(|mut domains| {
            domains.push("acme.com".to_owned());
            domains
        }),
        custom_attributes: None,
    };
    assert!(own.matches(&tenant), "{own:?} does not match {tenant:?}");
}

/// Checks that the flow id is required, and that options nested under
/// `options` win over the same options at the top level.
fn check_run(run: flows::RunBody, body: &Map<String, Value>) {
    let flow_id = run.flow_id.clone().filter(|id| !id.is_empty());
    let nested_tenant = run.options.as_ref().and_then(|options| options.tenant.clone());
    let flat_tenant = run.tenant.clone();
    match run.into_parts() {
        Ok((id, input, tenant)) => {
            assert_eq!(Some(id), flow_id);
            assert_eq!(tenant, nested_tenant.or(flat_tenant));
            let nested_input = body.get("options").and_then(|options| options.get("input"));
            if nested_input.is_none_or(Value::is_null) {
                let flat_input = body.get("input").and_then(Value::as_object).cloned().unwrap_or_default();
                assert_eq!(input, flat_input);
            }
        }
        Err(error) => {
            assert!(flow_id.is_none(), "a run with flow id {flow_id:?} was rejected: {error}");
            assert_eq!(error, BodyError::missing("flowId"));
        }
    }
}

/// Checks that time bounds round outwards to whole milliseconds: `from` up
/// and `to` down, so the bound keeps the same events.
fn check_audit_search(search: audit::SearchBody) {
    let bounds = [(search.from.clone(), Rounding::Up), (search.to.clone(), Rounding::Down)];
    for (bound, rounding) in bounds {
        let Some(number) = bound else { continue };
        check_millis(&number, rounding);
    }
    let _ = search.into_query();
}

fn check_millis(number: &Number, rounding: Rounding) {
    let whole = millis(number, rounding);
    if let Some(exact) = number.as_i64() {
        assert_eq!(whole, exact);
        return;
    }
    if number.as_u64().is_some() {
        assert_eq!(whole, i64::MAX);
        return;
    }
    let Some(float) = number.as_f64() else { return };
    // Beyond 2^53 an f64 has no fraction, and the conversion may saturate.
    if float.abs() < 9_007_199_254_740_992.0 {
        let rounded = whole as f64;
        match rounding {
            Rounding::Up => assert!(rounded >= float && rounded - float < 1.0, "{float} rounded up to {whole}"),
            Rounding::Down => assert!(rounded <= float && float - rounded < 1.0, "{float} rounded down to {whole}"),
        }
    }
}

fn check_event(event: EventBody) {
    let data_is_object = matches!(event.data, None | Some(Value::Null | Value::Object(_)));
    match event.check() {
        Ok(checked) => {
            assert!(!checked.action.is_empty());
            assert!(checked.action.len() <= MAX_AUDIT_ACTION_LEN);
            assert_eq!(checked.action, checked.action.trim());
            assert!(!checked.actor_id.is_empty());
            assert!(!checked.actor_id.starts_with(FLOW_ACTOR_PREFIX));
            assert!(data_is_object);
            assert!(checked.tenant_id.as_deref().is_none_or(|id| !id.is_empty()));
            assert!(checked.user_id.as_deref().is_none_or(|id| !id.is_empty()));
        }
        Err(BodyError::Missing { field, hint }) => {
            assert!(["action", "type", "actorId"].contains(&field.as_str()), "missing `{field}`");
            assert!(hint.is_some(), "no hint for `{field}`");
        }
        Err(BodyError::Invalid(message)) => {
            assert!(message.starts_with("invalid field `"), "{message}");
        }
        Err(other) => panic!("the event check returned {other:?}"),
    }
}
