//! `SqliteStore` against real database files in temporary folders.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use sluice::model::{
    AuditType, NewAuditEvent, NewUser, Tenant, User, UserQuery, UserStatus, UserTenant,
};
use sluice::store::{
    Actor, FlowStore, IdentityStore, ManagementKey, ProjectStore, RunRecord, RunStore, SqliteStore,
    StoreError,
};

const PROJECT: &str = "P1";
const OTHER_PROJECT: &str = "P2";

fn open(folder: &Path) -> SqliteStore {
    SqliteStore::open(&folder.join("sluice.db")).expect("open the store")
}

fn admin() -> Actor {
    Actor {
        id: "K1".to_owned(),
        remote_address: Some("192.0.2.7".to_owned()),
    }
}

fn new_user(login_id: &str) -> NewUser {
    NewUser {
        login_id: login_id.to_owned(),
        email: Some(login_id.to_owned()),
        ..NewUser::default()
    }
}

fn member_of(tenant_id: &str, roles: &[&str]) -> UserTenant {
    UserTenant {
        tenant_id: tenant_id.to_owned(),
        tenant_name: String::new(),
        role_names: roles.iter().map(|&role| role.to_owned()).collect(),
    }
}

fn tenant(id: &str, name: &str) -> Tenant {
    Tenant {
        id: id.to_owned(),
        name: name.to_owned(),
        ..Tenant::default()
    }
}

fn actions(store: &SqliteStore, project: &str) -> Vec<String> {
    store
        .audit_events(project)
        .expect("load audit events")
        .into_iter()
        .map(|event| event.action)
        .collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|&value| value.to_owned()).collect()
}

fn run(project: &str, run_id: &str, flow_id: &str, created: u64) -> RunRecord {
    RunRecord {
        run_id: run_id.to_owned(),
        project: project.to_owned(),
        flow_id: flow_id.to_owned(),
        flow_version: 1,
        status: "queued".to_owned(),
        input: json!({ "loginId": "ada@example.com" }),
        output: Value::Null,
        error: Value::Null,
        trace: json!([]),
        created,
        duration_us: 0,
    }
}

#[test]
fn open_creates_missing_folders() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let path = folder.path().join("data").join("nested").join("sluice.db");

    let store = SqliteStore::open(&path).expect("open the store");
    store
        .create_project(PROJECT, "First")
        .expect("create a project");

    assert!(path.is_file());
}

#[test]
fn open_sets_wal_mode() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let path = folder.path().join("sluice.db");
    let _store = SqliteStore::open(&path).expect("open the store");

    let connection = rusqlite::Connection::open(&path).expect("open the file with rusqlite");
    let journal_mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("read journal_mode");

    assert_eq!(journal_mode, "wal");
}

#[test]
fn user_round_trip() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    store
        .create_tenant(PROJECT, tenant("T1", "Acme"), &admin())
        .expect("create tenant");
    let mut custom_attributes = Map::new();
    custom_attributes.insert("plan".to_owned(), json!({ "tier": "gold", "seats": 3 }));
    let new = NewUser {
        login_id: "ada@example.com".to_owned(),
        additional_login_ids: strings(&["+15550100"]),
        email: Some("ada@example.com".to_owned()),
        phone: Some("+15550100".to_owned()),
        name: Some("Ada Lovelace".to_owned()),
        given_name: Some("Ada".to_owned()),
        family_name: Some("Lovelace".to_owned()),
        status: Some(UserStatus::Invited),
        verified_email: true,
        verified_phone: false,
        role_names: strings(&["admin"]),
        user_tenants: vec![member_of("T1", &["editor"])],
        custom_attributes,
    };

    let created = store
        .create_user(PROJECT, new, &admin())
        .expect("create user");

    assert!(created.user_id.starts_with('U'));
    assert!(created.created_time > 0);
    assert_eq!(
        created.login_ids,
        strings(&["ada@example.com", "+15550100"])
    );
    assert_eq!(created.user_tenants[0].tenant_name, "Acme");
    assert_eq!(
        store.load_user(PROJECT, &created.user_id),
        Ok(created.clone())
    );
    assert_eq!(
        store.load_user_by_login_id(PROJECT, "ada@example.com"),
        Ok(created.clone())
    );
    assert_eq!(
        store.load_user_by_login_id(PROJECT, "+15550100"),
        Ok(created.clone())
    );

    let modified = store
        .modify_user(
            PROJECT,
            &created.user_id,
            "UserModified",
            &admin(),
            &mut |user: &mut User| {
                user.name = Some("Ada King".to_owned());
                user.login_ids = strings(&["ada@king.example"]);
                user.status = UserStatus::Enabled;
                Ok(())
            },
        )
        .expect("modify user");

    assert_eq!(modified.name.as_deref(), Some("Ada King"));
    assert_eq!(
        store.load_user(PROJECT, &created.user_id),
        Ok(modified.clone())
    );
    assert_eq!(
        store.load_user_by_login_id(PROJECT, "ada@king.example"),
        Ok(modified.clone())
    );
    assert!(matches!(
        store.load_user_by_login_id(PROJECT, "ada@example.com"),
        Err(StoreError::NotFound { kind: "user", .. })
    ));

    store
        .delete_user(PROJECT, &created.user_id, &admin())
        .expect("delete user");

    assert!(matches!(
        store.load_user(PROJECT, &created.user_id),
        Err(StoreError::NotFound { kind: "user", .. })
    ));
    assert!(matches!(
        store.load_user_by_login_id(PROJECT, "ada@king.example"),
        Err(StoreError::NotFound { kind: "user", .. })
    ));
    store
        .create_user(PROJECT, new_user("ada@king.example"), &admin())
        .expect("a deleted user's login id is free again");
}

#[test]
fn modify_user_ignores_id_and_created_time() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    let created = store
        .create_user(PROJECT, new_user("ada@example.com"), &admin())
        .expect("create user");

    let modified = store
        .modify_user(
            PROJECT,
            &created.user_id,
            "UserModified",
            &admin(),
            &mut |user: &mut User| {
                user.user_id = "Uother".to_owned();
                user.created_time = 1;
                user.given_name = Some("Ada".to_owned());
                Ok(())
            },
        )
        .expect("modify user");

    assert_eq!(modified.user_id, created.user_id);
    assert_eq!(modified.created_time, created.created_time);
    assert_eq!(store.load_user(PROJECT, &created.user_id), Ok(modified));
}

#[test]
fn modify_without_change_records_nothing() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    store
        .create_tenant(PROJECT, tenant("T1", "Acme"), &admin())
        .expect("create tenant");
    let created = store
        .create_user(PROJECT, new_user("ada@example.com"), &admin())
        .expect("create user");

    store
        .modify_user(
            PROJECT,
            &created.user_id,
            "UserModified",
            &admin(),
            &mut |_: &mut User| Ok(()),
        )
        .expect("modify user");
    store
        .modify_tenant(PROJECT, "T1", &admin(), &mut |_: &mut Tenant| Ok(()))
        .expect("modify tenant");

    assert_eq!(actions(&store, PROJECT), ["TenantCreated", "UserCreated"]);
}

#[test]
fn search_filters_and_pages() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    store
        .create_tenant(PROJECT, tenant("T1", "Acme"), &admin())
        .expect("create tenant");
    let users = [
        NewUser {
            name: Some("Ada Lovelace".to_owned()),
            role_names: strings(&["admin"]),
            ..new_user("ada@example.com")
        },
        NewUser {
            status: Some(UserStatus::Disabled),
            ..new_user("bob@example.com")
        },
        NewUser {
            user_tenants: vec![member_of("T1", &["auditor"])],
            ..new_user("cy@example.org")
        },
        new_user("dee@example.org"),
        new_user("eve@example.org"),
    ];
    let mut ids = Vec::new();
    for user in users {
        ids.push(
            store
                .create_user(PROJECT, user, &admin())
                .expect("create user")
                .user_id,
        );
    }
    ids.sort();
    let ada = store
        .load_user_by_login_id(PROJECT, "ada@example.com")
        .expect("load ada")
        .user_id;
    let bob = store
        .load_user_by_login_id(PROJECT, "bob@example.com")
        .expect("load bob")
        .user_id;
    let cy = store
        .load_user_by_login_id(PROJECT, "cy@example.org")
        .expect("load cy")
        .user_id;
    let user_ids = |query: UserQuery| -> (Vec<String>, u32) {
        let (page, total) = store.search_users(PROJECT, &query).expect("search users");
        (page.into_iter().map(|user| user.user_id).collect(), total)
    };

    assert_eq!(user_ids(UserQuery::default()), (ids.clone(), 5));
    assert_eq!(
        user_ids(UserQuery {
            statuses: vec![UserStatus::Disabled],
            ..UserQuery::default()
        }),
        (vec![bob.clone()], 1)
    );
    assert_eq!(
        user_ids(UserQuery {
            tenant_ids: strings(&["T1"]),
            ..UserQuery::default()
        }),
        (vec![cy.clone()], 1)
    );
    let mut admins_and_auditors = vec![ada.clone(), cy.clone()];
    admins_and_auditors.sort();
    assert_eq!(
        user_ids(UserQuery {
            role_names: strings(&["admin", "auditor"]),
            ..UserQuery::default()
        }),
        (admins_and_auditors, 2)
    );
    assert_eq!(
        user_ids(UserQuery {
            text: Some("LOVELACE".to_owned()),
            ..UserQuery::default()
        }),
        (vec![ada.clone()], 1)
    );
    assert_eq!(
        user_ids(UserQuery {
            login_ids: strings(&["bob@example.com", "nobody@example.com"]),
            ..UserQuery::default()
        }),
        (vec![bob], 1)
    );
    assert_eq!(
        user_ids(UserQuery {
            text: Some("example.org".to_owned()),
            limit: 2,
            page: 1,
            ..UserQuery::default()
        })
        .1,
        3
    );

    for page in 0..3 {
        let (found, total) = user_ids(UserQuery {
            limit: 2,
            page,
            ..UserQuery::default()
        });
        let start = page as usize * 2;
        let expected: Vec<String> = ids.iter().skip(start).take(2).cloned().collect();
        assert_eq!(found, expected, "page {page}");
        assert_eq!(total, 5, "page {page}");
    }
}

#[test]
fn tenants_round_trip() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    let mut custom_attributes = Map::new();
    custom_attributes.insert("region".to_owned(), json!("eu"));
    let acme = Tenant {
        id: "T1".to_owned(),
        name: "Acme".to_owned(),
        self_provisioning_domains: strings(&["acme.example"]),
        custom_attributes,
    };

    assert_eq!(
        store.create_tenant(PROJECT, acme.clone(), &admin()),
        Ok(acme.clone())
    );
    let generated = store
        .create_tenant(PROJECT, tenant("", "Globex"), &admin())
        .expect("create tenant");
    assert!(generated.id.starts_with('T'));
    assert_eq!(store.load_tenant(PROJECT, "T1"), Ok(acme.clone()));
    assert!(matches!(
        store.create_tenant(PROJECT, tenant("T1", "Other"), &admin()),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_tenant(PROJECT, tenant("T9", "  "), &admin()),
        Err(StoreError::Invalid(_))
    ));

    let mut listed_ids: Vec<String> = store
        .list_tenants(PROJECT)
        .expect("list tenants")
        .into_iter()
        .map(|tenant| tenant.id)
        .collect();
    let in_order = listed_ids.clone();
    listed_ids.sort();
    assert_eq!(in_order, listed_ids);
    assert_eq!(in_order.len(), 2);

    let user = store
        .create_user(
            PROJECT,
            NewUser {
                user_tenants: vec![member_of("T1", &["editor"])],
                ..new_user("ada@example.com")
            },
            &admin(),
        )
        .expect("create user");
    let renamed = store
        .modify_tenant(PROJECT, "T1", &admin(), &mut |tenant: &mut Tenant| {
            tenant.name = "Acme Corp".to_owned();
            Ok(())
        })
        .expect("rename tenant");

    assert_eq!(renamed.name, "Acme Corp");
    assert_eq!(store.load_tenant(PROJECT, "T1"), Ok(renamed));
    let member = store.load_user(PROJECT, &user.user_id).expect("load user");
    assert_eq!(member.user_tenants[0].tenant_name, "Acme Corp");
    assert!(matches!(
        store.modify_tenant(PROJECT, "T1", &admin(), &mut |tenant: &mut Tenant| {
            tenant.name = String::new();
            Ok(())
        }),
        Err(StoreError::Invalid(_))
    ));

    store
        .delete_tenant(PROJECT, "T1", &admin())
        .expect("delete tenant");

    assert!(matches!(
        store.load_tenant(PROJECT, "T1"),
        Err(StoreError::NotFound { kind: "tenant", .. })
    ));
    assert!(
        store
            .load_user(PROJECT, &user.user_id)
            .expect("load user")
            .user_tenants
            .is_empty()
    );
    assert!(matches!(
        store.delete_tenant(PROJECT, "T1", &admin()),
        Err(StoreError::NotFound { kind: "tenant", .. })
    ));
}

#[test]
fn consent_grant_and_revoke() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    let user = store
        .create_user(PROJECT, new_user("ada@example.com"), &admin())
        .expect("create user");

    let granted = store
        .grant_consent(
            PROJECT,
            &user.user_id,
            "app1",
            &strings(&["read", "email"]),
            &admin(),
        )
        .expect("grant consent");
    assert_eq!(granted, strings(&["email", "read"]));
    let granted = store
        .grant_consent(
            PROJECT,
            &user.user_id,
            "app1",
            &strings(&["read", "write"]),
            &admin(),
        )
        .expect("grant consent again");
    assert_eq!(granted, strings(&["email", "read", "write"]));

    let remaining = store
        .revoke_consent(
            PROJECT,
            &user.user_id,
            "app1",
            &strings(&["read"]),
            &admin(),
        )
        .expect("revoke one scope");
    assert_eq!(remaining, strings(&["email", "write"]));
    let remaining = store
        .revoke_consent(PROJECT, &user.user_id, "app1", &[], &admin())
        .expect("revoke all scopes");
    assert!(remaining.is_empty());

    assert!(matches!(
        store.grant_consent(PROJECT, &user.user_id, " ", &strings(&["read"]), &admin()),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.grant_consent(PROJECT, "Unobody", "app1", &strings(&["read"]), &admin()),
        Err(StoreError::NotFound { kind: "user", .. })
    ));
    let events = store.audit_events(PROJECT).expect("load audit events");
    let last = events.last().expect("an audit event");
    assert_eq!(last.action, "ConsentRevoked");
    assert_eq!(last.data.get("appId"), Some(&json!("app1")));
    assert_eq!(last.data.get("granted"), Some(&json!([])));
    assert_eq!(last.external_ids, strings(&["ada@example.com"]));
}

#[test]
fn consent_goes_with_deleted_user() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    let user = store
        .create_user(PROJECT, new_user("ada@example.com"), &admin())
        .expect("create user");
    store
        .grant_consent(
            PROJECT,
            &user.user_id,
            "app1",
            &strings(&["read"]),
            &admin(),
        )
        .expect("grant consent");
    store
        .delete_user(PROJECT, &user.user_id, &admin())
        .expect("delete user");

    let again = store
        .create_user(PROJECT, new_user("ada@example.com"), &admin())
        .expect("create user again");
    let granted = store
        .grant_consent(PROJECT, &again.user_id, "app1", &[], &admin())
        .expect("read consent");

    assert!(granted.is_empty());
}

#[test]
fn audit_events_in_order() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    store
        .create_tenant(PROJECT, tenant("T1", "Acme"), &admin())
        .expect("create tenant");
    let user = store
        .create_user(
            PROJECT,
            NewUser {
                additional_login_ids: strings(&["ada"]),
                user_tenants: vec![member_of("T1", &[])],
                ..new_user("ada@example.com")
            },
            &admin(),
        )
        .expect("create user");
    store
        .modify_user(
            PROJECT,
            &user.user_id,
            "UserStatusChanged",
            &admin(),
            &mut |user: &mut User| {
                user.status = UserStatus::Disabled;
                Ok(())
            },
        )
        .expect("modify user");
    let recorded = store
        .record_audit(
            PROJECT,
            NewAuditEvent {
                action: "LoginFailed".to_owned(),
                audit_type: AuditType::Warn,
                actor_id: "flow:login:R1".to_owned(),
                user_id: Some(user.user_id.clone()),
                data: Map::from_iter([("reason".to_owned(), json!("bad password"))]),
                ..NewAuditEvent::default()
            },
        )
        .expect("record audit event");
    store
        .delete_user(PROJECT, &user.user_id, &admin())
        .expect("delete user");
    store
        .delete_tenant(PROJECT, "T1", &admin())
        .expect("delete tenant");

    let events = store.audit_events(PROJECT).expect("load audit events");

    assert_eq!(
        actions(&store, PROJECT),
        [
            "TenantCreated",
            "UserCreated",
            "UserStatusChanged",
            "LoginFailed",
            "UserDeleted",
            "TenantDeleted"
        ]
    );
    assert_eq!(events[3], recorded);
    assert!(
        events
            .iter()
            .all(|event| event.id.starts_with('A') && event.id.len() == 33)
    );
    assert!(events.iter().all(|event| event.project_id == PROJECT));
    assert_eq!(events[1].user_id.as_deref(), Some(user.user_id.as_str()));
    assert_eq!(events[1].tenants, strings(&["T1"]));
    assert_eq!(events[1].actor_id, "K1");
    assert_eq!(events[1].remote_address.as_deref(), Some("192.0.2.7"));
    assert_eq!(events[1].external_ids, strings(&["ada@example.com", "ada"]));
    assert_eq!(events[3].audit_type, AuditType::Warn);
    assert_eq!(events[4].external_ids, strings(&["ada@example.com", "ada"]));
    assert_eq!(events[5].tenants, strings(&["T1"]));
    assert!(
        events
            .windows(2)
            .all(|pair| pair[0].occurred <= pair[1].occurred)
    );
    assert!(matches!(
        store.record_audit(PROJECT, NewAuditEvent::default()),
        Err(StoreError::Invalid(_))
    ));
}

#[test]
fn validation_matches_memory_store() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    let ada = store
        .create_user(PROJECT, new_user("ada@example.com"), &admin())
        .expect("create user");

    assert!(matches!(
        store.create_user(PROJECT, new_user("ada@example.com"), &admin()),
        Err(StoreError::Conflict(message)) if message.contains("ada@example.com")
    ));
    assert!(matches!(
        store.create_user(
            PROJECT,
            NewUser {
                user_tenants: vec![member_of("Tmissing", &[])],
                ..new_user("bob@example.com")
            },
            &admin()
        ),
        Err(StoreError::NotFound { kind: "tenant", id }) if id == "Tmissing"
    ));
    assert!(matches!(
        store.create_user(PROJECT, new_user(" "), &admin()),
        Err(StoreError::Invalid(_))
    ));
    let bob = store
        .create_user(PROJECT, new_user("bob@example.com"), &admin())
        .expect("create user");
    assert!(matches!(
        store.modify_user(
            PROJECT,
            &bob.user_id,
            "UserModified",
            &admin(),
            &mut |user: &mut User| {
                user.login_ids.push("ada@example.com".to_owned());
                Ok(())
            }
        ),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.modify_user(
            PROJECT,
            &bob.user_id,
            "UserModified",
            &admin(),
            &mut |user: &mut User| {
                user.login_ids.clear();
                Ok(())
            }
        ),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.modify_user(
            PROJECT,
            "Unobody",
            "UserModified",
            &admin(),
            &mut |_: &mut User| Ok(())
        ),
        Err(StoreError::NotFound { kind: "user", .. })
    ));
    assert!(matches!(
        store.delete_user(PROJECT, "Unobody", &admin()),
        Err(StoreError::NotFound { kind: "user", .. })
    ));
    assert_eq!(store.load_user(PROJECT, &ada.user_id), Ok(ada));
}

#[test]
fn failed_change_writes_nothing() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    store
        .create_tenant(PROJECT, tenant("T1", "Acme"), &admin())
        .expect("create tenant");
    let ada = store
        .create_user(PROJECT, new_user("ada@example.com"), &admin())
        .expect("create user");
    let events_before = store.audit_events(PROJECT).expect("load audit events");

    let closure_error = store.modify_user(
        PROJECT,
        &ada.user_id,
        "UserModified",
        &admin(),
        &mut |user: &mut User| {
            user.name = Some("changed".to_owned());
            Err(StoreError::Invalid(
                "the step rejected the change".to_owned(),
            ))
        },
    );
    let validation_error = store.modify_user(
        PROJECT,
        &ada.user_id,
        "UserModified",
        &admin(),
        &mut |user: &mut User| {
            user.name = Some("changed".to_owned());
            user.login_ids.push("new@example.com".to_owned());
            user.user_tenants.push(member_of("Tmissing", &[]));
            Ok(())
        },
    );
    let create_error = store.create_user(
        PROJECT,
        NewUser {
            user_tenants: vec![member_of("T1", &[]), member_of("Tmissing", &[])],
            ..new_user("bob@example.com")
        },
        &admin(),
    );
    let tenant_error = store.modify_tenant(PROJECT, "T1", &admin(), &mut |tenant: &mut Tenant| {
        tenant.name = "Renamed".to_owned();
        Err(StoreError::Invalid(
            "the step rejected the change".to_owned(),
        ))
    });

    assert!(matches!(closure_error, Err(StoreError::Invalid(_))));
    assert!(matches!(
        validation_error,
        Err(StoreError::NotFound { kind: "tenant", .. })
    ));
    assert!(matches!(
        create_error,
        Err(StoreError::NotFound { kind: "tenant", .. })
    ));
    assert!(matches!(tenant_error, Err(StoreError::Invalid(_))));
    assert_eq!(store.audit_events(PROJECT), Ok(events_before));
    assert_eq!(store.load_user(PROJECT, &ada.user_id), Ok(ada));
    assert!(
        store
            .load_user_by_login_id(PROJECT, "new@example.com")
            .is_err()
    );
    assert!(
        store
            .load_user_by_login_id(PROJECT, "bob@example.com")
            .is_err()
    );
    assert_eq!(
        store
            .search_users(PROJECT, &UserQuery::default())
            .map(|(_, total)| total),
        Ok(1)
    );
    assert_eq!(
        store.load_tenant(PROJECT, "T1").map(|tenant| tenant.name),
        Ok("Acme".to_owned())
    );
}

#[test]
fn panicking_change_writes_nothing() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    let ada = store
        .create_user(PROJECT, new_user("ada@example.com"), &admin())
        .expect("create user");

    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.modify_user(
            PROJECT,
            &ada.user_id,
            "UserModified",
            &admin(),
            &mut |user: &mut User| {
                user.name = Some("changed".to_owned());
                panic!("a change that panics");
            },
        )
    }));

    assert!(outcome.is_err());
    assert_eq!(store.load_user(PROJECT, &ada.user_id), Ok(ada.clone()));
    assert_eq!(actions(&store, PROJECT), ["UserCreated"]);
    store
        .modify_user(
            PROJECT,
            &ada.user_id,
            "UserModified",
            &admin(),
            &mut |user: &mut User| {
                user.name = Some("after the panic".to_owned());
                Ok(())
            },
        )
        .expect("the store accepts changes after a panic");
}

#[test]
fn projects_are_isolated() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    store
        .create_tenant(PROJECT, tenant("T1", "Acme"), &admin())
        .expect("create tenant");
    let ada = store
        .create_user(PROJECT, new_user("ada@example.com"), &admin())
        .expect("create user");
    store
        .deploy_flow(PROJECT, "login", &json!({ "id": "login" }))
        .expect("deploy flow");
    store
        .insert_run(&run(PROJECT, "R1", "login", 10))
        .expect("insert run");

    // The other project sees none of it.
    assert!(matches!(
        store.load_user(OTHER_PROJECT, &ada.user_id),
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        store
            .load_user_by_login_id(OTHER_PROJECT, "ada@example.com")
            .is_err()
    );
    assert_eq!(
        store.search_users(OTHER_PROJECT, &UserQuery::default()),
        Ok((Vec::new(), 0))
    );
    assert!(store.load_tenant(OTHER_PROJECT, "T1").is_err());
    assert_eq!(store.list_tenants(OTHER_PROJECT), Ok(Vec::new()));
    assert_eq!(store.audit_events(OTHER_PROJECT), Ok(Vec::new()));
    assert_eq!(store.active_flow(OTHER_PROJECT, "login"), Ok(None));
    assert_eq!(store.active_flows(OTHER_PROJECT), Ok(Vec::new()));
    assert_eq!(store.flow_versions(OTHER_PROJECT, "login"), Ok(Vec::new()));
    assert_eq!(store.load_run(OTHER_PROJECT, "R1"), Ok(None));
    assert_eq!(store.list_runs(OTHER_PROJECT, None, 10), Ok(Vec::new()));

    // The other project cannot change it.
    assert!(
        store
            .modify_user(
                OTHER_PROJECT,
                &ada.user_id,
                "UserModified",
                &admin(),
                &mut |user: &mut User| {
                    user.name = Some("changed".to_owned());
                    Ok(())
                }
            )
            .is_err()
    );
    assert!(
        store
            .delete_user(OTHER_PROJECT, &ada.user_id, &admin())
            .is_err()
    );
    assert!(
        store
            .grant_consent(OTHER_PROJECT, &ada.user_id, "app1", &[], &admin())
            .is_err()
    );
    assert!(store.delete_tenant(OTHER_PROJECT, "T1", &admin()).is_err());
    assert_eq!(store.delete_flow(OTHER_PROJECT, "login"), Ok(false));
    assert!(
        store
            .activate_flow_version(OTHER_PROJECT, "login", 1)
            .is_err()
    );
    assert!(matches!(
        store.update_run(&run(OTHER_PROJECT, "R1", "login", 10)),
        Err(StoreError::NotFound { kind: "run", .. })
    ));

    // The same ids are free in the other project and stay apart.
    let other_ada = store
        .create_user(OTHER_PROJECT, new_user("ada@example.com"), &admin())
        .expect("create the same login id in the other project");
    store
        .create_tenant(OTHER_PROJECT, tenant("T1", "Other Acme"), &admin())
        .expect("create the same tenant id in the other project");
    store
        .deploy_flow(OTHER_PROJECT, "login", &json!({ "id": "other" }))
        .expect("deploy the same flow id in the other project");
    store
        .insert_run(&run(OTHER_PROJECT, "R1", "login", 20))
        .expect("insert the same run id in the other project");

    assert_ne!(other_ada.user_id, ada.user_id);
    assert_eq!(store.load_user(PROJECT, &ada.user_id), Ok(ada.clone()));
    assert_eq!(
        store.load_user_by_login_id(PROJECT, "ada@example.com"),
        Ok(ada)
    );
    assert_eq!(
        store.load_tenant(PROJECT, "T1").map(|tenant| tenant.name),
        Ok("Acme".to_owned())
    );
    assert_eq!(
        store
            .active_flow(PROJECT, "login")
            .map(|flow| flow.map(|flow| flow.version)),
        Ok(Some(1))
    );
    assert_eq!(
        store
            .active_flow(PROJECT, "login")
            .map(|flow| flow.map(|flow| flow.document)),
        Ok(Some(json!({ "id": "login" })))
    );
    assert_eq!(
        store
            .load_run(PROJECT, "R1")
            .map(|run| run.map(|run| run.created)),
        Ok(Some(10))
    );
    assert_eq!(actions(&store, PROJECT), ["TenantCreated", "UserCreated"]);
    assert_eq!(
        actions(&store, OTHER_PROJECT),
        ["UserCreated", "TenantCreated"]
    );
}

#[test]
fn projects_and_keys() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    let key = ManagementKey {
        id: "K1".to_owned(),
        project: PROJECT.to_owned(),
        name: "deploy".to_owned(),
        secret_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        created: 1_700_000_000,
    };

    assert_eq!(store.is_empty(), Ok(true));
    assert!(matches!(
        store.add_key(&key),
        Err(StoreError::NotFound {
            kind: "project",
            ..
        })
    ));
    store
        .create_project(PROJECT, "First")
        .expect("create project");
    assert_eq!(store.is_empty(), Ok(false));
    assert_eq!(store.project_exists(PROJECT), Ok(true));
    assert_eq!(store.project_exists(OTHER_PROJECT), Ok(false));
    assert!(matches!(
        store.create_project(PROJECT, "Again"),
        Err(StoreError::Conflict(_))
    ));

    store.add_key(&key).expect("add key");

    assert!(matches!(store.add_key(&key), Err(StoreError::Conflict(_))));
    assert_eq!(store.keys(PROJECT), Ok(vec![key]));
    assert_eq!(store.keys(OTHER_PROJECT), Ok(Vec::new()));

    store
        .create_project("P0", "Created last")
        .expect("create project");
    assert_eq!(store.projects(), Ok(strings(&[PROJECT, "P0"])));
}

#[test]
fn flow_versions_deploy_and_rollback() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());

    for number in 1..=3 {
        let deployed = store
            .deploy_flow(PROJECT, "login", &json!({ "revision": number }))
            .expect("deploy flow");
        assert_eq!(deployed.version, number);
        assert!(deployed.active);
    }
    store
        .deploy_flow(PROJECT, "signup", &json!({ "revision": 1 }))
        .expect("deploy flow");

    let active = store
        .active_flow(PROJECT, "login")
        .expect("load active flow")
        .expect("an active version");
    assert_eq!(active.version, 3);
    assert_eq!(active.document, json!({ "revision": 3 }));

    let rolled_back = store
        .activate_flow_version(PROJECT, "login", 1)
        .expect("activate version 1");
    assert_eq!(rolled_back.version, 1);
    assert!(rolled_back.active);
    assert_eq!(rolled_back.document, json!({ "revision": 1 }));
    let versions = store
        .flow_versions(PROJECT, "login")
        .expect("list versions");
    let listed: Vec<(u32, bool)> = versions.iter().map(|v| (v.version, v.active)).collect();
    assert_eq!(listed, [(1, true), (2, false), (3, false)]);
    let active_flows: Vec<(String, u32)> = store
        .active_flows(PROJECT)
        .expect("list active flows")
        .into_iter()
        .map(|flow| (flow.flow_id, flow.version))
        .collect();
    assert_eq!(
        active_flows,
        [("login".to_owned(), 1), ("signup".to_owned(), 1)]
    );

    let deployed = store
        .deploy_flow(PROJECT, "login", &json!({ "revision": 4 }))
        .expect("deploy flow");
    assert_eq!(deployed.version, 4);
    assert_eq!(
        store
            .active_flow(PROJECT, "login")
            .map(|flow| flow.map(|flow| flow.version)),
        Ok(Some(4))
    );
    assert!(matches!(
        store.activate_flow_version(PROJECT, "login", 9),
        Err(StoreError::NotFound { kind: "flow version", id }) if id == "login@9"
    ));

    assert_eq!(store.delete_flow(PROJECT, "login"), Ok(true));
    assert_eq!(store.flow_versions(PROJECT, "login"), Ok(Vec::new()));
    assert_eq!(store.active_flow(PROJECT, "login"), Ok(None));
    assert_eq!(store.delete_flow(PROJECT, "login"), Ok(false));
    let redeployed = store
        .deploy_flow(PROJECT, "login", &json!({}))
        .expect("deploy flow");
    assert_eq!(redeployed.version, 1);
}

#[test]
fn runs_insert_update_and_list() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    store
        .insert_run(&run(PROJECT, "R1", "login", 100))
        .expect("insert run");
    store
        .insert_run(&run(PROJECT, "R2", "signup", 200))
        .expect("insert run");
    store
        .insert_run(&run(PROJECT, "R3", "login", 300))
        .expect("insert run");
    store
        .insert_run(&run(PROJECT, "R4", "login", 300))
        .expect("insert run");

    assert!(matches!(
        store.insert_run(&run(PROJECT, "R1", "login", 100)),
        Err(StoreError::Conflict(_))
    ));

    let mut finished = run(PROJECT, "R1", "login", 100);
    finished.status = "completed".to_owned();
    finished.output = json!({ "allowed": true });
    finished.trace = json!([{ "step": "check", "durationUs": 12 }]);
    finished.duration_us = 1_234;
    store.update_run(&finished).expect("update run");
    assert_eq!(store.load_run(PROJECT, "R1"), Ok(Some(finished)));
    assert_eq!(store.load_run(PROJECT, "R9"), Ok(None));
    assert!(matches!(
        store.update_run(&run(PROJECT, "R9", "login", 1)),
        Err(StoreError::NotFound { kind: "run", .. })
    ));

    let run_ids = |flow_id: Option<&str>, limit: u32| -> Vec<String> {
        store
            .list_runs(PROJECT, flow_id, limit)
            .expect("list runs")
            .into_iter()
            .map(|run| run.run_id)
            .collect()
    };
    assert_eq!(run_ids(None, 10), ["R4", "R3", "R2", "R1"]);
    assert_eq!(run_ids(None, 2), ["R4", "R3"]);
    assert_eq!(run_ids(Some("login"), 10), ["R4", "R3", "R1"]);
    assert_eq!(run_ids(Some("signup"), 10), ["R2"]);
    assert!(run_ids(None, 0).is_empty());
}

#[test]
fn data_survives_reopen() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    store
        .create_project(PROJECT, "First")
        .expect("create project");
    let key = ManagementKey {
        id: "K1".to_owned(),
        project: PROJECT.to_owned(),
        name: "deploy".to_owned(),
        secret_hash: "00".repeat(32),
        created: 1_700_000_000,
    };
    store.add_key(&key).expect("add key");
    store
        .create_tenant(PROJECT, tenant("T1", "Acme"), &admin())
        .expect("create tenant");
    let ada = store
        .create_user(
            PROJECT,
            NewUser {
                user_tenants: vec![member_of("T1", &["editor"])],
                ..new_user("ada@example.com")
            },
            &admin(),
        )
        .expect("create user");
    store
        .grant_consent(PROJECT, &ada.user_id, "app1", &strings(&["read"]), &admin())
        .expect("grant consent");
    store
        .deploy_flow(PROJECT, "login", &json!({ "revision": 1 }))
        .expect("deploy flow");
    store
        .deploy_flow(PROJECT, "login", &json!({ "revision": 2 }))
        .expect("deploy flow");
    store
        .insert_run(&run(PROJECT, "R1", "login", 100))
        .expect("insert run");
    let events = store.audit_events(PROJECT).expect("load audit events");
    drop(store);

    let store = open(folder.path());

    assert_eq!(store.project_exists(PROJECT), Ok(true));
    assert_eq!(store.keys(PROJECT), Ok(vec![key]));
    assert_eq!(store.load_tenant(PROJECT, "T1"), Ok(tenant("T1", "Acme")));
    assert_eq!(
        store.load_user_by_login_id(PROJECT, "ada@example.com"),
        Ok(ada.clone())
    );
    assert_eq!(store.audit_events(PROJECT), Ok(events));
    assert_eq!(
        store.grant_consent(PROJECT, &ada.user_id, "app1", &[], &admin()),
        Ok(strings(&["read"]))
    );
    assert_eq!(
        store
            .active_flow(PROJECT, "login")
            .map(|flow| flow.map(|flow| flow.version)),
        Ok(Some(2))
    );
    assert_eq!(
        store
            .flow_versions(PROJECT, "login")
            .map(|versions| versions.len()),
        Ok(2)
    );
    assert_eq!(
        store.load_run(PROJECT, "R1"),
        Ok(Some(run(PROJECT, "R1", "login", 100)))
    );
    assert!(matches!(
        store.create_user(PROJECT, new_user("ada@example.com"), &admin()),
        Err(StoreError::Conflict(_))
    ));
}

#[test]
fn newer_schema_is_rejected() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let path = folder.path().join("sluice.db");
    drop(SqliteStore::open(&path).expect("open the store"));
    let connection = rusqlite::Connection::open(&path).expect("open the file with rusqlite");
    connection
        .pragma_update(None, "user_version", 99)
        .expect("set user_version");
    drop(connection);

    let error = SqliteStore::open(&path).expect_err("a newer schema fails to open");

    let StoreError::Backend(message) = error else {
        panic!("expected a backend error, got {error:?}");
    };
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("schema version 99"), "{message}");
    assert!(message.contains("up to 5"), "{message}");
}

#[test]
fn threads_share_one_store() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = Arc::new(open(folder.path()));
    let mut handles = Vec::new();
    for thread in 0..4 {
        let store = Arc::clone(&store);
        handles.push(std::thread::spawn(move || {
            for number in 0..25 {
                let login_id = format!("user{thread}-{number}@example.com");
                let user = store
                    .create_user(PROJECT, new_user(&login_id), &admin())
                    .expect("create user");
                let loaded = store
                    .load_user_by_login_id(PROJECT, &login_id)
                    .expect("load the new user");
                assert_eq!(loaded, user);
                store
                    .search_users(PROJECT, &UserQuery::default())
                    .expect("search users");
            }
        }));
    }
    for handle in handles {
        handle.join().expect("a writer thread panicked");
    }

    let (_, total) = store
        .search_users(PROJECT, &UserQuery::default())
        .expect("search users");
    assert_eq!(total, 100);
    assert_eq!(
        store.audit_events(PROJECT).map(|events| events.len()),
        Ok(100)
    );
}

#[test]
fn in_memory_store_works() {
    let store = SqliteStore::open_in_memory().expect("open an in-memory store");

    let ada = store
        .create_user(PROJECT, new_user("ada@example.com"), &admin())
        .expect("create user");

    assert_eq!(
        store.load_user_by_login_id(PROJECT, "ada@example.com"),
        Ok(ada)
    );
    assert_eq!(actions(&store, PROJECT), ["UserCreated"]);
}

#[test]
fn background_checkpoint_moves_log_into_file() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = open(folder.path());
    let database = folder.path().join("sluice.db");
    let size_before = std::fs::metadata(&database).expect("database file").len();

    // About 2 MiB of runs: far below the automatic checkpoint size, so only
    // the background checkpoint copies them into the database file.
    let trace = json!(["x".repeat(10_000)]);
    for index in 0..200 {
        let run = RunRecord {
            run_id: format!("R{index}"),
            project: PROJECT.to_owned(),
            flow_id: "bulk".to_owned(),
            flow_version: 1,
            status: "completed".to_owned(),
            input: json!({}),
            output: json!({}),
            error: Value::Null,
            trace: trace.clone(),
            created: index,
            duration_us: 1,
        };
        store.insert_run(&run).expect("insert run");
    }

    let started = std::time::Instant::now();
    loop {
        let size = std::fs::metadata(&database).expect("database file").len();
        if size >= size_before + (1 << 20) {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the database file stayed at {size} bytes (from {size_before}) for 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
