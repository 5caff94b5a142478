//! `IdentityStore::search_audit` on every backend: the same events and the
//! same queries must give the same pages and totals on the memory store,
//! an in-memory SQLite store and a SQLite file (whose reads run on separate
//! reader connections).

use std::time::Duration;

use serde_json::{Map, json};
use sluice::model::{
    AuditEvent, AuditQuery, AuditType, DEFAULT_AUDIT_PAGE_SIZE, MAX_AUDIT_PAGE_SIZE, NewAuditEvent, NewUser, Tenant,
    User, UserTenant,
};
use sluice::store::{Actor, IdentityStore, MemoryStore, SqliteStore, now_millis};

const PROJECT: &str = "P1";
const OTHER_PROJECT: &str = "P2";
const ADMIN_ADDRESS: &str = "192.0.2.7";
const BILLING_ADDRESS: &str = "198.51.100.4";

fn admin() -> Actor {
    Actor {
        id: "K1".to_owned(),
        remote_address: Some(ADMIN_ADDRESS.to_owned()),
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|&value| value.to_owned()).collect()
}

/// Names an event by its action and its user's first login id, or its
/// tenants when it is about no user, such as `UserCreated/ada@acme.com`.
fn label(event: &AuditEvent) -> String {
    match event.external_ids.first() {
        Some(login_id) => format!("{}/{login_id}", event.action),
        None => format!("{}/{}", event.action, event.tenants.join(",")),
    }
}

/// Events of [`record_events`], newest first.
const ALL: [&str; 7] = [
    "UserModified/bob@globex.com",
    "NightlyCheck/",
    "InvoicePaid/ada@acme.com",
    "UserCreated/bob@globex.com",
    "UserCreated/ada@acme.com",
    "TenantCreated/T2",
    "TenantCreated/T1",
];

/// Occurred times of the two groups of events that [`record_events`]
/// records, in milliseconds since the Unix epoch.
struct Timeline {
    /// Latest time in the first group (the tenants and the users).
    first_group_end: i64,
    /// Earliest time in the second group (the custom events and the change).
    second_group_start: i64,
    /// Id of the user `ada@acme.com`.
    ada: String,
}

/// Records seven events in two groups at least a few milliseconds apart,
/// plus one event in another project.
fn record_events(store: &dyn IdentityStore) -> Timeline {
    let tenant = |id: &str, name: &str| Tenant {
        id: id.to_owned(),
        name: name.to_owned(),
        ..Tenant::default()
    };
    store.create_tenant(PROJECT, tenant("T1", "Acme"), &admin()).expect("create tenant T1");
    store.create_tenant(PROJECT, tenant("T2", "Globex"), &admin()).expect("create tenant T2");
    let ada = store
        .create_user(
            PROJECT,
            NewUser {
                login_id: "ada@acme.com".to_owned(),
                user_tenants: vec![UserTenant {
                    tenant_id: "T1".to_owned(),
                    ..UserTenant::default()
                }],
                ..NewUser::default()
            },
            &admin(),
        )
        .expect("create ada");
    let bob = store
        .create_user(
            PROJECT,
            NewUser {
                login_id: "bob@globex.com".to_owned(),
                additional_login_ids: strings(&["Bob-Login"]),
                ..NewUser::default()
            },
            &admin(),
        )
        .expect("create bob");
    store
        .create_tenant(OTHER_PROJECT, tenant("T1", "Other"), &admin())
        .expect("create a tenant in the other project");

    let first_group = store.search_audit(PROJECT, &AuditQuery::default()).expect("search").0;
    let first_group_end = first_group.iter().map(|event| event.occurred).max().expect("events exist");
    // Waits until the clock moves on, so the two groups have different times.
    while now_millis() <= first_group_end + 2 {
        std::thread::sleep(Duration::from_millis(1));
    }

    let mut data = Map::new();
    data.insert("invoice".to_owned(), json!("INV-Ünïcode-42"));
    data.insert("amount".to_owned(), json!(12));
    store
        .record_audit(
            PROJECT,
            NewAuditEvent {
                action: "InvoicePaid".to_owned(),
                audit_type: AuditType::Warn,
                actor_id: "billing-service".to_owned(),
                user_id: Some(ada.user_id.clone()),
                tenants: strings(&["T1", "T2"]),
                remote_address: Some(BILLING_ADDRESS.to_owned()),
                data,
            },
        )
        .expect("record InvoicePaid");
    store
        .record_audit(
            PROJECT,
            NewAuditEvent {
                action: "NightlyCheck".to_owned(),
                actor_id: "cron".to_owned(),
                ..NewAuditEvent::default()
            },
        )
        .expect("record NightlyCheck");
    store
        .modify_user(PROJECT, &bob.user_id, "UserModified", &admin(), &mut |user: &mut User| {
            user.name = Some("Bob".to_owned());
            Ok(())
        })
        .expect("modify bob");

    let newest = store.search_audit(PROJECT, &AuditQuery::default()).expect("search").0;
    let second_group_start = newest[..3].iter().map(|event| event.occurred).min().expect("events exist");
    Timeline {
        first_group_end: i64::try_from(first_group_end).expect("time fits i64"),
        second_group_start: i64::try_from(second_group_start).expect("time fits i64"),
        ada: ada.user_id,
    }
}

/// Runs a search and returns the labels of the page and the total.
fn search(store: &dyn IdentityStore, query: &AuditQuery) -> (Vec<String>, u32) {
    let (events, total) = store.search_audit(PROJECT, query).expect("search audit events");
    (events.iter().map(label).collect(), total)
}

/// Asserts that `query` finds exactly `expected`, in that order, on one page.
fn assert_finds(store: &dyn IdentityStore, backend: &str, query: &AuditQuery, expected: &[&str]) {
    let (labels, total) = search(store, query);
    assert_eq!(labels, expected, "{backend}: page of {query:?}");
    assert_eq!(total as usize, expected.len(), "{backend}: total of {query:?}");
}

fn with_text(text: &str) -> AuditQuery {
    AuditQuery {
        text: Some(text.to_owned()),
        ..AuditQuery::default()
    }
}

/// Runs the search checks that every backend must pass.
fn search_on(store: &dyn IdentityStore, backend: &str) {
    let timeline = record_events(store);
    let check = |query: AuditQuery, expected: &[&str]| assert_finds(store, backend, &query, expected);

    // No filter: every event of the project, newest first.
    check(AuditQuery::default(), &ALL);

    check(
        AuditQuery {
            user_ids: vec![timeline.ada.clone()],
            ..AuditQuery::default()
        },
        &["InvoicePaid/ada@acme.com", "UserCreated/ada@acme.com"],
    );
    check(
        AuditQuery {
            user_ids: strings(&["U-unknown"]),
            ..AuditQuery::default()
        },
        &[],
    );

    check(
        AuditQuery {
            actions: strings(&["UserCreated", "NightlyCheck"]),
            ..AuditQuery::default()
        },
        &["NightlyCheck/", "UserCreated/bob@globex.com", "UserCreated/ada@acme.com"],
    );
    check(
        AuditQuery {
            excluded_actions: strings(&["UserCreated", "TenantCreated"]),
            ..AuditQuery::default()
        },
        &["UserModified/bob@globex.com", "NightlyCheck/", "InvoicePaid/ada@acme.com"],
    );
    check(
        AuditQuery {
            actions: strings(&["UserCreated"]),
            excluded_actions: strings(&["UserCreated"]),
            ..AuditQuery::default()
        },
        &[],
    );

    // Sluice records no device, method or geo.
    let unrecorded = [
        AuditQuery {
            devices: strings(&["Desktop"]),
            ..AuditQuery::default()
        },
        AuditQuery {
            methods: strings(&["otp"]),
            ..AuditQuery::default()
        },
        AuditQuery {
            geos: strings(&["US"]),
            ..AuditQuery::default()
        },
    ];
    for query in unrecorded {
        check(query, &[]);
    }

    check(
        AuditQuery {
            remote_addresses: strings(&[BILLING_ADDRESS]),
            ..AuditQuery::default()
        },
        &["InvoicePaid/ada@acme.com"],
    );
    check(
        AuditQuery {
            remote_addresses: strings(&[ADMIN_ADDRESS]),
            ..AuditQuery::default()
        },
        &[
            "UserModified/bob@globex.com",
            "UserCreated/bob@globex.com",
            "UserCreated/ada@acme.com",
            "TenantCreated/T2",
            "TenantCreated/T1",
        ],
    );

    // Any login id of the user matches, not only the first.
    check(
        AuditQuery {
            external_ids: strings(&["Bob-Login"]),
            ..AuditQuery::default()
        },
        &["UserModified/bob@globex.com", "UserCreated/bob@globex.com"],
    );

    check(
        AuditQuery {
            tenants: strings(&["T2"]),
            ..AuditQuery::default()
        },
        &["InvoicePaid/ada@acme.com", "TenantCreated/T2"],
    );
    check(
        AuditQuery {
            tenants: strings(&["T2"]),
            no_tenants: true,
            ..AuditQuery::default()
        },
        &[
            "UserModified/bob@globex.com",
            "NightlyCheck/",
            "InvoicePaid/ada@acme.com",
            "UserCreated/bob@globex.com",
            "TenantCreated/T2",
        ],
    );
    check(
        AuditQuery {
            no_tenants: true,
            ..AuditQuery::default()
        },
        &ALL,
    );

    // Text: login ids, actor, address, action, tenant, data keys and values,
    // ignoring case, also outside ASCII.
    check(with_text("ACME.com"), &["InvoicePaid/ada@acme.com", "UserCreated/ada@acme.com"]);
    check(with_text("BILLING-serv"), &["InvoicePaid/ada@acme.com"]);
    check(with_text("198.51."), &["InvoicePaid/ada@acme.com"]);
    check(with_text("nightly"), &["NightlyCheck/"]);
    check(with_text("t2"), &["InvoicePaid/ada@acme.com", "TenantCreated/T2"]);
    check(with_text("amount"), &["InvoicePaid/ada@acme.com"]);
    check(with_text("ünïcode"), &["InvoicePaid/ada@acme.com"]);
    check(with_text("bob-login"), &["UserModified/bob@globex.com", "UserCreated/bob@globex.com"]);
    check(with_text("no such text"), &[]);
    check(with_text(""), &ALL);
    check(with_text(&timeline.ada), &["InvoicePaid/ada@acme.com", "UserCreated/ada@acme.com"]);

    // Time range, both ends inclusive.
    let second_group = &ALL[..3];
    let first_group = &ALL[3..];
    check(
        AuditQuery {
            from: Some(timeline.second_group_start),
            ..AuditQuery::default()
        },
        second_group,
    );
    check(
        AuditQuery {
            to: Some(timeline.first_group_end),
            ..AuditQuery::default()
        },
        first_group,
    );
    check(
        AuditQuery {
            from: Some(timeline.first_group_end + 1),
            to: Some(timeline.second_group_start - 1),
            ..AuditQuery::default()
        },
        &[],
    );
    check(
        AuditQuery {
            from: Some(-1),
            to: Some(i64::MAX),
            ..AuditQuery::default()
        },
        &ALL,
    );

    // Filters combine: all of them must match.
    check(
        AuditQuery {
            actions: strings(&["UserCreated", "InvoicePaid"]),
            tenants: strings(&["T1"]),
            from: Some(timeline.second_group_start),
            ..AuditQuery::default()
        },
        &["InvoicePaid/ada@acme.com"],
    );

    // Paging: `total` counts every match, pages follow the same order.
    let page = |page: u32, limit: u32| AuditQuery {
        page,
        limit,
        ..AuditQuery::default()
    };
    assert_eq!(search(store, &page(0, 3)), (strings(&ALL[..3]), 7), "{backend}: page 0");
    assert_eq!(search(store, &page(1, 3)), (strings(&ALL[3..6]), 7), "{backend}: page 1");
    assert_eq!(search(store, &page(2, 3)), (strings(&ALL[6..]), 7), "{backend}: page 2");
    assert_eq!(search(store, &page(3, 3)), (Vec::new(), 7), "{backend}: page after the last");
    assert_eq!(search(store, &page(u32::MAX, MAX_AUDIT_PAGE_SIZE)), (Vec::new(), 7), "{backend}: huge page");
    let filtered_page = AuditQuery {
        actions: strings(&["UserCreated", "TenantCreated"]),
        page: 1,
        limit: 3,
        ..AuditQuery::default()
    };
    assert_eq!(
        search(store, &filtered_page),
        (strings(&["TenantCreated/T1"]), 4),
        "{backend}: second page of a filtered search"
    );

    // Each project finds only its own events.
    let other = store
        .search_audit(OTHER_PROJECT, &AuditQuery::default())
        .expect("search the other project");
    assert_eq!(other.0.iter().map(label).collect::<Vec<_>>(), ["TenantCreated/T1"], "{backend}");
    assert_eq!(other.1, 1, "{backend}");
}

#[test]
fn search_on_memory_store() {
    search_on(&MemoryStore::new(), "memory");
}

#[test]
fn search_on_sqlite_in_memory() {
    let store = SqliteStore::open_in_memory().expect("open an in-memory store");
    search_on(&store, "sqlite in memory");
}

#[test]
fn search_on_sqlite_file() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let store = SqliteStore::open(&folder.path().join("sluice.db")).expect("open the store");
    search_on(&store, "sqlite file");
}

#[test]
fn search_returns_events_as_recorded() {
    let folder = tempfile::tempdir().expect("create a temporary folder");
    let sqlite = SqliteStore::open(&folder.path().join("sluice.db")).expect("open the store");
    let memory = MemoryStore::new();
    for (store, backend) in [(&sqlite as &dyn IdentityStore, "sqlite"), (&memory, "memory")] {
        record_events(store);

        let mut found = store.search_audit(PROJECT, &AuditQuery::default()).expect("search").0;
        found.reverse();

        assert_eq!(found, store.audit_events(PROJECT).expect("load audit events"), "{backend}");
    }
}

#[test]
fn page_size_defaults_and_caps() {
    let size = |limit| AuditQuery { limit, ..AuditQuery::default() }.page_size();

    assert_eq!(size(0), DEFAULT_AUDIT_PAGE_SIZE);
    assert_eq!(size(7), 7);
    assert_eq!(size(MAX_AUDIT_PAGE_SIZE), MAX_AUDIT_PAGE_SIZE);
    assert_eq!(size(MAX_AUDIT_PAGE_SIZE + 1), MAX_AUDIT_PAGE_SIZE);
}

#[test]
fn default_page_holds_default_size() {
    let store = SqliteStore::open_in_memory().expect("open an in-memory store");
    let memory = MemoryStore::new();
    for (store, backend) in [(&store as &dyn IdentityStore, "sqlite"), (&memory, "memory")] {
        for index in 0..=DEFAULT_AUDIT_PAGE_SIZE {
            store
                .record_audit(
                    PROJECT,
                    NewAuditEvent {
                        action: format!("Event{index}"),
                        actor_id: "K1".to_owned(),
                        ..NewAuditEvent::default()
                    },
                )
                .expect("record an event");
        }

        let (events, total) = store.search_audit(PROJECT, &AuditQuery::default()).expect("search");

        assert_eq!(events.len(), DEFAULT_AUDIT_PAGE_SIZE as usize, "{backend}");
        assert_eq!(total, DEFAULT_AUDIT_PAGE_SIZE + 1, "{backend}");
        assert_eq!(events[0].action, format!("Event{DEFAULT_AUDIT_PAGE_SIZE}"), "{backend}");
    }
}
