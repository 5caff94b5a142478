use serde_json::json;

use super::*;
use crate::http::{self, Method, Request, Response};
use crate::types::{
    JsonObject, NewAuditEvent, NewUser, UserPatch, UserQuery, UserStatus, UserTenant,
};
use crate::{audit, config, consent, log, tenants, users};

fn ada() -> User {
    User {
        user_id: "U1".into(),
        login_ids: vec!["ada@example.com".into()],
        email: Some("ada@example.com".into()),
        name: Some("Ada Lovelace".into()),
        ..User::default()
    }
}

fn acme() -> Tenant {
    Tenant::new("acme", "Acme")
}

#[test]
fn create_user_assigns_id_and_time() {
    let host = MockHost::new().with_time(42).install();

    let user = users::create(&NewUser::new("grace")).expect("create succeeds");

    assert!(!user.user_id.is_empty());
    assert_eq!(user.created_time, 42);
    assert_eq!(user.status, UserStatus::Enabled);
    assert_eq!(host.users(), vec![user]);
}

#[test]
fn create_user_rejects_taken_login_id() {
    let _host = MockHost::new().with_user(ada()).install();

    let error = users::create(&NewUser::new("ada@example.com")).expect_err("login id is taken");

    assert_eq!(error.kind(), "invalid-config");
    assert!(error.message().contains("ada@example.com"), "{error}");
}

#[test]
fn create_user_rejects_taken_additional_login_id() {
    let _host = MockHost::new().with_user(ada()).install();
    let new_user = NewUser {
        additional_login_ids: vec!["ada@example.com".into()],
        ..NewUser::new("other")
    };

    let error = users::create(&new_user).expect_err("additional login id is taken");

    assert_eq!(error.kind(), "invalid-config");
}

#[test]
fn create_user_rejects_empty_login_id() {
    let host = MockHost::new().install();

    let error = users::create(&NewUser::new("")).expect_err("empty login id");

    assert_eq!(error.kind(), "invalid-config");
    assert!(host.users().is_empty());
}

#[test]
fn create_user_with_unknown_tenant_is_not_found() {
    let _host = MockHost::new().install();
    let new_user = NewUser {
        user_tenants: vec![UserTenant::new("nope", vec![])],
        ..NewUser::new("grace")
    };

    let error = users::create(&new_user).expect_err("tenant does not exist");

    assert_eq!(error.kind(), "not-found");
}

#[test]
fn load_missing_user_is_not_found() {
    let _host = MockHost::new().with_user(ada()).install();

    assert_eq!(users::load("U1").map(|user| user.user_id), Ok("U1".into()));
    assert_eq!(
        users::load("U9").map_err(|error| error.kind()),
        Err("not-found")
    );
    assert_eq!(
        users::load_by_login_id("nobody").map_err(|error| error.kind()),
        Err("not-found")
    );
}

#[test]
fn update_user_keeps_id_and_creation_time() {
    let original = User {
        created_time: 7,
        ..ada()
    };
    let _host = MockHost::new().with_user(original).install();

    let replaced = users::update("U1", &NewUser::new("ada2")).expect("update succeeds");

    assert_eq!(replaced.user_id, "U1");
    assert_eq!(replaced.created_time, 7);
    assert_eq!(replaced.login_ids, vec!["ada2"]);
    assert_eq!(replaced.email, None);
}

#[test]
fn update_user_may_keep_own_login_id() {
    let _host = MockHost::new().with_user(ada()).install();

    let result = users::update("U1", &NewUser::new("ada@example.com"));

    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn patch_merges_custom_attributes() {
    let mut user = ada();
    user.custom_attributes.insert("plan".into(), json!("free"));
    user.custom_attributes.insert("seats".into(), json!(1));
    let _host = MockHost::new().with_user(user).install();
    let mut changes = JsonObject::new();
    changes.insert("plan".into(), json!("pro"));
    changes.insert("seats".into(), json!(null));
    changes.insert("region".into(), json!("eu"));
    let patch = UserPatch {
        given_name: Some("Ada".into()),
        custom_attributes: Some(changes),
        ..UserPatch::default()
    };

    let patched = users::patch("U1", &patch).expect("patch succeeds");

    assert_eq!(patched.given_name.as_deref(), Some("Ada"));
    assert_eq!(patched.email.as_deref(), Some("ada@example.com"));
    assert_eq!(
        Value::Object(patched.custom_attributes),
        json!({"plan": "pro", "region": "eu"})
    );
}

#[test]
fn set_custom_attribute_null_removes_key() {
    let _host = MockHost::new().with_user(ada()).install();

    users::set_custom_attribute("U1", "plan", &json!("pro")).expect("set succeeds");
    let user = users::set_custom_attribute("U1", "plan", &Value::Null).expect("remove succeeds");

    assert!(user.custom_attributes.is_empty());
}

#[test]
fn project_roles_set_add_remove() {
    let _host = MockHost::new().with_user(ada()).install();

    users::set_roles("U1", None, &["a", "b", "a"]).expect("set succeeds");
    users::add_roles("U1", None, &["b", "c"]).expect("add succeeds");
    let user = users::remove_roles("U1", None, &["a", "missing"]).expect("remove succeeds");

    assert_eq!(user.role_names, vec!["b", "c"]);
}

#[test]
fn tenant_roles_need_membership() {
    let _host = MockHost::new()
        .with_user(ada())
        .with_tenant(acme())
        .install();

    let error = users::add_roles("U1", Some("acme"), &["admin"]).expect_err("not a member");
    assert_eq!(error.kind(), "invalid-config");

    users::add_tenant("U1", "acme", &["viewer"]).expect("add tenant succeeds");
    let user = users::add_roles("U1", Some("acme"), &["admin"]).expect("add roles succeeds");

    assert_eq!(user.role_names, Vec::<String>::new());
    let membership = user.tenant("acme").expect("member of acme");
    assert_eq!(membership.tenant_name, "Acme");
    assert_eq!(membership.role_names, vec!["viewer", "admin"]);
}

#[test]
fn add_tenant_unknown_tenant_is_not_found() {
    let _host = MockHost::new().with_user(ada()).install();

    let error = users::add_tenant("U1", "nope", &["admin"]).expect_err("no such tenant");

    assert_eq!(error.kind(), "not-found");
}

#[test]
fn remove_tenant_is_idempotent() {
    let _host = MockHost::new()
        .with_user(ada())
        .with_tenant(acme())
        .install();
    users::add_tenant("U1", "acme", &["viewer"]).expect("add tenant succeeds");

    let user = users::remove_tenant("U1", "acme").expect("remove succeeds");
    assert!(user.user_tenants.is_empty());
    let again = users::remove_tenant("U1", "acme").expect("second remove succeeds");
    assert!(again.user_tenants.is_empty());
}

#[test]
fn delete_user_removes_consents() {
    let host = MockHost::new()
        .with_user(ada())
        .with_consent("U1", "crm", &["email"])
        .install();

    users::delete("U1").expect("delete succeeds");

    assert!(host.users().is_empty());
    assert!(host.consents("U1", "crm").is_empty());
    assert_eq!(
        users::delete("U1").map_err(|error| error.kind()),
        Err("not-found")
    );
}

#[test]
fn search_filters_and_pages() {
    let mut grace = User {
        user_id: "U2".into(),
        login_ids: vec!["grace".into()],
        status: UserStatus::Disabled,
        ..User::default()
    };
    grace.role_names.push("admin".into());
    let _host = MockHost::new().with_user(ada()).with_user(grace).install();

    let all = users::search(&UserQuery::default()).expect("search succeeds");
    assert_eq!(all.total, 2);

    let disabled = users::search(&UserQuery {
        statuses: vec![UserStatus::Disabled],
        ..UserQuery::default()
    })
    .expect("search succeeds");
    assert_eq!(disabled.users.len(), 1);
    assert_eq!(disabled.users[0].user_id, "U2");

    let by_text = users::search(&UserQuery {
        text: Some("LOVELACE".into()),
        ..UserQuery::default()
    })
    .expect("search succeeds");
    assert_eq!(by_text.users[0].user_id, "U1");

    let by_role = users::search(&UserQuery {
        role_names: vec!["admin".into()],
        ..UserQuery::default()
    })
    .expect("search succeeds");
    assert_eq!(by_role.total, 1);

    let second_page = users::search(&UserQuery {
        page: 1,
        limit: 1,
        ..UserQuery::default()
    })
    .expect("search succeeds");
    assert_eq!(second_page.total, 2);
    assert_eq!(second_page.users.len(), 1);
    assert_eq!(second_page.users[0].user_id, "U2");
}

#[test]
fn tenant_create_update_delete() {
    let host = MockHost::new().with_user(ada()).install();

    let created = tenants::create(&Tenant::new("", "Acme")).expect("create succeeds");
    assert!(!created.id.is_empty());
    users::add_tenant("U1", &created.id, &["viewer"]).expect("add tenant succeeds");

    let renamed = Tenant {
        name: "Acme Inc".into(),
        ..created.clone()
    };
    tenants::update(&renamed).expect("update succeeds");
    let user = host.user("U1").expect("user exists");
    assert_eq!(user.user_tenants[0].tenant_name, "Acme Inc");

    tenants::delete(&created.id).expect("delete succeeds");
    assert!(host.tenants().is_empty());
    assert!(
        host.user("U1")
            .expect("user exists")
            .user_tenants
            .is_empty()
    );
}

#[test]
fn tenant_create_rejects_taken_id_and_empty_name() {
    let _host = MockHost::new().with_tenant(acme()).install();

    let taken = tenants::create(&Tenant::new("acme", "Other")).expect_err("id is taken");
    assert_eq!(taken.kind(), "invalid-config");
    let unnamed = tenants::create(&Tenant::new("new", " ")).expect_err("name is empty");
    assert_eq!(unnamed.kind(), "invalid-config");
    let missing = tenants::update(&Tenant::new("nope", "Nope")).expect_err("no such tenant");
    assert_eq!(missing.kind(), "not-found");
}

#[test]
fn consent_grant_and_revoke() {
    let host = MockHost::new().with_user(ada()).install();

    let granted =
        consent::grant("U1", "crm", &["profile", "email", "profile"]).expect("grant succeeds");
    assert_eq!(granted, vec!["profile", "email"]);
    let remaining = consent::revoke("U1", "crm", &["email"]).expect("revoke succeeds");
    assert_eq!(remaining, vec!["profile"]);
    let none: [&str; 0] = [];
    let cleared = consent::revoke("U1", "crm", &none).expect("revoke all succeeds");
    assert!(cleared.is_empty());
    assert!(host.consents("U1", "crm").is_empty());

    let missing = consent::grant("U9", "crm", &["email"]).expect_err("no such user");
    assert_eq!(missing.kind(), "not-found");
}

#[test]
fn audit_emit_stores_event() {
    let host = MockHost::new()
        .with_time(10)
        .with_actor_id("run:r1")
        .install();
    let mut event = NewAuditEvent::new("Checked");
    event.user_id = Some("U1".into());

    let stored = audit::emit(&event).expect("emit succeeds");

    assert_eq!(stored.occurred, 10_000);
    assert_eq!(stored.actor_id, "run:r1");
    assert_eq!(host.audit_events(), vec![stored]);
    let unnamed = audit::emit(&NewAuditEvent::new("")).expect_err("action is empty");
    assert_eq!(unnamed.kind(), "invalid-config");
}

#[test]
fn logs_and_config_are_recorded() {
    let host = MockHost::new()
        .with_config("baseUrl", "https://api.example.com")
        .with_secret("token", "s3cret")
        .install();

    log::info("hello");
    crate::warn!("careful with {}", 3);

    assert_eq!(
        config::get("baseUrl").as_deref(),
        Some("https://api.example.com")
    );
    assert_eq!(config::get("missing"), None);
    assert_eq!(config::secret("token").as_deref(), Some("s3cret"));
    let logs = host.logs();
    assert_eq!(logs.len(), 2);
    assert_eq!(
        logs[0],
        LogLine {
            level: Level::Info,
            message: "hello".into()
        }
    );
    assert_eq!(logs[1].level, Level::Warn);
    assert_eq!(logs[1].message, "careful with 3");
}

#[test]
fn http_returns_canned_responses() {
    let host = MockHost::new()
        .with_http_response(
            Method::Get,
            "https://api.example.com/a",
            Response::with_json(200, &json!({"ok": true})),
        )
        .with_http_error(
            Method::Post,
            "https://api.example.com/b",
            "connection refused",
        )
        .install();

    let response = http::send(Request::get("https://api.example.com/a")).expect("canned response");
    let body: Value = response.json().expect("JSON body");
    assert_eq!(body, json!({"ok": true}));

    let refused = http::send(Request::post("https://api.example.com/b")).expect_err("canned error");
    assert_eq!(refused.kind(), "upstream-failure");
    assert!(
        refused.message().contains("connection refused"),
        "{refused}"
    );

    let unknown =
        http::send(Request::get("https://api.example.com/c")).expect_err("no canned response");
    assert_eq!(unknown.kind(), "upstream-failure");

    assert_eq!(host.requests().len(), 3);
    assert_eq!(host.requests()[1].method, Method::Post);
}

#[test]
#[should_panic(expected = "no MockHost is installed")]
fn host_call_without_mock_panics() {
    let _ = users::load("U1");
}

#[test]
fn inner_install_shadows_outer() {
    let outer = MockHost::new().with_user(ada()).install();
    {
        let _inner = MockHost::new().install();
        assert!(users::load("U1").is_err());
    }
    assert!(users::load("U1").is_ok());
    assert_eq!(outer.users().len(), 1);
}

struct Echo;

impl Action for Echo {
    type Config = EchoConfig;

    fn run(config: EchoConfig, context: &Context) -> Result<ActionOutput, StepError> {
        Ok(ActionOutput::value(
            json!({"name": config.name, "user": context.user_id()}),
        ))
    }
}

#[derive(serde::Deserialize)]
struct EchoConfig {
    name: String,
}

#[test]
fn run_action_parses_config_and_context() {
    let output =
        run_action::<Echo>(json!({"name": "x"}), json!({"user": {"userId": "U1"}})).expect("runs");

    assert_eq!(output.value, json!({"name": "x", "user": "U1"}));
}

#[test]
fn run_action_reports_invalid_config() {
    let error =
        run_action::<Echo>(json!({"name": 3}), json!({})).expect_err("name must be a string");

    assert_eq!(error.kind(), "invalid-config");
    assert!(error.message().contains("`name`"), "{error}");
}

#[test]
fn load_target_prefers_config_then_context() {
    let mut grace = User {
        user_id: "U2".into(),
        login_ids: vec!["grace".into()],
        ..User::default()
    };
    grace.email = None;
    let _host = MockHost::new().with_user(ada()).with_user(grace).install();
    let context = Context::new(json!({"user": {"userId": "U1"}}));

    assert_eq!(
        users::load_target(Some("U2"), None, &context).map(|user| user.user_id),
        Ok("U2".into())
    );
    assert_eq!(
        users::load_target(None, Some("grace"), &context).map(|user| user.user_id),
        Ok("U2".into())
    );
    assert_eq!(
        users::load_target(None, None, &context).map(|user| user.user_id),
        Ok("U1".into())
    );
    let both = users::load_target(Some("U1"), Some("grace"), &context).expect_err("both ids");
    assert_eq!(both.kind(), "invalid-config");
    let empty = users::load_target(Some(""), None, &context).expect_err("empty id");
    assert_eq!(empty.kind(), "invalid-config");
    let no_user = users::load_target(None, None, &Context::default()).expect_err("no current user");
    assert_eq!(no_user.kind(), "not-found");
}
